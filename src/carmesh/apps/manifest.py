"""The app manifest, ``carmesh-app.toml``: what an app is, what it may ask for, how it runs.

:meth:`Manifest.parse` is strict, because the manifest is what the user is asked to trust:
unknown keys are refused, every value is type-checked, and each refusal is one
:class:`~carmesh.errors.PackageRejected` sentence that starts with "the manifest" and names
the key at fault. The format is specified in ``docs/apps.md`` (section "Manifest").

Beyond the document, the parser promises these bounds: names ≤ 80 characters (no control
characters), descriptions ≤ 500, versions ≤ 64 characters, at most 100 patterns per
permission list, limits between 1 and 2³¹ − 1, and the whole manifest ≤ 64 KiB.

Versions follow Semantic Versioning 2.0; :func:`compare_versions` implements its precedence
rules (pre-releases sort before their release, build metadata is ignored).
"""

from __future__ import annotations

import keyword
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import carmesh
from carmesh.errors import InvalidArgument, PackageRejected
from carmesh.vss.glob import compile_pattern

MANIFEST_NAME = "carmesh-app.toml"
SIGNATURE_NAME = "carmesh-app.sig"

#: Boolean permissions, in the order their ids follow the VSS permissions.
PERMISSION_FLAGS = ("notifications", "media", "location", "network")
#: The VSS permission kinds, in the order their ids come first.
PATTERN_PERMISSIONS = ("read", "actuate", "provide")
#: Template types an app may declare in ``[ui] templates``.
ALL_TEMPLATES = ("list", "grid", "pane", "message", "navigation", "search")
RUNTIMES = ("python", "velocitas")
#: Languages of ``[names]`` (all required) and ``[description]`` (optional).
LANGUAGES = ("en", "zh-CN")
#: What the ``location`` permission grants on the broker.
LOCATION_SCOPE = "read:Vehicle.CurrentLocation.*"

MAX_MANIFEST_BYTES = 64 * 1024
MAX_ID_LENGTH = 128
MAX_VERSION_LENGTH = 64
MAX_NAME_LENGTH = 80
MAX_DESCRIPTION_LENGTH = 500
MAX_PATTERNS = 100
MAX_LIMIT = 2**31 - 1
ICON_SUFFIXES = (".svg", ".png")

_REVERSE_DNS = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMERIC = r"0|[1-9][0-9]*"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    rf"({_NUMERIC})\.({_NUMERIC})\.({_NUMERIC})"
    rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_RELEASE_PREFIX = re.compile(r"([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_TOP_KEYS = frozenset(
    {
        "id",
        "version",
        "publisher",
        "entry",
        "min_platform",
        "runtime",
        "icon",
        "names",
        "description",
        "permissions",
        "ui",
        "limits",
    }
)
_LIMIT_KEYS = ("memory_mb", "cpu_seconds", "open_files")


def is_reverse_dns(text: str) -> bool:
    """True for an app or publisher id: 2+ dot-separated labels of ``[a-z0-9_-]``, ≤ 128 chars."""
    return len(text) <= MAX_ID_LENGTH and _REVERSE_DNS.fullmatch(text) is not None


def is_semver(text: str) -> bool:
    """True when *text* is a SemVer 2.0 version (``MAJOR.MINOR.PATCH[-PRE][+BUILD]``)."""
    return _SEMVER.fullmatch(text) is not None


