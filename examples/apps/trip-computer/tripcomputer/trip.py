"""The trip: distance, driving time, average speed and consumption since the last reset.

Pure logic, no SDK: :class:`TripComputer` is fed the signal values the app receives
(:meth:`~TripComputer.update`) and the passing of time (:meth:`~TripComputer.tick`), and says
what to show (:meth:`~TripComputer.summary`) and which kilometres were completed (the
efficiency history). Time is given in seconds by the caller: *now* is a monotonic clock,
*wall* the Unix time stamped on history entries.

Units follow VSS: ``Vehicle.Speed`` km/h, ``Vehicle.TraveledDistance`` (the odometer) m,
``AccumulatedConsumedEnergy`` kWh, ``StateOfCharge.Current`` %, ``Vehicle.Powertrain.Range``
m. The consumed-energy counter only grows: energy recovered by regenerative braking is not
subtracted, so the consumption shown is the gross energy drawn from the battery per 100 km.

Driving time counts the time the car moves (speed above zero), as the car's own trip meter
does; an interval longer than :data:`MAX_GAP_S` between two observations (the app was not
running, the car was asleep) is not counted. A counter that goes backwards (another car, a
reset simulator) starts a new trip rather than showing negative figures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

SPEED = "Vehicle.Speed"
ODOMETER = "Vehicle.TraveledDistance"
ENERGY = "Vehicle.Powertrain.TractionBattery.AccumulatedConsumedEnergy"
SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
RANGE = "Vehicle.Powertrain.Range"
#: Every signal the trip computer reads (and the manifest's read permissions).
SIGNALS = (SPEED, ODOMETER, ENERGY, SOC, RANGE)

#: Longest interval (s) between two observations that still counts as driving time.
MAX_GAP_S = 10.0
#: Distance (m) of one efficiency history entry.
SEGMENT_M = 1000.0
#: Shortest trip (km) with a consumption and an average speed worth showing.
MIN_DISTANCE_KM = 0.1


@dataclass(frozen=True)
class HistoryEntry:
    """One completed kilometre (or more, after a gap): when it ended, where, and how it went.

    *time* is Unix seconds; *odometer_km* the odometer at its end; *consumption* kWh/100 km;
    *average_speed* km/h (``None`` when no driving time was observed).
    """

    time: float
    odometer_km: float
    distance_km: float
    energy_kwh: float
    consumption: float
    average_speed: float | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> HistoryEntry | None:
        """The entry *data* describes, or ``None`` when it is not one (a damaged line)."""
        if not isinstance(data, dict):
            return None
        numbers = ("time", "odometer_km", "distance_km", "energy_kwh", "consumption")
        if not all(_is_number(data.get(name)) for name in numbers):
            return None
        speed = data.get("average_speed")
        if speed is not None and not _is_number(speed):
            return None
        return cls(
            time=float(data["time"]),
            odometer_km=float(data["odometer_km"]),
            distance_km=float(data["distance_km"]),
            energy_kwh=float(data["energy_kwh"]),
            consumption=float(data["consumption"]),
            average_speed=None if speed is None else float(speed),
        )


@dataclass(frozen=True)
class TripSummary:
    """What the pane shows; ``None`` where the figure is not known (yet)."""

    distance_km: float
    driving_s: float
    average_speed: float | None
    consumption: float | None
    range_km: float | None
    soc: float | None


@dataclass
class _Mark:
    """Counters at the start of the trip or of the current history segment."""

    odometer_m: float | None = None
    energy_kwh: float | None = None
    driving_s: float = 0.0


class TripComputer:
    """The trip since the last :meth:`reset` and the kilometre being driven now."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.driving_s = 0.0
        self.started_at: float | None = None
        self._trip = _Mark()
        self._segment = _Mark()
        self._last_now: float | None = None

    # -- input -------------------------------------------------------------------------------

    def update(self, values: Mapping[str, Any], now: float, wall: float) -> list[HistoryEntry]:
        """Take new signal values (missing paths keep their last value); returns the history
        entries completed by them (usually none, one per kilometre)."""
        self.tick(now)
        for path, value in values.items():
            if path in SIGNALS:
                self.values[path] = value
        odometer = _number(self.values.get(ODOMETER))
        energy = _number(self.values.get(ENERGY))
        if self.started_at is None:
            self.started_at = wall
        if any(
            _below(odometer, mark.odometer_m) or _below(energy, mark.energy_kwh)
            for mark in (self._trip, self._segment)
        ):
            self.reset(wall)
        for mark in (self._trip, self._segment):
            if mark.odometer_m is None and odometer is not None:
                mark.odometer_m = odometer
                mark.driving_s = self.driving_s
            if mark.energy_kwh is None and energy is not None:
                mark.energy_kwh = energy
        return self._close_segment(odometer, energy, wall)

    def tick(self, now: float) -> None:
        """Let time pass: driving time grows while the last known speed is above zero."""
        last, self._last_now = self._last_now, now
        if last is None:
            return
        elapsed = now - last
        speed = _number(self.values.get(SPEED))
        if 0.0 < elapsed <= MAX_GAP_S and speed is not None and speed > 0.0:
            self.driving_s += elapsed

    def reset(self, wall: float) -> None:
        """Start a new trip from the present values (the history is kept)."""
        odometer = _number(self.values.get(ODOMETER))
        energy = _number(self.values.get(ENERGY))
        self.driving_s = 0.0
        self.started_at = wall
        self._trip = _Mark(odometer, energy, 0.0)
        self._segment = _Mark(odometer, energy, 0.0)

    def _close_segment(
        self, odometer: float | None, energy: float | None, wall: float
    ) -> list[HistoryEntry]:
        seg = self._segment
        if odometer is None or energy is None or seg.odometer_m is None or seg.energy_kwh is None:
            return []
        distance_m = odometer - seg.odometer_m
        if distance_m < SEGMENT_M:
            return []
        distance_km = distance_m / 1000.0
        used = max(energy - seg.energy_kwh, 0.0)
        driven = self.driving_s - seg.driving_s
        entry = HistoryEntry(
            time=wall,
            odometer_km=round(odometer / 1000.0, 3),
            distance_km=round(distance_km, 3),
            energy_kwh=round(used, 4),
            consumption=round(used / distance_km * 100.0, 2),
            average_speed=round(distance_km / driven * 3600.0, 1) if driven > 0 else None,
        )
        self._segment = _Mark(odometer, energy, self.driving_s)
        return [entry]

    # -- output ------------------------------------------------------------------------------

    def summary(self) -> TripSummary:
        """The trip's figures from the values known now."""
        odometer = _number(self.values.get(ODOMETER))
        energy = _number(self.values.get(ENERGY))
        trip = self._trip
        distance_km = 0.0
        if odometer is not None and trip.odometer_m is not None:
            distance_km = max(odometer - trip.odometer_m, 0.0) / 1000.0
        consumption = None
        if energy is not None and trip.energy_kwh is not None and distance_km >= MIN_DISTANCE_KM:
            consumption = max(energy - trip.energy_kwh, 0.0) / distance_km * 100.0
        average = None
        if self.driving_s > 0 and distance_km >= MIN_DISTANCE_KM:
            average = distance_km / self.driving_s * 3600.0
        range_m = _number(self.values.get(RANGE))
        return TripSummary(
            distance_km=distance_km,
            driving_s=self.driving_s,
            average_speed=average,
            consumption=consumption,
            range_km=None if range_m is None else range_m / 1000.0,
            soc=_number(self.values.get(SOC)),
        )

    # -- persistence -------------------------------------------------------------------------

    def state_json(self) -> dict[str, Any]:
        """What :meth:`restore` needs to continue this trip after a restart."""
        return {
            "version": 1,
            "started_at": self.started_at,
            "driving_s": self.driving_s,
            "trip": asdict(self._trip),
            "segment": asdict(self._segment),
        }

    def restore(self, data: Any) -> bool:
        """Continue the trip *data* (from :meth:`state_json`) describes; False (and nothing
        changed) when it is not such a state."""
        if not isinstance(data, dict) or data.get("version") != 1:
            return False
        trip, segment = _mark(data.get("trip")), _mark(data.get("segment"))
        driving = _number(data.get("driving_s"))
        started = data.get("started_at")
        if trip is None or segment is None or driving is None or driving < 0:
            return False
        if started is not None and not _is_number(started):
            return False
        self._trip, self._segment = trip, segment
        self.driving_s = driving
        self.started_at = _number(started)
        return True


