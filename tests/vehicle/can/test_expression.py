"""Mapping math: the py-expression-eval subset KUKSA mappings use, compiled without eval."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carmesh.vehicle.can.expression import ExpressionError, compile_expression

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@pytest.mark.parametrize(
    ("text", "x", "expected"),
    [
        ("2 * 3", 0, 6),
        ("2 ^ x", 3, 8),
        ("2 * x + 1", 3, 7),
        ("2 + 3 * x", 4, 14),
        ("(2 + 3) * x", 4, 20),
        ("2-3^x", 4, -79),
        ("-2-3^x", 4, -83),
        ("-3^x", 4, -81),
        ("(-3)^x", 4, 81),
        ("2^3^2", 0, 512),
        ("2^-1", 0, 0.5),
        ("x**2", 3, 9),
        ("floor((x*40)-100)", 2.01, -20),
        ("(x+100)/40", -20, 2),
        ("floor(x+0.5)", 2.5, 3),
        ("round(x)", 2.5, 2),
        ("round(x, 1)", 2.25, 2.2),
        ("x % 3", 7, 1),
        ("abs(x) + ceil(0.2)", -2, 3),
        ("min(x, 10) + max(1, 2, 3)", 20, 13),
        ("clamp(x, 0, 100)", 130, 100),
        ("if(x > 0, 1, -1)", -5, -1),
        ("x > 0 and x < 10", 5, True),
        ("x < 0 or not x < 10", 5, False),
        ("x == 3", 3, True),
        ("x != 3", 3, False),
        ("PI * 0 + E * 0 + 1e2 + .5", 0, 100.5),
        ("sqrt(x) + log(E) + log10(100) + log(8, 2)", 16, 10),
        ("atan2(0, 1) + hypot(3, 4) + pow(2, 3)", 0, 13),
        ("true", 0, True),
        ("- - x", 4, 4),
    ],
)
def test_evaluates_like_py_expression_eval(text: str, x: float, expected: object) -> None:
    result = compile_expression(text)(x)
    if isinstance(expected, bool):
        assert result is expected
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("x +", "unexpected end"),
        ("y * 2", "unknown name 'y'"),
        ("__import__('os').system('true')", "unexpected character"),
        ("x.real", "unexpected character '.'"),
        ("[x]", "unexpected character '['"),
        ("lambda: 1", "unexpected character ':'"),
        ("open(x)", "unknown name 'open'"),
        ("floor(x, 2)", "floor() takes 1 argument(s), got 2"),
        ("if(x, 1)", "if() takes 3 arguments"),
        ("(x", "expected ')'"),
        ("x)", "unexpected ')'"),
        ("2 3", "unexpected '3'"),
        ("1 / 0", "cannot be computed"),
        ("10 ^ 10 ^ 10", "cannot be computed"),
        ("(" * 60 + "x" + ")" * 60, "nested deeper"),
        ("x" + " + x" * 300, "longer than"),
    ],
)
def test_refuses_what_is_not_arithmetic(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_expression(text)


def test_errors_at_run_time_are_arithmetic() -> None:
    with pytest.raises(ZeroDivisionError):
        compile_expression("1 / x")(0)
    with pytest.raises(OverflowError):
        compile_expression("10 ^ x")(1000)
    with pytest.raises(ValueError):
        compile_expression("sqrt(x)")(-1)


def test_if_evaluates_only_the_branch_taken() -> None:
    guarded = compile_expression("if(x == 0, 0, 1 / x)")
    assert guarded(0) == 0
    assert guarded(4) == 0.25


@settings(deadline=None)
@given(x=finite, scale=finite, offset=finite)
def test_scale_and_offset_match_python(x: float, scale: float, offset: float) -> None:
    expr = compile_expression(f"x * ({scale!r}) + ({offset!r})")
    assert expr(x) == pytest.approx(x * scale + offset, rel=1e-12, abs=1e-9)


@settings(deadline=None)
@given(x=finite, a=finite, b=st.floats(min_value=0.001, max_value=1000))
def test_precedence_matches_python(x: float, a: float, b: float) -> None:
    expr = compile_expression(f"-x ^ 2 + ({a!r}) * x / ({b!r}) - x % ({b!r})")
    expected = -(x**2) + a * x / b - x % b
    assert expr(x) == pytest.approx(expected, rel=1e-9, abs=1e-6)
