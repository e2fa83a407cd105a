"""kuksa.val.v1 over real gRPC channels: the real ``carmesh`` command in a subprocess, raw
generated stubs from the kuksa-client package.

Codes asserted here are those of the Eclipse KUKSA databroker's v1 adapter,
``databroker/src/grpc/kuksa_val_v1/val.rs`` (functions ``get``, ``set``, ``streamed_update``,
``subscribe``, ``validate_entry_update``, ``convert_to_data_entry_error``), cited per test. A few
tests start the gRPC server in-process to look at the broker behind it (an in-process provider,
the subscription count).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from kuksa.val.v1 import types_pb2, val_pb2, val_pb2_grpc
from kuksa.val.v2 import types_pb2 as v2_types
from kuksa.val.v2 import val_pb2 as v2
from kuksa.val.v2 import val_pb2_grpc as v2_grpc

from carmesh import __version__
from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.server import GrpcServer
from carmesh.api.tokens import create_token, generate_key_pair
from carmesh.broker import Broker, Field, Principal
from carmesh.errors import CarmeshError, InvalidArgument
from carmesh.vss import Catalog
from tests.support.car import RunningCar, running_car

F = types_pb2
FAN = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed"  # actuator uint8 0..100
SUNROOF = "Vehicle.Cabin.Sunroof.Position"  # sensor int8 -100..100
MEDIA_ACTION = "Vehicle.Cabin.Infotainment.Media.Action"  # actuator string, allowed values
TIMEOUT = 5.0


# -- helpers ----------------------------------------------------------------------------------


def datapoint(**value: Any) -> types_pb2.Datapoint:
    """``datapoint(float=1.5)``; arrays as ``datapoint(string_array=["a"])``."""
    dp = types_pb2.Datapoint()
    for name, v in value.items():
        if name.endswith("_array"):
            getattr(dp, name).values.extend(v)
        else:
            setattr(dp, name, v)
    return dp


def value_update(path: str, **value: Any) -> val_pb2.EntryUpdate:
    return val_pb2.EntryUpdate(
        entry=types_pb2.DataEntry(path=path, value=datapoint(**value)), fields=[F.FIELD_VALUE]
    )


def target_update(path: str, **value: Any) -> val_pb2.EntryUpdate:
    return val_pb2.EntryUpdate(
        entry=types_pb2.DataEntry(path=path, actuator_target=datapoint(**value)),
        fields=[F.FIELD_ACTUATOR_TARGET],
    )


def get(
    stub: val_pb2_grpc.VALStub,
    *paths: str,
    view: int = F.VIEW_CURRENT_VALUE,
    fields: tuple[int, ...] = (),
    **kwargs: Any,
) -> val_pb2.GetResponse:
    request = val_pb2.GetRequest(
        entries=[val_pb2.EntryRequest(path=p, view=view, fields=fields) for p in paths]
    )
    return stub.Get(request, timeout=TIMEOUT, **kwargs)


def set_(stub: val_pb2_grpc.VALStub, *updates: Any, **kwargs: Any) -> val_pb2.SetResponse:
    return stub.Set(val_pb2.SetRequest(updates=updates), timeout=TIMEOUT, **kwargs)


def errors_of(response: Any) -> dict[str, tuple[int, str]]:
    return {e.path: (e.error.code, e.error.reason) for e in response.errors}


def value_of(dp: types_pb2.Datapoint) -> Any:
    which = dp.WhichOneof("value")
    if which is None:
        return None
    held = getattr(dp, which)
    return list(held.values) if which.endswith("_array") else held


def rpc_error(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


class Stream:
    """Reads a server stream on a thread so that tests can wait for messages with a timeout."""

    def __init__(self, responses: Any) -> None:
        self.responses = responses
        self.messages: queue.Queue[Any] = queue.Queue()
        self.error: grpc.RpcError | None = None
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        try:
            for message in self.responses:
                self.messages.put(message)
        except grpc.RpcError as exc:
            self.error = exc
        self.messages.put(None)

    def next(self, timeout: float = TIMEOUT) -> Any:
        return self.messages.get(timeout=timeout)

    def cancel(self) -> None:
        self.responses.cancel()
        self.thread.join(TIMEOUT)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    with running_car(tmp_path_factory.mktemp("car")) as running:
        yield running


@pytest.fixture(scope="module")
def stub(car: RunningCar) -> Iterator[val_pb2_grpc.VALStub]:
    with grpc.insecure_channel(car.grpc_address) as channel:
        yield val_pb2_grpc.VALStub(channel)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    private, public = generate_key_pair()
    path = tmp_path_factory.mktemp("keys") / "car.pub.pem"
    path.write_bytes(public)
    return private, path


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, keys: tuple[bytes, Path]
) -> Iterator[val_pb2_grpc.VALStub]:
    with (
        running_car(tmp_path_factory.mktemp("secured"), "--jwt-public-key", str(keys[1])) as car,
        grpc.insecure_channel(car.grpc_address) as channel,
    ):
        yield val_pb2_grpc.VALStub(channel)


def bearer(private: bytes, scope: str, **kwargs: Any) -> list[tuple[str, str]]:
    return [("authorization", "Bearer " + create_token(private, scope, **kwargs))]


# -- GetServerInfo and Get --------------------------------------------------------------------


def test_server_info(stub: val_pb2_grpc.VALStub) -> None:
    info = stub.GetServerInfo(val_pb2.GetServerInfoRequest(), timeout=TIMEOUT)
    assert (info.name, info.version) == ("carmesh", __version__)


def test_get_current_value(stub: val_pb2_grpc.VALStub) -> None:
    before = time.time()
    assert not set_(stub, value_update("Vehicle.Speed", float=42.5)).errors
    response = get(stub, "Vehicle.Speed")
    assert not response.errors and not response.HasField("error")
    (entry,) = response.entries
    assert entry.path == "Vehicle.Speed"
    assert entry.value.float == 42.5
    assert before - 1 <= entry.value.timestamp.ToNanoseconds() / 1e9 <= time.time() + 1
    assert not entry.HasField("actuator_target") and not entry.HasField("metadata")


def test_signal_without_value_is_listed_without_one(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs ``get`` lists a matching entry even when its datapoint is not available."""
    (entry,) = get(stub, "Vehicle.Acceleration.Lateral").entries
    assert entry.path == "Vehicle.Acceleration.Lateral"
    assert not entry.HasField("value")


