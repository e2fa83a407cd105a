"""``sdv.databroker.v1`` Broker and Collector: raw Velocitas stubs over real gRPC channels to the
real ``carmesh run``.

The reference semantics are those of the Eclipse KUKSA databroker before it dropped this API
in 0.7.0: eclipse-kuksa/kuksa-databroker, ``databroker/src/grpc/sdv_databroker_v1/`` (broker.rs,
collector.rs, conversions.rs) and ``proto/sdv/databroker/v1/``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.unknown_fields import UnknownFieldSet
from hypothesis import given, settings
from hypothesis import strategies as st
from velocitas_sdk.proto import broker_pb2, collector_pb2, types_pb2

from carmesh.api.grpc.sdv_v1 import WrongType, from_wire, to_wire, wire_field
from carmesh.api.tokens import create_token, generate_key_pair
from carmesh.broker import Datapoint as BrokerDatapoint
from carmesh.vss import Catalog, DataType, Node, NodeType
from carmesh.vss.model import INTEGER_RANGES
from tests.api.sdv_support import (
    OVERLAY_SIGNALS,
    SERVED,
    TEST_BRANCH,
    TIMEOUT,
    UNSERVED,
    ActuationProvider,
    Sdv,
    bearer,
    connect,
    overlay,
    publish,
    register,
    rpc_error,
    stream_error,
    type_signal,
)
from tests.support.car import RunningCar, running_car

Datapoint = types_pb2.Datapoint
NOT_AVAILABLE = Datapoint.NOT_AVAILABLE
SEAT_HEIGHT = "Vehicle.Cabin.Seat.Row1.DriverSide.Height"  # uint16 actuator, min 0


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    root = tmp_path_factory.mktemp("sdv")
    (root / "sdv.yaml").write_text(overlay())
    with running_car(root / "car", "--overlay", str(root / "sdv.yaml")) as running:
        yield running


@pytest.fixture
async def sdv(car: RunningCar) -> AsyncIterator[Sdv]:
    async with connect(car.grpc_address) as client:
        yield client


def get_request(*paths: str) -> Any:
    return broker_pb2.GetDatapointsRequest(datapoints=list(paths))


async def get(sdv: Sdv, *paths: str, md: Any = ()) -> Any:
    reply = await sdv.broker.GetDatapoints(get_request(*paths), metadata=md, timeout=TIMEOUT)
    return reply.datapoints


def held(dp: Any) -> Any:
    which = dp.WhichOneof("value")
    value = getattr(dp, which)
    return list(value.values) if which.endswith("_array") else value


# -- GetDatapoints ---------------------------------------------------------------------------


async def test_get_datapoints_answers_every_path(sdv: Sdv) -> None:
    """broker.rs ``get_datapoints``: one entry per requested path, a failure value for paths
    without a value (NOT_AVAILABLE) and for unknown ones (UNKNOWN_DATAPOINT; branches are no
    datapoints either); an empty request is INVALID_ARGUMENT."""
    before = time.time()
    await publish(sdv, "Vehicle.Exterior.AirTemperature", "FLOAT", float_value=21.5)
    got = await get(
        sdv, "Vehicle.Exterior.AirTemperature", "Vehicle.Exterior.Humidity", "Vehicle.Nope",
        "Vehicle.Exterior",
    )  # fmt: skip
    temperature = got["Vehicle.Exterior.AirTemperature"]
    assert temperature.WhichOneof("value") == "float_value"
    assert temperature.float_value == 21.5
    assert before - 1 <= temperature.timestamp.seconds <= time.time() + 1
    assert got["Vehicle.Exterior.Humidity"].failure_value == NOT_AVAILABLE
    assert got["Vehicle.Nope"].failure_value == Datapoint.UNKNOWN_DATAPOINT
    assert got["Vehicle.Exterior"].failure_value == Datapoint.UNKNOWN_DATAPOINT

    error = await rpc_error(sdv.broker.GetDatapoints(get_request(), timeout=TIMEOUT))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


CASES: dict[DataType, tuple[str, Any]] = {
    DataType.STRING: ("string_value", "grüezi"),
    DataType.BOOLEAN: ("bool_value", True),
    DataType.INT8: ("int32_value", -128),
    DataType.INT16: ("int32_value", -32768),
    DataType.INT32: ("int32_value", -(2**31)),
    DataType.INT64: ("int64_value", -(2**63)),
    DataType.UINT8: ("uint32_value", 255),
    DataType.UINT16: ("uint32_value", 65535),
    DataType.UINT32: ("uint32_value", 2**32 - 1),
    DataType.UINT64: ("uint64_value", 2**64 - 1),
    DataType.FLOAT: ("float_value", 1.5),
    DataType.DOUBLE: ("double_value", 1e300),
}


def wire(datatype: DataType, value: Any) -> Datapoint:
    field = CASES[datatype.element][0]
    if not datatype.is_array:
        return Datapoint(**{field: value})
    array = field.replace("_value", "_array")
    message = Datapoint()
    getattr(message, array).values.extend(value)
    return message


async def test_every_type_travels_in_its_field(sdv: Sdv) -> None:
    """conversions.rs: int8/int16 travel as int32, uint8/uint16 as uint32, each type in its own
    field and arrays in the matching ``*_array``; RegisterDatapoints gives the ids that
    UpdateDatapoints takes."""
    ids: dict[str, int] = {}
    values: dict[str, Any] = {}
    updates = {}
    for datatype in DataType:
        path = type_signal(datatype)
        wire_type = datatype.value.replace("boolean", "bool").replace("[]", "_array").upper()
        ids[path] = await register(sdv, path, wire_type)
        scalar = CASES[datatype.element][1]
        values[path] = [scalar, scalar] if datatype.is_array else scalar
        updates[ids[path]] = wire(datatype, values[path])
    reply = await sdv.collector.UpdateDatapoints(
        collector_pb2.UpdateDatapointsRequest(datapoints=updates), timeout=TIMEOUT
    )
    assert dict(reply.errors) == {}
    got = await get(sdv, *values)
    for datatype in DataType:
        path = type_signal(datatype)
        field = CASES[datatype.element][0]
        expected_field = field.replace("_value", "_array") if datatype.is_array else field
        assert got[path].WhichOneof("value") == expected_field, path
        assert held(got[path]) == values[path], path


def values_of(datatype: DataType) -> st.SearchStrategy[Any]:
    """Valid values of *datatype* (floats that survive the 32-bit ``float_value``)."""
    element = datatype.element
    if element is DataType.STRING:
        scalar: st.SearchStrategy[Any] = st.text()
    elif element is DataType.BOOLEAN:
        scalar = st.booleans()
    elif element is DataType.FLOAT:
        scalar = st.floats(allow_nan=False, allow_infinity=False, width=32)
    elif element is DataType.DOUBLE:
        scalar = st.floats(allow_nan=False, allow_infinity=False)
    else:
        lo, hi = INTEGER_RANGES[element.value]
        scalar = st.integers(lo, hi)
    return st.lists(scalar, max_size=5) if datatype.is_array else scalar


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(DataType)).flatmap(lambda t: st.tuples(st.just(t), values_of(t))))
def test_values_convert_both_ways(case: tuple[DataType, Any]) -> None:
    datatype, value = case
    node = Node(1, "Vehicle.X", NodeType.SENSOR, "x", datatype=datatype)
    message = Datapoint()
    to_wire(message, datatype, BrokerDatapoint(value, 1_700_000_000_123_456_789))
    parsed = Datapoint.FromString(message.SerializeToString())
    assert from_wire(parsed, node) == value
    assert (parsed.timestamp.seconds, parsed.timestamp.nanos) == (1_700_000_000, 123_456_789)
    other = next(t for t in DataType if wire_field(t) != wire_field(datatype))
    with pytest.raises(WrongType):
        from_wire(parsed, Node(2, "Vehicle.Y", NodeType.SENSOR, "y", datatype=other))


# -- Collector -------------------------------------------------------------------------------


async def test_update_datapoints_reports_each_failed_id(sdv: Sdv, catalog: Catalog) -> None:
    """collector.rs ``update_datapoints`` answers OK with a ``DatapointError`` per failed id
    (conversions.rs: NotFound → UNKNOWN_DATAPOINT, WrongType → INVALID_TYPE, out of
    min/max/allowed/type range → OUT_OF_BOUNDS); the valid entries are applied."""
    percent = await register(sdv, f"{TEST_BRANCH}.Percent", "UINT8")
    mode = await register(sdv, f"{TEST_BRANCH}.Mode", "STRING")
    int8 = await register(sdv, type_signal(DataType.INT8), "INT8")
    speed = await register(sdv, "Vehicle.Speed", "FLOAT")
    cabin = catalog["Vehicle.Cabin"].id
    reply = await sdv.collector.UpdateDatapoints(
        collector_pb2.UpdateDatapointsRequest(
            datapoints={
                speed: Datapoint(float_value=88.0),
                percent: Datapoint(uint32_value=101),
                mode: Datapoint(string_value="TURBO"),
                int8: Datapoint(int32_value=128),
                999_999: Datapoint(float_value=1.0),
                cabin: Datapoint(float_value=1.0),
            }
        ),
        timeout=TIMEOUT,
    )
    assert dict(reply.errors) == {
        percent: types_pb2.OUT_OF_BOUNDS,
        mode: types_pb2.OUT_OF_BOUNDS,
        int8: types_pb2.OUT_OF_BOUNDS,
        999_999: types_pb2.UNKNOWN_DATAPOINT,
        cabin: types_pb2.UNKNOWN_DATAPOINT,
    }
    assert (await get(sdv, "Vehicle.Speed"))["Vehicle.Speed"].float_value == 88.0

    wrong = await sdv.collector.UpdateDatapoints(
        collector_pb2.UpdateDatapointsRequest(
            datapoints={
                speed: Datapoint(double_value=1.0),
                percent: Datapoint(int32_value=5),
                mode: Datapoint(failure_value=NOT_AVAILABLE),
                int8: Datapoint(),
            }
        ),
        timeout=TIMEOUT,
    )
    assert set(wrong.errors.values()) == {types_pb2.INVALID_TYPE}
    assert len(wrong.errors) == 4


async def test_register_datapoints_maps_names_to_catalog_ids(sdv: Sdv, catalog: Catalog) -> None:
    """collector.rs ``register_datapoints`` answers a name → id map, or fails the whole call
    (INVALID_ARGUMENT for an unsupported data or change type). carmesh adds no signals at run
    time, so an unknown name is NOT_FOUND, and a type unlike the catalog's INVALID_ARGUMENT."""
    node_id = await register(sdv, "Vehicle.Speed", "FLOAT")
    assert node_id == catalog["Vehicle.Speed"].id
    metadata = await sdv.broker.GetMetadata(broker_pb2.GetMetadataRequest(names=["Vehicle.Speed"]))
    assert metadata.list[0].id == node_id

    for path, data_type, code, words in [
        ("Vehicle.Speed", "INT32", grpc.StatusCode.INVALID_ARGUMENT, "it is FLOAT in the catalog"),
        ("Vehicle.Teleporter", "BOOL", grpc.StatusCode.NOT_FOUND, "--overlay"),
        ("Vehicle.Cabin", "BOOL", grpc.StatusCode.NOT_FOUND, "a branch"),
    ]:
        error = await rpc_error(register(sdv, path, data_type))
        assert error.code() is code, path
        assert words in (error.details() or ""), error.details()
    bad_type = collector_pb2.RegistrationMetadata(name="Vehicle.Speed", data_type=77)
    error = await rpc_error(
        sdv.collector.RegisterDatapoints(collector_pb2.RegisterDatapointsRequest(list=[bad_type]))
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_stream_datapoints_publishes_and_answers_errors(sdv: Sdv) -> None:
    """collector.rs ``stream_datapoints``: each message is applied as UpdateDatapoints is; a
    reply goes back only for messages with errors."""
    temperature = await register(sdv, "Vehicle.Cabin.HVAC.AmbientAirTemperature", "FLOAT")
    requests: asyncio.Queue[Any] = asyncio.Queue()

    async def outgoing() -> AsyncIterator[Any]:
        while (message := await requests.get()) is not None:
            yield message

    call = sdv.collector.StreamDatapoints(outgoing())
    for value in (18.0, 19.0, 20.5):
        update = {temperature: Datapoint(float_value=value)}
        await requests.put(collector_pb2.StreamDatapointsRequest(datapoints=update))
    await requests.put(
        collector_pb2.StreamDatapointsRequest(datapoints={temperature: Datapoint(bool_value=True)})
    )
    reply = await asyncio.wait_for(call.read(), TIMEOUT)
    assert dict(reply.errors) == {temperature: types_pb2.INVALID_TYPE}
    got = await get(sdv, "Vehicle.Cabin.HVAC.AmbientAirTemperature")
    assert got["Vehicle.Cabin.HVAC.AmbientAirTemperature"].float_value == 20.5
    await requests.put(None)
    assert await asyncio.wait_for(call.code(), TIMEOUT) is grpc.StatusCode.OK


# -- GetMetadata -----------------------------------------------------------------------------


async def test_get_metadata(sdv: Sdv, catalog: Catalog) -> None:
    """broker.rs ``get_metadata``: the named datapoints that exist (unknown names left out),
    every datapoint when no name is given. The entry type travels as field 2 as in the
    databroker's types.proto, which velocitas-sdk's copy lacks."""
    reply = await sdv.broker.GetMetadata(
        broker_pb2.GetMetadataRequest(
            names=[
                "Vehicle.Speed",
                "Vehicle.Nope",
                SEAT_HEIGHT,
                "Vehicle.VehicleIdentification.VIN",
            ]
        ),
        timeout=TIMEOUT,
    )
    speed, height, vin = reply.list
    assert (speed.id, speed.name, speed.data_type) == (
        catalog["Vehicle.Speed"].id,
        "Vehicle.Speed",
        types_pb2.FLOAT,
    )
    assert speed.description == catalog["Vehicle.Speed"].description
    assert speed.change_type == types_pb2.CONTINUOUS
    assert (height.name, height.data_type) == (SEAT_HEIGHT, types_pb2.UINT16)
    assert vin.data_type == types_pb2.STRING
    entry_types = [[(f.field_number, f.data) for f in UnknownFieldSet(m)] for m in reply.list]
    assert entry_types == [[(2, 1)], [(2, 2)], [(2, 3)]]  # sensor, actuator, attribute

    everything = await sdv.broker.GetMetadata(broker_pb2.GetMetadataRequest(), timeout=TIMEOUT)
    assert len(everything.list) == len(catalog.leaves) + OVERLAY_SIGNALS


# -- SetDatapoints ---------------------------------------------------------------------------


async def test_set_datapoints_reports_each_failed_path(sdv: Sdv) -> None:
    """broker.rs ``set_datapoints`` answers OK with a ``DatapointError`` per path: sensors and
    attributes are ACCESS_DENIED (only actuators have targets), unknown paths
    UNKNOWN_DATAPOINT, the wrong field INVALID_TYPE, out of range OUT_OF_BOUNDS. An actuator
    that no provider serves has no word in that enum: INTERNAL_ERROR."""
    reply = await sdv.broker.SetDatapoints(
        broker_pb2.SetDatapointsRequest(
            datapoints={
                "Vehicle.Speed": Datapoint(float_value=5.0),
                "Vehicle.VehicleIdentification.VIN": Datapoint(string_value="X"),
                "Vehicle.Warp": Datapoint(bool_value=True),
                "Vehicle.Cabin": Datapoint(bool_value=True),
                SEAT_HEIGHT: Datapoint(int32_value=5),
                "Vehicle.Cabin.Seat.Row1.DriverSide.Position": Datapoint(uint32_value=70000),
                f"{TEST_BRANCH}.Mode": Datapoint(string_value="TURBO"),
                UNSERVED: Datapoint(uint32_value=10),
            }
        ),
        timeout=TIMEOUT,
    )
    assert dict(reply.errors) == {
        "Vehicle.Speed": types_pb2.ACCESS_DENIED,
        "Vehicle.VehicleIdentification.VIN": types_pb2.ACCESS_DENIED,
        "Vehicle.Warp": types_pb2.UNKNOWN_DATAPOINT,
        "Vehicle.Cabin": types_pb2.UNKNOWN_DATAPOINT,
        SEAT_HEIGHT: types_pb2.INVALID_TYPE,
        "Vehicle.Cabin.Seat.Row1.DriverSide.Position": types_pb2.OUT_OF_BOUNDS,
        f"{TEST_BRANCH}.Mode": types_pb2.OUT_OF_BOUNDS,
        UNSERVED: types_pb2.INTERNAL_ERROR,
    }


async def test_set_datapoints_requests_the_actuator_target(sdv: Sdv) -> None:
    """What a Velocitas app's ``DataPoint.set`` does: the target goes to the provider that
    claimed the actuator (here one on kuksa.val.v2 ``OpenProviderStream``), and the reply
    has no errors."""
    provider = ActuationProvider(sdv.channel)
    await provider.claim(SERVED)
    try:
        reply = await sdv.broker.SetDatapoints(
            broker_pb2.SetDatapointsRequest(datapoints={SERVED: Datapoint(uint32_value=420)}),
            timeout=TIMEOUT,
        )
        assert dict(reply.errors) == {}
        signal, value = await provider.actuation()
        assert value == 420
        metadata = await sdv.broker.GetMetadata(broker_pb2.GetMetadataRequest(names=[SERVED]))
        assert signal in (SERVED, metadata.list[0].id)
    finally:
        await provider.close()


# -- Subscribe -------------------------------------------------------------------------------


async def next_reply(call: Any) -> dict[str, Any]:
    reply = await asyncio.wait_for(call.read(), TIMEOUT)
    assert reply is not grpc.aio.EOF
    return {name: dp for name, dp in reply.fields.items()}


async def test_subscribe_starts_with_the_current_values(sdv: Sdv) -> None:
    """broker.rs ``subscribe`` runs the query at once (the current values, NOT_AVAILABLE for
    a signal without one) and again each time one of its signals is written."""
    lateral = "Vehicle.Acceleration.Lateral"
    call = sdv.broker.Subscribe(broker_pb2.SubscribeRequest(query=f"SELECT {lateral}"))
    try:
        first = await next_reply(call)
        assert first[lateral].failure_value == NOT_AVAILABLE
        for value in (0.5, 0.5, -1.25):  # a sensor notifies on every write
            await publish(sdv, lateral, "FLOAT", float_value=value)
            reply = await next_reply(call)
            assert reply[lateral].float_value == value
            assert reply[lateral].timestamp.seconds > 0
    finally:
        call.cancel()


async def test_subscribe_answers_only_while_the_condition_holds(sdv: Sdv) -> None:
    """doc/QUERY.md: a response each time a selected or condition signal is written and the
    WHERE condition holds; select items can be named with AS and can be conditions."""
    angle = "Vehicle.Chassis.SteeringWheel.Angle"  # int16
    longitudinal = "Vehicle.Acceleration.Longitudinal"  # float
    await publish(sdv, angle, "INT16", int32_value=-90)
    await publish(sdv, longitudinal, "FLOAT", float_value=0.0)
    query = (
        f"SELECT {angle} AS angle, {longitudinal} > 2 AS hard, {longitudinal} "
        f"WHERE {longitudinal} > 0 AND {angle} BETWEEN -180 AND 180"
    )
    call = sdv.broker.Subscribe(broker_pb2.SubscribeRequest(query=query))
    try:
        await publish(sdv, angle, "INT16", int32_value=10)  # condition false: nothing
        await publish(sdv, longitudinal, "FLOAT", float_value=3.0)
        reply = await next_reply(call)
        assert set(reply) == {"angle", "hard", longitudinal}
        assert reply["angle"].int32_value == 10
        assert reply["hard"].bool_value is True
        assert reply[longitudinal].float_value == 3.0
        await publish(sdv, angle, "INT16", int32_value=200)  # outside BETWEEN: nothing
        await publish(sdv, longitudinal, "FLOAT", float_value=1.0)  # still nothing
        await publish(sdv, angle, "INT16", int32_value=-45)
        reply = await next_reply(call)
        assert (reply["angle"].int32_value, reply["hard"].bool_value) == (-45, False)
    finally:
        call.cancel()


async def test_subscriptions_end_with_unavailable_when_carmesh_stops(tmp_path: Path) -> None:
    """broker.rs ``subscribe``: on shutdown the stream ends with UNAVAILABLE."""
    with running_car(tmp_path / "car") as stopping_car:
        async with connect(stopping_car.grpc_address) as sdv:
            call = sdv.broker.Subscribe(broker_pb2.SubscribeRequest(query="SELECT Vehicle.Speed"))
            assert (await next_reply(call))["Vehicle.Speed"].failure_value == NOT_AVAILABLE
            started = time.monotonic()
            await asyncio.to_thread(stopping_car.stop)
            assert await asyncio.wait_for(call.code(), TIMEOUT) is grpc.StatusCode.UNAVAILABLE
            assert "stopping" in await call.details()
            assert time.monotonic() - started < 2
            assert stopping_car.process.returncode == 0


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("SELECT", "expected a signal path"),
        ("SELECT Vehicle.Speed WHERE", "character 27"),
        ("SELECT Vehicle.Speed WHERE Vehicle.Speed >", "expected a signal path"),
        ("SELECT Vehicle.Nope", "Vehicle.Nope, which is not a signal"),
        ("SELECT Vehicle.Speed WHERE Vehicle.Speed = 'fast'", "cannot compare"),
        ("", "the query is empty"),
    ],
)
async def test_subscribe_refuses_bad_queries(sdv: Sdv, query: str, words: str) -> None:
    """broker.rs ``subscribe``: a query that does not compile is INVALID_ARGUMENT (which also
    stops velocitas-sdk from retrying)."""
    error = await stream_error(sdv.broker.Subscribe(broker_pb2.SubscribeRequest(query=query)))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert words in (error.details() or "")


