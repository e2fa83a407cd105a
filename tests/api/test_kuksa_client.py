"""The unmodified kuksa-client package (0.6) against the real ``carmesh`` command.

kuksa-client speaks both KUKSA APIs on one port: ``connect`` asks v1 ``GetServerInfo``,
``get_*`` and ``get_metadata`` use v1 ``Get``; ``set_current_values`` reads the datatype with
v1 ``Get`` and publishes with v2 ``PublishValue``; ``set_target_values`` reads the datatype and
uses v1 ``Set``; ``subscribe_current_values`` uses v2 ``Subscribe`` (expanding branches with v2
``ListMetadata`` after NOT_FOUND); ``subscribe_target_values`` opens a v2 provider stream that
claims the actuators' actuation. A provider written with that SDK therefore receives targets
set over v1, which is what carmesh promises: one actuator, one target, whichever API set it.

Error codes are the Eclipse KUKSA databroker's (``databroker/src/grpc/``). v1 errors come back
as ``VSSClientError.errors`` with HTTP-like codes (``kuksa_val_v1/val.rs``: ``get`` 404
``not_found``; ``convert_to_data_entry_error`` 400 for wrong type and out-of-bounds values, 403
``forbidden``; 503 for an actuator without provider is carmesh's v1 form of v2's UNAVAILABLE).
v2 errors come back as ``VSSClientError.error`` with the gRPC code number (``kuksa_val_v2/
val.rs`` ``publish_value`` → ``conversions.rs`` ``UpdateError::to_status_with_code``:
INVALID_ARGUMENT for out-of-bounds values, PERMISSION_DENIED for a missing scope). A missing or
refused token is UNAUTHENTICATED for every call (``server.rs``, the authorization interceptor).
"""

from __future__ import annotations

import asyncio
import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from kuksa_client.grpc import (
    DataEntry,
    Datapoint,
    DataType,
    EntryType,
    EntryUpdate,
    Field,
    Metadata,
    MetadataField,
    VSSClient,
    VSSClientError,
)
from kuksa_client.grpc import aio as kuksa_aio

from carmesh import __version__
from carmesh.api.tokens import create_token, generate_key_pair
from tests.support.car import RunningCar, running_car

KUKSA_CLIENT = str(Path(sys.executable).parent / "kuksa-client")
FAN = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed"  # actuator uint8 0..100 percent
SUNROOF = "Vehicle.Cabin.Sunroof.Position"  # sensor int8 -100..100
TIMEOUT = 5.0

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED.value[0]
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED.value[0]


# -- helpers ----------------------------------------------------------------------------------


def codes(exc: VSSClientError) -> dict[str, int]:
    """Path → code of the per-path (v1) errors."""
    return {e["path"]: e["error"]["code"] for e in exc.errors}


