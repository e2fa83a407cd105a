"""Grant bookkeeping and the integrator's policy file (including a property test of its
matcher against a reference)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carmesh.apps.grants import (
    GrantPolicy,
    Rule,
    carried_grants,
    initial_grants,
    item_matches,
    permission_ids,
    undecided,
)
from carmesh.apps.manifest import Manifest
from carmesh.errors import ConfigError, InvalidArgument

EXAMPLE = """
# pre-grants for integrators
[publishers."org.carmesh.examples"]
grant = "all"

[apps."org.example.hello"]
grant = ["read:Vehicle.Speed", "notifications"]
deny = ["network"]
"""


def manifest(
    app_id: str = "org.example.hello",
    *,
    publisher: str = "org.example",
    read: tuple[str, ...] = ("Vehicle.Speed", "Vehicle.Cabin.HVAC.*"),
    actuate: tuple[str, ...] = ("Vehicle.Cabin.Seat.Row1.DriverSide.*",),
    flags: tuple[str, ...] = ("notifications", "location", "network"),
    version: str = "1.0.0",
) -> Manifest:
    def patterns(items: tuple[str, ...]) -> str:
        return "[" + ", ".join(f'"{p}"' for p in items) + "]"

    flag_lines = "".join(f"{flag} = true\n" for flag in flags)
    return Manifest.parse(
        f'id = "{app_id}"\nversion = "{version}"\npublisher = "{publisher}"\n'
        'entry = "hello.app:main"\nmin_platform = "0.1.0"\n'
        '[names]\nen = "Hello"\n"zh-CN" = "你好"\n'
        f"[permissions]\nread = {patterns(read)}\nactuate = {patterns(actuate)}\n{flag_lines}"
    )


ALL_IDS = (
    "read:Vehicle.Speed",
    "read:Vehicle.Cabin.HVAC.*",
    "actuate:Vehicle.Cabin.Seat.Row1.DriverSide.*",
    "notifications",
    "location",
    "network",
)


def test_permission_ids_follow_the_manifest() -> None:
    assert permission_ids(manifest()) == ALL_IDS


@pytest.mark.parametrize(("mode", "value"), [("ask", None), ("all", True), ("none", False)])
def test_initial_grants_by_mode(mode: str, value: bool | None) -> None:
    assert initial_grants(manifest(), mode) == dict.fromkeys(ALL_IDS, value)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="ask, all, none"):
        initial_grants(manifest(), "some")


def test_example_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    policy = GrantPolicy.load(path)

    assert policy.decide(manifest()) == {
        "read:Vehicle.Speed": True,
        "notifications": True,
        "network": False,
    }
    examples = manifest("org.carmesh.examples.nav", publisher="org.carmesh.examples")
    assert policy.decide(examples) == dict.fromkeys(ALL_IDS, True)
    assert policy.decide(manifest("org.example.other")) == {}
    assert policy.decide(manifest(publisher="org.elsewhere")) == {
        "read:Vehicle.Speed": True,
        "notifications": True,
        "network": False,
    }, "app sections match by app id, whoever the publisher is"


def test_policy_applies_on_top_of_the_mode() -> None:
    policy = GrantPolicy.parse(EXAMPLE)
    assert initial_grants(manifest(), "ask", policy) == {
        "read:Vehicle.Speed": True,
        "read:Vehicle.Cabin.HVAC.*": None,
        "actuate:Vehicle.Cabin.Seat.Row1.DriverSide.*": None,
        "notifications": True,
        "location": None,
        "network": False,
    }
    assert initial_grants(manifest(), "all", policy)["network"] is False
    assert initial_grants(manifest(), "none", policy)["notifications"] is True


def test_deny_wins_across_sections_and_patterns() -> None:
    policy = GrantPolicy.parse(
        """
        [publishers."org.example"]
        grant = ["read:*", "actuate:Vehicle.Cabin.*", "location"]
        deny = ["read:Vehicle.Cabin.*"]
        [apps."org.example.hello"]
        grant = "all"
        deny = ["loc*"]
        """
    )
    assert policy.decide(manifest()) == {
        "read:Vehicle.Speed": True,
        "read:Vehicle.Cabin.HVAC.*": False,
        "actuate:Vehicle.Cabin.Seat.Row1.DriverSide.*": True,
        "notifications": True,
        "location": False,
        "network": True,
    }


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("grant = [", "not valid TOML"),
        ("[people.x]\ngrant = 'all'", "unknown key 'people'"),
        ("publishers = 3", "must be a table"),
        ('[publishers]\n"org.x" = 3', "must be a table with grant and deny"),
        ('[apps."org.x.y"]\nallow = ["network"]', "unknown key 'allow'"),
        ('[apps."org.x.y"]\ngrant = "some"', '"all" or a list'),
        ('[apps."org.x.y"]\ngrant = [1]', '"all" or a list'),
        ('[apps."org.x.y"]\ngrant = ["bluetooth"]', "'bluetooth' is not a permission id"),
        ('[apps."org.x.y"]\ndeny = ["read:"]', "'read:' is not a permission id"),
        ('[apps."org.x.y"]\ndeny = ["write:Vehicle.Speed"]', "'write:Vehicle.Speed'"),
        ('[apps."org.x.y"]\ngrant = ["read Vehicle.Speed"]', "spaces"),
        ('[apps."org.x.y"]\ngrant = [""]', "empty"),
    ],
)
def test_bad_policy_files_are_refused(tmp_path: Path, text: str, fault: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"policy\.toml") as caught:
        GrantPolicy.load(path)
    assert fault in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_policy_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the app policy .*missing\.toml"):
        GrantPolicy.load(tmp_path / "missing.toml")


def test_carried_grants_keep_decisions_drop_the_gone_and_ask_for_the_new() -> None:
    before = {
        "read:Vehicle.Speed": True,
        "read:Vehicle.Cabin.HVAC.*": False,
        "notifications": None,
        "network": True,
    }
    newer = manifest(
        read=("Vehicle.Speed", "Vehicle.Cabin.HVAC.*", "Vehicle.Powertrain.*"),
        actuate=(),
        flags=("notifications", "media"),
    )
    assert carried_grants(before, newer) == {
        "read:Vehicle.Speed": True,
        "read:Vehicle.Cabin.HVAC.*": False,
        "read:Vehicle.Powertrain.*": None,
        "notifications": None,
        "media": None,
    }
    policy = GrantPolicy.parse(
        '[apps."org.example.hello"]\ngrant = ["read:Vehicle.*", "notifications"]\n'
        'deny = ["media", "read:Vehicle.Speed"]'
    )
    assert carried_grants(before, newer, policy) == {
        "read:Vehicle.Speed": True,  # the user's decision stands
        "read:Vehicle.Cabin.HVAC.*": False,
        "read:Vehicle.Powertrain.*": True,
        "notifications": True,  # undecided before: the policy decides
        "media": False,
    }
    assert undecided(carried_grants(before, newer)) == [
        "read:Vehicle.Powertrain.*",
        "notifications",
        "media",
    ]


# -- property test of the matcher ------------------------------------------------------------

_NAME = st.from_regex(r"[A-Z][a-zA-Z0-9]{0,6}", fullmatch=True)
_PATH = st.lists(st.one_of(_NAME, st.sampled_from(["*", "**"])), min_size=1, max_size=5).map(
    ".".join
)
PERMISSION = st.one_of(
    st.builds(lambda k, p: f"{k}:{p}", st.sampled_from(["read", "actuate", "provide"]), _PATH),
    st.sampled_from(["notifications", "media", "location", "network"]),
)


def reference(item: str, permission: str) -> bool:
    """``*`` is any run of characters, nothing else is special (fnmatch minus ``?`` and ``[``)."""
    escaped = item.replace("[", "[[]").replace("?", "[?]")
    return fnmatch.fnmatchcase(permission, escaped)


@st.composite
def item_and_permission(draw: st.DrawFn) -> tuple[str, str]:
    """A permission and an item made from it or another one by starring random slices."""
    permission = draw(PERMISSION)
    base = draw(st.one_of(st.just(permission), PERMISSION))
    cuts = sorted(draw(st.lists(st.integers(0, len(base)), max_size=4)))
    pieces, last = [], 0
    for start, end in zip(cuts[::2], [*cuts[1::2], len(base)], strict=False):
        pieces.append(base[last:start])
        last = end
        pieces.append("*")
    pieces.append(base[last:])
    return "".join(pieces) if cuts else base, permission


@given(item_and_permission())
def test_matcher_agrees_with_the_reference(case: tuple[str, str]) -> None:
    item, permission = case
    assert item_matches(item, permission) == reference(item, permission)


@given(PERMISSION, PERMISSION)
def test_an_id_without_stars_matches_only_itself(item: str, permission: str) -> None:
    if "*" not in item:
        assert item_matches(item, permission) == (item == permission)
    assert item_matches(permission, permission)
    assert item_matches("*", permission)


@given(st.lists(PERMISSION, unique=True, max_size=6), st.lists(PERMISSION, max_size=3))
def test_decide_only_names_declared_ids_and_deny_wins(
    declared: list[str], denied: list[str]
) -> None:
    reads = tuple(p.partition(":")[2] for p in declared if p.startswith("read:"))
    m = manifest(read=reads, actuate=(), flags=())
    policy = GrantPolicy(
        apps={"org.example.hello": Rule(grant=("*",), deny=tuple(denied))},
    )
    decided = policy.decide(m)
    assert set(decided) == set(permission_ids(m)), "grant all decides everything declared"
    for permission, decision in decided.items():
        assert decision is (not any(reference(d, permission) for d in denied))
