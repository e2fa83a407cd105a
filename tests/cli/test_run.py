"""End-to-end tests of ``carmesh run``, ``--version`` and ``--help``: the real console script
in a subprocess, its data directory in ``tmp_path``."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from carmesh import __version__

CARMESH = Path(sys.executable).parent / "carmesh"
STARTUP_TIMEOUT = 15.0

OVERLAY = """\
Vehicle.Carmesh:
  type: branch
  description: Brand-specific signals.
Vehicle.Carmesh.AmbientLight:
  type: branch
  description: Ambient light.
Vehicle.Carmesh.AmbientLight.Hue:
  type: actuator
  datatype: uint16
  min: 0
  max: 359
  unit: degrees
  description: Ambient light hue.
"""


def environment(columns: int | None = 500) -> dict[str, str]:
    """The test's environment without carmesh settings, with a fixed terminal width, the
    gRPC API and the HMI on ports of the system's choosing (tests run side by side), and
    the media service's audio going nowhere (tests never play on the machine's speakers)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CARMESH_") and k not in ("COLUMNS", "LINES")
    }
    env["CARMESH_GRPC"] = "127.0.0.1:0"
    env["CARMESH_HTTP"] = "127.0.0.1:0"
    env["CARMESH_AUDIO_OUT"] = "null"
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return env


def run_carmesh(
    *args: str | Path, cwd: Path, columns: int | None = 500
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CARMESH), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=environment(columns),
        cwd=cwd,
        timeout=30,
    )


