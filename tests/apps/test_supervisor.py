"""The app supervisor with real processes: lifecycle, crashes, back-off, quarantine, limits,
environment, logs, process groups, parent death and network isolation.

Back-off values are a few hundredths of a second so the whole file runs in seconds; apps are
small ``python -I`` scripts (one test runs the real ``carmesh.apps.launch``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from carmesh.apps import supervisor as supervisor_module
from carmesh.apps.isolation import network_isolation_available
from carmesh.apps.logs import CUT_MARK, MAX_BYTES, tail
from carmesh.apps.supervisor import (
    LaunchSpec,
    ProcessState,
    ProcessStatus,
    ResourceLimits,
    Supervisor,
)
from carmesh.errors import FailedPrecondition, Unavailable

S = ProcessState
APP = "org.example.test"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (out|err|car) ")

needs_netns = pytest.mark.skipif(
    not network_isolation_available(),
    reason="network_isolation_available() says this kernel/process cannot create "
    "user+network namespaces, so apps run with isolation 'process'",
)


# -- helpers --------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Collects on_change and on_crash calls with the time they happened."""

    changes: list[tuple[float, str, ProcessStatus]] = field(default_factory=list)
    crashes: list[tuple[str, int]] = field(default_factory=list)

    def on_change(self, app_id: str, status: ProcessStatus) -> None:
        self.changes.append((time.monotonic(), app_id, status))

    def on_crash(self, app_id: str, returncode: int) -> None:
        self.crashes.append((app_id, returncode))

    def states(self, app_id: str = APP) -> list[ProcessState]:
        return [status.state for _, a, status in self.changes if a == app_id]

    def times(self, state: ProcessState, app_id: str = APP) -> list[float]:
        return [t for t, a, status in self.changes if a == app_id and status.state is state]


