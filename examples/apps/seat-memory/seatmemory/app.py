"""Seat memory's glue to the car: the profile list, saving and recalling positions, and
following the identified driver.

Screens: the profile list (tap a profile to recall it and use it; actions ``save`` to the
profile in use and ``use-N`` to switch profiles without moving anything), and a message when
a recall is refused or fails (action ``back``). Seat and mirrors move only when
:func:`seatmemory.profiles.may_move` allows it: the car's driving state (``car.driving``)
says it is parked and ``Vehicle.Speed`` is not above zero.
"""

from __future__ import annotations

import asyncio
import logging

from carmesh.sdk import (
    Action,
    Car,
    CarmeshError,
    Item,
    ListTemplate,
    MessageTemplate,
    NotFound,
    PermissionDenied,
    Template,
)
from seatmemory.profiles import (
    DRIVER_SIGNALS,
    POSITIONS,
    PROFILE_ITEM,
    SPEED,
    USE_ACTION,
    ProfileStore,
    may_move,
    profile_actions,
    profile_entries,
    profile_of,
)

log = logging.getLogger(__name__)

TITLE = {"en": "Seat memory", "zh-CN": "座椅记忆"}
BACK = Action(id="back", label={"en": "Back", "zh-CN": "返回"})
MOVING = {
    "en": "Seat and mirrors move only while the car is parked.",
    "zh-CN": "只有在停车时才能调整座椅和后视镜。",
}


class SeatMemoryApp:
    """One running seat memory."""

    def __init__(self, car: Car) -> None:
        self.car = car
        self.store = ProfileStore(car.data_dir)
        #: A title saying what just happened (None: the plain title).
        self.status: dict[str, str] | None = None
        #: A message shown instead of the list until ``back`` (None: the list).
        self.message: tuple[dict[str, str], dict[str, str] | str] | None = None
        self._shown: Template | None = None
        self._lock = asyncio.Lock()
        self._showing = asyncio.Lock()

    async def run(self) -> None:
        self.store.load()
        self.car.on_action(self.on_action)
        await self.refresh()
        await self.follow_driver()
        await asyncio.Event().wait()  # taps arrive through on_action

    async def follow_driver(self) -> None:
        """Switch profiles as the car identifies its driver, through the first of
        DRIVER_SIGNALS the car has, for as long as it can tell."""
        for path in DRIVER_SIGNALS:
            try:
                async with self.car.subscribe([path]) as values:
                    async for update in values:
                        await self._driver_seen(update.get(path))
                return
            except NotFound:
                log.info("the car has no %s", path)
            except PermissionDenied as exc:
                log.info("not following the driver's identity: %s", exc)
                return

    async def _driver_seen(self, subject: object) -> None:
        async with self._lock:
            if self.store.follow_driver(subject):
                self.status = {
                    "en": f"Driver recognised: profile {self.store.current}",
                    "zh-CN": f"已识别驾驶员：档案 {self.store.current}",
                }
            if self.store.driver is not None:
                self._save()
        await self.refresh()

    async def on_action(self, action: str, item: str | None) -> None:
        async with self._lock:
            self.status = None
            if action == "back":
                self.message = None
            elif action == "save":
                await self._save_positions()
            elif (profile := profile_of(action, USE_ACTION)) is not None:
                self.store.select(profile)
                self._save()
            elif action == "select" and (profile := profile_of(item, PROFILE_ITEM)) is not None:
                await self._recall(profile)
        await self.refresh()

    async def _save_positions(self) -> None:
        profile = self.store.current
        try:
            values = await self.car.get_many(POSITIONS)
        except CarmeshError as exc:
            self._problem({"en": "Nothing saved", "zh-CN": "未保存"}, str(exc))
            return
        if not self.store.store(profile, values):
            self._problem(
                {"en": "Nothing saved", "zh-CN": "未保存"},
                {
                    "en": "The car reports no seat or mirror position yet.",
                    "zh-CN": "车辆尚未报告座椅或后视镜的位置。",
                },
            )
            return
        self._save()
        self.status = {"en": f"Saved to profile {profile}", "zh-CN": f"已保存到档案 {profile}"}

    async def _recall(self, profile: int) -> None:
        try:
            speed = await self.car.get(SPEED)
        except CarmeshError as exc:
            log.warning("cannot read the speed: %s", exc)
            speed = None
        if not may_move(self.car.driving, speed):
            self._problem({"en": "Not while driving", "zh-CN": "行驶中不可用"}, MOVING)
            return
        targets = self.store.targets(profile)
        if not targets:
            self._problem(
                {"en": f"Profile {profile} is empty", "zh-CN": f"档案 {profile} 为空"},
                {
                    "en": "Adjust the seat and mirrors, then save them to this profile.",
                    "zh-CN": "请先调整座椅和后视镜，然后保存到此档案。",
                },
            )
            return
        try:
            await self.car.actuate(targets)
        except CarmeshError as exc:
            log.warning("the car refused to recall profile %d: %s", profile, exc)
            self._problem({"en": "Not recalled", "zh-CN": "未能恢复"}, str(exc))
            return
        self.store.select(profile)
        self._save()
        self.status = {"en": f"Profile {profile} recalled", "zh-CN": f"已恢复档案 {profile}"}

    def _problem(self, title: dict[str, str], message: dict[str, str] | str) -> None:
        if isinstance(message, str):
            message = message[:300]
        self.message = (title, message)

    def _save(self) -> None:
        try:
            self.store.save()
        except OSError as exc:
            log.warning("cannot save the profiles: %s", exc)

    # -- the screen --------------------------------------------------------------------------

    def template(self) -> Template:
        if self.message is not None:
            title, message = self.message
            return MessageTemplate(title=title, message=message, actions=[BACK])
        items = [
            Item(id=ident, title=title, text=text)
            for ident, title, text in profile_entries(self.store)
        ]
        actions = [Action(id=ident, label=label) for ident, label in profile_actions(self.store)]
        return ListTemplate(title=self.status or TITLE, items=items, actions=actions)

    async def refresh(self) -> None:
        async with self._showing:
            template = self.template()
            if template != self._shown:
                await self.car.show(template)
                self._shown = template


async def main(car: Car) -> None:
    await SeatMemoryApp(car).run()
