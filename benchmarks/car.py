"""A real ``carmesh run`` in a subprocess for the benchmarks that measure a whole car."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CARMESH = str(Path(sys.executable).parent / "carmesh")


@dataclass
class Car:
    process: subprocess.Popen[str]
    http_url: str
    grpc_address: str


@contextmanager
def running_car(data_dir: Path, *args: str) -> Iterator[Car]:
    """``carmesh run --vehicle none --no-media`` on free loopback ports (plus *args) until the
    block ends: the broker, the HMI and the apps platform, nothing producing signals or sound."""
    cmd = [CARMESH, "run", "--data-dir", str(data_dir), "--vehicle", "none", "--no-media"]
    cmd += ["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if "Press Ctrl-C to stop." in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not ready.wait(30) or process.poll() is not None:
            raise SystemExit("carmesh did not start:\n" + "\n".join(lines))
        http = next(m.group(1) for ln in lines if (m := re.match(r"\s*http\s+(\S+)", ln)))
        grpc_address = next(m.group(1) for ln in lines if (m := re.match(r"\s*grpc\s+(\S+)", ln)))
        yield Car(process, http, grpc_address)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
