"""Determinism: the same seed and scenario give the same signals, whatever the pacing."""

from __future__ import annotations

from typing import Any

from carmesh.vehicle.sim import ScenarioRunner, VehicleProfile, default_scenario
from carmesh.vehicle.sim.signals import fast_values, slow_values, state_values


def trace(profile: VehicleProfile, seed: int, seconds: int = 900) -> list[dict[str, Any]]:
    runner = ScenarioRunner(default_scenario(), profile, seed=seed)
    out = []
    for _ in range(seconds):
        for _ in range(10):
            runner.step(0.1)
        car = runner.car
        out.append({**fast_values(car), **slow_values(car), **state_values(car)})
    return out


def test_the_same_seed_gives_the_same_run(profile: VehicleProfile) -> None:
    assert trace(profile, 7) == trace(profile, 7)


def test_another_seed_gives_another_run(profile: VehicleProfile) -> None:
    a, b = trace(profile, 7, 60), trace(profile, 8, 60)
    lat = "Vehicle.CurrentLocation.Latitude"
    assert [s[lat] for s in a] != [s[lat] for s in b]
    assert [s["Vehicle.Speed"] for s in a] == [s["Vehicle.Speed"] for s in b]  # same drive


def test_publishing_more_often_does_not_change_the_run(profile: VehicleProfile) -> None:
    quiet = ScenarioRunner(default_scenario(), profile, seed=3)
    chatty = ScenarioRunner(default_scenario(), profile, seed=3)
    for _ in range(3000):
        quiet.step(0.1)
        chatty.step(0.1)
        slow_values(chatty.car)
    assert slow_values(quiet.car) == slow_values(chatty.car)