@pytest.mark.parametrize(
    "pattern", ["Vehicle.Cabin.Sunroof", "Vehicle.Cabin.Door.*.*.IsOpen", "**.IsOpen", ""]
)
def test_get_branches_and_wildcards(stub: val_pb2_grpc.VALStub, pattern: str) -> None:
    """KUKSA wildcard rules; ``""`` is everything (the databroker's ``Matcher::new``)."""
    response = get(stub, pattern, view=F.VIEW_METADATA)
    expected = [n.path for n in Catalog.load().match(pattern)]
    assert [e.path for e in response.entries] == expected
    assert len(expected) >= 4 and not response.errors


def test_views_and_fields(stub: val_pb2_grpc.VALStub) -> None:
    """Views combine with explicit fields as in val.rs ``combine_view_and_fields``."""
    assert not set_(stub, value_update(SUNROOF, int32=-20)).errors
    (meta,) = get(stub, SUNROOF, view=F.VIEW_METADATA).entries
    assert meta.HasField("metadata") and not meta.HasField("value")
    (unit_only,) = get(stub, SUNROOF, view=F.VIEW_FIELDS, fields=(F.FIELD_METADATA_UNIT,)).entries
    assert unit_only.metadata.unit == "percent"
    assert not unit_only.metadata.HasField("description")
    assert not unit_only.metadata.HasField("value_restriction")
    (everything,) = get(stub, SUNROOF, view=F.VIEW_ALL).entries
    assert everything.value.int32 == -20 and everything.metadata.description
    (default,) = get(stub, SUNROOF, view=F.VIEW_UNSPECIFIED).entries
    assert default.value.int32 == -20 and not default.HasField("metadata")
    (target_of_sensor,) = get(stub, SUNROOF, view=F.VIEW_TARGET_VALUE).entries
    assert target_of_sensor.path == SUNROOF
    assert not target_of_sensor.HasField("actuator_target")


