"""The apps platform end to end: real ``carmesh run``, real packages over the HTTP API, real
app processes using the SDK over the apps socket.

Apps here are small modules whose ``main(car)`` reports what happened in a pane template, so
the test reads the app's own view of the car through the HMI API, as a user would.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

from carmesh.apps.signing import PublisherKey
from tests.apps.platform_support import FAST_SUPERVISION, AppCar, app_car, rows
from tests.support.car import CARMESH

SPEED = "Vehicle.Speed"
HVAC = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"

#: Reads what it was granted, tries what it was not, and reports each outcome in its pane.
PROBE = """
import asyncio
import socket

from carmesh.errors import CarmeshError
from carmesh.sdk import PaneTemplate, Row

GRPC_PORT = {grpc_port}


async def attempt(coroutine):
    try:
        await coroutine
        return "ok"
    except CarmeshError as exc:
        return f"{{exc.code}}: {{exc}}"


def tcp():
    try:
        with socket.create_connection(("127.0.0.1", GRPC_PORT), timeout=1):
            return "connected"
    except OSError as exc:
        return f"refused: {{exc.__class__.__name__}}"


async def main(car):
    results = [
        Row(label="read granted", value=await attempt(car.get("{speed}"))),
        Row(label="read other", value=await attempt(car.get("{hvac}"))),
        Row(label="actuate", value=await attempt(car.actuate({{"{hvac}": 21.5}}))),
        Row(label="notify", value=await attempt(car.notify("hello", "from the probe"))),
        Row(label="tcp", value=tcp()),
    ]
    await car.show(PaneTemplate(title="probe", rows=results))
    await asyncio.Event().wait()
"""


def probe_code(car: AppCar) -> str:
    return PROBE.format(grpc_port=car.car.grpc_port, speed=SPEED, hvac=HVAC)


def test_permissions_are_enforced_by_the_broker_from_inside_the_app(tmp_path: Path) -> None:
    with app_car(tmp_path) as car:
        package = car.build("org.example.probe", probe_code(car), permissions={"read": [SPEED]})
        app = car.install(package, grant="ask")
        assert [p["granted"] for p in app["permissions"]] == [None]
        # Undecided permissions: the app may not start yet.
        refused = car.http.post("/api/apps/org.example.probe/start")
        assert refused.status_code == 409
        assert "decided" in refused.json()["error"]["message"]
        granted = car.http.put(
            "/api/apps/org.example.probe/grants", json={"grants": {f"read:{SPEED}": True}}
        )
        assert granted.status_code == 200
        app = car.start("org.example.probe")
        assert app["state"] == "running" and app["pid"]

        shown = car.wait_template("org.example.probe", lambda t: t["type"] == "pane")
        result = rows(shown["template"])
        assert result["read granted"] == "ok"
        assert result["read other"].startswith("permission_denied")
        assert HVAC in result["read other"]
        assert result["actuate"].startswith("permission_denied")
        assert result["notify"].startswith("permission_denied")
        # No network permission: its own network namespace, so not even loopback TCP.
        if app["isolation"] == "network":
            assert result["tcp"].startswith("refused")
        assert car.app("org.example.probe")["isolation"] in ("network", "process")


def test_revoking_a_permission_restarts_the_app_without_it(tmp_path: Path) -> None:
    with app_car(tmp_path) as car:
        package = car.build(
            "org.example.probe",
            probe_code(car),
            permissions={"read": [SPEED, HVAC], "notifications": True},
        )
        car.install(package, grant="all")
        first = car.start("org.example.probe")
        shown = car.wait_template("org.example.probe", lambda t: t["type"] == "pane")
        assert rows(shown["template"])["read other"] == "ok"
        assert rows(shown["template"])["notify"] == "ok"

        revoked = car.http.put(
            "/api/apps/org.example.probe/grants", json={"grants": {f"read:{HVAC}": False}}
        )
        assert revoked.status_code == 200
        after = car.wait_template(
            "org.example.probe",
            lambda t: rows(t).get("read other", "").startswith("permission_denied"),
        )
        assert rows(after["template"])["read granted"] == "ok"
        assert car.app("org.example.probe")["pid"] != first["pid"]


CRASHER = """
import asyncio


