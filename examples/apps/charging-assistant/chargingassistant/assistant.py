"""The charging assistant's decisions: what to show and when to tell the driver.

Pure logic, no SDK: :class:`ChargingAssistant` is fed the signal values the app receives
(:meth:`~ChargingAssistant.update`) and the passing of time (:meth:`~ChargingAssistant.tick`,
*now* in seconds of a monotonic clock) and returns the :class:`Notice` s to post:

- **limit reached**: the state of charge reached the charge limit during a charging session.
  Once per session: a session starts when ``IsCharging`` turns true, and the notice is not
  repeated until charging stops and starts again. The car ends a session *at* the limit, so
  the update that reports the limit reached may already report ``IsCharging`` false; it
  still counts.
- **not charging**: the cable was connected (``IsChargingCableConnected`` turned true while
  the app watched) but charging did not start within :data:`START_TIMEOUT_S`. Once per
  connection; the notice says why when the battery is already at its limit.

A cable found connected when the app starts was not seen being connected and raises no
notice, so a restarted app does not repeat an old alarm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CHARGING = "Vehicle.Powertrain.TractionBattery.Charging"
SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
IS_CHARGING = f"{CHARGING}.IsCharging"
LIMIT = f"{CHARGING}.ChargeLimit"
TIME_TO_COMPLETE = f"{CHARGING}.TimeToComplete"
RATE = f"{CHARGING}.ChargeRate"
CABLE = f"{CHARGING}.ChargingPort.AnyPosition.IsChargingCableConnected"
#: Every signal the assistant reads (and the manifest's read permissions).
SIGNALS = (SOC, IS_CHARGING, LIMIT, TIME_TO_COMPLETE, RATE, CABLE)

#: Charge limits the driver can choose (%).
LIMIT_CHOICES = (80, 90, 100)
#: How long (s) charging may take to start after the cable is connected.
START_TIMEOUT_S = 60.0
#: How far (percentage points) below the limit still counts as having reached it.
LIMIT_TOLERANCE = 0.05


@dataclass(frozen=True)
class Notice:
    """A notification to post: *kind* (``limit_reached`` or ``not_charging``), texts."""

    kind: str
    title: dict[str, str]
    body: dict[str, str]


@dataclass(frozen=True)
class Status:
    """What the pane shows; ``None`` where the car has not said (yet)."""

    soc: float | None
    limit: int | None
    charging: bool
    cable: bool
    time_to_complete_s: int | None
    rate_kmh: float | None


class ChargingAssistant:
    """Follows the charging signals and decides the notices (see the module's description)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self._session_armed = False
        self._connected_at: float | None = None

    def update(self, values: Mapping[str, Any], now: float) -> list[Notice]:
        """Take new values (missing paths keep their last value); returns the notices due."""
        was_charging = self.values.get(IS_CHARGING) is True
        had_cable = self.values.get(CABLE)
        for path, value in values.items():
            if path in SIGNALS:
                self.values[path] = value
        charging = self.values.get(IS_CHARGING) is True
        cable = self.values.get(CABLE)
        notices: list[Notice] = []

        if charging and not was_charging:
            self._session_armed = True
            self._connected_at = None  # it started: nothing to warn about
        if self._session_armed and self._limit_reached():
            self._session_armed = False
            notices.append(self._limit_notice())
        if not charging:
            self._session_armed = False

        if cable is True and had_cable is False and not charging:
            self._connected_at = now
        elif cable is not True:
            self._connected_at = None
        notices.extend(self.tick(now))
        return notices

    def tick(self, now: float) -> list[Notice]:
        """Let time pass; returns the "not charging" notice once it is due."""
        if self._connected_at is None or now - self._connected_at < START_TIMEOUT_S:
            return []
        self._connected_at = None
        return [self._not_charging_notice()]

    @property
    def waiting_for_start(self) -> bool:
        """True while a connected cable has up to :data:`START_TIMEOUT_S` to start charging."""
        return self._connected_at is not None

    def status(self) -> Status:
        seconds = _number(self.values.get(TIME_TO_COMPLETE))
        limit = _number(self.values.get(LIMIT))
        return Status(
            soc=_number(self.values.get(SOC)),
            limit=None if limit is None else round(limit),
            charging=self.values.get(IS_CHARGING) is True,
            cable=self.values.get(CABLE) is True,
            time_to_complete_s=None if seconds is None else round(seconds),
            rate_kmh=_number(self.values.get(RATE)),
        )

    def _limit_reached(self) -> bool:
        soc = _number(self.values.get(SOC))
        limit = _number(self.values.get(LIMIT))
        return soc is not None and limit is not None and soc >= limit - LIMIT_TOLERANCE

    def _limit_notice(self) -> Notice:
        limit = _number(self.values.get(LIMIT))
        shown = f"{limit:.0f} %" if limit is not None else ""
        return Notice(
            "limit_reached",
            {"en": "Charged to the limit", "zh-CN": "已充到充电上限"},
            {
                "en": f"The battery reached its charge limit of {shown}.",
                "zh-CN": f"电池已达到 {shown} 的充电上限。",
            },
        )

    def _not_charging_notice(self) -> Notice:
        if self._limit_reached():
            limit = _number(self.values.get(LIMIT))
            return Notice(
                "not_charging",
                {"en": "Not charging", "zh-CN": "未在充电"},
                {
                    "en": f"The cable is connected, but the battery is already at its "
                    f"{limit:.0f} % limit. Raise the limit to charge more.",
                    "zh-CN": f"充电线已连接，但电池已达到 {limit:.0f} % 的上限。"
                    "如需继续充电，请提高充电上限。",
                },
            )
        return Notice(
            "not_charging",
            {"en": "Not charging", "zh-CN": "未在充电"},
            {
                "en": "The cable has been connected for a minute, but charging has not "
                "started. Check the charger and the cable.",
                "zh-CN": "充电线已连接一分钟，但尚未开始充电。请检查充电桩和充电线。",
            },
        )


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# -- formatting ---------------------------------------------------------------------------------

NO_VALUE = "—"


def format_percent(value: float | None) -> str:
    """``"78 %"``, or a dash when unknown."""
    return NO_VALUE if value is None else f"{value:.0f} %"


def format_time_to_complete(seconds: int | None, charging: bool) -> str:
    """``"h:mm"`` rounded up to the minute (``"0:01"`` for 20 s); a dash when not charging."""
    if not charging or seconds is None or seconds <= 0:
        return NO_VALUE
    minutes = math.ceil(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def format_rate(kmh: float | None, charging: bool) -> str:
    """``"+45 km/h"`` (range added per hour); a dash when not charging."""
    if not charging or kmh is None:
        return NO_VALUE
    return f"+{kmh:.0f} km/h"


def describe_state(status: Status, waiting: bool) -> dict[str, str]:
    """The state in words, both languages."""
    if status.charging:
        return {"en": "Charging", "zh-CN": "正在充电"}
    if status.cable and waiting:
        return {"en": "Cable connected, waiting", "zh-CN": "已连接，等待充电"}
    if status.cable:
        at_limit = status.soc is not None and status.limit is not None
        if at_limit and status.soc >= status.limit - LIMIT_TOLERANCE:  # type: ignore[operator]
            return {"en": "Done: at the limit", "zh-CN": "已充满（达到上限）"}
        return {"en": "Connected, not charging", "zh-CN": "已连接，未充电"}
    return {"en": "Not plugged in", "zh-CN": "未连接充电线"}


def pane_rows(status: Status, waiting: bool) -> list[tuple[dict[str, str], str | dict[str, str]]]:
    """The charging pane's rows: (label in both languages, value)."""
    return [
        ({"en": "Status", "zh-CN": "状态"}, describe_state(status, waiting)),
        ({"en": "Battery", "zh-CN": "电量"}, format_percent(status.soc)),
        ({"en": "Charge limit", "zh-CN": "充电上限"}, format_percent(status.limit)),
        (
            {"en": "Time to limit", "zh-CN": "充至上限用时"},
            format_time_to_complete(status.time_to_complete_s, status.charging),
        ),
        (
            {"en": "Charging rate", "zh-CN": "充电速度"},
            format_rate(status.rate_kmh, status.charging),
        ),
    ]


_LIMIT_HINTS = {
    80: {"en": "Best for everyday driving", "zh-CN": "适合日常用车"},
    90: {"en": "For longer days", "zh-CN": "适合较长行程"},
    100: {"en": "Only right before a long journey", "zh-CN": "仅在长途出发前使用"},
}
LIMIT_ITEM_PREFIX = "limit-"


def limit_choices(current: int | None) -> list[tuple[str, str, dict[str, str]]]:
    """The charge limits to choose from: (item id, title, text in both languages); the
    limit in force says so."""
    choices = []
    for limit in LIMIT_CHOICES:
        hint = dict(_LIMIT_HINTS[limit])
        if limit == current:
            hint = {"en": f"Current · {hint['en']}", "zh-CN": f"当前 · {hint['zh-CN']}"}
        choices.append((f"{LIMIT_ITEM_PREFIX}{limit}", f"{limit} %", hint))
    return choices


def chosen_limit(item: str | None) -> int | None:
    """The limit a tapped item of :func:`limit_choices` stands for (None for anything else)."""
    if item is None or not item.startswith(LIMIT_ITEM_PREFIX):
        return None
    number = item.removeprefix(LIMIT_ITEM_PREFIX)
    if not number.isdigit() or int(number) not in LIMIT_CHOICES:
        return None
    return int(number)


def pick(text: Mapping[str, str], locale: str) -> str:
    """*text* in *locale* (``zh-CN``, ``zh_CN.UTF-8``, ``zh`` …), else English."""
    if locale in text:
        return text[locale]
    primary = locale.replace("_", "-").split("-")[0].split(".")[0].lower()
    for language, value in text.items():
        if language.split("-")[0].lower() == primary:
            return value
    return text["en"]
