"""Overlays: adding, changing and deleting nodes, and clear refusals of bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carmesh.errors import CatalogError
from carmesh.vss import Catalog, DataType, NodeType


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_flat_yaml_overlay_adds_changes_and_deletes(tmp_path: Path, catalog: Catalog) -> None:
    overlay = write(
        tmp_path,
        "brand.yaml",
        """
Vehicle.Carmesh:
  type: branch
  description: Brand signals.
Vehicle.Carmesh.AmbientLight.Hue:
  type: actuator
  datatype: uint16
  min: 0
  max: 359
  unit: degrees
  description: Ambient light hue.
  x-carmesh-note: kept as extra metadata
Vehicle.Carmesh.AmbientLight:
  type: branch
  description: Ambient light.
Vehicle.Speed:
  max: 250
Vehicle.Trailer:
  delete: true
""",
    )
    loaded = Catalog.load(overlays=[overlay])
    hue = loaded["Vehicle.Carmesh.AmbientLight.Hue"]
    assert (hue.type, hue.datatype, hue.max, hue.unit) == (
        NodeType.ACTUATOR,
        DataType.UINT16,
        359,
        "degrees",
    )
    assert hue.extra["x-carmesh-note"] == "kept as extra metadata"
    assert hue.id > max(n.id for n in catalog), "overlay nodes are numbered after the base"
    assert loaded["Vehicle.Speed"].max == 250
    assert loaded["Vehicle.Speed"].unit == "km/h", "keys the overlay does not name are kept"
    assert loaded["Vehicle.Speed"].id == catalog["Vehicle.Speed"].id
    assert "Vehicle.Trailer" not in loaded
    assert not [n for n in loaded if n.path.startswith("Vehicle.Trailer.")]
    assert "overlay" in loaded.name
    assert len(loaded.leaves) == len(catalog.leaves) + 1 - len(catalog.match("Vehicle.Trailer"))


def test_nested_json_overlay(tmp_path: Path) -> None:
    overlay = write(
        tmp_path,
        "nested.json",
        json.dumps(
            {
                "Vehicle": {
                    "type": "branch",
                    "children": {
                        "Carmesh": {
                            "type": "branch",
                            "description": "x",
                            "children": {
                                "Mode": {
                                    "type": "attribute",
                                    "datatype": "string",
                                    "allowed": ["ECO", "SPORT"],
                                    "default": "ECO",
                                    "description": "Drive mode.",
                                }
                            },
                        }
                    },
                }
            }
        ),
    )
    loaded = Catalog.load(overlays=[overlay])
    mode = loaded["Vehicle.Carmesh.Mode"]
    assert mode.allowed == ("ECO", "SPORT")
    assert mode.default == "ECO"
    assert loaded.match("Vehicle.Carmesh") == (mode,)


def test_overlays_apply_in_order(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "Vehicle.Speed:\n  max: 200\n")
    second = write(tmp_path, "b.yaml", "Vehicle.Speed:\n  max: 300\n")
    assert Catalog.load(overlays=[first, second])["Vehicle.Speed"].max == 300


BAD = [
    ("Vehicle.Nope.Thing:\n  type: sensor\n  datatype: float\n", "Vehicle.Nope.Thing", "parent"),
    ("Vehicle.Thing:\n  type: sensor\n", "Vehicle.Thing", "needs a 'datatype'"),
    ("Vehicle.Thing:\n  type: sensor\n  datatype: float128\n", "Vehicle.Thing", "datatype"),
    ("Vehicle.Thing:\n  type: gadget\n  datatype: float\n", "Vehicle.Thing", "unknown type"),
    ("Vehicle.Thing:\n  datatype: float\n", "Vehicle.Thing", "needs a 'type'"),
    (
        "Vehicle.Thing:\n  type: sensor\n  datatype: uint8\n  min: 10\n  max: 5\n",
        "Vehicle.Thing",
        "greater than max",
    ),
    (
        "Vehicle.Thing:\n  type: sensor\n  datatype: string\n  min: 1\n",
        "Vehicle.Thing",
        "numeric",
    ),
    (
        "Vehicle.Thing:\n  type: sensor\n  datatype: uint8\n  allowed: [1, 300]\n",
        "Vehicle.Thing",
        "allowed",
    ),
    (
        "Vehicle.Thing:\n  type: attribute\n  datatype: boolean\n  default: maybe\n",
        "Vehicle.Thing",
        "default",
    ),
    ("Vehicle.Thing:\n  type: branch\n  datatype: float\n", "Vehicle.Thing", "branch cannot"),
    (
        "Vehicle.Cabin:\n  type: sensor\n  datatype: float\n",
        "Vehicle.Cabin",
        "branch with children",
    ),
    (
        "Vehicle.Speed.Sub:\n  type: sensor\n  datatype: float\n",
        "Vehicle.Speed.Sub",
        "not a branch",
    ),
    ("Vehicle.Ghost:\n  delete: true\n", "Vehicle.Ghost", "does not exist"),
    ("Vehicle.Seat:\n  type: branch\n  instances: [Row1]\n", "Vehicle.Seat", "instances"),
    ("Vehicle.Speed: 42\n", "Vehicle.Speed", "mapping"),
    ("Vehicle.Speed:\n  unit: 5\n", "Vehicle.Speed", "'unit' must be text"),
    ("Vehicle.Speed:\n  min: fast\n", "Vehicle.Speed", "must be a number"),
    ("Vehicle.Speed:\n  x-kuksa-changetype: sometimes\n", "Vehicle.Speed", "changetype"),
]


@pytest.mark.parametrize(("text", "node", "reason"), BAD)
def test_bad_overlays_name_file_and_node(tmp_path: Path, text: str, node: str, reason: str) -> None:
    overlay = write(tmp_path, "bad.yaml", text)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(overlays=[overlay])
    message = str(caught.value)
    assert str(overlay) in message
    assert node in message
    assert reason in message
    assert caught.value.file == str(overlay)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("broken.yaml", "Vehicle.Speed: [unclosed\n"),
        ("broken.json", "{not json"),
        ("list.yaml", "- a\n"),
    ],
)
def test_unparseable_overlays_name_the_file(tmp_path: Path, name: str, text: str) -> None:
    overlay = write(tmp_path, name, text)
    with pytest.raises(CatalogError, match=str(overlay).replace(".", r"\.")):
        Catalog.load(overlays=[overlay])


def test_missing_overlay_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        Catalog.load(overlays=[tmp_path / "absent.yaml"])


def test_unknown_release(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no packaged VSS release"):
        Catalog.load("9.9")