class Listener:
    """Consumes a blocking kuksa-client subscription on a thread; stopped by disconnecting."""

    def __init__(self, client: VSSClient, updates: Iterator[dict[str, Any]]) -> None:
        self.client = client
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(updates,), daemon=True)
        self.thread.start()

    def _run(self, updates: Iterator[dict[str, Any]]) -> None:
        try:
            for update in updates:
                self.received.put(update)
        except Exception as exc:  # ends when the client disconnects
            self.error = exc

    def wait_for(self, path: str, value: Any, timeout: float = TIMEOUT) -> None:
        """Wait until an update carries *value* for *path*."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                update = self.received.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no update {path} = {value!r}; error: {self.error}") from None
            dp = update.get(path)
            if dp is not None and dp.value == value:
                return

    def stop(self) -> None:
        self.client.disconnect()
        self.thread.join(TIMEOUT)


class SdkProvider:
    """A provider written with the SDK: it serves the actuators' targets and reports each one
    as the new current value, as a real actuator would once it got there."""

    def __init__(self, port: int, paths: list[str], token: str | None = None) -> None:
        self.client = VSSClient("127.0.0.1", port, token=token)
        self.client.connect()
        self.seen: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._serve, args=(paths,), daemon=True)
        self.thread.start()

    def _serve(self, paths: list[str]) -> None:
        try:
            for targets in self.client.subscribe_target_values(paths):
                for path, dp in targets.items():
                    self.seen.put((path, dp.value))
                    self.client.set_current_values({path: Datapoint(dp.value)})
        except Exception as exc:
            self.error = exc

    def stop(self) -> None:
        self.client.disconnect()
        self.thread.join(TIMEOUT)


def once_served(call: Callable[[], None], timeout: float = TIMEOUT) -> None:
    """Run *call* (an actuation), retrying while the provider's claim is still on its way
    (503: no provider serves the actuator yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            call()
            return
        except VSSClientError as exc:
            if 503 not in codes(exc).values() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    with running_car(tmp_path_factory.mktemp("car")) as running:
        yield running


@pytest.fixture
def client(car: RunningCar) -> Iterator[VSSClient]:
    with VSSClient("127.0.0.1", car.grpc_port) as connected:
        yield connected


# -- the synchronous SDK ----------------------------------------------------------------------


def test_connect_asks_server_info(client: VSSClient) -> None:
    info = client.get_server_info()
    assert info is not None and (info.name, info.version) == ("carmesh", __version__)


def test_current_values(client: VSSClient) -> None:
    client.set_current_values(
        {
            "Vehicle.Speed": Datapoint(33.5),
            "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen": Datapoint(True),
        }
    )
    values = client.get_current_values(
        [
            "Vehicle.Speed",
            "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen",
            "Vehicle.Acceleration.Vertical",
        ]
    )
    assert values["Vehicle.Speed"].value == 33.5
    assert values["Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"].value is True
    assert values["Vehicle.Speed"].timestamp is not None
    assert values["Vehicle.Acceleration.Vertical"] is None  # never set


def test_metadata(client: VSSClient) -> None:
    metadata = client.get_metadata([FAN, "Vehicle.Cabin.Infotainment.Media.Action"])
    fan = metadata[FAN]
    assert (fan.data_type, fan.entry_type, fan.unit) == (
        DataType.UINT8,
        EntryType.ACTUATOR,
        "percent",
    )
    assert fan.description and fan.value_restriction is not None
    assert (fan.value_restriction.min, fan.value_restriction.max) == (0, 100)
    action = metadata["Vehicle.Cabin.Infotainment.Media.Action"].value_restriction
    assert action is not None and "PLAY" in (action.allowed_values or [])
    (unit,) = client.get_metadata([SUNROOF], MetadataField.UNIT).values()
    assert unit.unit == "percent"


def test_errors(client: VSSClient) -> None:
    """v1 ``Get`` of an unknown path → 404; a value of the wrong type or out of range → 400
    (v1 ``Set``, ``convert_to_data_entry_error``) or INVALID_ARGUMENT (v2 ``PublishValue``);
    a target for an actuator no provider serves → 503."""
    with pytest.raises(VSSClientError) as info:
        client.get_current_values(["Vehicle.NoSuchSignal"])
    assert codes(info.value) == {"Vehicle.NoSuchSignal": 404}
    assert info.value.error["code"] == 404

    wrong_type = EntryUpdate(
        DataEntry("Vehicle.Speed", value=Datapoint("fast"), metadata=Metadata(DataType.STRING)),
        (Field.VALUE,),
    )
    with pytest.raises(VSSClientError) as info:
        client.set([wrong_type])  # v1 Set, the type given so that the client does not ask
    assert codes(info.value) == {"Vehicle.Speed": 400}

    with pytest.raises(VSSClientError) as info:
        client.set_target_values({FAN: Datapoint(101)})
    assert codes(info.value) == {FAN: 400}
    assert "above max" in info.value.errors[0]["error"]["message"]

    with pytest.raises(VSSClientError) as info:
        client.set_target_values({FAN: Datapoint(50)})
    assert codes(info.value) == {FAN: 503}

    with pytest.raises(VSSClientError) as info:
        client.set_current_values({SUNROOF: Datapoint(101)})  # v2 PublishValue
    assert info.value.error["code"] == INVALID_ARGUMENT


def test_subscribe_current_values(car: RunningCar, client: VSSClient) -> None:
    """v2 ``Subscribe``: the current value first, then changes; a branch is expanded by the
    client with ``ListMetadata`` after the NOT_FOUND that v2 answers for it."""
    client.set_current_values({"Vehicle.Cabin.Sunroof.Shade.Position": Datapoint(10)})
    watcher = VSSClient("127.0.0.1", car.grpc_port)
    watcher.connect()
    listener = Listener(watcher, watcher.subscribe_current_values(["Vehicle.Cabin.Sunroof"]))
    try:
        listener.wait_for("Vehicle.Cabin.Sunroof.Shade.Position", 10)
        client.set_current_values({"Vehicle.Cabin.Sunroof.Shade.Position": Datapoint(20)})
        listener.wait_for("Vehicle.Cabin.Sunroof.Shade.Position", 20)
    finally:
        listener.stop()


def test_actuate_through_an_sdk_provider(car: RunningCar, client: VSSClient) -> None:
    """The provider (``subscribe_target_values``) receives the target another client sets
    with ``set_target_values`` (v1 ``Set``), reports it as the current value, and a third
    client's ``subscribe_current_values`` sees it."""
    provider = SdkProvider(car.grpc_port, [FAN])
    watcher = VSSClient("127.0.0.1", car.grpc_port)
    watcher.connect()
    listener = Listener(watcher, watcher.subscribe_current_values([FAN]))
    try:
        once_served(lambda: client.set_target_values({FAN: Datapoint(60)}))
        assert provider.seen.get(timeout=TIMEOUT) == (FAN, 60), provider.error
        listener.wait_for(FAN, 60)
        assert client.get_target_values([FAN])[FAN].value == 60
        assert client.get_current_values([FAN])[FAN].value == 60
    finally:
        listener.stop()
        provider.stop()


# -- the asyncio SDK --------------------------------------------------------------------------


@pytest.fixture
async def aclient(car: RunningCar) -> AsyncIterator[kuksa_aio.VSSClient]:
    async with kuksa_aio.VSSClient("127.0.0.1", car.grpc_port) as connected:
        yield connected


async def test_aio_values_metadata_errors(aclient: kuksa_aio.VSSClient) -> None:
    info = await aclient.get_server_info()
    assert info is not None and info.name == "carmesh"
    await aclient.set_current_values({"Vehicle.Chassis.SteeringWheel.Angle": Datapoint(-15)})
    values = await aclient.get_current_values(["Vehicle.Chassis.SteeringWheel.Angle"])
    assert values["Vehicle.Chassis.SteeringWheel.Angle"].value == -15
    metadata = await aclient.get_metadata(["Vehicle.Chassis.SteeringWheel.Angle"])
    assert metadata["Vehicle.Chassis.SteeringWheel.Angle"].data_type == DataType.INT16
    with pytest.raises(VSSClientError) as info_error:
        await aclient.get_target_values(["Vehicle.Cabin.Nope"])
    assert codes(info_error.value) == {"Vehicle.Cabin.Nope": 404}


async def test_aio_actuate_through_an_sdk_provider(car: RunningCar) -> None:
    path = "Vehicle.Cabin.Light.AmbientLight.Row1.DriverSide.Intensity"  # actuator uint8
    seen: asyncio.Queue[Any] = asyncio.Queue()
    current: asyncio.Queue[Any] = asyncio.Queue()

    async def provide(provider: kuksa_aio.VSSClient) -> None:
        async for targets in provider.subscribe_target_values([path]):
            for target_path, dp in targets.items():
                await seen.put(dp.value)
                await provider.set_current_values({target_path: Datapoint(dp.value)})

    async def watch(watcher: kuksa_aio.VSSClient) -> None:
        async for updates in watcher.subscribe_current_values([path]):
            dp = updates.get(path)
            if dp is not None:
                await current.put(dp.value)

    async with (
        kuksa_aio.VSSClient("127.0.0.1", car.grpc_port) as provider,
        kuksa_aio.VSSClient("127.0.0.1", car.grpc_port) as watcher,
        kuksa_aio.VSSClient("127.0.0.1", car.grpc_port) as app,
    ):
        tasks = [asyncio.create_task(provide(provider)), asyncio.create_task(watch(watcher))]
        try:
            deadline = time.monotonic() + TIMEOUT
            while True:
                try:
                    await app.set_target_values({path: Datapoint(70)})
                    break
                except VSSClientError as exc:
                    if codes(exc) != {path: 503} or time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)
            assert await asyncio.wait_for(seen.get(), TIMEOUT) == 70
            while await asyncio.wait_for(current.get(), TIMEOUT) != 70:
                pass
            assert (await app.get_target_values([path]))[path].value == 70
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


