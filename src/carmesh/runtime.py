"""The composition root: builds the catalog, the broker and the services from settings and
runs them in one task group. Nothing starts on import; :meth:`Runtime.stop` (or SIGINT /
SIGTERM when run from the CLI) stops everything in reverse order of start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.server import GrpcServer, TlsFiles
from carmesh.api.tokens import TokenVerifier
from carmesh.broker import Broker, SignalStore
from carmesh.settings import Settings
from carmesh.vss import Catalog

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


class Runtime:
    """One running car: catalog, broker and services built from one :class:`Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = Catalog.load(settings.vss, settings.overlays)
        self.broker = Broker(
            self.catalog,
            store=SignalStore(settings.database),
            persist=settings.persist,
            actuation_timeout=settings.actuation_timeout,
        )
        self.services: list[Service] = [BrokerService(self.broker)]
        self.grpc: GrpcServer | None = None
        if settings.grpc.lower() != "off":
            verifier = (
                TokenVerifier.from_file(settings.jwt_public_key)
                if settings.jwt_public_key
                else None
            )
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
            )
            self.services.append(self.grpc)
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
                if on_ready is not None:
                    on_ready(self)
                await self._stop.wait()
                for task in tasks:
                    task.cancel()
