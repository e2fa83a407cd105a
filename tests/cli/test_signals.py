"""``carmesh signals``: the catalog as a tree, a table and JSON lines.

Output is checked in-process through typer's runner against :class:`carmesh.vss.Catalog`;
errors go through the real console script, since turning them into one line is its job.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from carmesh.cli import app
from carmesh.vss import Catalog, Node

CARMESH = Path(sys.executable).parent / "carmesh"

OVERLAY = """\
Vehicle.Carmesh:
  type: branch
  description: Brand-specific signals.
Vehicle.Carmesh.AmbientLight:
  type: branch
  description: Ambient light.
Vehicle.Carmesh.AmbientLight.Hue:
  type: actuator
  datatype: uint16
  min: 0
  max: 359
  unit: degrees
  description: Ambient light hue.
Vehicle.Carmesh.AmbientLight.Mode:
  type: actuator
  datatype: string
  allowed: ["OFF", "STATIC", "BREATHING"]
  description: Ambient light mode.
Vehicle.Speed:
  max: 250
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CARMESH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "400")


def signals(*args: str | Path) -> str:
    result = CliRunner().invoke(app, ["signals", *map(str, args)])
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return result.stdout


def json_rows(*args: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in signals(*args, "--json").splitlines()]


def run_carmesh(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARMESH_")}
    env["COLUMNS"] = "400"
    return subprocess.run(
        [str(CARMESH), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=30,
    )


def assert_row_describes(row: dict[str, Any], node: Node) -> None:
    assert row["path"] == node.path
    assert row["type"] == node.type.value
    assert row["id"] == node.id
    assert row.get("datatype") == (node.datatype.value if node.datatype else None)
    assert row.get("unit") == node.unit
    assert row.get("min") == node.min
    assert row.get("max") == node.max
    assert row.get("allowed") == (list(node.allowed) if node.allowed is not None else None)
    assert row.get("default") == node.default
    assert row.get("deprecation") == node.deprecation
    assert row["description"] == node.description
    if node.min is not None:
        assert type(row["min"]) is type(node.min)
    if node.max is not None:
        assert type(row["max"]) is type(node.max)


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    path = tmp_path / "brand.yaml"
    path.write_text(OVERLAY, encoding="utf-8")
    return path


# -- tree -----------------------------------------------------------------------------------


def test_tree_of_a_branch_shows_its_leaves_under_their_branches(catalog: Catalog) -> None:
    out = signals("Vehicle.Cabin.Sunroof")
    lines = out.splitlines()
    leaves = catalog.match("Vehicle.Cabin.Sunroof")
    assert len(leaves) == 5
    assert lines[0] == f"VSS 6.0: {len(leaves)} signals matching Vehicle.Cabin.Sunroof"
    for node in leaves:
        label = f"{node.name} {node.type.value} {node.datatype.value}"
        assert any(line.endswith(label) or f"{label} " in line for line in lines), label
    assert any(line.endswith("Position sensor int8 percent -100..100") for line in lines)
    names = [line.lstrip("│├└─ ").split(" ")[0] for line in lines[1:]]
    assert names[:3] == ["Vehicle", "Cabin", "Sunroof"]
    assert names.count("Shade") == 1, "a branch appears once in the tree"
    shade = names.index("Shade")
    depth = {i: len(line) - len(line.lstrip("│├└─ ")) for i, line in enumerate(lines[1:])}
    below_shade = [names[i] for i in range(shade + 1, len(names)) if depth[i] > depth[shade]]
    assert below_shade == ["IsOpen", "Position", "Switch"]


def test_default_pattern_is_the_whole_vehicle(catalog: Catalog) -> None:
    first = signals().splitlines()[0]
    assert first == f"VSS 6.0: {len(catalog.leaves)} signals matching Vehicle"


def test_one_signal_is_shown_as_a_table(catalog: Catalog) -> None:
    out = signals("Vehicle.Speed")
    node = catalog["Vehicle.Speed"]
    assert "VSS 6.0: 1 signals matching Vehicle.Speed" in out
    row = next(line for line in out.splitlines() if line.startswith("│ Vehicle.Speed "))
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[:4] == ["Vehicle.Speed", "sensor", "float", node.unit]


# -- table ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["**.IsOpen", "Vehicle.Cabin.Seat.Row1.*.Position"])
def test_table_has_one_row_per_matching_signal(catalog: Catalog, pattern: str) -> None:
    out = signals(pattern, "--table")
    nodes = catalog.match(pattern)
    assert f"VSS 6.0: {len(nodes)} signals matching {pattern}" in out
    rows = [
        [c.strip() for c in line.strip("│ ").split("│")]
        for line in out.splitlines()
        if line.startswith("│ Vehicle.")
    ]
    assert [r[0] for r in rows] == [n.path for n in nodes]
    for cells, node in zip(rows, nodes, strict=True):
        assert cells[1] == node.type.value
        assert cells[2] == node.datatype.value
        assert cells[3] == (node.unit or "")


def test_table_shows_range_and_allowed_values(overlay: Path) -> None:
    out = signals("Vehicle.Carmesh", "--table", "--overlay", overlay)
    rows = {
        cells[0]: cells
        for cells in (
            [c.strip() for c in line.strip("│ ").split("│")]
            for line in out.splitlines()
            if line.startswith("│ Vehicle.")
        )
    }
    assert rows["Vehicle.Carmesh.AmbientLight.Hue"][4] == "0..359"
    assert rows["Vehicle.Carmesh.AmbientLight.Mode"][4] == "OFF, STATIC, BREATHING"


# -- JSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "Vehicle.Cabin.Sunroof",
        "Vehicle.Speed",
        "**.IsOpen",
        "Vehicle.Cabin.Seat.**",
        "Vehicle.*.*.Speed",
        "**.Speed",
        "Vehicle.Powertrain.TractionBattery.Charging",
        "Vehicle",
    ],
)
def test_json_lines_match_the_catalog(catalog: Catalog, pattern: str) -> None:
    rows = json_rows(pattern)
    nodes = catalog.match(pattern)
    assert len(rows) == len(nodes) > 0
    for row, node in zip(rows, nodes, strict=True):
        assert_row_describes(row, node)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_json_for_any_branch_or_leaf_matches_the_catalog(
    catalog: Catalog, data: st.DataObject
) -> None:
    node = data.draw(st.sampled_from(list(catalog)), label="node")
    rows = json_rows(node.path)
    expected = catalog.match(node.path)
    assert [r["path"] for r in rows] == [n.path for n in expected]
    for row, leaf in zip(rows, expected, strict=True):
        assert_row_describes(row, leaf)


