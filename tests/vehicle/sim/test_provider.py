"""The simulator as a provider of a real broker, in-process: claims, publishing, actuation
through the broker, other catalogs, and a quick stop. Real time, at a high time scale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from carmesh.broker import Field, Principal
from carmesh.errors import InvalidArgument, PermissionDenied
from carmesh.runtime import Runtime
from carmesh.settings import Settings

SPEED = "Vehicle.Speed"
SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
ODOMETER = "Vehicle.TraveledDistance"
LATITUDE = "Vehicle.CurrentLocation.Latitude"
WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"


async def started(tmp_path: Path, **options: object) -> AsyncIterator[Runtime]:
    """A runtime with the simulator and without the media service (its own provider)."""
    settings = Settings.load(env={}, data_dir=tmp_path / "car", grpc="off", media=False, **options)
    runtime = Runtime(settings)
    ready = asyncio.Event()
    task = asyncio.create_task(runtime.run(on_ready=lambda _: ready.set()))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield runtime
    finally:
        runtime.stop()
        await asyncio.wait_for(task, 5)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async for rt in started(tmp_path, time_scale=200, seed=11):
        yield rt


async def collect(runtime: Runtime, paths: list[str], seconds: float) -> dict[str, list[object]]:
    sub = runtime.broker.subscribe(Principal.system(), paths)
    seen: dict[str, list[object]] = {p: [] for p in paths}
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                batch = await asyncio.wait_for(anext(sub), deadline - time.monotonic())
            except TimeoutError:
                break
            for path, dp in batch.items():
                seen[path].append(dp.value)
    finally:
        sub.close()
    return seen


async def test_signals_move_and_the_simulator_owns_them(runtime: Runtime) -> None:
    assert runtime.vehicle is not None
    assert runtime.broker.provider_of(SPEED) == "vehicle-sim"
    assert runtime.broker.actuation_provider_of(WINDOW) == "vehicle-sim"
    seen = await collect(runtime, [SPEED, SOC, ODOMETER, LATITUDE], 1.5)
    assert len(seen[SPEED]) >= 8  # ~10 batches a second
    assert len(set(seen[SPEED])) > 3
    assert max(seen[ODOMETER]) > min(seen[ODOMETER])  # type: ignore[operator]
    assert min(seen[SOC]) < max(seen[SOC]) or len(seen[SOC]) > 3  # type: ignore[operator]
    assert len(set(seen[LATITUDE])) > 3


async def test_actuation_through_the_broker_moves_a_window_or_is_refused(
    runtime: Runtime,
) -> None:
    system = Principal.system()
    with pytest.raises(InvalidArgument, match="locked; unlock it before opening it"):
        await runtime.broker.actuate(system, {"Vehicle.Body.Trunk.Rear.IsOpen": True})
    assert runtime.broker.get(system, "Vehicle.Body.Trunk.Rear.IsOpen", Field.TARGET) is None
    await runtime.broker.actuate(system, {WINDOW: 60})
    seen = await collect(runtime, [WINDOW], 0.5)
    assert seen[WINDOW][-1] == 60


async def test_the_simulator_may_only_provide(runtime: Runtime) -> None:
    session = runtime.broker.providers[0]
    assert session.principal.name == "vehicle-sim"
    with pytest.raises(PermissionDenied):
        await runtime.broker.actuate(session.principal, {WINDOW: 10})


async def test_faults_through_the_overlay_reach_the_car(runtime: Runtime) -> None:
    system = Principal.system()
    await runtime.broker.actuate(system, {"Vehicle.Carmesh.Simulator.Fault.DTCs": ["P0A80"]})
    seen = await collect(runtime, ["Vehicle.Diagnostics.DTCList"], 0.5)
    assert seen["Vehicle.Diagnostics.DTCList"][-1] == ["P0A80"]


async def test_with_vss_4_the_simulator_publishes_what_that_catalog_has(tmp_path: Path) -> None:
    async for runtime in started(tmp_path, vss="4.0", time_scale=100, seed=2):
        assert runtime.catalog.name == "VSS 4.0 + carmesh signals"
        seen = await collect(runtime, [SPEED, SOC], 1.0)
        assert seen[SPEED] and seen[SOC]


async def test_stopping_is_quick(tmp_path: Path) -> None:
    settings = Settings.load(
        env={}, data_dir=tmp_path / "car", grpc="off", time_scale=20, audio_out="null"
    )
    runtime = Runtime(settings)
    ready = asyncio.Event()
    task = asyncio.create_task(runtime.run(on_ready=lambda _: ready.set()))
    await asyncio.wait_for(ready.wait(), 10)
    await asyncio.sleep(0.3)
    begun = time.monotonic()
    runtime.stop()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - begun < 0.5
    assert runtime.broker.providers == []


async def test_without_a_vehicle_nothing_is_claimed(tmp_path: Path) -> None:
    async for runtime in started(tmp_path, vehicle="none"):
        assert runtime.vehicle is None
        assert runtime.catalog.name == "VSS 6.0"
        assert runtime.broker.providers == []
