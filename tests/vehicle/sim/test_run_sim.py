"""End to end: the real ``carmesh run`` with the simulated car at 20× real time, observed
over the KUKSA ``kuksa.val.v2`` API like any client, and ``carmesh fault inject``."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from tests.support.car import CARMESH, RunningCar, running_car


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    data = tmp_path_factory.mktemp("sim") / "car"
    with running_car(data, "--vehicle", "sim", "--time-scale", "20", "--seed", "42") as running:
        yield running


def value(car: RunningCar, path: str) -> Any:
    with grpc.insecure_channel(car.grpc_address) as channel:
        stub = val_pb2_grpc.VALStub(channel)
        response = stub.GetValue(
            val_pb2.GetValueRequest(signal_id=types_pb2.SignalID(path=path)), timeout=5
        )
    field = response.data_point.value.WhichOneof("typed_value")
    wire = getattr(response.data_point.value, field)
    return list(wire.values) if field.endswith("_array") else wire


def test_the_banner_names_the_simulated_car(car: RunningCar) -> None:
    line = next(line for line in car.output if line.strip().startswith("vehicle"))
    assert line.strip() == (
        "vehicle   sim: Polestar 2 Long Range Dual Motor (2021), WLTC loop around Gothenburg, "
        "20× real time, seed 42"
    )


def test_signals_move_over_grpc(car: RunningCar) -> None:
    paths = (
        "Vehicle.Speed",
        "Vehicle.TraveledDistance",
        "Vehicle.CurrentLocation.Latitude",
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
    )
    first = {p: value(car, p) for p in paths}
    samples = [first]
    for _ in range(8):
        time.sleep(0.25)
        samples.append({p: value(car, p) for p in paths})
    for path in paths:
        assert len({s[path] for s in samples}) > 1, path
    assert samples[-1]["Vehicle.TraveledDistance"] > first["Vehicle.TraveledDistance"]
    assert value(car, "Vehicle.VehicleIdentification.Model") == "Polestar 2"
    assert value(car, "Vehicle.Carmesh.Simulator.TimeScale") == pytest.approx(20.0)


def test_an_interlock_reaches_the_client_as_invalid_argument(car: RunningCar) -> None:
    with grpc.insecure_channel(car.grpc_address) as channel:
        stub = val_pb2_grpc.VALStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Actuate(
                val_pb2.ActuateRequest(
                    signal_id=types_pb2.SignalID(path="Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"),
                    value=types_pb2.Value(bool=True),
                ),
                timeout=5,
            )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "is locked; unlock it before opening it" in (refused.value.details() or "")


def fault(car: RunningCar, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARMESH, "fault", *args, "--broker", car.grpc_address],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_fault_inject_reaches_the_running_car(car: RunningCar) -> None:
    done = fault(car, "inject", "dtc", "--code", "P0A80")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "injected: diagnostic trouble codes P0A80"
    done = fault(car, "inject", "tyre-pressure", "--wheel", "RR")
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 5
    while value(car, "Vehicle.Diagnostics.DTCList") != ["P0A80"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # 12 kPa a minute at 20×: four kPa a real second.
    first = value(car, "Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure")
    time.sleep(1.5)
    assert value(car, "Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure") < first
    assert fault(car, "clear").returncode == 0
    deadline = time.monotonic() + 5
    while value(car, "Vehicle.Diagnostics.DTCList"):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_fault_inject_refuses_bad_input_in_one_line(car: RunningCar) -> None:
    done = fault(car, "inject", "dtc", "--code", "nonsense")
    assert done.returncode == 1
    assert done.stderr.startswith("error: 'nonsense' is not a diagnostic trouble code")
    assert "Traceback" not in done.stderr
    gone = subprocess.run(
        [CARMESH, "fault", "inject", "12v-low", "--broker", "127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert gone.returncode == 1
    assert gone.stderr.startswith("error: cannot reach the car at 127.0.0.1:9")


def test_the_default_data_dir_is_not_needed_by_fault(tmp_path: Path, car: RunningCar) -> None:
    done = subprocess.run(
        [CARMESH, "fault", "clear", "12v-low", "--broker", car.grpc_address],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cleared 12v-low"


def test_a_bad_scenario_is_one_clear_error(tmp_path: Path) -> None:
    scenario = tmp_path / "trip.yaml"
    scenario.write_text("steps:\n  - charge: dc\n    until: 180\n", encoding="utf-8")
    done = subprocess.run(
        [
            CARMESH,
            "run",
            "--data-dir",
            str(tmp_path / "car"),
            "--grpc",
            "127.0.0.1:0",
            "--scenario",
            str(scenario),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: {scenario}, line 3: step 1 (charge): 'until' must be between 1 and 100, got 180"
    ]
    assert done.stdout == ""
