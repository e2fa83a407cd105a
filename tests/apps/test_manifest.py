"""The manifest parser: every field's rules, permission ids, scopes, SemVer precedence."""

from __future__ import annotations

import contextlib
import json
import keyword
import math
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carmesh.apps.manifest import (
    ALL_TEMPLATES,
    PERMISSION_FLAGS,
    Limits,
    Manifest,
    compare_versions,
    is_semver,
    platform_version,
    toml_string,
)
from carmesh.errors import InvalidArgument, PackageRejected

from .support import manifest_fields, manifest_toml


def parse(**changes: Any) -> Manifest:
    """Parse the default test manifest with top-level *changes* (None removes a key)."""
    fields = manifest_fields("org.example.hello")
    for key, value in changes.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return Manifest.parse(manifest_toml(fields))


def rejected(match: str, **changes: Any) -> str:
    with pytest.raises(PackageRejected, match=match) as info:
        parse(**changes)
    message = str(info.value)
    assert message.startswith("the manifest"), message
    assert "\n" not in message
    return message


FULL = """
id = "org.example.hello"
version = "1.2.0-beta.1+build.5"
publisher = "org.example"
entry = "hello.app:main"
min_platform = "0.1.0"
runtime = "velocitas"
icon = "assets/icon.svg"

[names]
en = "Hello"
"zh-CN" = "你好"

[description]
en = "Says hello."

[permissions]
read = ["Vehicle.Speed", "Vehicle.Cabin.HVAC.*"]
actuate = ["Vehicle.Cabin.Seat.Row1.DriverSide.*"]
provide = []
notifications = true
media = false
location = true
network = false

[ui]
templates = ["list", "pane"]

[limits]
memory_mb = 256
cpu_seconds = 3600
"""


def test_a_full_manifest_is_parsed() -> None:
    m = Manifest.parse(FULL)
    assert m.id == "org.example.hello"
    assert m.version == "1.2.0-beta.1+build.5"
    assert m.publisher == "org.example"
    assert m.entry == "hello.app:main"
    assert m.entry_module == "hello.app"
    assert m.min_platform == "0.1.0"
    assert m.runtime == "velocitas"
    assert m.icon == "assets/icon.svg"
    assert m.names == {"en": "Hello", "zh-CN": "你好"}
    assert m.description == {"en": "Says hello."}
    assert m.permissions == (
        "read:Vehicle.Speed",
        "read:Vehicle.Cabin.HVAC.*",
        "actuate:Vehicle.Cabin.Seat.Row1.DriverSide.*",
        "notifications",
        "location",
    )
    assert m.templates == ("list", "pane")
    assert m.limits == Limits(memory_mb=256, cpu_seconds=3600, open_files=None)
    assert m.raw == FULL


def test_optional_parts_have_defaults() -> None:
    m = parse(runtime=None, permissions=None, ui=None, description=None)
    assert m.runtime == "python"
    assert m.icon is None
    assert m.description == {}
    assert m.permissions == ()
    assert m.templates == ()
    assert m.limits == Limits(None, None, None)


def test_as_json_is_json() -> None:
    data = Manifest.parse(FULL).as_json()
    assert json.loads(json.dumps(data)) == data
    assert data["permissions"][0] == "read:Vehicle.Speed"
    assert data["limits"] == {"memory_mb": 256, "cpu_seconds": 3600, "open_files": None}
    assert data["icon"] == "assets/icon.svg"


def test_name_falls_back_to_english() -> None:
    m = Manifest.parse(FULL)
    assert m.name("zh-CN") == "你好"
    assert m.name("zh") == "你好"
    assert m.name("en-GB") == "Hello"
    assert m.name("de") == "Hello"


@pytest.mark.parametrize(
    ("granted", "scopes"),
    [
        ([], ""),
        (["notifications", "media"], ""),
        (["read:Vehicle.Speed"], "read:Vehicle.Speed"),
        (
            ["actuate:Vehicle.Cabin.Seat.Row1.DriverSide.*", "read:Vehicle.Speed"],
            "read:Vehicle.Speed actuate:Vehicle.Cabin.Seat.Row1.DriverSide.*",
        ),
        (["location"], "read:Vehicle.CurrentLocation.*"),
        (["read:Vehicle.Undeclared", "network"], ""),
    ],
)
def test_scopes_for_granted_permissions(granted: list[str], scopes: str) -> None:
    assert Manifest.parse(FULL).scopes_for(granted) == scopes


def test_scopes_are_not_repeated() -> None:
    m = parse(permissions={"read": ["Vehicle.CurrentLocation.*"], "location": True})
    assert m.scopes_for(m.permissions) == "read:Vehicle.CurrentLocation.*"


