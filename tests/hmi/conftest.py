"""Cars for the HMI server tests, one of each per session: ``sim_car`` drives the simulated
Polestar at 20× real time, ``bare_car`` is a broker without a vehicle whose signals the tests
publish over gRPC; and the browser fixtures of :mod:`tests.support.browser`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import browser, new_page  # noqa: F401
from tests.support.car import RunningCar, running_car


@pytest.fixture(scope="session")
def sim_car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    home = tmp_path_factory.mktemp("hmi-sim")
    args = ("--vehicle", "sim", "--time-scale", "20", "--seed", "7")
    with running_car(home / "car", *args) as car:
        yield car


@pytest.fixture(scope="session")
def bare_car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    with running_car(tmp_path_factory.mktemp("hmi-bare") / "car") as car:
        yield car
