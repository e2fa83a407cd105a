"""Principals and their scopes, checked by the broker core on every call.

The scope language is KUKSA's: space-separated ``action[:pattern]`` items, where action is
``read``, ``actuate``, ``provide`` or ``create`` and pattern uses the KUKSA wildcard rules
(``read:Vehicle.Speed provide:Vehicle.Body.* actuate``). An action without a pattern covers
every signal. As in KUKSA, ``actuate``, ``provide`` and ``create`` each imply ``read``.
How a principal is authenticated (JWT, app identity…) is the adapters' business.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from enum import StrEnum

from carmesh.errors import InvalidArgument, PermissionDenied, Unauthenticated
from carmesh.vss import glob
from carmesh.vss.model import Node


class Action(StrEnum):
    READ = "read"
    ACTUATE = "actuate"
    PROVIDE = "provide"
    CREATE = "create"


_VERB = {
    Action.READ: "read",
    Action.ACTUATE: "actuate",
    Action.PROVIDE: "provide",
    Action.CREATE: "create",
}


@dataclass(frozen=True, slots=True)
class Scope:
    """One grant: *action* on the signals selected by *pattern* (None: every signal)."""

    action: Action
    pattern: str | None = None

    def __str__(self) -> str:
        return self.action.value if self.pattern is None else f"{self.action.value}:{self.pattern}"


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> tuple[Scope, ...]:
    """Parse KUKSA scope syntax; raises :class:`InvalidArgument` naming the bad item."""
    items = text.split() if isinstance(text, str) else [s for t in text for s in t.split()]
    scopes = []
    for item in items:
        action_text, _, pattern = item.partition(":")
        try:
            action = Action(action_text)
        except ValueError:
            raise InvalidArgument(
                f"scope {item!r}: unknown action {action_text!r} "
                "(use read, actuate, provide or create)"
            ) from None
        if ":" in item:
            if not pattern:
                raise InvalidArgument(f"scope {item!r}: a ':' must be followed by a path pattern")
            glob.compile_pattern(pattern)  # raises InvalidArgument when malformed
            scopes.append(Scope(action, pattern))
        else:
            scopes.append(Scope(action))
    return tuple(scopes)


@dataclass(eq=False)
class Principal:
    """Who is calling, and what they may do.

    ``expires_at`` (UNIX seconds) makes every check fail with :class:`Unauthenticated` once
    passed, as an expired token must.
    """

    name: str
    scopes: tuple[Scope, ...] = ()
    expires_at: float | None = None
    _regex: dict[Action, re.Pattern[str] | bool] = field(default_factory=dict, repr=False)
    _cache: dict[tuple[Action, int], bool] = field(default_factory=dict, repr=False)

    @classmethod
    def system(cls, name: str = "system") -> Principal:
        """A principal allowed everything: for the car's own trusted services."""
        return cls(name, tuple(Scope(a) for a in Action))

    @classmethod
    def from_scopes(
        cls, name: str, scopes: str | list[str], expires_at: float | None = None
    ) -> Principal:
        return cls(name, parse_scopes(scopes), expires_at)

    def __post_init__(self) -> None:
        for action in Action:
            granted = [s for s in self.scopes if s.action is action]
            if action is Action.READ:
                granted = list(self.scopes)  # every action implies read
            if any(s.pattern is None for s in granted):
                self._regex[action] = True
            elif granted:
                self._regex[action] = re.compile(
                    "|".join(
                        f"(?:{glob.compile_pattern(s.pattern or '').pattern})" for s in granted
                    )
                )
            else:
                self._regex[action] = False
        self.unrestricted = all(v is True for v in self._regex.values()) and self.expires_at is None

    def allows(self, action: Action, node: Node) -> bool:
        """True when this principal may perform *action* on *node* (ignores expiry)."""
        key = (action, node.id)
        verdict = self._cache.get(key)
        if verdict is None:
            rule = self._regex[action]
            if isinstance(rule, bool):
                verdict = rule
            else:
                verdict = rule.fullmatch("." + node.path) is not None
            self._cache[key] = verdict
        return verdict

    def check_live(self) -> None:
        if self.expires_at is not None and time.time() >= self.expires_at:
            raise Unauthenticated(f"the credentials of {self.name} have expired")

    def require(self, action: Action, node: Node) -> None:
        """Raise :class:`PermissionDenied` (or :class:`Unauthenticated` when expired)."""
        if self.unrestricted:
            return
        self.check_live()
        if not self.allows(action, node):
            raise PermissionDenied(
                f"{self.name} may not {_VERB[action]} {node.path}", path=node.path
            )
