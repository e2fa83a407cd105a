"""Vehicle providers over the KUKSA ``kuksa.val.v2`` provider stream.

First the :class:`GrpcConnector` against an in-process broker and gRPC server, next to the
:class:`InProcessConnector` it stands in for: the same provider code must see the same
behaviour through either. Then end to end with real processes: ``carmesh run --vehicle
none`` and ``carmesh provider sim|can --broker ADDR``, observed with raw ``kuksa.val.v2`` stubs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.server import GrpcServer
from carmesh.api.tokens import create_token, generate_key_pair
from carmesh.broker import Broker, Principal
from carmesh.errors import (
    AlreadyClaimed,
    CarmeshError,
    InvalidArgument,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from carmesh.runtime import carmesh_overlay
from carmesh.vehicle import Connector, InProcessConnector
from carmesh.vehicle.grpc_link import GrpcConnector, GrpcLink, catalog_from_metadata
from carmesh.vss import Catalog
from tests.support.car import CARMESH, RunningCar, running_car
from tests.support.certs import TestCA
from tests.support.provider import RunningProvider, running_provider

SPEED = "Vehicle.Speed"
SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
WINDOW = "Vehicle.Cabin.Door.Row1.PassengerSide.Window.Position"
SEAT = "Vehicle.Cabin.Seat.Row1.DriverSide.Position"
DOOR = "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"
MODE = "Vehicle.Powertrain.Transmission.PerformanceMode"
DATA = Path(__file__).parent / "can" / "data"
SIM = ("--time-scale", "20", "--seed", "1")


# -- one provider interface, two connectors ---------------------------------------------------


class Handler:
    """Accepts actuations, or refuses those of a path with the error given for it."""

    def __init__(self, refusals: Mapping[str, CarmeshError] | None = None) -> None:
        self.refusals = dict(refusals or {})
        self.requests: list[dict[str, Any]] = []

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        self.requests.append(dict(targets))
        for path in targets:
            if path in self.refusals:
                raise self.refusals[path]


@dataclasses.dataclass
class Setup:
    broker: Broker
    connector: Connector
    remote: bool


@pytest.fixture(params=["in-process", "grpc"])
async def setup(request: pytest.FixtureRequest, catalog: Catalog) -> AsyncIterator[Setup]:
    broker = Broker(catalog, actuation_timeout=2.0)
    await broker.start()
    try:
        if request.param == "in-process":
            principal = Principal.from_scopes("vehicle", "provide")
            yield Setup(broker, InProcessConnector(broker, principal), remote=False)
            return
        server = GrpcServer(broker, "127.0.0.1:0", auth=GrpcAuth(None))
        await server.start()
        try:
            async with GrpcConnector(server.address) as connector:
                yield Setup(broker, connector, remote=True)
        finally:
            await server.stop()
    finally:
        await broker.stop()


async def settle(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


def current(broker: Broker, path: str) -> Any:
    point = broker.get(Principal.system(), path)
    return None if point is None else point.value


async def test_published_values_reach_the_broker(setup: Setup) -> None:
    link = await setup.connector.connect("test", None)
    await link.claim_values([SPEED, SOC])
    await link.publish({SPEED: 42, SOC: 80.5})
    await settle(lambda: current(setup.broker, SOC) == 80.5)
    assert current(setup.broker, SPEED) == 42.0
    await link.close()
    await link.close()


async def test_bad_values_are_refused_whole_naming_the_signal(setup: Setup) -> None:
    link = await setup.connector.connect("test", None)
    await link.claim_values([SPEED, SOC])
    with pytest.raises(InvalidValue) as refused:
        await link.publish({SPEED: 10.0, SOC: 150.0})
    assert refused.value.path == SOC
    with pytest.raises(InvalidValue):
        await link.publish({SPEED: "fast"})
    await link.publish({SPEED: 11.0})
    await settle(lambda: current(setup.broker, SPEED) == 11.0)
    assert current(setup.broker, SOC) is None, "nothing of a refused batch is applied"


async def test_claims_are_checked_as_in_process(setup: Setup) -> None:
    link = await setup.connector.connect("test", None)
    with pytest.raises(NotFound):
        await link.claim(["Vehicle.NoSuchThing"])
    with pytest.raises(InvalidArgument, match="no actuation handler"):
        await link.claim([WINDOW])
    with pytest.raises(InvalidArgument, match="only actuators"):
        await link.claim_actuation([SPEED])
    await link.claim(["Vehicle.Chassis.Axle.Row1.Wheel.*.Tire.Pressure", SPEED])
    await link.publish({SPEED: 1.0})


async def test_actuations_reach_the_handler_and_refusals_the_caller(setup: Setup) -> None:
    handler = Handler(
        {
            DOOR: InvalidArgument("the door is locked; unlock it before opening it", path=DOOR),
            SEAT: NotFound("no such seat motor", path=SEAT),
            MODE: PermissionDenied("sport mode needs a licence", path=MODE),
        }
    )
    link = await setup.connector.connect("test", handler)
    await link.claim([DOOR, WINDOW, SEAT, MODE])
    system = Principal.system()
    # The very first actuation is refused: its reason must reach the caller all the same.
    with pytest.raises(InvalidArgument, match="unlock it before opening it") as refused:
        await setup.broker.actuate(system, {DOOR: True})
    assert str(refused.value).count(DOOR) <= 1
    with pytest.raises(NotFound, match="no such seat motor"):
        await setup.broker.actuate(system, {SEAT: 300})
    with pytest.raises(PermissionDenied, match="sport mode needs a licence"):
        await setup.broker.actuate(system, {MODE: "SPORT"})
    await setup.broker.actuate(system, {WINDOW: 40})
    assert handler.requests == [{DOOR: True}, {SEAT: 300}, {MODE: "SPORT"}, {WINDOW: 40}]
    await link.close()
    with pytest.raises(Unavailable):
        await setup.broker.actuate(system, {WINDOW: 50})


async def test_a_signal_claimed_elsewhere_is_refused(setup: Setup) -> None:
    first = await setup.connector.connect("first", None)
    await first.claim_values([SPEED])
    second = await setup.connector.connect("second", None)
    with pytest.raises(AlreadyClaimed, match=SPEED):
        await second.claim_values([SPEED])
    if setup.remote:  # the broker ends a stream whose claim it refuses
        with pytest.raises(AlreadyClaimed):
            await second.publish({SPEED: 3.0})
    await first.publish({SPEED: 2.0})
    await settle(lambda: current(setup.broker, SPEED) == 2.0)


# -- the gRPC connector's own promises ---------------------------------------------------------


@pytest.fixture
async def server(catalog: Catalog) -> AsyncIterator[tuple[Broker, GrpcServer]]:
    broker = Broker(catalog, actuation_timeout=2.0)
    await broker.start()
    grpc_server = GrpcServer(broker, "127.0.0.1:0", auth=GrpcAuth(None))
    await grpc_server.start()
    try:
        yield broker, grpc_server
    finally:
        await grpc_server.stop()
        await broker.stop()


async def test_the_catalog_is_the_brokers(
    server: tuple[Broker, GrpcServer], catalog: Catalog
) -> None:
    async with GrpcConnector(server[1].address) as connector:
        remote = await connector.catalog()
    assert remote.name == f"the broker at {server[1].address}"
    assert len(remote.leaves) == len(catalog.leaves)
    for path in (WINDOW, SOC, MODE, SEAT):
        mine, theirs = catalog[path], remote[path]
        assert (theirs.id, theirs.type, theirs.datatype, theirs.unit) == (
            mine.id,
            mine.type,
            mine.datatype,
            mine.unit,
        )
        assert (theirs.min, theirs.max, theirs.allowed) == (mine.min, mine.max, mine.allowed)
    assert not remote["Vehicle.Cabin.Door"].is_leaf
    assert WINDOW in {n.path for n in remote.match("Vehicle.Cabin.Door.**")}


def test_what_carmesh_cannot_carry_is_left_out_of_the_catalog() -> None:
    """A databroker's catalog may hold timestamps; carmesh has no such type."""
    metadata = [
        types_pb2.Metadata(
            id=7,
            path="Vehicle.Body.Lights.Hazard.IsSignaling",
            data_type=types_pb2.DATA_TYPE_BOOLEAN,
            entry_type=types_pb2.ENTRY_TYPE_ACTUATOR,
        ),
        types_pb2.Metadata(
            id=8,
            path="Vehicle.Service.LastService",
            data_type=types_pb2.DATA_TYPE_TIMESTAMP,
            entry_type=types_pb2.ENTRY_TYPE_ATTRIBUTE,
        ),
        types_pb2.Metadata(id=9, path="Vehicle.Odd", data_type=types_pb2.DATA_TYPE_FLOAT),
    ]
    catalog = catalog_from_metadata(metadata, "the broker at test")
    assert [n.path for n in catalog.leaves] == ["Vehicle.Body.Lights.Hazard.IsSignaling"]
    assert catalog["Vehicle.Body.Lights.Hazard.IsSignaling"].id == 7
    assert {n.path for n in catalog.children("Vehicle")} == {"Vehicle.Body"}
    assert catalog.resolve("Vehicle.Body.**")[0].is_actuator