@dataclass
class Factory:
    """A spec factory for a ``python -I`` script that counts its calls."""

    root: Path
    code: str
    app_id: str = APP
    limits: ResourceLimits = field(default_factory=ResourceLimits)
    isolate_network: bool = False
    env: dict[str, str] | None = None
    argv: list[str] | None = None
    calls: int = 0

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "app.py").write_text(textwrap.dedent(self.code))

    @property
    def log_path(self) -> Path:
        return self.root / "logs" / self.app_id / "app.log"

    def __call__(self) -> LaunchSpec:
        self.calls += 1
        env = self.env if self.env is not None else {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        return LaunchSpec(
            app_id=self.app_id,
            argv=self.argv or [sys.executable, "-I", "-u", "app.py"],
            cwd=self.root,
            env={**env, "CARMESH_APP_TOKEN": f"token-{self.calls}"},
            limits=self.limits,
            isolate_network=self.isolate_network,
            log_path=self.log_path,
        )

    def log(self) -> list[str]:
        return tail(self.log_path, 100_000)


@pytest.fixture
async def make_supervisor() -> AsyncIterator[Callable[..., Supervisor]]:
    made: list[Supervisor] = []

    def make(**options: Any) -> Supervisor:
        options = {"backoff_initial": 0.05, "backoff_max": 0.4, "stop_timeout": 1.0, **options}
        supervisor = Supervisor(**options)
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        await supervisor.close()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def alive(pid: int) -> bool:
    """Whether *pid* is a live process (a zombie waiting for its reaper counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


SLEEPER = "import time\ntime.sleep(60)\n"


# -- lifecycle ------------------------------------------------------------------------------


async def test_start_stop_restart(tmp_path: Path, make_supervisor: Any) -> None:
    recorder = Recorder()
    supervisor = make_supervisor(on_change=recorder.on_change)
    factory = Factory(tmp_path, SLEEPER)
    assert supervisor.status(APP) == ProcessStatus(S.STOPPED, isolation="")

    first = await supervisor.start(APP, factory)
    assert first.state is S.RUNNING and first.pid is not None and alive(first.pid)
    assert (first.restarts, first.recent_crashes, first.isolation) == (0, 0, "process")
    assert supervisor.pids() == {APP: first.pid}

    second = await supervisor.start(APP, factory)  # a restart
    assert second.state is S.RUNNING and second.pid != first.pid
    assert not alive(first.pid)
    assert factory.calls == 2

    stopped = await supervisor.stop(APP)
    assert stopped.state is S.STOPPED and stopped.pid is None
    assert stopped.last_exit == -signal.SIGTERM
    assert second.pid is not None and not alive(second.pid)
    assert supervisor.pids() == {}
    assert await supervisor.stop(APP) == stopped  # idempotent
    assert (await supervisor.stop("org.example.unknown")).state is S.STOPPED
    assert recorder.states() == [S.STARTING, S.RUNNING, S.STOPPED] * 2
    assert recorder.crashes == []
    assert supervisor.status(APP).as_json() == {
        "state": "stopped",
        "pid": None,
        "restarts": 0,
        "recent_crashes": 0,
        "last_exit": -15,
        "isolation": "process",
        "next_start_in": None,
    }


async def test_crash_restarts_with_growing_backoff(tmp_path: Path, make_supervisor: Any) -> None:
    recorder = Recorder()
    supervisor = make_supervisor(
        on_change=recorder.on_change,
        on_crash=recorder.on_crash,
        crash_limit=100,
        crash_window=60,
        backoff_initial=0.05,
        backoff_max=0.2,
    )
    code = """
        import os, sys
        with open("tokens.txt", "a") as f:
            f.write(os.environ["CARMESH_APP_TOKEN"] + "\\n")
        sys.exit(3)
        """
    factory = Factory(tmp_path, code)
    await supervisor.start(APP, factory)
    await until(lambda: len(recorder.times(S.RUNNING)) >= 6)
    await supervisor.stop(APP)

    expected = [0.05, 0.1, 0.2, 0.2, 0.2]
    delays = [s.next_start_in for _, _, s in recorder.changes if s.state is S.BACKOFF][:5]
    assert delays == pytest.approx(expected, abs=0.01)
    starts = recorder.times(S.RUNNING)
    intervals = [b - a for a, b in itertools.pairwise(starts)][:5]
    for interval, delay in zip(intervals, expected, strict=True):
        assert delay <= interval < delay + 0.5
    assert intervals[2] > intervals[0] + 0.1
    assert recorder.crashes[:5] == [(APP, 3)] * 5
    assert supervisor.status(APP).restarts >= 5
    # Every run got its own spec (a fresh token).
    tokens = (tmp_path / "tokens.txt").read_text().split()
    assert len(tokens) == len(set(tokens)) >= 5
    log = "\n".join(factory.log())
    assert "car exited with status 3" in log
    assert "car restarting in 0.2 s" in log


async def test_backoff_resets_after_a_stable_run(tmp_path: Path, make_supervisor: Any) -> None:
    recorder = Recorder()
    supervisor = make_supervisor(
        on_change=recorder.on_change,
        backoff_initial=0.05,
        backoff_max=10,
        stable_after=0.15,
        crash_limit=100,
    )
    code = """
        import pathlib, sys, time
        counter = pathlib.Path("runs")
        runs = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(runs))
        if runs == 4:
            time.sleep(0.2)
        sys.exit(1)
        """
    await supervisor.start(APP, Factory(tmp_path, code))
    await until(lambda: len(recorder.times(S.BACKOFF)) >= 5)
    await supervisor.stop(APP)
    delays = [s.next_start_in for _, _, s in recorder.changes if s.state is S.BACKOFF][:5]
    assert delays == pytest.approx([0.05, 0.1, 0.2, 0.05, 0.1], abs=0.01)


async def test_quarantine_after_crash_limit_and_start_lifts_it(
    tmp_path: Path, make_supervisor: Any
) -> None:
    recorder = Recorder()
    supervisor = make_supervisor(
        on_change=recorder.on_change, on_crash=recorder.on_crash, crash_limit=3, crash_window=5
    )
    factory = Factory(tmp_path, "import sys\nsys.exit(1)\n")
    await supervisor.start(APP, factory)
    await until(lambda: supervisor.status(APP).state is S.QUARANTINED)
    assert recorder.states() == [S.STARTING, S.RUNNING, S.BACKOFF] * 2 + [
        S.STARTING,
        S.RUNNING,
        S.QUARANTINED,
    ]
    status = supervisor.status(APP)
    assert (status.pid, status.restarts, status.recent_crashes, status.last_exit) == (
        None,
        2,
        3,
        1,
    )
    assert recorder.crashes == [(APP, 1)] * 3
    await asyncio.sleep(0.3)
    assert factory.calls == 3 and supervisor.status(APP).state is S.QUARANTINED
    assert "car quarantined after 3 crashes within 5 s" in "\n".join(factory.log())
    # stop leaves a quarantined app as it is; start lifts the quarantine.
    assert (await supervisor.stop(APP)).state is S.QUARANTINED

    factory2 = Factory(tmp_path / "fixed", SLEEPER)
    status = await supervisor.start(APP, factory2)
    assert (status.state, status.restarts, status.recent_crashes) == (S.RUNNING, 0, 0)


async def test_crashes_outside_the_window_are_forgotten(
    tmp_path: Path, make_supervisor: Any
) -> None:
    recorder = Recorder()
    supervisor = make_supervisor(
        on_change=recorder.on_change,
        crash_limit=2,
        crash_window=0.15,
        backoff_initial=0.2,
        backoff_max=0.2,
    )
    await supervisor.start(APP, Factory(tmp_path, "import sys\nsys.exit(1)\n"))
    await until(lambda: len(recorder.times(S.BACKOFF)) >= 3)
    assert S.QUARANTINED not in recorder.states()
    assert supervisor.status(APP).recent_crashes <= 1


async def test_exit_zero_is_exited_without_restart(tmp_path: Path, make_supervisor: Any) -> None:
    recorder = Recorder()
    supervisor = make_supervisor(on_change=recorder.on_change, on_crash=recorder.on_crash)
    factory = Factory(tmp_path, "print('bye')\n")
    await supervisor.start(APP, factory)
    await until(lambda: supervisor.status(APP).state is S.EXITED)
    await asyncio.sleep(0.2)
    status = supervisor.status(APP)
    assert (status.state, status.pid, status.last_exit, status.restarts) == (S.EXITED, None, 0, 0)
    assert factory.calls == 1 and recorder.crashes == []
    assert recorder.states() == [S.STARTING, S.RUNNING, S.EXITED]
    assert (await supervisor.stop(APP)).state is S.EXITED
    log = factory.log()
    assert log[-2].endswith(" out bye")
    assert log[-1].endswith(" car exited with status 0")


async def test_spawn_failure_raises_unavailable(tmp_path: Path, make_supervisor: Any) -> None:
    recorder = Recorder()
    supervisor = make_supervisor(on_change=recorder.on_change)
    factory = Factory(tmp_path, SLEEPER, argv=[str(tmp_path / "no-such-python")])
    with pytest.raises(Unavailable, match="no-such-python does not exist"):
        await supervisor.start(APP, factory)
    assert supervisor.status(APP).state is S.STOPPED
    assert recorder.states() == [S.STARTING, S.STOPPED]
    assert "car cannot start: " in factory.log()[-1]

    gone = Factory(tmp_path / "removed", SLEEPER)
    shutil.rmtree(gone.root)  # the package directory vanished
    with pytest.raises(Unavailable, match="removed does not exist"):
        await supervisor.start(APP, gone)
    assert supervisor.status(APP).state is S.STOPPED


async def test_sandbox_failure_raises_unavailable(
    tmp_path: Path, make_supervisor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_setup(limits: ResourceLimits, *, isolate_network: bool) -> Callable[[], None]:
        def setup() -> None:
            raise OSError(1, "unshare(CLONE_NEWUSER|CLONE_NEWNET): Operation not permitted")

        return setup

    monkeypatch.setattr(supervisor_module, "child_setup", broken_setup)
    supervisor = make_supervisor()
    with pytest.raises(Unavailable, match=r"sandbox .* could not be set up"):
        await supervisor.start(APP, Factory(tmp_path, SLEEPER, isolate_network=True))
    assert supervisor.status(APP).state is S.STOPPED


async def test_without_namespaces_isolation_is_process(
    tmp_path: Path, make_supervisor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor_module, "network_isolation_available", lambda: False)
    supervisor = make_supervisor()
    status = await supervisor.start(APP, Factory(tmp_path, SLEEPER, isolate_network=True))
    assert (status.state, status.isolation) == (S.RUNNING, "process")


async def test_failing_spec_factory_on_restart_ends_in_quarantine(
    tmp_path: Path, make_supervisor: Any
) -> None:
    supervisor = make_supervisor(crash_limit=3)
    factory = Factory(tmp_path, "import sys\nsys.exit(2)\n")

    def flaky() -> LaunchSpec:
        if factory.calls >= 1:
            raise FailedPrecondition("the app's permissions are undecided")
        return factory()

    await supervisor.start(APP, flaky)
    await until(lambda: supervisor.status(APP).state is S.QUARANTINED)
    log = "\n".join(factory.log())
    assert "car cannot start: the app's permissions are undecided" in log


async def test_callback_errors_do_not_break_the_supervisor(
    tmp_path: Path, make_supervisor: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: Any) -> None:
        raise RuntimeError("listener bug")

    supervisor = make_supervisor(on_change=explode, on_crash=explode, crash_limit=2)
    await supervisor.start(APP, Factory(tmp_path, "import sys\nsys.exit(1)\n"))
    await until(lambda: supervisor.status(APP).state is S.QUARANTINED)
    assert "listener bug" in caplog.text


async def test_close_stops_everything(tmp_path: Path, make_supervisor: Any) -> None:
    supervisor = make_supervisor()
    first = await supervisor.start(
        "org.example.a", Factory(tmp_path / "a", SLEEPER, "org.example.a")
    )
    second = await supervisor.start(
        "org.example.b", Factory(tmp_path / "b", SLEEPER, "org.example.b")
    )
    await supervisor.close()
    assert supervisor.pids() == {}
    assert first.pid is not None and second.pid is not None
    assert not alive(first.pid) and not alive(second.pid)
    assert supervisor.status("org.example.a").state is S.STOPPED
    with pytest.raises(Unavailable):
        await supervisor.start("org.example.a", Factory(tmp_path / "a", SLEEPER))


# -- limits and environment ------------------------------------------------------------------


async def test_memory_limit_turns_a_big_allocation_into_a_crash(
    tmp_path: Path, make_supervisor: Any
) -> None:
    recorder = Recorder()
    supervisor = make_supervisor(on_crash=recorder.on_crash, crash_limit=1)
    code = "block = bytearray(2 * 1024**3)\nprint('allocated 2 GiB')\n"
    factory = Factory(tmp_path, code, limits=ResourceLimits(memory_mb=200))
    await supervisor.start(APP, factory)
    await until(lambda: supervisor.status(APP).state is S.QUARANTINED)
    assert recorder.crashes == [(APP, 1)]
    log = "\n".join(factory.log())
    assert "err MemoryError" in log
    assert "allocated" not in log


async def test_cpu_limit_kills_a_busy_loop(tmp_path: Path, make_supervisor: Any) -> None:
    supervisor = make_supervisor(crash_limit=1)
    factory = Factory(tmp_path, "while True:\n    pass\n", limits=ResourceLimits(cpu_seconds=1))
    began = time.monotonic()
    await supervisor.start(APP, factory)
    await until(lambda: supervisor.status(APP).state is S.QUARANTINED, timeout=15)
    assert supervisor.status(APP).last_exit in (-signal.SIGXCPU, -signal.SIGKILL)
    assert time.monotonic() - began < 8
    assert "car killed by signal SIGXCPU (24)" in "\n".join(factory.log())


async def test_open_files_limit(tmp_path: Path, make_supervisor: Any) -> None:
    supervisor = make_supervisor()
    code = """
        import errno, os
        opened = []
        try:
            for _ in range(300):
                opened.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as exc:
            print("failed", len(opened), errno.errorcode[exc.errno])
        else:
            print("opened all", len(opened))
        """
    factory = Factory(tmp_path, code, limits=ResourceLimits(open_files=256))
    await supervisor.start(APP, factory)
    await until(lambda: supervisor.status(APP).state is S.EXITED)
    line = next(line for line in factory.log() if " out " in line)
    words = line.split(" out ")[1].split()
    assert words[0] == "failed" and words[2] == "EMFILE"
    assert 240 <= int(words[1]) < 256


async def test_environment_is_exactly_the_given_one(
    tmp_path: Path, make_supervisor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARMESH_TEST_SECRET", "must not leak")
    home = tmp_path / "data"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "CARMESH_APP_DATA": str(home),
        "LANG": "C.UTF-8",
        "CARMESH_APP_ID": APP,
    }
    code = """
        import json, os, pathlib
        pathlib.Path("env.json").write_text(json.dumps(dict(os.environ)))
        """
    supervisor = make_supervisor()
    await supervisor.start(APP, Factory(tmp_path, code, env=env))
    await until(lambda: supervisor.status(APP).state is S.EXITED)
    seen = json.loads((tmp_path / "env.json").read_text())
    assert seen == {**env, "CARMESH_APP_TOKEN": "token-1"}
    assert "CARMESH_TEST_SECRET" not in seen
    assert os.environ["CARMESH_TEST_SECRET"] == "must not leak"


# -- logs -----------------------------------------------------------------------------------


async def test_output_reaches_the_log_while_the_app_runs(
    tmp_path: Path, make_supervisor: Any
) -> None:
    """The real launcher: print() without flush still shows up at once."""
    app = tmp_path / "pkg"
    app.mkdir()
    (app / "chatty.py").write_text(
        textwrap.dedent(
            """
            import asyncio, sys
            async def main():
                print("hello from stdout")
                print("warning on stderr", file=sys.stderr)
                await asyncio.sleep(60)
            """
        )
    )
    factory = Factory(
        app,
        "",
        argv=[sys.executable, "-I", "-m", "carmesh.apps.launch"],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "CARMESH_APP_ENTRY": "chatty"},
    )
    supervisor = make_supervisor()
    status = await supervisor.start(APP, factory)
    await until(lambda: any(line.endswith(" err warning on stderr") for line in factory.log()))
    await until(lambda: any(line.endswith(" out hello from stdout") for line in factory.log()))
    assert supervisor.status(APP).state is S.RUNNING
    await supervisor.stop(APP)
    log = factory.log()
    assert all(LOG_LINE.match(line) for line in log)
    assert log[0].endswith(f" car started pid {status.pid} (isolation process)")
    assert log[-1].endswith(" car stopped (exited with status 0)")  # SIGTERM → launch exits 0


async def test_flood_of_output_is_drained_and_rotated(tmp_path: Path, make_supervisor: Any) -> None:
    code = """
        import sys
        line = "x" * 99 + "\\n"
        sys.stderr.write(line * 10_000)
        sys.stdout.write(line * 50_000)
        sys.stdout.write("y" * 40_000 + "\\n")
        sys.stdout.write("done\\n")
        """
    factory = Factory(tmp_path, code)
    supervisor = make_supervisor()
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - before - 0.01)

    ticking = asyncio.create_task(ticker())
    began = time.monotonic()
    await supervisor.start(APP, factory)
    await until(lambda: supervisor.status(APP).state is S.EXITED, timeout=30)
    took = time.monotonic() - began
    ticking.cancel()
    assert took < 10
    assert max(lags) < 0.25
    files = sorted(p.name for p in factory.log_path.parent.iterdir())
    assert files == ["app.log", "app.log.1", "app.log.2", "app.log.3"]
    for path in factory.log_path.parent.iterdir():
        assert path.stat().st_size <= MAX_BYTES
    last = factory.log()[-3:]
    assert last[0].endswith(" out " + "y" * 16 * 1024 + CUT_MARK.decode())
    assert last[1].endswith(" out done")
    assert last[2].endswith(" car exited with status 0")


# -- process groups, parent death, isolation -------------------------------------------------


GROUP_APP = """
    import signal, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-I", "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
    open("grandchild.pid", "w").write(str(child.pid))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
    """


async def test_stop_kills_the_process_group(tmp_path: Path, make_supervisor: Any) -> None:
    supervisor = make_supervisor(stop_timeout=0.3)
    status = await supervisor.start(APP, Factory(tmp_path, GROUP_APP))
    pid_file = tmp_path / "grandchild.pid"
    await until(lambda: pid_file.exists() and pid_file.read_text() != "")
    grandchild = int(pid_file.read_text())
    await asyncio.sleep(0.2)  # both ignore SIGTERM by now
    assert status.pid is not None and alive(status.pid) and alive(grandchild)
    began = time.monotonic()
    stopped = await supervisor.stop(APP)
    assert 0.3 <= time.monotonic() - began < 2
    assert stopped.last_exit == -signal.SIGKILL
    await until(lambda: not alive(grandchild), timeout=2)
    assert not alive(status.pid)


async def test_a_crash_takes_the_rest_of_the_group_with_it(
    tmp_path: Path, make_supervisor: Any
) -> None:
    code = """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-I", "-c", "import time; time.sleep(60)"])
        open("grandchild.pid", "w").write(str(child.pid))
        time.sleep(0.2)
        sys.exit(5)
        """
    supervisor = make_supervisor(crash_limit=1)
    await supervisor.start(APP, Factory(tmp_path, code))
    await until(lambda: supervisor.status(APP).state is S.QUARANTINED)
    await until(lambda: not alive(int((tmp_path / "grandchild.pid").read_text())), timeout=2)


PARENT = """
import asyncio, sys
from pathlib import Path
from carmesh.apps.supervisor import LaunchSpec, ResourceLimits, Supervisor

