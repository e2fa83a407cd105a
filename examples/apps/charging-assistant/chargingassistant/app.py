"""The charging assistant's glue to the car: follow the charging signals, show them, post
the notices :mod:`chargingassistant.assistant` decides on, and set the charge limit.

Screens: the charging pane (action ``limit``), the list of charge limits (tap one to set
it, ``back``), and a message when the car refuses a limit. The screen is refreshed when
what it shows changes, at most once per :data:`SHOW_INTERVAL_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from carmesh.sdk import (
    Action,
    Car,
    CarmeshError,
    Item,
    ListTemplate,
    MessageTemplate,
    PaneTemplate,
    PermissionDenied,
    Row,
    Template,
)
from chargingassistant.assistant import (
    LIMIT,
    SIGNALS,
    ChargingAssistant,
    Notice,
    chosen_limit,
    limit_choices,
    pane_rows,
    pick,
)

log = logging.getLogger(__name__)

#: Shortest time (s) between two screen updates; also how often time is looked at.
SHOW_INTERVAL_S = 1.0
#: Notification priority of each kind of notice.
PRIORITY = {"limit_reached": "normal", "not_charging": "high"}

TITLE = {"en": "Charging", "zh-CN": "充电"}
LIMIT_ACTION = Action(id="limit", label={"en": "Charge limit", "zh-CN": "充电上限"})
BACK = Action(id="back", label={"en": "Back", "zh-CN": "返回"})


class ChargingApp:
    """One running charging assistant."""

    def __init__(self, car: Car) -> None:
        self.car = car
        self.assistant = ChargingAssistant()
        self.view = "status"
        self.problem: str | None = None
        self._changed = asyncio.Event()

    async def run(self) -> None:
        self.car.on_action(self.on_action)
        async with asyncio.TaskGroup() as tasks:
            screen = tasks.create_task(self._show_loop(), name="charging screen")
            async with self.car.subscribe(SIGNALS) as values:
                async for update in values:
                    await self._post(self.assistant.update(update, time.monotonic()))
                    self._changed.set()
            screen.cancel()  # the car closed the subscription: the app ends

    async def _post(self, notices: list[Notice]) -> None:
        for notice in notices:
            locale = self.car.locale
            try:
                await self.car.notify(
                    pick(notice.title, locale), pick(notice.body, locale), PRIORITY[notice.kind]
                )
            except PermissionDenied as exc:
                log.warning("cannot post the %s notification: %s", notice.kind, exc)

    async def on_action(self, action: str, item: str | None) -> None:
        if action == "limit":
            self.view = "limits"
        elif action == "back":
            self.view = "status"
        elif action == "select" and (limit := chosen_limit(item)) is not None:
            await self._set_limit(limit)
        self._changed.set()

    async def _set_limit(self, limit: int) -> None:
        try:
            await self.car.actuate({LIMIT: limit})
        except CarmeshError as exc:
            log.warning("the car refused the charge limit %d %%: %s", limit, exc)
            self.problem = str(exc)[:300]
            self.view = "problem"
            return
        self.view = "status"  # showing the new limit once the car reports it

    # -- the screen --------------------------------------------------------------------------

    def template(self) -> Template:
        status = self.assistant.status()
        if self.view == "limits":
            items = [
                Item(id=ident, title=title, text=text)
                for ident, title, text in limit_choices(status.limit)
            ]
            title = {"en": "Charge limit", "zh-CN": "充电上限"}
            return ListTemplate(title=title, items=items, actions=[BACK])
        if self.view == "problem":
            return MessageTemplate(
                title={"en": "Charge limit not set", "zh-CN": "未能设置充电上限"},
                message=self.problem or "",
                actions=[BACK],
            )
        rows = [
            Row(label=label, value=value)
            for label, value in pane_rows(status, self.assistant.waiting_for_start)
        ]
        return PaneTemplate(title=TITLE, rows=rows, actions=[LIMIT_ACTION])

    async def _show_loop(self) -> None:
        """Show the template whenever it changes, at most once per SHOW_INTERVAL_S, and
        let the assistant see time pass (the "not charging" notice is due a minute after
        the cable was connected, whether or not a signal changes)."""
        shown: Template | None = None
        shown_at = -SHOW_INTERVAL_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), SHOW_INTERVAL_S)
            self._changed.clear()
            await self._post(self.assistant.tick(time.monotonic()))
            if self.template() == shown:
                continue
            await asyncio.sleep(max(shown_at + SHOW_INTERVAL_S - time.monotonic(), 0.0))
            shown = self.template()
            await self.car.show(shown)
            shown_at = time.monotonic()


async def main(car: Car) -> None:
    try:
        await ChargingApp(car).run()
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
                "en": f"The charging assistant may not read the charging signals: {reason}",
                "zh-CN": f"充电助手无权读取充电信号：{reason}",
            },
        )
    )
    await asyncio.Event().wait()
