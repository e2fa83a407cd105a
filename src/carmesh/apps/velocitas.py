"""Velocitas apps: programs written with the unmodified ``velocitas-sdk`` (manifest
``runtime = "velocitas"``), run from their own virtualenv against the car's broker.

velocitas-sdk 0.15.7 cannot authenticate: its native service locator reads only
``SDV_<SERVICE>_ADDRESS`` and sends no metadata, so it has no way to present the app's token.
Each Velocitas app therefore gets its own gRPC endpoint, a Unix socket on which every call is
the app's (:class:`VelocitasEndpoint`): the socket is the credential, and the broker checks the
app's granted scopes on every call as it does for token-carrying apps. The socket is only as
private as the file system makes it (the directory is 0700, the socket 0660): any process
running as the car's user, other apps included unless confined, can open it.

The SDK also cannot take a ``unix:`` address. Its data-broker client parses
``SDV_VEHICLEDATABROKER_ADDRESS`` with ``urlparse`` and dials ``f"{hostname}:{port}"`` (so
``unix:/run/x.sock`` becomes ``None:None``). :func:`velocitas_command` runs the app's entry
module through a short launcher that, when the address is ``unix:PATH``, makes that client's
channel dial the socket; the SDK's files and the app are unchanged. Run by hand with
``python -m ENTRY``, an app needs a TCP address (``grpc://127.0.0.1:55555``) instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from carmesh.api.address import format_address, parse_address
from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.server import Adapter, GrpcServer
from carmesh.apps.sockets import is_fallback, prepare_socket_dir, socket_path
from carmesh.broker import Broker, Principal
from carmesh.errors import ConfigError

#: ``python -m`` module names: dotted Python identifiers.
_ENTRY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

#: Runs ``python -m ENTRY`` (``sys.argv[1]``) from the working directory, first pointing
#: velocitas-sdk's data-broker channel at ``SDV_VEHICLEDATABROKER_ADDRESS`` when that is a
#: ``unix:`` address, which the SDK itself cannot parse. Runs in the app's own virtualenv.
LAUNCHER = """\
import os, runpy, sys
entry = sys.argv[1]
sys.argv = [entry]
sys.path.insert(0, os.getcwd())
address = os.environ.get("SDV_VEHICLEDATABROKER_ADDRESS", "")
if address.startswith("unix:"):
    import grpc
    from velocitas_sdk.vdb import client
    if getattr(client, "grpc", None) is not grpc:
        sys.exit("carmesh: this velocitas-sdk cannot be pointed at a unix: address")
    class _Aio:
        def __getattr__(self, name):
            return getattr(grpc.aio, name)
        def insecure_channel(self, target, *args, **kwargs):
            return grpc.aio.insecure_channel(address, *args, **kwargs)
    class _Grpc:
        aio = _Aio()
        def __getattr__(self, name):
            return getattr(grpc, name)
    client.grpc = _Grpc()
