"""kuksa.val.v2 ``OpenProviderStream`` against the real ``carmesh run``: claims, publishing,
forwarded actuations, the provider's answers, and providers that go away.

Citations name eclipse-kuksa/kuksa-databroker files: ``databroker/src/grpc/kuksa_val_v2/val.rs``
(open_provider_stream, provide_actuation, register_provided_signals, publish_values),
``databroker/src/broker.rs`` and ``proto/kuksa/val/v2/val.proto``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from tests.api.val_v2_support import (
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
)
from tests.support.car import RunningCar, running_car

ACTUATION_TIMEOUT = 1.0

WIPER = "Vehicle.Body.Windshield.Front.Wiping.Mode"  # actuator, string, allowed
WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"  # actuator, uint8 0..100
SEAT = "Vehicle.Cabin.Seat.Row1.DriverSide.Position"  # actuator, uint16
SPEED = "Vehicle.Speed"  # sensor, float
RANGE = "Vehicle.Powertrain.Range"  # sensor, uint32


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    home = tmp_path_factory.mktemp("v2-provider")
    config = home / "carmesh.toml"
    config.write_text(f"actuation_timeout = {ACTUATION_TIMEOUT}\n")
    with running_car(home / "car", "--config", str(config)) as running:
        yield running


@pytest.fixture
async def stub(car: RunningCar) -> AsyncIterator[val_pb2_grpc.VALStub]:
    async with grpc.aio.insecure_channel(car.grpc_address) as channel:
        yield val_pb2_grpc.VALStub(channel)


async def test_claiming_a_claimed_signal_is_already_exists(stub: val_pb2_grpc.VALStub) -> None:
    """broker.rs provide_actuation(): "Providers for the following vss_ids already
    registered" → ActuationError::ProviderAlreadyExists → ALREADY_EXISTS; register_signals →
    RegisterSignalError::SignalAlreadyRegistered → ALREADY_EXISTS (conversions.rs
    to_tonic_status). val.proto: the strict case "closes the stream call"."""
    first = ProviderCall(stub)
    await first.claim_actuation(WIPER)
    await first.claim_values(RANGE)
    second = ProviderCall(stub)
    await second.send(
        provide_actuation_request=val_pb2.ProvideActuationRequest(
            actuator_identifiers=[sid(ident(WIPER))]
        )
    )
    assert await second.end() == grpc.StatusCode.ALREADY_EXISTS
    third = ProviderCall(stub)
    await third.send(
        provide_signal_request=val_pb2.ProvideSignalRequest(
            signals_sample_intervals={ident(RANGE): types_pb2.SampleInterval(interval_ms=10)}
        )
    )
    assert await third.end() == grpc.StatusCode.ALREADY_EXISTS
    first.cancel()


async def test_claiming_unknown_or_wrong_signals(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs provide_actuation(): "Could not resolve id of vss_path" → NOT_FOUND
    (test_provide_actuation_signal_not_found); an unknown id in ProvideSignalRequest →
    RegisterSignalError::NotFound → NOT_FOUND. carmesh also refuses to take actuation of a
    sensor (INVALID_ARGUMENT: only actuators are actuated) and an empty SignalID."""
    cases = [
        (
            {
                "provide_actuation_request": val_pb2.ProvideActuationRequest(
                    actuator_identifiers=[sid("Vehicle.NoSuchActuator")]
                )
            },
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            {
                "provide_signal_request": val_pb2.ProvideSignalRequest(
                    signals_sample_intervals={987_654: types_pb2.SampleInterval()}
                )
            },
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            {
                "provide_actuation_request": val_pb2.ProvideActuationRequest(
                    actuator_identifiers=[sid(SPEED)]
                )
            },
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            {
                "provide_actuation_request": val_pb2.ProvideActuationRequest(
                    actuator_identifiers=[types_pb2.SignalID()]
                )
            },
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]
    for action, code in cases:
        provider = ProviderCall(stub)
        await provider.send(**action)
        assert await provider.end() == code


async def test_publishing_before_claiming_is_aborted(stub: val_pb2_grpc.VALStub) -> None:
    """val.rs open_provider_stream(): a PublishValuesRequest before any ProvideSignalRequest
    → ``Status::aborted("Provider has not claimed yet the signals, please call
    ProvideSignalRequest first")`` (test_publish_value_request_without_first_claiming_it);
    publish_values(): signals this provider did not register → ``already_exists("Signals
    already registered by another provider")``. carmesh answers ABORTED for an unclaimed
    signal and ALREADY_EXISTS when another provider holds it."""
    early = ProviderCall(stub)
    await early.publish(1, **{SPEED: datapoint(float=10.0)})
    assert await early.end() == grpc.StatusCode.ABORTED
    owner = ProviderCall(stub)
    await owner.claim_values(SPEED)
    partial = ProviderCall(stub)
    await partial.claim_values(RANGE)
    await partial.publish(2, **{"Vehicle.Powertrain.FuelSystem.Range": datapoint(uint32=5)})
    assert await partial.end() == grpc.StatusCode.ABORTED
    other = ProviderCall(stub)
    await other.claim_values(RANGE)
    await other.publish(3, **{SPEED: datapoint(float=10.0)})
    assert await other.end() == grpc.StatusCode.ALREADY_EXISTS
    owner.cancel()


async def test_published_values_and_errors_by_id(stub: val_pb2_grpc.VALStub) -> None:
    """val.proto OpenProviderStream: "Provider sends PublishValuesRequest -> Databroker returns
    PublishValuesResponse upon error, and nothing upon success"; errors travel per id
    (``map<int32, Error> status``, conversions.rs ``From<&broker::UpdateError> for
    proto::Error``: WrongType/OutOfBounds… → ERROR_CODE_INVALID_ARGUMENT) while the valid
    values are applied (broker.rs update_entries). Provider timestamps are kept."""
    provider = ProviderCall(stub)
    await provider.claim_values(SPEED, RANGE)
    watch = stub.Subscribe(val_pb2.SubscribeRequest(signal_paths=[SPEED, RANGE]))
    await asyncio.wait_for(watch.read(), TIMEOUT)
    stamp = 1_712_000_000_000_000_000
    await provider.publish(7, **{SPEED: datapoint(stamp, float=42.0), RANGE: datapoint(uint32=1)})
    update = await asyncio.wait_for(watch.read(), TIMEOUT)
    assert {p: held(dp) for p, dp in update.entries.items()} == {SPEED: 42.0, RANGE: 1}
    assert update.entries[SPEED].timestamp.seconds == stamp // 1_000_000_000
    await provider.publish(8, **{SPEED: datapoint(float=50.0), RANGE: datapoint(float=2.0)})
    answer = await provider.recv()
    status = answer.publish_values_response
    assert status.request_id == 8
    assert list(status.status) == [ident(RANGE)]
    assert status.status[ident(RANGE)].code == types_pb2.ERROR_CODE_INVALID_ARGUMENT
    assert RANGE in status.status[ident(RANGE)].message
    update = await asyncio.wait_for(watch.read(), TIMEOUT)
    assert {p: held(dp) for p, dp in update.entries.items()} == {SPEED: 50.0}
    # Another client may not publish what a provider claimed.
    await expect_code(publish(stub, SPEED, float=1.0), grpc.StatusCode.PERMISSION_DENIED)
    assert held(await get(stub, SPEED)) == 50.0
    provider.cancel()
    watch.cancel()


async def test_forwarded_actuations_are_accepted_until_the_provider_answers(
    stub: val_pb2_grpc.VALStub,
) -> None:
    """The databroker answers Actuate once the request is forwarded and does not react to
    the provider's BatchActuateStreamResponse (val.proto: "as of today Databroker will not
    react on the received error message"). carmesh does so until the provider first answers;
    from then on Actuate returns the provider's verdict: ERROR_CODE_INVALID_ARGUMENT →
    INVALID_ARGUMENT, NOT_FOUND → NOT_FOUND, PERMISSION_DENIED → PERMISSION_DENIED, no answer
    within the actuation timeout → UNAVAILABLE."""
    provider = ProviderCall(stub)
    await provider.claim_actuation(WINDOW, SEAT)
    await stub.Actuate(actuate_request(WINDOW, uint32=10), timeout=TIMEOUT)
    assert await provider.actuation() == {ident(WINDOW): 10}
    await provider.answer(WINDOW)  # now acknowledging

    pending = asyncio.ensure_future(stub.Actuate(actuate_request(WINDOW, uint32=20)))
    assert await provider.actuation() == {ident(WINDOW): 20}
    await asyncio.sleep(0.1)
    assert not pending.done()
    await provider.answer(ident(WINDOW))
    await asyncio.wait_for(pending, TIMEOUT)

    refusals = [
        (types_pb2.ERROR_CODE_INVALID_ARGUMENT, grpc.StatusCode.INVALID_ARGUMENT),
        (types_pb2.ERROR_CODE_NOT_FOUND, grpc.StatusCode.NOT_FOUND),
        (types_pb2.ERROR_CODE_PERMISSION_DENIED, grpc.StatusCode.PERMISSION_DENIED),
    ]
    for error_code, status in refusals:
        refused = asyncio.ensure_future(
            expect_code(stub.Actuate(actuate_request(WINDOW, uint32=90)), status)
        )
        await provider.actuation()
        await provider.answer(WINDOW, error_code, "child lock engaged")
        assert "child lock engaged" in await refused

    batch = val_pb2.BatchActuateRequest(
        actuate_requests=[actuate_request(WINDOW, uint32=5), actuate_request(SEAT, uint32=200)]
    )
    both = asyncio.ensure_future(stub.BatchActuate(batch, timeout=TIMEOUT))
    assert await provider.actuation() == {ident(WINDOW): 5, ident(SEAT): 200}
    await provider.answer(SEAT)
    await asyncio.sleep(0.1)
    assert not both.done()  # still waiting for the window's answer
    await provider.answer(WINDOW)
    await asyncio.wait_for(both, TIMEOUT)

    started = time.monotonic()
    await expect_code(stub.Actuate(actuate_request(WINDOW, uint32=6)), grpc.StatusCode.UNAVAILABLE)
    assert time.monotonic() - started >= ACTUATION_TIMEOUT * 0.9
    await provider.actuation()
    provider.cancel()


async def test_a_provider_that_dies_releases_its_claims(stub: val_pb2_grpc.VALStub) -> None:
    """When the stream breaks the provider is gone: actuations waiting for it fail and later
    ones find no provider (broker.rs actuate: ProviderNotAvailable → UNAVAILABLE); its
    signals can be claimed again."""
    provider = ProviderCall(stub)
    await provider.claim_actuation(SEAT)
    await provider.claim_values("Vehicle.Powertrain.TractionBattery.StateOfCharge.Current")
    await stub.Actuate(actuate_request(SEAT, uint32=100), timeout=TIMEOUT)
    await provider.actuation()
    await provider.answer(SEAT)
    waiting = asyncio.ensure_future(
        expect_code(stub.Actuate(actuate_request(SEAT, uint32=120)), grpc.StatusCode.UNAVAILABLE)
    )
    await provider.actuation()
    started = time.monotonic()
    provider.cancel()
    await waiting
    assert time.monotonic() - started < ACTUATION_TIMEOUT
    for _ in range(50):  # the server notices the cancellation asynchronously
        try:
            await stub.Actuate(actuate_request(SEAT, uint32=1), timeout=TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the dead provider still receives actuations")
    successor = ProviderCall(stub)
    await successor.claim_actuation(SEAT)
    await successor.claim_values("Vehicle.Powertrain.TractionBattery.StateOfCharge.Current")
    successor.cancel()


async def test_half_closed_streams(stub: val_pb2_grpc.VALStub) -> None:
    """A provider of actuators may stop sending and keep receiving actuations (kuksa-client's
    subscribe_target_values sends one ProvideActuationRequest and half-closes; val.rs keeps
    the response stream while the provider is registered). A stream with no actuator ends
    with OK when the provider stops sending, and its claims are released."""
    listener = ProviderCall(stub)
    await listener.claim_actuation(WIPER)
    await listener.call.done_writing()
    await stub.Actuate(actuate_request(WIPER, string="FAST"), timeout=TIMEOUT)
    assert await listener.actuation() == {ident(WIPER): "FAST"}
    listener.cancel()

    publisher = ProviderCall(stub)
    await publisher.claim_values("Vehicle.Powertrain.FuelSystem.Range")
    await publisher.call.done_writing()
    assert await publisher.end() == grpc.StatusCode.OK
    again = ProviderCall(stub)
    await again.claim_values("Vehicle.Powertrain.FuelSystem.Range")
    again.cancel()
