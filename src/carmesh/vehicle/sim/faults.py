"""Injectable faults: tyre pressure loss, a weak 12 V battery, diagnostic trouble codes.

Faults reach the simulator from a scenario file or, while it runs, through the actuators of
the carmesh overlay branch ``Vehicle.Carmesh.Simulator.Fault`` (which is what
``carmesh fault inject`` sets):

- ``TyrePressureLoss`` (string[] of ``FL``, ``FR``, ``RL``, ``RR``): those tyres lose
  pressure as with a slow puncture; ``IsPressureLow`` turns on below 80 % of the nominal
  pressure (the TPMS threshold of UN R141). Removing a wheel refills its tyre.
- ``LowVoltageBattery`` (boolean): the 12 V battery sags towards 11.2 V and the code
  ``P0562`` (system voltage low) is raised below 11.8 V.
- ``DTCs`` (string[]): diagnostic trouble codes to report, such as ``P0A80``.

The resulting state appears on VSS signals: ``Vehicle.Chassis.Axle.RowN.Wheel.*.Tire.*``,
``Vehicle.LowVoltageBattery.*``, ``Vehicle.Diagnostics.DTCList`` and ``DTCCount``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from carmesh.errors import InvalidArgument
from carmesh.vehicle.sim.controls import Control

FAULT_BRANCH = "Vehicle.Carmesh.Simulator.Fault"
#: Wheel codes and their VSS axle/wheel paths.
WHEELS = {
    "FL": "Vehicle.Chassis.Axle.Row1.Wheel.Left",
    "FR": "Vehicle.Chassis.Axle.Row1.Wheel.Right",
    "RL": "Vehicle.Chassis.Axle.Row2.Wheel.Left",
    "RR": "Vehicle.Chassis.Axle.Row2.Wheel.Right",
}
NOMINAL_TYRE_KPA = 250.0
FLAT_TYRE_KPA = 60.0
#: Slow puncture: kPa lost per minute.
LEAK_KPA_PER_MIN = 12.0
LOW_PRESSURE_SHARE = 0.8
LOW_VOLTAGE_DTC = "P0562"
_DTC = re.compile(r"^[PCBU][0-3][0-9A-F]{3}$")


def check_dtc(code: str) -> str:
    """Return *code* upper-cased; InvalidArgument unless it looks like ``P0A80``."""
    upper = code.strip().upper()
    if not _DTC.match(upper):
        raise InvalidArgument(
            f"{code!r} is not a diagnostic trouble code; expected a letter P, C, B or U, a "
            "digit 0-3 and three hexadecimal digits, e.g. P0A80"
        )
    return upper


def check_wheels(wheels: Iterable[str]) -> list[str]:
    out: list[str] = []
    for wheel in wheels:
        if wheel.upper() not in WHEELS:
            raise InvalidArgument(f"unknown wheel {wheel!r}; choose one of {', '.join(WHEELS)}")
        if wheel.upper() not in out:
            out.append(wheel.upper())
    return out


class Faults:
    """Active faults and the state they change."""

    def __init__(self) -> None:
        self.pressures = dict.fromkeys(WHEELS, NOMINAL_TYRE_KPA)
        self.leaking: list[str] = []
        self.low_voltage = False
        self.lv_voltage = 12.6
        self.injected: list[str] = []

    # -- injection -------------------------------------------------------------------------

    def set_tyre_leaks(self, wheels: Iterable[str]) -> None:
        wheels = check_wheels(wheels)
        for wheel in self.leaking:
            if wheel not in wheels:
                self.pressures[wheel] = NOMINAL_TYRE_KPA
        self.leaking = wheels

    def set_low_voltage(self, on: bool) -> None:
        self.low_voltage = on

    def set_dtcs(self, codes: Iterable[str]) -> None:
        out: list[str] = []
        for code in codes:
            checked = check_dtc(code)
            if checked not in out:
                out.append(checked)
        self.injected = out

    def inject(self, kind: str, *, wheel: str | None = None, code: str | None = None) -> None:
        """Add one fault: ``tyre-pressure`` (with *wheel*), ``12v-low`` or ``dtc`` (with
        *code*)."""
        if kind == "tyre-pressure":
            self.set_tyre_leaks([*self.leaking, wheel or "FL"])
        elif kind == "12v-low":
            self.set_low_voltage(True)
        elif kind == "dtc":
            self.set_dtcs([*self.injected, code or ""])
        else:
            raise InvalidArgument(f"unknown fault {kind!r}; choose tyre-pressure, 12v-low or dtc")

    def clear(self) -> None:
        self.set_tyre_leaks([])
        self.set_low_voltage(False)
        self.set_dtcs([])

    def controls(self) -> dict[str, Control]:
        def wheels(value: Any) -> None:
            self.set_tyre_leaks(value)

        def check_tyres(value: Any) -> None:
            check_wheels(value)

        def dtcs(value: Any) -> None:
            self.set_dtcs(value)

        def check_dtcs(value: Any) -> None:
            for code in value:
                check_dtc(code)

        return {
            f"{FAULT_BRANCH}.TyrePressureLoss": Control(wheels, check_tyres),
            f"{FAULT_BRANCH}.LowVoltageBattery": Control(lambda v: self.set_low_voltage(bool(v))),
            f"{FAULT_BRANCH}.DTCs": Control(dtcs, check_dtcs),
        }

    # -- time ------------------------------------------------------------------------------

    def step(self, dt: float, *, dcdc_active: bool) -> None:
        for wheel in self.leaking:
            self.pressures[wheel] = max(
                self.pressures[wheel] - LEAK_KPA_PER_MIN * dt / 60.0, FLAT_TYRE_KPA
            )
        target = 11.2 if self.low_voltage else 14.2 if dcdc_active else 12.6
        self.lv_voltage += (target - self.lv_voltage) * min(dt / 30.0, 1.0)

    @property
    def dtcs(self) -> list[str]:
        codes = list(self.injected)
        if self.lv_voltage < 11.8 and LOW_VOLTAGE_DTC not in codes:
            codes.append(LOW_VOLTAGE_DTC)
        return codes

    def values(self, *, tyre_temperature_c: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for wheel, prefix in WHEELS.items():
            pressure = self.pressures[wheel]
            out[f"{prefix}.Tire.Pressure"] = round(pressure)
            out[f"{prefix}.Tire.IsPressureLow"] = pressure < LOW_PRESSURE_SHARE * NOMINAL_TYRE_KPA
            out[f"{prefix}.Tire.Temperature"] = round(tyre_temperature_c, 1)
        out["Vehicle.LowVoltageBattery.CurrentVoltage"] = round(self.lv_voltage, 2)
        dtcs = self.dtcs
        out["Vehicle.Diagnostics.DTCList"] = dtcs
        out["Vehicle.Diagnostics.DTCCount"] = min(len(dtcs), 255)
        out[f"{FAULT_BRANCH}.TyrePressureLoss"] = list(self.leaking)
        out[f"{FAULT_BRANCH}.LowVoltageBattery"] = self.low_voltage
        out[f"{FAULT_BRANCH}.DTCs"] = list(self.injected)
        return out
