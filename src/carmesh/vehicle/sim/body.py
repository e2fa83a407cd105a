"""Body and cabin actuators: doors, locks, windows, trunks, seats, mirrors, lights, wipers.

Moving parts (doors, windows, trunks, seats, mirrors) follow their target over seconds at
the profile's travel times and report their position as it changes. Interlocks refuse a
target with :class:`carmesh.errors.InvalidArgument` and a sentence saying why:

- a locked door or trunk does not open; an open door or trunk cannot be locked;
- no door opens while the car moves, no trunk opens above the profile's speed;
- mirrors do not fold while the car moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from carmesh.errors import InvalidArgument
from carmesh.vehicle.sim.controls import Control, Travel, set_attr, set_item
from carmesh.vehicle.sim.profile import VehicleProfile

DOORS = ("Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide")
SEATS = ("Row1.DriverSide", "Row1.PassengerSide")
MIRRORS = ("DriverSide", "PassengerSide")
TRUNKS = ("Rear", "Front")
#: Lights that simply follow their target.
LIGHTS = (
    "Beam.Low.IsOn",
    "Beam.High.IsOn",
    "Fog.Front.IsOn",
    "Fog.Rear.IsOn",
    "Parking.IsOn",
    "Running.IsOn",
    "Hazard.IsSignaling",
    "DirectionIndicator.Left.IsSignaling",
    "DirectionIndicator.Right.IsSignaling",
    "IsHighBeamSwitchOn",
    "LicensePlate.IsOn",
    "Backup.IsOn",
)
#: Wiper cycles per minute by mode.
WIPER_FREQUENCY = {"OFF": 0, "SLOW": 40, "MEDIUM": 55, "FAST": 70, "INTERVAL": 8, "RAIN_SENSOR": 0}
MIRROR_RATE = 25.0  # % per second
SWITCH_VALUES = ("INACTIVE", "CLOSE", "OPEN", "ONE_SHOT_CLOSE", "ONE_SHOT_OPEN")


class Closure:
    """A door or trunk lid: position 0 (closed) to 100 (open), and a lock."""

    def __init__(self, name: str, travel_s: float, *, locked: bool = True) -> None:
        self.name = name
        self.lid = Travel(0.0, 100.0 / travel_s)
        self.locked = locked

    @property
    def is_open(self) -> bool:
        return self.lid.position > 0.0 or self.lid.target > 0.0


def _switch(travel: Travel) -> str:
    return {1: "OPEN", -1: "CLOSE", 0: "INACTIVE"}[travel.direction]


class Body:
    """The body's moving parts and switches; ``speed_kmh`` tells interlocks how fast the
    car goes."""

    def __init__(self, profile: VehicleProfile, speed_kmh: Callable[[], float]) -> None:
        a = profile.actuators
        self.profile = profile
        self.speed_kmh = speed_kmh
        self.doors = {d: Closure(f"the door {d}", a.door_travel_s) for d in DOORS}
        self.windows = {d: Travel(0.0, 100.0 / a.window_travel_s) for d in DOORS}
        self.trunks = {t: Closure(f"the {t.lower()} trunk", a.trunk_travel_s) for t in TRUNKS}
        self.seats = {s: Travel(120.0, a.seat_speed_mm_s, 0.0, a.seat_travel_mm) for s in SEATS}
        self.mirror_pan = {m: Travel(0.0, MIRROR_RATE, -100.0, 100.0) for m in MIRRORS}
        self.mirror_tilt = {m: Travel(0.0, MIRROR_RATE, -100.0, 100.0) for m in MIRRORS}
        self.mirror_fold = {m: Travel(0.0, 100.0 / a.mirror_fold_s) for m in MIRRORS}
        self.mirror_heating = dict.fromkeys(MIRRORS, False)
        self.lights: dict[str, bool] = dict.fromkeys(LIGHTS, False)
        self.lights["Running.IsOn"] = True
        self.light_switch = "AUTO"
        self.wiper_mode = "OFF"
        self.braking = False

    # -- interlocks --------------------------------------------------------------------------

    def _check_open(self, closure: Closure, open_: bool, max_speed: float) -> None:
        if not open_:
            return
        if closure.locked:
            raise InvalidArgument(f"{closure.name} is locked; unlock it before opening it")
        speed = self.speed_kmh()
        if speed > max_speed:
            raise InvalidArgument(
                f"{closure.name} cannot open at {speed:.0f} km/h (only below {max_speed:g} km/h)"
            )

    def _check_lock(self, closure: Closure, locked: bool) -> None:
        if locked and closure.is_open:
            raise InvalidArgument(f"{closure.name} is open; close it before locking it")

    def _check_fold(self, folded: bool) -> None:
        if folded and self.speed_kmh() > 0.5:
            raise InvalidArgument("the mirrors cannot fold while the car is moving")

    # -- the actuators this part serves ------------------------------------------------------

    def controls(self) -> dict[str, Control]:
        a = self.profile.actuators
        out: dict[str, Control] = {}

        def closure_controls(prefix: str, closure: Closure, max_speed: float) -> None:
            def open_to(position: float) -> None:
                self._check_open(closure, position > 0, max_speed)

            def switch_check(value: str) -> None:
                self._check_open(closure, value in ("OPEN", "ONE_SHOT_OPEN"), max_speed)

            out[f"{prefix}.IsOpen"] = Control(
                lambda v: closure.lid.move_to(100.0 if v else 0.0),
                lambda v: self._check_open(closure, bool(v), max_speed),
            )
            out[f"{prefix}.Position"] = Control(lambda v: closure.lid.move_to(v), open_to)
            out[f"{prefix}.Switch"] = Control(lambda v: _apply_switch(closure.lid, v), switch_check)
            out[f"{prefix}.IsLocked"] = Control(
                lambda v: setattr(closure, "locked", bool(v)),
                lambda v: self._check_lock(closure, bool(v)),
            )

        for name, door in self.doors.items():
            closure_controls(f"Vehicle.Cabin.Door.{name}", door, a.door_max_speed_kmh)
            window = self.windows[name]
            prefix = f"Vehicle.Cabin.Door.{name}.Window"
            out[f"{prefix}.IsOpen"] = Control(_bind(window.move_to, 100.0, 0.0))
            out[f"{prefix}.Position"] = Control(window.move_to)
            out[f"{prefix}.Switch"] = Control(_switcher(window))
        for name, trunk in self.trunks.items():
            closure_controls(f"Vehicle.Body.Trunk.{name}", trunk, a.trunk_max_speed_kmh)
        for name, seat in self.seats.items():
            out[f"Vehicle.Cabin.Seat.{name}.Position"] = Control(seat.move_to)
        for name in MIRRORS:
            prefix = f"Vehicle.Body.Mirrors.{name}"
            out[f"{prefix}.Pan"] = Control(self.mirror_pan[name].move_to)
            out[f"{prefix}.Tilt"] = Control(self.mirror_tilt[name].move_to)
            out[f"{prefix}.IsFolded"] = Control(
                _bind(self.mirror_fold[name].move_to, 100.0, 0.0),
                lambda v: self._check_fold(bool(v)),
            )
            out[f"{prefix}.IsHeatingOn"] = Control(set_item(self.mirror_heating, name, bool))
        for light in LIGHTS:
            out[f"Vehicle.Body.Lights.{light}"] = Control(set_item(self.lights, light, bool))
        out["Vehicle.Body.Lights.LightSwitch"] = Control(self._set_light_switch)
        out["Vehicle.Body.Windshield.Front.Wiping.Mode"] = Control(
            set_attr(self, "wiper_mode", str)
        )
        return out

    def _set_light_switch(self, value: Any) -> None:
        self.light_switch = str(value)
        self.lights["Beam.Low.IsOn"] = self.light_switch in ("BEAM", "AUTO")
        self.lights["Parking.IsOn"] = self.light_switch != "OFF"
        self.lights["Running.IsOn"] = self.light_switch in ("DAYTIME_RUNNING_LIGHTS", "AUTO")

    # -- time -------------------------------------------------------------------------------

    def step(self, dt: float) -> None:
        for closure in (*self.doors.values(), *self.trunks.values()):
            closure.lid.step(dt)
        for group in (
            self.windows,
            self.seats,
            self.mirror_pan,
            self.mirror_tilt,
            self.mirror_fold,
        ):
            for travel in group.values():
                travel.step(dt)

    def values(self) -> dict[str, Any]:
        """Current values of every body signal (VSS paths)."""
        out: dict[str, Any] = {}
        for prefix, closure in (
            *((f"Vehicle.Cabin.Door.{n}", d) for n, d in self.doors.items()),
            *((f"Vehicle.Body.Trunk.{n}", t) for n, t in self.trunks.items()),
        ):
            out[f"{prefix}.Position"] = round(closure.lid.position)
            out[f"{prefix}.IsOpen"] = closure.lid.position > 0.0
            out[f"{prefix}.IsLocked"] = closure.locked
            out[f"{prefix}.Switch"] = _switch(closure.lid)
        for name, window in self.windows.items():
            prefix = f"Vehicle.Cabin.Door.{name}.Window"
            out[f"{prefix}.Position"] = round(window.position)
            out[f"{prefix}.IsOpen"] = window.position > 0.0
            out[f"{prefix}.Switch"] = _switch(window)
        for name in DOORS:
            out[f"Vehicle.Cabin.Door.{name}.IsChildLockActive"] = name.startswith("Row2")
        for name, seat in self.seats.items():
            out[f"Vehicle.Cabin.Seat.{name}.Position"] = round(seat.position)
        for name in MIRRORS:
            prefix = f"Vehicle.Body.Mirrors.{name}"
            out[f"{prefix}.Pan"] = round(self.mirror_pan[name].position)
            out[f"{prefix}.Tilt"] = round(self.mirror_tilt[name].position)
            out[f"{prefix}.IsFolded"] = self.mirror_fold[name].position >= 100.0
            out[f"{prefix}.IsHeatingOn"] = self.mirror_heating[name]
        for light, on in self.lights.items():
            out[f"Vehicle.Body.Lights.{light}"] = on
        out["Vehicle.Body.Lights.LightSwitch"] = self.light_switch
        out["Vehicle.Body.Lights.Brake.IsActive"] = "ACTIVE" if self.braking else "INACTIVE"
        wiping = "Vehicle.Body.Windshield.Front.Wiping"
        out[f"{wiping}.Mode"] = self.wiper_mode
        out[f"{wiping}.System.Frequency"] = WIPER_FREQUENCY[self.wiper_mode]
        out[f"{wiping}.System.IsWiping"] = WIPER_FREQUENCY[self.wiper_mode] > 0
        return out


def _bind(move_to: Callable[[float], None], on: float, off: float) -> Callable[[Any], None]:
    return lambda v: move_to(on if v else off)


def _switcher(travel: Travel) -> Callable[[Any], None]:
    return lambda value: _apply_switch(travel, value)


def _apply_switch(travel: Travel, value: Any) -> None:
    if value in ("OPEN", "ONE_SHOT_OPEN"):
        travel.move_to(travel.high)
    elif value in ("CLOSE", "ONE_SHOT_CLOSE"):
        travel.move_to(travel.low)
    else:
        travel.stop()
