"""The ``sdv.databroker.v1`` query language: parsing, checking against the catalog, evaluation.

The reference is the Eclipse KUKSA databroker before 0.7.0 (eclipse-kuksa/kuksa-databroker,
``doc/QUERY.md`` and ``databroker/src/query/{compiler,executor}.rs``).
"""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carmesh.api.grpc.sdv_query import (
    COMPARISONS,
    MAX_DEPTH,
    MAX_LENGTH,
    Between,
    Boolean,
    Compare,
    Expr,
    Item,
    Lag,
    Logic,
    Not,
    Number,
    Path,
    Query,
    String,
    parse,
)
from carmesh.api.grpc.sdv_query_eval import Evaluation, compile_query, compile_text
from carmesh.broker import Datapoint
from carmesh.errors import InvalidArgument
from carmesh.vss import Catalog, DataType

SPEED = "Vehicle.Speed"  # float
POSITION = "Vehicle.Cabin.Seat.Row1.DriverSide.Position"  # uint16 actuator
IS_MOVING = "Vehicle.IsMoving"  # boolean
VIN = "Vehicle.VehicleIdentification.VIN"  # string
GEAR = "Vehicle.Powertrain.Transmission.CurrentGear"  # int8


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT Vehicle.Speed", Query((Item(Path(SPEED)),))),
        # What velocitas-sdk's DataPoint.join()/where() and @subscribe_data_points produce.
        (
            f"SELECT {POSITION}, {SPEED} WHERE {SPEED} > 50",
            Query(
                (Item(Path(POSITION)), Item(Path(SPEED))),
                Compare(">", Path(SPEED), Number("50")),
            ),
        ),
        (
            "select a as pos1, (b = 0) AS cond1 where c between 50 and 150 and a > 100;",
            Query(
                (Item(Path("a"), "pos1"), Item(Compare("=", Path("b"), Number("0")), "cond1")),
                Logic(
                    "AND",
                    (
                        Between(Path("c"), Number("50"), Number("150")),
                        Compare(">", Path("a"), Number("100")),
                    ),
                ),
            ),
        ),
        (
            "SELECT a WHERE a <> LAG(a) OR NOT b == TRUE -- trailing comment",
            Query(
                (Item(Path("a")),),
                Logic(
                    "OR",
                    (
                        Compare("!=", Path("a"), Lag("a")),
                        Not(Compare("=", Path("b"), Boolean(True))),
                    ),
                ),
            ),
        ),
        (
            "SELECT \"Vehicle.My-Signal\" WHERE x NOT BETWEEN -1.5 AND 2e3 AND s = 'it''s'",
            Query(
                (Item(Path("Vehicle.My-Signal")),),
                Logic(
                    "AND",
                    (
                        Between(Path("x"), Number("-1.5"), Number("2e3"), negated=True),
                        Compare("=", Path("s"), String("it's")),
                    ),
                ),
            ),
        ),
    ],
)
def test_parse_builds_the_query(text: str, expected: Query) -> None:
    assert parse(text) == expected


def test_and_binds_tighter_than_or() -> None:
    assert parse("SELECT x WHERE a = 1 OR b = 2 AND c = 3").where == Logic(
        "OR",
        (
            Compare("=", Path("a"), Number("1")),
            Logic(
                "AND", (Compare("=", Path("b"), Number("2")), Compare("=", Path("c"), Number("3")))
            ),
        ),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the query is empty"),
        ("   ", "the query is empty"),
        ("Vehicle.Speed", "character 1: expected SELECT, found 'Vehicle.Speed'"),
        ("SELECT", "character 7: expected a signal path, a literal or '(', found the end"),
        ("SELECT *", "character 8: wildcards are not supported"),
        ("SELECT a b", "character 10: expected ',', WHERE or the end of the query, found 'b'"),
        ("SELECT a,", "character 10: expected a signal path"),
        ("SELECT a WHERE", "character 15: expected a signal path"),
        ("SELECT a WHERE b = = c", "character 20: expected a signal path"),
        ("SELECT a WHERE b = 1 c", "character 22: expected AND, OR or the end of the query"),
        ("SELECT a WHERE (b = 1", "expected ')', found the end of the query"),
        ("SELECT a WHERE b BETWEEN 1 OR 2", "expected AND (as in x BETWEEN low AND high)"),
        ("SELECT 'abc", "character 8: the string is not closed"),
        ('SELECT "abc', "character 8: the quoted name is not closed"),
        ('SELECT ""', "character 8: empty name"),
        ("SELECT Vehicle.", "character 8: malformed name or number"),
        ("SELECT 5abc", "character 8: malformed name or number"),
        ("SELECT a AS", "expected a name after AS"),
        ("SELECT a AS b.c", "expected a name after AS"),
        ("SELECT LAG(5)", "expected a signal path in LAG()"),
        ("SELECT a; SELECT b", "character 11: expected ',', WHERE or the end"),
        ("SELECT a WHERE b ! c", "unexpected character '!'"),
        ("SELECT " + "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), "nested more than"),
        ("SELECT a WHERE " + "NOT " * (MAX_DEPTH + 1) + "b", "nested more than"),
        ("SELECT " + "a" * MAX_LENGTH, "longer than"),
    ],
)
def test_malformed_queries_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse(text)
    assert message in str(caught.value)