async def test_a_value_the_broker_refuses_is_logged_and_raised_next_time(
    server: tuple[Broker, GrpcServer], caplog: pytest.LogCaptureFixture
) -> None:
    broker, grpc_server = server
    async with GrpcConnector(grpc_server.address) as connector:
        link = await connector.connect("test", None)
        assert isinstance(link, GrpcLink)
        await link.claim_values([SOC, SPEED])
        # A provider whose idea of the signal is wider than the broker's.
        link.values[SOC] = dataclasses.replace(link.values[SOC], max=None)
        with caplog.at_level(logging.WARNING, logger="carmesh.vehicle.grpc_link"):
            await link.publish({SOC: 150.0, SPEED: 5.0})
            await settle(lambda: "refused" in caplog.text)
        assert f"the broker at {grpc_server.address} refused {SOC}" in caplog.text
        assert current(broker, SPEED) == 5.0, "the broker applies what it accepts"
        with pytest.raises(InvalidValue) as refused:
            await link.publish({SOC: 151.0})
        assert refused.value.path == SOC


async def test_a_broken_stream_is_a_clear_error(server: tuple[Broker, GrpcServer]) -> None:
    _, grpc_server = server
    address = grpc_server.address
    async with GrpcConnector(address) as connector:
        link = await connector.connect("test", Handler())
        await link.claim([WINDOW, SPEED])
        await grpc_server.stop()
        error = await asyncio.wait_for(connector.broken(), 5)
        assert isinstance(error, Unavailable)
        assert f"the broker at {address} ended the provider stream" in str(error)
        with pytest.raises(Unavailable, match="ended the provider stream"):
            await link.publish({SPEED: 1.0})


