"""Loading the full VSS releases, lookups, and KUKSA wildcard semantics."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carmesh.errors import InvalidArgument, NotFound
from carmesh.vss import Catalog, DataType, NodeType, matches, release_file


def _walk(name: str, node: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield name, node
    for child, sub in node.get("children", {}).items():
        yield from _walk(f"{name}.{child}", sub)


def _file_nodes(version: str) -> dict[str, dict[str, Any]]:
    data = json.loads(release_file(version).read_text())
    return {path: node for root, tree in data.items() for path, node in _walk(root, tree)}


@pytest.mark.parametrize(
    ("version", "leaves"),
    [
        ("6.0", {"sensor": 490, "actuator": 643, "attribute": 130}),
        ("4.0", {"sensor": 379, "actuator": 425, "attribute": 106}),
    ],
)
def test_full_release_loads_every_node(version: str, leaves: dict[str, int]) -> None:
    raw = _file_nodes(version)
    catalog = Catalog.load(version)
    assert len(catalog) == len(raw)
    assert [n.path for n in catalog] == list(raw)
    by_type = Counter(node["type"] for node in raw.values())
    assert catalog.counts() == by_type
    assert {k: v for k, v in by_type.items() if k != "branch"} == leaves
    assert len(catalog.leaves) == sum(leaves.values())


def test_every_node_keeps_its_metadata(catalog: Catalog) -> None:
    raw = _file_nodes("6.0")
    for path, meta in raw.items():
        node = catalog[path]
        assert node.type == NodeType(meta["type"])
        assert node.description == meta["description"]
        assert node.datatype == (DataType(meta["datatype"]) if "datatype" in meta else None)
        assert node.unit == meta.get("unit")
        assert node.min == meta.get("min")
        assert node.max == meta.get("max")
        assert node.allowed == (tuple(meta["allowed"]) if "allowed" in meta else None)
        assert node.default == meta.get("default")
        assert node.deprecation == meta.get("deprecation")
        assert node.comment == meta.get("comment")


def test_known_signals(catalog: Catalog) -> None:
    speed = catalog["Vehicle.Speed"]
    assert (speed.type, speed.datatype, speed.unit) == (NodeType.SENSOR, DataType.FLOAT, "km/h")
    window = catalog.leaf("Vehicle.Cabin.Door.Row1.DriverSide.Window.Position")
    assert (window.datatype, window.min, window.max) == (DataType.UINT8, 0, 100)
    switch = catalog["Vehicle.Cabin.Door.Row1.DriverSide.Window.Switch"]
    assert switch.allowed is not None and "OPEN" in switch.allowed
    assert catalog.by_id(speed.id) is speed
    arrays = [n for n in catalog.leaves if n.datatype and n.datatype.is_array]
    assert arrays, "VSS 6.0 has array signals"


def test_lookup_errors(catalog: Catalog) -> None:
    with pytest.raises(NotFound, match=r"Vehicle\.Nope is not a signal"):
        catalog["Vehicle.Nope"]
    with pytest.raises(NotFound, match="is a branch"):
        catalog.leaf("Vehicle.Cabin")
    with pytest.raises(NotFound):
        catalog.by_id(10**9)
    assert catalog.get("Vehicle.Nope") is None


def test_branch_listing(catalog: Catalog) -> None:
    names = [n.name for n in catalog.children("Vehicle.Cabin.Door.Row1")]
    assert names == ["DriverSide", "PassengerSide"]
    assert [n.path for n in catalog.children("")] == ["Vehicle"]
    with pytest.raises(NotFound):
        catalog.children("Vehicle.Nope")


SUNROOF = {
    "Vehicle.Cabin.Sunroof.Position",
    "Vehicle.Cabin.Sunroof.Shade.IsOpen",
    "Vehicle.Cabin.Sunroof.Shade.Position",
    "Vehicle.Cabin.Sunroof.Shade.Switch",
    "Vehicle.Cabin.Sunroof.Switch",
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # The examples of eclipse-kuksa/kuksa-databroker doc/wildcard_matching.md.
        ("Vehicle.Cabin.Sunroof", SUNROOF),
        ("Vehicle.Cabin.Sunroof.**", SUNROOF),
        (
            "Vehicle.Cabin.Sunroof.*",
            {"Vehicle.Cabin.Sunroof.Position", "Vehicle.Cabin.Sunroof.Switch"},
        ),
        ("Vehicle.Cabin.Sunroof.*.Position", {"Vehicle.Cabin.Sunroof.Shade.Position"}),
        ("**.Sunroof.*.Position", {"Vehicle.Cabin.Sunroof.Shade.Position"}),
        (
            "Vehicle.Cabin.Sunroof.**.Position",
            {"Vehicle.Cabin.Sunroof.Position", "Vehicle.Cabin.Sunroof.Shade.Position"},
        ),
        ("**.Sunroof", set()),
        ("**.Sunroof.**", SUNROOF),
        ("Vehicle.Speed", {"Vehicle.Speed"}),
        ("Vehicle.Speed.**", set()),
    ],
)
def test_kuksa_wildcard_examples(catalog: Catalog, pattern: str, expected: set[str]) -> None:
    assert {n.path for n in catalog.match(pattern)} == expected


def test_single_star_components_count(catalog: Catalog) -> None:
    # KUKSA's example: "*.*.*.*.Position" selects the sunroof shade (and, in the full
    # catalog, every other five-component path ending in Position).
    found = {n.path for n in catalog.match("*.*.*.*.Position")}
    assert "Vehicle.Cabin.Sunroof.Shade.Position" in found
    assert "Vehicle.Cabin.Sunroof.Position" not in found
    assert all(p.count(".") == 4 and p.endswith(".Position") for p in found)


def test_empty_pattern_matches_everything(catalog: Catalog) -> None:
    assert catalog.match("") == catalog.leaves


@pytest.mark.parametrize("bad", ["Veh*", "Vehicle..Speed", "Vehicle.Sp eed", ".Vehicle", "a:b"])
def test_malformed_patterns_are_refused(catalog: Catalog, bad: str) -> None:
    with pytest.raises(InvalidArgument, match="not a valid path pattern"):
        catalog.match(bad)


def _reference_match(pattern: list[str], path: list[str]) -> bool:
    """Component-wise matcher: '*' one component, '**' zero or more (one or more at the end)."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        start = 1 if not rest else 0
        return any(_reference_match(rest, path[i:]) for i in range(start, len(path) + 1))
    if not path:
        return False
    return (head == "*" or head == path[0]) and _reference_match(rest, path[1:])


@st.composite
def patterns(draw: st.DrawFn, catalog: Catalog) -> str:
    leaf = draw(st.sampled_from(catalog.leaves))
    parts = leaf.path.split(".")
    out: list[str] = []
    for part in parts:
        choice = draw(st.sampled_from(["keep", "keep", "star", "globstar", "drop"]))
        if choice == "keep":
            out.append(part)
        elif choice == "star":
            out.append("*")
        elif choice == "globstar" and (not out or out[-1] != "**"):
            out.append("**")
    return ".".join(out) or "**"


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_wildcard_matching_agrees_with_reference(catalog: Catalog, data: st.DataObject) -> None:
    pattern = data.draw(patterns(catalog))
    got = {n.path for n in catalog.match(pattern)}
    parts = pattern.split(".")
    if "*" in pattern:
        want = {n.path for n in catalog.leaves if _reference_match(parts, n.path.split("."))}
    else:
        want = {
            n.path for n in catalog.leaves if n.path == pattern or n.path.startswith(pattern + ".")
        }
    assert got == want
    assert all(matches(pattern, p) for p in got)
