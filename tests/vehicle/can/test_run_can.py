"""``carmesh run --vehicle can``: a recorded drive replayed into the broker, read over gRPC."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import grpc
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from tests.support.car import CARMESH, running_car

DATA = Path(__file__).parent / "data"


def test_replayed_frames_reach_kuksa_clients(tmp_path: Path) -> None:
    args = (
        "--vehicle",
        "can",
        "--can-dbc",
        str(DATA / "carmesh_ev.dbc"),
        "--can-mapping",
        str(DATA / "carmesh_ev_mapping.yaml"),
        "--can-replay",
        str(DATA / "short_drive.log"),
        "--can-replay-speed",
        "0",
        "--can-replay-loop",
    )
    with running_car(tmp_path / "car", *args) as car:
        assert any("vehicle   CAN: replay of short_drive.log" in line for line in car.output)
        with grpc.insecure_channel(car.grpc_address) as channel:
            stub = val_pb2_grpc.VALStub(channel)
            request = val_pb2.GetValueRequest(signal_id=types_pb2.SignalID(path="Vehicle.Speed"))
            deadline = time.monotonic() + 10
            speed = None
            while time.monotonic() < deadline:
                point = stub.GetValue(request, timeout=5).data_point
                if point.HasField("value"):
                    speed = point.value.float
                    break
                time.sleep(0.05)
    assert speed is not None, "the replayed speed reached the broker"
    assert 0.0 <= speed <= 250.0


def test_can_needs_a_database_and_mapping(tmp_path: Path) -> None:
    result = subprocess.run(
        [CARMESH, "run", "--data-dir", str(tmp_path), "--grpc", "127.0.0.1:0", "--vehicle", "can"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "needs a CAN database and a mapping" in result.stderr
    assert "Traceback" not in result.stderr
