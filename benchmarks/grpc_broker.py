"""Benchmark of the broker on the wire: provider → server → N subscribers over gRPC on loopback.

A provider opens a ``kuksa.val.v2`` ``OpenProviderStream``, claims 100 float sensors of the
VSS 6.0 catalog with ``ProvideSignalRequest`` and publishes ``PublishValuesRequest`` batches;
N subscribers (N = 1, 10, 100) hold ``SubscribeById`` (or ``Subscribe``) streams on the same
signals. The provider, the subscribers and every server run in processes of their own, so
that client work does not share a GIL with the server measured.

Servers, all measured in the same run:

carmesh
    the real ``carmesh run --grpc 127.0.0.1:0``, and the same runtime started under uvloop
    (``carmesh run`` has no option for it, so that variant builds ``Runtime`` itself);
ceiling
    a bare grpc.aio server written here that relays the same ``kuksa.val.v2`` messages
    (``PublishValuesRequest`` in, ``SubscribeByIdResponse`` out to every subscriber stream)
    with no validation and no broker: the most the Python gRPC path does on this machine;
mosquitto
    the Debian package's MQTT broker with paho-mqtt clients: every batch is one QoS 0
    message carrying the serialized ``PublishValuesRequest``.

Measurements:

throughput
    the provider publishes batches of 100 updates as fast as it can, with at most
    ``--window`` batches in flight. A batch is taken in when it comes back on the provider's
    own subscription to the same signals: carmesh, like the KUKSA databroker, answers a
    ``PublishValuesRequest`` only to refuse something, and MQTT QoS 0 has no answer, so the
    same echo serves every server (one more subscriber for each). Ingest is updates/s taken
    in; delivered is updates/s counted by the N subscribers together.
latency
    10,000 updates/s offered on a drift-free schedule (100 updates every 10 ms by default);
    every datapoint carries ``time.time_ns()`` taken just before the send, and subscribers
    record receive time minus that timestamp. p50/p99 are medians over the runs, max the
    worst of all.

Run ``python benchmarks/grpc_broker.py`` (under 3 minutes on two cores), ``--quick`` for a
short run, ``--probe`` to check only that carmesh's ``kuksa.val.v2`` answers.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import bisect
import contextlib
import gc
import importlib.metadata
import importlib.util
import math
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

import grpc
from google.protobuf.internal import api_implementation
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import carmesh
from carmesh.vss.catalog import Catalog
from carmesh.vss.model import DataType, NodeType
from report import machine_line, progress

SUBSCRIBER_COUNTS = (1, 10, 100)
SIGNALS = 100
LATENCY_RATE = 10_000
MOSQUITTO = "/usr/sbin/mosquitto"
TOPIC = "carmesh-bench/values"
HOST = "127.0.0.1"

#: Targets of the issue.
TARGET_INGEST = 100_000.0
TARGET_LATENCY_SUBSCRIBERS = 10
TARGET_P99_NS = 5_000_000
TARGET_CEILING_SHARE = 0.5
#: Share of the offered rate the provider must achieve for a latency result to count.
MIN_ACHIEVED_SHARE = 0.95
#: What kuksa-perf's README reports for the Rust KUKSA databroker (not measured here).
REFERENCE = "~84k updates/s, p99 1.2 ms (101 signals, kuksa.val.v2)"

#: Every channel its own connection, as separate applications would have.
_CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]
#: The options carmesh's server uses, so that the ceiling is not favoured by them.
_SERVER_OPTIONS = [
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_concurrent_streams", 1 << 20),
]
_BANNER_GRPC = re.compile(r"^\s*grpc\s+(\S+)\s")
_READY_LINE = "Press Ctrl-C to stop."
#: The carmesh runtime under uvloop: what ``carmesh run`` does, on another event loop.
_CARMESH_UVLOOP = """\
import asyncio, logging, signal, sys
from pathlib import Path
import uvloop
from carmesh.runtime import Runtime
from carmesh.settings import Settings

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


async def main() -> None:
    settings = Settings.load(
        data_dir=Path(sys.argv[1]),
        grpc=sys.argv[2],
        vehicle="none",
        http="off",
        apps=False,
        media=False,
    )
    runtime = Runtime(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runtime.stop)

    def ready(rt: Runtime) -> None:
        print(f"  grpc      {rt.grpc.address} (uvloop)", flush=True)
        print("Press Ctrl-C to stop.", flush=True)

    await runtime.run(on_ready=ready)


uvloop.run(main())
"""


class BenchError(Exception):
    """A measurement could not be made; the message says what and why."""


class WorkerStuck(BenchError):
    """A client process stopped answering: the run cannot go on."""


def _rpc_error(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError | grpc.RpcError) and hasattr(exc, "code"):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


def _uvloop_version() -> str | None:
    if importlib.util.find_spec("uvloop") is None:
        return None
    return importlib.metadata.version("uvloop")


def _run_on(loop_name: str, main: Coroutine[Any, Any, None]) -> None:
    if loop_name == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


# -- the workload ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Signals:
    """The sensors the provider claims: VSS ids and paths, in the same order."""

    ids: tuple[int, ...]
    paths: tuple[str, ...]


def pick_signals(catalog: Catalog, count: int) -> Signals:
    """The first *count* scalar ``float`` sensors without min, max or allowed values."""
    nodes = [
        node
        for node in catalog.leaves
        if node.type is NodeType.SENSOR
        and node.datatype is DataType.FLOAT
        and node.min is None
        and node.max is None
        and node.allowed is None
    ]
    if len(nodes) < count:
        raise SystemExit(f"the catalog has only {len(nodes)} unconstrained float sensors")
    return Signals(tuple(n.id for n in nodes[:count]), tuple(n.path for n in nodes[:count]))


def publish_values(ids: Sequence[int], base: float, stamp_ns: int) -> val_pb2.PublishValuesRequest:
    """One batch: a float value and a timestamp for every id."""
    request = val_pb2.PublishValuesRequest()
    seconds, nanos = divmod(stamp_ns, 1_000_000_000)
    for i, signal_id in enumerate(ids):
        datapoint = request.data_points[signal_id]
        datapoint.value.float = base + i
        datapoint.timestamp.seconds = seconds
        datapoint.timestamp.nanos = nanos
    return request


class _Batch:
    """A ``PublishValuesRequest`` inside the provider-stream request that carries it.

    Built once and sent many times: only the request id and, for latency, the timestamps
    change between sends.
    """

    def __init__(self, values: val_pb2.PublishValuesRequest) -> None:
        self.request = val_pb2.OpenProviderStreamRequest()
        self.request.publish_values_request.CopyFrom(values)
        self.values = self.request.publish_values_request
        self.size = len(values.data_points)
        self._stamps = [dp.timestamp for dp in self.values.data_points.values()]

    def stamp(self, ns: int) -> None:
        seconds, nanos = divmod(ns, 1_000_000_000)
        for stamp in self._stamps:
            stamp.seconds = seconds
            stamp.nanos = nanos


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """No garbage collection in a client while it measures (the servers keep theirs)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def percentile(sorted_runs: Sequence[Sequence[int]], p: float) -> int:
    """Nearest-rank percentile of several sorted sequences taken together (not all empty)."""
    total = sum(len(s) for s in sorted_runs)
    rank = max(1, math.ceil(p / 100 * total))
    low = min(s[0] for s in sorted_runs if s)
    high = max(s[-1] for s in sorted_runs if s)
    while low < high:
        middle = (low + high) // 2
        if sum(bisect.bisect_right(s, middle) for s in sorted_runs) >= rank:
            high = middle
        else:
            low = middle + 1
    return low


# -- the ceiling: a bare grpc.aio relay of the same messages ------------------------------


class _Outbox:
    """What one subscriber stream has yet to send: at most 256 messages, oldest dropped."""

    def __init__(self) -> None:
        self.messages: deque[Any] = deque(maxlen=256)
        self.waiter: asyncio.Future[None] | None = None

    def put(self, message: Any) -> None:
        self.messages.append(message)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            while self.messages:
                yield self.messages.popleft()
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
            self.waiter = None


