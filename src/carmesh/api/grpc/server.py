"""The gRPC server: every adapter on one port, optional TLS, tokens checked per call.

The address is ``HOST:PORT`` or ``unix:PATH`` (a Unix socket, reachable only through the
file system — the apps platform gives it to app processes that have no network).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import stat
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from carmesh.api.address import is_loopback, parse_address
from carmesh.api.grpc.auth import GrpcAuth
from carmesh.broker import Broker
from carmesh.errors import ConfigError

log = logging.getLogger(__name__)

#: Adapter modules; each has ``add_to_server(server, broker, auth)``, which may return an
#: ``async`` callable that ends the adapter's open streams when the server stops.
ADAPTERS = (
    "carmesh.api.grpc.val_v2",
    "carmesh.api.grpc.val_v1",
    "carmesh.api.grpc.sdv_v1",
)
DEFAULT_PORT = 55555  # the KUKSA databroker's port

#: An extra adapter: called like the modules' ``add_to_server``.
Adapter = Callable[[grpc.aio.Server, Broker, GrpcAuth], "Callable[[], Awaitable[None]] | None"]

__all__ = ["ADAPTERS", "DEFAULT_PORT", "GrpcServer", "TlsFiles", "is_loopback", "parse_address"]

_OPTIONS = [
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_concurrent_streams", 1 << 20),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.http2.max_pings_without_data", 0),
    # Calls that arrive faster than the event loop accepts them wait in grpc core; its
    # default (1,000) cancels some of a burst of new subscribers, so allow more.
    ("grpc.server.max_pending_requests", 16_384),
    ("grpc.server.max_pending_requests_hard_limit", 32_768),
]


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for TLS; with *client_ca*, clients must present a certificate it signed."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        def read(path: Path, what: str) -> bytes:
            try:
                return path.read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read the TLS {what} {path}: {exc.strerror}") from None

        ca = read(self.client_ca, "client CA") if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(read(self.key, "key"), read(self.cert, "certificate"))],
            root_certificates=ca,
            require_client_auth=ca is not None,
        )


class GrpcServer:
    """Serves the KUKSA and Velocitas APIs over the broker (a runtime service)."""

    name = "grpc"

    def __init__(
        self,
        broker: Broker,
        address: str,
        *,
        auth: GrpcAuth,
        tls: TlsFiles | None = None,
        insecure: bool = False,
        extra: Sequence[Adapter] = (),
        name: str = "grpc",
    ) -> None:
        self.broker = broker
        self.name = name
        self.unix_path: str | None = None
        if address.startswith("unix:"):
            self.unix_path = address.removeprefix("unix:").removeprefix("//")
            if not self.unix_path:
                raise ConfigError(f"{address!r}: a Unix socket address is unix:PATH")
            self.host, self.port = "", 0
        else:
            self.host, self.port = parse_address(address)
        self.auth = auth
        self.tls = tls
        self.extra = tuple(extra)
        local = self.unix_path is not None or is_loopback(self.host)
        if not local and not auth.enabled and not insecure:
            raise ConfigError(
                f"refusing to serve gRPC on {address} without authorization: anyone on the "
                "network could read and actuate the car. Give --jwt-public-key FILE, or "
                "--insecure to allow it anyway"
            )
        self._server: grpc.aio.Server | None = None
        self._closers: list[Callable[[], Awaitable[None]]] = []

    @property
    def address(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        server = grpc.aio.server(options=_OPTIONS)
        for name in ADAPTERS:
            closer = importlib.import_module(name).add_to_server(server, self.broker, self.auth)
            if closer is not None:
                self._closers.append(closer)
        for adapter in self.extra:
            closer = adapter(server, self.broker, self.auth)
            if closer is not None:
                self._closers.append(closer)
        target = self.address
        if self.unix_path is not None:
            _remove_stale_socket(self.unix_path)
        try:
            if self.tls is not None:
                port = server.add_secure_port(target, self.tls.credentials())
            else:
                port = server.add_insecure_port(target)
        except RuntimeError as exc:
            raise ConfigError(f"cannot serve gRPC on {target}: {exc}") from None
        if port == 0 and self.unix_path is None:
            raise ConfigError(f"cannot serve gRPC on {target}: the address is in use or invalid")
        self.port = port
        await server.start()
        if self.unix_path is not None:
            os.chmod(self.unix_path, 0o660)
        self._server = server
        log.debug("gRPC serving on %s", self.address)

    async def serve(self) -> None:
        """The server runs on the event loop by itself once started."""
        return None

    async def stop(self) -> None:
        if self._server is not None:
            for close in self._closers:
                await close()
            if self._closers:
                # Let the ended handlers send their UNAVAILABLE before the core shuts down.
                await asyncio.sleep(0.05)
            await self._server.stop(grace=0.5)
            self._server = None


def _remove_stale_socket(path: str) -> None:
    """Remove a socket file left by a car that did not stop cleanly (never a regular file)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ConfigError(f"cannot serve gRPC on unix:{path}: a file that is not a socket is there")
    os.unlink(path)
