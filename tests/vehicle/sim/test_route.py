"""Routes: distances, headings, GNSS positions, and a driver keeping to the limits."""

from __future__ import annotations

import pytest

from carmesh.vehicle.sim import Gear, SimulatedCar, VehicleProfile
from carmesh.vehicle.sim.route import (
    Route,
    RouteDriver,
    Waypoint,
    bearing,
    default_route,
    distance_m,
)


def test_distance_and_bearing_on_the_sphere() -> None:
    a, b = Waypoint(57.0, 12.0, 50), Waypoint(58.0, 12.0, 50)
    assert distance_m(a, b) == pytest.approx(111_195, rel=1e-3)
    assert bearing(a, b) == pytest.approx(0.0)
    assert bearing(b, a) == pytest.approx(180.0)
    east = Waypoint(57.0, 12.1, 50)
    assert bearing(a, east) == pytest.approx(90.0, abs=0.1)


def test_locate_interpolates_position_altitude_and_grade() -> None:
    route = Route("r", [Waypoint(57.0, 12.0, 70, 0), Waypoint(57.01, 12.0, 90, 111.2)])
    half = route.locate(route.length / 2)
    assert half.latitude == pytest.approx(57.005)
    assert half.altitude_m == pytest.approx(55.6)
    assert half.grade == pytest.approx(0.1, rel=0.01)
    assert half.speed_limit_kmh == 70
    assert route.locate(route.length * 2).latitude == pytest.approx(57.01)  # an open end holds


def test_the_default_route_is_a_closed_loop_through_gothenburg() -> None:
    route = default_route()
    assert route.loop
    assert 20_000 < route.length < 30_000
    start, around = route.locate(0), route.locate(route.length)
    assert (start.latitude, start.longitude) == pytest.approx((around.latitude, around.longitude))
    assert all(57.6 < p.latitude < 57.8 and 11.8 < p.longitude < 12.1 for p in route.points)


def test_a_route_needs_two_distinct_waypoints() -> None:
    with pytest.raises(ValueError):
        Route("r", [Waypoint(57.0, 12.0, 50)])
    with pytest.raises(ValueError):
        Route("r", [Waypoint(57.0, 12.0, 50), Waypoint(57.0, 12.0, 50)])


def test_the_driver_keeps_to_the_limits_slows_for_corners_and_stops_at_the_end(
    profile: VehicleProfile,
) -> None:
    route = Route(
        "corner",
        [Waypoint(57.0, 12.0, 90), Waypoint(57.01, 12.0, 50), Waypoint(57.01, 12.02, 50)],
    )
    car = SimulatedCar(profile, route=route)
    driver = RouteDriver(route)
    car.shift(Gear.DRIVE)
    top = 0.0
    at_corner = None
    while not driver.finished(car.route_distance, car.speed):
        car.step(0.5, driver.target_speed(car.route_distance, car.speed, 0.5))
        top = max(top, car.speed_kmh)
        if at_corner is None and car.route_distance >= route.starts[1]:
            at_corner = car.speed_kmh
        assert car.time < 600
    assert top == pytest.approx(90, abs=0.5)
    assert at_corner is not None and at_corner <= 27  # 90° corner: 25 km/h
    assert car.route_distance == pytest.approx(route.length, abs=2)
    heading = route.locate(route.length - 10).heading
    assert heading == pytest.approx(90, abs=1)
