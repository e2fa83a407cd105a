"""Charging: the DC curve, AC power, the charge limit, time to complete and interlocks."""

from __future__ import annotations

import pytest

from carmesh.errors import InvalidArgument
from carmesh.vehicle.sim import Gear, SimulatedCar, VehicleProfile
from carmesh.vehicle.sim.charging import Charger, ChargerKind

PORT = "Vehicle.Powertrain.TractionBattery.Charging.ChargingPort.RearLeft"
CHARGING = "Vehicle.Powertrain.TractionBattery.Charging"


def plugged(profile: VehicleProfile, kind: ChargerKind, kw: float, soc: float) -> SimulatedCar:
    car = SimulatedCar(profile, soc=soc, outside_c=20.0)
    car.cabin.fan_speeds = {"Driver": 0, "Passenger": 0}
    car.charging.limit = 100
    car.charging.plug(Charger(kind, kw))
    return car


@pytest.mark.parametrize(("soc", "kw"), [(5, 98), (15, 148.9), (30, 135.8), (60, 90), (95, 11.7)])
def test_dc_power_follows_the_curve(profile: VehicleProfile, soc: float, kw: float) -> None:
    car = plugged(profile, ChargerKind.DC, 350, soc)
    car.step(0.1)
    assert car.charging.is_charging
    assert car.charging.charger_power_w / 1000 == pytest.approx(kw, rel=0.01)


def test_a_slower_charger_limits_the_power(profile: VehicleProfile) -> None:
    car = plugged(profile, ChargerKind.DC, 50, 20)
    car.step(0.1)
    assert car.charging.charger_power_w == 50_000


def test_ac_charges_at_the_on_board_chargers_power(profile: VehicleProfile) -> None:
    car = plugged(profile, ChargerKind.AC, 22, 40)
    before = car.battery.soc
    for _ in range(3600):
        car.step(1.0)
    assert car.charging.charger_power_w == pytest.approx(11_000)
    gained = (car.battery.soc - before) / 100 * profile.battery.usable_capacity_kwh
    assert gained == pytest.approx(11 * profile.charging.ac_efficiency - 0.3, rel=0.05)


def test_charging_stops_at_the_limit_and_unlocks_nothing_by_itself(
    profile: VehicleProfile,
) -> None:
    car = plugged(profile, ChargerKind.DC, 150, 70)
    car.charging.limit = 75
    while car.charging.is_charging or car.time == 0:
        car.step(1.0)
    assert car.battery.soc == pytest.approx(75, abs=0.1)
    assert not car.charging.is_charging
    assert car.charging.cable_connected


def test_time_to_complete_predicts_the_session(profile: VehicleProfile) -> None:
    car = plugged(profile, ChargerKind.DC, 150, 20)
    car.step(1.0)
    predicted = car.charging.time_to(80, auxiliary_w=car.auxiliary_w)
    elapsed = 1.0
    while car.battery.soc < 80:
        car.step(1.0)
        elapsed += 1.0
    assert elapsed == pytest.approx(predicted, rel=0.03)


def test_no_charging_while_driving_or_without_a_request(profile: VehicleProfile) -> None:
    car = plugged(profile, ChargerKind.AC, 11, 50)
    car.actuate({f"{CHARGING}.StartStopCharging": "STOP"})
    car.step(1.0)
    assert not car.charging.is_charging
    car.actuate({f"{CHARGING}.StartStopCharging": "START"})
    car.step(1.0)
    assert car.charging.is_charging
    with pytest.raises(InvalidArgument, match="unplug"):
        car.shift(Gear.DRIVE)


def test_the_cable_is_locked_while_charging(profile: VehicleProfile) -> None:
    car = plugged(profile, ChargerKind.DC, 150, 50)
    car.step(1.0)
    assert car.charging.cable_locked
    with pytest.raises(InvalidArgument, match="locked while charging; stop charging first"):
        car.actuate({f"{PORT}.IsChargingCableLocked": False})
    with pytest.raises(InvalidArgument, match="cannot close while a cable is connected"):
        car.actuate({f"{PORT}.IsFlapOpen": False})
    car.actuate({f"{CHARGING}.StartStopCharging": "STOP"})
    car.step(1.0)
    car.actuate({f"{PORT}.IsChargingCableLocked": False})
    assert not car.charging.cable_locked


def test_charge_limit_and_start_are_checked(profile: VehicleProfile) -> None:
    car = SimulatedCar(profile)
    with pytest.raises(InvalidArgument, match="at least 50 %"):
        car.actuate({f"{CHARGING}.ChargeLimit": 20})
    with pytest.raises(InvalidArgument, match="no charging cable is connected"):
        car.actuate({f"{CHARGING}.StartStopCharging": "START"})
    car.actuate({f"{CHARGING}.ChargeLimit": 85})
    assert car.charging.limit == 85
