"""The composition root: builds the catalog, the broker and the services from settings and
runs them in one task group. Nothing starts on import; :meth:`Runtime.stop` (or SIGINT /
SIGTERM when run from the CLI) stops everything in reverse order of start.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.server import GrpcServer, TlsFiles
from carmesh.api.tokens import IssuerVerifiers, TokenVerifier, Verifier
from carmesh.broker import Broker, Principal, SignalStore
from carmesh.hmi import HmiServer
from carmesh.settings import Settings
from carmesh.vehicle import (
    Actuator,
    Connector,
    InProcessConnector,
    ProviderLink,
    VehicleProvider,
)
from carmesh.vehicle.factory import make_vehicle
from carmesh.vss import Catalog

if TYPE_CHECKING:
    from carmesh.apps.service import AppsService
    from carmesh.media.service import MediaService
    from carmesh.mqtt import MosquittoService

#: The issuer of the tokens the car signs for its apps (``carmesh.apps.credentials``).
APP_ISSUER = "carmesh-apps"

log = logging.getLogger(__name__)


class Service(Protocol):
    """A part of the car with an explicit lifetime."""

    name: str

    async def start(self) -> None:
        """Acquire resources; return once the service is usable."""

    async def serve(self) -> None:
        """Run until cancelled (return at once if the service has no loop of its own)."""

    async def stop(self) -> None:
        """Release resources; must be safe after a failed or partial start."""


class BrokerService:
    """The broker as a service: opens and restores its store, closes it on stop."""

    name = "broker"

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def start(self) -> None:
        await self.broker.start()

    async def serve(self) -> None:
        return None

    async def stop(self) -> None:
        await self.broker.stop()


#: Seconds a vehicle provider may take to publish its first values before the car is
#: declared running anyway.
VEHICLE_START_TIMEOUT = 5.0


class VehicleService:
    """A vehicle provider (the simulated car, a CAN bus) connected to the broker in-process
    as its own principal, which may only provide signals.

    ``start`` returns once the provider has published its first values (or failed), so that
    the car is live by the time the banner says it is running.
    """

    name = "vehicle"

    def __init__(self, provider: VehicleProvider, broker: Broker) -> None:
        self.provider = provider
        self.connector = InProcessConnector(
            broker, Principal.from_scopes(f"vehicle-{provider.name}", "provide")
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        published = asyncio.Event()
        self._task = asyncio.create_task(
            self.provider.run(_FirstPublish(self.connector, published)), name="vehicle"
        )
        waiter = asyncio.create_task(published.wait())
        await asyncio.wait(
            {self._task, waiter}, timeout=VEHICLE_START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if self._task.done():
            self._task.result()

    async def serve(self) -> None:
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class _FirstPublish:
    """A connector whose links set *event* after their first successful publish."""

    def __init__(self, connector: Connector, event: asyncio.Event) -> None:
        self.connector = connector
        self.event = event

    async def connect(self, name: str, handler: Actuator | None) -> ProviderLink:
        return _WatchedLink(await self.connector.connect(name, handler), self.event)


class _WatchedLink:
    """Passes everything to *link*; sets *event* once a publish went through."""

    def __init__(self, link: ProviderLink, event: asyncio.Event) -> None:
        self.link = link
        self.event = event

    async def claim(self, patterns: Iterable[str]) -> None:
        await self.link.claim(patterns)

    async def claim_values(self, patterns: Iterable[str]) -> None:
        await self.link.claim_values(patterns)

    async def claim_actuation(self, patterns: Iterable[str]) -> None:
        await self.link.claim_actuation(patterns)

    async def publish(self, values: Mapping[str, Any], *, timestamp: int | None = None) -> None:
        await self.link.publish(values, timestamp=timestamp)
        self.event.set()

    async def close(self) -> None:
        await self.link.close()


def carmesh_overlay() -> Path:
    """The packaged overlay of signals carmesh's vehicle providers and media service publish
    that VSS lacks."""
    return Path(str(resources.files("carmesh.vss") / "data" / "carmesh_overlay.yaml"))


def load_catalog(settings: Settings) -> Catalog:
    """The catalog a car with these settings serves: the release, the carmesh overlay when
    a vehicle provider or the media service runs, then the user's overlays."""
    if settings.vehicle == "none" and not settings.media:
        return Catalog.load(settings.vss, settings.overlays)
    catalog = Catalog.load(settings.vss, [carmesh_overlay(), *settings.overlays])
    base = catalog.name.split(" + ")[0]
    extra = len(settings.overlays)
    catalog.name = f"{base} + carmesh signals" + (
        f" + {extra} overlay{'s' if extra > 1 else ''}" if extra else ""
    )
    return catalog


