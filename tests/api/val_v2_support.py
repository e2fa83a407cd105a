"""Helpers for the kuksa.val.v2 tests: message shorthands, status assertions and a raw
``OpenProviderStream`` client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

import grpc
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from carmesh.vss import Catalog

CATALOG = Catalog.load()
TIMEOUT = 5.0

Metadata = Sequence[tuple[str, str]]


def ident(path: str) -> int:
    """The id carmesh gives *path* (the catalog's node id)."""
    return CATALOG[path].id


def sid(signal: str | int) -> Any:
    """A SignalID by path (str) or id (int)."""
    if isinstance(signal, int):
        return types_pb2.SignalID(id=signal)
    return types_pb2.SignalID(path=signal)


def value(**typed: Any) -> Any:
    """``value(float=1.5)``, ``value(int32_array=[1, 2])`` …"""
    ((field, held),) = typed.items()
    if field.endswith("_array"):
        message = types_pb2.Value()
        getattr(message, field).values.extend(held)
        return message
    return types_pb2.Value(**{field: held})


def datapoint(ts_ns: int | None = None, **typed: Any) -> Any:
    message = types_pb2.Datapoint(value=value(**typed))
    if ts_ns is not None:
        message.timestamp.seconds, message.timestamp.nanos = divmod(ts_ns, 1_000_000_000)
    return message


def held(message: Any) -> Any:
    """The Python value of a Value or Datapoint (None when it holds none)."""
    if message.DESCRIPTOR.name == "Datapoint":
        if not message.HasField("value"):
            return None
        message = message.value
    which = message.WhichOneof("typed_value")
    if which is None:
        return None
    got = getattr(message, which)
    return list(got.values) if which.endswith("_array") else got


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The error a call ends with; fails the test when it succeeds."""
    try:
        result = await asyncio.wait_for(call, TIMEOUT)
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError(f"expected an error, got {result!r}")


async def expect_code(call: Awaitable[Any], code: grpc.StatusCode) -> str:
    """Assert the call fails with *code*; return the details."""
    exc = await rpc_error(call)
    assert exc.code() == code, f"{exc.code()} {exc.details()}"
    return exc.details() or ""


async def publish(stub: val_pb2_grpc.VALStub, path: str, md: Metadata = (), **typed: Any) -> None:
    await stub.PublishValue(
        val_pb2.PublishValueRequest(signal_id=sid(path), data_point=datapoint(**typed)),
        metadata=md,
        timeout=TIMEOUT,
    )


async def get(stub: val_pb2_grpc.VALStub, signal: str | int, md: Metadata = ()) -> Any:
    response = await stub.GetValue(
        val_pb2.GetValueRequest(signal_id=sid(signal)), metadata=md, timeout=TIMEOUT
    )
    return response.data_point


def actuate_request(signal: str | int, **typed: Any) -> Any:
    return val_pb2.ActuateRequest(signal_id=sid(signal), value=value(**typed))


class ProviderCall:
    """One raw ``OpenProviderStream`` call, written and read by the test."""

    def __init__(self, stub: val_pb2_grpc.VALStub, md: Metadata = ()) -> None:
        self.call = stub.OpenProviderStream(metadata=md)

    async def send(self, **action: Any) -> None:
        await self.call.write(val_pb2.OpenProviderStreamRequest(**action))

    async def recv(self, timeout: float = TIMEOUT) -> Any:
        message = await asyncio.wait_for(self.call.read(), timeout)
        assert message is not grpc.aio.EOF, "the provider stream ended"
        return message

    async def end(self, timeout: float = TIMEOUT) -> grpc.StatusCode:
        """Read until the stream ends; its status code."""

        async def drain() -> None:
            while await self.call.read() is not grpc.aio.EOF:
                pass

        try:
            await asyncio.wait_for(drain(), timeout)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        code: grpc.StatusCode = await self.call.code()
        return code

    async def claim_actuation(self, *signals: str | int) -> None:
        request = val_pb2.ProvideActuationRequest(actuator_identifiers=[sid(s) for s in signals])
        await self.send(provide_actuation_request=request)
        assert (await self.recv()).HasField("provide_actuation_response")

    async def claim_values(self, *paths: str) -> None:
        intervals = {ident(p): types_pb2.SampleInterval(interval_ms=0) for p in paths}
        request = val_pb2.ProvideSignalRequest(signals_sample_intervals=intervals)
        await self.send(provide_signal_request=request)
        assert (await self.recv()).HasField("provide_signal_response")

    async def publish(self, request_id: int = 1, **points: Any) -> None:
        """``publish(1, **{"Vehicle.Speed": datapoint(float=1.0)})``."""
        request = val_pb2.PublishValuesRequest(
            request_id=request_id, data_points={ident(p): dp for p, dp in points.items()}
        )
        await self.send(publish_values_request=request)

    async def answer(self, signal: str | int, code: int = 1, message: str = "") -> None:
        """Send a BatchActuateStreamResponse (``code`` 1 is ERROR_CODE_OK)."""
        response = val_pb2.BatchActuateStreamResponse(
            signal_id=sid(signal), error=types_pb2.Error(code=code, message=message)
        )
        await self.send(batch_actuate_stream_response=response)

    async def actuation(self, timeout: float = TIMEOUT) -> dict[int, Any]:
        """The next BatchActuateStreamRequest as {id: value}."""
        message = await self.recv(timeout)
        assert message.HasField("batch_actuate_stream_request"), message
        return {
            r.signal_id.id: held(r.value)
            for r in message.batch_actuate_stream_request.actuate_requests
        }

    def cancel(self) -> None:
        self.call.cancel()
