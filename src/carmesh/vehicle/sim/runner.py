"""The scenario runner: the simulated driver, carrying out a scenario's steps one by one.

Each step becomes an activity that tells the car what to do for as long as it lasts: follow
a speed trace, drive a route, charge, stand parked; faults and actuator targets take effect
at once. After the last step the car parks, or the scenario starts again (``loop``).
"""

from __future__ import annotations

import logging
from typing import Protocol

from carmesh.errors import CarmeshError
from carmesh.vehicle.sim.charging import Charger
from carmesh.vehicle.sim.cycle import SpeedTrace, constant_speed, wltc_class3b
from carmesh.vehicle.sim.profile import VehicleProfile
from carmesh.vehicle.sim.route import RouteDriver
from carmesh.vehicle.sim.scenario import (
    Charge,
    Drive,
    Fault,
    Park,
    Scenario,
    SetTargets,
    Step,
)
from carmesh.vehicle.sim.vehicle import Gear, SimulatedCar

log = logging.getLogger(__name__)


class Activity(Protocol):
    label: str

    def begin(self, car: SimulatedCar) -> None: ...

    def advance(self, car: SimulatedCar, dt: float) -> bool:
        """Step the car by *dt*; return True when the activity is over."""


class FollowTrace:
    """Drive a speed trace *repeat* times (0: for ever) and stop."""

    def __init__(self, trace: SpeedTrace, repeat: int) -> None:
        self.trace = trace
        self.repeat = repeat
        self.label = f"driving the {trace.name}" + (f" ×{repeat}" if repeat > 1 else "")
        self.t = 0.0

    def begin(self, car: SimulatedCar) -> None:
        if car.charging.cable_connected:
            car.charging.unplug()
        car.powered = True
        car.shift(Gear.DRIVE)

    def advance(self, car: SimulatedCar, dt: float) -> bool:
        self.t += dt
        total = self.trace.duration * self.repeat
        if self.repeat and self.t >= total:
            car.step(dt, 0.0)
            if car.speed == 0.0:
                car.shift(Gear.PARK)
                return True
            return False
        target = self.trace.speed_at(self.t % self.trace.duration) / 3.6
        car.step(dt, target)
        return False


class FollowRoute:
    """Drive the car's route from its start, keeping to the limits."""

    label = "driving the route"

    def begin(self, car: SimulatedCar) -> None:
        if car.charging.cable_connected:
            car.charging.unplug()
        car.powered = True
        car.route_distance = 0.0
        car.shift(Gear.DRIVE)

    def advance(self, car: SimulatedCar, dt: float) -> bool:
        assert car.route is not None
        driver = RouteDriver(car.route)
        if driver.finished(car.route_distance, car.speed) or car.battery.is_empty:
            car.step(dt, 0.0)
            if car.speed == 0.0:
                car.shift(Gear.PARK)
                return True
            return False
        car.step(dt, driver.target_speed(car.route_distance, car.speed, dt))
        return False


class ChargeSession:
    """Plug into a charger and charge until the target state of charge (or the limit)."""

    def __init__(self, step: Charge) -> None:
        self.step = step
        self.label = f"{step.kind.value.upper()} charging to {step.until:g} %"

    def begin(self, car: SimulatedCar) -> None:
        car.powered = True
        car.shift(Gear.PARK)
        car.charging.limit = max(car.charging.limit, round(self.step.until))
        car.charging.requested = True
        car.charging.plug(Charger(self.step.kind, self.step.power, "SE*CMS*E0001"))

    def advance(self, car: SimulatedCar, dt: float) -> bool:
        car.step(dt)
        full = car.battery.soc >= min(self.step.until, car.charging.limit) - 1e-6
        if full or (not car.charging.is_charging and not car.charging.requested):
            car.charging.unplug()
            return True
        return False


class Parked:
    """Stand switched off for a while."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.label = f"parked for {duration:g} s"
        self.t = 0.0

    def begin(self, car: SimulatedCar) -> None:
        car.shift(Gear.PARK)
        car.powered = False

    def advance(self, car: SimulatedCar, dt: float) -> bool:
        self.t += dt
        car.step(dt)
        if self.t >= self.duration:
            car.powered = True
            return True
        return False


class Instant:
    """A fault or actuator targets, applied at once."""

    def __init__(self, step: Fault | SetTargets) -> None:
        self.step = step
        self.label = "injecting a fault" if isinstance(step, Fault) else "setting targets"

    def begin(self, car: SimulatedCar) -> None:
        step = self.step
        try:
            if isinstance(step, Fault):
                car.faults.inject(step.kind, wheel=step.wheel, code=step.code)
            else:
                car.actuate(step.targets)
        except CarmeshError as exc:
            log.warning("scenario step refused: %s", exc)

    def advance(self, car: SimulatedCar, dt: float) -> bool:
        return True


def activity_for(step: Step) -> Activity:
    if isinstance(step, Drive):
        if step.cycle == "wltc":
            return FollowTrace(wltc_class3b(), step.repeat)
        if step.cycle == "constant":
            return FollowTrace(constant_speed(step.speed, step.duration), step.repeat)
        return FollowRoute()
    if isinstance(step, Charge):
        return ChargeSession(step)
    if isinstance(step, Park):
        return Parked(step.duration)
    return Instant(step)


class ScenarioRunner:
    """Runs *scenario* on a car made from *profile* and the scenario's start state."""

    def __init__(self, scenario: Scenario, profile: VehicleProfile, *, seed: int = 0) -> None:
        start = scenario.start
        self.scenario = scenario
        self.car = SimulatedCar(
            profile,
            seed=seed,
            soc=start.soc,
            outside_c=start.outside_temperature,
            route=scenario.route,
            odometer_km=start.odometer,
        )
        self.index = -1
        self.activity: Activity | None = None
        self.finished = False
        self._next()

    @property
    def label(self) -> str:
        return self.activity.label if self.activity is not None else "parked (scenario done)"

    def _next(self) -> None:
        steps = self.scenario.steps
        self.index += 1
        if self.index >= len(steps):
            if not self.scenario.loop:
                self.activity = None
                self.finished = True
                return
            self.index = 0
        self.activity = activity_for(steps[self.index])
        try:
            self.activity.begin(self.car)
        except CarmeshError as exc:
            log.warning("scenario step %d cannot start: %s", self.index + 1, exc)

    def step(self, dt: float) -> None:
        """Advance the scenario and the car by *dt* simulated seconds."""
        if self.activity is None:
            self.car.step(dt)
            return
        for _ in range(len(self.scenario.steps) + 1):
            if not self.activity.advance(self.car, dt):
                return
            self._next()
            if self.activity is None or not isinstance(self.activity, Instant):
                return

    def run_for(self, seconds: float, dt: float = 0.1) -> None:
        """Advance *seconds* of simulated time (tests, fast-forward)."""
        for _ in range(round(seconds / dt)):
            self.step(dt)