def test_json_with_vss_4(catalog4: Catalog) -> None:
    rows = json_rows("Vehicle", "--vss", "4.0")
    assert len(rows) == len(catalog4.leaves) == 910
    assert {r["path"] for r in rows} == {n.path for n in catalog4.leaves}


def test_json_is_valid_for_every_signal_of_the_catalog(catalog: Catalog) -> None:
    out = signals("**", "--json")
    assert out.endswith("\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(catalog.leaves) == 1263
    for row, node in zip(rows, catalog.leaves, strict=True):
        assert_row_describes(row, node)


# -- overlays -------------------------------------------------------------------------------


def test_overlay_adds_and_changes_nodes(overlay: Path) -> None:
    rows = {r["path"]: r for r in json_rows("Vehicle.Carmesh", "--overlay", overlay)}
    assert set(rows) == {"Vehicle.Carmesh.AmbientLight.Hue", "Vehicle.Carmesh.AmbientLight.Mode"}
    hue = rows["Vehicle.Carmesh.AmbientLight.Hue"]
    assert (hue["type"], hue["datatype"], hue["unit"], hue["min"], hue["max"]) == (
        "actuator",
        "uint16",
        "degrees",
        0,
        359,
    )
    assert rows["Vehicle.Carmesh.AmbientLight.Mode"]["allowed"] == ["OFF", "STATIC", "BREATHING"]
    (speed,) = json_rows("Vehicle.Speed", "--overlay", overlay)
    assert speed["max"] == 250

    tree = signals("Vehicle.Carmesh", "--overlay", overlay)
    assert tree.splitlines()[0] == "VSS 6.0 + 1 overlay: 2 signals matching Vehicle.Carmesh"
    assert any(line.endswith("Hue actuator uint16 degrees 0..359") for line in tree.splitlines())


def test_overlay_from_a_config_file(tmp_path: Path, overlay: Path) -> None:
    config = tmp_path / "carmesh.toml"
    config.write_text(f'overlays = ["{overlay}"]\n', encoding="utf-8")
    (row, _) = json_rows("Vehicle.Carmesh", "--config", config)
    assert row["path"] == "Vehicle.Carmesh.AmbientLight.Hue"


def test_overlay_can_delete_a_branch(tmp_path: Path, catalog: Catalog) -> None:
    overlay = tmp_path / "no-trailer.json"
    overlay.write_text('{"Vehicle.Trailer": {"delete": true}}', encoding="utf-8")
    rows = json_rows("Vehicle", "--overlay", overlay)
    assert len(rows) == len(catalog.leaves) - len(catalog.match("Vehicle.Trailer"))
    assert not any(r["path"].startswith("Vehicle.Trailer.") for r in rows)


# -- errors ---------------------------------------------------------------------------------


def assert_one_clear_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["Vehicle.NoSuchThing"], ["Vehicle.NoSuchThing matches no signal of VSS 6.0"]),
        (["Vehicle.NoSuchThing", "--json"], ["Vehicle.NoSuchThing matches no signal"]),
        (["**.NoSuchLeaf", "--table"], ["**.NoSuchLeaf matches no signal"]),
        (["Veh*"], ["'Veh*' is not a valid path pattern"]),
        (["Vehicle..Speed", "--json"], ["'Vehicle..Speed' is not a valid path pattern"]),
        (["Vehicle.Speed", "--vss", "5.1"], ["no packaged VSS release '5.1'"]),
    ],
    ids=[
        "unknown-path",
        "unknown-path-json",
        "unknown-leaf-table",
        "partial-wildcard",
        "empty-component",
        "unknown-release",
    ],
)
def test_bad_input_is_one_error_line(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    assert_one_clear_error(run_carmesh("signals", *args, cwd=tmp_path), *fragments)


def test_bad_overlay_is_one_error_line(tmp_path: Path) -> None:
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("Vehicle.Nowhere.Hue:\n  type: actuator\n  datatype: uint16\n")
    result = run_carmesh("signals", "Vehicle", "--overlay", overlay, cwd=tmp_path)
    assert_one_clear_error(result, str(overlay), "node Vehicle.Nowhere.Hue")


def test_missing_overlay_is_one_error_line(tmp_path: Path) -> None:
    result = run_carmesh("signals", "--overlay", tmp_path / "absent.yaml", cwd=tmp_path)
    assert_one_clear_error(result, "cannot read", "absent.yaml")


def test_pattern_with_markup_closing_tag_is_one_error_line(tmp_path: Path) -> None:
    assert_one_clear_error(run_carmesh("signals", "[/x]", cwd=tmp_path), "[/x] matches no")


def test_pattern_with_markup_tag_is_echoed_verbatim(tmp_path: Path) -> None:
    result = run_carmesh("signals", "Vehicle.[bold]Speed", cwd=tmp_path)
    assert_one_clear_error(result, "Vehicle.[bold]Speed")


def test_description_with_brackets_is_shown_verbatim(tmp_path: Path) -> None:
    overlay = tmp_path / "brackets.yaml"
    overlay.write_text(
        "Vehicle.Carmesh:\n  type: branch\n  description: Brand.\n"
        "Vehicle.Carmesh.Hue:\n  type: actuator\n  datatype: uint16\n"
        "  description: 'Hue in [/x] degrees [bold]really'\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["signals", "Vehicle.Carmesh", "--table", "--overlay", overlay]
    )
    assert result.exception is None, repr(result.exception)
    assert "Hue in [/x] degrees [bold]really" in result.stdout