async def test_an_unreachable_broker_is_a_clear_error() -> None:
    async with GrpcConnector("127.0.0.1:9", timeout=2) as connector:
        with pytest.raises(Unavailable, match=r"cannot reach the broker at 127\.0\.0\.1:9"):
            await connector.connect("test", None)


# -- end to end: `carmesh provider` next to `carmesh run --vehicle none` ------------------------


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    with running_car(tmp_path_factory.mktemp("remote") / "car") as running:
        yield running


def get(address: str, path: str, credentials: Any = None, token: str = "") -> Any:
    """The datapoint of *path*: ``(value, timestamp ns)``, or None while it has no value."""
    channel = (
        grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    )
    with channel:
        response = val_pb2_grpc.VALStub(channel).GetValue(
            val_pb2.GetValueRequest(signal_id=types_pb2.SignalID(path=path)),
            metadata=(("authorization", f"Bearer {token}"),) if token else (),
            timeout=5,
        )
    point = response.data_point
    if not point.HasField("value"):
        return None
    field = point.value.WhichOneof("typed_value")
    held = getattr(point.value, field)
    stamp = point.timestamp.seconds * 1_000_000_000 + point.timestamp.nanos
    return (list(held.values) if field.endswith("_array") else held), stamp


def actuate(address: str, path: str, value: Any) -> grpc.RpcError | None:
    """Actuate *path*; the error, or None when the provider accepted."""
    with grpc.insecure_channel(address) as channel:
        try:
            val_pb2_grpc.VALStub(channel).Actuate(
                val_pb2.ActuateRequest(signal_id=types_pb2.SignalID(path=path), value=value),
                timeout=5,
            )
        except grpc.RpcError as exc:
            return exc
    return None


