"""The signal broker core: values, targets, providers, subscriptions, permissions, persistence.

It speaks no wire protocol; adapters (gRPC, HTTP, VISS) translate to these calls and map
:mod:`carmesh.errors` to their own codes. All methods run on one asyncio event loop and are not
thread-safe. Every call takes the caller's :class:`Principal`; batches are validated whole
before anything is applied, so a bad value in a batch changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from carmesh.broker.datapoint import Datapoint, Field
from carmesh.broker.permissions import Action, Principal
from carmesh.broker.provider import Actuator, ProviderSession
from carmesh.broker.store import Row, SignalStore
from carmesh.broker.subscription import DEFAULT_MAX_BATCHES, Batch, Subscription
from carmesh.errors import (
    AlreadyClaimed,
    CarmeshError,
    InvalidArgument,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from carmesh.vss.catalog import Catalog
from carmesh.vss.model import Node, NodeType
from carmesh.vss.values import make_validator

log = logging.getLogger(__name__)

DEFAULT_ACTUATION_TIMEOUT = 5.0


class _Entry:
    """The broker's state for one leaf."""

    __slots__ = (
        "actuation",
        "check",
        "node",
        "on_change",
        "persistent",
        "source",
        "target",
        "target_subs",
        "value",
        "value_subs",
    )

    def __init__(self, node: Node, persistent: bool) -> None:
        self.node = node
        self.check: Callable[[Any], Any] = make_validator(node)
        self.persistent = persistent
        #: Attributes notify subscribers only when their value changes (as KUKSA does).
        self.on_change = node.type is NodeType.ATTRIBUTE
        self.value: Datapoint | None = None
        self.target: Datapoint | None = None
        #: The provider whose session alone may publish this signal's value.
        self.source: ProviderSession | None = None
        #: The provider that carries out actuation requests (actuators only).
        self.actuation: ProviderSession | None = None
        self.value_subs: list[Subscription] = []
        self.target_subs: list[Subscription] = []


