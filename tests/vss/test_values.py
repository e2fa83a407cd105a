"""Value validation for every VSS datatype, property-based."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carmesh.errors import InvalidValue
from carmesh.vss import DataType, Node, NodeType, parse_text, validate
from carmesh.vss.model import FLOAT32_MAX, INTEGER_RANGES

INT_TYPES = [DataType(name) for name in INTEGER_RANGES]


def node(datatype: DataType, **meta: Any) -> Node:
    return Node(
        id=1, path="Vehicle.Test", type=NodeType.SENSOR, description="", datatype=datatype, **meta
    )


def _scalar_values(dtype: DataType) -> st.SearchStrategy[Any]:
    if dtype.is_integer:
        lo, hi = INTEGER_RANGES[dtype.value]
        return st.integers(lo, hi)
    if dtype is DataType.FLOAT:
        return st.floats(-FLOAT32_MAX, FLOAT32_MAX, allow_nan=False, width=32)
    if dtype is DataType.DOUBLE:
        return st.floats(allow_nan=False, allow_infinity=False)
    if dtype is DataType.BOOLEAN:
        return st.booleans()
    return st.text()


def _valid(dtype: DataType) -> st.SearchStrategy[Any]:
    scalar = _scalar_values(dtype.element)
    return st.lists(scalar, max_size=8) if dtype.is_array else scalar


@given(st.sampled_from(list(DataType)).flatmap(lambda t: st.tuples(st.just(t), _valid(t))))
def test_valid_values_are_accepted_unchanged(case: tuple[DataType, Any]) -> None:
    dtype, value = case
    assert validate(node(dtype), value) == value


@given(st.sampled_from(INT_TYPES), st.data())
def test_integers_outside_their_width_are_refused(dtype: DataType, data: st.DataObject) -> None:
    lo, hi = INTEGER_RANGES[dtype.value]
    value = data.draw(st.one_of(st.integers(max_value=lo - 1), st.integers(min_value=hi + 1)))
    with pytest.raises(InvalidValue) as caught:
        validate(node(dtype), value)
    assert caught.value.path == "Vehicle.Test"
    assert dtype.value in caught.value.expected
    assert str(value)[:20] in caught.value.got


WRONG_KIND: dict[str, st.SearchStrategy[Any]] = {
    "integer": st.one_of(st.booleans(), st.floats(), st.text(), st.lists(st.integers())),
    "float": st.one_of(st.booleans(), st.text(), st.none(), st.lists(st.floats())),
    "boolean": st.one_of(st.integers(), st.floats(), st.text(), st.none()),
    "string": st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.binary()),
}


def _kind(dtype: DataType) -> str:
    if dtype.is_integer:
        return "integer"
    if dtype.is_float:
        return "float"
    return dtype.element.value


@given(st.sampled_from([t for t in DataType if not t.is_array]), st.data())
def test_wrong_kinds_are_refused(dtype: DataType, data: st.DataObject) -> None:
    value = data.draw(WRONG_KIND[_kind(dtype)])
    with pytest.raises(InvalidValue, match=r"Vehicle\.Test expects"):
        validate(node(dtype), value)


@given(st.sampled_from([t for t in DataType if t.is_array]), st.data())
def test_arrays_check_each_element(dtype: DataType, data: st.DataObject) -> None:
    good = data.draw(st.lists(_scalar_values(dtype.element), max_size=4))
    bad = data.draw(WRONG_KIND[_kind(dtype)])
    position = data.draw(st.integers(0, len(good)))
    with pytest.raises(InvalidValue):
        validate(node(dtype), [*good[:position], bad, *good[position:]])
    with pytest.raises(InvalidValue, match="expects"):
        validate(node(dtype), good[0] if good else "not a list")


def test_arrays_accept_tuples_and_return_lists() -> None:
    assert validate(node(DataType.UINT8_ARRAY), (1, 2, 3)) == [1, 2, 3]


@pytest.mark.parametrize("dtype", [DataType.FLOAT, DataType.DOUBLE])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused(dtype: DataType, bad: float) -> None:
    with pytest.raises(InvalidValue, match="finite"):
        validate(node(dtype), bad)


def test_float_must_fit_single_precision() -> None:
    with pytest.raises(InvalidValue, match="32-bit"):
        validate(node(DataType.FLOAT), 1e39)
    assert validate(node(DataType.DOUBLE), 1e39) == 1e39


def test_ints_widen_to_float() -> None:
    value = validate(node(DataType.FLOAT), 3)
    assert value == 3.0 and type(value) is float


@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(-2000, 2000))
def test_min_max(lo: int, span: int, value: int) -> None:
    hi = lo + abs(span)
    n = node(DataType.INT16, min=lo, max=hi)
    if lo <= value <= hi:
        assert validate(n, value) == value
    else:
        with pytest.raises(InvalidValue, match=r"below min|above max"):
            validate(n, value)


@given(st.lists(st.integers(0, 255), min_size=1, max_size=6, unique=True), st.integers(0, 255))
def test_allowed_values(allowed: list[int], value: int) -> None:
    n = node(DataType.UINT8, allowed=tuple(allowed))
    if value in allowed:
        assert validate(n, value) == value
    else:
        with pytest.raises(InvalidValue, match="not allowed"):
            validate(n, value)
    arr = node(DataType.UINT8_ARRAY, allowed=tuple(allowed))
    if value not in allowed:
        with pytest.raises(InvalidValue):
            validate(arr, [allowed[0], value])


def test_error_names_path_expected_and_got() -> None:
    with pytest.raises(InvalidValue) as caught:
        validate(node(DataType.UINT8, max=100), 150)
    assert str(caught.value) == "Vehicle.Test expects a value <= 100, got int 150 (above max)"


@given(
    st.sampled_from([t for t in DataType if not t.is_array]).flatmap(
        lambda t: st.tuples(st.just(t), _scalar_values(t))
    )
)
def test_parse_text_round_trips(case: tuple[DataType, Any]) -> None:
    dtype, value = case
    if dtype is DataType.BOOLEAN:
        text = str(value).lower()
    else:
        text = repr(value) if dtype.is_float else str(value)
    assert parse_text(node(dtype), text) == value


def test_parse_text_arrays_and_errors() -> None:
    assert parse_text(node(DataType.INT8_ARRAY), "[1, -2, 3]") == [1, -2, 3]
    assert parse_text(node(DataType.STRING_ARRAY), '["a", "b"]') == ["a", "b"]
    with pytest.raises(InvalidValue, match="JSON array"):
        parse_text(node(DataType.INT8_ARRAY), "1,2")
    with pytest.raises(InvalidValue, match="boolean"):
        parse_text(node(DataType.BOOLEAN), "maybe")
    with pytest.raises(InvalidValue, match="uint8"):
        parse_text(node(DataType.UINT8), "fast")
