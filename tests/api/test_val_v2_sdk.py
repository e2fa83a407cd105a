"""The unmodified kuksa-client Python SDK (``kuksa_client.grpc.aio.VSSClient``) on its
kuksa.val.v2 paths against the real ``carmesh run``.

The SDK's connect asks v1 ``GetServerInfo`` and its getters and ``set_current_values`` look
types up with v1 ``Get``; these tests use the v2-only paths (``ensure_startup_connection=False``
and updates that carry their data type) so that they exercise kuksa.val.v2 alone:
``subscribe_current_values`` (Subscribe, ListMetadata on NOT_FOUND),
``subscribe_target_values`` (OpenProviderStream with a claim by path, ids from ListMetadata)
and ``set(…, try_v2=True)`` (PublishValue).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from kuksa.val.v2 import val_pb2, val_pb2_grpc
from kuksa_client.grpc import (
    DataEntry,
    Datapoint,
    DataType,
    EntryUpdate,
    Field,
    Metadata,
    VSSClientError,
)
from kuksa_client.grpc.aio import VSSClient

from tests.api.val_v2_support import TIMEOUT, actuate_request, expect_code, sid
from tests.support.car import RunningCar, running_car

SPEED = "Vehicle.Speed"
DOOR = "Vehicle.Cabin.Door.Row1.DriverSide"
TRUNK = "Vehicle.Body.Trunk.Rear.IsOpen"  # actuator, boolean


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    with running_car(tmp_path_factory.mktemp("v2-sdk") / "car") as running:
        yield running


@pytest.fixture
async def client(car: RunningCar) -> AsyncIterator[VSSClient]:
    host, _, port = car.grpc_address.rpartition(":")
    sdk = VSSClient(host, int(port), ensure_startup_connection=False)
    await sdk.connect()
    try:
        yield sdk
    finally:
        await sdk.disconnect()


def typed_update(path: str, value: Any, data_type: DataType) -> EntryUpdate:
    entry = DataEntry(path, value=Datapoint(value), metadata=Metadata(data_type=data_type))
    return EntryUpdate(entry, (Field.VALUE,))


async def test_subscribe_and_publish_current_values(client: VSSClient) -> None:
    """The first update holds every subscribed signal (None without a value), then changes
    published with PublishValue arrive."""
    updates = client.subscribe_current_values([SPEED])
    first = await asyncio.wait_for(anext(updates), TIMEOUT)
    assert list(first) == [SPEED] and first[SPEED].value is None
    await client.set([typed_update(SPEED, 88.5, DataType.FLOAT)], try_v2=True)
    update = await asyncio.wait_for(anext(updates), TIMEOUT)
    assert update[SPEED].value == 88.5
    assert update[SPEED].timestamp is not None
    await updates.aclose()


async def test_subscribing_to_a_branch_is_expanded_by_the_sdk(client: VSSClient) -> None:
    """v2 Subscribe takes signals only; on NOT_FOUND (val.rs get_signal: "Path not found")
    the SDK lists the branch with ListMetadata and subscribes to its signals."""
    updates = client.subscribe_current_values([DOOR])
    first = await asyncio.wait_for(anext(updates), TIMEOUT)
    assert f"{DOOR}.IsOpen" in first and f"{DOOR}.Window.Position" in first
    assert all(path.startswith(DOOR + ".") for path in first)
    await updates.aclose()


async def test_publish_errors_reach_the_sdk(client: VSSClient) -> None:
    """An out-of-range value is INVALID_ARGUMENT (broker.rs validate_value →
    OutOfBoundsMinMax; conversions.rs to_status_with_code), surfaced as VSSClientError."""
    bad = typed_update("Vehicle.Powertrain.Transmission.ClutchWear", 150, DataType.UINT8)
    with pytest.raises(VSSClientError) as caught:
        await client.set([bad], try_v2=True)
    assert caught.value.error["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "ClutchWear" in caught.value.error["message"]


async def test_sdk_provider_receives_actuations(client: VSSClient, car: RunningCar) -> None:
    """``subscribe_target_values`` claims the actuator over OpenProviderStream and yields the
    BatchActuateStreamRequests, mapping ids back to paths with ListMetadata; it never
    answers, so Actuate returns once forwarded (val.rs ``impl ActuationProvider for
    Provider``). While it is connected a second claim is ALREADY_EXISTS."""
    targets = client.subscribe_target_values([TRUNK])
    received = asyncio.ensure_future(anext(targets))
    async with grpc.aio.insecure_channel(car.grpc_address) as channel:
        stub = val_pb2_grpc.VALStub(channel)
        for _ in range(100):  # until the SDK's claim has gone through
            try:
                await stub.Actuate(actuate_request(TRUNK, bool=True), timeout=TIMEOUT)
                break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
                await asyncio.sleep(0.02)
        update = await asyncio.wait_for(received, TIMEOUT)
        assert update[TRUNK].value is True
        rival = stub.OpenProviderStream(
            iter(
                [
                    val_pb2.OpenProviderStreamRequest(
                        provide_actuation_request=val_pb2.ProvideActuationRequest(
                            actuator_identifiers=[sid(TRUNK)]
                        )
                    )
                ]
            )
        )
        await expect_code(rival.read(), grpc.StatusCode.ALREADY_EXISTS)
        await stub.Actuate(actuate_request(TRUNK, bool=False), timeout=TIMEOUT)
        update = await asyncio.wait_for(anext(targets), TIMEOUT)
        assert update[TRUNK].value is False
    await targets.aclose()