class Broker:
    """The car's single source of truth for VSS signals.

    *persist* lists patterns of attributes and actuators whose values (attributes) and targets
    (actuators) are stored in *store* and restored on :meth:`start`; sensors are never stored.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        store: SignalStore | None = None,
        persist: Sequence[str] = (),
        actuation_timeout: float = DEFAULT_ACTUATION_TIMEOUT,
        max_batches: int = DEFAULT_MAX_BATCHES,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.actuation_timeout = actuation_timeout
        self.max_batches = max_batches
        persistent: set[int] = set()
        for pattern in persist:
            persistent.update(n.id for n in catalog.match(pattern))
        self._entries: dict[str, _Entry] = {}
        now = time.time_ns()
        for node in catalog.leaves:
            keep = node.id in persistent and node.type is not NodeType.SENSOR
            entry = _Entry(node, keep)
            if node.type is NodeType.ATTRIBUTE and node.default is not None:
                entry.value = Datapoint(node.default, now)
            self._entries[node.path] = entry
        self._sessions: set[ProviderSession] = set()
        self._subscriptions: set[Subscription] = set()
        self.started = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and restore persisted values (invalid stored values are skipped)."""
        if self.store is not None:
            for path, field, value, ts in self.store.open():
                entry = self._entries.get(path)
                if entry is None or not entry.persistent:
                    continue
                try:
                    dp = Datapoint(entry.check(value), ts)
                except InvalidValue as exc:
                    log.warning("ignoring stored %s of %s: %s", field, path, exc)
                    continue
                if field == Field.TARGET and entry.node.is_actuator:
                    entry.target = dp
                elif field == Field.VALUE and entry.node.type is NodeType.ATTRIBUTE:
                    entry.value = dp
        self.started = True

    async def stop(self) -> None:
        """End every subscription, disconnect every provider and close the store."""
        for sub in list(self._subscriptions):
            sub.close()
        for session in list(self._sessions):
            session.close()
        if self.store is not None:
            self.store.close()
        self.started = False

    # -- lookup ---------------------------------------------------------------------------

    def _entry(self, path: str) -> _Entry:
        entry = self._entries.get(path)
        if entry is None:
            if path in self.catalog:
                raise NotFound(f"{path} is a branch, not a signal", path=path)
            raise NotFound(f"{path} is not a signal of {self.catalog.name}", path=path)
        return entry

    def _select(self, patterns: Iterable[str] | str) -> list[_Entry]:
        """Entries for explicit paths or patterns; NotFound when one selects nothing."""
        if isinstance(patterns, str):
            patterns = (patterns,)
        seen: dict[str, _Entry] = {}
        for pattern in patterns:
            if pattern in self._entries:
                seen[pattern] = self._entries[pattern]
                continue
            for node in self.catalog.resolve(pattern):
                seen[node.path] = self._entries[node.path]
        if not seen:
            raise InvalidArgument("no signal paths were given")
        return list(seen.values())

    def is_persistent(self, path: str) -> bool:
        return self._entry(path).persistent

    def provider_of(self, path: str) -> str | None:
        """Name of the provider that claimed *path*'s value, if any."""
        session = self._entry(path).source
        return session.name if session else None

    def actuation_provider_of(self, path: str) -> str | None:
        """Name of the provider that carries out actuations of *path*, if any."""
        session = self._entry(path).actuation
        return session.name if session else None

    def metadata(self, principal: Principal, pattern: str) -> tuple[Node, ...]:
        """Nodes the pattern selects that *principal* may read; NotFound when none exist."""
        nodes = self.catalog.resolve(pattern)
        principal.check_live()
        visible = tuple(n for n in nodes if principal.allows(Action.READ, n))
        if not visible:
            raise PermissionDenied(f"{principal.name} may not read {pattern}", path=pattern)
        return visible

    # -- reading --------------------------------------------------------------------------

    def get(self, principal: Principal, path: str, field: Field = Field.VALUE) -> Datapoint | None:
        """The current value (or an actuator's target); None when nothing was set yet."""
        entry = self._entry(path)
        principal.require(Action.READ, entry.node)
        if field is Field.TARGET:
            if not entry.node.is_actuator:
                raise InvalidArgument(
                    f"{path} is a {entry.node.type.value}; only actuators have a target", path=path
                )
            return entry.target
        return entry.value

    def get_many(
        self, principal: Principal, patterns: Iterable[str] | str, field: Field = Field.VALUE
    ) -> dict[str, Datapoint | None]:
        """Values of every signal the paths/patterns select, in catalog order per pattern."""
        entries = self._select(patterns)
        out: dict[str, Datapoint | None] = {}
        for entry in entries:
            principal.require(Action.READ, entry.node)
            if field is Field.TARGET:
                if entry.node.is_actuator:
                    out[entry.node.path] = entry.target
            else:
                out[entry.node.path] = entry.value
        return out

    # -- writing --------------------------------------------------------------------------

    async def publish(
        self,
        principal: Principal,
        values: Mapping[str, Any],
        *,
        timestamp: int | None = None,
        session: ProviderSession | None = None,
    ) -> None:
        """Set current values (sensors, attributes, actuators' reported state).

        Needs the ``provide`` scope. A signal claimed by a provider can only be published
        through that provider's session. All values are validated before any is applied.
        Subscribers hear of every write to sensors and actuators, and of attributes only
        when their value changes.
        """
        if session is not None and session.closed:
            raise Unavailable(f"provider {session.name} is disconnected")
        staged: list[tuple[_Entry, Any]] = []
        unrestricted = principal.unrestricted
        entries = self._entries
        for path, raw in values.items():
            entry = entries.get(path)
            if entry is None:
                entry = self._entry(path)
            if not unrestricted:
                principal.require(Action.PROVIDE, entry.node)
            owner = entry.source
            if owner is not None and owner is not session:
                raise PermissionDenied(
                    f"{path} is provided by {owner.name}; only that provider may publish it",
                    path=path,
                )
            staged.append((entry, entry.check(raw)))
        if not staged:
            return
        ts = time.time_ns() if timestamp is None else timestamp
        if self.store is not None:
            rows: list[Row] = [
                (e.node.path, Field.VALUE.value, v, ts)
                for e, v in staged
                if e.persistent and e.node.type is NodeType.ATTRIBUTE
            ]
            if rows:
                await self.store.write(rows)
        self._apply(Field.VALUE, staged, ts)

    async def actuate(self, principal: Principal, targets: Mapping[str, Any]) -> None:
        """Request actuators to reach *targets*; returns when their providers accepted.

        Needs the ``actuate`` scope. Every target is validated and every actuator must have a
        provider before any request is sent. Requests to one provider go as one batch; the
        first refusal is raised (providers that already accepted keep their targets).
        Errors: NotFound, InvalidArgument (not an actuator), InvalidValue, PermissionDenied,
        Unavailable (no provider, provider gone, or no answer within the timeout).
        """
        by_provider: dict[ProviderSession, list[tuple[_Entry, Any]]] = {}
        for path, raw in targets.items():
            entry = self._entry(path)
            node = entry.node
            principal.require(Action.ACTUATE, node)
            if not node.is_actuator:
                raise InvalidArgument(
                    f"{path} is a {node.type.value}, not an actuator; it cannot be actuated",
                    path=path,
                )
            value = entry.check(raw)
            session = entry.actuation
            if session is None or session.handler is None:
                raise Unavailable(f"no provider serves the actuator {path}", path=path)
            by_provider.setdefault(session, []).append((entry, value))
        if not by_provider:
            raise InvalidArgument("no actuator targets were given")
        results = await asyncio.gather(
            *(self._forward(s, batch) for s, batch in by_provider.items()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _forward(self, session: ProviderSession, batch: list[tuple[_Entry, Any]]) -> None:
        assert session.handler is not None
        request = {entry.node.path: value for entry, value in batch}
        try:
            await asyncio.wait_for(session.handler.actuate(request), self.actuation_timeout)
        except CarmeshError:
            raise
        except TimeoutError:
            raise Unavailable(
                f"provider {session.name} did not answer within {self.actuation_timeout:g} s"
            ) from None
        except Exception as exc:
            log.exception("provider %s failed an actuation", session.name)
            raise Unavailable(f"provider {session.name} failed: {exc}") from exc
        ts = time.time_ns()
        if self.store is not None:
            rows: list[Row] = [
                (e.node.path, Field.TARGET.value, v, ts) for e, v in batch if e.persistent
            ]
            if rows:
                await self.store.write(rows)
        self._apply(Field.TARGET, batch, ts)

    def _apply(self, field: Field, staged: list[tuple[_Entry, Any]], ts: int) -> None:
        per_sub: dict[Subscription, Batch] = {}
        if field is Field.VALUE:
            for entry, value in staged:
                old = entry.value
                dp = entry.value = Datapoint(value, ts)
                if entry.on_change and old is not None and old.value == value:
                    continue
                for sub in entry.value_subs:
                    batch = per_sub.get(sub)
                    if batch is None:
                        batch = per_sub[sub] = {}
                    batch[entry.node.path] = dp
        else:
            for entry, value in staged:
                dp = entry.target = Datapoint(value, ts)
                for sub in entry.target_subs:
                    batch = per_sub.get(sub)
                    if batch is None:
                        batch = per_sub[sub] = {}
                    batch[entry.node.path] = dp
        for sub, batch in per_sub.items():
            sub.push(batch)

    # -- subscriptions --------------------------------------------------------------------

    def subscribe(
        self,
        principal: Principal,
        patterns: Iterable[str] | str,
        *,
        field: Field = Field.VALUE,
        initial: bool = True,
        max_batches: int | None = None,
    ) -> Subscription:
        """Subscribe to the signals that paths/patterns select.

        With *initial*, the first batch holds the current values of those that have one.
        Raises NotFound, InvalidArgument (bad pattern; targets of non-actuators) or
        PermissionDenied when any selected signal is not readable.
        """
        entries = self._select(patterns)
        for entry in entries:
            principal.require(Action.READ, entry.node)
            if field is Field.TARGET and not entry.node.is_actuator:
                raise InvalidArgument(
                    f"{entry.node.path} is a {entry.node.type.value}; only actuators have "
                    "a target to subscribe to",
                    path=entry.node.path,
                )
        sub = Subscription(
            principal.name,
            tuple(e.node for e in entries),
            field,
            max_batches or self.max_batches,
            self._unsubscribe,
        )
        for entry in entries:
            (entry.target_subs if field is Field.TARGET else entry.value_subs).append(sub)
        self._subscriptions.add(sub)
        if initial:
            current: Batch = {}
            for entry in entries:
                dp = entry.target if field is Field.TARGET else entry.value
                if dp is not None:
                    current[entry.node.path] = dp
            if current:
                sub.push(current)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)
        for node in sub.nodes:
            entry = self._entries[node.path]
            subs = entry.target_subs if sub.field is Field.TARGET else entry.value_subs
            if sub in subs:
                subs.remove(sub)

    @property
    def subscription_count(self) -> int:
        return len(self._subscriptions)

    # -- providers ------------------------------------------------------------------------

    def connect_provider(
        self, principal: Principal, name: str, handler: Actuator | None = None
    ) -> ProviderSession:
        """Register a provider; *handler* receives actuations for the actuators it claims."""
        principal.check_live()
        session = ProviderSession(self, principal, name, handler)
        self._sessions.add(session)
        return session

    @property
    def providers(self) -> list[ProviderSession]:
        return sorted(self._sessions, key=lambda s: s.name)

    def _claim(
        self,
        session: ProviderSession,
        patterns: Iterable[str],
        *,
        values: bool,
        actuation: bool,
    ) -> tuple[Node, ...]:
        if session.closed:
            raise Unavailable(f"provider {session.name} is disconnected")
        entries = self._select(patterns)
        for entry in entries:
            node = entry.node
            session.principal.require(Action.PROVIDE, node)
            if values and entry.source not in (None, session):
                assert entry.source is not None
                raise AlreadyClaimed(
                    f"{node.path} is already provided by {entry.source.name}", path=node.path
                )
            if not actuation or not node.is_actuator:
                if actuation and not values:
                    raise InvalidArgument(
                        f"{node.path} is a {node.type.value}; only actuators can be claimed "
                        "for actuation",
                        path=node.path,
                    )
                continue
            if entry.actuation not in (None, session):
                assert entry.actuation is not None
                raise AlreadyClaimed(
                    f"actuation of {node.path} is already provided by {entry.actuation.name}",
                    path=node.path,
                )
            if session.handler is None:
                raise InvalidArgument(
                    f"provider {session.name} cannot claim the actuator {node.path}: "
                    "it has no actuation handler",
                    path=node.path,
                )
        for entry in entries:
            if values:
                entry.source = session
            if actuation and entry.node.is_actuator:
                entry.actuation = session
            session.claimed[entry.node.path] = entry.node
        return tuple(e.node for e in entries)

    def _release(self, session: ProviderSession, patterns: Iterable[str]) -> None:
        for entry in self._select(patterns):
            self._release_entry(session, entry)

    def _release_entry(self, session: ProviderSession, entry: _Entry) -> None:
        if entry.source is session:
            entry.source = None
        if entry.actuation is session:
            entry.actuation = None
        session.claimed.pop(entry.node.path, None)

    def _disconnect(self, session: ProviderSession) -> None:
        for path in list(session.claimed):
            self._release_entry(session, self._entries[path])
        self._sessions.discard(session)
