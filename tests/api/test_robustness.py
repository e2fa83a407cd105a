"""A flooding client and oversized messages do not stop the server serving others."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from tests.api.val_v2_support import datapoint, held, sid
from tests.support.car import RunningCar, running_car

SPEED = "Vehicle.Speed"


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    with running_car(Path(tmp_path_factory.mktemp("car"))) as running:
        yield running


async def test_a_flooding_client_does_not_starve_others(car: RunningCar) -> None:
    """Eight streams of back-to-back invalid and valid requests, and meanwhile another
    client's reads are answered (each within a generous deadline) and correct."""
    stop = asyncio.Event()
    sent = 0

    async def flood(channel: grpc.aio.Channel) -> None:
        nonlocal sent
        stub = val_pb2_grpc.VALStub(channel)
        bad = val_pb2.PublishValueRequest(
            signal_id=sid("Vehicle.Nope"), data_point=datapoint(float=1)
        )
        while not stop.is_set():
            calls = [stub.PublishValue(bad) for _ in range(50)]
            for call in calls:
                try:
                    await call
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.NOT_FOUND
                sent += 1

    async with grpc.aio.insecure_channel(car.grpc_address) as flood_channel:
        flooders = [asyncio.create_task(flood(flood_channel)) for _ in range(8)]
        async with grpc.aio.insecure_channel(car.grpc_address) as channel:
            stub = val_pb2_grpc.VALStub(channel)
            for i in range(20):
                await stub.PublishValue(
                    val_pb2.PublishValueRequest(
                        signal_id=sid(SPEED), data_point=datapoint(float=i)
                    ),
                    timeout=5,
                )
                got = await stub.GetValue(val_pb2.GetValueRequest(signal_id=sid(SPEED)), timeout=5)
                assert held(got.data_point) == float(i)
        stop.set()
        await asyncio.gather(*flooders)
    assert sent >= 400, "the flood really ran"


async def test_oversized_messages_are_refused(car: RunningCar) -> None:
    huge = types_pb2.Value()
    huge.string_array.values.extend(["x" * 1024] * (17 * 1024))  # 17 MiB > the 16 MiB limit
    async with grpc.aio.insecure_channel(
        car.grpc_address, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        stub = val_pb2_grpc.VALStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.PublishValue(
                val_pb2.PublishValueRequest(
                    signal_id=sid(SPEED), data_point=types_pb2.Datapoint(value=huge)
                ),
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        info = await stub.GetServerInfo(val_pb2.GetServerInfoRequest(), timeout=5)
        assert info.name == "carmesh"