# -- tokens -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningCar, bytes]]:
    private, public = generate_key_pair()
    key = tmp_path_factory.mktemp("keys") / "car.pub.pem"
    key.write_bytes(public)
    with running_car(tmp_path_factory.mktemp("secured"), "--jwt-public-key", str(key)) as car:
        yield car, private


def test_tokens(secured: tuple[RunningCar, bytes]) -> None:
    """A read-only token reads but may not actuate (403) or publish (PERMISSION_DENIED); an
    expired token is refused (UNAUTHENTICATED); an actuate token passes the scope check and
    meets the missing provider (503)."""
    car, private = secured
    port = car.grpc_port
    reader = create_token(private, "read:Vehicle.Speed read:Vehicle.Cabin.HVAC.**")
    with VSSClient("127.0.0.1", port, token=reader) as client:
        assert client.get_server_info() is not None
        assert client.get_current_values(["Vehicle.Speed"]) == {"Vehicle.Speed": None}
        with pytest.raises(VSSClientError) as info:
            client.set_target_values({FAN: Datapoint(10)})
        assert codes(info.value) == {FAN: 403}
        with pytest.raises(VSSClientError) as info:
            client.set_current_values({"Vehicle.Speed": Datapoint(10.0)})
        assert info.value.error["code"] == PERMISSION_DENIED
        with pytest.raises(VSSClientError) as info:
            client.get_current_values(["Vehicle.Body.Trunk.Rear.IsOpen"])
        assert codes(info.value) == {"Vehicle.Body.Trunk.Rear.IsOpen": 403}

    expired = create_token(private, "read", expires_in=-60)
    with VSSClient("127.0.0.1", port, token=expired) as client:  # connect only logs it
        with pytest.raises(VSSClientError) as info:
            client.get_current_values(["Vehicle.Speed"])
        assert info.value.error["code"] == UNAUTHENTICATED

    actuator = create_token(private, f"actuate:{FAN}")
    with VSSClient("127.0.0.1", port, token=actuator) as client:
        with pytest.raises(VSSClientError) as info:
            client.set_target_values({FAN: Datapoint(10)})
        assert codes(info.value) == {FAN: 503}


