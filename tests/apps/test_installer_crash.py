"""Crash safety of the installer: SIGKILL at any instant leaves the old state or the new one.

A child process installs, updates, rolls back, disables and removes two apps in a loop,
printing ``begin APP [op, argument, expected state]`` before each operation and ``done APP``
once it returned. The parent kills it at random moments, several times over the same
directory, and after each kill opens the registry and installer as the car would at start,
runs ``recover()`` and checks that the database is intact, that every app is in the state of
its last acknowledged operation or of the one in flight, and that the files are exactly
those the registry refers to.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from carmesh.apps.installer import Installer
from carmesh.apps.registry import AppRegistry
from carmesh.apps.signing import TrustStore
from tests.apps.support import dev_key, make_package, trust_store

APPS = ("org.example.alpha", "org.example.beta")
VERSIONS = ("1.0.0", "2.0.0", "3.0.0")
ROUNDS = 6

CHILD = """
import json
import sys
from pathlib import Path

from carmesh.apps.installer import Installer
from carmesh.apps.registry import AppRegistry
from carmesh.apps.signing import TrustStore

root, trusted, packages = (Path(p) for p in sys.argv[1:4])
apps = json.loads(sys.argv[4])
registry = AppRegistry(root / "registry.db")
installer = Installer(root, registry, TrustStore(trusted))
installer.recover()

# state (version, previous, enabled) -> (operation, argument, state after it)
PLAN = {
    None: ("install", "1.0.0", ["1.0.0", None, True]),
    ("1.0.0", None, True): ("update", "2.0.0", ["2.0.0", "1.0.0", True]),
    ("2.0.0", "1.0.0", True): ("update", "3.0.0", ["3.0.0", "2.0.0", True]),
    ("3.0.0", "2.0.0", True): ("rollback", None, ["2.0.0", "3.0.0", True]),
    ("2.0.0", "3.0.0", True): ("disable", None, ["2.0.0", "3.0.0", False]),
    # an update to the version rolled back from (its directory already exists)
    ("2.0.0", "3.0.0", False): ("update", "3.0.0", ["3.0.0", "2.0.0", False]),
    # what a kill in the middle of that update may leave
    ("2.0.0", None, False): ("update", "3.0.0", ["3.0.0", "2.0.0", False]),
    ("3.0.0", "2.0.0", False): ("remove", None, None),
}


def state(app_id):
    record = registry.find(app_id)
    if record is None:
        return None
    return (record.version, record.previous_version, record.enabled)


print("ready", flush=True)
n = 0
while True:
    app_id = apps[n % len(apps)]
    n += 1
    operation, argument, expected = PLAN[state(app_id)]
    print("begin", app_id, json.dumps([operation, argument, expected]), flush=True)
    package = packages / f"{app_id}-{argument}.cmapp"
    if operation == "install":
        installer.install(package)
    elif operation == "update":
        installer.update(app_id, package)
    elif operation == "rollback":
        installer.rollback(app_id)
    elif operation == "disable":
        registry.set_enabled(app_id, False)
    else:
        installer.remove(app_id)
    print("done", app_id, flush=True)
