"""Permission decisions: how an app's grants start, how they carry over, and the integrator's
policy file that pre-decides some of them.

Grants map each permission id an app's manifest declares (``read:PATTERN``, ``actuate:…``,
``provide:…``, ``notifications``, ``media``, ``location``, ``network``) to True (granted),
False (denied) or None (not decided yet). The user decides one id at a time; an integrator
may pre-decide ids with a policy file (``--app-policy``):

.. code-block:: toml

    [publishers."org.carmesh.examples"]
    grant = "all"                       # or a list of ids / patterns such as "read:*"

    [apps."org.example.hello"]
    grant = ["read:Vehicle.Speed", "notifications"]
    deny = ["network"]

A policy item is matched against the permission id *as text*: ``*`` stands for any run of
characters (dots included) and every other character for itself, so ``read:*`` covers every
read the app declares, ``read:Vehicle.Cabin.*`` every declared read whose pattern starts with
``Vehicle.Cabin.``, and ``network`` only ``network``. ``"all"`` is the item ``*``. The
publisher section and the app section both apply; a deny wins over a grant. Policy decisions
are pre-decisions: the user can still change them afterwards.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from carmesh.apps.manifest import PATTERN_PERMISSIONS, PERMISSION_FLAGS, Manifest
from carmesh.errors import ConfigError, InvalidArgument

#: How an install decides what no policy decided: leave it to the user, grant, or deny.
GrantMode = Literal["ask", "all", "none"]
GRANT_MODES: tuple[GrantMode, ...] = ("ask", "all", "none")

Grants = dict[str, bool | None]

_KINDS = (*PATTERN_PERMISSIONS, *PERMISSION_FLAGS)


def permission_ids(manifest: Manifest) -> tuple[str, ...]:
    """The permission ids *manifest* declares, in manifest order (each once)."""
    return tuple(dict.fromkeys(manifest.permissions))


@lru_cache(maxsize=1024)
def _compile(item: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(piece) for piece in item.split("*")), re.DOTALL)


def item_matches(item: str, permission: str) -> bool:
    """True when the policy *item* covers *permission* (``*``: any run of characters)."""
    return _compile(item).fullmatch(permission) is not None


def check_item(item: str) -> None:
    """Raise :class:`InvalidArgument` unless *item* can match some permission id.

    Accepted: ``*``; a flag (``notifications``…); ``KIND:TEXT`` with KIND one of ``read``,
    ``actuate``, ``provide`` (or containing ``*``) and TEXT non-empty; no whitespace.
    """
    if not item or any(c.isspace() for c in item):
        raise InvalidArgument(f"{item!r} is not a permission id or pattern (empty or spaces)")
    if "*" in item.partition(":")[0]:
        return
    kind, colon, rest = item.partition(":")
    if colon:
        if kind not in PATTERN_PERMISSIONS or not rest:
            raise InvalidArgument(
                f"{item!r} is not a permission id or pattern "
                f"(use {', '.join(PATTERN_PERMISSIONS)} followed by ':' and a path pattern)"
            )
    elif kind not in PERMISSION_FLAGS:
        raise InvalidArgument(
            f"{item!r} is not a permission id or pattern (one of {', '.join(_KINDS)})"
        )


@dataclass(frozen=True)
class Rule:
    """The grant and deny items of one policy section."""

    grant: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


class GrantPolicy:
    """The integrator's pre-decisions, by publisher and by app; see the module docstring."""

    def __init__(
        self,
        publishers: Mapping[str, Rule] | None = None,
        apps: Mapping[str, Rule] | None = None,
    ) -> None:
        self.publishers = dict(publishers or {})
        self.apps = dict(apps or {})

    @classmethod
    def load(cls, path: Path) -> GrantPolicy:
        """Read a policy file; :class:`ConfigError` naming the file and the fault."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise ConfigError(f"cannot read the app policy {path}: {reason}") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, *, source: str = "the app policy") -> GrantPolicy:
        """Parse policy TOML; :class:`ConfigError` (mentioning *source*) when malformed."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source} is not valid TOML: {exc}") from None
        unknown = sorted(set(data) - {"publishers", "apps"})
        if unknown:
            raise ConfigError(
                f"{source} has an unknown key {unknown[0]!r} (use [publishers.ID] or [apps.ID])"
            )
        return cls(
            publishers=_sections(data, "publishers", source),
            apps=_sections(data, "apps", source),
        )

    def decide(self, manifest: Manifest) -> dict[str, bool]:
        """The pre-decided subset of *manifest*'s permission ids (deny wins over grant)."""
        rules = [
            rule
            for rule in (self.publishers.get(manifest.publisher), self.apps.get(manifest.id))
            if rule is not None
        ]
        decided: dict[str, bool] = {}
        for permission in permission_ids(manifest):
            if any(item_matches(i, permission) for rule in rules for i in rule.deny):
                decided[permission] = False
            elif any(item_matches(i, permission) for rule in rules for i in rule.grant):
                decided[permission] = True
        return decided


def _sections(data: dict[str, Any], key: str, source: str) -> dict[str, Rule]:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: {key!r} must be a table of [{key}.ID] sections")
    rules: dict[str, Rule] = {}
    for name, section in table.items():
        where = f'[{key}."{name}"]'
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: {where} must be a table with grant and deny")
        unknown = sorted(set(section) - {"grant", "deny"})
        if unknown:
            raise ConfigError(f"{source}: {where} has an unknown key {unknown[0]!r}")
        rules[name] = Rule(
            grant=_items(section.get("grant", []), f"{where} grant", source),
            deny=_items(section.get("deny", []), f"{where} deny", source),
        )
    return rules


def _items(value: Any, where: str, source: str) -> tuple[str, ...]:
    if value == "all":
        return ("*",)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{source}: {where} must be "all" or a list of permission ids')
    for item in value:
        try:
            check_item(item)
        except InvalidArgument as exc:
            raise ConfigError(f"{source}: {where}: {exc}") from None
    return tuple(value)


def initial_grants(
    manifest: Manifest, mode: str = "ask", policy: GrantPolicy | None = None
) -> Grants:
    """Grants of a fresh install: *mode* (``ask``: undecided, ``all``: granted, ``none``:
    denied) for every declared id, then the policy's pre-decisions on top.

    :class:`InvalidArgument` for an unknown *mode*.
    """
    if mode not in GRANT_MODES:
        raise InvalidArgument(f"grant must be one of {', '.join(GRANT_MODES)}, not {mode!r}")
    default = {"ask": None, "all": True, "none": False}[mode]
    grants: Grants = dict.fromkeys(permission_ids(manifest), default)
    if policy is not None:
        grants.update(policy.decide(manifest))
    return grants


def carried_grants(
    before: Mapping[str, bool | None],
    manifest: Manifest,
    policy: GrantPolicy | None = None,
) -> Grants:
    """Grants when *manifest* replaces a version whose grants were *before* (update or
    rollback): a decision made for an id *manifest* still declares is kept; an id it newly
    declares (or one still undecided) takes the policy's pre-decision, else stays undecided;
    decisions for ids it no longer declares are dropped.
    """
    pre = policy.decide(manifest) if policy is not None else {}
    grants: Grants = {}
    for permission in permission_ids(manifest):
        decision = before.get(permission)
        grants[permission] = decision if decision is not None else pre.get(permission)
    return grants


def undecided(grants: Mapping[str, bool | None]) -> list[str]:
    """The ids still waiting for the user's decision, in order."""
    return [p for p, decision in grants.items() if decision is None]