# -- the kuksa-client CLI ---------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def cli_session(address: str, commands: list[str], cwd: Path) -> list[Any]:
    """Run the ``kuksa-client`` CLI with *commands* on stdin; one parsed answer per command
    (JSON as a dict, ``"OK"`` as the string)."""
    result = subprocess.run(
        [KUKSA_CLIENT, f"grpc://{address}"],
        input="\n".join([*commands, "quit", ""]),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    text = _ANSI.sub("", result.stdout)
    assert "Connecting to VSS server at 127.0.0.1" in text
    body = text.split("TLS will not be used.\n", 1)[1]
    blocks = [b.strip() for b in body.split("\n\n") if b.strip()]
    return [b if b == "OK" else json.loads(b) for b in blocks]


def test_cli_session(car: RunningCar, tmp_path: Path) -> None:
    """A scripted session of the ``kuksa-client`` console script (commands on stdin): read,
    publish (v2), set a target that an SDK provider serves (v1 ``Set``), read it back, show
    metadata, and the errors it prints for an unknown path (v1 404) and an out-of-range value
    (v2 INVALID_ARGUMENT)."""
    provider = SdkProvider(car.grpc_port, ["Vehicle.Cabin.HVAC.Station.Row1.Passenger.FanSpeed"])
    passenger_fan = "Vehicle.Cabin.HVAC.Station.Row1.Passenger.FanSpeed"
    try:
        # the provider's claim must be in place before the CLI sets the target
        with VSSClient("127.0.0.1", car.grpc_port) as app:
            once_served(lambda: app.set_target_values({passenger_fan: Datapoint(5)}))
        assert provider.seen.get(timeout=TIMEOUT) == (passenger_fan, 5)
        answers = cli_session(
            car.grpc_address,
            [
                "getValue Vehicle.Powertrain.Range",
                "setValue Vehicle.Powertrain.Range 420000",
                "getValue Vehicle.Powertrain.Range",
                f"setTargetValue {passenger_fan} 80",
                f"getTargetValue {passenger_fan}",
                f"getMetaData {passenger_fan}",
                "getValue Vehicle.NoSuchSignal",
                "setValue Vehicle.Cabin.Sunroof.Position 300",
            ],
            tmp_path,
        )
    finally:
        provider.stop()
    assert len(answers) == 8, answers
    assert answers[0] == {"path": "Vehicle.Powertrain.Range"}
    assert answers[1] == "OK"
    assert answers[2]["value"]["value"] == 420000
    assert answers[3] == "OK"
    assert provider.seen.get(timeout=TIMEOUT) == (passenger_fan, 80)
    assert answers[4]["actuator_target"]["value"] == 80
    metadata = answers[5]["metadata"]
    assert (metadata["data_type"], metadata["entry_type"], metadata["unit"]) == (
        "UINT8",
        "ACTUATOR",
        "percent",
    )
    assert metadata["value_restriction"] == {"min": 0, "max": 100}
    assert answers[6]["error"]["code"] == 404
    assert answers[6]["errors"][0]["path"] == "Vehicle.NoSuchSignal"
    assert answers[7]["error"]["code"] == INVALID_ARGUMENT
