"""The provider on a Linux SocketCAN interface (a vcan device made for the test)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator

import can
import pytest

from carmesh.broker import Broker
from carmesh.vehicle.can import BusSource, CanMapping, CanVehicle
from carmesh.vss import Catalog
from tests.vehicle.can.conftest import Frames
from tests.vehicle.can.support import READER, running, until


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)


@pytest.fixture
def vcan() -> Iterator[str]:
    """A fresh vcan interface, or a skip saying why this machine cannot have one."""
    if not hasattr(socket, "AF_CAN"):
        pytest.skip("this Python has no SocketCAN support (socket.AF_CAN)")
    if shutil.which("ip") is None:
        pytest.skip("vcan needs the 'ip' command (iproute2), which is not installed")
    name = f"cmvcan{os.getpid() % 100000}"
    made = _ip("link", "add", "dev", name, "type", "vcan")
    if made.returncode != 0:
        reason = made.stderr.strip() or f"exit status {made.returncode}"
        pytest.skip(f"the kernel offers no vcan interface here (ip link add type vcan: {reason})")
    try:
        up = _ip("link", "set", "up", name)
        if up.returncode != 0:
            pytest.skip(f"vcan interface {name} cannot be brought up: {up.stderr.strip()}")
        yield name
    finally:
        _ip("link", "delete", name)


@pytest.fixture
async def broker(catalog: Catalog) -> AsyncIterator[Broker]:
    b = Broker(catalog)
    await b.start()
    yield b
    await b.stop()


async def test_socketcan_both_ways(
    vcan: str, broker: Broker, mapping: CanMapping, frames: Frames
) -> None:
    vehicle = CanVehicle(mapping, BusSource("socketcan", vcan))
    with can.Bus(interface="socketcan", channel=vcan) as car:
        async with running(vehicle, broker):
            car.send(frames("VCU_Drive", VCU_MotorSpeed=4321))
            await until(lambda: vehicle.counters.values_published > 0)
            motor = broker.get(READER, "Vehicle.Powertrain.ElectricMotor.Speed")
            assert motor is not None and motor.value == 4321.0
            await broker.actuate(READER, {"Vehicle.Cabin.Door.Row1.DriverSide.IsLocked": False})
            frame = car.recv(1.0)
            assert frame is not None
            assert (frame.arbitration_id, bytes(frame.data)) == (0x320, b"\x01")
