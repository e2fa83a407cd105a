"""A vehicle provider in its own process: ``carmesh provider sim|can --broker HOST:PORT``.

The provider is the very class ``carmesh run`` starts in-process, built by
:func:`carmesh.vehicle.factory.make_vehicle` from the same settings, but connected through a
:class:`~carmesh.vehicle.grpc_link.GrpcConnector` to a broker in another process: a
``carmesh run`` (typically ``--vehicle none``) or any KUKSA databroker.

Its catalog is the broker's own, read with ``ListMetadata``, so both agree on every signal's
id, type and range whatever catalog and overlays the broker was started with. The simulator
leaves out the signals the broker lacks, with one log line: a broker without a vehicle
provider has no ``Vehicle.Carmesh`` branch unless it is started with the carmesh overlay. A
CAN mapping that names a signal the broker lacks is refused before anything runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from carmesh.errors import CarmeshError, ConfigError
from carmesh.settings import Settings
from carmesh.vehicle.grpc_link import GrpcConnector
from carmesh.vehicle.provider import VehicleProvider

__all__ = ["RemoteVehicle", "broker_address", "read_token"]

#: Seconds the provider may take to publish its first values before it is declared running.
START_TIMEOUT = 5.0


def broker_address(broker: str | None, settings: Settings) -> str:
    """``--broker``, else the ``grpc`` setting (where a local ``carmesh run`` listens)."""
    address = broker or settings.grpc
    if address.lower() == "off" or address.endswith(":0"):
        raise ConfigError("give the broker's gRPC address with --broker HOST:PORT")
    return address


def read_token(token: str | None, token_file: Path | None) -> str | None:
    """The bearer token from ``--token`` or ``--token-file`` (not both); None for neither."""
    if token and token_file:
        raise ConfigError("give the token either with --token or with --token-file, not both")
    if token_file is None:
        return token or None
    try:
        text = token_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not text"
        raise ConfigError(f"cannot read the token file {token_file}: {reason}") from None
    if not text:
        raise ConfigError(f"the token file {token_file} is empty")
    return text


class RemoteVehicle:
    """The vehicle provider *settings* name (``settings.vehicle``: ``sim`` or ``can``),
    connected to the broker at *address* over the ``kuksa.val.v2`` provider stream."""

    def __init__(
        self,
        settings: Settings,
        address: str,
        *,
        token: str | None = None,
        tls_ca: Path | None = None,
    ) -> None:
        if settings.vehicle not in ("sim", "can"):
            raise ConfigError(f"no vehicle provider {settings.vehicle!r} to run; use sim or can")
        self.settings = settings
        self.address = address
        self.connector = GrpcConnector(address, token=token, tls_ca=tls_ca)
        #: The provider, once the broker's catalog is known.
        self.vehicle: VehicleProvider | None = None

    async def run(
        self,
        stop: asyncio.Event | None = None,
        on_ready: Callable[[RemoteVehicle], None] | None = None,
    ) -> None:
        """Connect, build the provider, run it until *stop* is set (then return) or it fails.

        *on_ready* is called once the provider has published its first values (or has run
        for :data:`START_TIMEOUT` seconds). Raises a :class:`~carmesh.errors.CarmeshError`
        when the broker cannot be reached, refuses the credentials or a claim, or when the
        provider stream breaks.
        """
        stop = stop or asyncio.Event()
        body = asyncio.create_task(self._run(on_ready), name="remote vehicle")
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({body, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not body.done():
                body.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await body
        if not body.cancelled():
            body.result()

    async def _run(self, on_ready: Callable[[RemoteVehicle], None] | None) -> None:
        from carmesh.vehicle.factory import make_vehicle

        async with self.connector:
            catalog = await self.connector.catalog()
            vehicle = make_vehicle(self.settings, catalog)
            assert vehicle is not None
            self.vehicle = vehicle
            running = asyncio.create_task(vehicle.run(self.connector), name="vehicle")
            broken = asyncio.create_task(self.connector.broken())
            published = asyncio.create_task(self.connector.published.wait())
            try:
                await asyncio.wait(
                    {running, broken, published},
                    timeout=START_TIMEOUT,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not (running.done() or broken.done()) and on_ready is not None:
                    on_ready(self)
                await asyncio.wait({running, broken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (running, broken, published):
                    task.cancel()
                results = await asyncio.gather(running, broken, return_exceptions=True)
            failure, error = results
            if isinstance(error, CarmeshError):
                raise error  # the stream broke: the clearest reason, whatever the provider did
            if isinstance(failure, BaseException) and not isinstance(
                failure, asyncio.CancelledError
            ):
                raise failure
