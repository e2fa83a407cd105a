"""Templates: the schema of docs/apps.md ("Templates"), one-sentence errors, and trimming by
the driving rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carmesh.apps.templates import (
    ID_PATTERN,
    MAX_ITEMS,
    TEMPLATE_TYPES,
    TEXT_LENGTH,
    TITLE_LENGTH,
    Action,
    GridItem,
    GridTemplate,
    Item,
    ListTemplate,
    MessageTemplate,
    NavigationTemplate,
    PaneTemplate,
    Row,
    SearchResult,
    SearchTemplate,
    cut_text,
    parse_template,
    template_json,
    trim,
)
from carmesh.errors import InvalidArgument
from carmesh.rules.distraction import MOVING_RULES, PARKED_RULES, Rules

EXAMPLES: list[dict[str, Any]] = [
    {
        "type": "list",
        "title": {"en": "Podcasts", "zh-CN": "播客"},
        "items": [{"id": "ep-1", "title": "Episode 1", "text": "42 min", "icon": "music"}],
        "actions": [{"id": "refresh", "label": "Refresh"}],
    },
    {"type": "grid", "title": "Apps", "items": [{"id": "a", "title": "A", "icon": "car"}]},
    {
        "type": "pane",
        "title": "Trip",
        "rows": [{"label": "Distance", "value": "12 km"}],
        "actions": [{"id": "reset", "label": "Reset"}],
    },
    {"type": "message", "title": "Hello", "message": {"en": "Hi", "zh-CN": "你好"}},
    {
        "type": "navigation",
        "title": "Home",
        "maneuver": "turn-left",
        "distance_m": 250,
        "road": "Main St",
        "eta": "12:40",
    },
    {
        "type": "search",
        "title": "Find",
        "placeholder": "Station name",
        "results": [{"id": "r1", "title": "Radio 1"}],
    },
]


def items(n: int, title: str = "Item") -> list[dict[str, Any]]:
    return [{"id": f"i{i}", "title": f"{title} {i}"} for i in range(n)]


def invalid(data: Any) -> str:
    with pytest.raises(InvalidArgument) as refused:
        parse_template(data)
    return str(refused.value)


@pytest.mark.parametrize("data", EXAMPLES, ids=[e["type"] for e in EXAMPLES])
def test_every_template_type_round_trips(data: dict[str, Any]) -> None:
    template = parse_template(data)
    assert template.type == data["type"]
    out = template_json(template)
    assert parse_template(out) == template
    for key, value in data.items():
        assert out[key] == value


def test_models_build_the_same_json() -> None:
    template = ListTemplate(
        title={"en": "Podcasts", "zh-CN": "播客"},
        items=[Item(id="ep-1", title="Episode 1", text="42 min", icon="music")],
        actions=[Action(id="refresh", label="Refresh")],
    )
    assert template_json(template) == EXAMPLES[0]
    assert parse_template(template) == template
    others = [
        GridTemplate(title="g", items=[GridItem(id="a", title="A")]),
        PaneTemplate(title="p", rows=[Row(label="l", value="v")]),
        MessageTemplate(title="m", message="text"),
        NavigationTemplate(title="n", maneuver="straight", distance_m=1.5),
        SearchTemplate(title="s", placeholder="…", results=[SearchResult(id="r", title="R")]),
    ]
    assert [t.type for t in others] == ["grid", "pane", "message", "navigation", "search"]
    assert template_json(others[3]) == {
        "type": "navigation",
        "title": "n",
        "maneuver": "straight",
        "distance_m": 1.5,
    }
    with pytest.raises(ValueError):
        Item(id="no spaces", title="x")


def test_errors_are_one_sentence_naming_the_place() -> None:
    assert invalid([1]) == "a template must be a JSON object with a type"
    assert invalid({"title": "x"}).startswith("the template has no type; give one of list,")
    assert invalid({"type": "video"}).startswith("'video' is not a template type")
    assert (
        invalid({"type": "list", "items": []}) == "the list template is not valid: title is missing"
    )
    message = invalid({"type": "list", "title": "t", "items": [{"id": "a", "title": 7}]})
    assert message == (
        'the list template is not valid: items.0.title must be a string or {"en": "…", '
        '"zh-CN": "…"}'
    )
    message = invalid({"type": "list", "title": "t", "items": [{"id": "a b", "title": "x"}]})
    assert message.startswith("the list template is not valid: items.0.id must be 1 to 64")
    message = invalid({"type": "grid", "title": "t", "items": [], "html": "<b>"})
    assert message == "the grid template is not valid: html is not a known field"
    message = invalid({"type": "list", "title": "t", "items": items(2) + items(1)})
    assert message == "the list template is not valid: the item id 'i0' appears twice"
    for text in (str(exc) for exc in _refusals()):
        assert text.count("\n") == 0 and len(text) < 200, text


def _refusals() -> list[InvalidArgument]:
    found = []
    for data in (None, "list", {"type": None}, {"type": "pane", "title": "t", "rows": 3}):
        try:
            parse_template(data)
        except InvalidArgument as exc:
            found.append(exc)
    assert len(found) == 4
    return found


def test_limits_hold_always() -> None:
    base = {"type": "list", "title": "t", "items": []}
    assert parse_template({**base, "title": "x" * TITLE_LENGTH})
    assert "title is longer than 80 characters" in invalid({**base, "title": "x" * 81})
    long_zh = {"en": "ok", "zh-CN": "长" * 81}
    assert "longer than 80 characters in zh-CN" in invalid({**base, "title": long_zh})
    assert "unknown language 'fr'" in invalid({**base, "title": {"fr": "Bonjour"}})
    assert "gives no language" in invalid({**base, "title": {}})
    text_ok = [{"id": "a", "title": "t", "text": "y" * TEXT_LENGTH}]
    assert parse_template({**base, "items": text_ok})
    text_long = [{"id": "a", "title": "t", "text": "y" * (TEXT_LENGTH + 1)}]
    assert "items.0.text is longer than 500" in invalid({**base, "items": text_long})
    assert parse_template({**base, "items": items(MAX_ITEMS)})
    assert "items has more than 100 entries" in invalid({**base, "items": items(MAX_ITEMS + 1)})
    four = [{"id": f"a{i}", "label": "go"} for i in range(5)]
    assert parse_template({**base, "actions": four[:4]})
    assert "actions has more than 4 entries" in invalid({**base, "actions": four})
    pane = {"type": "pane", "title": "t", "rows": [{"label": "l", "value": "v"}] * 20}
    assert parse_template(pane)
    assert "rows has more than 20" in invalid({**pane, "rows": pane["rows"] * 2})
    assert "actions has more than 2" in invalid({**pane, "actions": four[:3]})
    assert parse_template({**base, "items": [{"id": "x" * 64, "title": "t"}]})
    assert "items.0.id" in invalid({**base, "items": [{"id": "x" * 65, "title": "t"}]})
    assert "items.0.id" in invalid({**base, "items": [{"id": "", "title": "t"}]})
    nav = {"type": "navigation", "title": "t", "maneuver": "m", "distance_m": 1}
    assert "distance_m" in invalid({**nav, "distance_m": -1})
    assert "distance_m" in invalid({**nav, "distance_m": float("inf")})
    assert "distance_m" in invalid({**nav, "distance_m": "12"})
    assert "distance_m" in invalid({**nav, "distance_m": True})


def test_parked_nothing_is_trimmed() -> None:
    for data in EXAMPLES:
        out, trimmed = trim(parse_template(data), PARKED_RULES)
        assert (out, trimmed) == (template_json(parse_template(data)), False)


def test_moving_cuts_lists_and_texts() -> None:
    long = "A very long title that goes on and on for sure"  # 46 characters
    template = parse_template(
        {
            "type": "list",
            "title": {"en": long, "zh-CN": "短"},
            "items": [{"id": f"i{i}", "title": long, "text": "short"} for i in range(20)],
            "actions": [{"id": "a", "label": "Go"}],
        }
    )
    out, trimmed = trim(template, MOVING_RULES)
    assert trimmed
    assert len(out["items"]) == 6 and [i["id"] for i in out["items"]] == [f"i{i}" for i in range(6)]
    assert out["title"] == {"en": long[:39] + "…", "zh-CN": "短"}
    assert len(out["title"]["en"]) == 40
    assert out["items"][0]["text"] == "short"
    assert out["actions"] == [{"id": "a", "label": "Go"}]
    assert parse_template(out).type == "list"
    short = parse_template({"type": "grid", "title": "t", "items": items(6)})
    assert trim(short, MOVING_RULES) == (template_json(short), False)


def test_moving_replaces_search_with_a_message() -> None:
    out, trimmed = trim(parse_template(EXAMPLES[-1]), MOVING_RULES)
    assert trimmed
    assert out["type"] == "message" and out["title"] == "Find"
    assert set(out["message"]) == {"en", "zh-CN"}
    assert "driving" in out["message"]["en"]
    parse_template(out)
    # Text entry alone decides: a car that allows it keeps the search, cut.
    lenient = Rules(text_entry=True, video=False, max_list_items=1, max_text_length=None)
    search = {**EXAMPLES[-1], "results": items(3)}
    out, trimmed = trim(parse_template(search), lenient)
    assert trimmed and out["type"] == "search" and len(out["results"]) == 1


def test_cut_text() -> None:
    assert cut_text("abcdef", 4) == "abc…"
    assert cut_text("abcd", 4) == "abcd"
    assert cut_text({"en": "abcdef", "zh-CN": "中文"}, 3) == {"en": "ab…", "zh-CN": "中文"}
    assert cut_text("abc", 1) == "…"


# -- properties ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=100),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=60), inner),
    max_leaves=30,
)

ids = st.from_regex(ID_PATTERN, fullmatch=True)
languages = st.sampled_from(["en", "zh-CN"])


def texts(limit: int) -> st.SearchStrategy[Any]:
    one = st.text(max_size=limit)
    return one | st.dictionaries(languages, one, min_size=1)


def unique_by_id(entries: st.SearchStrategy[dict[str, Any]], max_size: int) -> Any:
    return st.lists(entries, max_size=max_size, unique_by=lambda e: e["id"])


def optional(entry: dict[str, Any], **maybe: Any) -> Any:
    """A strategy for *entry* with each of *maybe* present or not."""
    return st.fixed_dictionaries(entry, optional=maybe)


def actions(n: int) -> Any:
    return unique_by_id(st.fixed_dictionaries({"id": ids, "label": texts(TITLE_LENGTH)}), n)


valid_templates = st.one_of(
    optional(
        {
            "type": st.just("list"),
            "title": texts(80),
            "items": unique_by_id(
                optional({"id": ids, "title": texts(80)}, text=texts(500), icon=ids), 30
            ),
        },
        actions=actions(4),
    ),
    optional(
        {
            "type": st.just("grid"),
            "title": texts(80),
            "items": unique_by_id(optional({"id": ids, "title": texts(80)}, icon=ids), 30),
        },
        actions=actions(4),
    ),
    optional(
        {
            "type": st.just("pane"),
            "title": texts(80),
            "rows": st.lists(
                st.fixed_dictionaries({"label": texts(80), "value": texts(500)}), max_size=20
            ),
        },
        actions=actions(2),
    ),
    optional(
        {"type": st.just("message"), "title": texts(80), "message": texts(500)},
        icon=ids,
        actions=actions(4),
    ),
    optional(
        {
            "type": st.just("navigation"),
            "title": texts(80),
            "maneuver": texts(80),
            "distance_m": st.floats(min_value=0, allow_infinity=False, allow_nan=False),
        },
        road=texts(80),
        eta=texts(80),
    ),
    optional(
        {"type": st.just("search"), "title": texts(80), "placeholder": texts(80)},
        results=unique_by_id(optional({"id": ids, "title": texts(80)}, text=texts(500)), 30),
    ),
)


def _mutations(template: dict[str, Any]) -> st.SearchStrategy[Any]:
    """*template* with one field (at the top or in its first entry) set to random JSON."""
    targets: list[tuple[dict[str, Any], list[str]]] = [(template, [*template, "extra"])]
    for value in template.values():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            targets.append((value[0], [*value[0], "extra"]))

    def mutate(choice: tuple[int, int, Any]) -> Any:
        which, key_index, value = choice
        where, keys = targets[which % len(targets)]
        where[keys[key_index % len(keys)]] = value
        return template

    return st.tuples(st.integers(0, 9), st.integers(0, 9), json_values).map(mutate)


@given(st.one_of(json_values, st.dictionaries(st.just("type"), st.sampled_from(TEMPLATE_TYPES))))
def test_random_json_is_refused_only_with_invalid_argument(data: Any) -> None:
    try:
        parse_template(data)
    except InvalidArgument as exc:
        assert str(exc) and "\n" not in str(exc) and len(str(exc)) < 300


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(valid_templates.flatmap(_mutations))
def test_broken_templates_are_refused_only_with_invalid_argument(data: Any) -> None:
    try:
        parse_template(data)
    except InvalidArgument as exc:
        assert str(exc) and "\n" not in str(exc) and len(str(exc)) < 300


def _texts_of(data: Any) -> list[str]:
    """Every text string in a template JSON (ids, icons, types and numbers excluded)."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("id", "icon", "type", "distance_m"):
                continue
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, dict):
                found.extend(v for v in value.values() if isinstance(v, str))
            else:
                found.extend(_texts_of(value))
    elif isinstance(data, list):
        for entry in data:
            found.extend(_texts_of(entry))
    return found


rules = st.builds(
    Rules,
    text_entry=st.booleans(),
    video=st.booleans(),
    max_list_items=st.none() | st.integers(0, 12),
    max_text_length=st.none() | st.integers(1, 60),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(valid_templates, st.one_of(st.just(MOVING_RULES), rules))
def test_trimmed_templates_obey_the_rules_and_stay_valid(
    data: dict[str, Any], rules: Rules
) -> None:
    template = parse_template(data)
    out, trimmed = trim(template, rules)
    again = parse_template(out)  # itself a valid template
    assert template_json(again) == out
    if rules.max_list_items is not None:
        for name in ("items", "results"):
            assert len(out.get(name, [])) <= rules.max_list_items
    if rules.max_text_length is not None:
        assert all(len(text) <= rules.max_text_length for text in _texts_of(out))
    if not rules.text_entry:
        assert out["type"] != "search"
    assert trimmed == (out != template_json(template))
    if not trimmed:
        assert out == template_json(template)