class Car:
    """A running ``carmesh run`` whose stdout is read line by line in the background."""

    def __init__(self, *args: str | Path, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [str(CARMESH), "run", *map(str, args)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
            cwd=cwd,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self._eof = False
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, text: str, timeout: float = STARTUP_TIMEOUT) -> None:
        """Collect stdout until a line containing *text*; fail on exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {text!r} within {timeout} s; stdout so far: {self.stdout}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self._eof = True
                pytest.fail(f"carmesh exited before printing {text!r}: {self.finish()}")
            self.stdout.append(line)
            if text in line:
                return

    def finish(self, timeout: float = 10.0) -> str:
        """Wait for exit, collect the rest of stdout and return stderr."""
        self.proc.wait(timeout=timeout)
        while not self._eof:
            line = self._lines.get(timeout=timeout)
            if line is None:
                self._eof = True
            else:
                self.stdout.append(line)
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def start(tmp_path: Path):
    cars: list[Car] = []

    def _start(*args: str | Path) -> Car:
        car = Car(*args, cwd=tmp_path)
        cars.append(car)
        return car

    yield _start
    for car in cars:
        car.kill()


def banner_line(car: Car, prefix: str) -> str:
    found = [line.strip() for line in car.stdout if line.strip().startswith(prefix)]
    assert len(found) == 1, car.stdout
    return found[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_prints_a_banner_and_stops_cleanly_on_a_signal(
    start, tmp_path: Path, sig: signal.Signals
) -> None:
    data = tmp_path / "car"
    car = start("--data-dir", data)
    car.wait_for("Press Ctrl-C to stop.")

    assert f"carmesh {__version__} — the car is running" in car.stdout[0]
    assert banner_line(car, "catalog") == (
        "catalog   VSS 6.0 + carmesh signals: 1301 signals "
        "(515 sensors, 656 actuators, 130 attributes)"
    )
    assert banner_line(car, "data") == f"data      {data}"
    assert banner_line(car, "vehicle").startswith(
        "vehicle   sim: Polestar 2 Long Range Dual Motor (2021), WLTC loop around Gothenburg, "
        "real time, seed "
    )
    assert (data / "signals.db").is_file(), "the broker opens its store before it is ready"

    started = time.monotonic()
    car.proc.send_signal(sig)
    stderr = car.finish()
    stopped_after = time.monotonic() - started

    assert car.proc.returncode == 0, stderr
    assert stopped_after < 1.0
    assert car.stdout[-1] == "carmesh stopped."
    assert "Traceback" not in stderr
    assert "Traceback" not in "\n".join(car.stdout)


def test_run_with_vss_4_loads_910_signals(start, tmp_path: Path) -> None:
    car = start("--data-dir", tmp_path / "car", "--vss", "4.0", "--vehicle", "none", "--no-media")
    car.wait_for("Press Ctrl-C to stop.")
    assert banner_line(car, "catalog").startswith("catalog   VSS 4.0: 910 signals (")
    assert banner_line(car, "vehicle") == "vehicle   none"

    car.proc.send_signal(signal.SIGTERM)
    stderr = car.finish()
    assert car.proc.returncode == 0, stderr
    assert car.stdout[-1] == "carmesh stopped."


def test_run_applies_an_overlay(start, tmp_path: Path) -> None:
    overlay = tmp_path / "brand.yaml"
    overlay.write_text(OVERLAY, encoding="utf-8")
    car = start("--data-dir", tmp_path / "car", "--overlay", overlay)
    car.wait_for("Press Ctrl-C to stop.")
    assert banner_line(car, "catalog") == (
        "catalog   VSS 6.0 + carmesh signals + 1 overlay: 1302 signals "
        "(515 sensors, 657 actuators, 130 attributes)"
    )
    car.proc.send_signal(signal.SIGTERM)
    assert car.finish() == ""
    assert car.proc.returncode == 0


def test_run_takes_the_data_dir_from_a_config_file(start, tmp_path: Path) -> None:
    data = tmp_path / "from-config"
    config = tmp_path / "carmesh.toml"
    config.write_text(f'data_dir = "{data}"\nvss = "4.0"\n', encoding="utf-8")
    car = start("--config", config)
    car.wait_for("Press Ctrl-C to stop.")
    assert banner_line(car, "data") == f"data      {data}"
    assert "VSS 4.0" in banner_line(car, "catalog")
    car.proc.send_signal(signal.SIGINT)
    car.finish()
    assert car.proc.returncode == 0
    assert (data / "signals.db").is_file()


def assert_one_clear_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit status 1, nothing but one ``error:`` line on stderr, no traceback anywhere."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("text", "node", "why"),
    [
        (
            "Vehicle.NoSuchBranch.Thing:\n  type: sensor\n  datatype: float\n",
            "Vehicle.NoSuchBranch.Thing",
            "parent branch Vehicle.NoSuchBranch does not exist",
        ),
        (
            "Vehicle.Speed.Digits:\n  type: sensor\n  datatype: uint8\n",
            "Vehicle.Speed.Digits",
            "parent Vehicle.Speed is a sensor, not a branch",
        ),
        (
            "Vehicle.Carmesh:\n  type: branch\n  description: x\n"
            "Vehicle.Carmesh.Hue:\n  type: actuator\n  datatype: colour\n",
            "Vehicle.Carmesh.Hue",
            "unknown datatype 'colour'",
        ),
        (
            "Vehicle.Acme:\n  description: no type\n",
            "Vehicle.Acme",
            "a new node needs a 'type'",
        ),
    ],
    ids=["missing-parent", "parent-not-branch", "bad-datatype", "no-type"],
)
def test_run_refuses_a_bad_overlay_naming_file_and_node(
    tmp_path: Path, text: str, node: str, why: str
) -> None:
    overlay = tmp_path / "bad-overlay.yaml"
    overlay.write_text(text, encoding="utf-8")
    result = run_carmesh("run", "--data-dir", tmp_path / "car", "--overlay", overlay, cwd=tmp_path)
    assert_one_clear_error(result, str(overlay), f"node {node}", why)
    assert result.stdout == ""
    assert not (tmp_path / "car").exists(), "nothing is started for a refused catalog"


@pytest.mark.parametrize(
    ("toml", "fragments"),
    [
        ("bogus = 1\n", ["unknown setting 'bogus'", "data_dir"]),
        ("vss = \n", ["is not valid TOML", "carmesh.toml"]),
        ("actuation_timeout = -1\n", ["actuation_timeout must be a positive number"]),
        ('actuation_timeout = "soon"\n', ["invalid setting"]),
    ],
    ids=["unknown-key", "not-toml", "negative-timeout", "timeout-not-a-number"],
)
def test_run_refuses_a_bad_config_file(tmp_path: Path, toml: str, fragments: list[str]) -> None:
    config = tmp_path / "carmesh.toml"
    config.write_text(toml, encoding="utf-8")
    result = run_carmesh("run", "--data-dir", tmp_path / "car", "--config", config, cwd=tmp_path)
    assert_one_clear_error(result, *fragments)
    assert result.stdout == ""


def test_run_refuses_a_missing_config_file(tmp_path: Path) -> None:
    result = run_carmesh("run", "--config", tmp_path / "nowhere.toml", cwd=tmp_path)
    assert_one_clear_error(result, "cannot read the config file", "nowhere.toml")


def test_run_refuses_an_unknown_vss_release(tmp_path: Path) -> None:
    result = run_carmesh("run", "--data-dir", tmp_path / "car", "--vss", "9.9", cwd=tmp_path)
    assert_one_clear_error(result, "'9.9'", "4.0, 6.0")


def test_run_refuses_a_corrupt_database_and_keeps_it(tmp_path: Path) -> None:
    data = tmp_path / "car"
    data.mkdir()
    garbage = b"definitely not sqlite " * 200
    (data / "signals.db").write_bytes(garbage)
    result = run_carmesh("run", "--data-dir", data, cwd=tmp_path)
    assert_one_clear_error(result, str(data / "signals.db"), "--data-dir")
    assert "carmesh stopped." not in result.stdout
    assert (data / "signals.db").read_bytes() == garbage


def test_error_stays_one_line_when_stderr_is_a_pipe(tmp_path: Path) -> None:
    overlay = tmp_path / "a-rather-long-overlay-file-name-for-the-brand-signals.yaml"
    overlay.write_text("Vehicle.NoSuchBranch.Thing:\n  type: sensor\n  datatype: float\n")
    result = run_carmesh(
        "run", "--data-dir", tmp_path, "--overlay", overlay, cwd=tmp_path, columns=None
    )
    assert_one_clear_error(result, str(overlay), "Vehicle.NoSuchBranch.Thing")


def test_run_with_brackets_in_the_data_dir(start, tmp_path: Path) -> None:
    data = tmp_path / "car[" / "b]"
    car = start("--data-dir", data)
    car.wait_for("Press Ctrl-C to stop.", timeout=5)
    assert banner_line(car, "data") == f"data      {data}"
    car.proc.send_signal(signal.SIGTERM)
    assert "Traceback" not in car.finish()
    assert car.proc.returncode == 0


def test_version(tmp_path: Path) -> None:
    result = run_carmesh("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"carmesh {__version__}\n"
    assert __version__ == "0.1.0"


@pytest.mark.parametrize("args", [["--help"], []], ids=["--help", "no-arguments"])
def test_help_lists_every_command(tmp_path: Path, args: list[str]) -> None:
    result = run_carmesh(*args, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.returncode in ((0,) if args else (0, 2))
    commands = {
        line.strip(" │").split()[0]
        for line in output.splitlines()
        if line.strip(" │").startswith(("run ", "signals "))
    }
    assert commands == {"run", "signals"}
    assert "Start the car" in output
    assert "Browse the signal catalog" in output


@pytest.mark.parametrize("command", ["run", "signals"])
def test_command_help(tmp_path: Path, command: str) -> None:
    result = run_carmesh(command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for option in ("--vss", "--overlay", "--config"):
        assert option in result.stdout
