"""The cabin climate: approaching the set point, dependence on the outside, energy cost."""

from __future__ import annotations

import pytest

from carmesh.vehicle.sim import VehicleProfile
from carmesh.vehicle.sim.thermal import CabinClimate


def run(cabin: CabinClimate, minutes: float, outside_c: float) -> float:
    """Advance; return the energy drawn in Wh."""
    energy = 0.0
    for _ in range(int(minutes * 60)):
        energy += cabin.step(1.0, outside_c) / 3600
    return energy


def test_a_cold_cabin_warms_to_the_set_point_within_minutes(profile: VehicleProfile) -> None:
    cabin = CabinClimate(profile, temperature_c=0.0)
    run(cabin, 5, outside_c=0.0)
    after_5 = cabin.temperature_c
    run(cabin, 15, outside_c=0.0)
    assert 8 < after_5 < 20  # still on its way after five minutes
    assert cabin.temperature_c == pytest.approx(21.0, abs=1.0)


def test_a_hot_cabin_cools_only_with_the_air_conditioning(profile: VehicleProfile) -> None:
    cabin = CabinClimate(profile, temperature_c=40.0)
    cabin.ac_active = False
    run(cabin, 10, outside_c=35.0)
    assert cabin.temperature_c > 30.0
    cabin.ac_active = True
    run(cabin, 20, outside_c=35.0)
    assert cabin.temperature_c == pytest.approx(21.0, abs=1.5)


def test_without_hvac_the_cabin_drifts_to_the_outside(profile: VehicleProfile) -> None:
    cabin = CabinClimate(profile, temperature_c=21.0)
    cabin.fan_speeds = {"Driver": 0, "Passenger": 0}
    energy = run(cabin, 120, outside_c=5.0)
    assert energy == 0.0
    assert cabin.temperature_c == pytest.approx(5.0 + 100 / 90, abs=1.0)  # occupant's heat


def test_heating_costs_more_the_colder_it_is(profile: VehicleProfile) -> None:
    mild = run(CabinClimate(profile, temperature_c=21.0), 60, outside_c=15.0)
    cold = run(CabinClimate(profile, temperature_c=21.0), 60, outside_c=-5.0)
    frozen = run(CabinClimate(profile, temperature_c=21.0), 60, outside_c=-20.0)
    assert 0 < mild < cold < frozen
    assert 500 < cold < 1500  # Wh in an hour: 0.5–1.5 kW, a heat pump at −5 °C
    assert frozen > 2 * cold  # below −10 °C the resistive heater takes over


def test_seat_and_mirror_heating_and_defrosting_add_loads(profile: VehicleProfile) -> None:
    cabin = CabinClimate(profile, temperature_c=21.0)
    base = cabin.step(1.0, 21.0)
    cabin.seat_levels["Row1.DriverSide"] = 100
    cabin.mirror_heating = 2
    cabin.rear_defroster = True
    assert cabin.step(1.0, 21.0) - base == pytest.approx(75 + 60 + 400, abs=5)
