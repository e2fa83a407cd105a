"""The traction battery: OCV and internal resistance, energy bookkeeping, heat, range."""

from __future__ import annotations

import pytest

from carmesh.vehicle.sim import VehicleProfile
from carmesh.vehicle.sim.battery import RangeEstimator, TractionBattery


def test_open_circuit_voltage_rises_with_charge(profile: VehicleProfile) -> None:
    battery = TractionBattery(profile, soc=0)
    empty = battery.open_circuit_voltage()
    battery.soc = 100
    full = battery.open_circuit_voltage()
    assert 350 < empty < full < 460
    battery.soc = 50
    assert battery.open_circuit_voltage() == pytest.approx(
        profile.battery.nominal_voltage_v, rel=0.06
    )


def test_discharging_sags_the_voltage_and_loses_i2r(profile: VehicleProfile) -> None:
    battery = TractionBattery(profile, soc=50)
    ocv = battery.open_circuit_voltage()
    battery.step(100_000.0, 1.0, ambient_c=20.0)
    r = profile.battery.internal_resistance_ohm
    assert battery.voltage == pytest.approx(ocv - battery.current * r)
    assert battery.voltage * battery.current == pytest.approx(100_000.0)
    assert battery.heat_w == pytest.approx(battery.current**2 * r)
    assert 250 < battery.current < 300


def test_energy_is_conserved_through_a_discharge_charge_cycle(profile: VehicleProfile) -> None:
    battery = TractionBattery(profile, soc=50)
    start = battery.energy_kwh
    for _ in range(3600):
        battery.step(20_000.0, 1.0, ambient_c=20.0)
    drawn = start - battery.energy_kwh
    assert battery.consumed_kwh == pytest.approx(20.0)
    assert drawn > battery.consumed_kwh  # the cells gave the terminal energy plus the heat
    assert drawn == pytest.approx(20.0 * 1.01, rel=0.01)
    for _ in range(3600):
        battery.step(-20_000.0, 1.0, ambient_c=20.0)
    assert battery.charged_kwh == pytest.approx(20.0)
    assert battery.soc < 50  # losses both ways
    assert battery.consumed_ah > 0 and battery.charged_ah > 0


def test_soc_stays_within_0_and_100(profile: VehicleProfile) -> None:
    battery = TractionBattery(profile, soc=0.01)
    battery.step(50_000.0, 60.0, ambient_c=20.0)
    assert battery.soc == 0.0 and battery.is_empty
    assert battery.max_discharge_power() == 0.0
    battery.soc = 99.99
    battery.step(-100_000.0, 60.0, ambient_c=20.0)
    assert battery.soc == 100.0


def test_fast_charging_warms_the_pack_and_the_chiller_holds_it(profile: VehicleProfile) -> None:
    battery = TractionBattery(profile, soc=10, temperature_c=20.0)
    for _ in range(1800):
        battery.step(-140_000.0, 1.0, ambient_c=20.0)
    assert 26 < battery.temperature_c < profile.battery.max_temperature_c + 5
    assert battery.thermal_management_w > 0


def test_range_follows_recent_consumption(profile: VehicleProfile) -> None:
    estimator = RangeEstimator(profile)
    wltp = profile.published
    assert estimator.range_m(profile.battery.usable_capacity_kwh) == pytest.approx(
        wltp.wltp_range_km * 1000
    )
    for _ in range(100):  # 100 km of motorway at 220 Wh/km
        estimator.record(220.0, 1.0)
    assert estimator.average_wh_per_km == pytest.approx(220.0, rel=0.02)
    assert estimator.range_m(44.0) == pytest.approx(200_000, rel=0.02)
    assert estimator.trip_wh_per_km > 200