def _precedence_key(version: str) -> tuple[int, int, int, tuple[Any, ...]]:
    match = _SEMVER.fullmatch(version)
    if match is None:
        raise InvalidArgument(f"{version!r} is not a semantic version (MAJOR.MINOR.PATCH[-PRE])")
    major, minor, patch, pre, _build = match.groups()
    if pre is None:
        release: tuple[Any, ...] = (1,)  # a release outranks its pre-releases
    else:
        # Numeric identifiers rank below alphanumeric ones; a shorter prefix ranks lower.
        ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
        release = (0, ids)
    return int(major), int(minor), int(patch), release


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as *a* precedes, equals or follows *b* under SemVer 2.0 precedence.

    Build metadata is ignored (``1.0.0+a`` equals ``1.0.0+b``). Raises
    :class:`~carmesh.errors.InvalidArgument` when either is not a semantic version.
    """
    key_a, key_b = _precedence_key(a), _precedence_key(b)
    return (key_a > key_b) - (key_a < key_b)


def platform_version() -> str:
    """The running carmesh version as a semantic version, for ``min_platform`` checks.

    ``carmesh.__version__`` is used as is when it is a semantic version; a PEP 440 version
    that is not (``0.2.0rc1``, ``0.2``) counts as its numeric release (``0.2.0``).
    """
    version = carmesh.__version__
    if is_semver(version):
        return version
    match = _RELEASE_PREFIX.match(version)
    if match is None:
        return "0.0.0"
    return ".".join(str(int(part or 0)) for part in match.groups())


def toml_string(text: str) -> str:
    """*text* as a TOML basic string (quotes, backslashes and control characters escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f'"{escaped}"'


@dataclass(frozen=True)
class Limits:
    """Resource limits an app asks for (``None``: the car's default); the car may lower them."""

    memory_mb: int | None = None
    cpu_seconds: int | None = None
    open_files: int | None = None


@dataclass(frozen=True)
class Manifest:
    """A parsed, validated ``carmesh-app.toml``; build it with :meth:`parse`.

    ``permissions`` holds the permission ids the app declares, in this order: ``read:P``,
    ``actuate:P`` and ``provide:P`` for each pattern in manifest order, then the flags of
    :data:`PERMISSION_FLAGS` that are true. ``raw`` is the TOML text it was parsed from.
    """

    id: str
    version: str
    publisher: str
    entry: str
    min_platform: str
    runtime: str
    icon: str | None
    names: dict[str, str]
    description: dict[str, str]
    permissions: tuple[str, ...]
    templates: tuple[str, ...]
    limits: Limits
    raw: str

    @classmethod
    def parse(cls, text: str) -> Manifest:
        """Parse and validate a manifest; :class:`PackageRejected` names the first fault."""
        if len(text.encode("utf-8", "surrogatepass")) > MAX_MANIFEST_BYTES:
            raise PackageRejected(f"the manifest is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PackageRejected(f"the manifest is not valid TOML: {exc}") from None
        except RecursionError:
            raise PackageRejected("the manifest is not valid TOML: it nests too deeply") from None
        _only_keys(data, _TOP_KEYS, "")
        app_id = _reverse_dns(data, "id")
        publisher = _reverse_dns(data, "publisher")
        version = _version(data, "version")
        min_platform = _version(data, "min_platform")
        runtime = _string(data, "runtime", "", default="python")
        if runtime not in RUNTIMES:
            raise PackageRejected(
                f"the manifest's runtime {runtime!r} is not one of {', '.join(RUNTIMES)}"
            )
        icon = _string(data, "icon", "", default=None)
        if icon is not None:
            _check_icon(icon)
        names = _languages(data, "names", required=True, max_length=MAX_NAME_LENGTH)
        description = _languages(
            data, "description", required=False, max_length=MAX_DESCRIPTION_LENGTH
        )
        return cls(
            id=app_id,
            version=version,
            publisher=publisher,
            entry=_entry(data),
            min_platform=min_platform,
            runtime=runtime,
            icon=icon,
            names=names,
            description=description,
            permissions=_permissions(data),
            templates=_templates(data),
            limits=_limits(data),
            raw=text,
        )

    @property
    def entry_module(self) -> str:
        """The dotted module of ``entry`` (``hello.app`` for ``hello.app:main``)."""
        return self.entry.partition(":")[0]

    def name(self, lang: str) -> str:
        """The app's name in *lang* (exact tag, then its primary language), else English."""
        if lang in self.names:
            return self.names[lang]
        primary = lang.replace("_", "-").split("-")[0].lower()
        for tag, text in self.names.items():
            if tag.split("-")[0].lower() == primary:
                return text
        return self.names["en"]

    def scopes_for(self, granted: Iterable[str]) -> str:
        """The KUKSA scope string for the declared VSS permissions among *granted*.

        Space-separated ``read:P``/``actuate:P``/``provide:P`` in manifest order; a granted
        ``location`` adds ``read:Vehicle.CurrentLocation.*``. Granted ids the manifest does
        not declare are ignored. ``""`` when nothing applies.
        """
        wanted = set(granted)
        scopes: list[str] = []
        for permission in self.permissions:
            if permission not in wanted:
                continue
            if permission == "location":
                scopes.append(LOCATION_SCOPE)
            elif ":" in permission:
                scopes.append(permission)
        return " ".join(dict.fromkeys(scopes))

    def as_json(self) -> dict[str, Any]:
        """The manifest as JSON-ready data (``icon`` is the member name, not a URL)."""
        return {
            "id": self.id,
            "version": self.version,
            "publisher": self.publisher,
            "entry": self.entry,
            "min_platform": self.min_platform,
            "runtime": self.runtime,
            "icon": self.icon,
            "names": dict(self.names),
            "description": dict(self.description),
            "permissions": list(self.permissions),
            "templates": list(self.templates),
            "limits": {key: getattr(self.limits, key) for key in _LIMIT_KEYS},
        }


def _where(table: str, key: str) -> str:
    return f"[{table}] {key!r}" if table else repr(key)


def _only_keys(data: dict[str, Any], allowed: Iterable[str], table: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        place = f" in [{table}]" if table else ""
        raise PackageRejected(f"the manifest has an unknown key {unknown[0]!r}{place}")


def _table(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PackageRejected(f"the manifest's {key!r} must be a table ([{key}])")
    return value


def _string(data: dict[str, Any], key: str, table: str, *, default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise PackageRejected(f"the manifest lacks the required key {_where(table, key)}")
        return default
    value = data[key]
    if not isinstance(value, str):
        raise PackageRejected(f"the manifest's {_where(table, key)} must be a string")
    return value


def _reverse_dns(data: dict[str, Any], key: str) -> str:
    value: str = _string(data, key, "")
    if not is_reverse_dns(value):
        raise PackageRejected(
            f"the manifest's {key} {value!r} is not reverse-DNS (2 or more dot-separated labels "
            f"of a-z, 0-9, '_' and '-', at most {MAX_ID_LENGTH} characters)"
        )
    return value


def _version(data: dict[str, Any], key: str) -> str:
    value: str = _string(data, key, "")
    if len(value) > MAX_VERSION_LENGTH or not is_semver(value):
        raise PackageRejected(
            f"the manifest's {key} {value!r} is not a semantic version "
            f"(MAJOR.MINOR.PATCH[-PRE][+BUILD], at most {MAX_VERSION_LENGTH} characters)"
        )
    return value


def _entry(data: dict[str, Any]) -> str:
    value: str = _string(data, "entry", "")
    module, colon, function = value.partition(":")
    parts = [*module.split("."), *([function] if colon else [])]
    if not all(_IDENTIFIER.fullmatch(p) and not keyword.iskeyword(p) for p in parts):
        raise PackageRejected(
            f"the manifest's entry {value!r} is not module.path[:function] "
            "made of Python identifiers"
        )
    return value


def _check_icon(icon: str) -> None:
    parts = icon.split("/")
    safe = all(p not in ("", ".", "..") for p in parts) and not _CONTROL.search(icon)
    if not safe or "\\" in icon or not icon.lower().endswith(ICON_SUFFIXES):
        raise PackageRejected(
            f"the manifest's icon {icon!r} is not a relative path to an .svg or .png file"
        )


def _languages(
    data: dict[str, Any], key: str, *, required: bool, max_length: int
) -> dict[str, str]:
    table = _table(data, key)
    if table is None:
        if required:
            raise PackageRejected(f"the manifest lacks the required table [{key}]")
        return {}
    _only_keys(table, LANGUAGES, key)
    if required:
        for lang in LANGUAGES:
            if lang not in table:
                raise PackageRejected(f"the manifest lacks [{key}] {lang!r}")
    texts: dict[str, str] = {}
    for lang in LANGUAGES:
        if lang not in table:
            continue
        text: str = _string(table, lang, key)
        if not text.strip() or len(text) > max_length:
            raise PackageRejected(
                f"the manifest's [{key}] {lang!r} must hold 1 to {max_length} characters"
            )
        if key == "names" and _CONTROL.search(text):
            raise PackageRejected(
                f"the manifest's [{key}] {lang!r} must not contain control characters"
            )
        texts[lang] = text
    return texts


def _permissions(data: dict[str, Any]) -> tuple[str, ...]:
    table = _table(data, "permissions") or {}
    _only_keys(table, (*PATTERN_PERMISSIONS, *PERMISSION_FLAGS), "permissions")
    ids: list[str] = []
    for kind in PATTERN_PERMISSIONS:
        patterns = table.get(kind, [])
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise PackageRejected(
                f"the manifest's [permissions] {kind} must be a list of path patterns"
            )
        if len(patterns) > MAX_PATTERNS:
            raise PackageRejected(
                f"the manifest's [permissions] {kind} lists more than {MAX_PATTERNS} patterns"
            )
        for pattern in patterns:
            permission = f"{kind}:{pattern}"
            if not pattern:
                raise PackageRejected(f"the manifest's permission {permission!r} has no pattern")
            try:
                compile_pattern(pattern)
            except InvalidArgument as exc:
                raise PackageRejected(
                    f"the manifest's permission {permission!r} is not valid: {exc}"
                ) from None
            if permission in ids:
                raise PackageRejected(f"the manifest declares {permission!r} twice")
            ids.append(permission)
    for flag in PERMISSION_FLAGS:
        value = table.get(flag, False)
        if not isinstance(value, bool):
            raise PackageRejected(f"the manifest's [permissions] {flag} must be true or false")
        if value:
            ids.append(flag)
    return tuple(ids)


def _templates(data: dict[str, Any]) -> tuple[str, ...]:
    table = _table(data, "ui") or {}
    _only_keys(table, ("templates",), "ui")
    templates = table.get("templates", [])
    if not isinstance(templates, list) or not all(isinstance(t, str) for t in templates):
        raise PackageRejected("the manifest's [ui] templates must be a list of template types")
    for template in templates:
        if template not in ALL_TEMPLATES:
            raise PackageRejected(
                f"the manifest's [ui] templates names {template!r}, "
                f"which is not one of {', '.join(ALL_TEMPLATES)}"
            )
    if len(set(templates)) != len(templates):
        raise PackageRejected("the manifest's [ui] templates names a type twice")
    return tuple(templates)


def _limits(data: dict[str, Any]) -> Limits:
    table = _table(data, "limits") or {}
    _only_keys(table, _LIMIT_KEYS, "limits")
    values: dict[str, int | None] = {}
    for key in _LIMIT_KEYS:
        value = table.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT
        ):
            raise PackageRejected(
                f"the manifest's [limits] {key} must be a whole number from 1 to {MAX_LIMIT}"
            )
        values[key] = value
    return Limits(**values)
