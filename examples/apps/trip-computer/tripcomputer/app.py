"""The trip computer's glue to the car: follow the signals, show the pane, answer taps.

The figures come from :mod:`tripcomputer.trip`, the history file from
:mod:`tripcomputer.history`; this module only moves data between them and the SDK. The
screen is refreshed when something it shows changes, at most once per
:data:`SHOW_INTERVAL_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from carmesh.sdk import (
    Action,
    Car,
    Item,
    ListTemplate,
    MessageTemplate,
    PaneTemplate,
    PermissionDenied,
    Row,
    Template,
)
from tripcomputer.history import TRIP_FILE, History, load_json, save_json
from tripcomputer.trip import SIGNALS, TripComputer, entry_texts, pane_rows

log = logging.getLogger(__name__)

#: Shortest time (s) between two screen updates.
SHOW_INTERVAL_S = 1.0
#: How often (s) the trip in progress is saved, so a restart continues it.
SAVE_INTERVAL_S = 30.0
#: History entries the history list shows (the newest).
HISTORY_SHOWN = 30

TITLE = {"en": "Trip", "zh-CN": "行程"}
RESET = Action(id="reset", label={"en": "Reset trip", "zh-CN": "重置行程"})
HISTORY = Action(id="history", label={"en": "History", "zh-CN": "历史记录"})
BACK = Action(id="back", label={"en": "Back", "zh-CN": "返回"})


class TripApp:
    """One running trip computer."""

    def __init__(self, car: Car) -> None:
        self.car = car
        self.computer = TripComputer()
        self.history = History(car.data_dir)
        self.trip_file = car.data_dir / TRIP_FILE
        self.view = "trip"
        self._changed = asyncio.Event()
        self._saved_at = time.monotonic()

    async def run(self) -> None:
        self.history.load()
        if not self.computer.restore(load_json(self.trip_file)):
            log.info("starting a new trip")
        self.car.on_action(self.on_action)
        try:
            async with asyncio.TaskGroup() as tasks:
                screen = tasks.create_task(self._show_loop(), name="trip screen")
                async with self.car.subscribe(SIGNALS) as values:
                    async for update in values:
                        self._take(update)
                screen.cancel()  # the car closed the subscription: the app ends
        finally:
            self._save_trip()

    def _take(self, values: dict[str, object]) -> None:
        entries = self.computer.update(values, time.monotonic(), time.time())
        if entries:
            self.history.append(entries)
            self._save_trip()
        elif time.monotonic() - self._saved_at >= SAVE_INTERVAL_S:
            self._save_trip()
        self._changed.set()

    def _save_trip(self) -> None:
        try:
            save_json(self.trip_file, self.computer.state_json())
        except OSError as exc:
            log.warning("cannot save the trip: %s", exc)
        self._saved_at = time.monotonic()

    async def on_action(self, action: str, item: str | None) -> None:
        if action == "reset":
            self.computer.reset(time.time())
            self._save_trip()
            self.view = "trip"
        elif action == "history":
            self.view = "history"
        elif action == "back":
            self.view = "trip"
        self._changed.set()

    # -- the screen --------------------------------------------------------------------------

    def template(self) -> Template:
        if self.view == "history":
            return self._history_list()
        rows = [
            Row(label=label, value=value) for label, value in pane_rows(self.computer.summary())
        ]
        return PaneTemplate(title=TITLE, rows=rows, actions=[RESET, HISTORY])

    def _history_list(self) -> ListTemplate:
        items = []
        for number, entry in enumerate(self.history.newest(HISTORY_SHOWN)):
            title, text = entry_texts(entry)
            items.append(Item(id=f"entry-{number}", title=title, text=text))
        if not items:
            items.append(
                Item(
                    id="empty",
                    title={"en": "No entries yet", "zh-CN": "暂无记录"},
                    text={"en": "One entry per kilometre driven", "zh-CN": "每行驶一公里记录一条"},
                )
            )
        heading = {"en": "Energy per kilometre", "zh-CN": "每公里能耗"}
        return ListTemplate(title=heading, items=items, actions=[BACK])

    async def _show_loop(self) -> None:
        """Show the template whenever it changes, at most once per SHOW_INTERVAL_S; the
        driving time moves on by itself, so look again every interval."""
        shown: Template | None = None
        shown_at = -SHOW_INTERVAL_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), SHOW_INTERVAL_S)
            self._changed.clear()
            self.computer.tick(time.monotonic())
            if self.template() == shown:
                continue
            await asyncio.sleep(max(shown_at + SHOW_INTERVAL_S - time.monotonic(), 0.0))
            self.computer.tick(time.monotonic())
            shown = self.template()
            await self.car.show(shown)
            shown_at = time.monotonic()


async def main(car: Car) -> None:
    try:
        await TripApp(car).run()
    except* PermissionDenied as denied:
        await wait_for_permission(car, denied.exceptions[0])


async def wait_for_permission(car: Car, exc: BaseException) -> None:
    """Say what is missing instead of crashing (a crashing app is restarted, then
    quarantined); the car restarts the app when its grants change."""
    log.error("not allowed: %s", exc)
    reason = str(exc)[:300]
    await car.show(
        MessageTemplate(
            title=TITLE,
            message={
                "en": f"The trip computer may not read the signals it needs: {reason}",
                "zh-CN": f"行程电脑无权读取所需的信号：{reason}",
            },
        )
    )
    await asyncio.Event().wait()
