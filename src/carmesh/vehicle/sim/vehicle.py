"""The simulated car: every part joined into one model that advances in steps of time.

:class:`SimulatedCar` owns the longitudinal dynamics, the traction battery, charging, the
cabin climate, the body and the faults, and knows where it is on its route. ``step(dt,
target_speed)`` advances it; it never sleeps and never looks at the wall clock, so tests
drive it through hours of simulated time in seconds. :meth:`actuate` applies actuator
targets after checking all of them (interlocks refuse with a carmesh error and change
nothing).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from carmesh.errors import InvalidArgument, NotFound
from carmesh.vehicle.sim.battery import RangeEstimator, TractionBattery
from carmesh.vehicle.sim.body import SEATS, Body
from carmesh.vehicle.sim.charging import Charging
from carmesh.vehicle.sim.controls import Control, set_attr, set_item
from carmesh.vehicle.sim.dynamics import DriveStep, Longitudinal
from carmesh.vehicle.sim.faults import Faults
from carmesh.vehicle.sim.profile import VehicleProfile
from carmesh.vehicle.sim.route import Position, Route
from carmesh.vehicle.sim.thermal import CabinClimate

#: GNSS noise, metres (one standard deviation, horizontal).
GNSS_SIGMA_M = 1.2
_IDLE = DriveStep(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, False)
HVAC = "Vehicle.Cabin.HVAC"
CHARGING = "Vehicle.Powertrain.TractionBattery.Charging"
#: Charge port paths: the physical one (rear left on this car) and VSS's "any position".
CHARGE_PORTS = (f"{CHARGING}.ChargingPort.RearLeft", f"{CHARGING}.ChargingPort.AnyPosition")


class Gear(IntEnum):
    """VSS ``SelectedGear`` values the simulator uses."""

    NEUTRAL = 0
    REVERSE = -1
    PARK = 126
    DRIVE = 127


class SimulatedCar:
    """One car and its surroundings (outside temperature, route), advanced by :meth:`step`.

    *seed* makes everything random (sensor noise, weather drift) repeatable.
    """

    def __init__(
        self,
        profile: VehicleProfile,
        *,
        seed: int = 0,
        soc: float = 80.0,
        outside_c: float = 12.0,
        route: Route | None = None,
        odometer_km: float = 12_000.0,
    ) -> None:
        self.profile = profile
        self.seed = seed
        self.rng = random.Random(seed)
        self.time = 0.0
        self.base_outside_c = outside_c
        self.outside_c = outside_c
        self.dynamics = Longitudinal(profile)
        self.battery = TractionBattery(profile, soc=soc, temperature_c=outside_c + 3.0)
        self.charging = Charging(profile, self.battery)
        self.cabin = CabinClimate(profile, temperature_c=outside_c)
        self.body = Body(profile, lambda: self.speed_kmh)
        self.faults = Faults()
        self.range = RangeEstimator(profile)
        self.route = route
        self.route_distance = 0.0
        self.odometer_m = odometer_km * 1000.0
        self.trip_m = 0.0
        self.trip_s = 0.0
        self.distance_since_start_m = 0.0
        self.gear = Gear.PARK
        self.powered = True
        self.last = _IDLE
        self.auxiliary_w = 0.0
        self.motor_temperature_c = outside_c + 5.0
        self.weather_phase = self.rng.uniform(0.0, 2 * math.pi)
        #: GNSS error (north m, east m, up m), drawn afresh every simulated second.
        self.gnss_error = (0.0, 0.0, 0.0)
        self._controls = self._build_controls()

    # -- state ------------------------------------------------------------------------------

    @property
    def speed(self) -> float:
        """m/s"""
        return self.dynamics.speed

    @property
    def speed_kmh(self) -> float:
        return self.dynamics.speed * 3.6

    @property
    def parked(self) -> bool:
        return self.gear is Gear.PARK and self.speed == 0.0

    def position(self) -> Position | None:
        return self.route.locate(self.route_distance) if self.route is not None else None

    def shift(self, gear: Gear) -> None:
        """Select a gear as the driver would; refused while moving or plugged in."""
        if gear is self.gear:
            return
        if self.speed > 0.1:
            raise InvalidArgument("the gear can only change while the car stands still")
        if gear is not Gear.PARK and self.charging.cable_connected:
            raise InvalidArgument("unplug the charging cable before driving off")
        self.gear = gear

    # -- time -------------------------------------------------------------------------------

    def step(self, dt: float, target_speed: float = 0.0) -> DriveStep:
        """Advance *dt* seconds, the driver aiming for *target_speed* (m/s)."""
        second = math.floor(self.time + 1e-9)
        self.time += dt
        if math.floor(self.time + 1e-9) != second:
            rng = self.rng
            self.gnss_error = (
                rng.gauss(0.0, GNSS_SIGMA_M),
                rng.gauss(0.0, GNSS_SIGMA_M),
                rng.gauss(0.0, 2.0),
            )
        self.outside_c = self.base_outside_c + 2.0 * math.sin(
            2 * math.pi * self.time / 86_400 + self.weather_phase
        )
        position = self.position()
        grade = position.grade if position is not None else 0.0
        climate_w = self.cabin.step(dt, self.outside_c) if self.powered else 0.0
        self.auxiliary_w = (
            (self.profile.powertrain.auxiliary_power_w if self.powered else 20.0)
            + climate_w
            + self.battery.thermal_management_w
        )
        if self.gear is Gear.DRIVE:
            available = self.battery.max_discharge_power() - self.auxiliary_w
            drive = self.dynamics.step(
                target_speed,
                dt,
                grade=grade,
                temperature_c=self.outside_c,
                available_power_w=available,
            )
        else:
            drive = _IDLE
        self.last = drive
        charge_w = self.charging.step(self.parked)
        self.battery.step(drive.drive_power + self.auxiliary_w - charge_w, dt, self.outside_c)
        if drive.distance > 0.0:
            self.odometer_m += drive.distance
            self.trip_m += drive.distance
            self.distance_since_start_m += drive.distance
            self.route_distance += drive.distance
            self.trip_s += dt
        if not self.charging.is_charging:
            energy_wh = (drive.drive_power + self.auxiliary_w) * dt / 3600.0
            self.range.record(energy_wh, drive.distance / 1000.0)
        self.body.braking = drive.braking and drive.speed > 0.0
        self.body.step(dt)
        self.faults.step(dt, dcdc_active=self.powered)
        heat = abs(drive.drive_power - drive.wheel_power) * 0.5
        self.motor_temperature_c += (
            (heat - 60.0 * (self.motor_temperature_c - self.outside_c)) * dt / 40_000.0
        )
        return drive

    # -- actuation --------------------------------------------------------------------------

    @property
    def actuators(self) -> list[str]:
        """Every actuator path the car carries out."""
        return list(self._controls)

    def actuate(self, targets: Mapping[str, Any]) -> None:
        """Check every target, then apply them all; raises InvalidArgument (an interlock)
        or NotFound (an actuator this car does not serve) and then changes nothing."""
        controls = []
        for path, value in targets.items():
            control = self._controls.get(path)
            if control is None:
                raise NotFound(f"the simulated car does not serve the actuator {path}", path=path)
            try:
                control.check(value)
            except InvalidArgument as exc:
                raise InvalidArgument(f"{path}: {exc.message}", path=path) from None
            controls.append((control, value))
        for control, value in controls:
            control.apply(value)

    def _build_controls(self) -> dict[str, Control]:
        out = self.body.controls()
        out.update(self._climate_controls())
        out.update(self._charging_controls())
        out.update(self.faults.controls())
        out["Vehicle.TripMeterReading"] = Control(self._reset_trip, _check_trip_reset)
        return out

    def _reset_trip(self, value: Any) -> None:
        self.trip_m = 0.0
        self.trip_s = 0.0

    def _climate_controls(self) -> dict[str, Control]:
        cabin = self.cabin
        out: dict[str, Control] = {}
        for seat, station in (("Driver", "Driver"), ("Passenger", "Passenger")):
            prefix = f"{HVAC}.Station.Row1.{station}"
            out[f"{prefix}.Temperature"] = Control(
                set_item(cabin.setpoints, seat, float), _check_setpoint
            )
            out[f"{prefix}.FanSpeed"] = Control(set_item(cabin.fan_speeds, seat, int))
            out[f"{prefix}.AirDistribution"] = Control(set_item(cabin.air_distribution, seat, str))
        for name, attribute in (
            ("IsAirConditioningActive", "ac_active"),
            ("IsRecirculationActive", "recirculation"),
            ("IsFrontDefrosterActive", "front_defroster"),
            ("IsRearDefrosterActive", "rear_defroster"),
        ):
            out[f"{HVAC}.{name}"] = Control(set_attr(cabin, attribute, bool))
        for seat in SEATS:
            out[f"Vehicle.Cabin.Seat.{seat}.HeatingCooling"] = Control(
                set_item(cabin.seat_levels, seat, int)
            )
        return out

    def _charging_controls(self) -> dict[str, Control]:
        charging = self.charging
        out: dict[str, Control] = {}
        for port in CHARGE_PORTS:
            out[f"{port}.IsFlapOpen"] = Control(
                lambda v: setattr(charging, "flap_open", bool(v)),
                lambda v: charging.check_flap(bool(v), self.speed_kmh),
            )
            out[f"{port}.IsChargingCableLocked"] = Control(
                lambda v: setattr(charging, "cable_locked", bool(v)),
                lambda v: charging.check_cable_lock(bool(v)),
            )
        out[f"{CHARGING}.StartStopCharging"] = Control(
            lambda v: setattr(charging, "requested", v == "START"),
            lambda v: charging.check_start_stop(str(v)),
        )
        out[f"{CHARGING}.ChargeLimit"] = Control(
            lambda v: setattr(charging, "limit", int(v)), lambda v: charging.check_limit(int(v))
        )
        return out


def _check_setpoint(value: Any) -> None:
    if not 15.0 <= float(value) <= 29.0:
        raise InvalidArgument(f"the temperature set point must be 15–29 °C, got {value}")


def _check_trip_reset(value: Any) -> None:
    if value != 0:
        raise InvalidArgument("the trip meter can only be reset to 0")
