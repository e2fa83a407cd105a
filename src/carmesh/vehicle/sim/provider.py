"""The simulated EV as a vehicle provider: the model, its clock and its signals on a link.

:class:`SimulatedVehicle` connects through any :class:`~carmesh.vehicle.provider.Connector`
(in-process by default), claims the signals it publishes and the actuators it serves,
then runs the scenario against a :class:`~carmesh.vehicle.sim.clock.SimClock` and publishes
in batches: fast signals every tick (10 Hz of real time), slow ones once a simulated second,
actuator states when they change, attributes once. Actuation requests are checked against
the car's interlocks and refused with the reason, or accepted at once; the moving part then
reports its position as it travels.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from carmesh.errors import InvalidValue, NotFound
from carmesh.vehicle.provider import Connector, ProviderLink, VehicleProvider
from carmesh.vehicle.sim.clock import DEFAULT_STEP, DEFAULT_TICK, SimClock
from carmesh.vehicle.sim.profile import VehicleProfile, load_profile
from carmesh.vehicle.sim.runner import ScenarioRunner
from carmesh.vehicle.sim.scenario import Scenario, default_scenario, load_scenario
from carmesh.vehicle.sim.signals import attribute_values, fast_values, slow_values, state_values
from carmesh.vehicle.sim.vehicle import SimulatedCar
from carmesh.vss import Catalog

log = logging.getLogger(__name__)

SIMULATOR = "Vehicle.Carmesh.Simulator"
#: Simulated seconds between two publications of the slow signals.
SLOW_PERIOD = 1.0


class SimulatedVehicle(VehicleProvider):
    """A simulated EV following a scenario (the default: WLTC loops around Gothenburg).

    *time_scale* is simulated seconds per real second; *seed* makes a run repeatable (a
    random one is drawn when None and shown in :attr:`description`); *catalog*, when given,
    limits the signals to those it has (e.g. VSS 4.0 lacks some).
    """

    name = "sim"

    def __init__(
        self,
        *,
        profile: VehicleProfile | None = None,
        scenario: Scenario | Path | None = None,
        time_scale: float = 1.0,
        seed: int | None = None,
        catalog: Catalog | None = None,
        step: float = DEFAULT_STEP,
        tick: float = DEFAULT_TICK,
    ) -> None:
        self.profile = profile or load_profile()
        if isinstance(scenario, Path):
            scenario = load_scenario(scenario)
        self.scenario = scenario or default_scenario()
        self.seed = secrets.randbelow(1_000_000) if seed is None else seed
        self.clock = SimClock(time_scale, step=step, tick=tick)
        self.runner = ScenarioRunner(self.scenario, self.profile, seed=self.seed)
        self.catalog = catalog
        self._known: set[str] | None = None
        self._published: dict[str, Any] = {}
        self._last_slow = -SLOW_PERIOD

    @property
    def car(self) -> SimulatedCar:
        return self.runner.car

    @property
    def description(self) -> str:
        scale = self.clock.time_scale
        pace = "real time" if scale == 1 else f"{scale:g}× real time"
        return f"sim: {self.profile.title}, {self.scenario.name}, {pace}, seed {self.seed}"

    # -- the provider interface --------------------------------------------------------------

    async def run(self, connector: Connector) -> None:
        link = await connector.connect("vehicle-sim", self)
        try:
            await self._claim(link)
            await self._publish(link, {**attribute_values(self.car), **self._all_values()})
            async for steps in self.clock.ticks():
                for _ in range(steps):
                    self.runner.step(self.clock.step)
                await self._publish_tick(link)
        finally:
            await link.close()

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        """Accept or refuse (InvalidArgument naming the interlock) a batch of targets."""
        self.car.actuate(targets)

    # -- signals ---------------------------------------------------------------------------

    def _all_values(self) -> dict[str, Any]:
        return {
            **fast_values(self.car),
            **slow_values(self.car),
            **state_values(self.car),
            f"{SIMULATOR}.TimeScale": self.clock.time_scale,
            f"{SIMULATOR}.Activity": self.runner.label,
        }

    def _filter(self, paths: list[str]) -> list[str]:
        if self.catalog is None:
            return paths
        return [p for p in paths if p in self.catalog and self.catalog[p].is_leaf]

    async def _claim(self, link: ProviderLink) -> None:
        actuators = self._filter(self.car.actuators)
        everything = {**attribute_values(self.car), **self._all_values()}
        values_only = [p for p in self._filter(list(everything)) if p not in set(actuators)]
        self._known = set(actuators) | set(values_only)
        missing = sorted((set(everything) | set(self.car.actuators)) - self._known)
        if missing and self.catalog is not None:
            shown = ", ".join(missing[:3]) + (
                f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            )
            log.info(
                "%s lacks %d of the simulator's signals; leaving them out: %s",
                self.catalog.name,
                len(missing),
                shown,
            )
        if actuators:
            await link.claim(actuators)
        await link.claim_values(values_only)

    async def _publish_tick(self, link: ProviderLink) -> None:
        batch = fast_values(self.car)
        if self.car.time - self._last_slow >= SLOW_PERIOD - 1e-9:
            self._last_slow = self.car.time
            batch.update(slow_values(self.car))
            batch[f"{SIMULATOR}.Activity"] = self.runner.label
        for path, value in state_values(self.car).items():
            if self._published.get(path) != value:
                batch[path] = value
        await self._publish(link, batch)

    async def _publish(self, link: ProviderLink, values: dict[str, Any]) -> None:
        known = self._known
        batch = {p: v for p, v in values.items() if known is None or p in known}
        while batch:
            try:
                await link.publish(batch)
            except (InvalidValue, NotFound) as exc:
                if exc.path is None or exc.path not in batch:
                    raise
                log.warning("not publishing %s: %s", exc.path, exc)
                batch.pop(exc.path)
                if self._known is not None:
                    self._known.discard(exc.path)
                continue
            self._published.update(batch)
            return