async def main() -> None:
    root = Path(sys.argv[1])
    spec = LaunchSpec(
        app_id="org.example.orphan",
        argv=[sys.executable, "-I", "-c", "import time; time.sleep(60)"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin"},
        limits=ResourceLimits(),
        isolate_network=sys.argv[2] == "1",
        log_path=root / "app.log",
    )
    status = await Supervisor().start(spec.app_id, lambda: spec)
    print(status.pid, status.isolation, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    "isolate", [False, pytest.param(True, marks=needs_netns)], ids=["process", "network"]
)
def test_app_dies_with_a_killed_car(tmp_path: Path, isolate: bool) -> None:
    car = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path), "1" if isolate else "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert car.stdout is not None
        pid_text, isolation = car.stdout.readline().split()
        app_pid = int(pid_text)
        assert isolation == ("network" if isolate else "process")
        assert alive(app_pid)
        car.kill()  # SIGKILL: no cleanup code of the car runs
        car.wait()
        deadline = time.monotonic() + 2
        while alive(app_pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not alive(app_pid), "the app outlived the car by more than 2 s"
    finally:
        car.kill()
        car.wait()


@needs_netns
async def test_isolated_app_reaches_only_the_unix_socket(
    tmp_path: Path, make_supervisor: Any
) -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello from the car")
        await writer.drain()
        writer.close()

    tcp = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    unix_path = tmp_path / "apps.sock"
    unix = await asyncio.start_unix_server(greet, str(unix_path))
    code = f"""
        import json, socket
        result = {{}}
        try:
            with socket.create_connection(("127.0.0.1", {port}), timeout=2) as s:
                result["tcp"] = s.recv(100).decode()
        except OSError as exc:
            result["tcp"] = "failed: " + str(exc)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect({str(unix_path)!r})
            result["unix"] = s.recv(100).decode()
        open("result.json", "w").write(json.dumps(result))
        """
    supervisor = make_supervisor()
    try:
        for isolate in (True, False):
            factory = Factory(tmp_path / str(isolate), code, isolate_network=isolate)
            status = await supervisor.start(APP, factory)
            assert status.isolation == ("network" if isolate else "process")
            await until(lambda: supervisor.status(APP).state is S.EXITED)
            result = json.loads((factory.root / "result.json").read_text())
            assert result["unix"] == "hello from the car"
            if isolate:
                assert result["tcp"].startswith("failed: ")
            else:
                assert result["tcp"] == "hello from the car"
    finally:
        tcp.close()
        unix.close()
