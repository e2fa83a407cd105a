"""Arithmetic expressions of mapping transforms (``transform: {math: "..."}``).

An expression is parsed once into a tree of small Python functions; nothing in it is ever
handed to ``eval`` or ``exec``, so a mapping file cannot run code. The language is the part of
py-expression-eval that KUKSA CAN mappings use, so their formulas work unchanged:

- the value is ``x``; numbers are decimal (``3.6``, ``1e-3``); constants ``PI`` and ``E``,
  ``true`` and ``false``;
- ``+ - * / %``, power ``^`` (also ``**``; binds tighter than a leading minus, right to
  left: ``-3^2`` is -9, ``2^3^2`` is 512), parentheses;
- comparisons ``== != < <= > >=`` give a boolean (``x > 0`` maps a current to *is charging*),
  ``and``, ``or``, ``not``;
- functions ``abs ceil floor round trunc sqrt exp log log10 sin cos tan asin acos atan
  atan2 hypot pow min max clamp if``; ``log(x)`` is natural, ``log(x, b)`` to base *b*,
  ``round(x, n)`` rounds to *n* decimals (half to even, as Python does),
  ``clamp(x, lo, hi)`` limits to a range, ``if(c, a, b)`` evaluates only the branch taken.

Powers are computed in floating point, so a formula cannot build huge integers. Evaluating
raises ``ArithmeticError`` (division by zero, overflow), ``ValueError`` (``sqrt(-1)``) or
``TypeError``; the callers count that as a value that could not be transformed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

__all__ = ["Expression", "ExpressionError", "compile_expression"]

#: Longest accepted expression and deepest nesting, so a bad file cannot exhaust the stack.
MAX_LENGTH = 1000
MAX_DEPTH = 50

Evaluator = Callable[[Any], Any]


class ExpressionError(ValueError):
    """An expression that cannot be compiled; the message names the position."""


_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\*\*|==|!=|<=|>=|[-+*/%^(),<>])"
    r")"
)

_CONSTANTS: dict[str, Any] = {"PI": math.pi, "E": math.e, "true": True, "false": False}


def _power(a: Any, b: Any) -> float:
    return math.pow(a, b)


def _round(value: Any, digits: Any = 0) -> Any:
    if digits == 0:
        return round(value)
    return round(value, int(digits))


def _log(value: Any, base: Any = None) -> float:
    return math.log(value) if base is None else math.log(value, base)


def _clamp(value: Any, low: Any, high: Any) -> Any:
    return low if value < low else high if value > high else value


#: name -> (function, least and most arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "abs": (abs, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "floor": (math.floor, 1, 1),
    "trunc": (math.trunc, 1, 1),
    "round": (_round, 1, 2),
    "sqrt": (math.sqrt, 1, 1),
    "exp": (math.exp, 1, 1),
    "log": (_log, 1, 2),
    "log10": (math.log10, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "asin": (math.asin, 1, 1),
    "acos": (math.acos, 1, 1),
    "atan": (math.atan, 1, 1),
    "atan2": (math.atan2, 2, 2),
    "hypot": (math.hypot, 2, 2),
    "pow": (_power, 2, 2),
    "min": (min, 1, 32),
    "max": (max, 1, 32),
    "clamp": (_clamp, 3, 3),
}

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "%": lambda a, b: a % b,
    "^": _power,
    "**": _power,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}

#: Binding power of infix operators (higher binds tighter).
_INFIX: dict[str, int] = {
    "or": 1,
    "and": 2,
    "==": 4,
    "!=": 4,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
    "^": 8,
    "**": 8,
}
_NOT_POWER = 3
_UNARY_POWER = 7


class _Node:
    """A compiled subtree: its evaluator and, when it does not depend on ``x``, its value."""

    __slots__ = ("constant", "evaluate", "value")

    def __init__(self, evaluate: Evaluator, constant: bool = False, value: Any = None) -> None:
        self.evaluate = evaluate
        self.constant = constant
        self.value = value


def _const(value: Any) -> _Node:
    return _Node(lambda x: value, True, value)


class _Parser:
    def __init__(self, text: str, variable: str) -> None:
        self.text = text
        self.variable = variable
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise self.error(f"unexpected character {text[pos]!r}", pos)
            kind = match.lastgroup
            if kind is None:
                break
            self.tokens.append((kind, match.group(kind), match.start(kind)))
            pos = match.end()
        self.index = 0
        self.depth = 0

    def error(self, message: str, pos: int | None = None) -> ExpressionError:
        if pos is None:
            pos = self.tokens[self.index][2] if self.index < len(self.tokens) else len(self.text)
        return ExpressionError(f"{message} at position {pos + 1} of {self.text!r}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise self.error("unexpected end")
        self.index += 1
        return token

    def expect(self, symbol: str) -> None:
        token = self.peek()
        if token is None or token[1] != symbol:
            raise self.error(f"expected {symbol!r}")
        self.index += 1

    def parse(self) -> _Node:
        if not self.tokens:
            raise ExpressionError("the expression is empty")
        node = self.expression(0)
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def expression(self, min_power: int) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels")
        left = self.prefix()
        while True:
            token = self.peek()
            if token is None or token[0] == "number" or token[1] not in _INFIX:
                break
            symbol = token[1]
            power = _INFIX[symbol]
            if power <= min_power:
                break
            self.index += 1
            # '^' is right-associative: its right side may hold another '^' (and a sign)
            right = self.expression(power - 1 if symbol in ("^", "**") else power)
            left = self.infix(symbol, left, right)
        self.depth -= 1
        return left

    def prefix(self) -> _Node:
        kind, text, pos = self.take()
        if kind == "number":
            return _const(float(text) if any(c in text for c in ".eE") else int(text))
        if kind == "op":
            if text == "(":
                node = self.expression(0)
                self.expect(")")
                return node
            if text in ("-", "+"):
                operand = self.expression(_UNARY_POWER)
                if text == "+":
                    return operand
                return _fold(lambda v: -v, operand)
            raise self.error(f"unexpected {text!r}", pos)
        if text == "not":
            operand = self.expression(_NOT_POWER)
            return _fold(lambda v: not v, operand)
        if text == self.variable:
            return _Node(lambda x: x)
        if text in _CONSTANTS:
            return _const(_CONSTANTS[text])
        if text == "if" or text in _FUNCTIONS:
            return self.call(text, pos)
        raise self.error(f"unknown name {text!r} (the value is {self.variable!r})", pos)

    def call(self, name: str, pos: int) -> _Node:
        self.expect("(")
        args: list[_Node] = []
        if self.peek() is not None and self.peek()[1] == ")":  # type: ignore[index]
            self.index += 1
        else:
            while True:
                args.append(self.expression(0))
                token = self.take()
                if token[1] == ")":
                    break
                if token[1] != ",":
                    raise self.error("expected ',' or ')'", token[2])
        if name == "if":
            if len(args) != 3:
                raise self.error("if() takes 3 arguments: condition, then, else", pos)
            cond, then, other = (a.evaluate for a in args)
            return _Node(lambda x: then(x) if cond(x) else other(x))
        func, least, most = _FUNCTIONS[name]
        if not least <= len(args) <= most:
            wanted = str(least) if least == most else f"{least} to {most}"
            raise self.error(f"{name}() takes {wanted} argument(s), got {len(args)}", pos)
        if all(a.constant for a in args):
            return self.folded(lambda: func(*(a.value for a in args)))
        if len(args) == 1:
            only = args[0].evaluate
            return _Node(lambda x: func(only(x)))
        if len(args) == 2:
            first, second = args[0].evaluate, args[1].evaluate
            return _Node(lambda x: func(first(x), second(x)))
        evaluators = [a.evaluate for a in args]
        return _Node(lambda x: func(*(e(x) for e in evaluators)))

    def folded(self, compute: Callable[[], Any]) -> _Node:
        try:
            return _const(compute())
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise self.error(f"a constant part cannot be computed ({exc})") from None

    def infix(self, symbol: str, left: _Node, right: _Node) -> _Node:
        a, b = left.evaluate, right.evaluate
        if symbol == "and":
            node = _Node(lambda x: bool(a(x)) and bool(b(x)))
        elif symbol == "or":
            node = _Node(lambda x: bool(a(x)) or bool(b(x)))
        else:
            op = _BINARY[symbol]
            if left.constant and right.constant:
                lv, rv = left.value, right.value
                return self.folded(lambda: op(lv, rv))
            if right.constant:
                rv = right.value
                node = _Node(lambda x: op(a(x), rv))
            elif left.constant:
                lv = left.value
                node = _Node(lambda x: op(lv, b(x)))
            else:
                node = _Node(lambda x: op(a(x), b(x)))
        if left.constant and right.constant:
            value = node.evaluate(None)
            return _const(value)
        return node


def _fold(op: Callable[[Any], Any], operand: _Node) -> _Node:
    if operand.constant:
        return _const(op(operand.value))
    inner = operand.evaluate
    return _Node(lambda x: op(inner(x)))


class Expression:
    """A compiled expression of one variable; call it with the value."""

    __slots__ = ("_evaluate", "text")

    def __init__(self, text: str, evaluate: Evaluator) -> None:
        self.text = text
        self._evaluate = evaluate

    def __call__(self, x: Any) -> Any:
        return self._evaluate(x)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def compile_expression(text: str, variable: str = "x") -> Expression:
    """Compile *text*; raises :class:`ExpressionError` naming what is wrong and where."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    node = _Parser(text, variable).parse()
    return Expression(text, node.evaluate)