"""

State = tuple[str, str | None, bool] | None


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CARMESH_")}


def state_of(registry: AppRegistry, app_id: str) -> State:
    record = registry.find(app_id)
    return None if record is None else (record.version, record.previous_version, record.enabled)


def as_state(value: Any) -> State:
    return None if value is None else (value[0], value[1], value[2])


def run_and_kill(
    script: Path, args: list[str], rng: random.Random, known: dict[str, State]
) -> tuple[dict[str, State], dict[str, tuple[str, str | None, State] | None], int]:
    """Run the child, SIGKILL it at a random moment; return the acknowledged states, the
    operations in flight at the kill, and the number of acknowledgements."""
    done = dict(known)
    in_flight: dict[str, tuple[str, str | None, State] | None] = dict.fromkeys(APPS)
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    watchdog = threading.Timer(15.0, proc.kill)
    watchdog.start()
    kill_at = rng.randint(1, 24)
    delay = rng.uniform(0.0, 0.03)
    killer: threading.Timer | None = None
    begun = acks = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.endswith("\n"):
                break  # cut short by the kill
            kind, _, rest = line.strip().partition(" ")
            if kind == "begin":
                app_id, _, detail = rest.partition(" ")
                operation, argument, expected = json.loads(detail)
                assert in_flight[app_id] is None
                in_flight[app_id] = (operation, argument, as_state(expected))
                begun += 1
                if begun == kill_at:
                    killer = threading.Timer(delay, proc.kill)
                    killer.start()
            elif kind == "done":
                flight = in_flight[rest]
                assert flight is not None, line
                done[rest] = flight[2]
                in_flight[rest] = None
                acks += 1
        proc.wait(timeout=10)
    finally:
        watchdog.cancel()
        if killer is not None:
            killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == -9, f"child ended with {proc.returncode} before the kill:\n{stderr}"
    return done, in_flight, acks


def allowed_states(done: State, flight: tuple[str, str | None, State] | None) -> list[State]:
    """The state of the last acknowledged operation, or of the one in flight (for an update
    to the previous version, also the intermediate state without a previous version)."""
    allowed = [done]
    if flight is not None:
        operation, argument, expected = flight
        allowed.append(expected)
        if operation == "update" and done is not None and argument == done[1]:
            allowed.append((done[0], None, done[2]))
    return allowed


def check_files(root: Path, registry: AppRegistry, installer: Installer) -> None:
    records = {r.id: r for r in registry.apps()}
    assert list((root / "staging").iterdir()) == [], "staging must be empty after recover"
    on_disk = {(p.name, v.name) for p in (root / "packages").iterdir() for v in p.iterdir()}
    referenced = {(r.id, v) for r in records.values() for v in (r.version, r.previous_version) if v}
    assert on_disk == referenced
    assert {p.name for p in (root / "packages").iterdir()} == set(records)
    for top in ("data", "logs"):
        assert {p.name for p in (root / top).iterdir()} <= set(records)
    for app_id in records:
        assert installer.check(app_id) == [], app_id


def test_sigkill_at_any_moment_keeps_old_or_new_state(tmp_path: Path) -> None:
    key = dev_key(tmp_path)
    trust = trust_store(tmp_path, key)
    packages = tmp_path / "built"
    packages.mkdir()
    for app_id in APPS:
        for version in VERSIONS:
            data = make_package(
                tmp_path / "build",
                app_id,
                key,
                version=version,
                permissions={"read": ["Vehicle.Speed"], "notifications": True},
                files={f"assets/v{version}.txt": version * 100},
            )
            (packages / f"{app_id}-{version}.cmapp").write_bytes(data)
    script = tmp_path / "churn.py"
    script.write_text(CHILD, encoding="utf-8")
    root = tmp_path / "apps"
    args = [str(root), str(trust.directory), str(packages), json.dumps(APPS)]

    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    known: dict[str, State] = dict.fromkeys(APPS)
    total_acks = 0
    seen: set[State] = set()
    for round_number in range(ROUNDS):
        done, in_flight, acks = run_and_kill(script, args, rng, known)
        total_acks += acks
        where = f"seed {seed}, round {round_number}"

        raw = sqlite3.connect(root / "registry.db")
        try:
            assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)], where
        finally:
            raw.close()
        registry = AppRegistry(root / "registry.db")
        try:
            installer = Installer(root, registry, trust)
            recovery = installer.recover()
            assert recovery.broken == {}, where
            for app_id in APPS:
                actual = state_of(registry, app_id)
                allowed = allowed_states(done[app_id], in_flight[app_id])
                assert actual in allowed, (where, app_id, actual, allowed)
                known[app_id] = actual
                seen.add(actual)
            check_files(root, registry, installer)
        finally:
            registry.close()
    assert total_acks >= ROUNDS, "the child made (almost) no progress"
    assert len(seen) >= 3, f"too few distinct states reached: {seen}"


# -- a kill before every step of every operation ---------------------------------------------

#: Exit status of a child that "crashed" on purpose.
DIED = 70
APP = APPS[0]
SECOND_BUILD = "VERSION = 'second build'\n"


def step_targets() -> list[tuple[Any, str]]:
    """The calls counted as steps: every file-system change the installer makes, the
    extraction, and every registry change."""
    import carmesh.apps.installer as installer_module
    from carmesh.apps.package import Package

    return [
        (os, "rename"),
        (os, "chmod"),
        (os, "mkdir"),
        (os, "unlink"),
        (os, "rmdir"),
        (installer_module, "_fsync"),
        (installer_module, "_rmtree"),
        (Package, "extract_to"),
        (AppRegistry, "put_installed"),
        (AppRegistry, "forget_previous"),
        (AppRegistry, "delete"),
    ]


def run_dying_at(root: Path, trust: TrustStore, operation: Any, step: int) -> int:
    """Run *operation* in a forked child that exits abruptly just before its *step*-th step;
    returns the child's exit status (0: the operation finished in fewer steps)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            registry = AppRegistry(root / "registry.db")
            installer = Installer(root, registry, trust)
            count = 0

            def counted(function: Any) -> Any:
                def step_then_call(*args: Any, **kwargs: Any) -> Any:
                    nonlocal count
                    count += 1
                    if count == step:
                        os._exit(DIED)
                    return function(*args, **kwargs)

                return step_then_call

            for owner, name in step_targets():
                setattr(owner, name, counted(getattr(owner, name)))
            operation(installer, registry)
            os._exit(0)
        except BaseException:
            import traceback

            traceback.print_exc()
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_kill_before_every_step_of_every_operation(tmp_path: Path) -> None:
    import shutil

    key = dev_key(tmp_path)
    trust = trust_store(tmp_path, key)
    build = tmp_path / "build"
    files = {"assets/deep/data.txt": "x" * 1000}
    pkg = {v: make_package(build, APP, key, version=v, files=files) for v in VERSIONS}
    rebuilt = make_package(build, APP, key, version="3.0.0", code=SECOND_BUILD, files=files)

    # Snapshots of the directory before each operation, made with the real installer.
    templates = tmp_path / "templates"
    live = tmp_path / "live"
    registry = AppRegistry(live / "registry.db")
    installer = Installer(live, registry, trust)

    def snapshot(name: str) -> Path:
        registry.close()
        shutil.copytree(live, templates / name, symlinks=True)
        return templates / name

    cases: list[tuple[str, Path, Any, State, State, list[State]]] = []
    cases.append(("install", snapshot("install"), lambda i, r: i.install(pkg["1.0.0"]), None,
                  ("1.0.0", None, True), []))  # fmt: skip
    registry = AppRegistry(live / "registry.db")
    installer = Installer(live, registry, trust)
    installer.install(pkg["1.0.0"])
    (installer.data_dir(APP) / "marker").write_text("kept")
    cases.append(("update", snapshot("update"), lambda i, r: i.update(APP, pkg["2.0.0"]),
                  ("1.0.0", None, True), ("2.0.0", "1.0.0", True), []))  # fmt: skip
    registry = AppRegistry(live / "registry.db")
    installer = Installer(live, registry, trust)
    installer.update(APP, pkg["2.0.0"])
    cases.append(("update-drop", snapshot("update-drop"),
                  lambda i, r: i.update(APP, pkg["3.0.0"]),
                  ("2.0.0", "1.0.0", True), ("3.0.0", "2.0.0", True), []))  # fmt: skip
    registry = AppRegistry(live / "registry.db")
    installer = Installer(live, registry, trust)
    installer.update(APP, pkg["3.0.0"])
    cases.append(("rollback", snapshot("rollback"), lambda i, r: i.rollback(APP),
                  ("3.0.0", "2.0.0", True), ("2.0.0", "3.0.0", True), []))  # fmt: skip
    cases.append(("remove", snapshot("remove"), lambda i, r: i.remove(APP),
                  ("3.0.0", "2.0.0", True), None, []))  # fmt: skip
    registry = AppRegistry(live / "registry.db")
    installer = Installer(live, registry, trust)
    installer.rollback(APP)
    cases.append(("update-to-previous", snapshot("update-to-previous"),
                  lambda i, r: i.update(APP, rebuilt),
                  ("2.0.0", "3.0.0", True), ("3.0.0", "2.0.0", True),
                  [("2.0.0", None, True)]))  # fmt: skip

    for name, template, operation, before, after, intermediate in cases:
        seen: set[State] = set()
        step = 0
        while True:
            step += 1
            assert step < 400, f"{name} never finished"
            root = tmp_path / "runs" / f"{name}-{step}"
            shutil.copytree(template, root, symlinks=True)
            status = run_dying_at(root, trust, operation, step)
            assert status in (0, DIED), f"{name}, step {step}: the child failed ({status})"
            where = f"{name}, killed before step {step}"
            raw = sqlite3.connect(root / "registry.db")
            try:
                assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)], where
            finally:
                raw.close()
            registry = AppRegistry(root / "registry.db")
            try:
                installer = Installer(root, registry, trust)
                assert installer.recover().broken == {}, where
                state = state_of(registry, APP)
                assert state in [before, after, *intermediate], (where, state)
                seen.add(state)
                check_files(root, registry, installer)
                marker = root / "data" / APP / "marker"
                assert marker.is_file() == (state is not None and name != "install"), where
                if name == "update-to-previous" and state == after:
                    code = (installer.package_dir(APP) / "app.py").read_text()
                    assert code == SECOND_BUILD, where
            finally:
                registry.close()
            if status == 0:
                assert state == after, where
                break
        assert before in seen and after in seen, (name, seen)
