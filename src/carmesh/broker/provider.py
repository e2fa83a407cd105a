"""Providers: the components that own signals, publish their values and carry out actuations.

A provider connects with :meth:`carmesh.broker.Broker.connect_provider`, which returns a
:class:`ProviderSession`. The session claims signals (exclusively), publishes their values and
receives the actuation requests for the actuators it claimed through its :class:`Actuator`
handler. An in-process provider (the simulated car) and a remote one behind the gRPC provider
stream use exactly this interface. Closing the session releases every claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from carmesh.broker.permissions import Principal
from carmesh.vss.model import Node

if TYPE_CHECKING:
    from carmesh.broker.broker import Broker


class Actuator(Protocol):
    """What a provider implements to receive actuation requests.

    ``targets`` maps actuator paths to validated target values. Return normally to accept
    (the broker then records the targets); raise a :class:`carmesh.errors.CarmeshError`
    (e.g. ``InvalidArgument`` for an interlock) to refuse with that message.
    """

    async def actuate(self, targets: Mapping[str, Any]) -> None: ...


class ProviderSession:
    """A connected provider: its identity, its claims, and its way to publish."""

    def __init__(
        self, broker: Broker, principal: Principal, name: str, handler: Actuator | None
    ) -> None:
        self.broker = broker
        self.principal = principal
        self.name = name
        self.handler = handler
        self.claimed: dict[str, Node] = {}
        self.closed = False

    def claim(self, patterns: Iterable[str]) -> tuple[Node, ...]:
        """Claim every signal the patterns select, its value and (actuators) its actuation.

        All or nothing. Raises NotFound, PermissionDenied (no ``provide`` scope),
        AlreadyClaimed (another provider holds one of them) or InvalidArgument (an actuator
        claimed without an actuation handler).
        """
        return self.broker._claim(self, patterns, values=True, actuation=True)

    def claim_values(self, patterns: Iterable[str]) -> tuple[Node, ...]:
        """Claim only the right to publish the selected signals' values (KUKSA's
        ``ProvideSignalRequest``); actuations go to whoever claimed them."""
        return self.broker._claim(self, patterns, values=True, actuation=False)

    def claim_actuation(self, patterns: Iterable[str]) -> tuple[Node, ...]:
        """Claim only the actuation of the selected actuators (KUKSA's
        ``ProvideActuationRequest``); their values may still be published by others."""
        return self.broker._claim(self, patterns, values=False, actuation=True)

    def release(self, patterns: Iterable[str]) -> None:
        self.broker._release(self, patterns)

    async def publish(self, values: Mapping[str, Any], *, timestamp: int | None = None) -> None:
        """Publish current values (all validated first; all or nothing)."""
        await self.broker.publish(self.principal, values, timestamp=timestamp, session=self)

    def close(self) -> None:
        """Release every claim; pending and later actuations fail as 'no provider'."""
        if not self.closed:
            self.closed = True
            self.broker._disconnect(self)

    def __enter__(self) -> ProviderSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ProviderSession {self.name} claims={len(self.claimed)}>"