def _mark(data: Any) -> _Mark | None:
    if not isinstance(data, dict):
        return None
    odometer, energy = data.get("odometer_m"), data.get("energy_kwh")
    driving = _number(data.get("driving_s"))
    if any(v is not None and not _is_number(v) for v in (odometer, energy)) or driving is None:
        return None
    return _Mark(_number(odometer), _number(energy), driving)


def _below(value: float | None, mark: float | None) -> bool:
    return value is not None and mark is not None and value < mark


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


# -- formatting ---------------------------------------------------------------------------------

NO_VALUE = "—"


def format_distance(km: float) -> str:
    """``"12.3 km"`` (one decimal)."""
    return f"{km:.1f} km"


def format_duration(seconds: float) -> str:
    """``"h:mm"`` (``"0:42"``, ``"12:05"``), whole minutes, rounded down."""
    minutes = int(max(seconds, 0.0) // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def format_speed(kmh: float | None) -> str:
    """``"54 km/h"``, or a dash when unknown."""
    return NO_VALUE if kmh is None else f"{kmh:.0f} km/h"


def format_consumption(kwh_per_100km: float | None) -> str:
    """``"16.4 kWh/100 km"``, or a dash when unknown."""
    return NO_VALUE if kwh_per_100km is None else f"{kwh_per_100km:.1f} kWh/100 km"


def format_range(range_km: float | None, soc: float | None) -> str:
    """``"312 km · 78 %"``; either part is left out when unknown (a dash when both are)."""
    parts = []
    if range_km is not None:
        parts.append(f"{range_km:.0f} km")
    if soc is not None:
        parts.append(f"{soc:.0f} %")
    return " · ".join(parts) if parts else NO_VALUE


def pane_rows(summary: TripSummary) -> list[tuple[dict[str, str], str]]:
    """The trip pane's rows: (label in both languages, value)."""
    return [
        ({"en": "Distance", "zh-CN": "里程"}, format_distance(summary.distance_km)),
        ({"en": "Driving time", "zh-CN": "驾驶时间"}, format_duration(summary.driving_s)),
        ({"en": "Average speed", "zh-CN": "平均速度"}, format_speed(summary.average_speed)),
        ({"en": "Consumption", "zh-CN": "能耗"}, format_consumption(summary.consumption)),
        ({"en": "Range", "zh-CN": "续航里程"}, format_range(summary.range_km, summary.soc)),
    ]


def entry_texts(entry: HistoryEntry, local: time.struct_time | None = None) -> tuple[str, str]:
    """A history entry as a list item: (title, text), e.g. ``("16.4 kWh/100 km",
    "km 12,345.0 · 68 km/h · 06-01 14:32")``; *local* is its time (default: local time)."""
    when = time.strftime("%m-%d %H:%M", local or time.localtime(entry.time))
    text = f"km {entry.odometer_km:,.1f} · {format_speed(entry.average_speed)} · {when}"
    return format_consumption(entry.consumption), text