runpy.run_module(entry, run_name="__main__", alter_sys=True)
"""


class FixedPrincipalAuth(GrpcAuth):
    """Every call is *principal()*'s, whatever metadata it carries.

    The callable is asked on every call (and once per stream), so a revoked grant applies
    from the next call on; it should return the same :class:`Principal` object while the
    grants are unchanged, since a principal caches its verdicts. It may raise a carmesh error
    (``Unauthenticated``, ``PermissionDenied``) to refuse every call.
    """

    def __init__(self, principal: Callable[[], Principal]) -> None:
        super().__init__(None)
        self._principal = principal

    @property
    def enabled(self) -> bool:
        return True

    def principal(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        return self._principal()


class VelocitasEndpoint:
    """One Velocitas app's gRPC endpoint (all of carmesh's gRPC APIs) on its own Unix socket.

    The socket is ``DATA/run/velocitas/ID.sock``. When that path is longer than the kernel
    allows (107 bytes), it moves to a short private directory instead:
    ``$XDG_RUNTIME_DIR/carmesh/KEY/`` or, without ``XDG_RUNTIME_DIR``,
    ``/tmp/carmesh-UID/KEY/`` (KEY: a digest of the data directory, so two cars never share
    one), each created 0700 and refused when it belongs to another user; an app id too long
    even there is replaced by its digest. :attr:`socket_path` says where it is.
    """

    def __init__(
        self,
        broker: Broker,
        app_id: str,
        principal: Callable[[], Principal],
        *,
        data_dir: Path,
        extra: Sequence[Adapter] = (),
    ) -> None:
        self.app_id = app_id
        self.name = f"velocitas:{app_id}"
        self.data_dir = data_dir
        self.socket_path = velocitas_socket_path(data_dir, app_id)
        self._fallback = is_fallback(self.socket_path, data_dir)
        self.auth = FixedPrincipalAuth(principal)
        self.server = GrpcServer(
            broker, f"unix:{self.socket_path}", auth=self.auth, extra=extra, name=self.name
        )

    async def start(self) -> None:
        prepare_socket_dir(self.socket_path, self.data_dir)
        await self.server.start()

    async def serve(self) -> None:
        return None

    async def stop(self) -> None:
        """Stop serving (open streams end with UNAVAILABLE) and remove the socket file (and
        the fallback directory once empty)."""
        await self.server.stop()
        try:
            if stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
                os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        if self._fallback:
            with contextlib.suppress(OSError):
                self.socket_path.parent.rmdir()


def velocitas_socket_path(data_dir: Path, app_id: str) -> Path:
    """Where :class:`VelocitasEndpoint` puts *app_id*'s socket (nothing is created here)."""
    return socket_path(data_dir, app_id, "velocitas")


def velocitas_environment(socket_path: Path, mqtt_address: str | None) -> dict[str, str]:
    """The environment variables velocitas-sdk reads, for an app on *socket_path*.

    - ``SDV_MIDDLEWARE_TYPE=native`` (the SDK's only middleware);
    - ``SDV_VEHICLEDATABROKER_ADDRESS=unix:PATH`` — only understood through
      :func:`velocitas_command`'s launcher (see the module docstring);
    - ``SDV_MQTT_ADDRESS=mqtt://HOST:PORT`` for the MQTT broker (an unspecified listening
      address becomes loopback). Without *mqtt_address* it is left out, and the SDK's
      ``VehicleApp.run()`` tries ``localhost:1883`` and fails when nothing listens there.

    The caller adds the rest of the process environment (``PATH``, ``HOME``, ``LANG``…).
    """
    env = {
        "SDV_MIDDLEWARE_TYPE": "native",
        "SDV_VEHICLEDATABROKER_ADDRESS": f"unix:{socket_path}",
    }
    if mqtt_address is not None:
        host, port = parse_address(mqtt_address, example="127.0.0.1:1883")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        env["SDV_MQTT_ADDRESS"] = f"mqtt://{format_address(host, port)}"
    return env


def velocitas_command(python: Path, entry: str) -> list[str]:
    """The command that runs a Velocitas app: ``entry`` is a module path (``app.main``),
    imported from the working directory (the package root) and run as ``python -m ENTRY``
    would, through :data:`LAUNCHER`. ``-I`` keeps ``PYTHON*`` variables and the user's site
    directory out; ``-u`` writes the app's output to its log at once."""
    if not _ENTRY.match(entry):
        raise ConfigError(
            f"entry {entry!r}: a Velocitas app's entry is a module path such as app.main"
        )
    return [str(python), "-I", "-u", "-c", LAUNCHER, entry]


def velocitas_python(venv: Path) -> Path:
    """The python of *venv* once it is known to import velocitas-sdk; ConfigError otherwise.

    Runs that python once (about half a second), so call it when starting an app, not on
    every request.
    """
    python = venv / "bin" / "python"
    hint = f"run make to build .venv-velocitas or give --velocitas-venv (looked in {venv})"
    if not os.access(python, os.X_OK):
        raise ConfigError(f"no Python virtualenv for Velocitas apps: {hint}")
    try:
        check = subprocess.run(
            [str(python), "-I", "-c", "import velocitas_sdk.vehicle_app"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "SDV_MIDDLEWARE_TYPE": "native"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"cannot run {python} ({exc}): {hint}") from None
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"velocitas-sdk does not import in {venv} ({last}): {hint}")
    return python
