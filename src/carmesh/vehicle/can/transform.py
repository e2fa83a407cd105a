"""Value transforms between DBC signal values and VSS values, in both directions.

A mapping entry's ``transform`` is either ``math`` (an expression of ``x``, see
:mod:`carmesh.vehicle.can.expression`) or ``mapping`` (a list of ``{from, to}`` pairs, e.g. gear
enums); without one, values pass through as they are. DBC values arrive already scaled by the
DBC (``factor``/``offset``); signals with a value table (``VAL_``) arrive as their choice
(:class:`cantools.database.namedsignalvalue.NamedSignalValue`: a name and a number).

After the transform, :func:`vss_converter` fits the value to the VSS node's datatype the way
the DBC world means it: a choice becomes its name for a ``string`` signal and its number
otherwise, 0/1 become ``False``/``True`` for a ``boolean`` one, and a number becomes the nearest
integer for an integer one (write ``floor(x)`` to truncate instead). The broker's own checks
(type, range, ``allowed``) still apply afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cantools.database.namedsignalvalue import NamedSignalValue

from carmesh.vehicle.can.expression import Expression, ExpressionError, compile_expression
from carmesh.vss.model import DataType, Node

__all__ = [
    "MathTransform",
    "NoMatch",
    "Transform",
    "TransformSpecError",
    "ValueMap",
    "dbc_number",
    "parse_transform",
    "vss_converter",
]


class NoMatch(ValueError):
    """A value the transform has no answer for (not in a value map, or the math failed)."""


class TransformSpecError(ValueError):
    """A ``transform`` entry that cannot be used; the message says what is wrong."""


def dbc_number(value: Any) -> Any:
    """The number behind a DBC value (a choice's raw number, anything else unchanged)."""
    return value.value if isinstance(value, NamedSignalValue) else value


class Transform:
    """Turns one value into another; raises :class:`NoMatch` when it cannot."""

    def __call__(self, value: Any) -> Any:
        raise NotImplementedError


class MathTransform(Transform):
    """``math``: the expression applied to the value's number."""

    def __init__(self, expression: Expression) -> None:
        self.expression = expression

    def __call__(self, value: Any) -> Any:
        if isinstance(value, NamedSignalValue):
            value = value.value
        try:
            return self.expression(value)
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise NoMatch(f"{self.expression.text} fails for x = {value!r}: {exc}") from None

    def __repr__(self) -> str:
        return f"MathTransform({self.expression.text!r})"


class ValueMap(Transform):
    """``mapping``: the ``to`` of the first pair whose ``from`` equals the value.

    A DBC choice matches a ``from`` equal to its name or to its number; numbers match
    numerically (``1`` matches ``1.0``). As in YAML and JSON, ``true``/``false`` are not the
    same as ``1``/``0`` for matching a VSS boolean.
    """

    def __init__(self, pairs: Sequence[tuple[Any, Any]]) -> None:
        self.pairs = tuple(pairs)
        self._table: dict[tuple[bool, Any], Any] = {}
        for source, target in self.pairs:
            self._table.setdefault(self._key(source), target)

    @staticmethod
    def _key(value: Any) -> tuple[bool, Any]:
        return (isinstance(value, bool), value)

    def __call__(self, value: Any) -> Any:
        table = self._table
        if isinstance(value, NamedSignalValue):
            key: tuple[bool, Any] = (False, value.name)
            if key in table:
                return table[key]
            value = value.value
        key = (value.__class__ is bool, value)
        try:
            return table[key]
        except KeyError:
            raise NoMatch(f"no 'from' entry matches {value!r}") from None
        except TypeError:
            raise NoMatch(f"{value!r} cannot be looked up") from None

    def __repr__(self) -> str:
        return f"ValueMap({list(self.pairs)!r})"


def parse_transform(spec: Any) -> Transform | None:
    """Build the transform a mapping entry's ``transform`` value describes (None: none)."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise TransformSpecError("'transform' must be a mapping with 'math' or 'mapping'")
    keys = set(spec) - {"math", "mapping"}
    if keys:
        raise TransformSpecError(
            f"'transform' has unknown key(s) {', '.join(sorted(map(str, keys)))}; "
            "use 'math' or 'mapping'"
        )
    if "math" in spec and "mapping" in spec:
        raise TransformSpecError("'transform' can have 'math' or 'mapping', not both")
    if "math" in spec:
        text = spec["math"]
        if not isinstance(text, str):
            raise TransformSpecError("'math' must be an expression in quotes, e.g. \"x * 3.6\"")
        try:
            return MathTransform(compile_expression(text))
        except ExpressionError as exc:
            raise TransformSpecError(f"'math': {exc}") from None
    if "mapping" in spec:
        items = spec["mapping"]
        if not isinstance(items, list) or not items:
            raise TransformSpecError("'mapping' must be a non-empty list of {from, to} pairs")
        pairs: list[tuple[Any, Any]] = []
        for number, item in enumerate(items, start=1):
            if not isinstance(item, Mapping) or "from" not in item or "to" not in item:
                raise TransformSpecError(f"'mapping' item {number} needs both 'from' and 'to'")
            for key in ("from", "to"):
                if not isinstance(item[key], str | int | float | bool):
                    raise TransformSpecError(
                        f"'mapping' item {number}: {key!r} must be a number, text or boolean"
                    )
            pairs.append((item["from"], item["to"]))
        return ValueMap(pairs)
    raise TransformSpecError("'transform' needs 'math' or 'mapping'")


def vss_converter(node: Node) -> Callable[[Any], Any]:
    """A function fitting a (transformed) DBC value to *node*'s datatype.

    The value may still be a DBC choice (when there was no transform). A value with no
    such form is returned unchanged, for the broker's validator (which also checks range and
    ``allowed``) to refuse. Raises ``ValueError`` for array and branch nodes.
    """
    dtype = node.datatype
    if dtype is None or dtype.is_array:
        raise ValueError(f"{node.path} is not a scalar signal")
    if dtype is DataType.STRING:

        def to_string(value: Any) -> Any:
            if isinstance(value, NamedSignalValue):
                return value.name
            return value

        return to_string
    if dtype is DataType.BOOLEAN:

        def to_boolean(value: Any) -> Any:
            if isinstance(value, NamedSignalValue):
                value = value.value
            if value.__class__ is bool:
                return value
            if isinstance(value, int | float) and value in (0, 1):
                return bool(value)
            return value

        return to_boolean
    if dtype.is_integer:

        def to_integer(value: Any) -> Any:
            cls = value.__class__
            if cls is int:
                return value
            if cls is float:
                if value != value or value in (float("inf"), float("-inf")):
                    return value
                return round(value)
            if isinstance(value, NamedSignalValue):
                return value.value
            return value

        return to_integer

    def to_float(value: Any) -> Any:
        if isinstance(value, NamedSignalValue):
            return value.value
        return value

    return to_float
