"""kuksa.val.v2 against the real ``carmesh run``: reading, publishing, actuating, metadata,
subscriptions and their status codes.

Status codes are those of the Eclipse KUKSA databroker; each test cites where: repository
eclipse-kuksa/kuksa-databroker, files ``databroker/src/grpc/kuksa_val_v2/val.rs`` (the
service), ``…/kuksa_val_v2/conversions.rs`` (error mapping), ``databroker/src/broker.rs``
(validation) and ``proto/kuksa/val/v2/val.proto`` (the documented contract).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from carmesh import __version__
from tests.api.val_v2_support import (
    CATALOG,
    TIMEOUT,
    ProviderCall,
    actuate_request,
    datapoint,
    expect_code,
    get,
    held,
    ident,
    publish,
    sid,
    value,
)
from tests.support.car import RunningCar, running_car

NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE

SPEED = "Vehicle.Speed"  # sensor, float
GEAR = "Vehicle.Powertrain.Transmission.CurrentGear"  # sensor, int8
CLUTCH_WEAR = "Vehicle.Powertrain.Transmission.ClutchWear"  # sensor, uint8, max 100
DISTANCE = "Vehicle.TraveledDistance"  # sensor, uint32
CELLS = "Vehicle.Powertrain.TractionBattery.Temperature.CellTemperature"  # sensor, float[]
VIN = "Vehicle.VehicleIdentification.VIN"  # attribute, string
EXTRAS = "Vehicle.VehicleIdentification.OptionalExtras"  # attribute, string[]
VOLUME = "Vehicle.Cabin.Infotainment.Media.Volume"  # actuator, uint8, 0..100
MODE = "Vehicle.Powertrain.Transmission.PerformanceMode"  # actuator, string, allowed


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    with running_car(tmp_path_factory.mktemp("v2") / "car") as running:
        yield running


@pytest.fixture
async def stub(car: RunningCar) -> AsyncIterator[val_pb2_grpc.VALStub]:
    async with grpc.aio.insecure_channel(car.grpc_address) as channel:
        yield val_pb2_grpc.VALStub(channel)


async def test_server_info(stub: val_pb2_grpc.VALStub) -> None:
    info = await stub.GetServerInfo(val_pb2.GetServerInfoRequest(), timeout=TIMEOUT)
    assert (info.name, info.version, info.commit_hash) == ("carmesh", __version__, "")


async def test_signal_without_value_gives_an_empty_datapoint(
    stub: val_pb2_grpc.VALStub,
) -> None:
    """val.proto, GetValue: "If the signal exist but does not have a valid value a DataPoint
    where value is None shall be returned"; GetValues likewise."""
    response = await stub.GetValue(
        val_pb2.GetValueRequest(signal_id=sid("Vehicle.Body.Horn.IsActive")), timeout=TIMEOUT
    )
    assert response.HasField("data_point")
    assert not response.data_point.HasField("value")
    # An attribute with a catalog default has that value from the start.
    major = await get(stub, "Vehicle.VersionVSS.Major")
    assert held(major) == 6


async def test_publish_then_get_by_path_and_id(stub: val_pb2_grpc.VALStub) -> None:
    await publish(stub, SPEED, float=87.5)
    by_path, by_id = await get(stub, SPEED), await get(stub, ident(SPEED))
    assert held(by_path) == held(by_id) == 87.5
    assert abs(by_path.timestamp.seconds - time.time()) < 30
    # Integers travel in the zig-zag sint32 field for int8, uint32 for uint32, arrays as arrays.
    await publish(stub, GEAR, int32=-1)
    await publish(stub, DISTANCE, uint32=4_000_000_000)
    await publish(stub, CELLS, float_array=[20.5, 21.0])
    await publish(stub, EXTRAS, string_array=["towbar", "roof rack"])
    assert held(await get(stub, GEAR)) == -1
    assert held(await get(stub, DISTANCE)) == 4_000_000_000
    assert held(await get(stub, CELLS)) == [20.5, 21.0]
    assert held(await get(stub, EXTRAS)) == ["towbar", "roof rack"]


