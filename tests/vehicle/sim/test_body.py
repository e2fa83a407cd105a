"""Body actuators: parts move over time towards their targets; interlocks refuse clearly."""

from __future__ import annotations

import pytest

from carmesh.errors import InvalidArgument, NotFound
from carmesh.vehicle.sim import Gear, SimulatedCar
from carmesh.vehicle.sim.signals import state_values

DRIVER_DOOR = "Vehicle.Cabin.Door.Row1.DriverSide"
WINDOW = f"{DRIVER_DOOR}.Window"
TRUNK = "Vehicle.Body.Trunk.Rear"


def drive_at(car: SimulatedCar, kmh: float) -> None:
    car.shift(Gear.DRIVE)
    for _ in range(300):
        car.step(0.1, kmh / 3.6)


def test_a_window_moves_over_seconds_and_reports_its_position(car: SimulatedCar) -> None:
    car.actuate({f"{WINDOW}.Position": 100})
    seen = []
    for _ in range(50):
        car.step(0.1)
        seen.append(state_values(car)[f"{WINDOW}.Position"])
    travel = car.profile.actuators.window_travel_s
    assert seen[9] == pytest.approx(100 / travel, abs=1)  # after 1 s
    assert seen == sorted(seen)
    assert seen[-1] == 100
    assert state_values(car)[f"{WINDOW}.IsOpen"] is True
    car.actuate({f"{WINDOW}.Switch": "CLOSE"})
    car.step(0.1)
    assert state_values(car)[f"{WINDOW}.Switch"] == "CLOSE"
    car.actuate({f"{WINDOW}.Switch": "INACTIVE"})
    car.step(1.0)
    stopped = state_values(car)[f"{WINDOW}.Position"]
    assert 0 < stopped < 100
    assert state_values(car)[f"{WINDOW}.Switch"] == "INACTIVE"


def test_a_locked_door_does_not_open(car: SimulatedCar) -> None:
    assert car.body.doors["Row1.DriverSide"].locked
    with pytest.raises(InvalidArgument, match="is locked; unlock it before opening it"):
        car.actuate({f"{DRIVER_DOOR}.IsOpen": True})
    car.actuate({f"{DRIVER_DOOR}.IsLocked": False})
    car.actuate({f"{DRIVER_DOOR}.IsOpen": True})
    for _ in range(20):
        car.step(0.1)
    assert state_values(car)[f"{DRIVER_DOOR}.Position"] == 100
    with pytest.raises(InvalidArgument, match="is open; close it before locking it"):
        car.actuate({f"{DRIVER_DOOR}.IsLocked": True})


def test_a_refused_request_changes_nothing(car: SimulatedCar) -> None:
    with pytest.raises(InvalidArgument) as refused:
        car.actuate({f"{WINDOW}.Position": 50, f"{DRIVER_DOOR}.IsOpen": True})
    assert refused.value.path == f"{DRIVER_DOOR}.IsOpen"
    assert str(refused.value).startswith(f"{DRIVER_DOOR}.IsOpen: ")
    car.step(1.0)
    assert state_values(car)[f"{WINDOW}.Position"] == 0


def test_no_trunk_opening_above_walking_speed(car: SimulatedCar) -> None:
    car.actuate({f"{TRUNK}.IsLocked": False})
    drive_at(car, 30)
    with pytest.raises(InvalidArgument, match=r"cannot open at 30 km/h \(only below 5 km/h\)"):
        car.actuate({f"{TRUNK}.IsOpen": True})
    car.actuate({f"{DRIVER_DOOR}.IsLocked": False})
    with pytest.raises(InvalidArgument, match="cannot open at 30 km/h"):
        car.actuate({f"{DRIVER_DOOR}.Switch": "OPEN"})
    for _ in range(300):
        car.step(0.1, 0.0)
    car.actuate({f"{TRUNK}.IsOpen": True})
    for _ in range(70):
        car.step(0.1)
    assert state_values(car)[f"{TRUNK}.IsOpen"] is True


def test_mirrors_fold_only_at_a_standstill_and_move_gradually(car: SimulatedCar) -> None:
    mirror = "Vehicle.Body.Mirrors.DriverSide"
    car.actuate({f"{mirror}.Pan": 50, f"{mirror}.IsFolded": True})
    car.step(1.0)
    values = state_values(car)
    assert values[f"{mirror}.Pan"] == 25
    assert values[f"{mirror}.IsFolded"] is False
    car.step(1.0)
    assert state_values(car)[f"{mirror}.IsFolded"] is True
    car.actuate({f"{mirror}.IsFolded": False})
    drive_at(car, 50)
    with pytest.raises(InvalidArgument, match="mirrors cannot fold while the car is moving"):
        car.actuate({f"{mirror}.IsFolded": True})


def test_seats_lights_wipers_and_hvac_follow_their_targets(car: SimulatedCar) -> None:
    seat = "Vehicle.Cabin.Seat.Row1.DriverSide"
    car.actuate(
        {
            f"{seat}.Position": 180,
            f"{seat}.HeatingCooling": 60,
            "Vehicle.Body.Lights.Hazard.IsSignaling": True,
            "Vehicle.Body.Lights.LightSwitch": "BEAM",
            "Vehicle.Body.Windshield.Front.Wiping.Mode": "FAST",
            "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature": 23.5,
        }
    )
    car.step(2.0)
    values = state_values(car)
    assert values[f"{seat}.Position"] == 150  # 15 mm/s from 120 mm
    assert values[f"{seat}.HeatingCooling"] == 60
    assert values["Vehicle.Body.Lights.Hazard.IsSignaling"] is True
    assert values["Vehicle.Body.Lights.Beam.Low.IsOn"] is True
    assert values["Vehicle.Body.Windshield.Front.Wiping.System.IsWiping"] is True
    assert values["Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"] == 23.5
    with pytest.raises(InvalidArgument, match="15–29 °C"):
        car.actuate({"Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature": 40.0})


def test_the_brake_light_shows_braking(car: SimulatedCar) -> None:
    drive_at(car, 50)
    car.step(0.1, 40 / 3.6)
    assert state_values(car)["Vehicle.Body.Lights.Brake.IsActive"] == "ACTIVE"
    car.step(0.1, 45 / 3.6)
    assert state_values(car)["Vehicle.Body.Lights.Brake.IsActive"] == "INACTIVE"


def test_trip_meter_resets_only_to_zero_and_unknown_actuators_are_not_found(
    car: SimulatedCar,
) -> None:
    drive_at(car, 50)
    assert car.trip_m > 0
    with pytest.raises(InvalidArgument, match="only be reset to 0"):
        car.actuate({"Vehicle.TripMeterReading": 5})
    car.actuate({"Vehicle.TripMeterReading": 0})
    assert car.trip_m == 0
    with pytest.raises(NotFound):
        car.actuate({"Vehicle.Cabin.Sunroof.Position": 10})