def test_the_scope_string_is_what_the_broker_accepts() -> None:
    from carmesh.broker.permissions import parse_scopes

    m = Manifest.parse(FULL)
    assert [str(s) for s in parse_scopes(m.scopes_for(m.permissions))] == [
        "read:Vehicle.Speed",
        "read:Vehicle.Cabin.HVAC.*",
        "actuate:Vehicle.Cabin.Seat.Row1.DriverSide.*",
        "read:Vehicle.CurrentLocation.*",
    ]


# --- field by field ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["id", "version", "publisher", "entry", "min_platform", "names"])
def test_required_keys(key: str) -> None:
    rejected(f"lacks the required (key|table) .*{key}", **{key: None})


def test_unknown_keys_are_refused() -> None:
    rejected("unknown key 'colour'", colour="red")
    rejected(r"unknown key 'de' in \[names\]", names={"en": "A", "zh-CN": "B", "de": "C"})
    rejected(r"unknown key 'write' in \[permissions\]", permissions={"write": ["Vehicle"]})
    rejected(r"unknown key 'theme' in \[ui\]", ui={"theme": "dark"})
    rejected(r"unknown key 'disk_mb' in \[limits\]", limits={"disk_mb": 1})


def test_not_toml() -> None:
    with pytest.raises(PackageRejected, match=r"not valid TOML"):
        Manifest.parse("id = ")
    with pytest.raises(PackageRejected, match=r"nests too deeply|not valid TOML"):
        Manifest.parse("a = " + "[" * 5000)


def test_too_large() -> None:
    with pytest.raises(PackageRejected, match=r"larger than 64 KiB"):
        Manifest.parse("#" * 70_000)


@pytest.mark.parametrize(
    "good", ["org.example", "org.example.hello", "com.x-y_z.a1", "a.b", "x" * 62 + ".y" * 33]
)
def test_good_ids(good: str) -> None:
    assert parse(id=good).id == good


@pytest.mark.parametrize(
    "bad",
    ["hello", "Org.example", "org..example", ".org.example", "org.example.", "org.exa mple",
     "org/example", "org.例子", "", "x" * 64 + ".y" * 33],
)  # fmt: skip
def test_bad_ids(bad: str) -> None:
    rejected("id .* is not reverse-DNS", id=bad)


def test_bad_publisher() -> None:
    rejected("publisher 'example' is not reverse-DNS", publisher="example")


