"""The vehicle settings: defaults, TOML, ``CARMESH_*`` variables, options, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from carmesh.errors import ConfigError
from carmesh.runtime import load_catalog
from carmesh.settings import Settings
from carmesh.vehicle.factory import make_vehicle
from carmesh.vehicle.sim import SimulatedVehicle


def test_the_default_is_the_simulated_car_at_real_time() -> None:
    settings = Settings.load(env={})
    assert (settings.vehicle, settings.time_scale, settings.seed) == ("sim", 1.0, None)
    assert settings.scenario is None


def test_environment_file_and_options_in_order(tmp_path: Path) -> None:
    config = tmp_path / "carmesh.toml"
    config.write_text('vehicle = "none"\ntime_scale = 5\nseed = 3\n', encoding="utf-8")
    env = {"CARMESH_TIME_SCALE": "20", "CARMESH_SCENARIO": str(tmp_path / "trip.yaml")}
    settings = Settings.load(config, env=env, seed=9)
    assert settings.vehicle == "none"
    assert settings.time_scale == 20.0
    assert settings.seed == 9
    assert settings.scenario == tmp_path / "trip.yaml"
    assert Settings.load(env={"CARMESH_VEHICLE": "SIM", "CARMESH_SEED": "12"}).seed == 12


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"vehicle": "boat"}, "unknown vehicle 'boat'; choose one of sim, can, none"),
        ({"time_scale": 0}, "time_scale must be a number above 0"),
        ({"time_scale": "fast"}, "invalid setting time_scale"),
        ({"seed": 1.5}, "invalid setting seed"),
    ],
)
def test_bad_values_are_refused(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Settings.load(env={}, **overrides)


def test_the_runtime_builds_the_vehicle_the_settings_name(tmp_path: Path) -> None:
    settings = Settings.load(env={}, time_scale=20, seed=5)
    catalog = load_catalog(settings)
    vehicle = make_vehicle(settings, catalog)
    assert isinstance(vehicle, SimulatedVehicle)
    assert vehicle.description.endswith("20× real time, seed 5")
    assert "Vehicle.Carmesh.Simulator.Fault.DTCs" in catalog
    none = Settings.load(env={}, vehicle="none", media=False)
    assert make_vehicle(none, load_catalog(none)) is None
    assert "Vehicle.Carmesh" not in load_catalog(none)


def test_a_bad_scenario_file_stops_the_start_with_its_name(tmp_path: Path) -> None:
    scenario = tmp_path / "trip.yaml"
    scenario.write_text("steps:\n  - drive: moon\n", encoding="utf-8")
    settings = Settings.load(env={}, scenario=scenario)
    with pytest.raises(ConfigError, match=r"trip\.yaml, line 2: step 1 \(drive\)"):
        make_vehicle(settings, load_catalog(settings))
