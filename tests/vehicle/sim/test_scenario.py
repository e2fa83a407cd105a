"""Scenario files: parsing YAML and TOML, clear errors naming file and line, and running."""

from __future__ import annotations

from pathlib import Path

import pytest

from carmesh.errors import ConfigError
from carmesh.vehicle.sim import ScenarioRunner, VehicleProfile, default_scenario, load_scenario
from carmesh.vehicle.sim.charging import ChargerKind
from carmesh.vehicle.sim.scenario import Charge, Drive, Fault, Park, SetTargets

TRIP = """\
name: Commute and fast charge
start:
  soc: 35
  outside_temperature: 8
steps:
  - drive: constant
    speed: 100
    duration: 300
  - fault: tyre-pressure
    wheel: RL
  - charge: dc
    power: 150
    until: 50
  - set:
      Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature: 23
  - park: 60
"""

TRIP_TOML = """\
name = "Commute and fast charge"
[start]
soc = 35
outside_temperature = 8
[[steps]]
drive = "constant"
speed = 100
duration = 300
[[steps]]
fault = "tyre-pressure"
wheel = "RL"
[[steps]]
charge = "dc"
power = 150
until = 50
[[steps]]
set = { "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature" = 23 }
[[steps]]
park = 60
"""


@pytest.mark.parametrize(("name", "text"), [("trip.yaml", TRIP), ("trip.toml", TRIP_TOML)])
def test_yaml_and_toml_scenarios_read_alike(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.name == "Commute and fast charge"
    assert scenario.start.soc == 35 and scenario.start.outside_temperature == 8
    assert scenario.steps == (
        Drive("constant", 1, 100.0, 300.0),
        Fault("tyre-pressure", "RL", ""),
        Charge(ChargerKind.DC, 150.0, 50.0),
        SetTargets({"Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature": 23}),
        Park(60.0),
    )
    assert not scenario.loop


def test_the_runner_carries_out_every_step(tmp_path: Path, profile: VehicleProfile) -> None:
    path = tmp_path / "trip.yaml"
    path.write_text(TRIP, encoding="utf-8")
    runner = ScenarioRunner(load_scenario(path), profile, seed=4)
    car = runner.car
    labels = []
    top = 0.0
    while not runner.finished and car.time < 4 * 3600:
        runner.step(1.0)
        top = max(top, car.speed_kmh)
        if not labels or labels[-1] != runner.label:
            labels.append(runner.label)
    assert labels == [
        "driving the 100 km/h",
        "DC charging to 50 %",
        "parked for 60 s",
        "parked (scenario done)",
    ]
    assert top == pytest.approx(100)
    assert car.battery.soc == pytest.approx(50, abs=0.2)
    assert car.faults.leaking == ["RL"]
    assert car.cabin.setpoints["Driver"] == 23
    assert not car.charging.cable_connected
    assert car.powered
    assert 5_000 < car.trip_m < 8_500


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("steps:\n  - drive: wltc\n  - charge: dcx\n", ["line 3", "step 2 (charge)", "'dcx'"]),
        ("steps:\n  - drive: moon\n", ["line 2", "unknown drive 'moon'"]),
        ("start:\n  soc: 150\nsteps:\n  - park: 1\n", ["line 2", "'soc' must be between 0"]),
        ("start:\n  fuel: 3\nsteps:\n  - park: 1\n", ["line 2", "unknown key 'fuel'"]),
        ("steps:\n  - park: 1\n    drive: wltc\n", ["line 2", "exactly one of"]),
        ("steps:\n  - drive: constant\n    speed: 130\n    duration: 5\n", ["line 4", "too short"]),
        ("steps:\n  - fault: dtc\n    code: XYZ\n", ["line 2", "not a diagnostic trouble code"]),
        ("steps:\n  - fault: tyre-pressure\n    wheel: LF\n", ["line 2", "unknown wheel"]),
        ("steps: []\n", ["line 1", "non-empty list"]),
        ("steps:\n  - park: [1\n", ["line 3", "not valid YAML"]),
        ("- 1\n- 2\n", ["must be a mapping"]),
        ("route: [[57, 12, 50]]\nsteps:\n  - park: 1\n", ["line 1", "at least two waypoints"]),
        ("steps:\n  - drive: wltc\n    repeat: -1\n", ["line 3", "'repeat'"]),
    ],
    ids=[
        "bad-charger",
        "bad-drive",
        "soc-out-of-range",
        "unknown-start-key",
        "two-kinds",
        "too-short",
        "bad-dtc",
        "bad-wheel",
        "no-steps",
        "bad-yaml",
        "not-a-mapping",
        "short-route",
        "negative-repeat",
    ],
)
def test_bad_scenarios_name_the_file_and_line(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = tmp_path / "bad-trip.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_scenario(path)
    message = str(refused.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[steps]]\ncharge = 'nuclear'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: step 1 \(charge\): unknown charger"):
        load_scenario(path)
    path.write_text("steps = [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_scenario(path)


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the scenario file"):
        load_scenario(tmp_path / "nowhere.yaml")


def test_the_default_scenario_loops_drive_charge_park(profile: VehicleProfile) -> None:
    scenario = default_scenario()
    assert scenario.loop
    assert [type(s).__name__ for s in scenario.steps] == ["Drive", "Charge", "Park"]
    runner = ScenarioRunner(scenario, profile, seed=1)
    seen = set()
    for _ in range(4 * 3600):
        runner.step(1.0)
        seen.add(runner.label.split(" ")[0])
    assert seen == {"driving", "DC", "parked"}
    assert runner.car.route_distance > 60_000