@pytest.mark.parametrize(
    "good",
    ["0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7",
     "1.0.0-x.7.z.92", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85", "1.0.0-x-y-z.--"],
)  # fmt: skip
def test_good_versions(good: str) -> None:
    assert parse(version=good).version == good
    assert parse(min_platform=good).min_platform == good


@pytest.mark.parametrize(
    "bad",
    ["1", "1.2", "1.2.3.4", "01.1.1", "1.01.1", "1.1.01", "1.2.3-", "1.2.3-01", "1.2.3+",
     "1.2.3-a..b", " 1.2.3", "1.2.3\n", "v1.2.3", "1.2.3-ü", "１.2.3", "1.2.3-" + "a" * 70],
)  # fmt: skip
def test_bad_versions(bad: str) -> None:
    rejected("version .* is not a semantic version", version=bad)
    rejected("min_platform .* is not a semantic version", min_platform=bad)


@pytest.mark.parametrize("good", ["app", "app:main", "hello.app:main", "_x.y_2:run_"])
def test_good_entries(good: str) -> None:
    assert parse(entry=good).entry == good


@pytest.mark.parametrize(
    "bad", ["", ":main", "app:", "app:main:x", "a..b", "1app", "app.class", "app:def", "a-b",
            "app:ma in", "app/x", "äpp"],
)  # fmt: skip
def test_bad_entries(bad: str) -> None:
    rejected("entry .* is not module.path", entry=bad)


def test_runtime() -> None:
    assert parse(runtime="velocitas").runtime == "velocitas"
    rejected("runtime 'java' is not one of python, velocitas", runtime="java")


@pytest.mark.parametrize("good", ["icon.svg", "assets/Icon.PNG", "a/b/c.png"])
def test_good_icons(good: str) -> None:
    assert parse(icon=good).icon == good


@pytest.mark.parametrize("bad", ["icon.gif", "../icon.svg", "/icon.svg", "a//b.svg", "a\\b.svg"])
def test_bad_icons(bad: str) -> None:
    rejected("icon .* is not a relative path", icon=bad)


def test_names() -> None:
    rejected(r"lacks \[names\] 'zh-CN'", names={"en": "Hello"})
    rejected(r"\[names\] 'en' must hold 1 to 80", names={"en": " ", "zh-CN": "你好"})
    rejected(r"\[names\] 'en' must hold 1 to 80", names={"en": "x" * 81, "zh-CN": "你好"})
    rejected("must not contain control characters", names={"en": "a\nb", "zh-CN": "你好"})
    rejected(r"\[names\] 'en' must be a string", names={"en": 1, "zh-CN": "你好"})
    rejected("'names' must be a table", names="Hello")


def test_description() -> None:
    assert parse(description={"zh-CN": "说你好。\n第二行"}).description == {
        "zh-CN": "说你好。\n第二行"
    }
    rejected(r"\[description\] 'en' must hold 1 to 500", description={"en": "x" * 501})


def test_permission_patterns_are_validated() -> None:
    rejected(
        r"permission 'read:Vehicle.Cab\*' is not valid", permissions={"read": ["Vehicle.Cab*"]}
    )
    rejected("permission 'actuate:a..b' is not valid", permissions={"actuate": ["a..b"]})
    rejected("permission 'provide:a b' is not valid", permissions={"provide": ["a b"]})
    rejected("permission 'read:' has no pattern", permissions={"read": [""]})
    rejected("declares 'read:Vehicle.Speed' twice", permissions={"read": ["Vehicle.Speed"] * 2})
    rejected("read must be a list of path patterns", permissions={"read": "Vehicle.Speed"})
    rejected("read must be a list of path patterns", permissions={"read": [1]})
    rejected("more than 100 patterns", permissions={"read": [f"Vehicle.S{i}" for i in range(101)]})


def test_permission_flags() -> None:
    m = parse(permissions={"network": True, "notifications": True, "media": False})
    assert m.permissions == ("notifications", "network")
    for flag in PERMISSION_FLAGS:
        rejected(f"{flag} must be true or false", permissions={flag: "yes"})


def test_wildcards_are_allowed() -> None:
    m = parse(permissions={"read": ["Vehicle.**", "Vehicle.*.Speed"], "provide": ["Vehicle.X"]})
    assert m.permissions == ("read:Vehicle.**", "read:Vehicle.*.Speed", "provide:Vehicle.X")


def test_templates() -> None:
    assert parse(ui={"templates": list(ALL_TEMPLATES)}).templates == ALL_TEMPLATES
    rejected("names 'html', which is not one of", ui={"templates": ["html"]})
    rejected("names a type twice", ui={"templates": ["list", "list"]})
    rejected("must be a list of template types", ui={"templates": "list"})


def test_limits() -> None:
    m = parse(limits={"memory_mb": 1, "cpu_seconds": 2**31 - 1, "open_files": 64})
    assert m.limits == Limits(1, 2**31 - 1, 64)
    for bad in (0, -1, 2**31, True, "1"):
        rejected(r"\[limits\] memory_mb must be a whole number", limits={"memory_mb": bad})
    with pytest.raises(PackageRejected, match=r"open_files must be a whole number"):
        Manifest.parse(manifest_toml(manifest_fields("a.b")) + "\n[limits]\nopen_files = 1.5\n")


def test_wrong_types_at_the_top() -> None:
    rejected("'version' must be a string", version=1)
    rejected("'limits' must be a table", limits=[1])


# --- SemVer precedence ---------------------------------------------------------------------

SPEC_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "1.10.0",
    "2.0.0",
    "10.0.0",
]


def test_spec_precedence() -> None:
    for i, a in enumerate(SPEC_ORDER):
        for j, b in enumerate(SPEC_ORDER):
            assert compare_versions(a, b) == (i > j) - (i < j), (a, b)


def test_build_metadata_is_ignored() -> None:
    assert compare_versions("1.0.0+a", "1.0.0+b") == 0
    assert compare_versions("1.0.0-rc.1+x", "1.0.0") == -1


def test_compare_refuses_non_versions() -> None:
    with pytest.raises(InvalidArgument, match=r"not a semantic version"):
        compare_versions("1.0", "1.0.0")


def test_platform_version_is_semver() -> None:
    assert is_semver(platform_version())


def test_platform_version_from_pep440(monkeypatch: pytest.MonkeyPatch) -> None:
    import carmesh

    for pep440, semver in [("0.2.0rc1", "0.2.0"), ("1.2", "1.2.0"), ("bogus", "0.0.0")]:
        monkeypatch.setattr(carmesh, "__version__", pep440)
        assert platform_version() == semver


_IDENTIFIER = st.one_of(
    st.integers(0, 10**6).map(str),
    st.from_regex(r"[0-9]*[A-Za-z-][0-9A-Za-z-]{0,4}", fullmatch=True),
)
VERSIONS = st.builds(
    lambda n, pre, build: (
        ".".join(map(str, n))
        + (f"-{'.'.join(pre)}" if pre else "")
        + (f"+{'.'.join(build)}" if build else "")
    ),
    st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)),
    st.lists(_IDENTIFIER, max_size=3),
    st.lists(st.from_regex(r"[0-9A-Za-z-]{1,4}", fullmatch=True), max_size=2),
)


