"""Helpers for the ``sdv.databroker.v1`` tests: raw stubs, a test overlay, a KUKSA provider."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from kuksa.val.v2 import types_pb2 as v2_types
from kuksa.val.v2 import val_pb2 as v2
from kuksa.val.v2 import val_pb2_grpc as v2_grpc
from velocitas_sdk.proto import broker_pb2_grpc, collector_pb2, collector_pb2_grpc, types_pb2

from carmesh.api.grpc.convert import extract
from carmesh.vss import DataType

TIMEOUT = 5.0
Metadata = tuple[tuple[str, str], ...]

#: One sensor per VSS datatype under ``Vehicle.SdvTest`` (``Uint8Array`` for ``uint8[]``…), two
#: constrained signals and two actuators, none of which a provider of the car would claim.
TEST_BRANCH = "Vehicle.SdvTest"
UNSERVED = f"{TEST_BRANCH}.Unserved"
SERVED = f"{TEST_BRANCH}.Served"
OVERLAY_SIGNALS = len(DataType) + 4


def type_signal(datatype: DataType) -> str:
    name = datatype.element.value.title() + ("Array" if datatype.is_array else "")
    return f"{TEST_BRANCH}.{name}"


def overlay() -> str:
    """A YAML overlay adding the test signals."""
    lines = [f"{TEST_BRANCH}:", "  type: branch", "  description: Signals of every type."]
    for datatype in DataType:
        lines += [
            f"{type_signal(datatype)}:",
            "  type: sensor",
            f"  datatype: {datatype.value}",
            f"  description: A {datatype.value} sensor.",
        ]
    lines += [
        f"{TEST_BRANCH}.Percent:",
        "  type: sensor",
        "  datatype: uint8",
        "  min: 0",
        "  max: 100",
        "  description: Bounded.",
        f"{TEST_BRANCH}.Mode:",
        "  type: actuator",
        "  datatype: string",
        "  allowed: [ECO, SPORT]",
        "  description: Allowed values.",
        f"{UNSERVED}:",
        "  type: actuator",
        "  datatype: uint8",
        "  description: An actuator no provider serves.",
        f"{SERVED}:",
        "  type: actuator",
        "  datatype: uint16",
        "  description: An actuator the tests serve.",
    ]
    return "\n".join(lines) + "\n"


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Sdv:
    """Raw stubs of both services on one channel; *md* is sent with every call."""

    broker: broker_pb2_grpc.BrokerStub
    collector: collector_pb2_grpc.CollectorStub
    channel: grpc.aio.Channel


@contextlib.asynccontextmanager
async def connect(address: str) -> AsyncIterator[Sdv]:
    async with grpc.aio.insecure_channel(address) as channel:
        yield Sdv(
            broker_pb2_grpc.BrokerStub(channel),
            collector_pb2_grpc.CollectorStub(channel),
            channel,
        )


async def register(sdv: Sdv, path: str, data_type: str, md: Metadata = ()) -> int:
    reply = await sdv.collector.RegisterDatapoints(
        collector_pb2.RegisterDatapointsRequest(
            list=[
                collector_pb2.RegistrationMetadata(
                    name=path,
                    data_type=types_pb2.DataType.Value(data_type),
                    change_type=types_pb2.CONTINUOUS,
                    description="",
                )
            ]
        ),
        metadata=md,
        timeout=TIMEOUT,
    )
    return int(reply.results[path])


async def publish(sdv: Sdv, path: str, data_type: str, **value: Any) -> None:
    """Register *path* as a feeder does and publish one value (``float_value=1.5``)."""
    node_id = await register(sdv, path, data_type)
    reply = await sdv.collector.UpdateDatapoints(
        collector_pb2.UpdateDatapointsRequest(datapoints={node_id: types_pb2.Datapoint(**value)}),
        timeout=TIMEOUT,
    )
    assert not reply.errors, reply


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the call succeeded")


async def stream_error(call: Any) -> grpc.aio.AioRpcError:
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the stream ended without an error")


class ActuationProvider:
    """A KUKSA ``kuksa.val.v2`` provider on a raw ``OpenProviderStream``: claims actuators and
    records the actuation requests carmesh forwards to it (accepting them all)."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.stub = v2_grpc.VALStub(channel)
        self.requests: asyncio.Queue[tuple[str | int, Any]] = asyncio.Queue()
        self._outgoing: asyncio.Queue[Any] = asyncio.Queue()
        self._call: Any = None
        self._task: asyncio.Task[None] | None = None

    async def claim(self, *paths: str) -> None:
        async def outgoing() -> AsyncIterator[Any]:
            while (message := await self._outgoing.get()) is not None:
                yield message

        self._call = self.stub.OpenProviderStream(outgoing())
        claim = v2.ProvideActuationRequest(
            actuator_identifiers=[v2_types.SignalID(path=p) for p in paths]
        )
        await self._outgoing.put(v2.OpenProviderStreamRequest(provide_actuation_request=claim))
        response = await asyncio.wait_for(self._call.read(), TIMEOUT)
        assert response.HasField("provide_actuation_response"), response
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        while (response := await self._call.read()) is not grpc.aio.EOF:
            if response.HasField("batch_actuate_stream_request"):
                for request in response.batch_actuate_stream_request.actuate_requests:
                    signal = request.signal_id
                    key = signal.path if signal.HasField("path") else signal.id
                    await self.requests.put((key, extract(request.value, "typed_value")))

    async def actuation(self) -> tuple[str | int, Any]:
        return await asyncio.wait_for(self.requests.get(), TIMEOUT)

    async def close(self) -> None:
        await self._outgoing.put(None)
        if self._call is not None:
            self._call.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await self._task
