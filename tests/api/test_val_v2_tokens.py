"""kuksa.val.v2 with tokens: ``carmesh run --jwt-public-key`` checks every call.

Citations name eclipse-kuksa/kuksa-databroker files: ``databroker/src/grpc/server.rs``
(``impl tonic::service::Interceptor for Authorization``: no token → "No auth token
provided", a token that does not decode or verify → "Invalid auth token", both
UNAUTHENTICATED, on every call) and ``databroker/src/grpc/kuksa_val_v2/val.rs`` (missing
scope → PERMISSION_DENIED).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from carmesh.api.tokens import create_token, generate_key_pair
from tests.api.val_v2_support import (
    TIMEOUT,
    Metadata,
    ProviderCall,
    actuate_request,
    bearer,
    expect_code,
    get,
    held,
    ident,
    publish,
    sid,
)
from tests.support.car import RunningCar, running_car

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED

SPEED = "Vehicle.Speed"
VOLUME = "Vehicle.Cabin.Infotainment.Media.Volume"
HORN = "Vehicle.Body.Horn.IsActive"


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_key_pair()


@pytest.fixture(scope="module")
def car(
    tmp_path_factory: pytest.TempPathFactory, keys: tuple[bytes, bytes]
) -> Iterator[RunningCar]:
    home: Path = tmp_path_factory.mktemp("v2-tokens")
    public = home / "public.pem"
    public.write_bytes(keys[1])
    with running_car(home / "car", "--jwt-public-key", str(public)) as running:
        yield running


@pytest.fixture
def token(keys: tuple[bytes, bytes]) -> Any:
    def make(scope: str, **kwargs: Any) -> Metadata:
        return bearer(create_token(keys[0], scope, **kwargs))

    return make


@pytest.fixture
async def stub(car: RunningCar) -> AsyncIterator[val_pb2_grpc.VALStub]:
    async with grpc.aio.insecure_channel(car.grpc_address) as channel:
        yield val_pb2_grpc.VALStub(channel)


async def test_bad_credentials_are_unauthenticated(stub: val_pb2_grpc.VALStub, token: Any) -> None:
    """server.rs Authorization interceptor: no header → "No auth token provided"; a header
    that is not ``Bearer <token>``, or a token that is malformed, expired or signed by
    another key → "Invalid auth token"; all UNAUTHENTICATED, unary and streaming alike."""
    other_private, _ = generate_key_pair()
    expired = token("read", now=time.time() - 7200, expires_in=3600)
    credentials: list[Metadata] = [
        (),
        expired,
        bearer(create_token(other_private, "read")),
        bearer("not.a.token"),
        bearer(""),
        (("authorization", "Basic dXNlcjpwYXNz"),),
    ]
    for md in credentials:
        await expect_code(
            stub.GetServerInfo(val_pb2.GetServerInfoRequest(), metadata=md), UNAUTHENTICATED
        )
        await expect_code(
            stub.GetValue(val_pb2.GetValueRequest(signal_id=sid(SPEED)), metadata=md),
            UNAUTHENTICATED,
        )
        await expect_code(
            stub.ListMetadata(val_pb2.ListMetadataRequest(root="Vehicle"), metadata=md),
            UNAUTHENTICATED,
        )
        subscribe = stub.Subscribe(val_pb2.SubscribeRequest(signal_paths=[SPEED]), metadata=md)
        await expect_code(subscribe.read(), UNAUTHENTICATED)
        by_id = stub.SubscribeById(val_pb2.SubscribeByIdRequest(signal_ids=[1]), metadata=md)
        await expect_code(by_id.read(), UNAUTHENTICATED)
        await expect_code(
            stub.ActuateStream(iter([actuate_request(VOLUME, uint32=1)]), metadata=md),
            UNAUTHENTICATED,
        )
        provider = ProviderCall(stub, md)
        assert await provider.end() == UNAUTHENTICATED


async def test_a_token_that_expires_during_a_stream(stub: val_pb2_grpc.VALStub, token: Any) -> None:
    """Expiry is checked on use: a provider whose token expires can no longer claim
    (broker.rs can_write_actuator_target: PermissionError::Expired →
    ActuationError::PermissionExpired → UNAUTHENTICATED, conversions.rs to_tonic_status)."""
    md = token("provide", expires_in=2)
    provider = ProviderCall(stub, md)
    await provider.claim_values("Vehicle.Exterior.Humidity")
    await asyncio.sleep(2.2)
    await provider.send(
        provide_actuation_request=val_pb2.ProvideActuationRequest(actuator_identifiers=[sid(HORN)])
    )
    assert await provider.end() == UNAUTHENTICATED


async def test_missing_scopes_are_permission_denied(stub: val_pb2_grpc.VALStub, token: Any) -> None:
    """val.rs get_value()/get_values(): ReadError::PermissionDenied → PERMISSION_DENIED;
    publish_value(): UpdateError::PermissionDenied → PERMISSION_DENIED
    (conversions.rs to_status_with_code); broker.rs can_write_actuator_target() →
    ActuationError::PermissionDenied → PERMISSION_DENIED; provide_actuation /
    register_signals without the provide scope → PERMISSION_DENIED."""
    admin = token("read actuate provide")
    await publish(stub, SPEED, admin, float=12.0)
    reader = token("read:Vehicle.Speed")
    assert held(await get(stub, SPEED, reader)) == 12.0
    await expect_code(get(stub, "Vehicle.Exterior.Humidity", reader), DENIED)
    await expect_code(
        stub.GetValues(
            val_pb2.GetValuesRequest(signal_ids=[sid(SPEED), sid(HORN)]), metadata=reader
        ),
        DENIED,
    )
    await expect_code(publish(stub, SPEED, reader, float=1.0), DENIED)
    await expect_code(stub.Actuate(actuate_request(VOLUME, uint32=3), metadata=reader), DENIED)
    await expect_code(
        stub.BatchActuate(
            val_pb2.BatchActuateRequest(actuate_requests=[actuate_request(VOLUME, uint32=3)]),
            metadata=reader,
        ),
        DENIED,
    )
    for action in (
        {
            "provide_actuation_request": val_pb2.ProvideActuationRequest(
                actuator_identifiers=[sid(VOLUME)]
            )
        },
        {
            "provide_signal_request": val_pb2.ProvideSignalRequest(
                signals_sample_intervals={ident(SPEED): types_pb2.SampleInterval()}
            )
        },
    ):
        provider = ProviderCall(stub, reader)
        await provider.send(**action)
        assert await provider.end() == DENIED
    # The right scope lets the same calls through.
    cabin = token("actuate:Vehicle.Cabin.Infotainment.** provide:Vehicle.Cabin.Infotainment.**")
    provider = ProviderCall(stub, cabin)
    await provider.claim_actuation(VOLUME)
    await stub.Actuate(actuate_request(VOLUME, uint32=3), metadata=cabin, timeout=TIMEOUT)
    assert await provider.actuation()
    provider.cancel()


async def test_subscribe_and_metadata_need_read_scope(
    stub: val_pb2_grpc.VALStub, token: Any
) -> None:
    """The databroker checks no read scope in subscribe()/list_metadata() (val.rs); carmesh
    does: subscribing to an unreadable signal is PERMISSION_DENIED, and ListMetadata lists
    only readable signals (PERMISSION_DENIED when none is)."""
    reader = token("read:Vehicle.Speed read:Vehicle.Cabin.Door.**")
    for request in (
        val_pb2.SubscribeRequest(signal_paths=[SPEED, HORN]),
        val_pb2.SubscribeRequest(signal_paths=[HORN]),
    ):
        await expect_code(stub.Subscribe(request, metadata=reader).read(), DENIED)
    await expect_code(
        stub.SubscribeById(
            val_pb2.SubscribeByIdRequest(signal_ids=[ident(HORN)]), metadata=reader
        ).read(),
        DENIED,
    )
    call = stub.Subscribe(val_pb2.SubscribeRequest(signal_paths=[SPEED]), metadata=reader)
    first = await asyncio.wait_for(call.read(), TIMEOUT)
    assert list(first.entries) == [SPEED]
    call.cancel()
    listing = await stub.ListMetadata(
        val_pb2.ListMetadataRequest(root="Vehicle"), metadata=reader, timeout=TIMEOUT
    )
    paths = [m.path for m in listing.metadata]
    assert SPEED in paths and HORN not in paths
    assert all(p == SPEED or p.startswith("Vehicle.Cabin.Door.") for p in paths)
    await expect_code(
        stub.ListMetadata(val_pb2.ListMetadataRequest(root="Vehicle.Body"), metadata=reader),
        DENIED,
    )
