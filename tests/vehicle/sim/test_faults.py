"""Faults: tyre pressure loss, a weak 12 V battery and DTCs, from code and as actuations."""

from __future__ import annotations

import pytest

from carmesh.errors import InvalidArgument
from carmesh.vehicle.sim import SimulatedCar
from carmesh.vehicle.sim.faults import FAULT_BRANCH, LOW_VOLTAGE_DTC, Faults, check_dtc
from carmesh.vehicle.sim.signals import slow_values

FL = "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire"


def minutes(car: SimulatedCar, n: float) -> None:
    for _ in range(int(n * 60)):
        car.step(1.0)


def test_a_slow_puncture_raises_the_low_pressure_warning(car: SimulatedCar) -> None:
    assert slow_values(car)[f"{FL}.IsPressureLow"] is False
    car.actuate({f"{FAULT_BRANCH}.TyrePressureLoss": ["FL"]})
    minutes(car, 2)
    values = slow_values(car)
    assert values[f"{FL}.Pressure"] == 226
    assert values[f"{FL}.IsPressureLow"] is False
    minutes(car, 3)
    values = slow_values(car)
    assert values[f"{FL}.IsPressureLow"] is True
    assert values["Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.IsPressureLow"] is False
    assert values[f"{FAULT_BRANCH}.TyrePressureLoss"] == ["FL"]
    car.actuate({f"{FAULT_BRANCH}.TyrePressureLoss": []})
    assert slow_values(car)[f"{FL}.Pressure"] == 250


def test_a_weak_12v_battery_sags_and_raises_p0562(car: SimulatedCar) -> None:
    minutes(car, 2)
    assert slow_values(car)["Vehicle.LowVoltageBattery.CurrentVoltage"] == pytest.approx(14.2, 0.01)
    car.actuate({f"{FAULT_BRANCH}.LowVoltageBattery": True})
    minutes(car, 3)
    values = slow_values(car)
    assert values["Vehicle.LowVoltageBattery.CurrentVoltage"] < 11.8
    assert LOW_VOLTAGE_DTC in values["Vehicle.Diagnostics.DTCList"]
    assert values["Vehicle.Diagnostics.DTCCount"] == 1


def test_dtcs_are_reported_and_checked(car: SimulatedCar) -> None:
    car.actuate({f"{FAULT_BRANCH}.DTCs": ["p0a80", "U0100", "P0A80"]})
    values = slow_values(car)
    assert values["Vehicle.Diagnostics.DTCList"] == ["P0A80", "U0100"]
    assert values["Vehicle.Diagnostics.DTCCount"] == 2
    with pytest.raises(InvalidArgument, match="not a diagnostic trouble code"):
        car.actuate({f"{FAULT_BRANCH}.DTCs": ["P0A80", "oops"]})
    assert slow_values(car)["Vehicle.Diagnostics.DTCList"] == ["P0A80", "U0100"]


@pytest.mark.parametrize("code", ["P0A80", "C1234", "B0001", "U3FFF"])
def test_valid_codes(code: str) -> None:
    assert check_dtc(code.lower()) == code


@pytest.mark.parametrize("code", ["", "P", "X0A80", "P4A80", "P0A8", "P0A8G"])
def test_invalid_codes(code: str) -> None:
    with pytest.raises(InvalidArgument):
        check_dtc(code)


def test_inject_by_name_and_clear() -> None:
    faults = Faults()
    faults.inject("tyre-pressure", wheel="rr")
    faults.inject("12v-low")
    faults.inject("dtc", code="P0A80")
    assert faults.leaking == ["RR"] and faults.low_voltage and faults.injected == ["P0A80"]
    with pytest.raises(InvalidArgument, match="unknown wheel"):
        faults.inject("tyre-pressure", wheel="middle")
    with pytest.raises(InvalidArgument, match="unknown fault"):
        faults.inject("flux-capacitor")
    faults.clear()
    assert not faults.leaking and not faults.low_voltage and not faults.injected
