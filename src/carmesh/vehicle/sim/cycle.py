"""Speed traces a simulated driver follows: the WLTC class 3b cycle and constant-speed runs.

A :class:`SpeedTrace` is target speed (km/h) against time (s), linear between points, so a
trace sampled once a second (the WLTC's own resolution) is followed exactly by a model
stepping at any rate.
"""

from __future__ import annotations

import bisect
import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class SpeedTrace:
    """Target speed over time; zero before the start and after the end."""

    name: str
    times: tuple[float, ...]
    speeds_kmh: tuple[float, ...]

    @property
    def duration(self) -> float:
        return self.times[-1]

    @property
    def distance_km(self) -> float:
        """Distance of the trace itself (trapezoidal), for comparison with the standard."""
        total = 0.0
        for i in range(1, len(self.times)):
            dt = self.times[i] - self.times[i - 1]
            total += (self.speeds_kmh[i] + self.speeds_kmh[i - 1]) / 2 * dt
        return total / 3600

    def speed_at(self, t: float) -> float:
        """Target speed in km/h at *t* seconds from the start."""
        if t <= self.times[0] or t >= self.times[-1]:
            return 0.0 if t < self.times[0] or t > self.times[-1] else self.speeds_kmh[-1]
        i = bisect.bisect_right(self.times, t)
        t0, t1 = self.times[i - 1], self.times[i]
        v0, v1 = self.speeds_kmh[i - 1], self.speeds_kmh[i]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


@cache
def wltc_class3b() -> SpeedTrace:
    """The WLTC class 3b cycle of UN GTR No. 15 (1,800 s, 23.27 km, max 131.3 km/h)."""
    text = (resources.files("carmesh.vehicle.sim") / "data" / "wltc_class3b.csv").read_text(
        encoding="utf-8"
    )
    times: list[float] = []
    speeds: list[float] = []
    for row in csv.DictReader(io.StringIO(text)):
        times.append(float(row["time_s"]))
        speeds.append(float(row["speed_kmh"]))
    return SpeedTrace("WLTC class 3b", tuple(times), tuple(speeds))


def constant_speed(
    speed_kmh: float,
    duration_s: float,
    *,
    acceleration: float = 1.5,
    deceleration: float = 1.5,
) -> SpeedTrace:
    """Accelerate from rest to *speed_kmh*, hold it, and stop, taking *duration_s* in all.

    Raises ValueError when the duration is too short to reach the speed and stop again.
    """
    v = speed_kmh / 3.6
    t_up = v / acceleration
    t_down = v / deceleration
    if speed_kmh <= 0 or duration_s < t_up + t_down:
        raise ValueError(
            f"{duration_s:g} s is too short to reach {speed_kmh:g} km/h and stop again "
            f"(needs at least {t_up + t_down:.0f} s)"
        )
    times = (0.0, t_up, duration_s - t_down, duration_s)
    return SpeedTrace(f"{speed_kmh:g} km/h", times, (0.0, speed_kmh, speed_kmh, 0.0))
