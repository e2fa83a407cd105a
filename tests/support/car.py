"""Start the real ``carmesh`` command for end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CARMESH = str(Path(sys.executable).parent / "carmesh")
_GRPC = re.compile(r"^\s*grpc\s+(\S+)\s")
_HTTP = re.compile(r"^\s*http\s+(http://\S+)")


@dataclass
class RunningCar:
    process: subprocess.Popen[str]
    data_dir: Path
    grpc_address: str = ""
    #: The HMI's base URL, ``http://127.0.0.1:PORT`` ("" with ``--http off``).
    http_url: str = ""
    output: list[str] = field(default_factory=list)

    @property
    def grpc_port(self) -> int:
        return int(self.grpc_address.rpartition(":")[2])

    def stop(self, timeout: float = 5.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextmanager
def running_car(data_dir: Path, *args: str, timeout: float = 20.0) -> Iterator[RunningCar]:
    """Run ``carmesh run --data-dir DATA --grpc 127.0.0.1:0 --http 127.0.0.1:0 ARGS`` until
    the block ends.

    Without ``--vehicle`` in *args* the car runs with ``--vehicle none``: tests of the APIs
    bring their own providers, which must be free to claim any signal. Likewise it runs
    ``--no-media`` unless *args* mention ``--media`` or ``--audio-out`` (tests publish the
    ``Media.*`` signals themselves), and ``--media`` without ``--audio-out`` plays to
    ``null``.
    """
    cmd = [CARMESH, "run", "--data-dir", str(data_dir)]
    if not any(a == "--grpc" for a in args):
        cmd += ["--grpc", "127.0.0.1:0"]
    if not any(a == "--http" or a.startswith("--http=") for a in args):
        cmd += ["--http", "127.0.0.1:0"]
    if not any(a == "--vehicle" or a.startswith("--vehicle=") for a in args):
        cmd += ["--vehicle", "none"]
    media = any(a in ("--media", "--no-media") for a in args)
    audio_out = any(a == "--audio-out" or a.startswith("--audio-out=") for a in args)
    if not media and not audio_out:
        cmd += ["--no-media"]
    elif "--media" in args and not audio_out:
        cmd += ["--audio-out", "null"]
    cmd += list(args)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    car = RunningCar(process, data_dir)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            car.output.append(line.rstrip("\n"))
            match = _GRPC.match(line)
            if match:
                car.grpc_address = match.group(1)
            match = _HTTP.match(line)
            if match:
                car.http_url = match.group(1)
            if "Press Ctrl-C to stop." in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError("carmesh did not become ready:\n" + "\n".join(car.output))
    if process.poll() is not None:
        raise RuntimeError("carmesh exited at start:\n" + "\n".join(car.output))
    try:
        yield car
    finally:
        car.stop()
