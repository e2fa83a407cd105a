"""The one small interface every vehicle provider implements (the simulator, CAN, …).

A vehicle provider owns the car's signals: it claims them, publishes their values and carries
out actuations of the actuators it claimed. It never reaches into the broker; it talks to it
only through a :class:`ProviderLink` obtained from a :class:`Connector`. The same provider can
therefore run in-process (:class:`InProcessConnector`, the default of ``carmesh run``) or in a
separate process over the KUKSA ``kuksa.val.v2`` provider stream
(:class:`carmesh.vehicle.grpc_link.GrpcConnector`, ``carmesh provider``), without changing a
line.

Writing a provider::

    class MyVehicle(VehicleProvider):
        name = "mine"

        async def run(self, connector: Connector) -> None:
            link = await connector.connect(self.name, handler=self)  # or None: no actuators
            try:
                await link.claim(["Vehicle.Speed", "Vehicle.Cabin.Door.**"])
                while True:
                    await link.publish({"Vehicle.Speed": 42.0})
                    await asyncio.sleep(0.1)
            finally:
                await link.close()

        async def actuate(self, targets: Mapping[str, Any]) -> None:
            ...  # accept, or raise carmesh.errors.InvalidArgument("…") to refuse

The handler's ``actuate`` receives validated targets (actuator path → value) and returns once
the request is accepted (not when the actuator reached its target: it reports its progress by
publishing the actuator's current value). Raising a :class:`carmesh.errors.CarmeshError`
refuses the whole request with that message, which reaches the caller (e.g. a gRPC client)
unchanged; ``InvalidArgument`` for an interlock, ``Unavailable`` when the hardware is gone.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Protocol

from carmesh.broker.broker import Broker
from carmesh.broker.permissions import Principal
from carmesh.broker.provider import Actuator, ProviderSession

__all__ = [
    "Actuator",
    "Connector",
    "InProcessConnector",
    "ProviderLink",
    "VehicleProvider",
]


class ProviderLink(Protocol):
    """A provider's connection to the broker (in-process or over a provider stream).

    Every method may raise a :class:`carmesh.errors.CarmeshError`: ``NotFound`` (unknown
    path), ``AlreadyClaimed`` (another provider holds a signal), ``PermissionDenied``,
    ``InvalidValue`` (a value that does not fit its signal; nothing of the batch is applied),
    ``Unavailable`` (the link is closed or the broker is gone).
    """

    async def claim(self, patterns: Iterable[str]) -> None:
        """Claim the selected signals' values and (for actuators) their actuation."""

    async def claim_values(self, patterns: Iterable[str]) -> None:
        """Claim only the right to publish the selected signals' values."""

    async def claim_actuation(self, patterns: Iterable[str]) -> None:
        """Claim only the actuation of the selected actuators."""

    async def publish(self, values: Mapping[str, Any], *, timestamp: int | None = None) -> None:
        """Publish current values as one batch (all or nothing); *timestamp* in ns since
        the epoch, default now."""

    async def close(self) -> None:
        """Release every claim; safe to call more than once."""


class Connector(Protocol):
    """Opens a :class:`ProviderLink` for a provider named *name*.

    *handler* receives the actuation requests for the actuators the provider claims; a
    provider without actuators passes None (claiming an actuator then fails).
    """

    async def connect(self, name: str, handler: Actuator | None) -> ProviderLink: ...


class VehicleProvider(abc.ABC):
    """A source of the car's signals, chosen by name at run time (``--vehicle NAME``)."""

    #: Short name, as given to ``--vehicle`` (``"sim"``, ``"can"``).
    name: ClassVar[str]

    @property
    def description(self) -> str:
        """One line for the start banner, e.g. ``"Polestar 2 … (simulated, 20× real time)"``."""
        return self.name

    @abc.abstractmethod
    async def run(self, connector: Connector) -> None:
        """Connect, claim, publish and serve actuations until cancelled.

        Must close its link when it ends (normally, by error or by cancellation) and must
        react to cancellation promptly (within a fraction of a second), so that stopping
        the car stays quick.
        """


class _SessionLink:
    """A :class:`ProviderLink` over an in-process :class:`ProviderSession`."""

    def __init__(self, session: ProviderSession) -> None:
        self.session = session

    async def claim(self, patterns: Iterable[str]) -> None:
        self.session.claim(patterns)

    async def claim_values(self, patterns: Iterable[str]) -> None:
        self.session.claim_values(patterns)

    async def claim_actuation(self, patterns: Iterable[str]) -> None:
        self.session.claim_actuation(patterns)

    async def publish(self, values: Mapping[str, Any], *, timestamp: int | None = None) -> None:
        await self.session.publish(values, timestamp=timestamp)

    async def close(self) -> None:
        self.session.close()


class InProcessConnector:
    """Connects providers to a broker in the same process, as *principal* (which needs the
    ``provide`` scope for the signals it claims)."""

    def __init__(self, broker: Broker, principal: Principal) -> None:
        self.broker = broker
        self.principal = principal

    async def connect(self, name: str, handler: Actuator | None) -> ProviderLink:
        return _SessionLink(self.broker.connect_provider(self.principal, name, handler))
