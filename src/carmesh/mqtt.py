"""An MQTT broker for Velocitas apps: Debian's Mosquitto, started and stopped with the car.

Velocitas vehicle apps talk to each other (and to phone or cloud bridges) over MQTT topics;
``VehicleApp.run()`` of velocitas-sdk connects to ``SDV_MQTT_ADDRESS`` (default
``localhost:1883``) before anything else and fails without a broker. carmesh does not speak
MQTT itself: :class:`MosquittoService` runs ``/usr/sbin/mosquitto`` (``apt-get install
mosquitto``; ``make run`` installs it as root) as a child process with a configuration it
writes, so that ``carmesh run`` can offer one when asked.

The broker listens on one address only. On loopback it accepts anonymous clients (anyone who
can run a program on the car can already reach loopback); another address needs
``insecure=True``, because this configuration has no users or TLS and anyone on that network
could then publish and subscribe. Nothing is persisted: retained messages and sessions end
with the car. Mosquitto's log goes to ``DATA/mosquitto.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import time
from pathlib import Path
from typing import IO

from carmesh.api.address import format_address, is_loopback, parse_address
from carmesh.errors import ConfigError, Unavailable

log = logging.getLogger(__name__)

MOSQUITTO = "/usr/sbin/mosquitto"
DEFAULT_ADDRESS = "127.0.0.1:1883"
#: Seconds mosquitto may take to accept connections after it was spawned.
START_TIMEOUT = 5.0
#: Seconds between SIGTERM and SIGKILL on stop.
STOP_TIMEOUT = 2.0
INSTALL_HINT = "install it: sudo apt-get install mosquitto (make run does this)"


def mosquitto_available(executable: str = MOSQUITTO) -> bool:
    """True when *executable* exists and may be run."""
    return os.path.isfile(executable) and os.access(executable, os.X_OK)


class MosquittoService:
    """Mosquitto as a runtime service (name ``mqtt``).

    *address* is ``HOST:PORT`` (:data:`DEFAULT_ADDRESS` is the usual one); port 0 picks a
    free port, which :attr:`address` reports after :meth:`start`. *data_dir* receives
    ``mosquitto.conf`` (rewritten at every start) and ``mosquitto.log``. :meth:`start`
    raises :class:`ConfigError` when mosquitto is missing, the port is busy or the broker
    does not come up within 5 s; :meth:`serve` raises :class:`Unavailable` if mosquitto
    exits while the car runs.
    """

    name = "mqtt"

    def __init__(
        self,
        address: str,
        data_dir: Path,
        executable: str = MOSQUITTO,
        *,
        insecure: bool = False,
    ) -> None:
        self.host, self.port = parse_address(address, example=DEFAULT_ADDRESS)
        if not is_loopback(self.host) and not insecure:
            raise ConfigError(
                f"refusing to serve MQTT on {address} without authentication: anyone on the "
                "network could publish to the car's apps. Use a loopback address, or "
                "--insecure to allow it anyway"
            )
        self.data_dir = data_dir
        self.executable = executable
        self.config_file = data_dir / "mosquitto.conf"
        self.log_file = data_dir / "mosquitto.log"
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self._stopping = False

    @property
    def address(self) -> str:
        """``HOST:PORT`` the broker listens on (the chosen port once started)."""
        return format_address(self.host, self.port)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        if not mosquitto_available(self.executable):
            raise ConfigError(f"mosquitto is not installed ({self.executable}); {INSTALL_HINT}")
        if self.port == 0:
            self.port = _free_port(self.host)
        else:
            _check_port(self.host, self.port)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._config())
        self._log = open(self.log_file, "ab")  # noqa: SIM115 - closed in stop()
        self._stopping = False
        self._process = await asyncio.create_subprocess_exec(
            self.executable,
            "-c",
            str(self.config_file),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            # Its own process group: Ctrl-C in the terminal reaches carmesh, which stops it.
            process_group=0,
        )
        try:
            await self._wait_until_listening()
        except BaseException:
            await self.stop()
            raise
        log.debug("mosquitto (pid %d) listening on %s", self._process.pid, self.address)

    async def serve(self) -> None:
        """Wait for mosquitto; raise :class:`Unavailable` if it exits before :meth:`stop`."""
        if self._process is None:
            return
        code = await self._process.wait()
        if not self._stopping:
            raise Unavailable(
                f"mosquitto exited unexpectedly ({_status(code)}); see {self.log_file}"
            )

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 2 s; safe after a failed start and when called twice."""
        self._stopping = True
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _config(self) -> str:
        for path in (self.config_file, self.log_file):
            if "\n" in str(path):
                raise ConfigError(f"the data directory {self.data_dir!r} contains a newline")
        return "\n".join(
            [
                "# Written by carmesh at every start; edits are lost.",
                f"listener {self.port} {self.host}",
                "allow_anonymous true",
                "persistence false",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "log_timestamp_format %Y-%m-%dT%H:%M:%S",
                "",
            ]
        )

    async def _wait_until_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        host = "127.0.0.1" if self.host == "0.0.0.0" else "::1" if self.host == "::" else self.host
        while True:
            if self._process.returncode is not None:
                raise self._start_failure()
            try:
                _, writer = await asyncio.open_connection(host, self.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise ConfigError(
                        f"mosquitto did not accept connections on {self.address} within "
                        f"{START_TIMEOUT:g} s; see {self.log_file}"
                    ) from None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._process.wait(), 0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    def _start_failure(self) -> ConfigError:
        """Why mosquitto exited at start, from the end of its log."""
        lines = _tail(self.log_file)
        if any("address already in use" in line.lower() for line in lines):
            return ConfigError(f"cannot serve MQTT on {self.address}: the port is in use")
        last = next((line for line in reversed(lines) if "rror" in line), "")
        detail = f": {last.strip()}" if last else ""
        return ConfigError(f"mosquitto failed to start on {self.address}{detail}")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _free_port(host: str) -> int:
    """A port the OS considers free on *host* now (mosquitto takes it a moment later)."""
    try:
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port: int = probe.getsockname()[1]
            return port
    except OSError as exc:
        raise ConfigError(f"cannot serve MQTT on {host}: {exc.strerror}") from None


def _check_port(host: str, port: int) -> None:
    """ConfigError when another program listens on *host*:*port* (as mosquitto, ignores
    connections still in TIME_WAIT)."""
    address = format_address(host, port)
    try:
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"cannot serve MQTT on {address}: the port is in use (Debian's own mosquitto "
                "service may hold it: sudo systemctl disable --now mosquitto, or choose "
                "another port)"
            ) from None
        if exc.errno == errno.EACCES:
            return  # a privileged port: mosquitto may be allowed what this probe is not
        raise ConfigError(f"cannot serve MQTT on {address}: {exc.strerror}") from None


def _tail(path: Path, size: int = 4096) -> list[str]:
    try:
        with open(path, "rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - size))
            return file.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def _status(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"status {code}"