async def test_published_timestamp_is_kept(stub: val_pb2_grpc.VALStub) -> None:
    stamp = 1_700_000_000_123_456_789
    request = val_pb2.PublishValueRequest(
        signal_id=sid("Vehicle.Powertrain.Transmission.Temperature"),
        data_point=datapoint(stamp, float=71.0),
    )
    await stub.PublishValue(request, timeout=TIMEOUT)
    got = await get(stub, "Vehicle.Powertrain.Transmission.Temperature")
    assert (got.timestamp.seconds, got.timestamp.nanos) == (1_700_000_000, 123_456_789)


async def test_get_values_answers_in_request_order(stub: val_pb2_grpc.VALStub) -> None:
    """val.proto, GetValues: "The returned list of data points has the same order as the
    list of the request"; an empty request gives an empty list (val.rs,
    test_get_values_no_signals_ok)."""
    await publish(stub, "Vehicle.Body.Trunk.Rear.IsLightOn", bool=True)
    await publish(stub, "Vehicle.Exterior.AirTemperature", float=-3.5)
    ids = [
        sid("Vehicle.Exterior.AirTemperature"),
        sid(ident("Vehicle.Body.Trunk.Rear.IsLightOn")),
        sid("Vehicle.Body.Horn.IsActive"),
        sid("Vehicle.Exterior.AirTemperature"),
    ]
    response = await stub.GetValues(val_pb2.GetValuesRequest(signal_ids=ids), timeout=TIMEOUT)
    assert [held(dp) for dp in response.data_points] == [-3.5, True, None, -3.5]
    empty = await stub.GetValues(val_pb2.GetValuesRequest(), timeout=TIMEOUT)
    assert list(empty.data_points) == []


