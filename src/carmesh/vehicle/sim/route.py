"""Routes: waypoints with speed limits, the position and heading along them, and a driver
who keeps to the limits.

A :class:`Route` is a polyline of :class:`Waypoint` (latitude, longitude, the speed limit of
the segment that starts there, altitude), open or closed into a loop. ``locate(distance)``
gives the GNSS position, heading (degrees clockwise from north), speed limit and grade after
that many metres. :class:`RouteDriver` turns a route into target speeds: it accelerates
gently up to the limit, brakes in time for a lower limit or a sharp corner ahead, and stops
at the end of an open route.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_000.0
COMFORT_ACCELERATION = 1.2  # m/s²
COMFORT_DECELERATION = 1.5  # m/s²


@dataclass(frozen=True)
class Waypoint:
    latitude: float
    longitude: float
    speed_limit_kmh: float
    altitude_m: float = 0.0


@dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float
    altitude_m: float
    heading: float
    speed_limit_kmh: float
    grade: float


def distance_m(a: Waypoint, b: Waypoint) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(a.latitude), math.radians(b.latitude)
    dp = p2 - p1
    dl = math.radians(b.longitude - a.longitude)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def bearing(a: Waypoint, b: Waypoint) -> float:
    """Initial bearing from *a* to *b*, degrees clockwise from north in [0, 360)."""
    p1, p2 = math.radians(a.latitude), math.radians(b.latitude)
    dl = math.radians(b.longitude - a.longitude)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def corner_speed_kmh(turn_degrees: float) -> float:
    """A comfortable speed for a turn of that many degrees at a waypoint."""
    if turn_degrees >= 75:
        return 25.0
    if turn_degrees >= 40:
        return 40.0
    if turn_degrees >= 20:
        return 60.0
    return math.inf


class Route:
    """Waypoints joined by straight segments (on the sphere), optionally as a loop."""

    def __init__(self, name: str, waypoints: list[Waypoint], *, loop: bool = False) -> None:
        if len(waypoints) < 2:
            raise ValueError("a route needs at least two waypoints")
        self.name = name
        self.loop = loop
        points = list(waypoints)
        if loop and points[0] != points[-1]:
            points.append(points[0])
        self.points = points
        self.starts: list[float] = [0.0]
        for a, b in itertools.pairwise(points):
            self.starts.append(self.starts[-1] + distance_m(a, b))
        self.length = self.starts[-1]
        if self.length <= 0:
            raise ValueError("a route needs waypoints at different places")
        self.headings = [bearing(a, b) for a, b in itertools.pairwise(points)]
        # The slowest speed at the start of each segment: its limit and the corner into it.
        self.entry_speeds: list[float] = []
        for i, heading in enumerate(self.headings):
            limit = points[i].speed_limit_kmh
            if i > 0 or loop:
                turn = abs((heading - self.headings[i - 1] + 180.0) % 360.0 - 180.0)
                limit = min(limit, corner_speed_kmh(turn))
            self.entry_speeds.append(limit)

    def _segment(self, distance: float) -> tuple[int, float]:
        if self.loop:
            distance %= self.length
        distance = min(max(distance, 0.0), self.length)
        i = min(bisect.bisect_right(self.starts, distance) - 1, len(self.headings) - 1)
        return i, distance - self.starts[i]

    def locate(self, distance: float) -> Position:
        i, into = self._segment(distance)
        a, b = self.points[i], self.points[i + 1]
        seg = self.starts[i + 1] - self.starts[i]
        f = into / seg if seg > 0 else 0.0
        grade = (b.altitude_m - a.altitude_m) / seg if seg > 0 else 0.0
        return Position(
            latitude=a.latitude + (b.latitude - a.latitude) * f,
            longitude=a.longitude + (b.longitude - a.longitude) * f,
            altitude_m=a.altitude_m + (b.altitude_m - a.altitude_m) * f,
            heading=self.headings[i],
            speed_limit_kmh=a.speed_limit_kmh,
            grade=grade,
        )

    def allowed_speed(self, distance: float, look_ahead: float = 400.0) -> float:
        """Highest speed in m/s at *distance* from which the car can still slow down for
        every lower entry speed within *look_ahead* metres (and stop at an open end)."""
        i, into = self._segment(distance)
        allowed = self.points[i].speed_limit_kmh / 3.6
        ahead = self.starts[i + 1] - self.starts[i] - into
        j = i + 1
        while ahead < look_ahead:
            if j >= len(self.headings):
                if not self.loop:
                    entry = 0.0
                    allowed = min(allowed, math.sqrt(2 * COMFORT_DECELERATION * max(ahead, 0.0)))
                    break
                j = 0
            entry = self.entry_speeds[j] / 3.6
            allowed = min(allowed, math.sqrt(entry * entry + 2 * COMFORT_DECELERATION * ahead))
            ahead += self.starts[j + 1] - self.starts[j]
            j += 1
        return allowed


class RouteDriver:
    """Target speeds for driving along a route: to the limits, gently."""

    def __init__(self, route: Route) -> None:
        self.route = route

    def target_speed(self, distance: float, speed: float, dt: float) -> float:
        allowed = self.route.allowed_speed(distance)
        return min(speed + COMFORT_ACCELERATION * dt, allowed)

    def finished(self, distance: float, speed: float) -> bool:
        return not self.route.loop and distance >= self.route.length - 1.0 and speed < 0.1


def default_route() -> Route:
    """A 23 km loop through Gothenburg: Lindholmen, Götaälvbron, the E6 south to Mölndal,
    Söderleden and Dag Hammarskjöldsleden west, Älvsborgsbron, and along Hisingen back."""
    w = Waypoint
    return Route(
        "Gothenburg loop",
        [
            w(57.70660, 11.93800, 50, 6),  # Lindholmspiren
            w(57.70950, 11.95600, 50, 8),  # Lindholmsallén
            w(57.71350, 11.96850, 50, 10),  # Hisingen end of Götaälvbron
            w(57.71000, 11.97100, 50, 14),  # Götaälvbron, towards Centralstationen
            w(57.71450, 11.99000, 70, 9),  # Gullbergsmotet
            w(57.70400, 11.99700, 70, 12),  # E6 at Olskroken
            w(57.69300, 11.99900, 70, 18),  # E6 past Ullevi and Liseberg
            w(57.67800, 12.00100, 90, 24),  # E6 Kallebäck
            w(57.66400, 12.01000, 110, 20),  # E6 Mölndal
            w(57.65900, 11.97000, 70, 45),  # Söderleden, Järnbrott
            w(57.65600, 11.93800, 70, 38),  # Söderleden, Frölunda
            w(57.66400, 11.91200, 70, 30),  # Dag Hammarskjöldsleden
            w(57.67900, 11.92000, 70, 52),  # Dag Hammarskjöldsleden, Guldheden side
            w(57.69000, 11.90500, 70, 40),  # Älvsborgsbron, south approach
            w(57.69900, 11.89600, 70, 45),  # Älvsborgsbron, north end
            w(57.70500, 11.91500, 50, 12),  # Eriksberg
        ],
        loop=True,
    )