class Relay:
    """``kuksa.val.v2`` provider stream in, subscription streams out; nothing checked.

    Every published batch goes to every subscriber whatever it subscribed to; a new
    subscriber first gets the last batch (or an empty message before any), as a broker sends
    the current values first.
    """

    def __init__(self, paths: dict[int, str]) -> None:
        self.paths = paths
        self.by_id: set[_Outbox] = set()
        self.by_path: set[_Outbox] = set()
        self.last: val_pb2.PublishValuesRequest | None = None

    def _by_id(self, batch: val_pb2.PublishValuesRequest) -> val_pb2.SubscribeByIdResponse:
        response = val_pb2.SubscribeByIdResponse()
        response.entries.MergeFrom(batch.data_points)
        return response

    def _by_path(self, batch: val_pb2.PublishValuesRequest) -> val_pb2.SubscribeResponse:
        response = val_pb2.SubscribeResponse()
        for signal_id, datapoint in batch.data_points.items():
            response.entries[self.paths.get(signal_id, str(signal_id))].CopyFrom(datapoint)
        return response

    async def provide(
        self, requests: AsyncIterator[val_pb2.OpenProviderStreamRequest], context: Any
    ) -> AsyncIterator[val_pb2.OpenProviderStreamResponse]:
        async for request in requests:
            action = request.WhichOneof("action")
            if action == "publish_values_request":
                batch = request.publish_values_request
                self.last = batch
                if self.by_id:
                    message: Any = self._by_id(batch)
                    for outbox in self.by_id:
                        outbox.put(message)
                if self.by_path:
                    message = self._by_path(batch)
                    for outbox in self.by_path:
                        outbox.put(message)
                yield val_pb2.OpenProviderStreamResponse(
                    publish_values_response=val_pb2.PublishValuesResponse(
                        request_id=batch.request_id
                    )
                )
            elif action == "provide_signal_request":
                yield val_pb2.OpenProviderStreamResponse(
                    provide_signal_response=val_pb2.ProvideSignalResponse()
                )

    async def _stream(self, outboxes: set[_Outbox], first: Any) -> AsyncIterator[Any]:
        outbox = _Outbox()
        outboxes.add(outbox)
        try:
            yield first
            async for message in outbox:
                yield message
        finally:
            outboxes.discard(outbox)

    async def subscribe_by_id(
        self, request: val_pb2.SubscribeByIdRequest, context: Any
    ) -> AsyncIterator[val_pb2.SubscribeByIdResponse]:
        first = self._by_id(self.last) if self.last else val_pb2.SubscribeByIdResponse()
        async for message in self._stream(self.by_id, first):
            yield message

    async def subscribe(
        self, request: val_pb2.SubscribeRequest, context: Any
    ) -> AsyncIterator[val_pb2.SubscribeResponse]:
        first = self._by_path(self.last) if self.last else val_pb2.SubscribeResponse()
        async for message in self._stream(self.by_path, first):
            yield message

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            "kuksa.val.v2.VAL",
            {
                "OpenProviderStream": grpc.stream_stream_rpc_method_handler(
                    self.provide,
                    request_deserializer=val_pb2.OpenProviderStreamRequest.FromString,
                    response_serializer=val_pb2.OpenProviderStreamResponse.SerializeToString,
                ),
                "SubscribeById": grpc.unary_stream_rpc_method_handler(
                    self.subscribe_by_id,
                    request_deserializer=val_pb2.SubscribeByIdRequest.FromString,
                    response_serializer=val_pb2.SubscribeByIdResponse.SerializeToString,
                ),
                "Subscribe": grpc.unary_stream_rpc_method_handler(
                    self.subscribe,
                    request_deserializer=val_pb2.SubscribeRequest.FromString,
                    response_serializer=val_pb2.SubscribeResponse.SerializeToString,
                ),
            },
        )


# -- MQTT clients on the event loop ---------------------------------------------------------


class MqttLink:
    """One paho-mqtt client driven by the running event loop (paho's external-loop API)."""

    def __init__(self, client_id: str, on_payload: Callable[[bytes], None]) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.loop = asyncio.get_running_loop()
        self.received = 0
        self._on_payload = on_payload
        self._connected: asyncio.Future[None] = self.loop.create_future()
        self._subscribed: asyncio.Future[None] = self.loop.create_future()
        self._closed = asyncio.Event()
        self._misc: asyncio.Task[None] | None = None
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self.client = client

    def _socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        self.loop.add_reader(sock, self._readable)

    def _socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)
        self._closed.set()

    def _register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def _unregister_write(self, client: Any, userdata: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not self._connected.done():
            if reason.is_failure:
                self._connected.set_exception(BenchError(f"MQTT connect refused: {reason}"))
            else:
                self._connected.set_result(None)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        if not self._subscribed.done():
            self._subscribed.set_result(None)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.received += 1
        self._on_payload(message.payload)

    def _readable(self) -> None:
        # paho reads one packet per call; take what is buffered, a bounded number at a time.
        for _ in range(64):
            before = self.received
            if self.client.loop_read() != 0 or self.received == before:
                break

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.client.loop_misc()

    async def connect(self, port: int, topic: str | None) -> None:
        self.client.connect(HOST, port, keepalive=60)
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._misc = self.loop.create_task(self._keepalive())
        await asyncio.wait_for(self._connected, 10)
        if topic is not None:
            self.client.subscribe(topic, qos=0)
            await asyncio.wait_for(self._subscribed, 10)

    def publish(self, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(TOPIC, payload, qos=0, retain=retain)

    async def close(self) -> None:
        if self._misc is not None:
            self._misc.cancel()
        if self.client.socket() is not None:
            self.client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), 1.0)
        sock = self.client.socket()
        if sock is not None:
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)
            sock.close()


# -- the provider ---------------------------------------------------------------------------


