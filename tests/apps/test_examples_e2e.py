"""The sample apps in a simulated car: signed with the development key, installed with the
CLI, run by the supervisor; and the Velocitas example on the unmodified velocitas-sdk with
the car's own Mosquitto."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from carmesh.apps.package import build_package
from carmesh.apps.signing import PublisherKey
from carmesh.mqtt import mosquitto_available
from tests.apps.test_velocitas_runtime import DRIVER
from tests.support.car import CARMESH, RunningCar, running_car

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "apps"
DEV_KEY = EXAMPLES / "dev-publisher.key"
VELOCITAS_VENV = ROOT / ".venv-velocitas"
SEAT = "Vehicle.Cabin.Seat.Row1.DriverSide.Position"
APPS = {
    "trip-computer": "org.carmesh.examples.tripcomputer",
    "charging-assistant": "org.carmesh.examples.charging",
    "seat-memory": "org.carmesh.examples.seatmemory",
}


@contextmanager
def example_car(tmp_path: Path, *args: str) -> Iterator[tuple[RunningCar, httpx.Client]]:
    config = tmp_path / "car.toml"
    config.write_text(f'app_trusted_keys = ["{DEV_KEY}.pub"]\n')
    with (
        running_car(tmp_path / "data", "--vehicle", "sim", "--config", str(config), *args) as car,
        httpx.Client(base_url=car.http_url, timeout=30.0) as http,
    ):
        yield car, http


def build(tmp_path: Path, name: str) -> Path:
    key = PublisherKey.load(DEV_KEY)
    return build_package(EXAMPLES / name, key, tmp_path / f"{name}.cmapp")


def wait_for(what: str, check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def shown(http: httpx.Client, app_id: str) -> dict[str, Any] | None:
    template: dict[str, Any] | None = http.get(f"/api/apps/{app_id}/template").json()["template"]
    return template


def signal(http: httpx.Client, path: str) -> Any:
    return http.get(f"/api/signals/{path}").json()["value"]


def test_the_sample_apps_install_with_the_cli_and_work_in_the_simulated_car(
    tmp_path: Path,
) -> None:
    with example_car(tmp_path) as (car, http):
        packages = [str(build(tmp_path, name)) for name in APPS]
        installed = subprocess.run(
            [CARMESH, "app", "install", "--grant", "all", *packages, "--car", car.http_url],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert installed.returncode == 0, installed.stderr
        for app_id in APPS.values():
            template = wait_for(f"{app_id}'s screen", lambda a=app_id: shown(http, a))
            assert template["type"] in ("pane", "list", "message"), template
        apps = {a["id"]: a for a in http.get("/api/apps").json()["apps"]}
        assert all(apps[a]["state"] == "running" for a in APPS.values())

        trip = wait_for(
            "the trip computer's pane",
            lambda: (t := shown(http, APPS["trip-computer"])) and t["type"] == "pane" and t,
        )
        assert len(trip["rows"]) >= 4

        # Seat memory: save the seat where it is, move it, recall the profile.
        seat_app = APPS["seat-memory"]
        start = wait_for("the seat position", lambda: signal(http, SEAT) is not None or None)
        del start
        saved_at = signal(http, SEAT)
        assert http.post(f"/api/apps/{seat_app}/action", json={"action": "save"}).status_code == 200
        moved = http.post("/api/actuate", json={"targets": {SEAT: saved_at + 60}})
        assert moved.status_code == 200, moved.text
        wait_for("the seat to move away", lambda: abs(signal(http, SEAT) - saved_at) >= 50)
        recall = http.post(
            f"/api/apps/{seat_app}/action", json={"action": "select", "item": "profile-1"}
        )
        assert recall.status_code == 200, recall.text
        wait_for("the seat to come back", lambda: abs(signal(http, SEAT) - saved_at) <= 1)


def _mqtt_address(car: RunningCar) -> tuple[str, int]:
    for line in car.output:
        match = re.match(r"\s*mqtt\s+(\S+):(\d+)", line)
        if match:
            return match.group(1), int(match.group(2))
    raise AssertionError("the banner names no MQTT broker:\n" + "\n".join(car.output))


def test_a_velocitas_app_runs_under_the_supervisor_with_the_cars_mosquitto(
    tmp_path: Path,
) -> None:
    if not mosquitto_available():
        if os.environ.get("CI"):
            pytest.fail("mosquitto is missing: apt-get install mosquitto (make does it as root)")
        pytest.skip("mosquitto is missing: apt-get install mosquitto")
    args = ("--mqtt", "127.0.0.1:0", "--velocitas-venv", str(VELOCITAS_VENV))
    with example_car(tmp_path, *args) as (car, http):
        package = build(tmp_path, "seat-adjuster-velocitas")
        app_id = "org.carmesh.examples.seat-adjuster-velocitas"
        response = http.post("/api/apps", params={"grant": "all"}, content=package.read_bytes())
        assert response.status_code == 201, response.text
        started = http.post(f"/api/apps/{app_id}/start")
        assert started.status_code == 200, started.text
        host, port = _mqtt_address(car)
        driver = subprocess.Popen(
            [str(VELOCITAS_VENV / "bin" / "python"), "-c", DRIVER, host, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        messages: list[dict[str, Any]] = []

        def read() -> None:
            assert driver.stdout is not None
            for line in driver.stdout:
                messages.append(json.loads(line))

        threading.Thread(target=read, daemon=True).start()
        try:
            before = signal(http, SEAT)
            goal = 200 if before != 200 else 150
            answer = None
            for attempt in range(20):  # the app subscribes once its MQTT client is up
                assert driver.stdin is not None
                request = {"position": goal, "requestId": f"r{attempt}"}
                driver.stdin.write(
                    json.dumps(
                        {
                            "topic": "seatadjuster/setPosition/request",
                            "payload": json.dumps(request),
                        }
                    )
                    + "\n"
                )
                driver.stdin.flush()
                time.sleep(1.0)
                answers = [
                    json.loads(m["payload"])
                    for m in list(messages)
                    if m.get("topic", "").endswith("/response")
                ]
                if answers:
                    answer = answers[0]
                    break
            logs = "\n".join(http.get(f"/api/apps/{app_id}/logs").json()["lines"])
            assert answer is not None, f"no answer from the app; its log:\n{logs}"
            assert answer["result"]["status"] == 0, answer
            wait_for("the seat to reach the goal", lambda: signal(http, SEAT) == goal)
            assert http.get(f"/api/apps/{app_id}").json()["state"] == "running"
        finally:
            driver.kill()
            driver.wait()
