"""``python -I -m carmesh.apps.launch``: entry points, exit statuses and SIGTERM, as real processes.

The connected-car path (``async def main(car)``) is exercised in-process with a fake connect,
because the SDK is not needed to check what launch does around it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from carmesh.apps import launch


def write_app(root: Path, name: str, source: str) -> None:
    path = root / (name.replace(".", "/") + ".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


def env_for(entry: str | None) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    if entry is not None:
        env["CARMESH_APP_ENTRY"] = entry
    return env


def launch_app(
    root: Path, entry: str | None, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-m", "carmesh.apps.launch"],
        cwd=root,
        env=env_for(entry),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_app(root: Path, entry: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-I", "-m", "carmesh.apps.launch"],
        cwd=root,
        env=env_for(entry),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sync_entry_runs_from_the_package_root(tmp_path: Path) -> None:
    write_app(
        tmp_path,
        "hello.app",
        """
        import sys
        def main():
            print("sync ran", sys.path[0])
        """,
    )
    (tmp_path / "hello" / "__init__.py").write_text("")
    done = launch_app(tmp_path, "hello.app:main")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"sync ran {tmp_path}\n"
    assert done.stderr == ""


def test_async_entry_defaults_to_main(tmp_path: Path) -> None:
    write_app(
        tmp_path,
        "tick",
        """
        import asyncio
        async def main():
            await asyncio.sleep(0.01)
            print("async ran")
        """,
    )
    done = launch_app(tmp_path, "tick")
    assert (done.returncode, done.stdout, done.stderr) == (0, "async ran\n", "")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (None, "CARMESH_APP_ENTRY is not set"),
        ("nothere:main", "the entry module 'nothere' was not found in"),
        ("present:absent", "the entry module 'present' has no 'absent'"),
        ("present:VALUE", "present:VALUE is not a function"),
        ("present:takes_car", "takes the car, so it must be an 'async def' function"),
        ("bad name:main", "does not name a module"),
        ("present:not-ok", "does not name a function"),
    ],
)
def test_bad_entry_is_one_clear_sentence(tmp_path: Path, entry: str | None, message: str) -> None:
    write_app(
        tmp_path,
        "present",
        """
        VALUE = 3
        def main():
            pass
        def takes_car(car):
            pass
        """,
    )
    done = launch_app(tmp_path, entry)
    assert done.returncode == 1
    assert done.stderr.startswith("carmesh.apps.launch: cannot start the app: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


def test_exception_gives_traceback_and_status_1(tmp_path: Path) -> None:
    write_app(
        tmp_path,
        "broken",
        """
        async def main():
            raise RuntimeError("the app broke")
        """,
    )
    done = launch_app(tmp_path, "broken")
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "RuntimeError: the app broke" in done.stderr


def test_missing_dependency_of_the_app_is_a_traceback(tmp_path: Path) -> None:
    write_app(tmp_path, "needy", "import not_installed_anywhere\ndef main(): pass\n")
    done = launch_app(tmp_path, "needy")
    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'not_installed_anywhere'" in done.stderr


def test_sys_exit_status_is_kept(tmp_path: Path) -> None:
    write_app(tmp_path, "quits", "import sys\ndef main():\n    sys.exit(3)\n")
    assert launch_app(tmp_path, "quits").returncode == 3


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_sigterm_ends_the_app_cleanly(tmp_path: Path, kind: str) -> None:
    source = {
        "async": """
            import asyncio
            async def main():
                try:
                    print("ready")
                    await asyncio.sleep(60)
                finally:
                    print("cleaned up")
            """,
        "sync": """
            import time
            def main():
                try:
                    print("ready")
                    while True:
                        try:
                            time.sleep(60)
                        except Exception:
                            print("an app's except Exception must not swallow SIGTERM")
                finally:
                    print("cleaned up")
            """,
    }[kind]
    write_app(tmp_path, "waits", source)
    process = start_app(tmp_path, "waits")
    try:
        assert process.stdout is not None
        # stdout is a pipe, yet "ready" arrives at once: launch makes it line-buffered.
        assert process.stdout.readline() == "ready\n"
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
        assert time.monotonic() - began < 2
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, err
    assert out == "cleaned up\n"
    assert err == ""


class FakeCar:
    def __init__(self) -> None:
        self.closed = False


def test_async_main_with_a_parameter_gets_a_connected_car(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_app(
        tmp_path,
        "carapp_in_process",
        """
        seen = []
        async def main(car):
            seen.append(car)
        """,
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "carapp_in_process", raising=False)
    car = FakeCar()
    calls: list[str] = []

    async def connect() -> Any:
        calls.append("connect")

        async def close() -> None:
            car.closed = True

        car.close = close  # type: ignore[attr-defined]
        return car

    assert launch.run("carapp_in_process", connect=connect) == 0
    module = sys.modules["carapp_in_process"]
    assert module.seen == [car]
    assert calls == ["connect"] and car.closed
    assert sys.path[0] == str(tmp_path)


def test_no_parameter_means_no_car(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_app(tmp_path, "nocar_in_process", "async def main():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "nocar_in_process", raising=False)

    async def connect() -> Any:
        raise AssertionError("must not connect")

    assert launch.run("nocar_in_process", connect=connect) == 0


def test_car_is_closed_when_main_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_app(tmp_path, "raises_in_process", "async def main(car):\n    raise ValueError('x')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "raises_in_process", raising=False)
    car = FakeCar()

    async def connect() -> Any:
        async def close() -> None:
            car.closed = True

        car.close = close  # type: ignore[attr-defined]
        return car

    assert launch.run("raises_in_process", connect=connect) == 1
    assert car.closed


def test_parse_entry() -> None:
    assert launch.parse_entry("hello.app:start") == ("hello.app", "start")
    assert launch.parse_entry("hello.app") == ("hello.app", "main")
    with pytest.raises(launch.EntryError):
        launch.parse_entry(":main")