# -- tokens ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_key_pair()


@pytest.fixture(scope="module")
def secured_car(
    tmp_path_factory: pytest.TempPathFactory, keys: tuple[bytes, bytes]
) -> Iterator[RunningCar]:
    root = tmp_path_factory.mktemp("sdv-tokens")
    (root / "key.pub").write_bytes(keys[1])
    with running_car(root / "car", "--jwt-public-key", str(root / "key.pub")) as running:
        yield running


async def test_calls_without_a_valid_token_are_unauthenticated(
    secured_car: RunningCar, keys: tuple[bytes, bytes]
) -> None:
    """The databroker answers UNAUTHENTICATED on every sdv call without valid credentials."""
    expired = create_token(keys[0], "read", expires_in=-10)
    async with connect(secured_car.grpc_address) as sdv:
        for md in [(), bearer(expired), bearer("not-a-jwt")]:
            calls = [
                sdv.broker.GetDatapoints(get_request("Vehicle.Speed"), metadata=md),
                sdv.broker.SetDatapoints(broker_pb2.SetDatapointsRequest(), metadata=md),
                sdv.broker.GetMetadata(broker_pb2.GetMetadataRequest(), metadata=md),
                sdv.collector.RegisterDatapoints(
                    collector_pb2.RegisterDatapointsRequest(), metadata=md
                ),
                sdv.collector.UpdateDatapoints(
                    collector_pb2.UpdateDatapointsRequest(), metadata=md
                ),
            ]
            for call in calls:
                assert (await rpc_error(call)).code() is grpc.StatusCode.UNAUTHENTICATED
            for stream in [
                sdv.broker.Subscribe(
                    broker_pb2.SubscribeRequest(query="SELECT Vehicle.Speed"), metadata=md
                ),
                sdv.collector.StreamDatapoints(iter(()), metadata=md),
            ]:
                assert (await stream_error(stream)).code() is grpc.StatusCode.UNAUTHENTICATED