def test_metadata(stub: val_pb2_grpc.VALStub) -> None:
    paths = (
        SUNROOF,
        FAN,
        MEDIA_ACTION,
        "Vehicle.Body.RearMainSpoilerPosition",
        "Vehicle.Diagnostics.DTCList",
        "Vehicle.VehicleIdentification.VIN",
        "Vehicle.Body.Mirrors.DriverSide.Pan",
    )
    entries = {e.path: e.metadata for e in get(stub, *paths, view=F.VIEW_METADATA).entries}

    sunroof = entries[SUNROOF]
    assert (sunroof.data_type, sunroof.entry_type) == (F.DATA_TYPE_INT8, F.ENTRY_TYPE_SENSOR)
    assert sunroof.value_restriction.WhichOneof("type") == "signed"
    assert (sunroof.value_restriction.signed.min, sunroof.value_restriction.signed.max) == (
        -100,
        100,
    )
    assert sunroof.WhichOneof("entry_specific") == "sensor"

    fan = entries[FAN]
    assert (fan.data_type, fan.entry_type, fan.unit) == (
        F.DATA_TYPE_UINT8,
        F.ENTRY_TYPE_ACTUATOR,
        "percent",
    )
    assert fan.value_restriction.unsigned.max == 100

    action = entries[MEDIA_ACTION].value_restriction
    assert action.WhichOneof("type") == "string"
    assert "PLAY" in action.string.allowed_values

    spoiler = entries["Vehicle.Body.RearMainSpoilerPosition"].value_restriction
    assert spoiler.WhichOneof("type") == "floating_point"
    assert (spoiler.floating_point.min, spoiler.floating_point.max) == (0.0, 100.0)

    dtc = entries["Vehicle.Diagnostics.DTCList"]
    assert dtc.data_type == F.DATA_TYPE_STRING_ARRAY
    assert not dtc.HasField("value_restriction")

    vin = entries["Vehicle.VehicleIdentification.VIN"]
    assert vin.entry_type == F.ENTRY_TYPE_ATTRIBUTE and not vin.HasField("unit")
    assert entries["Vehicle.Body.Mirrors.DriverSide.Pan"].deprecation.startswith("v6.0")


