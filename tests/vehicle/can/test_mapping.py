"""The mapping file: KUKSA dbc2vss/vss2dbc overlays, checked against DBC and catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from carmesh.errors import ConfigError
from carmesh.vehicle.can import CanDatabase, CanMapping
from carmesh.vehicle.can.mapping import DEFAULT_INTERVAL_MS
from carmesh.vehicle.can.transform import MathTransform, ValueMap
from carmesh.vss import Catalog
from tests.vehicle.can.conftest import DBC, MAPPING


def load(data: dict[str, Any], database: CanDatabase, catalog: Catalog) -> CanMapping:
    return CanMapping.from_data(data, database, catalog, name="m.yaml")


def test_the_test_mapping_loads(mapping: CanMapping) -> None:
    assert len(mapping.to_vss) == 28
    assert "Vehicle.Speed" in mapping.value_paths
    assert mapping.actuation_paths == [
        "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked",
        "Vehicle.Cabin.Door.Row1.PassengerSide.IsLocked",
        "Vehicle.Body.Trunk.Rear.IsOpen",
        "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
        "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed",
        "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit",
        "Vehicle.Powertrain.TractionBattery.Charging.StartStopCharging",
    ]
    by_path = {e.path: e for e in mapping.to_vss}
    speed = by_path["Vehicle.Speed"]
    assert (speed.message.name, speed.signal.name, speed.interval_ms) == (
        "VCU_Drive",
        "VCU_VehicleSpeed",
        100,
    )
    assert by_path["Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"].interval_ms == 0
    assert by_path["Vehicle.Powertrain.TractionBattery.Temperature.Average"].interval_ms == (
        DEFAULT_INTERVAL_MS
    )
    assert isinstance(by_path["Vehicle.TraveledDistance"].transform, MathTransform)
    assert isinstance(by_path["Vehicle.Powertrain.Transmission.CurrentGear"].transform, ValueMap)
    temp = by_path["Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Temperature"]
    assert temp.multiplexer == (("TPMS_TempWheel", 1),)


def test_the_mapping_file_is_also_a_valid_overlay() -> None:
    catalog = Catalog.load(overlays=[MAPPING])
    node = catalog["Vehicle.Speed"]
    assert node.extra["dbc2vss"] == {"signal": "VCU_VehicleSpeed", "interval_ms": 100}


def test_nested_vss_json_form_loads(
    tmp_path: Path, database: CanDatabase, catalog: Catalog
) -> None:
    """KUKSA ships mappings as a whole VSS tree in JSON (vss_dbc.json); that form works."""
    flat = yaml.safe_load(MAPPING.read_text())
    tree: dict[str, Any] = {}
    for path, meta in flat.items():
        parts = path.split(".")
        level = tree
        for part in parts[:-1]:
            level = level.setdefault(part, {"type": "branch", "children": {}})["children"]
        level[parts[-1]] = meta
    file = tmp_path / "vss_dbc.json"
    file.write_text(json.dumps(tree))
    nested = CanMapping.load(file, database, catalog)
    flat_mapping = CanMapping.load(MAPPING, [DBC], catalog)
    assert sorted(nested.value_paths) == sorted(flat_mapping.value_paths)
    assert sorted(nested.actuation_paths) == sorted(flat_mapping.actuation_paths)


def test_dbc_is_a_synonym_of_dbc2vss(database: CanDatabase, catalog: Catalog) -> None:
    m = load({"Vehicle.Speed": {"dbc": {"signal": "VCU_VehicleSpeed"}}}, database, catalog)
    assert m.value_paths == ["Vehicle.Speed"]
    assert m.to_vss[0].interval_ms == DEFAULT_INTERVAL_MS


def test_nodes_without_can_entries_are_ignored(database: CanDatabase, catalog: Catalog) -> None:
    m = load({"Vehicle.Speed": {"type": "sensor", "max": 250}}, database, catalog)
    assert m.value_paths == [] and m.actuation_paths == []


def test_one_dbc_signal_may_feed_several_vss_signals(mapping: CanMapping) -> None:
    gear_users = [e.path for e in mapping.to_vss if e.signal.name == "VCU_Gear"]
    assert gear_users == [
        "Vehicle.Powertrain.Transmission.CurrentGear",
        "Vehicle.Powertrain.Transmission.IsParkLockEngaged",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"Vehicle.Nope": {"dbc2vss": {"signal": "VCU_Gear"}}},
            "Vehicle.Nope is not a signal of VSS 6.0; add it with an overlay",
        ),
        ({"Vehicle.Cabin": {"dbc2vss": {"signal": "VCU_Gear"}}}, "is a branch"),
        (
            {"Vehicle.Cabin.Seat.Row1.DriverSide.Massage.SupportedTypes": {"dbc": {"signal": "X"}}},
            "is an array (string[]); a CAN signal maps to a scalar",
        ),
        (
            {"Vehicle.Speed": {"dbc2vss": {"signal": "NoSuchSignal"}}},
            "Vehicle.Speed dbc2vss: no signal 'NoSuchSignal' in carmesh_ev.dbc",
        ),
        ({"Vehicle.Speed": {"dbc2vss": {}}}, "'signal' must name a DBC signal"),
        ({"Vehicle.Speed": {"dbc2vss": "VCU_VehicleSpeed"}}, "expected a mapping"),
        (
            {"Vehicle.Speed": {"dbc2vss": {"signal": "VCU_VehicleSpeed", "interval": 10}}},
            "unknown key(s) interval",
        ),
        (
            {"Vehicle.Speed": {"dbc2vss": {"signal": "VCU_VehicleSpeed", "interval_ms": -1}}},
            "'interval_ms' must be a whole number >= 0",
        ),
        (
            {"Vehicle.Speed": {"dbc2vss": {"signal": "VCU_VehicleSpeed", "on_change": "yes"}}},
            "'on_change' must be true or false",
        ),
        (
            {
                "Vehicle.Speed": {
                    "dbc2vss": {"signal": "VCU_VehicleSpeed", "transform": {"math": "x *"}}
                }
            },
            "dbc2vss: 'math': unexpected end",
        ),
        (
            {"Vehicle.Speed": {"vss2dbc": {"signal": "HVAC_FanDriverRequest"}}},
            "is a sensor; vss2dbc needs an actuator",
        ),
        (
            {
                "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen": {
                    "dbc2vss": {
                        "signal": "BCM_DoorFL",
                        "transform": {"mapping": [{"from": "OPEN", "to": "yes"}]},
                    }
                }
            },
            "mapping 'to' 'yes' does not fit",
        ),
        (
            {
                "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked": {
                    "vss2dbc": {
                        "signal": "BCM_LockRequestFL",
                        "transform": {"mapping": [{"from": True, "to": "CLOSE"}]},
                    }
                }
            },
            "'CLOSE' is not a choice of DBC signal BCM_LockRequestFL",
        ),
        (
            {
                "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Temperature": {
                    "dbc2vss": {
                        "signal": "TPMS_Temp",
                        "multiplexer": [{"signal": "VCU_Gear", "value": 1}],
                    }
                }
            },
            "multiplexer signal 'VCU_Gear' is not in message TPMS_Temperature",
        ),
        (
            {"Vehicle.Speed": {"dbc": {"signal": "X"}, "dbc2vss": {"signal": "X"}}},
            "has both 'dbc' and 'dbc2vss'",
        ),
        (
            {"Vehicle.VehicleIdentification.VIN": {"vss2dbc": {"signal": "TPMS_Temp"}}},
            "is an attribute; vss2dbc needs an actuator",
        ),
        (["Vehicle.Speed"], "the top level must be a mapping"),
    ],
)
def test_bad_mappings_are_refused_naming_file_path_and_problem(
    data: Any, message: str, database: CanDatabase, catalog: Catalog
) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        load(data, database, catalog)
    assert message in str(info.value)
    assert str(info.value).startswith("m.yaml")


def test_vss2dbc_into_a_multiplexed_message_is_refused(
    database: CanDatabase, catalog: Catalog
) -> None:
    data = {
        "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed": {
            "vss2dbc": {"signal": "TPMS_PressureFL"}
        }
    }
    with pytest.raises(ConfigError, match="TPMS_Pressure is multiplexed"):
        load(data, database, catalog)


def test_an_ambiguous_signal_name_needs_its_message(tmp_path: Path, catalog: Catalog) -> None:
    second = tmp_path / "second.dbc"
    second.write_text(
        'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: X\n\n'
        "BO_ 1536 Other_Drive: 2 X\n"
        ' SG_ VCU_VehicleSpeed : 0|16@1+ (0.01,0) [0|300] "km/h" X\n'
    )
    database = CanDatabase.load([DBC, second])
    data = {"Vehicle.Speed": {"dbc2vss": {"signal": "VCU_VehicleSpeed"}}}
    with pytest.raises(ConfigError, match=r"several messages \(VCU_Drive, Other_Drive\)"):
        load(data, database, catalog)
    data["Vehicle.Speed"]["dbc2vss"]["message"] = "Other_Drive"
    assert load(data, database, catalog).to_vss[0].message.name == "Other_Drive"


def test_databases_with_clashing_frame_ids_are_refused(tmp_path: Path) -> None:
    clash = tmp_path / "clash.dbc"
    clash.write_text('VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: X\n\nBO_ 256 Clash: 1 X\n')
    with pytest.raises(
        ConfigError, match="VCU_Drive and Clash have the same frame identifier 0x100"
    ):
        CanDatabase.load([DBC, clash])


def test_unreadable_files_are_one_clear_sentence(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        CanDatabase.load([tmp_path / "missing.dbc"])
    broken = tmp_path / "broken.dbc"
    broken.write_text("BO_ this is not a DBC")
    with pytest.raises(ConfigError, match=r"broken\.dbc is not a usable CAN database"):
        CanDatabase.load([broken])
    with pytest.raises(ConfigError, match="no CAN database file was given"):
        CanDatabase.load([])
    bad_yaml = tmp_path / "m.yaml"
    bad_yaml.write_text("Vehicle.Speed: [unclosed")
    with pytest.raises(ConfigError, match=r"m\.yaml is not valid JSON/YAML"):
        CanMapping.load(bad_yaml, [DBC], catalog)
