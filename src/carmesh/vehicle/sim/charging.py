"""Charging: the charge port, AC and DC sessions following the profile's charging curve.

A session starts when a cable is connected, the charge port flap is open, the car is parked
and charging is requested (``StartStopCharging`` = ``START``, the default). The power drawn
from the charger is the least of the charger's own limit and the car's: the DC curve at the
current state of charge, or the on-board charger's AC power (tapering over the last few
percent). Charging ends at the charge limit. The cable is locked while charging; unlocking
it then, or closing the flap over a connected cable, is refused (an interlock).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from carmesh.errors import InvalidArgument
from carmesh.vehicle.sim.battery import TractionBattery
from carmesh.vehicle.sim.profile import VehicleProfile

AC_PHASE_VOLTAGE = 230.0
#: Lowest charge limit the car accepts, as most cars do.
MIN_CHARGE_LIMIT = 50


class ChargerKind(StrEnum):
    AC = "ac"
    DC = "dc"


@dataclass(frozen=True)
class Charger:
    """A charging station: AC or DC, its maximum power and its identity."""

    kind: ChargerKind
    max_power_kw: float
    evse_id: str = ""


class Charging:
    """The charge port and the charging session of one car."""

    def __init__(self, profile: VehicleProfile, battery: TractionBattery) -> None:
        self.profile = profile
        self.battery = battery
        self.limit = 90
        self.requested = True
        self.flap_open = False
        self.cable_locked = False
        self.charger: Charger | None = None
        self.is_charging = False
        #: Power drawn from the charger, W.
        self.charger_power_w = 0.0
        #: Power lost between the charger and the battery terminals, W.
        self.loss_w = 0.0

    # -- the physical world ----------------------------------------------------------------

    @property
    def cable_connected(self) -> bool:
        return self.charger is not None

    def plug(self, charger: Charger) -> None:
        """Open the flap and connect the cable of *charger*."""
        self.flap_open = True
        self.charger = charger

    def unplug(self) -> None:
        """Stop, unlock and disconnect the cable, and close the flap."""
        self._stop()
        self.cable_locked = False
        self.charger = None
        self.flap_open = False

    # -- actuations (checked first, then applied) ------------------------------------------

    def check_flap(self, open_: bool, speed_kmh: float) -> None:
        if not open_ and self.cable_connected:
            raise InvalidArgument("the charge port flap cannot close while a cable is connected")
        if open_ and speed_kmh > 0.5:
            raise InvalidArgument("the charge port flap cannot open while the car is moving")

    def check_cable_lock(self, locked: bool) -> None:
        if not locked and self.is_charging:
            raise InvalidArgument(
                "the charging cable is locked while charging; stop charging first "
                "(Vehicle.Powertrain.TractionBattery.Charging.StartStopCharging = STOP)"
            )

    def check_start_stop(self, command: str) -> None:
        if command == "START" and not self.cable_connected:
            raise InvalidArgument("cannot start charging: no charging cable is connected")

    def check_limit(self, limit: int) -> None:
        if limit < MIN_CHARGE_LIMIT:
            raise InvalidArgument(
                f"the charge limit must be at least {MIN_CHARGE_LIMIT} %, got {limit} %"
            )

    # -- the session -----------------------------------------------------------------------

    def car_limit_w(self, soc: float) -> float:
        """Power in W the car accepts from the charger at *soc* (0 without a charger)."""
        if self.charger is None:
            return 0.0
        c = self.profile.charging
        if self.charger.kind is ChargerKind.DC:
            car = c.dc_curve(soc) * 1000.0
        else:
            car = c.ac_power_kw * 1000.0 * min(max((100.0 - soc) / 3.0, 0.15), 1.0)
        return min(car, self.charger.max_power_kw * 1000.0)

    def efficiency(self) -> float:
        c = self.profile.charging
        if self.charger is not None and self.charger.kind is ChargerKind.AC:
            return c.ac_efficiency
        return c.dc_efficiency

    def step(self, parked: bool) -> float:
        """Decide this step's charging; returns the power in W delivered to the terminals."""
        soc = self.battery.soc
        if not (
            self.charger is not None
            and self.flap_open
            and self.requested
            and parked
            and soc < self.limit
        ):
            self._stop()
            return 0.0
        self.is_charging = True
        self.cable_locked = True
        self.charger_power_w = self.car_limit_w(soc)
        delivered = self.charger_power_w * self.efficiency()
        self.loss_w = self.charger_power_w - delivered
        return delivered

    def _stop(self) -> None:
        self.is_charging = False
        self.charger_power_w = 0.0
        self.loss_w = 0.0

    def time_to(self, target_soc: float, *, auxiliary_w: float = 0.0) -> float:
        """Seconds from the present state of charge to *target_soc* at the present charger
        (0 when already there, or without a charger)."""
        soc = self.battery.soc
        if self.charger is None or soc >= target_soc:
            return 0.0
        step = 0.5
        per_percent_j = self.battery.capacity_kwh * 3.6e6 / 100.0
        r = self.profile.battery.internal_resistance_ohm
        seconds = 0.0
        while soc < target_soc:
            width = min(step, target_soc - soc)
            delivered = self.car_limit_w(soc + width / 2) * self.efficiency() - auxiliary_w
            if delivered <= 0.0:
                return 0.0
            voltage = self.profile.battery.cells_in_series * self.profile.battery.cell_ocv(soc)
            current = delivered / voltage
            stored = delivered - current * current * r
            seconds += per_percent_j * width / stored
            soc += width
        return seconds
