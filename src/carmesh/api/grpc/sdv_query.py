"""The query language of ``sdv.databroker.v1`` ``Subscribe``: a small subset of SQL.

A query names the signals (or conditions) to send and, optionally, when to send them::

    SELECT Vehicle.Cabin.Seat.Row1.DriverSide.Position WHERE Vehicle.Speed > 0
    SELECT Vehicle.Speed AS speed, (Vehicle.Speed = 0) AS standing
    SELECT Vehicle.Speed WHERE Vehicle.Speed <> LAG(Vehicle.Speed) AND NOT Vehicle.IsMoving

This is the language of the Eclipse KUKSA databroker before it dropped the API (its
``doc/QUERY.md``): select items are expressions with an optional ``AS`` name; conditions compare
signals with literals or other signals (``=``, ``!=``/``<>``, ``<``, ``<=``, ``>``, ``>=``,
``[NOT] BETWEEN … AND …``) and combine with ``AND``, ``OR``, ``NOT`` and parentheses;
``LAG(path)`` is a signal's value at the previous evaluation. Keywords are case-insensitive;
literals are numbers, ``'single-quoted strings'`` (``''`` escapes a quote), ``TRUE``/``FALSE``;
a path that is not a plain dotted name may be written in double quotes.

This module is the syntax: :func:`parse` turns text into a :class:`Query` and ``str(query)``
renders it back. :mod:`carmesh.api.grpc.sdv_query_eval` checks a query against the catalog and
runs it. Every problem with a query is an :class:`~carmesh.errors.InvalidArgument` naming what is
wrong and where; nothing else escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

from carmesh.errors import InvalidArgument

#: Longest query accepted, in characters, and deepest nesting of parentheses and NOTs.
MAX_LENGTH = 65_536
MAX_DEPTH = 64

KEYWORDS = frozenset(
    {"SELECT", "WHERE", "AND", "OR", "NOT", "AS", "BETWEEN", "TRUE", "FALSE", "LAG"}
)
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")

# -- syntax tree ---------------------------------------------------------------------------

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")


_PLAIN_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _name(text: str, plain: re.Pattern[str] = _PLAIN_NAME) -> str:
    """A path (or alias) as written in a query: bare when it can be, else double-quoted."""
    if plain.fullmatch(text) and text.upper() not in KEYWORDS:
        return text
    return '"' + text.replace('"', '""') + '"'


@dataclass(frozen=True)
class Path:
    """A signal, by its VSS path."""

    path: str

    def __str__(self) -> str:
        return _name(self.path)


@dataclass(frozen=True)
class Lag:
    """``LAG(path)``: the signal's value when the query was last evaluated."""

    path: str

    def __str__(self) -> str:
        return f"LAG({_name(self.path)})"


@dataclass(frozen=True)
class Number:
    """A numeric literal, kept as written: its type is settled by what it is compared with."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class String:
    value: str

    def __str__(self) -> str:
        return "'" + self.value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Boolean:
    value: bool

    def __str__(self) -> str:
        return "TRUE" if self.value else "FALSE"


@dataclass(frozen=True)
class Compare:
    """``left op right`` with *op* one of :data:`COMPARISONS`."""

    op: str
    left: Expr
    right: Expr

    def __str__(self) -> str:
        return f"{_operand(self.left)} {self.op} {_operand(self.right)}"


@dataclass(frozen=True)
class Between:
    operand: Expr
    low: Expr
    high: Expr
    negated: bool = False

    def __str__(self) -> str:
        word = "NOT BETWEEN" if self.negated else "BETWEEN"
        return f"{_operand(self.operand)} {word} {_operand(self.low)} AND {_operand(self.high)}"


@dataclass(frozen=True)
class Not:
    operand: Expr

    def __str__(self) -> str:
        return f"NOT {_operand(self.operand)}"


@dataclass(frozen=True)
class Logic:
    """``a AND b AND …`` or ``a OR b OR …`` (two or more operands)."""

    op: str
    operands: tuple[Expr, ...]

    def __str__(self) -> str:
        return f" {self.op} ".join(_operand(o) for o in self.operands)


Expr: TypeAlias = Path | Lag | Number | String | Boolean | Compare | Between | Not | Logic


def _operand(expr: Expr) -> str:
    """Render *expr* where it is part of a larger expression (parenthesised when compound)."""
    if isinstance(expr, Compare | Between | Not | Logic):
        return f"({expr})"
    return str(expr)


@dataclass(frozen=True)
class Item:
    """One select item and the name it is sent under (``AS``)."""

    expr: Expr
    alias: str | None = None

    def __str__(self) -> str:
        text = str(self.expr)
        return text if self.alias is None else f"{text} AS {_name(self.alias, _PLAIN_ALIAS)}"


@dataclass(frozen=True)
class Query:
    items: tuple[Item, ...]
    where: Expr | None = None

    def __str__(self) -> str:
        text = "SELECT " + ", ".join(str(i) for i in self.items)
        return text if self.where is None else f"{text} WHERE {self.where}"


# -- parsing -------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # "name", "quoted", "keyword", "number", "string", "op", "end"
    text: str
    pos: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+|--[^\n]*)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?![A-Za-z0-9_.])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)(?![A-Za-z0-9_.])
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<string>'(?:[^']|'')*')
  | (?P<op><>|!=|==|<=|>=|[=<>(),;-])
    """,
    re.VERBOSE,
)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the query"
    text = token.text if len(token.text) <= 40 else token.text[:37] + "..."
    return repr(text)