async def main(car):
    await asyncio.sleep(0.05)
    raise RuntimeError("this app always crashes")
"""


def test_a_crashing_app_is_restarted_then_quarantined(tmp_path: Path) -> None:
    with app_car(tmp_path) as car:
        car.install(car.build("org.example.crasher", CRASHER), grant="all")
        car.start("org.example.crasher")
        app = car.wait_for(
            "quarantine",
            lambda: (a := car.app("org.example.crasher"))["state"] == "quarantined" and a,
            app_id="org.example.crasher",
        )
        assert app["quarantined"] is True
        assert app["restarts"] >= 2
        log = car.logs("org.example.crasher")
        assert "this app always crashes" in log
        assert "quarantined" in log
        # The CLI shows it too.
        listed = subprocess.run(
            [CARMESH, "app", "list", "--car", car.car.http_url],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert listed.returncode == 0, listed.stderr
        assert "quarantined" in listed.stdout
        # Starting it again lifts the quarantine.
        restarted = car.start("org.example.crasher")
        assert restarted["quarantined"] is False


VERSIONED = """
import asyncio

from carmesh.sdk import PaneTemplate, Row

VERSION = "{version}"


async def main(car):
    notes = car.data_dir / "notes.txt"
    before = notes.read_text() if notes.exists() else ""
    notes.write_text(before + VERSION + "\\n")
    seen = before.strip().replace("\\n", ",") or "-"
    await car.show(PaneTemplate(title="v" + VERSION, rows=[Row(label="seen", value=seen)]))
    await asyncio.Event().wait()
