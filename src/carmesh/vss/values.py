"""Convert and check values against a node's datatype and constraints.

Two entry points:

- :func:`validate` takes a Python value from code or a typed wire format (protobuf, JSON) and
  returns it in canonical form, or raises :class:`InvalidValue` naming path, expected and got.
  It is strict about kinds: a ``bool`` is not an integer, a float is not an integer, an ``int``
  is accepted for ``float``/``double`` (and returned as ``float``), a list/tuple for arrays.
- :func:`parse_text` turns user-typed text (CLI, query strings) into a value first.

Policy: floats must be finite (NaN and infinities are refused), ``float`` values must fit in
IEEE single precision, integers must fit their width, and ``min``/``max``/``allowed`` apply to
every element of an array.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from carmesh.errors import InvalidValue
from carmesh.vss.model import FLOAT32_MAX, INTEGER_RANGES, DataType, Node


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _fail(node: Node, expected: str, value: Any, why: str = "") -> InvalidValue:
    got = _describe(value)
    reason = f" ({why})" if why else ""
    return InvalidValue(
        f"{node.path} expects {expected}, got {got}{reason}",
        path=node.path,
        expected=expected,
        got=got,
    )


def _scalar_checker(node: Node, dtype: DataType) -> Callable[[Any], Any]:
    """Build a function converting one scalar for *node* (element type *dtype*)."""
    name = dtype.value
    if name in INTEGER_RANGES:
        lo, hi = INTEGER_RANGES[name]

        def check_int(v: Any) -> Any:
            if type(v) is not int:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise _fail(node, name, v)
                v = int(v)
            if not lo <= v <= hi:
                raise _fail(node, name, v, f"outside {lo}..{hi}")
            return v

        return check_int
    if dtype is DataType.FLOAT or dtype is DataType.DOUBLE:
        limit = FLOAT32_MAX if dtype is DataType.FLOAT else math.inf

        def check_float(v: Any) -> Any:
            if type(v) is not float:
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise _fail(node, name, v)
                v = float(v)
            if not math.isfinite(v):
                raise _fail(node, name, v, "not a finite number")
            if abs(v) > limit:
                raise _fail(node, name, v, "outside the range of a 32-bit float")
            return v

        return check_float
    if dtype is DataType.BOOLEAN:

        def check_bool(v: Any) -> Any:
            if not isinstance(v, bool):
                raise _fail(node, name, v)
            return v

        return check_bool

    def check_str(v: Any) -> Any:
        if not isinstance(v, str):
            raise _fail(node, name, v)
        return v

    return check_str


def _constrained(node: Node, convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    lo, hi, allowed = node.min, node.max, node.allowed
    if lo is None and hi is None and allowed is None:
        return convert
    allowed_set = frozenset(allowed) if allowed is not None else None

    def check(v: Any) -> Any:
        v = convert(v)
        if lo is not None and v < lo:
            raise _fail(node, f"a value >= {lo}", v, "below min")
        if hi is not None and v > hi:
            raise _fail(node, f"a value <= {hi}", v, "above max")
        if allowed_set is not None and v not in allowed_set:
            raise _fail(node, f"one of {list(allowed or ())}", v, "not allowed")
        return v

    return check


def make_validator(node: Node) -> Callable[[Any], Any]:
    """A function that validates values for *node*; built once per node and reused."""
    if node.datatype is None:

        def refuse(v: Any) -> Any:
            raise InvalidValue(f"{node.path} is a branch and holds no value", path=node.path)

        return refuse
    dtype = node.datatype
    element = _constrained(node, _scalar_checker(node, dtype.element))
    if not dtype.is_array:
        return element

    def check_array(v: Any) -> Any:
        if not isinstance(v, list | tuple):
            raise _fail(node, dtype.value, v)
        return [element(item) for item in v]

    return check_array


def validate(node: Node, value: Any) -> Any:
    """Return *value* converted for *node*, or raise :class:`InvalidValue`."""
    checker = node.checker
    if checker is None:
        checker = make_validator(node)
        object.__setattr__(node, "checker", checker)  # a cache on a frozen node
    return checker(value)


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _parse_scalar(node: Node, dtype: DataType, text: str) -> Any:
    raw = text.strip()
    if dtype is DataType.STRING:
        return text
    if dtype is DataType.BOOLEAN:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _fail(node, "boolean (true/false)", text)
    try:
        if dtype.is_integer:
            return int(raw, 0)
        return float(raw)
    except ValueError:
        raise _fail(node, dtype.value, text) from None


def parse_text(node: Node, text: str) -> Any:
    """Parse user-typed *text* for *node* and validate it.

    Arrays are written as JSON (``[1, 2, 3]``, ``["a", "b"]``).
    """
    if node.datatype is None:
        return validate(node, text)
    dtype = node.datatype
    if dtype.is_array:
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise _fail(node, f"{dtype.value} as a JSON array", text) from None
        if not isinstance(items, list):
            raise _fail(node, f"{dtype.value} as a JSON array", text)
        element = dtype.element
        parsed = [
            _parse_scalar(node, element, item)
            if isinstance(item, str) and element is not DataType.STRING
            else item
            for item in items
        ]
        return validate(node, parsed)
    return validate(node, _parse_scalar(node, dtype, text))