def test_get_errors_answer_ok_with_errors_inside(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs ``get``: unknown path → 404 ``not_found``, malformed pattern → 400
    ``bad_request``, inside an OK response; ``error`` repeats the first one; good entries are
    still answered."""
    response = get(stub, "Vehicle.Speed", "Vehicle.NoSuchThing", "Vehicle.Cab*")
    assert errors_of(response) == {
        "Vehicle.NoSuchThing": (404, "not_found"),
        "Vehicle.Cab*": (400, "bad_request"),
    }
    assert (response.error.code, response.error.reason) == (404, "not_found")
    assert [e.path for e in response.entries] == ["Vehicle.Speed"]
    assert "Vehicle.NoSuchThing" in response.errors[0].error.message


def test_get_malformed_requests(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs ``get``: no entries → INVALID_ARGUMENT ("No datapoints requested"); an unknown
    view → INVALID_ARGUMENT. carmesh also names an unknown field number (400) instead of
    ignoring it, and refuses paths over 1,000 characters (400) as the databroker does."""
    error = rpc_error(lambda: stub.Get(val_pb2.GetRequest(), timeout=TIMEOUT))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "No datapoints requested" in (error.details() or "")
    error = rpc_error(lambda: get(stub, "Vehicle.Speed", view=7))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    response = get(stub, "Vehicle.Speed", view=F.VIEW_FIELDS, fields=(F.FIELD_VALUE, 99))
    assert errors_of(response) == {"Vehicle.Speed": (400, "bad_request")}
    assert "unknown field 99" in response.error.message
    long = "Vehicle." + "A" * 1000
    assert errors_of(get(stub, long)) == {long: (400, "bad_request")}


# -- Set --------------------------------------------------------------------------------------


def test_set_values_of_every_kind(stub: val_pb2_grpc.VALStub) -> None:
    updates: dict[str, dict[str, Any]] = {
        "Vehicle.ADAS.ABS.IsEngaged": {"bool": True},
        "Vehicle.Diagnostics.DTCList": {"string_array": ["P0100", "U0001"]},
        "Vehicle.Cabin.SeatPosCount": {"uint32_array": [4, 5]},
        "Vehicle.VehicleIdentification.VIN": {"string": "WVWZZZ1JZXW000001"},
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current": {"float": 80.5},
        "Vehicle.CurrentLocation.Latitude": {"double": 48.1371},
    }
    response = set_(stub, *(value_update(p, **v) for p, v in updates.items()))
    assert not response.errors and not response.HasField("error")
    got = {e.path: value_of(e.value) for e in get(stub, *updates).entries}
    assert got == {p: next(iter(v.values())) for p, v in updates.items()}


def test_set_errors(stub: val_pb2_grpc.VALStub) -> None:
    """``convert_to_data_entry_error``: wrong type (also a value in another ``Datapoint`` field
    than the datatype's, ``UpdateError::WrongType``), out of min/max, not allowed and out of the
    type's bounds → 400; val.rs ``set``: unknown path → 404 ``not_found``. The good update in
    the same request is applied, as the databroker applies updates one by one."""
    response = set_(
        stub,
        value_update("Vehicle.Speed", string="fast"),
        value_update(SUNROOF, int32=101),
        value_update("Vehicle.Cabin.Seat.Row1.DriverSide.Position", uint32=70000),
        value_update("Vehicle.NoSuchThing", float=1.0),
        value_update("Vehicle.Cabin", float=1.0),
        value_update("Vehicle.TraveledDistance", uint32=1234),
        value_update("Vehicle.Acceleration.Longitudinal", int32=3),
    )
    assert errors_of(response) == {
        "Vehicle.Speed": (400, "bad_request"),
        SUNROOF: (400, "bad_request"),
        "Vehicle.Cabin.Seat.Row1.DriverSide.Position": (400, "bad_request"),
        "Vehicle.NoSuchThing": (404, "not_found"),
        "Vehicle.Cabin": (404, "not_found"),
        "Vehicle.Acceleration.Longitudinal": (400, "bad_request"),
    }
    messages = {e.path: e.error.message for e in response.errors}
    assert "takes the Datapoint field 'float', got 'string'" in messages["Vehicle.Speed"]
    assert "above max" in messages[SUNROOF]
    assert (
        "takes the Datapoint field 'float', got 'int32'"
        in messages["Vehicle.Acceleration.Longitudinal"]
    )
    assert not response.HasField("error")  # val.rs ``set`` leaves it unset
    (distance,) = get(stub, "Vehicle.TraveledDistance").entries
    assert distance.value.uint32 == 1234
    not_allowed = set_(stub, target_update(MEDIA_ACTION, string="DANCE"))
    assert errors_of(not_allowed) == {MEDIA_ACTION: (400, "bad_request")}
    assert "not allowed" in not_allowed.errors[0].error.message


def test_target_of_a_non_actuator_fails_the_call(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs ``validate_entry_update``: "Tried to set a target value for a non-actuator" →
    INVALID_ARGUMENT for the whole call; nothing is applied."""
    error = rpc_error(
        lambda: set_(
            stub, value_update("Vehicle.Speed", float=7.0), target_update(SUNROOF, int32=5)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "non-actuator" in (error.details() or "")
    (speed,) = get(stub, "Vehicle.Speed").entries
    assert speed.value.float != 7.0


def test_target_without_provider_is_unavailable(stub: val_pb2_grpc.VALStub) -> None:
    """carmesh joins v1 targets and v2 actuation (issue 3): an actuator that no provider serves
    refuses the target with 503 inside the response, the v1 form of v2's UNAVAILABLE."""
    response = set_(stub, target_update(FAN, uint32=40))
    assert errors_of(response) == {FAN: (503, "unavailable")}
    assert "no provider" in response.errors[0].error.message
    (fan,) = get(stub, FAN, view=F.VIEW_TARGET_VALUE).entries
    assert not fan.HasField("actuator_target")


def test_malformed_updates(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs ``set``: an update without an entry → INVALID_ARGUMENT ("Path is required").
    carmesh answers other malformed updates with a 400 naming the problem; the server keeps
    serving."""
    error = rpc_error(lambda: set_(stub, val_pb2.EntryUpdate(fields=[F.FIELD_VALUE])))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Path is required" in (error.details() or "")
    response = set_(
        stub,
        value_update("", float=1.0),
        val_pb2.EntryUpdate(
            entry=types_pb2.DataEntry(path="Vehicle.Speed"), fields=[F.FIELD_VALUE]
        ),
        value_update("Vehicle.IsMoving"),  # a datapoint with no value in it
        val_pb2.EntryUpdate(
            entry=types_pb2.DataEntry(path="Vehicle.Height"), fields=[F.FIELD_METADATA_UNIT]
        ),
        val_pb2.EntryUpdate(entry=types_pb2.DataEntry(path="Vehicle.Length"), fields=[42]),
        val_pb2.EntryUpdate(entry=types_pb2.DataEntry(path="Vehicle.Chassis.Wheelbase")),
    )
    messages = {e.path: (e.error.code, e.error.message) for e in response.errors}
    assert messages == {
        "": (400, "an update needs the path of a signal; none was given"),
        "Vehicle.Speed": (400, "the update of Vehicle.Speed names the value but carries none"),
        "Vehicle.IsMoving": (
            400,
            "the value for Vehicle.IsMoving is empty: set one of the value fields",
        ),
        "Vehicle.Height": (
            400,
            "the metadata of Vehicle.Height comes from the VSS catalog and cannot be changed",
        ),
        "Vehicle.Length": (400, "unknown field 42"),
        "Vehicle.Chassis.Wheelbase": (
            400,
            "the update of Vehicle.Chassis.Wheelbase carries neither a value nor a target",
        ),
    }
    assert stub.GetServerInfo(val_pb2.GetServerInfoRequest(), timeout=TIMEOUT).name == "carmesh"


def test_garbage_bytes_do_not_hurt_the_server(car: RunningCar, stub: val_pb2_grpc.VALStub) -> None:
    """A message that is not protobuf fails in grpcio's decoding (UNKNOWN); the server goes on."""
    with grpc.insecure_channel(car.grpc_address) as channel:
        raw = channel.unary_unary("/kuksa.val.v1.VAL/Get")
        error = rpc_error(lambda: raw(b"\xff\xff\xff\xff garbage", timeout=TIMEOUT))
        assert error.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
    assert get(stub, "Vehicle.Speed").entries


# -- StreamedUpdate ---------------------------------------------------------------------------


def test_streamed_update(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs ``streamed_update``: one response per request, problems inside it (unknown path
    → 404 ``not_found``, as ``test_streamed_update_with_invalid_datapoint`` asserts; a target
    for a sensor → 400, not a failed stream)."""
    requests = [
        val_pb2.StreamedUpdateRequest(updates=[value_update("Vehicle.Speed", float=float(i))])
        for i in range(200)
    ]
    requests.append(
        val_pb2.StreamedUpdateRequest(updates=[value_update("Vehicle.Invalid.Speed", float=1.0)])
    )
    requests.append(val_pb2.StreamedUpdateRequest(updates=[target_update(SUNROOF, int32=1)]))
    requests.append(val_pb2.StreamedUpdateRequest(updates=[val_pb2.EntryUpdate()]))
    responses = list(stub.StreamedUpdate(iter(requests), timeout=TIMEOUT))
    assert len(responses) == len(requests)
    assert all(not r.errors for r in responses[:200])
    assert errors_of(responses[200]) == {"Vehicle.Invalid.Speed": (404, "not_found")}
    assert responses[200].error.code == 404
    assert errors_of(responses[201]) == {SUNROOF: (400, "bad_request")}
    assert errors_of(responses[202]) == {"": (400, "bad_request")}
    (speed,) = get(stub, "Vehicle.Speed").entries
    assert speed.value.float == 199.0


# -- Subscribe --------------------------------------------------------------------------------


def subscribe(
    stub: val_pb2_grpc.VALStub, *entries: tuple[str, int, tuple[int, ...]], **kwargs: Any
) -> Stream:
    request = val_pb2.SubscribeRequest(
        entries=[val_pb2.SubscribeEntry(path=p, view=v, fields=f) for p, v, f in entries]
    )
    return Stream(stub.Subscribe(request, **kwargs))


def test_subscribe_current_then_changes(stub: val_pb2_grpc.VALStub) -> None:
    """The first response holds every selected signal (without a value where none is known),
    then each change, as the databroker's ``ChangeSubscription::notify`` does."""
    speed = "Vehicle.Cabin.RearShade.Position"
    assert not set_(stub, value_update(speed, uint32=10)).errors
    stream = subscribe(
        stub,
        (speed, F.VIEW_CURRENT_VALUE, (F.FIELD_VALUE,)),
        ("Vehicle.Cabin.RearviewMirror.DimmingLevel", F.VIEW_CURRENT_VALUE, ()),
    )
    first = stream.next()
    assert [(u.entry.path, value_of(u.entry.value), list(u.fields)) for u in first.updates] == [
        (speed, 10, [F.FIELD_VALUE]),
        ("Vehicle.Cabin.RearviewMirror.DimmingLevel", None, [F.FIELD_VALUE]),
    ]
    assert not set_(stub, value_update(speed, uint32=11)).errors
    (update,) = stream.next().updates
    assert (update.entry.path, update.entry.value.uint32) == (speed, 11)
    assert list(update.fields) == [F.FIELD_VALUE]
    assert update.entry.value.timestamp.seconds > 0
    stream.cancel()


def test_subscribe_wildcard(stub: val_pb2_grpc.VALStub) -> None:
    stream = subscribe(stub, ("Vehicle.Cabin.Door.*.*.IsOpen", F.VIEW_CURRENT_VALUE, ()))
    first = stream.next()
    assert len(first.updates) == 4
    door = "Vehicle.Cabin.Door.Row2.PassengerSide.IsOpen"
    set_(stub, value_update(door, bool=True), value_update("Vehicle.Speed", float=3.0))
    (update,) = stream.next().updates
    assert (update.entry.path, update.entry.value.bool) == (door, True)
    stream.cancel()


def test_subscribe_metadata(stub: val_pb2_grpc.VALStub) -> None:
    """kuksa-client's ``subscribe_metadata`` asks for VIEW_METADATA: the first response
    carries the metadata (it never changes afterwards)."""
    stream = subscribe(stub, (SUNROOF, F.VIEW_METADATA, (F.FIELD_METADATA,)))
    (update,) = stream.next().updates
    assert update.entry.metadata.unit == "percent"
    assert F.FIELD_METADATA in update.fields
    stream.cancel()


def test_subscribe_errors(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs ``subscribe``: no entries → INVALID_ARGUMENT ("Subscription request must contain
    at least one entry."); no match → NOT_FOUND ("No entries found for the provided. Path");
    a bad pattern → INVALID_ARGUMENT. carmesh also refuses target subscriptions that select
    no actuator (INVALID_ARGUMENT)."""
    cases = [
        (val_pb2.SubscribeRequest(), grpc.StatusCode.INVALID_ARGUMENT),
        (
            val_pb2.SubscribeRequest(entries=[val_pb2.SubscribeEntry(path="Vehicle.Nope")]),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            val_pb2.SubscribeRequest(entries=[val_pb2.SubscribeEntry(path="Vehicle.Cab*")]),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            val_pb2.SubscribeRequest(
                entries=[
                    val_pb2.SubscribeEntry(
                        path="Vehicle.Speed", view=F.VIEW_FIELDS, fields=[F.FIELD_ACTUATOR_TARGET]
                    )
                ]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]
    for request, code in cases:
        error = rpc_error(lambda r=request: next(stub.Subscribe(r, timeout=TIMEOUT)))
        assert error.code() == code, request


# -- tokens -----------------------------------------------------------------------------------


def test_tokens(secured: val_pb2_grpc.VALStub, keys: tuple[bytes, Path]) -> None:
    """Authorization as the databroker's interceptor (``grpc/server.rs``: "No auth token
    provided", "Invalid auth token"): no, forged or expired token → UNAUTHENTICATED for the
    call; a missing scope → 403 ``forbidden`` inside a v1 response
    (``convert_to_data_entry_error`` ``PermissionDenied``, val.rs ``get``)."""
    private, _ = keys
    no_token = rpc_error(lambda: get(secured, "Vehicle.Speed"))
    assert no_token.code() == grpc.StatusCode.UNAUTHENTICATED
    forged = bearer(generate_key_pair()[0], "read")
    assert (
        rpc_error(lambda: get(secured, "Vehicle.Speed", metadata=forged)).code()
        == grpc.StatusCode.UNAUTHENTICATED
    )
    expired = bearer(private, "read", expires_in=-10)
    for call in (
        lambda: get(secured, "Vehicle.Speed", metadata=expired),
        lambda: secured.GetServerInfo(val_pb2.GetServerInfoRequest(), metadata=expired),
        lambda: next(
            secured.Subscribe(
                val_pb2.SubscribeRequest(entries=[val_pb2.SubscribeEntry(path="Vehicle.Speed")]),
                metadata=expired,
            )
        ),
    ):
        assert rpc_error(call).code() == grpc.StatusCode.UNAUTHENTICATED

    reader = bearer(private, "read:Vehicle.Speed read:Vehicle.Cabin.HVAC.**")
    assert get(secured, "Vehicle.Speed", metadata=reader).entries
    response = get(secured, "Vehicle.Speed", "Vehicle.Cabin.**", metadata=reader)
    assert errors_of(response) == {"Vehicle.Cabin.**": (403, "forbidden")}
    assert not response.entries  # the databroker answers errors only, no partial success
    denied = set_(secured, value_update("Vehicle.Speed", float=1.0), metadata=reader)
    assert errors_of(denied) == {"Vehicle.Speed": (403, "forbidden")}
    denied = set_(secured, target_update(FAN, uint32=1), metadata=reader)
    assert errors_of(denied) == {FAN: (403, "forbidden")}
    error = rpc_error(
        lambda: next(
            secured.Subscribe(
                val_pb2.SubscribeRequest(entries=[val_pb2.SubscribeEntry(path="Vehicle.Height")]),
                metadata=reader,
            )
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED

    provider = bearer(private, "provide:Vehicle.Speed")
    assert not set_(secured, value_update("Vehicle.Speed", float=9.0), metadata=provider).errors
    (speed,) = get(secured, "Vehicle.Speed", metadata=reader).entries
    assert speed.value.float == 9.0


def test_subscription_ends_when_the_token_expires(
    secured: val_pb2_grpc.VALStub, keys: tuple[bytes, Path]
) -> None:
    """The databroker closes a subscription whose token expired (broker.rs
    ``ChangeSubscription::notify``, ``ReadError::PermissionExpired``); carmesh ends it with
    UNAUTHENTICATED at the next change."""
    private, _ = keys
    issued = time.time()
    short = bearer(private, "read:Vehicle.Speed", expires_in=2, now=issued)
    stream = subscribe(secured, ("Vehicle.Speed", F.VIEW_CURRENT_VALUE, ()), metadata=short)
    assert stream.next().updates
    time.sleep(max(0.0, int(issued) + 2.05 - time.time()))
    provider = bearer(private, "provide:Vehicle.Speed")
    assert not set_(secured, value_update("Vehicle.Speed", float=2.0), metadata=provider).errors
    assert stream.next() is None
    assert stream.error is not None and stream.error.code() == grpc.StatusCode.UNAUTHENTICATED


# -- a v1 target reaches a v2 provider --------------------------------------------------------


def test_v1_target_reaches_the_v2_provider(car: RunningCar, stub: val_pb2_grpc.VALStub) -> None:
    """One actuator, one target, whichever API set it (issue 3): a provider that claimed the
    actuator over ``kuksa.val.v2`` ``OpenProviderStream`` receives the v1 ``Set`` target, and
    v1 subscribers of the target see it."""
    path = "Vehicle.Cabin.Infotainment.HMI.Brightness"  # actuator float 0..100
    outgoing: queue.Queue[v2.OpenProviderStreamRequest | None] = queue.Queue()
    outgoing.put(
        v2.OpenProviderStreamRequest(
            provide_actuation_request=v2.ProvideActuationRequest(
                actuator_identifiers=[v2_types.SignalID(path=path)]
            )
        )
    )
    with grpc.insecure_channel(car.grpc_address) as channel:
        provider = Stream(
            v2_grpc.VALStub(channel).OpenProviderStream(iter(outgoing.get, None), timeout=30)
        )
        assert provider.next().HasField("provide_actuation_response"), provider.error
        targets = subscribe(stub, (path, F.VIEW_TARGET_VALUE, (F.FIELD_ACTUATOR_TARGET,)))
        assert not targets.next().updates[0].entry.HasField("actuator_target")
        response = set_(stub, target_update(path, float=55.0))
        assert not response.errors
        request = provider.next()
        (actuate,) = request.batch_actuate_stream_request.actuate_requests
        assert actuate.value.float == 55.0
        (update,) = targets.next().updates
        assert (update.entry.path, update.entry.actuator_target.float) == (path, 55.0)
        (entry,) = get(stub, path, view=F.VIEW_TARGET_VALUE).entries
        assert entry.actuator_target.float == 55.0
        targets.cancel()
        outgoing.put(None)
        provider.cancel()


# -- in-process: the broker behind the adapter ------------------------------------------------


class Actuators:
    """An in-process provider: accepts targets (or refuses with *refuse*) and records them."""

    def __init__(self, refuse: CarmeshError | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.refuse = refuse

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        self.requests.append(dict(targets))
        if self.refuse is not None:
            raise self.refuse


@pytest.fixture
async def served(catalog: Catalog) -> AsyncIterator[tuple[Broker, grpc.aio.Channel]]:
    broker = Broker(catalog, actuation_timeout=1.0)
    await broker.start()
    server = GrpcServer(broker, "127.0.0.1:0", auth=GrpcAuth(None))
    await server.start()
    async with grpc.aio.insecure_channel(server.address) as channel:
        yield broker, channel
    await server.stop()
    await broker.stop()


async def test_target_reaches_an_in_process_provider(
    served: tuple[Broker, grpc.aio.Channel],
) -> None:
    broker, channel = served
    stub = val_pb2_grpc.VALStub(channel)
    lights = Actuators()
    broker.connect_provider(Principal.system(), "lights", lights).claim(["Vehicle.Body.Lights"])
    beam = "Vehicle.Body.Lights.Beam.Low.IsOn"
    fog = "Vehicle.Body.Lights.Fog.Front.IsOn"
    response = await stub.Set(
        val_pb2.SetRequest(updates=[target_update(beam, bool=True), target_update(fog, bool=True)])
    )
    assert not response.errors
    assert sorted(lights.requests, key=str) == [{beam: True}, {fog: True}]
    assert broker.get(Principal.system(), beam, field=Field.TARGET) is not None

    lights.refuse = InvalidArgument("the low beam is locked while parked", path=beam)
    refused = await stub.Set(val_pb2.SetRequest(updates=[target_update(beam, bool=False)]))
    assert [(e.path, e.error.code, e.error.message) for e in refused.errors] == [
        (beam, 400, "the low beam is locked while parked")
    ]


async def test_cancelling_a_subscription_closes_it(
    served: tuple[Broker, grpc.aio.Channel],
) -> None:
    """Every v1 Subscribe holds broker subscriptions only while the client listens."""
    broker, channel = served
    stub = val_pb2_grpc.VALStub(channel)
    request = val_pb2.SubscribeRequest(
        entries=[
            val_pb2.SubscribeEntry(path="Vehicle.Speed", view=F.VIEW_CURRENT_VALUE),
            val_pb2.SubscribeEntry(path="Vehicle.Cabin.Sunroof", view=F.VIEW_ALL),
        ]
    )
    calls = [stub.Subscribe(request) for _ in range(20)]
    for call in calls:
        first = await asyncio.wait_for(call.read(), TIMEOUT)
        assert len(first.updates) == 6
    assert broker.subscription_count == 40  # values and targets of each
    await broker.publish(Principal.system(), {"Vehicle.Speed": 1.0})
    for call in calls:
        (update,) = (await asyncio.wait_for(call.read(), TIMEOUT)).updates
        assert update.entry.value.float == 1.0
    for call in calls:
        call.cancel()
    for _ in range(100):
        if broker.subscription_count == 0:
            break
        await asyncio.sleep(0.02)
    assert broker.subscription_count == 0


async def test_subscriptions_end_unavailable_when_the_broker_stops(
    served: tuple[Broker, grpc.aio.Channel],
) -> None:
    """As the databroker ends subscriptions on shutdown with UNAVAILABLE ("Databroker
    shutting down", val.rs ``subscribe``)."""
    broker, channel = served
    call = val_pb2_grpc.VALStub(channel).Subscribe(
        val_pb2.SubscribeRequest(entries=[val_pb2.SubscribeEntry(path="Vehicle.Speed")])
    )
    await asyncio.wait_for(call.read(), TIMEOUT)
    await broker.stop()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await asyncio.wait_for(call.read(), TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