"""


def versioned(version: str) -> str:
    return VERSIONED.format(version=version)


def test_update_keeps_data_rollback_returns_and_remove_deletes_it(tmp_path: Path) -> None:
    app_id = "org.example.notes"
    with app_car(tmp_path) as car:
        car.install(car.build(app_id, versioned("1.0.0")), grant="all")
        car.start(app_id)
        car.wait_template(app_id, lambda t: t["title"] == "v1.0.0")

        v2 = car.build(app_id, versioned("2.0.0"), version="2.0.0")
        updated = car.http.post(f"/api/apps/{app_id}/update", content=v2)
        assert updated.status_code == 200, updated.text
        assert updated.json()["version"] == "2.0.0"
        assert updated.json()["previous_version"] == "1.0.0"
        shown = car.wait_template(app_id, lambda t: t["title"] == "v2.0.0")
        assert rows(shown["template"])["seen"] == "1.0.0"

        # A downgrade is refused; the app keeps running its version.
        downgrade = car.http.post(
            f"/api/apps/{app_id}/update",
            content=car.build(app_id, versioned("1.5.0"), version="1.5.0"),
        )
        assert downgrade.status_code == 400
        assert downgrade.json()["error"]["code"] == "package_rejected"
        assert car.app(app_id)["version"] == "2.0.0"

        rolled = car.http.post(f"/api/apps/{app_id}/rollback")
        assert rolled.status_code == 200, rolled.text
        assert rolled.json()["version"] == "1.0.0"
        shown = car.wait_template(app_id, lambda t: t["title"] == "v1.0.0")
        assert rows(shown["template"])["seen"] == "1.0.0,2.0.0"

        data_dir = car.car.data_dir / "apps" / "data" / app_id
        assert (data_dir / "notes.txt").exists()
        removed = car.http.delete(f"/api/apps/{app_id}")
        assert removed.status_code == 200
        assert not data_dir.exists()
        assert car.http.get(f"/api/apps/{app_id}").status_code == 404
        assert car.http.get("/api/apps").json()["apps"] == []


def test_bad_packages_are_refused_and_the_car_keeps_serving(tmp_path: Path) -> None:
    with app_car(tmp_path) as car:
        good = car.build("org.example.notes", versioned("1.0.0"))
        tampered = bytearray(good)
        tampered[len(tampered) // 3] ^= 0x01
        stranger = PublisherKey.generate("org.example")  # right name, untrusted key
        forged = car.build("org.example.forged", versioned("1.0.0"), key=stranger)
        other = PublisherKey.generate("com.other")
        untrusted = car.build("com.other.app", versioned("1.0.0"), key=other)
        unsigned = io.BytesIO()
        with (
            zipfile.ZipFile(io.BytesIO(good)) as source,
            zipfile.ZipFile(unsigned, "w") as stripped,
        ):
            for info in source.infolist():
                if info.filename != "carmesh-app.sig":
                    stripped.writestr(info, source.read(info))
        cases = {
            "unsigned": unsigned.getvalue(),
            "tampered": bytes(tampered),
            "garbage": b"not a zip at all",
            "forged": forged,
            "untrusted": untrusted,
        }
        for name, package in cases.items():
            response = car.http.post("/api/apps", params={"grant": "all"}, content=package)
            assert response.status_code == 400, (name, response.text)
            error = response.json()["error"]
            assert error["code"] == "package_rejected", (name, error)
            assert error["message"], name
        assert car.http.get("/api/apps").json()["apps"] == []
        assert car.install(good)["id"] == "org.example.notes"
        # The same package again is not a second install.
        again = car.http.post("/api/apps", params={"grant": "all"}, content=good)
        assert again.status_code == 409


def test_apps_survive_a_restart_and_a_killed_car(tmp_path: Path) -> None:
    app_id = "org.example.notes"
    data = tmp_path / "data"
    with app_car(tmp_path, data=data) as car:
        car.install(car.build(app_id, versioned("1.0.0")), grant="all")
        pid = car.start(app_id)["pid"]
        car.wait_template(app_id, lambda t: t["title"] == "v1.0.0")
        car.car.process.send_signal(signal.SIGKILL)
        car.car.process.wait(5)
        # The app process does not outlive the car.
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)
    with app_car(tmp_path / "again", data=data) as car:
        # Trust and registry are in the data directory: the app starts with the car.
        shown = car.wait_template(app_id, lambda t: t["title"] == "v1.0.0")
        assert rows(shown["template"])["seen"] == "1.0.0"
        assert car.app(app_id)["state"] == "running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_cli_installs_lists_and_stops_apps(tmp_path: Path) -> None:
    with app_car(tmp_path) as car:
        package = tmp_path / "notes.cmapp"
        package.write_bytes(car.build("org.example.notes", versioned("1.0.0")))

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [CARMESH, "app", *args, "--car", car.car.http_url],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "COLUMNS": "200"},
            )

        installed = cli("install", str(package), "--grant", "all")
        assert installed.returncode == 0, installed.stderr
        assert "running" in installed.stdout
        car.wait_template("org.example.notes", lambda t: t["title"] == "v1.0.0")
        listed = cli("list")
        assert "org.example.notes" in listed.stdout and "running" in listed.stdout
        logs = cli("logs", "org.example.notes")
        assert logs.returncode == 0 and "started" in logs.stdout
        stopped = cli("stop", "org.example.notes")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        missing = cli("start", "org.example.nothing")
        assert missing.returncode == 1
        assert "org.example.nothing" in missing.stderr
        assert "Traceback" not in missing.stderr


def test_an_app_denied_everything_still_runs(tmp_path: Path) -> None:
    with app_car(tmp_path) as car:
        package = car.build("org.example.probe", probe_code(car), permissions={"read": [SPEED]})
        app = car.install(package, grant="none")
        assert [p["granted"] for p in app["permissions"]] == [False]
        car.start("org.example.probe")
        shown = car.wait_template("org.example.probe", lambda t: t["type"] == "pane")
        assert rows(shown["template"])["read granted"].startswith("permission_denied")


def test_an_integrators_policy_pre_grants_and_denies(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[publishers."org.example"]\ngrant = ["read:*"]\n'
        '[apps."org.example.probe"]\ndeny = ["notifications"]\n'
    )
    settings = FAST_SUPERVISION + f'app_policy = "{policy}"\n'
    with app_car(tmp_path, settings=settings) as car:
        permissions = {"read": [SPEED], "actuate": [HVAC], "notifications": True}
        package = car.build("org.example.probe", probe_code(car), permissions=permissions)
        app = car.install(package, grant="ask")
        decided = {p["id"]: p["granted"] for p in app["permissions"]}
        assert decided == {f"read:{SPEED}": True, f"actuate:{HVAC}": None, "notifications": False}