# -- round trip and robustness (hypothesis) --------------------------------------------------

plain_paths = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}(\.[A-Za-z0-9_]{1,6}){0,3}", fullmatch=True)
names = st.one_of(plain_paths, st.text(min_size=1, max_size=12))
numbers = st.from_regex(r"-?(\d{1,6}(\.\d{0,3})?|\.\d{1,3})([eE][+-]?\d{1,2})?", fullmatch=True)
atoms: st.SearchStrategy[Expr] = st.one_of(
    names.map(Path),
    names.map(Lag),
    numbers.map(Number),
    st.text(max_size=12).map(String),
    st.booleans().map(Boolean),
)


def _compound(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(Compare, st.sampled_from(COMPARISONS), children, children),
        st.builds(Between, children, children, children, st.booleans()),
        st.builds(Not, children),
        st.builds(
            Logic,
            st.sampled_from(("AND", "OR")),
            st.lists(children, min_size=2, max_size=4).map(tuple),
        ),
    )


expressions = st.recursive(atoms, _compound, max_leaves=16)
queries = st.builds(
    Query,
    st.lists(st.builds(Item, expressions, st.none() | names), min_size=1, max_size=4).map(tuple),
    st.none() | expressions,
)


@settings(max_examples=150, deadline=None)
@given(queries)
def test_valid_queries_round_trip(query: Query) -> None:
    text = str(query)
    assert parse(text) == query
    assert str(parse(text)) == text


_KEYWORD = re.compile(r"(?<![.\w])(SELECT|WHERE|AND|OR|NOT|AS|BETWEEN|LAG|TRUE|FALSE)(?![.\w])")


@settings(max_examples=150, deadline=None)
@given(queries, st.booleans())
def test_layout_and_keyword_case_do_not_matter(query: Query, lower: bool) -> None:
    text = str(query)
    if "'" in text or '"' in text:
        return  # spaces and case inside strings and quoted names are significant
    relaid = text.replace(" ", " \n\t ")
    relaid = _KEYWORD.sub(lambda m: m.group().lower() if lower else m.group().title(), relaid)
    assert parse(relaid) == query


vocabulary = st.sampled_from(
    [
        "SELECT", "WHERE", "AND", "OR", "NOT", "AS", "BETWEEN", "LAG", "TRUE", "FALSE",
        "(", ")", ",", ";", "=", "==", "!=", "<>", "<", "<=", ">", ">=", "-", "*", "!",
        "Vehicle.Speed", "a", "5", "-1.5e3", ".5", "'x'", "'", '"q"', '"', "--", "\n", "1.2.3",
    ]
)  # fmt: skip


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(vocabulary, max_size=14).map(" ".join), st.text(max_size=60)))
def test_any_text_parses_or_is_refused_clearly(text: str) -> None:
    try:
        query = parse(text)
    except InvalidArgument as exc:
        assert str(exc)
        assert "\n" not in str(exc).split(":")[0]
    else:
        assert parse(str(query)) == query


@settings(max_examples=150, deadline=None)
@given(queries, st.data())
def test_damaged_queries_never_crash(query: Query, data: st.DataObject) -> None:
    text = str(query)
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.sampled_from(["", "(", ")", "'", '"', " AND", " WHERE", ",", "="]))
    with contextlib.suppress(InvalidArgument):
        parse(text[:cut] + junk + text[cut + data.draw(st.integers(0, 3)) :])