def released(address: str) -> bool:
    """True once no provider serves the simulator's window any more."""
    error = actuate(address, WINDOW, types_pb2.Value(uint32=0))
    return error is not None and error.code() is grpc.StatusCode.UNAVAILABLE


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.05)


@pytest.fixture
def sim(car: RunningCar) -> Iterator[RunningProvider]:
    """``carmesh provider sim`` for one test; its claims are gone when the next one starts."""
    with running_provider("sim", car.grpc_address, *SIM) as provider:
        yield provider
    eventually(lambda: released(car.grpc_address))


def one_clear_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def provide(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CARMESH, "provider", *args], capture_output=True, text=True, timeout=30)


def test_the_remote_simulator_publishes_moving_values(
    car: RunningCar, sim: RunningProvider
) -> None:
    assert any("vehicle   sim: Polestar 2" in line for line in sim.output)
    lacking = [line for line in sim.output if "lacks 8 of the simulator's signals" in line]
    assert len(lacking) == 1, "a broker without the carmesh overlay: one line says so"
    samples: list[dict[str, Any]] = []
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        samples.append({p: get(car.grpc_address, p) for p in (SPEED, SOC)})
        if all(len({s[p][0] for s in samples if s[p]}) > 2 for p in (SPEED, SOC)):
            break
        time.sleep(0.1)
    for path in (SPEED, SOC):
        assert len({s[path][0] for s in samples if s[path]}) > 2, path


def test_the_remote_simulator_carries_out_an_actuation(
    car: RunningCar, sim: RunningProvider
) -> None:
    """The seat travels from where it is (120 mm) towards its target at 15 mm/s × 20; a
    subscriber sees every position the simulator publishes on the way."""
    positions: list[int] = []
    with grpc.insecure_channel(car.grpc_address) as channel:
        updates = val_pb2_grpc.VALStub(channel).Subscribe(
            val_pb2.SubscribeRequest(signal_paths=[SEAT]), timeout=10
        )
        for update in updates:
            positions.append(update.entries[SEAT].value.uint32)
            if len(positions) == 1:
                assert positions == [120]
                assert actuate(car.grpc_address, SEAT, types_pb2.Value(uint32=250)) is None
            if positions[-1] == 250:
                updates.cancel()
                break
    assert positions == sorted(positions), "the seat moves towards its target"
    assert any(120 < p < 250 for p in positions), positions


def test_an_interlock_refusal_reaches_the_caller(car: RunningCar, sim: RunningProvider) -> None:
    error = actuate(car.grpc_address, DOOR, types_pb2.Value(bool=True))
    assert error is not None
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = error.details()
    assert "the door Row1.DriverSide is locked; unlock it before opening it" in details
    assert get(car.grpc_address, DOOR)[0] is False


def test_a_second_provider_of_the_same_signals_is_refused(
    car: RunningCar, sim: RunningProvider
) -> None:
    result = provide("sim", "--broker", car.grpc_address)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"error: the broker at {car.grpc_address} refused the claim: ")
    assert "already provided" in last


def test_a_killed_provider_releases_its_claims(car: RunningCar, sim: RunningProvider) -> None:
    assert actuate(car.grpc_address, WINDOW, types_pb2.Value(uint32=10)) is None
    sim.process.kill()
    sim.process.wait(5)
    eventually(lambda: released(car.grpc_address))
    error = actuate(car.grpc_address, WINDOW, types_pb2.Value(uint32=20))
    assert error is not None
    assert error.code() is grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_provider_at_once(
    car: RunningCar, sim: RunningProvider, sig: int
) -> None:
    started = time.monotonic()
    sim.process.send_signal(sig)
    code = sim.process.wait(5)
    assert time.monotonic() - started < 1.0, "stopping takes about 0.1 s"
    assert code == 0, sim.output
    sim.finished.wait(5)
    assert sim.output[-1] == "carmesh provider stopped."
    eventually(lambda: released(car.grpc_address))


