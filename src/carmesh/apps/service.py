"""The apps platform as one runtime service: it joins the registry and installer, the
supervisor of app processes, the app tokens, the app host and the apps gRPC socket, and
implements :class:`carmesh.apps.control.AppsControl` for the HMI and the CLI.

Starting the car starts every enabled app that is not quarantined and whose permissions are
decided. Every change of an app (install, state, grants…) is announced to listeners as one
``apps`` event holding the whole list, which is small.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from carmesh.api.grpc.app_host import adapter_for
from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.server import Adapter, GrpcServer
from carmesh.apps.control import AppEvent, Listener
from carmesh.apps.credentials import AppTokens
from carmesh.apps.grants import GrantPolicy
from carmesh.apps.host import AppAccess, AppHost
from carmesh.apps.installer import Installer
from carmesh.apps.logs import tail
from carmesh.apps.registry import AppRecord, AppRegistry
from carmesh.apps.signing import TrustStore, read_public_key
from carmesh.apps.sockets import prepare_socket_dir, socket_path
from carmesh.apps.supervisor import (
    LaunchSpec,
    ProcessState,
    ProcessStatus,
    ResourceLimits,
    Supervisor,
)
from carmesh.apps.velocitas import (
    VelocitasEndpoint,
    velocitas_command,
    velocitas_environment,
    velocitas_python,
)
from carmesh.broker import Broker, Principal
from carmesh.errors import CarmeshError, ConfigError, FailedPrecondition, InvalidArgument, NotFound
from carmesh.rules.distraction import SELECTED_GEAR, SPEED, DrivingState, DrivingWatcher
from carmesh.settings import Settings

log = logging.getLogger(__name__)

#: What ``grant=`` accepts at install.
GRANT_MODES = ("ask", "all", "none")
#: Media types of app icons by file suffix.
ICON_TYPES = {".svg": "image/svg+xml", ".png": "image/png"}
#: The environment's PATH inside an app process.
APP_PATH = "/usr/local/bin:/usr/bin:/bin"


class AppsPlatform:
    """Installed apps, their processes and their UI (implements ``AppsControl``)."""

    def __init__(self, settings: Settings, broker: Broker) -> None:
        self.settings = settings
        self.broker = broker
        self.root = settings.data_dir / "apps"
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_path = socket_path(settings.data_dir, "apps")
        self.policy = GrantPolicy.load(settings.app_policy) if settings.app_policy else None
        self.trusted = TrustStore(self.root / "trusted")
        self.registry: AppRegistry | None = None
        self.installer: Installer | None = None
        self.tokens = AppTokens(self.root / "keys" / "token-signing.pem")
        self.host = AppHost(self._access, locale=lambda: "en")
        self.supervisor = Supervisor(
            on_change=self._on_process_change,
            on_crash=self._on_crash,
            crash_limit=settings.app_crash_limit,
            crash_window=settings.app_crash_window,
            backoff_initial=settings.app_backoff,
            backoff_max=settings.app_backoff_max,
        )
        self.watcher = DrivingWatcher(
            broker, Principal.from_scopes("apps", f"read:{SPEED} read:{SELECTED_GEAR}")
        )
        self.grpc = GrpcServer(
            broker,
            f"unix:{self.socket_path}",
            auth=GrpcAuth(self.tokens),
            extra=[self.adapter()],
            name="apps-grpc",
        )
        #: Where Velocitas apps find the MQTT broker (set by the runtime when one runs).
        self.mqtt_address: Callable[[], str | None] = lambda: None
        self._velocitas: dict[str, VelocitasEndpoint] = {}
        self._velocitas_python: Path | None = None
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    # -- lifetime --------------------------------------------------------------------

    def adapter(self) -> Adapter:
        """The app host's gRPC adapter, for every server apps may reach."""
        return adapter_for(self.host)

    async def open(self) -> None:
        """Open the registry, recover unfinished work, serve the apps socket, start apps."""
        for key_file in self.settings.app_trusted_keys:
            self._trust_file(key_file)
        self.registry = AppRegistry(self.root / "registry.db")
        self.installer = Installer(self.root, self.registry, self.trusted, policy=self.policy)
        self.installer.recover()
        prepare_socket_dir(self.socket_path, self.settings.data_dir)
        await self.grpc.start()
        self.host.listen(self._relay)
        self.watcher.listen(self._on_driving)
        self._tasks.append(asyncio.create_task(self.watcher.run(), name="apps-driving"))
        for record in self.registry.apps():
            if record.enabled and not record.quarantined and _decided(record):
                try:
                    await self._launch(record)
                except CarmeshError as exc:
                    log.warning("app %s did not start: %s", record.id, exc)

    async def close(self) -> None:
        """Stop every app process, the apps socket and the registry."""
        await self.supervisor.close()
        for endpoint in self._velocitas.values():
            await endpoint.stop()
        self._velocitas.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.grpc.stop()
        if self.registry is not None:
            self.registry.close()
            self.registry = None

    def _trust_file(self, path: Path) -> None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read the publisher key {path}: {exc.strerror}") from None
        publisher, _ = read_public_key(text)
        if publisher is None:
            raise ConfigError(
                f"{path} does not name its publisher: use the .pub file carmesh app keygen wrote"
            )
        known = {entry["key"].strip() for entry in self.trusted.list()}
        if _pem_body(text) not in {_pem_body(k) for k in known}:
            self.trusted.add(publisher, text)

    # -- AppsControl ------------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        return [self._json(record) for record in self._registry().apps()]

    def describe(self, app_id: str) -> dict[str, Any]:
        return self._json(self._registry().get(app_id))

    async def install(self, package: bytes, grant: str = "ask") -> dict[str, Any]:
        if grant not in GRANT_MODES:
            raise InvalidArgument(f"grant must be one of {', '.join(GRANT_MODES)}, not {grant!r}")
        async with self._lock:
            record = await asyncio.to_thread(self._installer().install, package, grant=grant)
        self._changed()
        return self._json(record)

    async def update(self, app_id: str, package: bytes) -> dict[str, Any]:
        async with self._lock:
            before = self._registry().get(app_id)
            running = self._should_run(app_id)
            await self._halt(app_id)
            try:
                record = await asyncio.to_thread(self._installer().update, app_id, package)
            finally:
                if running:
                    await self._relaunch_if_possible(app_id)
        log.info("app %s updated from %s to %s", app_id, before.version, record.version)
        self._changed()
        return self.describe(app_id)

    async def rollback(self, app_id: str) -> dict[str, Any]:
        async with self._lock:
            running = self._should_run(app_id)
            await self._halt(app_id)
            try:
                await asyncio.to_thread(self._installer().rollback, app_id)
            finally:
                if running:
                    await self._relaunch_if_possible(app_id)
        self._changed()
        return self.describe(app_id)

    async def remove(self, app_id: str) -> None:
        async with self._lock:
            self._registry().get(app_id)
            await self._halt(app_id)
            await asyncio.to_thread(self._installer().remove, app_id)
        self._changed()

    async def start(self, app_id: str) -> dict[str, Any]:
        async with self._lock:
            record = self._registry().get(app_id)
            if not _decided(record):
                undecided = [p for p, g in record.grants.items() if g is None]
                raise FailedPrecondition(
                    f"{app_id} has permissions nobody decided yet ({', '.join(undecided)}): "
                    "grant or deny them first"
                )
            record = self._registry().set_quarantined(app_id, False)
            record = self._registry().set_enabled(app_id, True)
            await self._launch(record)
        self._changed()
        return self.describe(app_id)

    async def stop(self, app_id: str) -> dict[str, Any]:
        async with self._lock:
            self._registry().set_enabled(app_id, False)
            await self._halt(app_id)
        self._changed()
        return self.describe(app_id)

    async def set_grants(self, app_id: str, grants: dict[str, bool]) -> dict[str, Any]:
        async with self._lock:
            before = self._registry().get(app_id)
            record = self._registry().set_grants(app_id, grants)
            if record.granted() != before.granted() and self._should_run(app_id):
                # The old token (and with it every open stream) must end at once.
                self.tokens.revoke(app_id)
                if _decided(record):
                    await self._launch(record)
                else:
                    await self._halt(app_id)
        self._changed()
        return self.describe(app_id)

    def logs(self, app_id: str, lines: int = 200) -> builtins.list[str]:
        self._registry().get(app_id)
        if not 1 <= lines <= 10_000:
            raise InvalidArgument("lines must be between 1 and 10000")
        return tail(self._installer().log_dir(app_id) / "app.log", lines)

    def icon(self, app_id: str) -> tuple[bytes, str]:
        record = self._registry().get(app_id)
        icon = record.manifest.icon
        if icon is None:
            raise NotFound(f"{app_id} has no icon")
        path = self._installer().package_dir(app_id) / icon
        kind = ICON_TYPES.get(path.suffix.lower())
        if kind is None:
            raise NotFound(f"{app_id}'s icon is neither SVG nor PNG")
        try:
            return path.read_bytes(), kind
        except OSError:
            raise NotFound(f"{app_id}'s icon file is missing") from None

    def template(self, app_id: str) -> dict[str, Any]:
        self._registry().get(app_id)
        return self.host.current(app_id)

    async def action(self, app_id: str, action: str, item: str | None = None) -> None:
        self._registry().get(app_id)
        await self.host.action(app_id, action, item)

    def notifications(self) -> builtins.list[dict[str, Any]]:
        return self.host.notifications()

    def publishers(self) -> builtins.list[dict[str, Any]]:
        return self.trusted.list()

    def trust(self, publisher: str, public_key_pem: str) -> dict[str, Any]:
        return self.trusted.add(publisher, public_key_pem)

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # -- processes --------------------------------------------------------------------------

    def _should_run(self, app_id: str) -> bool:
        return self.supervisor.status(app_id).state not in (
            ProcessState.STOPPED,
            ProcessState.EXITED,
            ProcessState.QUARANTINED,
        )

    async def _launch(self, record: AppRecord) -> ProcessStatus:
        app_id = record.id
        if record.manifest.runtime == "velocitas":
            await self._open_velocitas(app_id)
        return await self.supervisor.start(app_id, lambda: self._spec(app_id))

    async def _open_velocitas(self, app_id: str) -> None:
        """A Velocitas app's own socket, on which every call is the app (velocitas-sdk
        cannot send a token)."""
        if self.settings.velocitas_venv is None:
            raise FailedPrecondition(
                f"{app_id} is a Velocitas app: give the car a virtualenv with velocitas-sdk "
                "(--velocitas-venv .venv-velocitas, which make builds)"
            )
        if self._velocitas_python is None:
            self._velocitas_python = await asyncio.to_thread(
                velocitas_python, self.settings.velocitas_venv
            )
        if app_id not in self._velocitas:
            endpoint = VelocitasEndpoint(
                self.broker,
                app_id,
                lambda: self._principal_of(app_id),
                data_dir=self.settings.data_dir,
                extra=[self.adapter()],
            )
            await endpoint.start()
            self._velocitas[app_id] = endpoint

    def _principal_of(self, app_id: str) -> Principal:
        """The principal of an app's current grants (empty when it is gone)."""
        record = self._registry().find(app_id)
        if record is None:
            return Principal(f"app:{app_id}")
        return Principal.from_scopes(f"app:{app_id}", record.manifest.scopes_for(record.granted()))

    async def _relaunch_if_possible(self, app_id: str) -> None:
        record = self._registry().get(app_id)
        if record.enabled and _decided(record):
            await self._launch(record)

    async def _halt(self, app_id: str) -> None:
        await self.supervisor.stop(app_id)
        self.tokens.revoke(app_id)
        self.host.clear(app_id)
        endpoint = self._velocitas.pop(app_id, None)
        if endpoint is not None:
            await endpoint.stop()

    def _spec(self, app_id: str) -> LaunchSpec:
        """How to start *app_id* now: a fresh token with exactly its granted scopes."""
        record = self._registry().get(app_id)
        manifest = record.manifest
        installer = self._installer()
        granted = record.granted()
        data = installer.data_dir(app_id)
        token = self.tokens.mint(app_id, manifest.scopes_for(granted))
        env = {
            "PATH": APP_PATH,
            "HOME": str(data),
            "LANG": "C.UTF-8",
            "CARMESH_APP_ID": app_id,
            "CARMESH_APP_DATA": str(data),
            "CARMESH_BROKER": f"unix:{self.socket_path}",
            "CARMESH_APP_TOKEN": token,
            "CARMESH_APP_ENTRY": manifest.entry,
        }
        argv = [sys.executable, "-I", "-m", "carmesh.apps.launch"]
        if manifest.runtime == "velocitas":
            endpoint = self._velocitas.get(app_id)
            if endpoint is None or self._velocitas_python is None:
                raise FailedPrecondition(f"{app_id}'s Velocitas endpoint is not open")
            argv = velocitas_command(self._velocitas_python, manifest.entry)
            env.update(velocitas_environment(endpoint.socket_path, self.mqtt_address()))
        return LaunchSpec(
            app_id=app_id,
            argv=argv,
            cwd=installer.package_dir(app_id),
            env=env,
            limits=self._limits(record),
            isolate_network="network" not in granted,
            log_path=installer.log_dir(app_id) / "app.log",
        )

    def _limits(self, record: AppRecord) -> ResourceLimits:
        asked = record.manifest.limits
        s = self.settings
        return ResourceLimits(
            memory_mb=_lower(asked.memory_mb, s.app_memory_mb),
            cpu_seconds=_lower(asked.cpu_seconds, s.app_cpu_seconds),
            open_files=_lower(asked.open_files, s.app_open_files),
        )

    def _on_process_change(self, app_id: str, status: ProcessStatus) -> None:
        registry = self.registry
        if registry is None:
            return
        if status.state is ProcessState.QUARANTINED and registry.find(app_id) is not None:
            registry.set_quarantined(app_id, True)
            log.warning("app %s crashed too often and is quarantined", app_id)
        if status.state in (ProcessState.STOPPED, ProcessState.QUARANTINED, ProcessState.EXITED):
            self.host.clear(app_id)
        self._changed()

    def _on_crash(self, app_id: str, returncode: int) -> None:
        registry = self.registry
        if registry is not None and registry.find(app_id) is not None:
            registry.record_crash(app_id, returncode)

    # -- events and JSON --------------------------------------------------------------------

    def _on_driving(self, state: DrivingState) -> None:
        self.host.set_driving(state)

    def _relay(self, event: AppEvent) -> None:
        self._emit(event)

    def _changed(self) -> None:
        if self.registry is not None:
            self._emit(AppEvent("apps", None, {"apps": self.list()}))

    def _emit(self, event: AppEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("an apps listener failed")

    def _access(self, app_id: str) -> AppAccess | None:
        registry = self.registry
        record = registry.find(app_id) if registry is not None else None
        if record is None:
            return None
        return AppAccess(
            app_id=record.id,
            version=record.version,
            permissions=record.granted(),
            templates=frozenset(record.manifest.templates),
        )

    def _json(self, record: AppRecord) -> dict[str, Any]:
        status = self.supervisor.status(record.id)
        manifest = record.manifest
        state = status.state.value
        if record.quarantined and status.state is ProcessState.STOPPED:
            state = ProcessState.QUARANTINED.value
        return {
            "id": record.id,
            "version": record.version,
            "previous_version": record.previous_version,
            "publisher": record.publisher,
            "names": dict(manifest.names),
            "description": dict(manifest.description),
            "icon": f"/api/apps/{record.id}/icon" if manifest.icon else None,
            "runtime": manifest.runtime,
            "templates": list(manifest.templates),
            "permissions": [{"id": p, "granted": g} for p, g in record.grants.items()],
            "enabled": record.enabled,
            "state": state,
            "pid": status.pid,
            "restarts": status.restarts,
            "quarantined": record.quarantined or status.state is ProcessState.QUARANTINED,
            "isolation": status.isolation,
            "installed_at": record.installed_at,
            "updated_at": record.updated_at,
            "last_exit": status.last_exit,
        }

    def _registry(self) -> AppRegistry:
        if self.registry is None:
            raise FailedPrecondition("the apps platform is not running")
        return self.registry

    def _installer(self) -> Installer:
        if self.installer is None:
            raise FailedPrecondition("the apps platform is not running")
        return self.installer


def _decided(record: AppRecord) -> bool:
    return all(granted is not None for granted in record.grants.values())


def _lower(asked: int | None, ceiling: int | None) -> int | None:
    if asked is None:
        return ceiling
    return asked if ceiling is None else min(asked, ceiling)


def _pem_body(text: str) -> str:
    return "".join(line.strip() for line in text.splitlines() if not line.startswith("#"))


class AppsService:
    """The apps platform as a runtime service (start opens it, stop closes it)."""

    name = "apps"

    def __init__(self, settings: Settings, broker: Broker) -> None:
        self.platform = AppsPlatform(settings, broker)

    async def start(self) -> None:
        await self.platform.open()

    async def serve(self) -> None:
        return None

    async def stop(self) -> None:
        await self.platform.close()