async def test_scopes_limit_what_a_caller_sees_and_changes(
    secured_car: RunningCar, keys: tuple[bytes, bytes], catalog: Catalog
) -> None:
    """Missing scopes are ACCESS_DENIED inside Get/Set/Update replies, as in the databroker;
    carmesh also checks the read scope on Subscribe and GetMetadata (PERMISSION_DENIED), which
    the databroker did not."""
    token = create_token(keys[0], "read:Vehicle.Speed provide:Vehicle.Exterior.**")
    md = bearer(token)
    async with connect(secured_car.grpc_address) as sdv:
        got = await get(sdv, "Vehicle.Speed", "Vehicle.IsMoving", md=md)
        assert got["Vehicle.Speed"].failure_value == NOT_AVAILABLE
        assert got["Vehicle.IsMoving"].failure_value == Datapoint.ACCESS_DENIED

        reply = await sdv.broker.SetDatapoints(
            broker_pb2.SetDatapointsRequest(datapoints={SEAT_HEIGHT: Datapoint(uint32_value=1)}),
            metadata=md,
        )
        assert dict(reply.errors) == {SEAT_HEIGHT: types_pb2.ACCESS_DENIED}

        for query in ["SELECT Vehicle.IsMoving", "SELECT Vehicle.Speed WHERE Vehicle.IsMoving"]:
            request = broker_pb2.SubscribeRequest(query=query)
            error = await stream_error(sdv.broker.Subscribe(request, metadata=md))
            assert error.code() is grpc.StatusCode.PERMISSION_DENIED

        request = broker_pb2.GetMetadataRequest(names=["Vehicle.IsMoving"])
        error = await rpc_error(sdv.broker.GetMetadata(request, metadata=md))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        visible = await sdv.broker.GetMetadata(broker_pb2.GetMetadataRequest(), metadata=md)
        expected = 1 + len(catalog.match("Vehicle.Exterior.**"))  # provide implies read
        assert len(visible.list) == expected

        temperature = await register(sdv, "Vehicle.Exterior.AirTemperature", "FLOAT", md)
        error = await rpc_error(register(sdv, "Vehicle.Speed", "FLOAT", md))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        speed = catalog["Vehicle.Speed"].id
        update = collector_pb2.UpdateDatapointsRequest(
            datapoints={
                temperature: Datapoint(float_value=3.5),
                speed: Datapoint(float_value=1.0),
            }
        )
        reply = await sdv.collector.UpdateDatapoints(update, metadata=md)
        assert dict(reply.errors) == {speed: types_pb2.ACCESS_DENIED}
        got = await get(sdv, "Vehicle.Exterior.AirTemperature", md=md)
        assert got["Vehicle.Exterior.AirTemperature"].float_value == 3.5


# -- without velocitas-sdk -------------------------------------------------------------------


def test_without_the_stubs_the_rest_is_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """velocitas-sdk is optional: without it carmesh warns once and serves the other APIs."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['velocitas_sdk'] = None\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hide), os.environ.get("PYTHONPATH", "")]))
    with running_car(tmp_path / "car") as car:
        output = "\n".join(car.output)
        assert output.count("sdv.databroker.v1 is not served: install velocitas-sdk") == 1
        with grpc.insecure_channel(car.grpc_address) as channel:
            grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
            call = channel.unary_unary("/sdv.databroker.v1.Broker/GetMetadata")
            with pytest.raises(grpc.RpcError) as caught:
                call(b"", timeout=TIMEOUT)
            assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
        assert car.process.poll() is None
