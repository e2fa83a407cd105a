"""Checking ``sdv.databroker.v1`` queries against the catalog, and running them.

:func:`compile_query` checks a parsed :class:`~carmesh.api.grpc.sdv_query.Query`: every path a
signal, conditions where conditions belong, comparisons between things that can be compared,
numeric literals that fit the signal they are compared with (a literal takes the type of the
other side, as in the databroker's compiler). :class:`Evaluation` then runs the query over the
updates of its signals and says what to send. Problems are
:class:`~carmesh.errors.InvalidArgument` naming the query's fault.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from carmesh.api.grpc.sdv_query import (
    Between,
    Boolean,
    Compare,
    Expr,
    Lag,
    Not,
    Number,
    Path,
    Query,
    String,
    parse,
)
from carmesh.broker import Datapoint
from carmesh.errors import InvalidArgument
from carmesh.vss.model import INTEGER_RANGES, DataType, Node


class Unavailable(Exception):
    """A signal in an expression has no value (yet); the expression has none either."""


class Values(NamedTuple):
    """What an evaluation sees: the newest datapoint of each signal, and the values at the
    previous evaluation (for ``LAG``)."""

    current: Mapping[str, Datapoint]
    previous: Mapping[str, Any]


Evaluator = Callable[[Values], Any]


class _Typed(NamedTuple):
    """A compiled expression: how to evaluate it and the type of what it yields."""

    run: Evaluator
    kind: str  # "bool", "number", "string", "array" or "literal" (an unresolved number)
    datatype: DataType | None  # the VSS type of the result, when known
    literal: Number | None = None


def _kind(datatype: DataType) -> str:
    if datatype.is_array:
        return "array"
    if datatype.is_numeric:
        return "number"
    return "bool" if datatype is DataType.BOOLEAN else "string"


def _number(literal: Number, datatype: DataType | None) -> int | float:
    """The value of *literal* as *datatype* (its own best type when None)."""
    text = literal.text
    is_integer = re.fullmatch(r"-?\d+", text) is not None
    if datatype is None:
        return int(text) if is_integer else float(text)
    if datatype.is_integer:
        lo, hi = INTEGER_RANGES[datatype.element.value]
        if not is_integer or not lo <= int(text) <= hi:
            raise InvalidArgument(
                f"{text} cannot be compared with a {datatype.element.value} signal: "
                f"use a whole number in {lo}..{hi}"
            )
        return int(text)
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise InvalidArgument(f"{text} is too large to compare with a {datatype.value} signal")
    return value


def _constant(value: Any) -> Evaluator:
    return lambda values: value


_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class _Compiler:
    def __init__(self, lookup: Callable[[str], Node | None]) -> None:
        self.lookup = lookup
        self.paths: dict[str, Node] = {}
        self.lagged: dict[str, None] = {}

    def signal(self, path: str) -> Node:
        node = self.lookup(path)
        if node is None:
            raise InvalidArgument(f"the query names {path}, which is not a signal", path=path)
        if node.datatype is None:
            raise InvalidArgument(
                f"the query names {path}, which is a branch; name its signals instead",
                path=path,
            )
        self.paths.setdefault(path, node)
        return node

    def typed(self, expr: Expr) -> _Typed:
        if isinstance(expr, Path):
            node = self.signal(expr.path)
            assert node.datatype is not None
            return _Typed(_current(expr.path), _kind(node.datatype), node.datatype)
        if isinstance(expr, Lag):
            node = self.signal(expr.path)
            assert node.datatype is not None
            self.lagged.setdefault(expr.path)
            return _Typed(_previous(expr.path), _kind(node.datatype), node.datatype)
        if isinstance(expr, Number):
            return _Typed(_constant(_number(expr, None)), "literal", None, expr)
        if isinstance(expr, String):
            return _Typed(_constant(expr.value), "string", DataType.STRING)
        if isinstance(expr, Boolean):
            return _Typed(_constant(expr.value), "bool", DataType.BOOLEAN)
        if isinstance(expr, Compare):
            return self.compare(expr)
        if isinstance(expr, Between):
            return self.between(expr)
        if isinstance(expr, Not):
            inner = self.condition(expr.operand, "NOT")
            return _Typed(lambda values: not inner(values), "bool", DataType.BOOLEAN)
        operands = tuple(self.condition(o, expr.op) for o in expr.operands)
        combine = all if expr.op == "AND" else any
        # Every operand is evaluated (no short cut): a missing value anywhere leaves the
        # whole condition without a value, as in the databroker.
        return _Typed(
            lambda values: combine([o(values) for o in operands]), "bool", DataType.BOOLEAN
        )

    def condition(self, expr: Expr, where: str) -> Evaluator:
        typed = self.typed(expr)
        if typed.kind != "bool":
            raise InvalidArgument(f"{where} needs a condition, but {expr} is not one")
        return typed.run

    def pair(self, left: Expr, right: Expr, context: str) -> tuple[Evaluator, Evaluator, str]:
        a, b = self.typed(left), self.typed(right)
        if a.literal is not None and b.literal is not None:
            return a.run, b.run, "number"
        if a.literal is not None or b.literal is not None:
            literal, other = (a, b) if a.literal is not None else (b, a)
            assert literal.literal is not None
            if other.kind != "number":
                raise InvalidArgument(f"{context}: cannot compare a number with {other.kind}")
            resolved = _constant(_number(literal.literal, other.datatype))
            return (resolved, b.run, "number") if a is literal else (a.run, resolved, "number")
        if a.kind != b.kind:
            raise InvalidArgument(f"{context}: cannot compare {a.kind} with {b.kind}")
        if a.kind == "array":
            raise InvalidArgument(f"{context}: arrays cannot be compared")
        return a.run, b.run, a.kind

    def compare(self, expr: Compare) -> _Typed:
        left, right, kind = self.pair(expr.left, expr.right, f"in {expr}")
        if kind in ("bool", "string") and expr.op not in ("=", "!="):
            raise InvalidArgument(f"in {expr}: {kind} values can only be compared with = or !=")
        test = _ORDER[expr.op]
        return _Typed(
            lambda values: bool(test(left(values), right(values))), "bool", DataType.BOOLEAN
        )

    def between(self, expr: Between) -> _Typed:
        operand, low, kind = self.pair(expr.operand, expr.low, f"in {expr}")
        _, high, kind_high = self.pair(expr.operand, expr.high, f"in {expr}")
        if kind != "number" or kind_high != "number":
            raise InvalidArgument(f"in {expr}: BETWEEN needs numbers")
        negated = expr.negated

        def run(values: Values) -> bool:
            x, lo, hi = operand(values), low(values), high(values)
            return bool(lo <= x <= hi) != negated

        return _Typed(run, "bool", DataType.BOOLEAN)


def _current(path: str) -> Evaluator:
    def run(values: Values) -> Any:
        dp = values.current.get(path)
        if dp is None:
            raise Unavailable(path)
        return dp.value

    return run


def _previous(path: str) -> Evaluator:
    def run(values: Values) -> Any:
        value = values.previous.get(path)
        if value is None:
            raise Unavailable(path)
        return value

    return run


class Field(NamedTuple):
    """One field of a response: its name, its VSS type, and its datapoint (None when the
    signal has no value yet)."""

    name: str
    datatype: DataType
    datapoint: Datapoint | None


@dataclass(frozen=True)
class _Projection:
    name: str
    datatype: DataType
    run: Evaluator
    path: str | None  # the signal, for a bare path (its own timestamp is sent)


@dataclass(frozen=True)
class CompiledQuery:
    """A query checked against the catalog, ready to run with :class:`Evaluation`."""

    query: Query
    #: Every signal the query reads (select items and condition), in order of appearance.
    paths: tuple[str, ...]
    lagged: tuple[str, ...]
    projection: tuple[_Projection, ...]
    condition: Evaluator | None


def compile_query(query: Query, lookup: Callable[[str], Node | None]) -> CompiledQuery:
    """Check *query* against the catalog (*lookup* finds a node by path, None when unknown).

    Response fields are named by their alias, by their path for a bare signal, and
    ``field_N`` (N = position from 0) otherwise, as the databroker names them.
    """
    compiler = _Compiler(lookup)
    projection = []
    for index, item in enumerate(query.items):
        typed = compiler.typed(item.expr)
        if typed.kind == "literal":
            assert typed.literal is not None
            value = _number(typed.literal, None)
            datatype = DataType.INT64 if isinstance(value, int) else DataType.DOUBLE
            if isinstance(value, int):
                _number(typed.literal, datatype)  # must fit the int64 it is sent in
        else:
            assert typed.datatype is not None
            datatype = typed.datatype
        path = item.expr.path if isinstance(item.expr, Path) else None
        name = item.alias or path or f"field_{index}"
        projection.append(_Projection(name, datatype, typed.run, path))
    condition = None
    if query.where is not None:
        condition = compiler.condition(query.where, "WHERE")
    if not compiler.paths:
        raise InvalidArgument("the query names no signal; write e.g. 'SELECT Vehicle.Speed'")
    return CompiledQuery(
        query, tuple(compiler.paths), tuple(compiler.lagged), tuple(projection), condition
    )


def compile_text(text: str, lookup: Callable[[str], Node | None]) -> CompiledQuery:
    """:func:`parse` then :func:`compile_query`."""
    return compile_query(parse(text), lookup)


# -- evaluation ----------------------------------------------------------------------------


class Evaluation:
    """Runs a compiled query over the updates of its signals.

    Feed every update (the current values first) to :meth:`update`; it returns the fields to
    send, or None when nothing is to be sent: the condition is false, or it or a computed
    field needs a signal that has no value yet. A bare signal without a value is sent as
    "not available". ``LAG(x)`` is x as of the previous evaluation (x itself at the first).
    """

    def __init__(self, query: CompiledQuery) -> None:
        self.query = query
        self.current: dict[str, Datapoint] = {}
        self.previous: dict[str, Any] | None = None

    def update(self, batch: Mapping[str, Datapoint]) -> list[Field] | None:
        self.current.update(batch)
        lagged = self.query.lagged
        if self.previous is None:
            self.previous = {p: self.current[p].value for p in lagged if p in self.current}
        values = Values(self.current, self.previous)
        try:
            return self._run(values)
        finally:
            self.previous = {p: self.current[p].value for p in lagged if p in self.current}

    def _run(self, values: Values) -> list[Field] | None:
        try:
            if self.query.condition is not None and not self.query.condition(values):
                return None
        except Unavailable:
            return None
        fields = []
        now: int | None = None
        for item in self.query.projection:
            if item.path is not None:
                fields.append(Field(item.name, item.datatype, values.current.get(item.path)))
                continue
            try:
                value = item.run(values)
            except Unavailable:
                return None
            if now is None:
                now = time.time_ns()
            fields.append(Field(item.name, item.datatype, Datapoint(value, now)))
        return fields
