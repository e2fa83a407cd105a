"""One supervised OS process per app: spawn, capture output, restart on crash, quarantine.

The contract is ``docs/apps.md`` (section "Processes"). For each app the supervisor:

- spawns the process described by a fresh :class:`LaunchSpec` (asked of the caller's factory
  at every start and restart, so each run gets a new token) in its own session and process
  group, with exactly the given environment, its resource limits, the parent-death signal,
  and, when asked and possible, its own user and network namespace (:mod:`.isolation`);
- has stdout and stderr copied line by line into the app's :class:`~.logs.RotatingLog`
  (:mod:`.capture`, which drains the pipes however fast the app writes), and notes its own
  events there (``car`` lines);
- treats an exit with a non-zero status or by a signal, while the app should run, as a crash:
  reports it (``on_crash``), then restarts after a back-off of ``backoff_initial`` seconds,
  doubling up to ``backoff_max`` and starting over once a run lasted ``stable_after`` seconds;
  the ``crash_limit``-th crash within ``crash_window`` seconds quarantines the app instead
  (no restart until :meth:`Supervisor.start`). Exit status 0 ends the app (``exited``);
- stops an app with SIGTERM to its process group, SIGKILL after ``stop_timeout`` seconds, and
  kills whatever remains of the group whenever the main process ends.

Nothing waits on the event loop: exits and output arrive as loop callbacks (an exit is seen
even while a leftover grandchild still holds the pipes), and log lines are appended with one
plain ``write`` per batch. ``on_change`` and ``on_crash`` are called on the loop; an exception
they raise is logged, never propagated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from carmesh.apps.capture import AppRun
from carmesh.apps.isolation import ResourceLimits, child_setup, network_isolation_available
from carmesh.apps.logs import RotatingLog
from carmesh.errors import Unavailable

__all__ = [
    "LaunchSpec",
    "ProcessState",
    "ProcessStatus",
    "ResourceLimits",
    "Supervisor",
]

_log = logging.getLogger(__name__)

#: Seconds to wait for a process to end after SIGKILL.
_KILL_TIMEOUT = 5.0


@dataclass(frozen=True)
class LaunchSpec:
    """How to run one app process.

    *env* is the complete environment (nothing is inherited from the car process). With
    *isolate_network* the process gets its own user and network namespace when the kernel
    allows it. *log_path* is ``DATA/apps/logs/ID/app.log``.
    """

    app_id: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    limits: ResourceLimits
    isolate_network: bool
    log_path: Path


class ProcessState(StrEnum):
    """Where an app's process is in its life (``docs/apps.md``)."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    QUARANTINED = "quarantined"
    EXITED = "exited"


#: States in which the app has a process or a pending restart.
_ACTIVE = frozenset({ProcessState.STARTING, ProcessState.RUNNING, ProcessState.BACKOFF})


