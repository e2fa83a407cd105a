"""Resource limits, the parent-death signal and the network namespace, seen from a real child."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from carmesh.apps.isolation import (
    CPU_GRACE_SECONDS,
    ResourceLimits,
    child_setup,
    network_isolation_available,
)

needs_netns = pytest.mark.skipif(
    not network_isolation_available(),
    reason="network_isolation_available() says this kernel/process cannot create "
    "user+network namespaces, so apps run with isolation 'process'",
)


def run_child(
    code: str, limits: ResourceLimits, *, isolate_network: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-c", textwrap.dedent(code)],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=20,
        preexec_fn=child_setup(limits, isolate_network=isolate_network),
    )


def test_probe_agrees_with_util_linux_and_is_cached() -> None:
    first = network_isolation_available()
    assert isinstance(first, bool)
    hits = network_isolation_available.cache_info().hits
    assert network_isolation_available() is first
    assert network_isolation_available.cache_info().hits == hits + 1
    tool = shutil.which("unshare")
    if tool is not None:
        done = subprocess.run([tool, "--user", "--net", "true"], capture_output=True)
        assert first == (done.returncode == 0)


def test_limits_are_set_in_the_child() -> None:
    limits = ResourceLimits(memory_mb=300, cpu_seconds=7, open_files=64)
    done = run_child(
        """
        import json, resource
        print(json.dumps([resource.getrlimit(r) for r in
              (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NOFILE)]))
        """,
        limits,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        [300 * 1024 * 1024] * 2,
        [7, 7 + CPU_GRACE_SECONDS],
        [64, 64],
    ]


def test_none_leaves_a_limit_alone() -> None:
    done = run_child(
        "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])",
        ResourceLimits(memory_mb=None, cpu_seconds=None, open_files=None),
    )
    assert int(done.stdout) == resource.getrlimit(resource.RLIMIT_AS)[0]
    assert ResourceLimits(memory_mb=None, cpu_seconds=None, open_files=None).rlimits() == []


def test_limits_are_clamped_to_our_hard_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda kind: (50, 100))
    pairs = dict(ResourceLimits(memory_mb=1, cpu_seconds=98, open_files=256).rlimits())
    assert pairs[resource.RLIMIT_NOFILE] == (100, 100)
    assert pairs[resource.RLIMIT_CPU] == (98, 100)
    assert pairs[resource.RLIMIT_AS] == (100, 100)
    assert list(pairs)[-1] == resource.RLIMIT_AS  # address space is lowered last


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="open_files"):
        ResourceLimits(open_files=0)


def test_child_gets_sigterm_when_its_parent_dies() -> None:
    done = run_child(
        """
        import ctypes
        value = ctypes.c_int()
        ctypes.CDLL(None).prctl(2, ctypes.byref(value))  # PR_GET_PDEATHSIG
        print(value.value)
        """,
        ResourceLimits(),
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == signal.SIGTERM


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TCP listener on 127.0.0.1 and a Unix socket that greets each client."""
    tcp = socket.create_server(("127.0.0.1", 0))
    unix_path = tmp_path / "apps.sock"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(unix_path))
    os.chmod(unix_path, 0o666)
    unix.listen()
    unix.settimeout(20)

    def greet() -> None:
        try:
            client, _ = unix.accept()
        except OSError:
            return
        with client:
            client.sendall(b"hello from the car")

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    yield tcp.getsockname()[1], unix_path
    tcp.close()
    unix.close()
    thread.join(timeout=5)


PROBE = """
    import json, os, socket, sys
    result = {"uid": os.getuid()}
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
        result["tcp"] = "connected"
    except OSError as exc:
        result["tcp"] = exc.strerror or type(exc).__name__
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sys.argv[2])
    result["unix"] = s.recv(100).decode()
    with open(sys.argv[3], "w") as f:
        f.write("written from inside")
    print(json.dumps(result))
    """


def run_probe(port: int, unix_path: Path, out: Path, *, isolate: bool) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-I", "-c", textwrap.dedent(PROBE), str(port), str(unix_path), str(out)],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=20,
        preexec_fn=child_setup(ResourceLimits(), isolate_network=isolate),
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@needs_netns
def test_isolated_process_cannot_reach_tcp_on_loopback(
    servers: tuple[int, Path], tmp_path: Path
) -> None:
    port, unix_path = servers
    result = run_probe(port, unix_path, tmp_path / "out.txt", isolate=True)
    assert result["tcp"] != "connected"
    # Writes from inside the user namespace still belong to us.
    assert (tmp_path / "out.txt").stat().st_uid == os.getuid()


@needs_netns
def test_isolated_process_reaches_a_unix_socket(servers: tuple[int, Path], tmp_path: Path) -> None:
    port, unix_path = servers
    result = run_probe(port, unix_path, tmp_path / "out.txt", isolate=True)
    assert result["unix"] == "hello from the car"


def test_without_isolation_tcp_on_loopback_works(servers: tuple[int, Path], tmp_path: Path) -> None:
    port, unix_path = servers
    result = run_probe(port, unix_path, tmp_path / "out.txt", isolate=False)
    assert result == {"uid": os.getuid(), "tcp": "connected", "unix": "hello from the car"}