def _fail(token: _Token, expected: str) -> InvalidArgument:
    return InvalidArgument(
        f"invalid query at character {token.pos + 1}: expected {expected}, found {_describe(token)}"
    )


def _tokens(text: str) -> Iterator[_Token]:
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            where = f"invalid query at character {pos + 1}"
            if char in "\"'":
                what = "string" if char == "'" else "quoted name"
                raise InvalidArgument(f"{where}: the {what} is not closed")
            if char == "*":
                raise InvalidArgument(f"{where}: wildcards are not supported; name each signal")
            if char.isalnum() or char in "_.":
                raise InvalidArgument(
                    f"{where}: malformed name or number (paths are Dotted.Names; quote "
                    'others in double quotes, e.g. "Vehicle.My-Signal")'
                )
            raise InvalidArgument(f"{where}: unexpected character {char!r}")
        kind = match.lastgroup
        assert kind is not None
        value = match.group()
        if kind == "name" and value.upper() in KEYWORDS:
            yield _Token("keyword", value.upper(), pos)
        elif kind != "space":
            yield _Token(kind, value, pos)
        pos = match.end()
    yield _Token("end", "", pos)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def accept(self, kind: str, text: str | None = None) -> _Token | None:
        token = self.token
        if token.kind == kind and (text is None or token.text == text):
            return self.advance()
        return None

    def expect(self, kind: str, text: str, expected: str) -> _Token:
        token = self.accept(kind, text)
        if token is None:
            raise _fail(self.token, expected)
        return token

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidArgument(
                f"invalid query at character {self.token.pos + 1}: nested more than "
                f"{MAX_DEPTH} levels deep"
            )

    def query(self) -> Query:
        self.expect("keyword", "SELECT", "SELECT")
        items = [self.item()]
        while self.accept("op", ","):
            items.append(self.item())
        where = self.expression() if self.accept("keyword", "WHERE") else None
        self.accept("op", ";")
        if self.token.kind != "end":
            expected = "',', WHERE" if where is None else "AND, OR"
            raise _fail(self.token, f"{expected} or the end of the query")
        return Query(tuple(items), where)

    def item(self) -> Item:
        expr = self.expression()
        if not self.accept("keyword", "AS"):
            return Item(expr)
        token = self.advance()
        if token.kind == "name" and "." not in token.text:
            return Item(expr, token.text)
        if token.kind == "quoted":
            return Item(expr, self.unquote(token))
        raise _fail(token, "a name after AS")

    def unquote(self, token: _Token) -> str:
        text = token.text[1:-1].replace('""', '"')
        if not text:
            raise InvalidArgument(f"invalid query at character {token.pos + 1}: empty name")
        return text

    def expression(self) -> Expr:
        operands = [self.conjunction()]
        while self.accept("keyword", "OR"):
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Logic("OR", tuple(operands))

    def conjunction(self) -> Expr:
        operands = [self.negation()]
        while self.accept("keyword", "AND"):
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else Logic("AND", tuple(operands))

    def negation(self) -> Expr:
        if self.accept("keyword", "NOT"):
            self.nest()
            operand = self.negation()
            self.depth -= 1
            return Not(operand)
        return self.predicate()

    def predicate(self) -> Expr:
        left = self.operand()
        token = self.token
        if token.kind == "op" and token.text in ("=", "==", "!=", "<>", "<", "<=", ">", ">="):
            self.advance()
            op = {"==": "=", "<>": "!="}.get(token.text, token.text)
            return Compare(op, left, self.operand())
        negated = False
        if token.kind == "keyword" and token.text == "NOT":
            following = self.tokens[self.index + 1]
            if following.kind == "keyword" and following.text == "BETWEEN":
                self.advance()
                negated = True
        if self.accept("keyword", "BETWEEN"):
            low = self.operand()
            self.expect("keyword", "AND", "AND (as in x BETWEEN low AND high)")
            return Between(left, low, self.operand(), negated)
        return left

    def operand(self) -> Expr:
        token = self.advance()
        if token.kind == "name":
            return Path(token.text)
        if token.kind == "quoted":
            return Path(self.unquote(token))
        if token.kind == "number":
            return Number(token.text)
        if token.kind == "string":
            return String(token.text[1:-1].replace("''", "'"))
        if token.kind == "op" and token.text == "-" and self.token.kind == "number":
            return Number("-" + self.advance().text)
        if token.kind == "keyword":
            if token.text in ("TRUE", "FALSE"):
                return Boolean(token.text == "TRUE")
            if token.text == "LAG":
                self.expect("op", "(", "'(' after LAG")
                inner = self.advance()
                if inner.kind not in ("name", "quoted"):
                    raise _fail(inner, "a signal path in LAG()")
                path = inner.text if inner.kind == "name" else self.unquote(inner)
                self.expect("op", ")", "')' to close LAG(")
                return Lag(path)
        if token.kind == "op" and token.text == "(":
            self.nest()
            inner_expr = self.expression()
            self.expect("op", ")", "')'")
            self.depth -= 1
            return inner_expr
        raise _fail(token, "a signal path, a literal or '('")


def parse(text: str) -> Query:
    """Parse a query; :class:`InvalidArgument` says where and what is wrong."""
    if len(text) > MAX_LENGTH:
        raise InvalidArgument(f"the query is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise InvalidArgument("the query is empty; write e.g. 'SELECT Vehicle.Speed'")
    return _Parser(text).query()