@given(VERSIONS, VERSIONS, VERSIONS)
def test_precedence_is_a_total_order(a: str, b: str, c: str) -> None:
    assert is_semver(a)
    assert compare_versions(a, a) == 0
    assert compare_versions(a, b) == -compare_versions(b, a)
    if compare_versions(a, b) <= 0 and compare_versions(b, c) <= 0:
        assert compare_versions(a, c) <= 0
    assert compare_versions(a, a.split("+")[0]) == 0


# --- property tests ------------------------------------------------------------------------

_LABEL = st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True)
_IDS = st.lists(_LABEL, min_size=2, max_size=4).map(".".join)
_NAME = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=80).filter(
    lambda s: s.strip() != ""
)
_PATTERN = st.lists(
    st.one_of(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True), st.just("*")),
    min_size=1,
    max_size=4,
).map(".".join)


_ENTRY = st.from_regex(
    r"[a-z_][a-z0-9_]{0,5}(\.[a-z_][a-z0-9_]{0,5})?(:[a-z_][a-z0-9_]{0,5})?", fullmatch=True
).filter(lambda e: not any(keyword.iskeyword(p) for p in e.replace(":", ".").split(".")))


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    permissions: dict[str, Any] = {}
    for kind in ("read", "actuate", "provide"):
        patterns = draw(st.lists(_PATTERN, max_size=4, unique=True))
        if patterns or draw(st.booleans()):
            permissions[kind] = patterns
    for flag in PERMISSION_FLAGS:
        value = draw(st.one_of(st.none(), st.booleans()))
        if value is not None:
            permissions[flag] = value
    limits = {
        key: value
        for key in ("memory_mb", "cpu_seconds", "open_files")
        if (value := draw(st.one_of(st.none(), st.integers(1, 2**31 - 1)))) is not None
    }
    fields = manifest_fields(
        draw(_IDS),
        version=draw(VERSIONS),
        publisher=draw(_IDS),
        permissions=permissions,
        templates=draw(st.lists(st.sampled_from(ALL_TEMPLATES), unique=True)),
        entry=draw(_ENTRY),
        min_platform=draw(VERSIONS),
        limits=limits,
        icon=draw(st.one_of(st.none(), st.sampled_from(["icon.svg", "img/logo.png"]))),
    )
    fields["names"] = {"en": draw(_NAME), "zh-CN": draw(_NAME)}
    if draw(st.booleans()):
        fields["description"] = {"en": draw(_NAME)}
    fields["runtime"] = draw(st.sampled_from(["python", "velocitas"]))
    return fields


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_generated_manifests_round_trip(fields: dict[str, Any]) -> None:
    text = manifest_toml(fields)
    m = Manifest.parse(text)
    assert m.raw == text
    assert (m.id, m.version, m.publisher, m.entry, m.min_platform, m.runtime) == tuple(
        fields[k] for k in ("id", "version", "publisher", "entry", "min_platform", "runtime")
    )
    assert m.icon == fields.get("icon")
    assert m.names == fields["names"]
    assert m.description == fields.get("description", {})
    assert m.templates == tuple(fields["ui"]["templates"])
    perms = fields["permissions"]
    expected = [
        f"{kind}:{p}" for kind in ("read", "actuate", "provide") for p in perms.get(kind, [])
    ]
    expected += [flag for flag in PERMISSION_FLAGS if perms.get(flag)]
    assert m.permissions == tuple(expected)
    assert m.limits == Limits(**fields.get("limits", {}))
    assert Manifest.parse(m.raw) == m


@settings(max_examples=300)
@given(st.text())
def test_random_text_is_only_ever_rejected(text: str) -> None:
    with contextlib.suppress(PackageRejected):
        Manifest.parse(text)


_ANY_VALUE = st.recursive(
    st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def inline_toml(value: Any) -> str:
    """Any value of :data:`_ANY_VALUE` as an inline TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(inline_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {inline_toml(v)}" for k, v in value.items()) + "}"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(manifests(), st.sampled_from(
    ["id", "version", "publisher", "entry", "min_platform", "runtime", "icon", "names",
     "description", "permissions", "ui", "limits", "extra"]), _ANY_VALUE)  # fmt: skip
def test_damaged_manifests_are_only_ever_rejected(
    fields: dict[str, Any], key: str, value: Any
) -> None:
    """A valid manifest with one key replaced by any TOML value parses or is rejected."""
    text = manifest_toml({k: v for k, v in fields.items() if k != key})
    text = f"{toml_string(key)} = {inline_toml(value)}\n" + text
    tomllib.loads(text)  # the damage is valid TOML: the parser's own checks must refuse it
    with contextlib.suppress(PackageRejected):
        Manifest.parse(text)


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_toml_string_round_trips(text: str) -> None:
    assert tomllib.loads(f"x = {toml_string(text)}")["x"] == text