def test_a_stopped_broker_ends_the_provider_with_a_clear_error(tmp_path: Path) -> None:
    with (
        running_car(tmp_path / "car") as alone,
        running_provider("sim", alone.grpc_address, *SIM) as provider,
    ):
        alone.stop()
        assert provider.process.wait(5) == 1
        provider.finished.wait(5)
    assert provider.output[-1].startswith(
        f"error: the broker at {alone.grpc_address} ended the provider stream: "
    )
    assert not any("Traceback" in line for line in provider.output)


def test_with_the_carmesh_overlay_the_remote_simulator_has_every_signal(tmp_path: Path) -> None:
    """A broker started with the carmesh overlay: nothing is left out, faults work."""
    overlay = ("--overlay", str(carmesh_overlay()))
    with (
        running_car(tmp_path / "car", *overlay) as full,
        running_provider("sim", full.grpc_address, *SIM) as provider,
    ):
        assert not any("lacks" in line for line in provider.output)
        done = subprocess.run(
            [CARMESH, "fault", "inject", "dtc", "--code", "P0A80", "--broker", full.grpc_address],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        dtcs = "Vehicle.Diagnostics.DTCList"
        eventually(lambda: (get(full.grpc_address, dtcs) or ([], 0))[0] == ["P0A80"])


def test_an_unreachable_broker_is_one_clear_line(tmp_path: Path) -> None:
    line = one_clear_error(provide("sim", "--broker", "127.0.0.1:9"))
    assert line.startswith("error: cannot reach the broker at 127.0.0.1:9 (")
    line = one_clear_error(provide("sim", "--broker", "127.0.0.1:0"))
    assert "--broker HOST:PORT" in line
    line = one_clear_error(provide("sim", "--token-file", str(tmp_path / "none")))
    assert f"cannot read the token file {tmp_path / 'none'}" in line


def test_tokens_and_tls(tmp_path: Path) -> None:
    """A car that requires tokens and TLS: the provider needs both a valid token (from a
    file) and the CA; a bad token is one clear line."""
    private, public = generate_key_pair()
    (tmp_path / "jwt.pub").write_bytes(public)
    ca = TestCA(tmp_path)
    cert = ca.issue("car", server=True)
    token = create_token(private, "provide read")
    (tmp_path / "token").write_text(token + "\n")
    forged = create_token(generate_key_pair()[0], "provide")
    secure = ("--jwt-public-key", str(tmp_path / "jwt.pub"))
    tls = ("--tls-cert", str(cert.cert), "--tls-key", str(cert.key))
    with running_car(tmp_path / "car", *secure, *tls) as car:
        address = car.grpc_address
        ca_option = ("--tls-ca", str(ca.cert_path))
        line = one_clear_error(provide("sim", "--broker", address, "--token", forged, *ca_option))
        assert line.startswith(f"error: the broker at {address} refused the credentials (")
        assert "--token" in line
        options = ("--token-file", str(tmp_path / "token"), *ca_option, *SIM)
        with running_provider("sim", address, *options):
            credentials = grpc.ssl_channel_credentials(ca.cert_path.read_bytes())
            eventually(lambda: get(address, SPEED, credentials, token) is not None)


def test_the_can_provider_replays_a_log_into_the_broker(car: RunningCar) -> None:
    started = time.time_ns()
    options = (
        *("--can-dbc", str(DATA / "carmesh_ev.dbc")),
        *("--can-mapping", str(DATA / "carmesh_ev_mapping.yaml")),
        *("--can-replay", str(DATA / "short_drive.log")),
        *("--can-replay-speed", "0", "--can-replay-loop"),
    )
    with running_provider("can", car.grpc_address, *options) as provider:
        assert any("vehicle   CAN: replay of short_drive.log" in line for line in provider.output)
        eventually(lambda: (get(car.grpc_address, SPEED) or (0, 0))[1] > started)
        speeds: set[tuple[float, int]] = set()

        def replayed() -> bool:
            speeds.add(get(car.grpc_address, SPEED))
            return len(speeds) > 2

        eventually(replayed)
        assert all(0.0 <= speed <= 250.0 for speed, _ in speeds)
