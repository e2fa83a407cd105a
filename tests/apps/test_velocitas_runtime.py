"""Velocitas apps on carmesh: the example seat adjuster (unmodified velocitas-sdk, its own
virtualenv) against a real broker and simulated car, through its own Unix-socket endpoint,
driven over a real Mosquitto by a paho-mqtt client.

The broker, the simulated car and the endpoint run in the test's event loop (the runtime's
wiring of Velocitas apps is not there yet); the app and the MQTT client are separate
processes on ``.venv-velocitas``'s python, as on the car.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from velocitas_sdk.proto import broker_pb2, broker_pb2_grpc, types_pb2

from carmesh.apps.manifest import Manifest
from carmesh.apps.sockets import SUN_PATH_MAX
from carmesh.apps.velocitas import (
    FixedPrincipalAuth,
    VelocitasEndpoint,
    velocitas_command,
    velocitas_environment,
    velocitas_python,
    velocitas_socket_path,
)
from carmesh.broker import Broker, Field, Principal
from carmesh.errors import ConfigError, PermissionDenied
from carmesh.mqtt import MOSQUITTO, MosquittoService, mosquitto_available
from carmesh.runtime import VehicleService, carmesh_overlay
from carmesh.vehicle.sim import SimulatedVehicle
from carmesh.vss import Catalog

ROOT = Path(__file__).resolve().parents[2]
VELOCITAS_VENV = ROOT / ".venv-velocitas"
EXAMPLE = ROOT / "examples" / "apps" / "seat-adjuster-velocitas"
POSITION = "Vehicle.Cabin.Seat.Row1.DriverSide.Position"
SPEED = "Vehicle.Speed"
TIMEOUT = 20.0
#: The simulated car's seat starts at 120 mm and travels 0..260 mm (targets beyond it are
#: clamped), so the test asks for a position inside that range.
TARGET = 200

PARKED = "name: parked\nsteps:\n  - park: 36000\n"
CRUISING = "name: cruising\nsteps:\n  - drive: constant\n    speed: 50\n    duration: 36000\n"

#: A paho-mqtt client (velocitas-sdk's own dependency): prints what arrives on
#: ``seatadjuster/#`` as JSON lines, publishes what it reads from stdin.
DRIVER = textwrap.dedent(
    """
    import json, sys
    import paho.mqtt.client as mqtt

    def out(**fields):
        print(json.dumps(fields), flush=True)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, u, flags, rc, props: c.subscribe("seatadjuster/#")
    client.on_subscribe = lambda *args: out(ready=True)
    client.on_message = lambda c, u, m: out(topic=m.topic, payload=m.payload.decode())
    client.connect(sys.argv[1], int(sys.argv[2]))
    client.loop_start()
    for line in sys.stdin:
        command = json.loads(line)
        client.publish(command["topic"], command["payload"], qos=1)
    client.loop_stop()
    """
)


def require_mosquitto() -> None:
    """Skip (fail under CI, where it is installed) when Mosquitto is missing."""
    if mosquitto_available():
        return
    message = f"{MOSQUITTO} is missing: apt-get install mosquitto (make unit does it as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def manifest() -> Manifest:
    return Manifest.parse((EXAMPLE / "carmesh-app.toml").read_text())


def scopes(permissions: tuple[str, ...]) -> list[str]:
    """The broker scopes of granted permission ids (docs/apps.md: exactly the VSS ones)."""
    return [p for p in permissions if p.partition(":")[0] in ("read", "actuate", "provide")]


@pytest.fixture(scope="module")
def python() -> Path:
    try:
        return velocitas_python(VELOCITAS_VENV)
    except ConfigError as exc:
        pytest.fail(str(exc))  # `make unit` builds it: never skip


@pytest.fixture
async def mqtt(tmp_path: Path) -> AsyncIterator[MosquittoService]:
    require_mosquitto()
    service = MosquittoService("127.0.0.1:0", tmp_path / "mqtt")
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@contextlib.asynccontextmanager
async def simulated_car(tmp_path: Path, scenario: str) -> AsyncIterator[Broker]:
    """A broker with the simulated car (10× real time) as its in-process provider."""
    catalog = Catalog.load(None, [carmesh_overlay()])
    broker = Broker(catalog)
    await broker.start()
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(scenario)
    vehicle = VehicleService(
        SimulatedVehicle(scenario=scenario_file, time_scale=10.0, seed=1, catalog=catalog),
        broker,
    )
    await vehicle.start()
    serving = asyncio.create_task(vehicle.serve())
    try:
        yield broker
    finally:
        await vehicle.stop()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await broker.stop()


class SeatApp:
    """The example app's process and a paho-mqtt client talking to it."""

    def __init__(self, app: asyncio.subprocess.Process, driver: asyncio.subprocess.Process):
        self.app = app
        self.driver = driver
        self.output: list[str] = []
        self.messages: list[tuple[str, Any]] = []
        self.changed = asyncio.Event()
        self.tasks = [
            asyncio.create_task(self._collect_output()),
            asyncio.create_task(self._collect_messages()),
        ]

    async def _collect_output(self) -> None:
        assert self.app.stdout is not None
        async for line in self.app.stdout:
            self.output.append(line.decode(errors="replace").rstrip())

    async def _collect_messages(self) -> None:
        assert self.driver.stdout is not None
        async for line in self.driver.stdout:
            message = json.loads(line)
            if "topic" in message:
                self.messages.append((message["topic"], json.loads(message["payload"])))
            else:
                self.messages.append(("ready", None))
            self.changed.set()

    def log(self) -> str:
        return "\n".join(self.output[-40:])

    async def wait_for(self, found: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        async def until() -> Any:
            while not (result := found()):
                if self.app.returncode is not None:
                    pytest.fail(f"the app ended ({self.app.returncode}):\n{self.log()}")
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 0.2)
            return result

        try:
            return await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            pytest.fail(f"timed out waiting for {what}; the app's log:\n{self.log()}")

    async def publish(self, topic: str, payload: Any) -> None:
        assert self.driver.stdin is not None
        self.driver.stdin.write(
            json.dumps({"topic": topic, "payload": json.dumps(payload)}).encode()
        )
        self.driver.stdin.write(b"\n")
        await self.driver.stdin.drain()

    async def request(self, position: int, request_id: str) -> dict[str, Any]:
        """Ask for *position*; answer the app's response. The request is repeated every
        second until answered, because the app subscribes once its MQTT client is up."""

        def response() -> dict[str, Any] | None:
            for topic, payload in self.messages:
                if topic.endswith("/response") and payload.get("requestId") == request_id:
                    result: dict[str, Any] = payload["result"]
                    return result
            return None

        request = {"position": position, "requestId": request_id}
        for _ in range(int(TIMEOUT)):
            await self.publish("seatadjuster/setPosition/request", request)
            with contextlib.suppress(pytest.fail.Exception):
                answer: dict[str, Any] = await self.wait_for(response, "a response", timeout=1.0)
                return answer
        pytest.fail(f"no response to request {request_id}; the app's log:\n{self.log()}")

    def positions(self) -> list[int]:
        return [p["position"] for t, p in self.messages if t == "seatadjuster/currentPosition"]

    async def close(self) -> None:
        for process in (self.app, self.driver):
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 5)
                except TimeoutError:
                    process.kill()
                    await process.wait()
        for task in self.tasks:
            task.cancel()


