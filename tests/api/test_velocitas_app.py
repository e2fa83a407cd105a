"""An unmodified Velocitas vehicle app reads and actuates through carmesh.

The app below is written as Velocitas apps are: a ``VehicleApp`` subclass with a vehicle model
(hand-written here for the few signals it uses, instead of one generated from VSS) whose
``DataPoint`` objects it reads (``get``), subscribes with a condition (``where(...).subscribe``)
and sets (``set``, which requests an actuator target). It runs on the real velocitas-sdk with its
own pinned grpcio/protobuf, from the separate virtualenv ``make`` builds in ``.venv-velocitas``,
against the real ``carmesh run``.

``VehicleApp.run()`` starts by connecting the native middleware's MQTT client to an MQTT broker
before it does anything else, even for apps that use no MQTT topic; so the app starts itself
with ``on_start()``, which is where its data-broker work lives.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carmesh.vss import Catalog
from tests.api.sdv_support import ActuationProvider, connect, publish
from tests.support.car import RunningCar, running_car

ROOT = Path(__file__).resolve().parents[2]
VELOCITAS_VENV = ROOT / ".venv-velocitas"
VELOCITAS_PYTHON = VELOCITAS_VENV / "bin" / "python"
POSITION = "Vehicle.Cabin.Seat.Row1.DriverSide.Position"
APP_TIMEOUT = 30.0

APP = '''\
"""Moves the driver's seat once the car drives faster than 50 km/h."""

import asyncio
import json
import sys

from velocitas_sdk.model import DataPointFloat, DataPointUint16, Model
from velocitas_sdk.vdb.reply import DataPointReply
from velocitas_sdk.vehicle_app import VehicleApp


class DriverSide(Model):
    def __init__(self, parent):
        super().__init__(parent)
        self.Position = DataPointUint16("Position", self)


class Row1(Model):
    def __init__(self, parent):
        super().__init__(parent)
        self.DriverSide = DriverSide(self)


class Seat(Model):
    def __init__(self, parent):
        super().__init__(parent)
        self.Row1 = Row1(self)


class Cabin(Model):
    def __init__(self, parent):
        super().__init__(parent)
        self.Seat = Seat(self)


class Vehicle(Model):
    def __init__(self):
        super().__init__()
        self.Speed = DataPointFloat("Speed", self)
        self.Cabin = Cabin(self)


def report(**event):
    print(json.dumps(event), flush=True)


class SeatApp(VehicleApp):
    def __init__(self, vehicle):
        super().__init__()
        self.Vehicle = vehicle
        self.done = asyncio.Event()
        self.failed = False

    async def on_start(self):
        speed = await self.Vehicle.Speed.get()
        report(event="get", speed=speed.value)
        await self.Vehicle.Speed.where("Vehicle.Speed > 50").subscribe(self.on_fast)
        report(event="subscribed")

    async def on_fast(self, reply: DataPointReply):
        try:
            speed = reply.get(self.Vehicle.Speed).value
            report(event="fast", speed=speed)
            await self.Vehicle.Cabin.Seat.Row1.DriverSide.Position.set(300)
            report(event="set", position=300)
        except Exception as exc:
            report(event="error", error=repr(exc))
            self.failed = True
        self.done.set()


async def main():
    app = SeatApp(Vehicle())
    await app.on_start()
    await asyncio.wait_for(app.done.wait(), 20)
    await app.stop()
    return 1 if app.failed else 0


sys.exit(asyncio.run(main()))
'''


def velocitas_python() -> Path:
    """The separate virtualenv's python; the test fails (never skips) when it is missing."""
    if not VELOCITAS_PYTHON.exists():
        pytest.fail(
            f"{VELOCITAS_VENV} is missing: run `make test` (or `make unit`), which creates it "
            "and installs velocitas-sdk with its own pinned dependencies there"
        )
    check = subprocess.run(
        [str(VELOCITAS_PYTHON), "-c", "import velocitas_sdk.vehicle_app"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check.returncode != 0:
        pytest.fail(
            f"velocitas-sdk does not import in {VELOCITAS_VENV}; delete it and run `make test` "
            f"to rebuild it:\n{check.stderr}"
        )
    return VELOCITAS_PYTHON


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    with running_car(tmp_path_factory.mktemp("velocitas") / "car") as running:
        yield running


async def test_a_velocitas_app_reads_and_sets_signals(
    car: RunningCar, tmp_path: Path, catalog: Catalog
) -> None:
    python = velocitas_python()
    app_file = tmp_path / "seat_app.py"
    app_file.write_text(APP)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("SDV_")
    }
    env["SDV_MIDDLEWARE_TYPE"] = "native"
    env["SDV_VEHICLEDATABROKER_ADDRESS"] = f"grpc://{car.grpc_address}"

    async with connect(car.grpc_address) as sdv:
        seat = ActuationProvider(sdv.channel)  # the seat's provider, on kuksa.val.v2
        await seat.claim(POSITION)
        await publish(sdv, "Vehicle.Speed", "FLOAT", float_value=42.5)
        app = await asyncio.create_subprocess_exec(
            str(python),
            str(app_file),
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert app.stdout is not None and app.stderr is not None
        stderr = asyncio.create_task(app.stderr.read())

        async def event() -> dict[str, Any]:
            line = await asyncio.wait_for(app.stdout.readline(), APP_TIMEOUT)
            if not line:
                await app.wait()
                pytest.fail(f"the app ended early:\n{(await stderr).decode()}")
            parsed: dict[str, Any] = json.loads(line)
            return parsed

        try:
            assert await event() == {"event": "get", "speed": 42.5}
            assert await event() == {"event": "subscribed"}
            await publish(sdv, "Vehicle.Speed", "FLOAT", float_value=30.0)  # not > 50
            await publish(sdv, "Vehicle.Speed", "FLOAT", float_value=80.0)
            assert await event() == {"event": "fast", "speed": 80.0}
            signal, target = await seat.actuation()
            assert signal in (POSITION, catalog[POSITION].id)
            assert target == 300
            assert await event() == {"event": "set", "position": 300}
            code = await asyncio.wait_for(app.wait(), APP_TIMEOUT)
            assert code == 0, (await stderr).decode()
        finally:
            if app.returncode is None:
                app.kill()
                await app.wait()
            await seat.close()