# -- checking against the catalog ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT Vehicle.NoSuchSignal", "Vehicle.NoSuchSignal, which is not a signal"),
        ("SELECT Vehicle.Cabin", "Vehicle.Cabin, which is a branch"),
        (f"SELECT {SPEED} WHERE {SPEED}", "WHERE needs a condition"),
        (f"SELECT {SPEED} WHERE NOT {SPEED}", "NOT needs a condition"),
        (f"SELECT {SPEED} WHERE {IS_MOVING} AND {SPEED}", "AND needs a condition"),
        (f"SELECT {SPEED} WHERE {SPEED} > 'fast'", "cannot compare number with string"),
        (f"SELECT {SPEED} WHERE {VIN} = 5", "cannot compare a number with string"),
        (f"SELECT {SPEED} WHERE {VIN} > 'A'", "can only be compared with = or !="),
        (f"SELECT {SPEED} WHERE {IS_MOVING} < TRUE", "can only be compared with = or !="),
        (f"SELECT {SPEED} WHERE {POSITION} > 1.5", "use a whole number in 0..65535"),
        (f"SELECT {SPEED} WHERE {POSITION} > 70000", "use a whole number in 0..65535"),
        (f"SELECT {SPEED} WHERE {GEAR} = -129", "use a whole number in -128..127"),
        (f"SELECT {SPEED} WHERE {SPEED} > 1e999", "too large"),
        (f"SELECT {SPEED} WHERE {VIN} BETWEEN 'a' AND 'b'", "BETWEEN needs numbers"),
        (f"SELECT {SPEED} WHERE {IS_MOVING} = {SPEED}", "cannot compare bool with number"),
        ("SELECT 5, 'text' WHERE TRUE", "the query names no signal"),
        (f"SELECT {SPEED}, 99999999999999999999", "use a whole number in"),
    ],
)
def test_queries_are_checked_against_the_catalog(catalog: Catalog, text: str, message: str) -> None:
    """The databroker's compiler refused unknown fields and literals that do not fit the
    signal's type; carmesh also refuses comparisons that could never hold (it would accept
    them and never answer)."""
    with pytest.raises(InvalidArgument) as caught:
        compile_text(text, catalog.get)
    assert message in str(caught.value)


def test_compiled_query_lists_every_signal_it_reads(catalog: Catalog) -> None:
    compiled = compile_text(
        f"SELECT {POSITION}, {SPEED} AS s WHERE {IS_MOVING} = FALSE OR {SPEED} != LAG({SPEED})",
        catalog.get,
    )
    assert compiled.paths == (POSITION, SPEED, IS_MOVING)
    assert compiled.lagged == (SPEED,)
    assert [p.name for p in compiled.projection] == [POSITION, "s"]


# -- evaluation ------------------------------------------------------------------------------


def _evaluation(catalog: Catalog, text: str) -> Evaluation:
    return Evaluation(compile_text(text, catalog.get))


def test_fields_are_sent_only_while_the_condition_holds(catalog: Catalog) -> None:
    """doc/QUERY.md 1.2: nothing while ``Vehicle.Datapoint2 > 50`` is false; a response each
    time a selected or condition signal is written while it is true."""
    evaluation = _evaluation(catalog, f"SELECT {POSITION} WHERE {SPEED} > 50")
    assert evaluation.update({}) is None, "no speed yet: the condition has no value"
    assert evaluation.update({POSITION: Datapoint(250, 1), SPEED: Datapoint(30.0, 1)}) is None
    assert evaluation.update({POSITION: Datapoint(240, 2)}) is None
    fields = evaluation.update({SPEED: Datapoint(60.0, 3)})
    assert fields is not None
    assert [(f.name, f.datatype, f.datapoint) for f in fields] == [
        (POSITION, DataType.UINT16, Datapoint(240, 2))
    ]
    assert evaluation.update({SPEED: Datapoint(61.0, 4)}) is not None
    assert evaluation.update({POSITION: Datapoint(230, 5)}) is not None


def test_a_signal_without_value_is_sent_as_not_available(catalog: Catalog) -> None:
    evaluation = _evaluation(catalog, f"SELECT {POSITION}, {SPEED}")
    assert evaluation.update({SPEED: Datapoint(1.0, 7)}) == [
        (POSITION, DataType.UINT16, None),
        (SPEED, DataType.FLOAT, Datapoint(1.0, 7)),
    ]