class ProviderRole:
    """Claims the signals and publishes batches: flat out (throughput) or paced (latency).

    A batch counts as taken in when it comes back on the provider's own subscription to the
    same signals: carmesh, like the KUKSA databroker, answers a ``PublishValuesRequest``
    only when it refuses something, and MQTT QoS 0 has no answer at all. The echo is the
    same for every server, so all are measured alike; it is one more subscriber for each.
    At most ``window`` batches are out without their echo.
    """

    def __init__(self) -> None:
        self.signals = Signals((), ())
        self.window = 1
        self._call: Any = None
        self._echo: Any = None
        self._channels: list[grpc.aio.Channel] = []
        self._mqtt: MqttLink | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._credit = asyncio.Semaphore(1)
        self._sizes: deque[int] = deque()
        self._next_id = 0
        self._t0 = self._t1 = 0.0
        self._acked = 0
        self._errors = 0
        self._first_error = ""
        self._answered = 0
        self._failure: BaseException | None = None
        self._prime: asyncio.Future[None] | None = None

    # what comes back

    def _ack(self) -> None:
        size = self._sizes.popleft() if self._sizes else 0
        now = time.monotonic()
        if self._t0 <= now < self._t1:
            self._acked += size
        self._credit.release()
        if self._prime is not None and not self._prime.done():
            self._prime.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, grpc.aio.AioRpcError) and exc.code() is grpc.StatusCode.CANCELLED:
            return
        self._failure = exc
        if self._prime is not None and not self._prime.done():
            self._prime.set_exception(BenchError(_rpc_error(exc)))

    async def _read_answers(self) -> None:
        """``PublishValuesResponse`` s: only refusals are expected."""
        try:
            while (response := await self._call.read()) is not grpc.aio.EOF:
                if response.WhichOneof("action") != "publish_values_response":
                    continue
                answer = response.publish_values_response
                self._answered += 1
                if answer.status:
                    self._errors += len(answer.status)
                    if not self._first_error:
                        signal_id, error = next(iter(answer.status.items()))
                        self._first_error = f"id {signal_id}: {error.code} {error.message}"
        except grpc.aio.AioRpcError as exc:
            self._fail(exc)

    async def _read_echo(self) -> None:
        try:
            while await self._echo.read() is not grpc.aio.EOF:
                self._ack()
        except grpc.aio.AioRpcError as exc:
            self._fail(exc)

    def _on_mqtt_echo(self, payload: bytes) -> None:
        if payload:
            self._ack()

    # commands

    async def connect(
        self, protocol: str, address: str, signals: Signals, window: int
    ) -> dict[str, Any]:
        """Claim the signals, subscribe to them, publish every value once (stamped now).

        Returns whether the server sends ``PublishValuesResponse`` for accepted batches
        and the timestamp of the first batch.
        """
        await self.disconnect()
        self.signals, self.window = signals, window
        self._credit = asyncio.Semaphore(window)
        self._sizes.clear()
        self._failure = None
        self._errors = self._answered = 0
        self._first_error = ""
        stamp = time.time_ns()
        prime = _Batch(publish_values(signals.ids, 1.0, stamp))
        self._prime = asyncio.get_running_loop().create_future()
        if protocol == "mqtt":
            self._mqtt = MqttLink(f"provider-{os.getpid()}", self._on_mqtt_echo)
            await self._mqtt.connect(int(address.rpartition(":")[2]), TOPIC)
            await self._credit.acquire()
            self._sizes.append(prime.size)
            self._mqtt.publish(prime.values.SerializeToString(), retain=True)
            await asyncio.wait_for(self._prime, 10)
            return {"answers": False, "stamp": stamp}
        channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
        self._channels.append(channel)
        self._call = val_pb2_grpc.VALStub(channel).OpenProviderStream()
        intervals = {i: types_pb2.SampleInterval(interval_ms=0) for i in signals.ids}
        claim = val_pb2.ProvideSignalRequest(signals_sample_intervals=intervals)
        await self._call.write(val_pb2.OpenProviderStreamRequest(provide_signal_request=claim))
        first = await asyncio.wait_for(self._call.read(), 10)
        if first is grpc.aio.EOF:
            raise BenchError("the server closed the provider stream after the claim")
        if first.WhichOneof("action") != "provide_signal_response":
            raise BenchError(f"expected a ProvideSignalResponse, got {first.WhichOneof('action')}")
        channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
        self._channels.append(channel)
        # Room for every batch in flight, so that the server never folds two into one.
        request = val_pb2.SubscribeByIdRequest(signal_ids=signals.ids, buffer_size=2 * window)
        self._echo = val_pb2_grpc.VALStub(channel).SubscribeById(request)
        await asyncio.wait_for(self._echo.read(), 10)  # the current values
        self._tasks = [
            asyncio.create_task(self._read_answers()),
            asyncio.create_task(self._read_echo()),
        ]
        await self._credit.acquire()
        await self._send(prime)
        await asyncio.wait_for(self._prime, 10)
        await asyncio.sleep(0.2)  # time for a PublishValuesResponse, if the server sends one
        if self._errors:
            raise BenchError(f"the server refused the first batch: {self._first_error}")
        return {"answers": self._answered > 0, "stamp": stamp}

    async def _send(self, batch: _Batch) -> None:
        """Send one batch under a fresh request id (the caller holds a window credit)."""
        self._sizes.append(batch.size)
        if self._mqtt is not None:
            self._mqtt.publish(batch.values.SerializeToString())
            return
        self._next_id += 1
        batch.values.request_id = self._next_id
        await self._call.write(batch.request)

    async def _acquire(self) -> None:
        try:
            await asyncio.wait_for(self._credit.acquire(), 10)
        except TimeoutError:
            raise BenchError(
                f"no batch came back for 10 s with {self.window} batches outstanding"
            ) from None

    async def _settle(self) -> None:
        """Wait (bounded) for the batches still out."""
        deadline = time.monotonic() + 5.0
        while self._sizes and time.monotonic() < deadline and self._failure is None:
            await asyncio.sleep(0.005)

    def _check(self) -> None:
        if self._failure is not None:
            raise BenchError(f"the provider's streams failed: {_rpc_error(self._failure)}")

    async def flood(self, t0: float, t1: float) -> dict[str, Any]:
        """Publish as fast as the window allows until *t1*; count echoes in [t0, t1)."""
        self._t0, self._t1, self._acked, self._errors = t0, t1, 0, 0
        stamp = time.time_ns()
        batches = [_Batch(publish_values(self.signals.ids, b, stamp)) for b in (1.0, 0.5)]
        k = 0
        with _no_gc():
            while time.monotonic() < t1:
                self._check()
                await self._acquire()
                await self._send(batches[k & 1])
                if self._mqtt is not None and k % 16 == 15:
                    await asyncio.sleep(0)  # let the event loop write and read
                k += 1
            await self._settle()
        self._check()
        return {"acked": self._acked, "errors": self._errors, "first_error": self._first_error}

    async def pace(
        self, begin: float, t0: float, t1: float, batch: int, period: float
    ) -> dict[str, Any]:
        """Publish *batch* updates every *period* s from *begin* to *t1*, stamped at send."""
        self._t0, self._t1, self._acked, self._errors = t0, t1, 0, 0
        ids = self.signals.ids[:batch]
        batches = [_Batch(publish_values(ids, base, 0)) for base in (1.0, 0.5)]
        published = 0
        k = 0
        clock = time.monotonic
        with _no_gc():
            while (due := begin + k * period) < t1:
                self._check()
                delay = due - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._acquire()
                current = batches[k & 1]
                current.stamp(time.time_ns())
                await self._send(current)
                if due >= t0:
                    published += batch
                k += 1
            await self._settle()
        self._check()
        return {"published": published, "errors": self._errors}

    async def disconnect(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for call in (self._call, self._echo):
            if call is not None:
                call.cancel()
        for channel in self._channels:
            await channel.close()
        if self._mqtt is not None:
            await self._mqtt.close()
        self._tasks, self._channels, self._call, self._echo, self._mqtt = [], [], None, None, None

    async def close(self) -> None:
        await self.disconnect()


# -- the subscribers ------------------------------------------------------------------------


class SubscriberRole:
    """Holds some of the N subscriptions; counts updates or records their latency."""

    IDLE, COUNT, LATENCY = range(3)

    def __init__(self) -> None:
        self.mode = self.IDLE
        self.t0 = self.t1 = 0.0
        self.w0 = self.w1 = 0
        self.count = 0
        self.samples: list[int] = []
        self.last = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._channels: list[grpc.aio.Channel] = []
        self._links: list[MqttLink] = []
        self._firsts: list[asyncio.Future[int]] = []
        self._failure: BaseException | None = None
        self.signals = Signals((), ())
        self.by = "id"
        self.check_key: int | str = 0

    def on_entries(self, entries: Any) -> None:
        now = time.monotonic()
        self.last = now
        mode = self.mode
        if mode == self.COUNT:
            if self.t0 <= now < self.t1:
                self.count += len(entries)
        elif mode == self.LATENCY and now < self.t1:
            wall = time.time_ns()
            w0, w1 = self.w0, self.w1
            # Every batch carries the same signals under one stamp, and a folded message holds
            # the newest batch whole, so one stamp usually speaks for all; the stamp of the
            # batch's last signal confirms it, else every entry is read.
            first = next(iter(entries.values()), None)
            other = entries.get(self.check_key)
            if first is not None and other is not None:
                sent = first.timestamp.seconds * 1_000_000_000 + first.timestamp.nanos
                if sent == other.timestamp.seconds * 1_000_000_000 + other.timestamp.nanos:
                    if w0 <= sent < w1:
                        self.samples.extend([wall - sent] * len(entries))
                    return
            append = self.samples.append
            for datapoint in entries.values():
                stamp = datapoint.timestamp
                sent = stamp.seconds * 1_000_000_000 + stamp.nanos
                if w0 <= sent < w1:
                    append(wall - sent)

    @staticmethod
    def _first_stamp(entries: Any) -> int:
        for datapoint in entries.values():
            return int(datapoint.timestamp.seconds * 1_000_000_000 + datapoint.timestamp.nanos)
        return 0

    async def _grpc_stream(
        self, address: str, by: str, buffer: int, signals: Signals, first: asyncio.Future[int]
    ) -> None:
        channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
        self._channels.append(channel)
        stub = val_pb2_grpc.VALStub(channel)
        call: Any
        if by == "path":
            request: Any = val_pb2.SubscribeRequest(signal_paths=signals.paths, buffer_size=buffer)
            call = stub.Subscribe(request)
        else:
            request = val_pb2.SubscribeByIdRequest(signal_ids=signals.ids, buffer_size=buffer)
            call = stub.SubscribeById(request)
        try:
            async for response in call:
                if not first.done():
                    first.set_result(self._first_stamp(response.entries))
                self.on_entries(response.entries)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.CANCELLED:
                self._failure = exc
                if not first.done():
                    first.set_exception(BenchError(_rpc_error(exc)))

    def _mqtt_payload(self, first: asyncio.Future[int]) -> Callable[[bytes], None]:
        parse = val_pb2.PublishValuesRequest.FromString

        def on_payload(payload: bytes) -> None:
            if not payload:
                return
            entries = parse(payload).data_points
            if not first.done():
                first.set_result(self._first_stamp(entries))
            self.on_entries(entries)

        return on_payload

    async def open(
        self,
        protocol: str,
        address: str,
        count: int,
        by: str,
        buffer: int,
        signals: Signals,
        name: str,
    ) -> dict[str, Any]:
        """Open *count* subscriptions; return once each has its first message (current values)."""
        await self.shut()
        self.signals = signals
        self.by = "id" if protocol == "mqtt" else by
        loop = asyncio.get_running_loop()
        self._firsts = [loop.create_future() for _ in range(count)]
        for i, first in enumerate(self._firsts):
            if protocol == "mqtt":
                link = MqttLink(f"{name}-{i}", self._mqtt_payload(first))
                self._links.append(link)
                await link.connect(int(address.rpartition(":")[2]), TOPIC)
            else:
                stream = self._grpc_stream(address, by, buffer, signals, first)
                task = asyncio.create_task(stream)
                self._tasks.append(task)
        try:
            stamps = await asyncio.wait_for(asyncio.gather(*self._firsts), 30)
        except TimeoutError:
            got = sum(1 for f in self._firsts if f.done())
            raise BenchError(
                f"only {got} of {count} subscriptions received their first message in 30 s"
            ) from None
        return {"stamps": sorted(set(stamps))}

    async def measure(
        self, mode: int, t0: float, t1: float, w0: int = 0, w1: int = 0, last: int = 0
    ) -> dict[str, Any]:
        """Count (or time) what arrives in [t0, t1); latency keeps sends in [w0, w1).

        *last* is the index of the last signal of a latency batch.
        """
        self.count = 0
        self.samples = []
        self.t0, self.t1, self.w0, self.w1 = t0, t1, w0, w1
        self.check_key = self.signals.paths[last] if self.by == "path" else self.signals.ids[last]
        self.mode = mode
        with _no_gc():
            await asyncio.sleep(max(0.0, t1 - time.monotonic()))
        self.mode = self.IDLE
        if self._failure is not None:
            raise BenchError(f"a subscription failed: {_rpc_error(self._failure)}")
        if mode == self.LATENCY:
            ordered = array.array("q", sorted(self.samples))
            self.samples = []
            return {"samples": ordered}
        return {"count": self.count}

    async def drain(self, quiet: float, limit: float) -> bool:
        """Wait until nothing arrived for *quiet* s (at most *limit* s); True when quiet."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if time.monotonic() - self.last >= quiet:
                return True
            await asyncio.sleep(quiet / 4)
        return False

    async def shut(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in self._channels:
            await channel.close()
        for link in self._links:
            await link.close()
        self._tasks, self._channels, self._links = [], [], []
        self._failure = None

    async def close(self) -> None:
        await self.shut()


class RelayRole:
    """Serves the ceiling relay until told to stop."""

    def __init__(self) -> None:
        self._server: grpc.aio.Server | None = None

    async def serve(self, paths: dict[int, str]) -> dict[str, Any]:
        server = grpc.aio.server(options=_SERVER_OPTIONS)
        server.add_generic_rpc_handlers((Relay(paths).handler(),))
        port = server.add_insecure_port(f"{HOST}:0")
        await server.start()
        self._server = server
        return {"address": f"{HOST}:{port}"}

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop(0)
            self._server = None


# -- worker processes -----------------------------------------------------------------------

_ROLES: dict[str, Callable[[], Any]] = {
    "provider": ProviderRole,
    "subscriber": SubscriberRole,
    "relay": RelayRole,
}


async def _serve_commands(conn: Connection, role: str) -> None:
    handler = _ROLES[role]()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

    def receive() -> None:
        # A thread, not loop.add_reader: uvloop would make the pipe non-blocking for sends too.
        while True:
            try:
                command = conn.recv()
            except (EOFError, OSError):
                command = None
            loop.call_soon_threadsafe(inbox.put_nowait, command)
            if command is None or command[0] == "exit":
                return

    threading.Thread(target=receive, daemon=True).start()
    try:
        while (command := await inbox.get()) is not None:
            name, kwargs = command
            if name == "exit":
                break
            if name == "info":
                result: Any = {
                    "protobuf": api_implementation.Type(),
                    "loop": f"{type(loop).__module__}.{type(loop).__name__}",
                }
                conn.send(("ok", result))
                continue
            try:
                result = await getattr(handler, name)(**kwargs)
            except Exception as exc:
                conn.send(("error", _rpc_error(exc)))
            else:
                conn.send(("ok", result))
    finally:
        await handler.close()


def _worker_main(conn: Connection, role: str, loop_name: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers itself
    _run_on(loop_name, _serve_commands(conn, role))


class Worker:
    """A child process running one role on its own event loop, driven by commands."""

    def __init__(self, ctx: Any, role: str, loop_name: str, name: str) -> None:
        self.name = name
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main, args=(child, role, loop_name), name=name, daemon=True
        )
        self.process.start()
        child.close()
        self._pending: str | None = None

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    def send(self, command: str, **kwargs: Any) -> None:
        self._pending = command
        self.conn.send((command, kwargs))

    def receive(self, timeout: float) -> Any:
        """The answer to the last command; BenchError when it failed or took too long."""
        if not self.conn.poll(timeout):
            raise WorkerStuck(f"{self.name} gave no answer to {self._pending!r} in {timeout:.0f} s")
        status, value = self.conn.recv()
        if status == "error":
            raise BenchError(f"{self.name}: {value}")
        return value

    def call(self, command: str, timeout: float = 30.0, **kwargs: Any) -> Any:
        self.send(command, **kwargs)
        return self.receive(timeout)

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(("exit", {}))
            self.process.join(3)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(3)
        self.conn.close()


# -- servers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class System:
    """One server measured: what it is and how its clients speak to it."""

    key: str
    label: str
    protocol: str  # "grpc" or "mqtt"
    loop: str  # "asyncio", "uvloop" or "C"


SYSTEMS = (
    System("carmesh", "carmesh run", "grpc", "asyncio"),
    System("carmesh-uvloop", "carmesh uvloop", "grpc", "uvloop"),
    System("ceiling", "grpc.aio", "grpc", "asyncio"),
    System("ceiling-uvloop", "grpc.aio uvloop", "grpc", "uvloop"),
    System("mosquitto", "mosquitto", "mqtt", "C"),
)


class Server:
    """A running server: its address and process id, and how to stop it."""

    address = ""
    pid = 0

    def wait(self, timeout: float) -> None:
        """Return once the server serves; BenchError (and stopped) when it does not."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class ProcessServer(Server):
    """A server started as a command; its output is kept for error messages."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.pid = self.process.pid
        self.output: deque[str] = deque(maxlen=40)
        self.ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            self.on_line(line)
        self.ready.set()

    def on_line(self, line: str) -> None:
        pass

    def tail(self) -> str:
        return "\n".join(self.output)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class CarmeshServer(ProcessServer):
    """``carmesh run`` (or the same runtime under uvloop) on a free loopback port."""

    def __init__(self, data_dir: Path, uvloop: bool, env: dict[str, str]) -> None:
        # The broker alone: the simulator would claim sensors the benchmark publishes, and
        # neither it nor the HMI should take CPU from the measurement.
        if uvloop:
            cmd = [sys.executable, "-c", _CARMESH_UVLOOP, str(data_dir), f"{HOST}:0"]
        else:
            carmesh_cmd = str(Path(sys.executable).parent / "carmesh")
            cmd = [carmesh_cmd, "run", "--data-dir", str(data_dir), "--grpc", f"{HOST}:0"]
            cmd += ["--vehicle", "none", "--http", "off", "--no-apps", "--no-media"]
        super().__init__(cmd, env)

    def on_line(self, line: str) -> None:
        match = _BANNER_GRPC.match(line)
        if match:
            self.address = match.group(1)
        if _READY_LINE in line:
            self.ready.set()

    def wait(self, timeout: float) -> None:
        if not self.ready.wait(timeout) or self.process.poll() is not None or not self.address:
            self.stop()
            raise BenchError(f"carmesh did not start:\n{self.tail()}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class MosquittoServer(ProcessServer):
    """Mosquitto on a free loopback port with a temporary configuration."""

    def __init__(self, directory: Path) -> None:
        port = free_port()
        conf = directory / "mosquitto.conf"
        conf.write_text(
            f"listener {port} {HOST}\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "set_tcp_nodelay true\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n",
            encoding="utf-8",
        )
        super().__init__([MOSQUITTO, "-c", str(conf)])
        self.address = f"{HOST}:{port}"
        self.port = port

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise BenchError(f"mosquitto did not start:\n{self.tail()}")


class RelayServer(Server):
    """The ceiling relay in a worker process of its own."""

    def __init__(self, ctx: Any, loop_name: str, signals: Signals) -> None:
        self.worker = Worker(ctx, "relay", loop_name, f"relay ({loop_name})")
        self.worker.send("serve", paths=dict(zip(signals.ids, signals.paths, strict=True)))
        self.pid = self.worker.pid

    def wait(self, timeout: float) -> None:
        self.address = self.worker.receive(timeout)["address"]

    def stop(self) -> None:
        self.worker.stop()


def mosquitto_version() -> str | None:
    if not Path(MOSQUITTO).exists():
        return None
    result = subprocess.run(
        [MOSQUITTO, "-h"], capture_output=True, text=True, timeout=5, check=False
    )
    match = re.search(r"mosquitto version (\S+)", result.stdout + result.stderr)
    return match.group(1) if match else "unknown version"


def _cpu_of(pids: Sequence[int]) -> list[float | None]:
    """CPU seconds of every process in *pids*, then of the whole machine (busy, all CPUs)."""
    return [*(cpu_seconds(pid) for pid in pids), machine_busy()]


def machine_busy() -> float | None:
    """Seconds all CPUs together spent busy so far (Linux), None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(t) for t in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process *pid* so far (Linux), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How long, how often and with what to measure."""

    subscribers: tuple[int, ...]
    seconds: float
    latency_seconds: float
    warmup: float
    tail: float
    repeats: int
    window: int
    latency_batch: int
    by: str
    buffer_size: int
    processes: int
    client_loop: str
    systems: tuple[System, ...]

    @property
    def latency_period(self) -> float:
        return self.latency_batch / LATENCY_RATE


@dataclass
class ThroughputRun:
    ingest: float
    delivered: float
    server_cpu: float | None
    client_cpu: float | None
    errors: int


@dataclass
class LatencyRun:
    sorted_samples: list[array.array[int]]
    published: int
    expected: int
    elapsed: float


@dataclass
class Cell:
    """The results of one server at one subscriber count."""

    throughput: list[ThroughputRun] = field(default_factory=list)
    latency: list[LatencyRun] = field(default_factory=list)

    def median(self, pick: Callable[[ThroughputRun], float | None]) -> float | None:
        values = [v for v in map(pick, self.throughput) if v is not None]
        return statistics.median(values) if values else None

    @property
    def ingest(self) -> float | None:
        return self.median(lambda r: r.ingest)

    @property
    def delivered(self) -> float | None:
        return self.median(lambda r: r.delivered)

    @property
    def server_cpu(self) -> float | None:
        return self.median(lambda r: r.server_cpu)

    @property
    def client_cpu(self) -> float | None:
        return self.median(lambda r: r.client_cpu)

    def latency_figures(self) -> dict[str, float] | None:
        runs = [r for r in self.latency if any(len(s) for s in r.sorted_samples)]
        if not runs:
            return None
        return {
            "p50": statistics.median(percentile(r.sorted_samples, 50) for r in runs),
            "p99": statistics.median(percentile(r.sorted_samples, 99) for r in runs),
            "max": max(max(s[-1] for s in r.sorted_samples if s) for r in runs),
            "achieved": statistics.median(r.published / r.elapsed for r in runs),
            "share": statistics.median(
                sum(len(s) for s in r.sorted_samples) / r.expected if r.expected else 0.0
                for r in runs
            ),
        }


@dataclass
class Results:
    cells: dict[tuple[str, int], Cell] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    answers: dict[str, bool] = field(default_factory=dict)
    #: CPU (1.0 = one core) that processes outside the benchmark used in each throughput run.
    foreign: list[float] = field(default_factory=list)

    def cell(self, key: str, n: int) -> Cell:
        return self.cells.setdefault((key, n), Cell())


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


class Bench:
    """The servers, the provider and the subscriber processes of one run."""

    def __init__(self, plan: Plan, signals: Signals, directory: Path, env: dict[str, str]) -> None:
        self.plan = plan
        self.signals = signals
        self.directory = directory
        self.env = env
        self.ctx = multiprocessing.get_context("spawn")
        self.servers: dict[str, Server] = {}
        self.provider: Worker | None = None
        self.subscribers: list[Worker] = []
        self.results = Results()
        self.wall_offset = 0

    def close(self) -> None:
        for worker in [*self.subscribers, *([self.provider] if self.provider else [])]:
            with contextlib.suppress(Exception):
                worker.stop()
        for server in self.servers.values():
            with contextlib.suppress(Exception):
                server.stop()

    def start(self) -> None:
        """Start every server and client process at once, then wait for them all."""
        starting: dict[str, Server] = {}
        for system in self.plan.systems:
            try:
                if system.key.startswith("carmesh"):
                    data = self.directory / system.key
                    data.mkdir()
                    starting[system.key] = CarmeshServer(data, system.loop == "uvloop", self.env)
                elif system.key.startswith("ceiling"):
                    starting[system.key] = RelayServer(self.ctx, system.loop, self.signals)
                elif system.key == "mosquitto":
                    if mosquitto_version() is None:
                        self.results.unavailable[system.key] = (
                            f"{MOSQUITTO} is not installed: `make bench-grpc` installs it "
                            "(apt-get install mosquitto)"
                        )
                        continue
                    starting[system.key] = MosquittoServer(self.directory)
            except (OSError, BenchError) as exc:
                self.results.unavailable[system.key] = str(exc)
        self.servers = dict(starting)
        loop_name = self.plan.client_loop
        self.provider = Worker(self.ctx, "provider", loop_name, "provider")
        self.subscribers = [
            Worker(self.ctx, "subscriber", loop_name, f"subscribers {i + 1}")
            for i in range(self.plan.processes)
        ]
        for key, server in starting.items():
            try:
                server.wait(30)
            except BenchError as exc:
                self.results.unavailable[key] = str(exc)
                del self.servers[key]
        self.client_info = self.provider.call("info")
        for worker in self.subscribers:
            worker.call("info")
        self.wall_offset = time.time_ns() - time.monotonic_ns()

    def _wall(self, monotonic: float) -> int:
        return int(monotonic * 1e9) + self.wall_offset

    @staticmethod
    def _gather(workers: Sequence[Worker], timeout: float) -> list[Any]:
        """Every worker's answer to its last command; the first error once all have answered,
        so that no answer is left to be mistaken for the next one."""
        answers: list[Any] = []
        failure: BenchError | None = None
        for worker in workers:
            try:
                answers.append(worker.receive(timeout))
            except WorkerStuck:
                raise
            except BenchError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return answers

    def _active(self, n: int) -> list[tuple[Worker, int]]:
        counts = _split(n, min(n, len(self.subscribers)))
        return [(w, c) for w, c in zip(self.subscribers, counts, strict=False) if c]

    def connect(self, system: System) -> dict[str, Any]:
        assert self.provider is not None
        server = self.servers[system.key]
        return dict(
            self.provider.call(
                "connect",
                timeout=30,
                protocol=system.protocol,
                address=server.address,
                signals=self.signals,
                window=self.plan.window,
            )
        )

    def open(self, system: System, n: int) -> list[int]:
        server = self.servers[system.key]
        active = self._active(n)
        for i, (worker, count) in enumerate(active):
            worker.send(
                "open",
                protocol=system.protocol,
                address=server.address,
                count=count,
                by=self.plan.by,
                buffer=self.plan.buffer_size,
                signals=self.signals,
                name=f"sub{i}",
            )
        answers = self._gather([worker for worker, _ in active], 60)
        return sorted({stamp for answer in answers for stamp in answer["stamps"]})

    def shut(self, n: int) -> None:
        for worker, _ in self._active(n):
            worker.call("shut", timeout=30)

    def settle(self, system: System, n: int) -> None:
        """Let the subscribers drain what is still coming; if that takes more than half a
        second, subscribe afresh instead (a server drops what a closed stream had queued)."""
        for worker, _ in self._active(n):
            worker.send("drain", quiet=0.1, limit=0.5)
        quiet = self._gather([worker for worker, _ in self._active(n)], 15)
        if not all(quiet):
            self.shut(n)
            self.open(system, n)

    def throughput(self, system: System, n: int) -> ThroughputRun:
        assert self.provider is not None
        plan = self.plan
        active = self._active(n)
        t0 = time.monotonic() + 0.05 + plan.warmup
        t1 = t0 + plan.seconds
        for worker, _ in active:
            worker.send("measure", mode=SubscriberRole.COUNT, t0=t0, t1=t1)
        self.provider.send("flood", t0=t0, t1=t1)
        server = self.servers[system.key].pid
        clients = [self.provider.pid] + [worker.pid for worker, _ in active]
        time.sleep(max(0.0, t0 - time.monotonic()))
        before, start = _cpu_of([server, *clients]), time.monotonic()
        time.sleep(max(0.0, t1 - time.monotonic()))
        after, elapsed = _cpu_of([server, *clients]), time.monotonic() - start
        *counts, sent = self._gather([*(worker for worker, _ in active), self.provider], 30)
        delivered = sum(answer["count"] for answer in counts)
        if sent["first_error"]:
            refused = escape(sent["first_error"])
            self.results.notes.append(f"{system.label}: the server refused updates: {refused}")
        used = [
            (b - a) / elapsed if a is not None and b is not None and elapsed > 0 else None
            for a, b in zip(before, after, strict=True)
        ]
        ours, machine = used[:-1], used[-1]
        client_cpu = None if None in ours[1:] else sum(u or 0.0 for u in ours[1:])
        if machine is not None and None not in ours:
            self.results.foreign.append(max(0.0, machine - sum(u or 0.0 for u in ours)))
        return ThroughputRun(
            sent["acked"] / plan.seconds,
            delivered / plan.seconds,
            ours[0],
            client_cpu,
            sent["errors"],
        )

    def latency(self, n: int) -> LatencyRun:
        assert self.provider is not None
        plan = self.plan
        active = self._active(n)
        begin = time.monotonic() + 0.05
        t0 = begin + plan.warmup
        t1 = t0 + plan.latency_seconds
        tail = max(plan.tail, 10 * plan.latency_period)
        for worker, _ in active:
            worker.send(
                "measure",
                mode=SubscriberRole.LATENCY,
                t0=t0,
                t1=t1 + tail,
                w0=self._wall(t0),
                w1=self._wall(t1),
                last=plan.latency_batch - 1,
            )
        self.provider.send(
            "pace", begin=begin, t0=t0, t1=t1, batch=plan.latency_batch, period=plan.latency_period
        )
        workers = [*(worker for worker, _ in active), self.provider]
        *answers, sent = self._gather(workers, plan.warmup + plan.latency_seconds + tail + 30)
        samples = [answer["samples"] for answer in answers]
        return LatencyRun(samples, sent["published"], sent["published"] * n, plan.latency_seconds)

    def measure_system(self, system: System, step: Callable[[str], None]) -> None:
        plan = self.plan
        results = self.results
        connected = False
        try:
            info = self.connect(system)
            connected = True
            if system.protocol == "grpc":
                results.answers[system.key] = bool(info["answers"])
            for i, n in enumerate(plan.subscribers):
                cell = results.cell(system.key, n)
                try:
                    stamps = self.open(system, n)
                    if i == 0 and info["stamp"] not in stamps:
                        results.notes.append(
                            f"{system.label}: subscribers did not receive the provider's "
                            "timestamps; latencies are not from the send time"
                        )
                    for r in range(plan.repeats):
                        step(f"{system.label}: throughput, {n} subscriber(s), run {r + 1}")
                        cell.throughput.append(self.throughput(system, n))
                        self.settle(system, n)
                        step(f"{system.label}: latency, {n} subscriber(s), run {r + 1}")
                        cell.latency.append(self.latency(n))
                        self.settle(system, n)
                finally:
                    self.shut(n)
        except WorkerStuck:
            raise
        except BenchError as exc:
            if not connected:
                results.unavailable[system.key] = str(exc)
            else:
                results.notes.append(f"[red]{system.label} failed:[/] {escape(str(exc))}")
        finally:
            if self.provider is not None:
                self.provider.call("disconnect", timeout=30)


# -- probing carmesh ------------------------------------------------------------------------


def probe_ids(address: str, signals: Signals) -> tuple[Signals | None, str]:
    """Ask ``ListMetadata`` for the ids of *signals*; (None, why) when v2 does not answer."""
    with grpc.insecure_channel(address) as channel:
        stub = val_pb2_grpc.VALStub(channel)
        try:
            response = stub.ListMetadata(val_pb2.ListMetadataRequest(root="Vehicle"), timeout=10)
        except grpc.RpcError as exc:
            return None, f"ListMetadata: {_rpc_error(exc)}"
    ids = {m.path: m.id for m in response.metadata}
    missing = [p for p in signals.paths if p not in ids]
    if missing:
        return None, f"ListMetadata(root='Vehicle') lacks {missing[0]} and {len(missing) - 1} more"
    server = Signals(tuple(ids[p] for p in signals.paths), signals.paths)
    if server.ids != signals.ids:
        return server, "the server's ids differ from the catalog's Node.id; using the server's"
    return server, ""


# -- output ---------------------------------------------------------------------------------


def _rate(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 999_500:
        return f"{value / 1e6:.2f} M"
    if value >= 9_995:
        return f"{value / 1e3:.0f} k"
    return f"{value / 1e3:.1f} k"


def _duration(ns: float | None) -> str:
    if ns is None:
        return "–"
    if ns >= 1e9:
        return f"{ns / 1e9:.1f} s"
    if ns >= 1e8:
        return f"{ns / 1e6:.0f} ms"
    if ns >= 1e7:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.0f} µs"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}"


def _ratio(value: float | None, peer: float | None) -> str:
    if value is None or not peer:
        return ""
    return f"{value / peer:.2f}"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _table(title: str, caption: str = "") -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    if caption:
        table.caption = caption
        table.caption_justify = "left"
    return table


def _ceiling_key(system: System) -> str | None:
    if system.key.startswith("carmesh"):
        return "ceiling-uvloop" if system.loop == "uvloop" else "ceiling"
    return None


def throughput_table(plan: Plan, results: Results) -> Table:
    table = _table(
        f"Throughput, updates/s: batches of {SIGNALS} float sensors, at most {plan.window} "
        f"in flight, median of {plan.repeats} × {plan.seconds:g} s",
        "ingest: updates the provider saw come back on its own subscription; delivered: "
        "received by the N subscribers together; share: delivered ÷ (ingest × N); CPU %: "
        "server / provider and subscribers (100 = one core); ÷ceil: delivered against "
        "grpc.aio (the bare relay, the ceiling) on the same event loop.",
    )
    for name in ("N", "server", "ingest", "delivered", "per sub", "share", "CPU %"):
        table.add_column(name, justify="left" if name == "server" else "right", no_wrap=True)
    table.add_column("÷ceil", justify="right", no_wrap=True)
    for n in plan.subscribers:
        for i, system in enumerate(plan.systems):
            cell = results.cells.get((system.key, n))
            label = "" if i else str(n)
            if cell is None or not cell.throughput:
                table.add_row(label, system.label, _missing(system, results))
                continue
            ingest, delivered = cell.ingest, cell.delivered
            share = delivered / (ingest * n) if ingest and delivered is not None else None
            peer_key = _ceiling_key(system)
            peer = results.cells.get((peer_key, n)) if peer_key else None
            table.add_row(
                label,
                system.label,
                _rate(ingest),
                _rate(delivered),
                _rate(delivered / n if delivered is not None else None),
                f"{share:.0%}" if share is not None else "–",
                f"{_percent(cell.server_cpu)}/{_percent(cell.client_cpu)}",
                _ratio(delivered, peer.delivered) if peer else "",
            )
        table.add_section()
    return table


def _missing(system: System, results: Results) -> str:
    return "[yellow]unavailable[/]" if system.key in results.unavailable else "[red]failed[/]"


def latency_table(plan: Plan, results: Results) -> Table:
    table = _table(
        f"Latency, send→receive at {LATENCY_RATE / 1e3:g}k updates/s offered "
        f"({plan.latency_batch} every {plan.latency_period * 1e3:g} ms), "
        f"median of {plan.repeats} × {plan.latency_seconds:g} s",
        "sent/s: rate the provider achieved; received: updates that arrived ÷ (sent × N); "
        "max: worst of all runs; ÷ceil: p99 against grpc.aio on the same event loop.",
    )
    for name in ("N", "server", "sent/s", "received", "p50", "p99", "max"):
        table.add_column(name, justify="left" if name == "server" else "right", no_wrap=True)
    table.add_column("÷ceil", justify="right", no_wrap=True)
    for n in plan.subscribers:
        for i, system in enumerate(plan.systems):
            cell = results.cells.get((system.key, n))
            label = "" if i else str(n)
            figures = cell.latency_figures() if cell else None
            if figures is None:
                table.add_row(label, system.label, _missing(system, results))
                continue
            achieved = _rate(figures["achieved"])
            if figures["achieved"] < MIN_ACHIEVED_SHARE * LATENCY_RATE:
                achieved = f"[red]{achieved} (late)[/]"
            peer_key = _ceiling_key(system)
            peer_cell = results.cells.get((peer_key, n)) if peer_key else None
            peer = peer_cell.latency_figures() if peer_cell else None
            table.add_row(
                label,
                system.label,
                achieved,
                f"{figures['share']:.0%}",
                _duration(figures["p50"]),
                _duration(figures["p99"]),
                _duration(figures["max"]),
                _ratio(figures["p99"], peer["p99"]) if peer else "",
            )
        table.add_section()
    return table


def targets_table(plan: Plan, results: Results) -> Table:
    table = _table("Targets")
    table.add_column("target")
    table.add_column("carmesh run", justify="right")
    table.add_column("met")
    table.add_column("carmesh uvloop", justify="right")
    table.add_column("met")

    def verdict(ok: bool | None) -> str:
        if ok is None:
            return "[yellow]–[/]"
        return "[green]yes[/]" if ok else "[red]NO[/]"

    def ingest(key: str) -> tuple[str, bool | None]:
        cell = results.cells.get((key, 1))
        value = cell.ingest if cell else None
        if value is None:
            return "–", None
        return _rate(value), value >= TARGET_INGEST

    def p99(key: str) -> tuple[str, bool | None]:
        cell = results.cells.get((key, TARGET_LATENCY_SUBSCRIBERS))
        figures = cell.latency_figures() if cell else None
        if figures is None:
            return "–", None
        text = _duration(figures["p99"])
        valid = figures["achieved"] >= MIN_ACHIEVED_SHARE * LATENCY_RATE
        if not valid:
            text += f" ({_rate(figures['achieved'])}/s sent)"
        return text, valid and figures["p99"] <= TARGET_P99_NS

    def ceiling(key: str) -> tuple[str, bool | None]:
        peer_key = "ceiling-uvloop" if key.endswith("uvloop") else "ceiling"
        worst: tuple[float, int] | None = None
        for n in plan.subscribers:
            mine = results.cells.get((key, n))
            peer = results.cells.get((peer_key, n))
            if not (mine and peer and mine.delivered is not None and peer.delivered):
                continue
            share = mine.delivered / peer.delivered
            if worst is None or share < worst[0]:
                worst = (share, n)
        if worst is None:
            return "–", None
        return f"{worst[0]:.2f}× (N={worst[1]})", worst[0] >= TARGET_CEILING_SHARE

    rows = [
        (f"ingest ≥ {_rate(TARGET_INGEST)}/s, batched, N=1", ingest),
        (
            f"p99 ≤ {TARGET_P99_NS / 1e6:g} ms at {LATENCY_RATE / 1e3:g}k/s, "
            f"N={TARGET_LATENCY_SUBSCRIBERS}",
            p99,
        ),
        (f"delivered ≥ {TARGET_CEILING_SHARE:g}× ceiling, worst N", ceiling),
    ]
    for text, judge in rows:
        shipped, shipped_ok = judge("carmesh")
        variant, variant_ok = judge("carmesh-uvloop")
        table.add_row(text, shipped, verdict(shipped_ok), variant, verdict(variant_ok))
    return table


def header_lines(plan: Plan, bench: Bench | None, signals: Signals) -> list[str]:
    uv = _uvloop_version()
    mosq = mosquitto_version()
    backend = api_implementation.Type()
    if bench is not None:
        backend = bench.client_info.get("protobuf", backend)
    return [
        machine_line(),
        f"carmesh {carmesh.__version__} · grpcio {_version('grpcio')} · protobuf "
        f"{_version('protobuf')} (backend: {backend}) · uvloop {uv or 'not installed'} · "
        f"mosquitto {mosq or 'not installed'} · paho-mqtt {_version('paho-mqtt')}",
        f"{len(signals.ids)} float sensors ({signals.paths[0]} …) · subscribers use "
        f"{'Subscribe (paths)' if plan.by == 'path' else 'SubscribeById'} · clients on "
        f"{plan.client_loop}, {plan.processes} subscriber process(es), 1 provider process · "
        "MQTT: one QoS 0 message per batch (a serialized PublishValuesRequest)",
    ]


def footer_lines(plan: Plan, results: Results) -> list[str]:
    lines = [f"For reference, not measured here: kuksa-perf's README reports {REFERENCE}."]
    silent = [
        next(s.label for s in plan.systems if s.key == key)
        for key, answers in results.answers.items()
        if not answers and key.startswith("carmesh")
    ]
    if silent:
        lines.append(
            f"{', '.join(silent)}: no PublishValuesResponse for accepted batches (as the KUKSA "
            "databroker); every server's ingest is counted from the provider's own "
            "subscription."
        )
    uv = _uvloop_version()
    if uv is None:
        lines.append("uvloop is not installed (`make bench-grpc` installs it): asyncio only.")
    else:
        parts = []
        for key, label in (("carmesh", "carmesh"), ("ceiling", "bare grpc.aio")):
            ratios = []
            for n in plan.subscribers:
                base = results.cells.get((key, n))
                fast = results.cells.get((f"{key}-uvloop", n))
                if base and fast and base.delivered and fast.delivered is not None:
                    ratios.append(f"×{fast.delivered / base.delivered:.2f}")
            if len(ratios) == len(plan.subscribers):
                parts.append(f"{label} {' / '.join(ratios)}")
        if parts:
            counts = "/".join(map(str, plan.subscribers))
            lines.append(
                f"uvloop {uv}, delivered updates/s against asyncio at N = {counts}: "
                f"{', '.join(parts)}."
            )
        if "carmesh-uvloop" in results.answers:
            lines.append(
                "carmesh's runtime runs unchanged under uvloop; `carmesh run` has no option "
                "for it today."
            )
    if results.foreign:
        mean, most = statistics.mean(results.foreign), max(results.foreign)
        line = (
            f"Outside the server and client processes (other processes, kernel threads) the "
            f"machine was busy for {mean:.0%} of a core on average during the throughput runs, "
            f"at most {most:.0%}"
        )
        if mean > 0.5:
            lines.append(f"[yellow]{line}: the machine was not quiet, the figures may be low.[/]")
        elif mean > 0.1:
            lines.append(f"{line}.")
    lines.extend(dict.fromkeys(results.notes))
    return lines


# -- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure carmesh's kuksa.val.v2 gRPC path (provider → broker → N "
        "subscribers) against bare grpc.aio and Mosquitto, in one run."
    )
    parser.add_argument("--quick", action="store_true", help="a short run (under 30 s)")
    parser.add_argument(
        "--seconds", type=float, help="length of one throughput run (1.0; quick: 0.3)"
    )
    parser.add_argument(
        "--latency-seconds", type=float, help="length of one latency run (1.0; quick: 0.3)"
    )
    parser.add_argument("--repeats", type=int, help="runs per measurement (3; quick: 1)")
    parser.add_argument(
        "--subscribers",
        type=int,
        nargs="+",
        default=list(SUBSCRIBER_COUNTS),
        metavar="N",
        help="subscriber counts (1 10 100)",
    )
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=[s.key for s in SYSTEMS],
        default=[s.key for s in SYSTEMS],
        help="servers to measure (all)",
    )
    parser.add_argument(
        "--window", type=int, default=16, help="batches in flight, not yet seen back (16)"
    )
    parser.add_argument(
        "--latency-batch",
        type=int,
        choices=(10, 100),
        default=100,
        help="updates per latency batch: 100 every 10 ms or 10 every 1 ms (100)",
    )
    parser.add_argument(
        "--subscribe",
        choices=("id", "path"),
        default="id",
        help="SubscribeById or Subscribe by path (id)",
    )
    parser.add_argument(
        "--buffer-size",
        type=int,
        default=255,
        help="buffer_size of every subscription: the server may hold that many batches "
        "besides the newest before folding (255, so carmesh holds 256 like the relay)",
    )
    parser.add_argument("--processes", type=int, default=2, help="subscriber processes (2)")
    parser.add_argument(
        "--client-loop",
        choices=("asyncio", "uvloop"),
        help="event loop of the provider and subscribers (uvloop when installed)",
    )
    parser.add_argument(
        "--protobuf",
        choices=("upb", "python"),
        help="protobuf backend for every process (default: protobuf's own choice)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="instead of the tables, sample carmesh run with py-spy during a throughput run "
        "with N subscribers (--seconds long, 3 by default)",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="only check that carmesh's kuksa.val.v2 provider stream and Subscribe work",
    )
    args = parser.parse_args(argv)
    for option in ("seconds", "latency_seconds"):
        value = getattr(args, option)
        if value is not None and not value > 0:
            parser.error(f"--{option.replace('_', '-')} must be more than 0")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if any(n < 1 for n in args.subscribers):
        parser.error("--subscribers must be at least 1")
    if args.profile is not None and args.profile < 1:
        parser.error("--profile needs at least 1 subscriber")
    if not 1 <= args.window <= 500:
        parser.error("--window must be 1..500")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if not 0 <= args.buffer_size <= 1000:
        parser.error("--buffer-size must be 0..1000 (the KUKSA databroker's limit)")
    if args.client_loop == "uvloop" and _uvloop_version() is None:
        parser.error("uvloop is not installed: `make bench-grpc` installs it")
    return args


def make_plan(args: argparse.Namespace) -> Plan:
    quick = bool(args.quick)
    systems = tuple(s for s in SYSTEMS if s.key in args.systems)
    if _uvloop_version() is None:
        systems = tuple(s for s in systems if s.loop != "uvloop")
    if args.probe or args.profile:
        systems = tuple(s for s in SYSTEMS if s.key == "carmesh")
    return Plan(
        subscribers=tuple(args.subscribers),
        seconds=args.seconds or (0.3 if quick else 1.0),
        latency_seconds=args.latency_seconds or (0.3 if quick else 1.0),
        warmup=0.1 if quick else 0.2,
        tail=0.15 if quick else 0.25,
        repeats=args.repeats or (1 if quick else 3),
        window=args.window,
        latency_batch=args.latency_batch,
        by=args.subscribe,
        buffer_size=args.buffer_size,
        processes=args.processes,
        client_loop=args.client_loop or ("uvloop" if _uvloop_version() else "asyncio"),
        systems=systems,
    )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _frame(text: str) -> str:
    """``handler (carmesh/api/grpc/val_v2.py:171)`` → ``handler (val_v2.py:171)``."""
    name, _, where = text.partition(" (")
    return f"{name} ({where.rpartition('/')[2]}" if where else name


def _profile(bench: Bench, n: int, seconds: float, console: Console) -> int:
    """Sample the ``carmesh run`` server with py-spy during a throughput run with *n*
    subscribers; print where its time goes."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        console.print("[red]py-spy is not installed:[/] `make bench-grpc` installs it.")
        return 1
    if "carmesh" not in bench.servers:
        why = escape(bench.results.unavailable.get("carmesh", ""))
        console.print(f"[red]carmesh is not running:[/] {why}", highlight=False)
        return 1
    system = SYSTEMS[0]
    server = bench.servers["carmesh"]
    assert bench.provider is not None
    output = bench.directory / "profile.txt"
    bench.connect(system)
    bench.open(system, n)
    active = bench._active(n)
    t0 = time.monotonic() + 0.05 + bench.plan.warmup
    t1 = t0 + seconds
    for worker, _ in active:
        worker.send("measure", mode=SubscriberRole.COUNT, t0=t0, t1=t1)
    bench.provider.send("flood", t0=t0, t1=t1)
    time.sleep(max(0.0, t0 - time.monotonic()))
    record = [str(spy), "record", "--pid", str(server.pid), "--rate", "250", "--nonblocking"]
    record += ["--function"]
    record += ["--duration", str(max(1, int(seconds))), "--format", "raw", "-o", str(output)]
    spying = subprocess.run(record, capture_output=True, text=True, timeout=seconds + 30)
    delivered = sum(worker.receive(30)["count"] for worker, _ in active)
    sent = bench.provider.receive(30)
    bench.shut(n)
    bench.provider.call("disconnect", timeout=30)
    if spying.returncode != 0 or not output.exists():
        console.print(f"[red]py-spy failed:[/] {escape(spying.stderr.strip())}", highlight=False)
        return 1
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in output.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        last = _frame(frames[-1])
        own[last] = own.get(last, 0) + count
        for frame in set(frames):
            if "(carmesh/" in frame and "(carmesh/cli.py" not in frame:
                total[_frame(frame)] = total.get(_frame(frame), 0) + count
    console.print(
        f"[bold]py-spy profile of carmesh run[/] (pid {server.pid}) during a {seconds:g} s "
        f"throughput run with {n} subscriber(s): {_rate(sent['acked'] / seconds)} updates/s "
        f"in, {_rate(delivered / seconds)} out, {samples} samples of every thread",
        highlight=False,
    )
    for title, counts in (("own time", own), ("time with callees, carmesh only", total)):
        table = _table(f"Top 20 by {title}")
        table.add_column("share", justify="right")
        table.add_column("function (file:line)")
        for frame, count in sorted(counts.items(), key=lambda kv: -kv[1])[:20]:
            table.add_row(f"{count / samples:.1%}", frame)
        console.print(table)
    return 0


def _probe(bench: Bench, console: Console) -> int:
    system = SYSTEMS[0]
    if "carmesh" in bench.results.unavailable:
        why = escape(bench.results.unavailable["carmesh"])
        console.print(f"[red]carmesh did not start:[/] {why}", highlight=False)
        return 1
    address = bench.servers["carmesh"].address
    _, why = probe_ids(address, bench.signals)
    if why:
        console.print(f"[yellow]ListMetadata:[/] {why}", highlight=False)
    try:
        info = bench.connect(system)
        stamps = bench.open(system, 1)
        bench.shut(1)
    except BenchError as exc:
        console.print(f"[red]kuksa.val.v2 is not ready:[/] {escape(str(exc))}", highlight=False)
        return 1
    acks = "answers every batch" if info["answers"] else "answers refusals only"
    stamped = "keeps" if info["stamp"] in stamps else "does NOT keep"
    console.print(
        f"[green]kuksa.val.v2 works[/] on {address}: provider claim + publish, SubscribeById; "
        f"the server {acks} and {stamped} the provider's timestamps.",
        highlight=False,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.protobuf:
        os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = args.protobuf
    signal.signal(signal.SIGTERM, _terminate)
    plan = make_plan(args)
    console = Console()
    signals = pick_signals(Catalog.load(), SIGNALS)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    with tempfile.TemporaryDirectory(prefix="carmesh-bench-") as tmp:
        bench = Bench(plan, signals, Path(tmp), env)
        try:
            bench.start()
            if args.probe:
                return _probe(bench, console)
            if args.profile:
                return _profile(bench, args.profile, args.seconds or 3.0, console)
            for key in ("carmesh", "carmesh-uvloop"):
                if key in bench.servers:
                    server_signals, why = probe_ids(bench.servers[key].address, signals)
                    if server_signals is None:
                        bench.results.unavailable[key] = f"kuksa.val.v2 not ready ({why})"
                    elif why:
                        bench.signals = server_signals
                        bench.results.notes.append(why)
            measured = [s for s in plan.systems if s.key not in bench.results.unavailable]
            steps = len(measured) * len(plan.subscribers) * plan.repeats * 2
            started = time.perf_counter()
            with progress(steps) as step:
                for system in measured:
                    try:
                        bench.measure_system(system, step)
                    except WorkerStuck as exc:
                        bench.results.notes.append(f"[red]stopped early:[/] {escape(str(exc))}")
                        break
            took = time.perf_counter() - started
        finally:
            bench.close()
    for line in header_lines(plan, bench, signals):
        console.print(line, highlight=False)
    for key, why in bench.results.unavailable.items():
        label = next(s.label for s in SYSTEMS if s.key == key)
        console.print(f"[yellow]{label}: not measured:[/] {escape(why)}", highlight=False)
    console.print()
    console.print(throughput_table(plan, bench.results))
    console.print(latency_table(plan, bench.results))
    console.print(targets_table(plan, bench.results))
    for line in footer_lines(plan, bench.results):
        console.print(line, highlight=False)
    console.print(f"[dim]measured in {took:.0f} s[/]", highlight=False)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
