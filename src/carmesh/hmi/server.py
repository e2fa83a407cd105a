"""The HMI server as a runtime service: uvicorn on the broker's own event loop.

``start`` binds the socket (so a busy port or a bad host is a clear error before the banner,
and port 0 becomes the real port), starts uvicorn and the driving-state watcher, and returns
once requests are served. ``stop`` closes the WebSockets (code 1012) and open connections and
returns within :data:`STOP_TIMEOUT` seconds. The runtime owns SIGINT and SIGTERM; uvicorn
does not install its own handlers here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from carmesh.api.address import format_address, is_loopback, parse_address
from carmesh.apps.control import AppsControl
from carmesh.broker import Broker
from carmesh.errors import ConfigError
from carmesh.hmi.app import create_app
from carmesh.hmi.context import HmiContext
from carmesh.hmi.principal import hmi_principal
from carmesh.media.control import MediaControl
from carmesh.rules.distraction import DrivingWatcher

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "127.0.0.1:8080"
#: Seconds ``stop`` waits for uvicorn to finish before cancelling it.
STOP_TIMEOUT = 1.0
#: Seconds uvicorn lets running requests finish once stopping.
GRACE = 0.5
#: Largest WebSocket message a client may send.
MAX_MESSAGE_BYTES = 1 << 20


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its signal handlers: the runtime decides when the car stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HmiServer:
    """Serves the HMI pages, JSON API and WebSocket over *broker* (a runtime service).

    Refuses a non-loopback address unless *insecure*: the HMI has no authorization, so
    anyone who reaches it can read and actuate the car. *apps* is the apps platform the
    pages show and ``/api/apps…`` controls, *media* the media service ``/api/media…``
    controls; None when off.
    """

    name = "hmi"

    def __init__(
        self,
        broker: Broker,
        address: str = DEFAULT_ADDRESS,
        *,
        insecure: bool = False,
        static_dir: Path | None = None,
        i18n_dir: Path | None = None,
        apps: AppsControl | None = None,
        media: MediaControl | None = None,
    ) -> None:
        self.host, self.port = parse_address(address, example=DEFAULT_ADDRESS)
        if not is_loopback(self.host) and not insecure:
            raise ConfigError(
                f"refusing to serve the HMI on {address}: it has no authorization, so anyone "
                "on the network could read and actuate the car. Use a loopback address such "
                f"as {DEFAULT_ADDRESS}, or --insecure to allow it anyway"
            )
        self.broker = broker
        self.principal = hmi_principal()
        self.watcher = DrivingWatcher(broker, self.principal)
        self.app = create_app(
            HmiContext(broker, self.principal, self.watcher, apps, media),
            loopback=is_loopback(self.host),
            static_dir=static_dir,
            i18n_dir=i18n_dir,
        )
        self._server: _EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            sock = socket.create_server((self.host, self.port), family=family, backlog=128)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigError(f"cannot serve the HMI on {self.address}: {reason}") from None
        except (UnicodeError, ValueError) as exc:
            raise ConfigError(f"cannot serve the HMI on {self.address}: {exc}") from None
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        return sock

    async def start(self) -> None:
        sock = self._bind()
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            ws="websockets-sansio",
            ws_max_size=MAX_MESSAGE_BYTES,
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=GRACE,  # type: ignore[arg-type]  # a float works
            server_header=False,
        )
        self._server = _EmbeddedUvicorn(config)
        self._watching = asyncio.create_task(self.watcher.run(), name="hmi-driving-state")
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="hmi")
        while not self._server.started:
            if self._task.done():
                sock.close()
                self._task.result()
                raise ConfigError(f"the HMI server on {self.address} stopped while starting")
            await asyncio.sleep(0.005)
        log.debug("HMI serving on %s", self.url)

    async def serve(self) -> None:
        """Wait for the server; cancelling this leaves it running for :meth:`stop`."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        server, task = self._server, self._task
        if server is not None and task is not None:
            server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT)
            except TimeoutError:
                server.force_exit = True
                task.cancel()
            except Exception:
                log.exception("the HMI server failed")
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
        self._server = self._task = self._watching = None
