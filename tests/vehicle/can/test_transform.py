"""Transforms and datatype fitting between DBC values and VSS values."""

from __future__ import annotations

import pytest
from cantools.database.namedsignalvalue import NamedSignalValue
from hypothesis import given, settings
from hypothesis import strategies as st

from carmesh.errors import InvalidValue
from carmesh.vehicle.can.expression import compile_expression
from carmesh.vehicle.can.transform import (
    MathTransform,
    NoMatch,
    TransformSpecError,
    ValueMap,
    parse_transform,
    vss_converter,
)
from carmesh.vss import Catalog, validate

GEARS = [("PARK", 0), ("REVERSE", -1), ("NEUTRAL", 0), ("DRIVE", 1)]


def test_value_map_matches_choice_names_and_numbers() -> None:
    gears = ValueMap([*GEARS, (7, 7)])
    assert gears(NamedSignalValue(1, "REVERSE")) == -1
    assert gears(NamedSignalValue(3, "DRIVE")) == 1
    assert gears(NamedSignalValue(7, "SEVENTH")) == 7  # by number when the name is not listed
    assert gears(7.0) == 7
    with pytest.raises(NoMatch, match="no 'from' entry matches 15"):
        gears(NamedSignalValue(15, "SNA"))


def test_value_map_keeps_booleans_apart_from_numbers() -> None:
    locks = ValueMap([(True, "LOCK"), (False, "UNLOCK"), (1, "ONE")])
    assert locks(True) == "LOCK"
    assert locks(False) == "UNLOCK"
    assert locks(1) == "ONE"
    with pytest.raises(NoMatch):
        locks(0)


def test_value_map_first_entry_wins() -> None:
    assert ValueMap([("A", 1), ("A", 2)])("A") == 1


def test_math_uses_the_number_of_a_choice() -> None:
    double = parse_transform({"math": "x * 2"})
    assert isinstance(double, MathTransform)
    assert double(NamedSignalValue(3, "DRIVE")) == 6
    with pytest.raises(NoMatch, match="fails for x = 0"):
        MathTransform(compile_expression("1 / x"))(0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("x * 2", "must be a mapping"),
        ({"math": "x", "mapping": []}, "not both"),
        ({"scale": 2}, "unknown key"),
        ({}, "needs 'math' or 'mapping'"),
        ({"math": 3}, "in quotes"),
        ({"math": "x +"}, "unexpected end"),
        ({"mapping": {"a": 1}}, "non-empty list"),
        ({"mapping": [{"from": 1}]}, "item 1 needs both"),
        ({"mapping": [{"from": [1], "to": 1}]}, "must be a number, text or boolean"),
    ],
)
def test_bad_transform_specs_are_explained(spec: object, message: str) -> None:
    with pytest.raises(TransformSpecError, match=message):
        parse_transform(spec)


def test_no_transform_is_none() -> None:
    assert parse_transform(None) is None


def test_converters_fit_dbc_values_to_vss_types(catalog: Catalog) -> None:
    def fit(path: str, value: object) -> object:
        node = catalog[path]
        return validate(node, vss_converter(node)(value))

    assert fit("Vehicle.Powertrain.Transmission.PerformanceMode", NamedSignalValue(1, "SPORT"))
    assert fit("Vehicle.Cabin.Door.Row1.DriverSide.IsLocked", NamedSignalValue(1, "LOCKED"))
    assert fit("Vehicle.Cabin.Door.Row1.DriverSide.IsLocked", 0) is False
    assert fit("Vehicle.Cabin.Door.Row1.DriverSide.IsLocked", 1.0) is True
    assert fit("Vehicle.Chassis.Accelerator.PedalPosition", 40.4) == 40
    assert fit("Vehicle.Chassis.Accelerator.PedalPosition", 40.6) == 41
    assert fit("Vehicle.Powertrain.Transmission.CurrentGear", NamedSignalValue(2, "X")) == 2
    assert fit("Vehicle.Speed", NamedSignalValue(2, "X")) == 2.0
    assert fit("Vehicle.Speed", 3) == 3.0
    with pytest.raises(InvalidValue, match="not allowed"):
        fit("Vehicle.Powertrain.Transmission.PerformanceMode", NamedSignalValue(4, "TRACK"))
    with pytest.raises(InvalidValue):
        fit("Vehicle.Cabin.Door.Row1.DriverSide.IsLocked", 2)
    with pytest.raises(InvalidValue, match="above max"):
        fit("Vehicle.Chassis.Accelerator.PedalPosition", 101.0)
    with pytest.raises(InvalidValue):
        fit("Vehicle.Chassis.Accelerator.PedalPosition", float("nan"))
    with pytest.raises(ValueError, match="not a scalar"):
        vss_converter(catalog["Vehicle.Cabin"])


@settings(deadline=None)
@given(
    raw=st.integers(min_value=0, max_value=2**16 - 1),
    scale=st.sampled_from([0.01, 0.1, 0.5, 2.0, 0.0625]),
    offset=st.sampled_from([0.0, -40.0, 10.0, -273.15]),
)
def test_scale_offset_round_trip(raw: int, scale: float, offset: float) -> None:
    """A KUKSA-style forward/backward pair of math transforms gives the value back."""
    forward = parse_transform({"math": f"x * {scale} + ({offset})"})
    backward = parse_transform({"math": f"(x - ({offset})) / {scale}"})
    assert forward is not None and backward is not None
    assert backward(forward(raw)) == pytest.approx(raw, abs=1e-6)


@settings(deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=20, unique=True),
    numbers=st.lists(st.integers(min_value=-128, max_value=127), min_size=20, unique=True),
)
def test_one_to_one_value_maps_invert(names: list[str], numbers: list[int]) -> None:
    """A dbc2vss value map and its vss2dbc mirror give every value back."""
    pairs = list(zip(names, numbers, strict=False))
    to_vss = ValueMap(pairs)
    to_dbc = ValueMap([(number, name) for name, number in pairs])
    for name, number in pairs:
        assert to_vss(NamedSignalValue(number, name)) == number
        assert to_dbc(to_vss(name)) == name
        assert to_vss(to_dbc(number)) == number