async def test_unknown_signals_are_not_found(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs get_signal(): an unknown path or id → ``Status::not_found("Path not found")``
    (tests test_get_value_name_not_defined, test_get_value_id_not_defined,
    test_publish_value_signal_id_not_found, test_actuate_signal_not_found,
    test_batch_actuate_signal_not_found); a branch is no signal either."""
    unknown = [sid("Vehicle.NoSuchThing"), sid(999_999), sid("Vehicle.Cabin")]
    for signal in unknown:
        await expect_code(stub.GetValue(val_pb2.GetValueRequest(signal_id=signal)), NOT_FOUND)
        await expect_code(
            stub.GetValues(val_pb2.GetValuesRequest(signal_ids=[sid(SPEED), signal])), NOT_FOUND
        )
        await expect_code(
            stub.PublishValue(
                val_pb2.PublishValueRequest(signal_id=signal, data_point=datapoint(float=1.0))
            ),
            NOT_FOUND,
        )
        await expect_code(
            stub.Actuate(val_pb2.ActuateRequest(signal_id=signal, value=value(bool=True))),
            NOT_FOUND,
        )
        batch = [actuate_request(VOLUME, uint32=1), val_pb2.ActuateRequest(signal_id=signal)]
        await expect_code(
            stub.BatchActuate(val_pb2.BatchActuateRequest(actuate_requests=batch)), NOT_FOUND
        )
    await expect_code(
        stub.Subscribe(val_pb2.SubscribeRequest(signal_paths=[SPEED, "Vehicle.Nope"])).read(),
        NOT_FOUND,
    )
    await expect_code(
        stub.SubscribeById(val_pb2.SubscribeByIdRequest(signal_ids=[ident(SPEED), 0])).read(),
        NOT_FOUND,
    )


async def test_malformed_requests_are_invalid_arguments(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs: a missing SignalID or one with neither path nor id → ``invalid_argument("No
    SignalId provided")`` (get_signal, test_get_value_with_signal_id_none); a path over
    MAX_REQUEST_PATH_LENGTH → "The provided path is too long"; no datapoint → "No datapoint
    provided for publish_value"; actuate without value → "No value provided"; Subscribe
    with no paths → InvalidInput → "No valid id or path specified"; buffer_size above
    MAX_SUBSCRIBE_BUFFER_SIZE (1000, broker.rs) → INVALID_ARGUMENT. carmesh also refuses
    an empty path and an empty Value (the databroker panics on the latter:
    conversions.rs ``From<proto::Value>``: ``None => todo!()``)."""
    for signal in (None, types_pb2.SignalID(), sid(""), sid("Vehicle." + "X" * 1000)):
        details = await expect_code(
            stub.GetValue(val_pb2.GetValueRequest(signal_id=signal)), INVALID
        )
        assert "SignalID" in details or "path" in details
    details = await expect_code(
        stub.PublishValue(val_pb2.PublishValueRequest(signal_id=sid(SPEED))), INVALID
    )
    assert "data_point" in details
    details = await expect_code(
        stub.PublishValue(
            val_pb2.PublishValueRequest(signal_id=sid(SPEED), data_point=types_pb2.Datapoint())
        ),
        INVALID,
    )
    assert details == f"no value was given for {SPEED}"
    await expect_code(stub.Actuate(val_pb2.ActuateRequest(signal_id=sid(VOLUME))), INVALID)
    await expect_code(stub.Actuate(val_pb2.ActuateRequest(value=value(uint32=1))), INVALID)
    await expect_code(stub.Subscribe(val_pb2.SubscribeRequest()).read(), INVALID)
    await expect_code(stub.SubscribeById(val_pb2.SubscribeByIdRequest()).read(), INVALID)
    too_big = val_pb2.SubscribeRequest(signal_paths=[SPEED], buffer_size=1001)
    assert "1000" in await expect_code(stub.Subscribe(too_big).read(), INVALID)


async def test_bad_values_are_invalid_arguments(stub: val_pb2_grpc.VALStub) -> None:
    """broker.rs validate_value(): a Value in the wrong field → WrongType, an integer that
    overflows its width → OutOfBoundsType, outside min/max → OutOfBoundsMinMax, not in
    allowed → OutOfBoundsAllowed; conversions.rs to_status_with_code() and
    ActuationError::to_tonic_status() make all of them INVALID_ARGUMENT (val.rs tests
    test_publish_value_min_max_not_fulfilled, test_actuate_out_of_range,
    test_batch_actuate_out_of_range). Nothing is stored."""
    await publish(stub, CLUTCH_WEAR, uint32=10)
    bad_publishes: list[tuple[str, dict[str, Any]]] = [
        (SPEED, {"int32": 5}),  # float signal, integer field
        (CLUTCH_WEAR, {"int32": 5}),  # uint8 rides in uint32, not int32
        (CLUTCH_WEAR, {"uint32": 300}),  # overflows uint8
        (CLUTCH_WEAR, {"uint32": 101}),  # above max 100
        (GEAR, {"int32": 200}),  # overflows int8
        (VIN, {"bool": True}),
        (CELLS, {"float": 1.0}),  # array signal, scalar value
        (SPEED, {"float": float("nan")}),
    ]
    for path, typed in bad_publishes:
        details = await expect_code(
            stub.PublishValue(
                val_pb2.PublishValueRequest(signal_id=sid(path), data_point=datapoint(**typed))
            ),
            INVALID,
        )
        assert path in details
    assert held(await get(stub, CLUTCH_WEAR)) == 10
    # Actuation targets are checked before any provider is looked for.
    bad_targets = [
        actuate_request(VOLUME, uint32=101),
        actuate_request(VOLUME, float=1.0),
        actuate_request(MODE, string="WARP"),
    ]
    for request in bad_targets:
        await expect_code(stub.Actuate(request), INVALID)
        await expect_code(
            stub.BatchActuate(val_pb2.BatchActuateRequest(actuate_requests=[request])), INVALID
        )


async def test_actuating_a_sensor_is_an_invalid_argument(stub: val_pb2_grpc.VALStub) -> None:
    """broker.rs validate_actuator_update(): "Tried to set a value for a non-actuator" →
    ActuationError::WrongType → INVALID_ARGUMENT (conversions.rs to_tonic_status); val.proto
    Actuate: "INVALID_ARGUMENT if the provided path is not an actuator"."""
    details = await expect_code(stub.Actuate(actuate_request(SPEED, float=1.0)), INVALID)
    assert "not an actuator" in details


async def test_actuator_without_provider_is_unavailable(stub: val_pb2_grpc.VALStub) -> None:
    """broker.rs actuate()/batch_actuate(): no actuation subscription → ProviderNotAvailable
    → UNAVAILABLE (val.rs test_actuate_can_provider_unavailable,
    test_batch_actuate_provider_unavailable, test_actuate_stream_can_provider_unavailable).
    An empty batch does nothing, as in the databroker."""
    target = "Vehicle.Cabin.Sunroof.Shade.Position"
    await expect_code(stub.Actuate(actuate_request(target, uint32=10)), UNAVAILABLE)
    batch = val_pb2.BatchActuateRequest(actuate_requests=[actuate_request(target, uint32=10)])
    await expect_code(stub.BatchActuate(batch), UNAVAILABLE)
    await expect_code(stub.ActuateStream(iter([actuate_request(target, uint32=10)])), UNAVAILABLE)
    await stub.BatchActuate(val_pb2.BatchActuateRequest(), timeout=TIMEOUT)


async def test_list_metadata(stub: val_pb2_grpc.VALStub) -> None:
    """Metadata carries id, types, unit, min/max/allowed as Values (conversions.rs
    ``From<&broker::Metadata> for proto::Metadata``), plus carmesh's comment and
    deprecation. A root selects a branch, a signal or a pattern (val.proto ListMetadata)."""
    response = await stub.ListMetadata(val_pb2.ListMetadataRequest(root=VOLUME), timeout=TIMEOUT)
    (volume,) = response.metadata
    assert (volume.path, volume.id) == (VOLUME, ident(VOLUME))
    assert volume.data_type == types_pb2.DATA_TYPE_UINT8
    assert volume.entry_type == types_pb2.ENTRY_TYPE_ACTUATOR
    assert volume.unit == "percent" and volume.description
    assert (held(volume.min), held(volume.max)) == (0, 100)
    assert volume.min.WhichOneof("typed_value") == "uint32"
    (mode,) = (
        await stub.ListMetadata(val_pb2.ListMetadataRequest(root=MODE), timeout=TIMEOUT)
    ).metadata
    assert held(mode.allowed_values) == ["NORMAL", "SPORT", "ECONOMY", "SNOW", "RAIN"]
    assert not mode.HasField("min")
    wheel = "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Temperature"
    (tire,) = (
        await stub.ListMetadata(val_pb2.ListMetadataRequest(root=wheel), timeout=TIMEOUT)
    ).metadata
    assert tire.deprecation == CATALOG[wheel].deprecation and tire.deprecation
    seats = await stub.ListMetadata(
        val_pb2.ListMetadataRequest(root="Vehicle.Cabin.Seat"), timeout=TIMEOUT
    )
    expected = [n.path for n in CATALOG.match("Vehicle.Cabin.Seat")]
    assert [m.path for m in seats.metadata] == expected
    doors = await stub.ListMetadata(
        val_pb2.ListMetadataRequest(root="Vehicle.Cabin.Door.*.*.IsOpen"), timeout=TIMEOUT
    )
    assert len(doors.metadata) == 4
    heated = await stub.ListMetadata(
        val_pb2.ListMetadataRequest(root="Vehicle.Cabin.Seat", filter="**.Position"),
        timeout=TIMEOUT,
    )
    assert heated.metadata and all(m.path.endswith(".Position") for m in heated.metadata)


async def test_list_metadata_errors(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs list_metadata(): nothing matches → ``not_found("Specified root branch does not
    exist")``; a bad pattern → ``invalid_argument("Invalid Pattern Argument")``
    (test_list_metadata_bad_request_pattern_or_not_found)."""
    await expect_code(
        stub.ListMetadata(val_pb2.ListMetadataRequest(root="Vehicle.Nope")), NOT_FOUND
    )
    await expect_code(stub.ListMetadata(val_pb2.ListMetadataRequest(root="Vehicle.Cab*")), INVALID)


async def next_message(call: Any, timeout: float = TIMEOUT) -> Any:
    message = await asyncio.wait_for(call.read(), timeout)
    assert message is not grpc.aio.EOF
    return message


async def test_subscribe_sends_current_values_then_changes(stub: val_pb2_grpc.VALStub) -> None:
    """val.proto Subscribe: "Databroker shall immediately return the value for all
    subscribed entries. If a value isn't available … it should return None"; then updates
    (val.rs test_subscribe_case). Sensors notify on every write, attributes on change."""
    pressure = "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure"
    await publish(stub, "Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure", uint32=240)
    paths = [pressure, "Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure", VIN]
    call = stub.Subscribe(val_pb2.SubscribeRequest(signal_paths=paths, buffer_size=10))
    first = await next_message(call)
    assert set(first.entries) == set(paths)
    assert held(first.entries[paths[1]]) == 240
    assert held(first.entries[pressure]) is None
    await publish(stub, pressure, uint32=250)
    update = await next_message(call)
    assert {p: held(dp) for p, dp in update.entries.items()} == {pressure: 250}
    await publish(stub, pressure, uint32=250)  # a sensor notifies on every write
    assert held((await next_message(call)).entries[pressure]) == 250
    await publish(stub, VIN, string="WVWZZZ1JZXW000001")
    await publish(stub, VIN, string="WVWZZZ1JZXW000001")  # unchanged attribute: no message
    await publish(stub, pressure, uint32=260)
    assert held((await next_message(call)).entries[VIN]) == "WVWZZZ1JZXW000001"
    assert dict((await next_message(call)).entries).keys() == {pressure}
    call.cancel()


async def test_subscribe_by_id(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs subscribe_by_id(): like Subscribe, keyed by id (test_subscribe_case_by_id)."""
    lat, lon = "Vehicle.CurrentLocation.Latitude", "Vehicle.CurrentLocation.Longitude"
    await publish(stub, lat, double=48.1)
    call = stub.SubscribeById(val_pb2.SubscribeByIdRequest(signal_ids=[ident(lat), ident(lon)]))
    first = await next_message(call)
    assert {k: held(v) for k, v in first.entries.items()} == {ident(lat): 48.1, ident(lon): None}
    await publish(stub, lon, double=11.5)
    update = await next_message(call)
    assert {k: held(v) for k, v in update.entries.items()} == {ident(lon): 11.5}
    call.cancel()


async def test_subscribe_min_sample_interval(stub: val_pb2_grpc.VALStub) -> None:
    """``filter.min_sample_interval`` (val.proto Filter): at most one message per interval,
    holding the latest value of each signal."""
    rpm = "Vehicle.Powertrain.CombustionEngine.Speed"
    request = val_pb2.SubscribeRequest(
        signal_paths=[rpm],
        filter=types_pb2.Filter(min_sample_interval=types_pb2.SampleInterval(interval_ms=300)),
    )
    call = stub.Subscribe(request)
    await next_message(call)
    arrivals = [time.monotonic()]
    for rev in range(1000, 1020):
        await publish(stub, rpm, float=rev)
    while True:
        update = await next_message(call)
        arrivals.append(time.monotonic())
        if held(update.entries[rpm]) == 1019:
            break
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(gaps) < 5 and min(gaps) >= 0.25, gaps
    call.cancel()


async def test_provider_actuation_round_trip(stub: val_pb2_grpc.VALStub) -> None:
    """A provider claims an actuator (val.rs provide_actuation, test_provide_actuation_success);
    Actuate, BatchActuate and ActuateStream are forwarded to it as BatchActuateStreamRequest
    by id and answer OK once forwarded (val.rs ``impl ActuationProvider for Provider``,
    test_actuate_success, test_batch_actuate_success, test_actuate_stream_success)."""
    provider = ProviderCall(stub)
    await provider.claim_actuation(VOLUME, ident(MODE))
    await stub.Actuate(actuate_request(VOLUME, uint32=30), timeout=TIMEOUT)
    assert await provider.actuation() == {ident(VOLUME): 30}
    batch = [actuate_request(ident(VOLUME), uint32=31), actuate_request(MODE, string="SPORT")]
    await stub.BatchActuate(val_pb2.BatchActuateRequest(actuate_requests=batch), timeout=TIMEOUT)
    assert await provider.actuation() == {ident(VOLUME): 31, ident(MODE): "SPORT"}
    stream = [actuate_request(VOLUME, uint32=v) for v in (32, 33)]
    await stub.ActuateStream(iter(stream), timeout=TIMEOUT)
    assert await provider.actuation() == {ident(VOLUME): 32}
    assert await provider.actuation() == {ident(VOLUME): 33}
    provider.cancel()
