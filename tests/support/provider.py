"""Start the real ``carmesh provider`` command for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.car import CARMESH

READY = "Press Ctrl-C to stop."


@dataclass
class RunningProvider:
    process: subprocess.Popen[str]
    #: stdout and stderr, line by line, as they came.
    output: list[str] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.finished.wait(timeout)
        return self.process.returncode


@contextmanager
def running_provider(
    kind: str, broker: str, *args: str, timeout: float = 20.0
) -> Iterator[RunningProvider]:
    """Run ``carmesh provider KIND --broker BROKER ARGS`` until the block ends (SIGTERM)."""
    cmd = [CARMESH, "provider", kind, "--broker", broker, *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    provider = RunningProvider(process)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            provider.output.append(line.rstrip("\n"))
            if READY in line:
                ready.set()
        ready.set()
        provider.finished.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError("the provider did not become ready:\n" + "\n".join(provider.output))
    if not any(READY in line for line in provider.output):
        process.wait(timeout)
        raise RuntimeError("the provider exited at start:\n" + "\n".join(provider.output))
    try:
        yield provider
    finally:
        provider.stop()