class Runtime:
    """One running car: catalog, broker and services built from one :class:`Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = load_catalog(settings)
        self.broker = Broker(
            self.catalog,
            store=SignalStore(settings.database),
            persist=settings.persist,
            actuation_timeout=settings.actuation_timeout,
        )
        self.services: list[Service] = [BrokerService(self.broker)]
        self.apps: AppsService | None = None
        if settings.apps:
            from carmesh.apps.service import AppsService

            self.apps = AppsService(settings, self.broker)
        self.grpc: GrpcServer | None = None
        if settings.grpc.lower() != "off":
            verifier: Verifier | None = None
            if settings.jwt_public_key:
                verifier = TokenVerifier.from_file(settings.jwt_public_key)
                if self.apps is not None:
                    # Apps on another computer of the car use their own tokens here too.
                    verifier = IssuerVerifiers(verifier, {APP_ISSUER: self.apps.platform.tokens})
            tls = (
                TlsFiles(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
                if settings.tls_cert and settings.tls_key
                else None
            )
            self.grpc = GrpcServer(
                self.broker,
                settings.grpc,
                auth=GrpcAuth(verifier),
                tls=tls,
                insecure=settings.insecure,
                extra=[self.apps.platform.adapter()] if self.apps is not None else [],
            )
            self.services.append(self.grpc)
        self.vehicle = make_vehicle(settings, self.catalog)
        if self.vehicle is not None:
            self.services.append(VehicleService(self.vehicle, self.broker))
        self.media: MediaService | None = None
        if settings.media:
            from carmesh.media.service import MediaService

            self.media = MediaService(
                settings,
                self.broker,
                apps_host=self.apps.platform.host if self.apps is not None else None,
            )
            self.services.append(self.media)
        self.mqtt: MosquittoService | None = None
        if settings.mqtt.lower() != "off":
            from carmesh.mqtt import MosquittoService

            self.mqtt = MosquittoService(
                settings.mqtt, settings.data_dir / "mqtt", insecure=settings.insecure
            )
            self.services.append(self.mqtt)
            if self.apps is not None:
                mqtt = self.mqtt
                self.apps.platform.mqtt_address = lambda: mqtt.address
        if self.apps is not None:
            self.services.append(self.apps)
        self.hmi: HmiServer | None = None
        if settings.http.lower() != "off":
            self.hmi = HmiServer(
                self.broker,
                settings.http,
                insecure=settings.insecure,
                apps=self.apps.platform if self.apps is not None else None,
                media=self.media,
            )
            self.services.append(self.hmi)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to stop every service and return (safe to call more than once)."""
        self._stop.set()

    async def run(self, on_ready: Callable[[Runtime], None] | None = None) -> None:
        """Start every service in order, call *on_ready*, run until :meth:`stop`."""
        async with contextlib.AsyncExitStack() as stack:
            for service in self.services:
                stack.push_async_callback(service.stop)
                await service.start()
                log.debug("started %s", service.name)
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(s.serve(), name=s.name) for s in self.services]
                # Everything built so far (catalog, broker entries, modules) lives as long as
                # the car: keep it out of the collector's passes, and collect the young
                # generation less often; both shorten the pauses that set p99 latency
                # (benchmarks/grpc_broker.py).
                gc.freeze()
                gc.set_threshold(20_000, 50, 100)
                if on_ready is not None:
                    on_ready(self)
                await self._stop.wait()
                for task in tasks:
                    task.cancel()
