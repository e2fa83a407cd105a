"""Shared fixtures: the packaged profile and cars built from it."""

from __future__ import annotations

import pytest

from carmesh.vehicle.sim import SimulatedCar, VehicleProfile, load_profile


@pytest.fixture(scope="session")
def profile() -> VehicleProfile:
    return load_profile()


@pytest.fixture
def car(profile: VehicleProfile) -> SimulatedCar:
    return SimulatedCar(profile, seed=1, soc=80.0, outside_c=15.0)