@contextlib.asynccontextmanager
async def seat_app(
    tmp_path: Path,
    python: Path,
    broker: Broker,
    mqtt: MosquittoService,
    principal: Callable[[], Principal],
) -> AsyncIterator[SeatApp]:
    """The example, copied as the car would extract it, running on its own endpoint."""
    app = manifest()
    package = tmp_path / "package"
    shutil.copytree(EXAMPLE, package)
    endpoint = VelocitasEndpoint(broker, app.id, principal, data_dir=tmp_path / "data")
    await endpoint.start()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        **velocitas_environment(endpoint.socket_path, mqtt.address),
    }
    process = await asyncio.create_subprocess_exec(
        *velocitas_command(python, app.entry_module),
        cwd=package,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    host, _, port = mqtt.address.rpartition(":")
    driver = await asyncio.create_subprocess_exec(
        str(python),
        "-c",
        DRIVER,
        host,
        port,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    running = SeatApp(process, driver)
    try:
        await running.wait_for(lambda: running.messages, "the MQTT client")
        yield running
    finally:
        await running.close()
        await endpoint.stop()


def target(broker: Broker) -> Any:
    datapoint = broker.get(Principal.system(), POSITION, Field.TARGET)
    return None if datapoint is None else datapoint.value


def value(broker: Broker, path: str = POSITION) -> Any:
    datapoint = broker.get(Principal.system(), path)
    return None if datapoint is None else datapoint.value


async def test_the_seat_moves_on_request_while_standing_still(
    tmp_path: Path, python: Path, mqtt: MosquittoService
) -> None:
    app = manifest()
    assert (app.runtime, app.entry_module) == ("velocitas", "app.main")
    granted = Principal.from_scopes(f"app:{app.id}", scopes(app.permissions))
    async with (
        simulated_car(tmp_path, PARKED) as broker,
        seat_app(tmp_path, python, broker, mqtt, lambda: granted) as seat,
    ):
        assert value(broker, SPEED) == 0.0
        start = value(broker)
        await seat.wait_for(lambda: start in seat.positions(), "the current position")
        result = await seat.request(TARGET, "r1")
        assert result["status"] == 0, result
        assert target(broker) == TARGET
        await seat.wait_for(lambda: TARGET in seat.positions(), f"the seat at {TARGET} mm")
        assert value(broker) == TARGET
        moving = seat.positions()[seat.positions().index(start) :]
        assert moving == sorted(moving) and len(moving) > 2  # reported on the way


async def test_the_seat_stays_while_the_car_moves(
    tmp_path: Path, python: Path, mqtt: MosquittoService
) -> None:
    app = manifest()
    granted = Principal.from_scopes(f"app:{app.id}", scopes(app.permissions))
    async with simulated_car(tmp_path, CRUISING) as broker:
        for _ in range(50):
            if (value(broker, SPEED) or 0) > 1:
                break
            await asyncio.sleep(0.1)
        start = value(broker)
        async with seat_app(tmp_path, python, broker, mqtt, lambda: granted) as seat:
            result = await seat.request(TARGET, "r2")
            assert result["status"] == 1
            assert "stands still" in result["message"]
            assert target(broker) is None
            assert value(broker) == start


async def test_the_broker_enforces_the_apps_grants_on_its_socket(
    tmp_path: Path, python: Path, mqtt: MosquittoService
) -> None:
    """Without ``actuate`` the app's set is refused by the broker; granting it applies
    from the app's next call, with no restart (the endpoint asks for the principal on
    every call)."""
    app = manifest()
    without_actuate = [s for s in scopes(app.permissions) if not s.startswith("actuate:")]
    assert len(without_actuate) == 2
    current = [Principal.from_scopes(f"app:{app.id}", without_actuate)]
    async with (
        simulated_car(tmp_path, PARKED) as broker,
        seat_app(tmp_path, python, broker, mqtt, lambda: current[0]) as seat,
    ):
        start = value(broker)
        result = await seat.request(TARGET, "denied")
        assert result["status"] == 1
        assert "refused" in result["message"]
        assert target(broker) is None
        assert value(broker) == start
        current[0] = Principal.from_scopes(f"app:{app.id}", scopes(app.permissions))
        result = await seat.request(TARGET, "granted")
        assert result["status"] == 0, result
        assert target(broker) == TARGET


async def test_the_endpoint_answers_as_the_app_whatever_the_caller_sends(
    tmp_path: Path,
) -> None:
    """A token in the metadata changes nothing: the socket decides who calls."""
    broker = Broker(Catalog.load())
    await broker.start()
    principal = Principal.from_scopes("app:org.example.reader", "read:Vehicle.Cabin.**")
    endpoint = VelocitasEndpoint(
        broker, "org.example.reader", lambda: principal, data_dir=tmp_path / "data"
    )
    await endpoint.start()
    try:
        assert endpoint.socket_path.parent.stat().st_mode & 0o777 == 0o700
        async with grpc.aio.insecure_channel(f"unix:{endpoint.socket_path}") as channel:
            stub = broker_pb2_grpc.BrokerStub(channel)
            reply = await stub.GetDatapoints(
                broker_pb2.GetDatapointsRequest(datapoints=[SPEED, POSITION]),
                metadata=[("authorization", "Bearer forged")],
            )
        failures = {path: reply.datapoints[path].failure_value for path in (SPEED, POSITION)}
        assert failures == {
            SPEED: types_pb2.Datapoint.ACCESS_DENIED,
            POSITION: types_pb2.Datapoint.NOT_AVAILABLE,
        }
    finally:
        await endpoint.stop()
        await broker.stop()
    assert not endpoint.socket_path.exists()


def test_fixed_principal_auth_asks_on_every_call() -> None:
    principals = iter([Principal.from_scopes("app:a", "read"), Principal.from_scopes("app:a", "")])
    auth = FixedPrincipalAuth(lambda: next(principals))
    assert auth.enabled
    assert auth.principal(None).scopes  # type: ignore[arg-type]
    assert not auth.principal(None).scopes  # type: ignore[arg-type]

    def refused() -> Principal:
        raise PermissionDenied("the app was removed")

    with pytest.raises(PermissionDenied):
        FixedPrincipalAuth(refused).principal(None)  # type: ignore[arg-type]


def test_socket_paths_stay_under_the_kernel_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    short = velocitas_socket_path(Path("/d"), "org.example.seat")
    assert short == Path("/d/run/velocitas/org.example.seat.sock")
    deep = tmp_path / ("x" * 80)
    moved = velocitas_socket_path(deep, "org.example.seat")
    assert moved.parent.parent == Path(f"/tmp/carmesh-{os.getuid()}")
    assert moved.name == "org.example.seat.sock"
    assert velocitas_socket_path(tmp_path / ("y" * 80), "org.example.seat") != moved
    long_id = "org.example." + "s" * 110
    hashed = velocitas_socket_path(deep, long_id)
    assert len(os.fsencode(hashed)) <= SUN_PATH_MAX and hashed.parent == moved.parent
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    assert velocitas_socket_path(deep, "org.example.seat").parent.parent == (
        tmp_path / "xdg" / "carmesh"
    )


async def test_a_shared_directory_of_another_kind_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "rt"
    runtime.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (runtime / "carmesh").symlink_to(tmp_path / "elsewhere")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    broker = Broker(Catalog.load())
    endpoint = VelocitasEndpoint(
        broker, "org.example.seat", Principal.system, data_dir=tmp_path / ("z" * 100)
    )
    with pytest.raises(ConfigError, match="not a directory of this user"):
        await endpoint.start()


def test_environment_and_command() -> None:
    env = velocitas_environment(Path("/data/run/velocitas/a.b.sock"), "0.0.0.0:1883")
    assert env == {
        "SDV_MIDDLEWARE_TYPE": "native",
        "SDV_VEHICLEDATABROKER_ADDRESS": "unix:/data/run/velocitas/a.b.sock",
        "SDV_MQTT_ADDRESS": "mqtt://127.0.0.1:1883",
    }
    assert "SDV_MQTT_ADDRESS" not in velocitas_environment(Path("/s.sock"), None)
    ipv6 = velocitas_environment(Path("/s.sock"), "[::1]:1883")
    assert ipv6["SDV_MQTT_ADDRESS"] == "mqtt://[::1]:1883"
    command = velocitas_command(Path("/venv/bin/python"), "app.main")
    assert command[:4] == ["/venv/bin/python", "-I", "-u", "-c"] and command[-1] == "app.main"
    for bad in ("app/main.py", "app.main:main", "-m", ""):
        with pytest.raises(ConfigError, match="module path"):
            velocitas_command(Path("/venv/bin/python"), bad)


def test_a_missing_velocitas_venv_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"run make to build \.venv-velocitas"):
        velocitas_python(tmp_path / "nothing")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    os.symlink(shutil.which("python3") or "/usr/bin/python3", venv / "bin" / "python")
    with pytest.raises(ConfigError, match="velocitas-sdk does not import"):
        velocitas_python(venv)