def test_computed_fields_are_named_by_position_and_need_their_values(catalog: Catalog) -> None:
    """The databroker names an unnamed expression ``field_<index>`` and sends nothing when
    an expression cannot be evaluated (executor.rs)."""
    evaluation = _evaluation(catalog, f"SELECT {SPEED}, {SPEED} = 0, {SPEED} > 10 AS fast")
    assert evaluation.update({}) is None
    result = evaluation.update({SPEED: Datapoint(0.0, 1)})
    assert result is not None
    assert [(f.name, f.datatype, f.datapoint and f.datapoint.value) for f in result] == [
        (SPEED, DataType.FLOAT, 0.0),
        ("field_1", DataType.BOOLEAN, True),
        ("fast", DataType.BOOLEAN, False),
    ]


def test_a_missing_value_anywhere_leaves_the_condition_unanswered(catalog: Catalog) -> None:
    """Both sides of AND/OR are evaluated; a comparison with a missing value is an error
    that suppresses the response, even when the other side of OR holds (executor.rs)."""
    evaluation = _evaluation(catalog, f"SELECT {SPEED} WHERE {SPEED} > 0 OR {POSITION} > 0")
    assert evaluation.update({SPEED: Datapoint(5.0, 1)}) is None
    assert evaluation.update({POSITION: Datapoint(0, 2)}) is not None


def test_literals_take_the_type_of_what_they_are_compared_with(catalog: Catalog) -> None:
    evaluation = _evaluation(
        catalog,
        f"SELECT {GEAR} WHERE {GEAR} BETWEEN -1 AND 3 AND {VIN} = 'W0L' AND 2 > 1.5 "
        f"AND {IS_MOVING} != TRUE",
    )
    batch = {
        GEAR: Datapoint(-1, 1),
        VIN: Datapoint("W0L", 1),
        IS_MOVING: Datapoint(False, 1),
    }
    assert evaluation.update(batch) is not None
    assert evaluation.update({GEAR: Datapoint(4, 2)}) is None


def test_lag_is_the_value_at_the_previous_evaluation(catalog: Catalog) -> None:
    """doc/QUERY.md 2.1: ``x <> LAG(x)`` answers only when x actually changed."""
    evaluation = _evaluation(catalog, f"SELECT {POSITION} WHERE {POSITION} <> LAG({POSITION})")
    assert evaluation.update({POSITION: Datapoint(10, 1)}) is None
    assert evaluation.update({POSITION: Datapoint(10, 2)}) is None
    assert evaluation.update({POSITION: Datapoint(20, 3)}) is not None
    assert evaluation.update({POSITION: Datapoint(20, 4)}) is None


# -- compile and evaluate random queries over real signals -----------------------------------

SIGNALS = {
    SPEED: st.floats(-1e6, 1e6, allow_nan=False, width=32),
    POSITION: st.integers(0, 65535),
    IS_MOVING: st.booleans(),
    VIN: st.text(max_size=5),
    GEAR: st.integers(-128, 127),
}
real_atoms: st.SearchStrategy[Expr] = st.one_of(
    st.sampled_from(sorted(SIGNALS)).map(Path),
    st.sampled_from(sorted(SIGNALS)).map(Lag),
    numbers.map(Number),
    st.text(max_size=3).map(String),
    st.booleans().map(Boolean),
)
real_queries = st.builds(
    Query,
    st.lists(
        st.builds(Item, st.recursive(real_atoms, _compound, max_leaves=8)), min_size=1, max_size=3
    ).map(tuple),
    st.none() | st.recursive(real_atoms, _compound, max_leaves=8),
)


@settings(max_examples=200, deadline=None)
@given(real_queries, st.data())
def test_checked_queries_evaluate_without_errors(
    catalog: Catalog, query: Query, data: st.DataObject
) -> None:
    try:
        compiled = compile_query(query, catalog.get)
    except InvalidArgument:
        return
    evaluation = Evaluation(compiled)
    for step in range(3):
        present = data.draw(
            st.lists(st.sampled_from(compiled.paths), unique=True)
            if compiled.paths
            else st.just([])
        )
        batch = {p: Datapoint(data.draw(SIGNALS[p]), step) for p in present}
        fields = evaluation.update(batch)
        if fields is not None:
            assert [f.name for f in fields] == [p.name for p in compiled.projection]
