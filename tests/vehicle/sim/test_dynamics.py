"""Longitudinal dynamics: road loads, acceleration, recuperation, grade, following traces."""

from __future__ import annotations

import math

import pytest

from carmesh.vehicle.sim import VehicleProfile
from carmesh.vehicle.sim.cycle import constant_speed, wltc_class3b
from carmesh.vehicle.sim.dynamics import GRAVITY, Longitudinal, air_density


def test_road_load_is_aero_plus_rolling_plus_grade(profile: VehicleProfile) -> None:
    car = Longitudinal(profile)
    v = 100 / 3.6
    body = profile.body
    aero = 0.5 * air_density(20.0) * body.drag_coefficient * body.frontal_area_m2 * v * v
    rolling = body.rolling_resistance * car.mass * GRAVITY
    assert car.road_load(v, 0.0) == pytest.approx(aero + rolling)
    assert 280 < aero < 330  # about 8.4 kW of drag at 100 km/h for Cd·A ≈ 0.65 m²
    climbing = car.road_load(v, 0.05) - car.road_load(v, 0.0)
    assert climbing == pytest.approx(car.mass * GRAVITY * math.sin(math.atan(0.05)), rel=1e-3)


def test_cold_air_is_denser() -> None:
    assert air_density(-10.0) > air_density(20.0) > air_density(35.0)
    assert air_density(15.0) == pytest.approx(1.225, abs=0.002)


def test_zero_to_hundred_takes_about_the_published_time(profile: VehicleProfile) -> None:
    """Polestar publishes 4.7 s (insideevs.com/news/447571); motor limits alone give it."""
    car = Longitudinal(profile, payload_kg=75)
    t = 0.0
    while car.speed < 100 / 3.6:
        car.step(200 / 3.6, 0.01)
        t += 0.01
    assert t == pytest.approx(4.7, rel=0.15)


def test_top_speed_is_capped(profile: VehicleProfile) -> None:
    car = Longitudinal(profile)
    for _ in range(1200):
        car.step(300 / 3.6, 0.1)
    assert car.speed * 3.6 == pytest.approx(profile.vehicle.max_speed_kmh)


def test_constant_speed_draws_the_road_load_through_the_drivetrain(
    profile: VehicleProfile,
) -> None:
    car = Longitudinal(profile)
    car.speed = 90 / 3.6
    step = car.step(90 / 3.6, 1.0)
    expected = car.road_load(90 / 3.6, 0.0) * 90 / 3.6 / profile.powertrain.drivetrain_efficiency
    assert step.drive_power == pytest.approx(expected)
    assert step.acceleration == 0.0


@pytest.mark.parametrize(("speed_kmh", "measured_wh_per_km"), [(90, 167), (120, 229)])
def test_highway_consumption_is_near_the_measured_figures(
    profile: VehicleProfile, speed_kmh: float, measured_wh_per_km: float
) -> None:
    """Bjørn Nyland's range test of the 2021 car (insideevs.com/news/440382): 167 Wh/km at
    90 km/h and 229 Wh/km at 120 km/h, at the battery, including the car's own loads."""
    car = Longitudinal(profile, payload_kg=90)
    car.speed = speed_kmh / 3.6
    power = car.step(speed_kmh / 3.6, 1.0).drive_power + profile.powertrain.auxiliary_power_w
    assert power / speed_kmh == pytest.approx(measured_wh_per_km, rel=0.15)


def test_braking_recuperates_up_to_the_limit_and_the_rest_is_friction(
    profile: VehicleProfile,
) -> None:
    car = Longitudinal(profile)
    car.speed = 100 / 3.6
    gentle = car.step(100 / 3.6 - 0.5, 1.0)
    assert gentle.drive_power < 0 and gentle.friction_brake_power == 0.0
    assert gentle.braking
    car.speed = 130 / 3.6
    hard = car.step(130 / 3.6 - 6.0, 1.0)  # 6 m/s², far beyond recuperation
    limit = profile.powertrain.regen_power_kw * 1000
    assert -hard.drive_power == pytest.approx(limit * profile.powertrain.regen_efficiency)
    assert hard.friction_brake_power > 0
    assert hard.motor_torque < 0


def test_recuperation_fades_out_at_walking_pace(profile: VehicleProfile) -> None:
    car = Longitudinal(profile)
    car.speed = 2 / 3.6
    step = car.step(0.0, 1.0)
    assert step.drive_power == 0.0
    assert step.friction_brake_power > 0.0
    assert car.speed == 0.0


def test_climbing_costs_the_potential_energy(profile: VehicleProfile) -> None:
    flat, hill = Longitudinal(profile), Longitudinal(profile)
    flat.speed = hill.speed = 50 / 3.6
    flat_j = hill_j = 0.0
    for _ in range(600):
        flat_j += flat.step(50 / 3.6, 0.1).wheel_power * 0.1
        hill_j += hill.step(50 / 3.6, 0.1, grade=0.06).wheel_power * 0.1
    climbed = 50 / 3.6 * 60 * math.sin(math.atan(0.06))
    assert hill_j - flat_j == pytest.approx(hill.mass * GRAVITY * climbed, rel=0.01)


def test_an_empty_battery_gives_no_traction(profile: VehicleProfile) -> None:
    car = Longitudinal(profile)
    car.speed = 50 / 3.6
    step = car.step(60 / 3.6, 1.0, available_power_w=0.0)
    assert step.drive_power <= 0.0
    assert car.speed < 50 / 3.6


def test_the_wltc_trace_is_followed_exactly(profile: VehicleProfile) -> None:
    wltc = wltc_class3b()
    assert wltc.duration == 1800
    assert wltc.distance_km == pytest.approx(23.266, abs=0.01)
    assert max(wltc.speeds_kmh) == 131.3
    car = Longitudinal(profile)
    distance = 0.0
    for t in range(1, 1801):
        distance += car.step(wltc.speed_at(t) / 3.6, 1.0).distance
        assert car.speed * 3.6 == pytest.approx(wltc.speed_at(t), abs=1e-6)
    assert distance / 1000 == pytest.approx(wltc.distance_km, rel=1e-6)


def test_constant_speed_traces_ramp_hold_and_stop() -> None:
    trace = constant_speed(90, 600)
    assert trace.speed_at(0) == 0
    assert trace.speed_at(300) == 90
    assert trace.speed_at(600) == 0
    with pytest.raises(ValueError, match="too short"):
        constant_speed(130, 20)