@dataclass(frozen=True)
class ProcessStatus:
    """A snapshot of one app's process.

    *restarts* counts automatic restarts since the user last started the app; *recent_crashes*
    the crashes within the crash window; *last_exit* is the return code of the last run
    (negative: killed by that signal). *isolation* is ``network`` (own network namespace),
    ``process`` (host network) or ``""`` (never started). *next_start_in* is the number of
    seconds until the restart while in back-off, else ``None``.
    """

    state: ProcessState
    pid: int | None = None
    restarts: int = 0
    recent_crashes: int = 0
    last_exit: int | None = None
    isolation: str = ""
    next_start_in: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The status as JSON-ready values (state as its string)."""
        return {
            "state": self.state.value,
            "pid": self.pid,
            "restarts": self.restarts,
            "recent_crashes": self.recent_crashes,
            "last_exit": self.last_exit,
            "isolation": self.isolation,
            "next_start_in": self.next_start_in,
        }


@dataclass(eq=False)
class _App:
    """The supervisor's record of one app."""

    app_id: str
    state: ProcessState = ProcessState.STOPPED
    factory: Callable[[], LaunchSpec] | None = None
    run: AppRun | None = None
    runner: asyncio.Task[None] | None = None
    log: RotatingLog | None = None
    started_at: float = 0.0
    restarts: int = 0
    crashes: deque[float] = field(default_factory=deque)
    backoff: float = 0.0
    next_start_at: float | None = None
    last_exit: int | None = None
    isolation: str = ""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def describe_exit(returncode: int) -> str:
    """``exited with status 3`` or ``killed by signal SIGKILL (9)``."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "signal"
    return f"killed by signal {name} ({-returncode})"


class Supervisor:
    """Runs one process per app id and keeps it running as ``docs/apps.md`` says.

    Use it from one event loop, in the thread that lives as long as the car (the processes'
    parent-death signal is tied to the thread that forks them).
    """

    def __init__(
        self,
        *,
        on_change: Callable[[str, ProcessStatus], None] | None = None,
        on_crash: Callable[[str, int], None] | None = None,
        crash_limit: int = 5,
        crash_window: float = 600.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        stable_after: float = 60.0,
        stop_timeout: float = 3.0,
    ) -> None:
        if crash_limit < 1:
            raise ValueError("crash_limit must be at least 1")
        self.on_change = on_change
        self.on_crash = on_crash
        self.crash_limit = crash_limit
        self.crash_window = crash_window
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.stop_timeout = stop_timeout
        self._apps: dict[str, _App] = {}
        self._closed = False
        self._netns: bool | None = None

    # -- public API ---------------------------------------------------------------------

    async def start(self, app_id: str, spec_factory: Callable[[], LaunchSpec]) -> ProcessStatus:
        """Start the app, or restart it if it runs; lifts a quarantine and resets the counters.

        *spec_factory* is called for this start and every automatic restart. Returns once the
        process is spawned (``running``). Raises :class:`~carmesh.errors.Unavailable` if it
        cannot be spawned (the app is then ``stopped``), and whatever *spec_factory* raises.
        """
        if self._closed:
            raise Unavailable("The app supervisor is shut down; no app can be started.")
        app = self._apps.setdefault(app_id, _App(app_id))
        async with app.lock:
            await self._halt(app)
            app.factory = spec_factory
            app.restarts = 0
            app.crashes.clear()
            app.backoff = self.backoff_initial
            try:
                run = await self._spawn(app)
            except BaseException:
                self._set_state(app, ProcessState.STOPPED)
                self._close_log(app)
                raise
            app.runner = asyncio.create_task(self._watch(app, run), name=f"app {app_id}")
            return self.status(app_id)

    async def stop(self, app_id: str) -> ProcessStatus:
        """Stop the app: SIGTERM to its process group, SIGKILL after ``stop_timeout`` seconds.

        Cancels a pending restart. The app is then ``stopped``; an app that had no process and
        no pending restart keeps its state (``stopped``, ``exited`` or ``quarantined``).
        Idempotent; unknown ids are fine.
        """
        app = self._apps.get(app_id)
        if app is None:
            return self.status(app_id)
        async with app.lock:
            await self._halt(app)
        return self.status(app_id)

    def status(self, app_id: str) -> ProcessStatus:
        """The app's current status (``stopped`` for an unknown id)."""
        app = self._apps.get(app_id)
        if app is None:
            return ProcessStatus(ProcessState.STOPPED)
        now = time.monotonic()
        self._forget_old_crashes(app, now)
        next_start_in = None
        if app.state is ProcessState.BACKOFF and app.next_start_at is not None:
            next_start_in = max(0.0, app.next_start_at - now)
        return ProcessStatus(
            state=app.state,
            pid=app.run.pid if app.run is not None else None,
            restarts=app.restarts,
            recent_crashes=len(app.crashes),
            last_exit=app.last_exit,
            isolation=app.isolation,
            next_start_in=next_start_in,
        )

    def pids(self) -> dict[str, int]:
        """The pid of every app whose process is alive."""
        found: dict[str, int] = {}
        for app_id, app in self._apps.items():
            pid = app.run.pid if app.run is not None else None
            if pid is not None:
                found[app_id] = pid
        return found

    async def close(self) -> None:
        """Stop every app (car shutdown); afterwards :meth:`start` raises ``Unavailable``."""
        self._closed = True
        await asyncio.gather(*(self.stop(app_id) for app_id in list(self._apps)))

    # -- one run after another ----------------------------------------------------------

    async def _spawn(self, app: _App) -> AppRun:
        """Spawn the app's process from a fresh spec; raises ``Unavailable`` on failure."""
        assert app.factory is not None
        self._set_state(app, ProcessState.STARTING)
        spec = app.factory()
        if app.log is None or app.log.path != spec.log_path:
            self._close_log(app)
            app.log = RotatingLog(spec.log_path)
        log = app.log
        isolated = spec.isolate_network and await self._network_isolation()
        loop = asyncio.get_running_loop()
        try:
            transport, run = await loop.subprocess_exec(
                lambda: AppRun(log),
                *spec.argv,
                cwd=spec.cwd,
                env=spec.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
                preexec_fn=child_setup(spec.limits, isolate_network=isolated),
            )
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            reason = _spawn_failure(exc, spec)
            self._note(app, f"cannot start: {reason}")
            raise Unavailable(f"App {app.app_id} cannot be started: {reason}.") from exc
        run.transport = transport
        app.run = run
        app.started_at = time.monotonic()
        app.isolation = "network" if isolated else "process"
        self._note(app, f"started pid {transport.get_pid()} (isolation {app.isolation})")
        self._set_state(app, ProcessState.RUNNING)
        return run

    async def _watch(self, app: _App, run: AppRun) -> None:
        """Watch runs of the app and restart it after crashes, until it ends or is halted."""
        try:
            while True:
                returncode = await asyncio.shield(run.exited)
                ran = time.monotonic() - app.started_at
                await self._reap(run)
                app.last_exit = returncode
                self._note(app, describe_exit(returncode))
                if returncode == 0:
                    self._set_state(app, ProcessState.EXITED)
                    return
                self._call(self.on_crash, app.app_id, returncode)
                while True:
                    if not self._crashed(app, ran):
                        return
                    await self._wait_backoff(app)
                    try:
                        run = await self._spawn(app)
                        break
                    except Exception as exc:
                        if not isinstance(exc, Unavailable):
                            self._note(app, f"cannot start: {exc}")
                        ran = 0.0
        finally:
            if app.run is None or app.run.exited.done():
                self._close_log(app)

    def _crashed(self, app: _App, ran: float) -> bool:
        """Count a crash; quarantine the app (False) or set its back-off (True)."""
        now = time.monotonic()
        self._forget_old_crashes(app, now)
        app.crashes.append(now)
        if len(app.crashes) >= self.crash_limit:
            self._note(
                app,
                f"quarantined after {len(app.crashes)} crashes within "
                f"{self.crash_window:g} s; start it again to lift the quarantine",
            )
            self._set_state(app, ProcessState.QUARANTINED)
            return False
        if ran >= self.stable_after:
            app.backoff = self.backoff_initial
        delay = app.backoff
        app.backoff = min(app.backoff * 2, self.backoff_max)
        app.next_start_at = now + delay
        self._note(app, f"restarting in {delay:g} s")
        self._set_state(app, ProcessState.BACKOFF)
        return True

    async def _wait_backoff(self, app: _App) -> None:
        if app.next_start_at is not None:
            await asyncio.sleep(max(0.0, app.next_start_at - time.monotonic()))
        app.next_start_at = None
        app.restarts += 1

    def _forget_old_crashes(self, app: _App, now: float) -> None:
        while app.crashes and app.crashes[0] <= now - self.crash_window:
            app.crashes.popleft()

    async def _halt(self, app: _App) -> None:
        """End the current run and any pending restart (caller holds the app's lock)."""
        runner, app.runner = app.runner, None
        if runner is not None and not runner.done():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        was_active = app.state in _ACTIVE
        run = app.run
        if run is not None and run.transport is not None and not run.transport.is_closing():
            pid = run.pid
            if pid is not None:
                self._note(app, "stopping")
                _signal_group(pid, signal.SIGTERM)
                await asyncio.wait([run.exited], timeout=self.stop_timeout)
                if not run.exited.done():
                    self._note(app, f"still running after {self.stop_timeout:g} s; killing it")
            await self._reap(run)
            if run.exited.done():
                app.last_exit = run.exited.result()
                if pid is not None:
                    self._note(app, f"stopped ({describe_exit(app.last_exit)})")
        app.next_start_at = None
        if was_active:
            self._set_state(app, ProcessState.STOPPED)
        self._close_log(app)

    async def _reap(self, run: AppRun) -> None:
        """Kill what is left of the run's process group and let its output drain."""
        assert run.transport is not None
        _signal_group(run.transport.get_pid(), signal.SIGKILL)
        await asyncio.wait([run.exited], timeout=_KILL_TIMEOUT)
        if not run.exited.done():
            _log.error("process %s survived SIGKILL", run.transport.get_pid())
        await run.drain()

    async def _network_isolation(self) -> bool:
        """:func:`network_isolation_available`, probed off the event loop on first use."""
        if self._netns is None:
            self._netns = await asyncio.to_thread(network_isolation_available)
        return self._netns

    # -- events -------------------------------------------------------------------------

    def _note(self, app: _App, text: str) -> None:
        if app.log is not None:
            app.log.write("car", [text])

    def _close_log(self, app: _App) -> None:
        if app.log is not None:
            app.log.close()

    def _set_state(self, app: _App, state: ProcessState) -> None:
        if app.state is state:
            return
        app.state = state
        if self.on_change is not None:
            self._call(self.on_change, app.app_id, self.status(app.app_id))

    @staticmethod
    def _call(callback: Callable[[str, Any], None] | None, app_id: str, arg: Any) -> None:
        if callback is None:
            return
        try:
            callback(app_id, arg)
        except Exception:
            _log.exception("app supervisor callback failed for %s", app_id)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    """Send *signum* to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _spawn_failure(exc: BaseException, spec: LaunchSpec) -> str:
    """One phrase saying why a spawn failed."""
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        return f"{exc.filename} does not exist"
    if isinstance(exc, OSError) and exc.strerror:
        target = exc.filename if exc.filename is not None else spec.argv[0]
        return f"{target}: {exc.strerror}"
    if isinstance(exc, subprocess.SubprocessError):
        return "its sandbox (resource limits, network namespace) could not be set up"
    return str(exc) or type(exc).__name__
