"""``OpenProviderStream``: a remote provider as a broker :class:`ProviderSession`.

One stream is one session. ``ProvideActuationRequest`` claims actuators, ``ProvideSignalRequest``
claims signal values, ``PublishValuesRequest`` publishes them; actuations the broker routes to
the session go out as ``BatchActuateStreamRequest``. What the server sends (answers and
actuation requests) goes through one bounded queue per stream, so a provider that stops
reading stalls only its own stream: its actuations time out, nobody else waits.

Acknowledgements: the databroker treats an actuation as done once it is forwarded and ignores
the provider's ``BatchActuateStreamResponse``. carmesh does the same until the provider sends
its first response; from then on the stream is *acknowledging*, and an actuation waits (within
the broker's actuation timeout) for the provider's answer for every forwarded signal and fails
with the provider's error if it refuses. When the stream ends or breaks the session closes,
its claims are released and actuations still waiting fail as UNAVAILABLE. A provider that
claimed actuators may stop sending (half-close) and keep receiving actuations.

Not carried over: sample intervals of ``ProvideSignalRequest`` are accepted but no
``UpdateFilterRequest`` or ``GetProviderValueRequest`` is ever sent, and a
``ProviderErrorIndication`` is ignored (carmesh has no "value not available" state).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from kuksa.val.v2 import val_pb2

from carmesh.api.grpc import convert
from carmesh.api.grpc import val_v2_messages as messages
from carmesh.api.grpc.status import grpc_code
from carmesh.broker import Broker, Principal
from carmesh.errors import CarmeshError, NotFound, Unavailable
from carmesh.vss.model import Node

log = logging.getLogger(__name__)

#: Messages a stream may hold for a provider that is slow to read.
OUTBOX_SIZE = 256

NOT_CLAIMED = "Provider has not claimed yet the signals, please call ProvideSignalRequest first"


@dataclass(frozen=True)
class Finish:
    """Ends the stream: with OK when *code* is None, else with that status."""

    code: grpc.StatusCode | None = None
    details: str = ""


Outgoing = Any  # an OpenProviderStreamResponse or a Finish


class ProviderStream:
    """The state of one ``OpenProviderStream`` call; the broker calls :meth:`actuate`."""

    def __init__(self, broker: Broker, principal: Principal, name: str) -> None:
        self.broker = broker
        self.catalog = broker.catalog
        self.name = name
        self.outbox: asyncio.Queue[Outgoing] = asyncio.Queue(OUTBOX_SIZE)
        self.session = broker.connect_provider(principal, name, self)
        #: Ids this stream may publish (claimed with ProvideSignalRequest).
        self.value_ids: set[int] = set()
        self.provides_values = False
        self.actuator_ids: set[int] = set()
        self.acknowledging = False
        self._waiting: dict[int, deque[asyncio.Future[None]]] = {}
        self._closed = asyncio.get_running_loop().create_future()

    @property
    def closed(self) -> bool:
        return self._closed.done()

    def close(self) -> None:
        """Release every claim; actuations still waiting fail as UNAVAILABLE."""
        if self.closed:
            return
        self._closed.set_result(None)
        self.session.close()
        gone = Unavailable(f"provider {self.name} disconnected")
        for waiters in self._waiting.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(gone)
        self._waiting.clear()

    def shutdown(self, reason: str) -> None:
        """Close, and end the call with UNAVAILABLE once the writer takes the next message."""
        self.close()
        while not self.outbox.empty():
            self.outbox.get_nowait()
        self.outbox.put_nowait(Finish(grpc.StatusCode.UNAVAILABLE, reason))

    # -- towards the provider ------------------------------------------------------------

    async def _send(self, message: Outgoing) -> None:
        """Queue *message*; Unavailable when the stream closes first."""
        if self.closed:
            raise Unavailable(f"provider {self.name} disconnected")
        if not self.outbox.full():
            self.outbox.put_nowait(message)
            return
        put = asyncio.ensure_future(self.outbox.put(message))
        try:
            await asyncio.wait((put, self._closed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not put.done():
                put.cancel()
        if not put.done() or put.cancelled():
            raise Unavailable(f"provider {self.name} disconnected")

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        """Forward *targets* as one ``BatchActuateStreamRequest`` (the broker's Actuator)."""
        response = val_pb2.OpenProviderStreamResponse()
        batch = response.batch_actuate_stream_request.actuate_requests
        ids: list[int] = []
        for path, value in targets.items():
            node = self.catalog[path]
            request = batch.add()
            request.signal_id.id = node.id
            convert.fill(request.value, node, value)
            ids.append(node.id)
        if not self.acknowledging:
            await self._send(response)
            return
        loop = asyncio.get_running_loop()
        waiters = [(node_id, loop.create_future()) for node_id in ids]
        for node_id, waiter in waiters:
            self._waiting.setdefault(node_id, deque()).append(waiter)
        refusal: CarmeshError | None = None
        try:
            await self._send(response)
            for _, waiter in waiters:
                try:
                    await waiter
                except CarmeshError as exc:
                    refusal = refusal or exc
        finally:
            for node_id, waiter in waiters:
                queue = self._waiting.get(node_id)
                if queue is not None and waiter in queue:
                    queue.remove(waiter)
                    if not queue:
                        del self._waiting[node_id]
                if not waiter.done():
                    waiter.cancel()
        if refusal is not None:
            raise refusal

    # -- from the provider ---------------------------------------------------------------

    async def read(self, requests: AsyncIterable[Any]) -> None:
        """Handle the provider's messages until it stops sending or a strict error ends it."""
        finish = await self._read(requests)
        if finish is not None:
            with contextlib.suppress(Unavailable):
                await self._send(finish)

    async def _read(self, requests: AsyncIterable[Any]) -> Finish | None:
        incoming = aiter(requests)
        while True:
            try:
                request = await anext(incoming)
            except StopAsyncIteration:
                # Half-closed. A provider of actuators may stop sending and keep listening,
                # as kuksa-client's subscribe_target_values does; any other stream is done.
                return None if self.actuator_ids else Finish()
            except Exception as exc:  # the call ended or its connection broke
                log.debug("provider stream %s: reading stopped: %r", self.name, exc)
                return Finish(grpc.StatusCode.UNAVAILABLE, "the provider stream broke")
            try:
                finish = await self._handle(request)
            except CarmeshError as exc:
                return Finish(grpc_code(exc), str(exc))
            except Exception as exc:
                log.exception("provider stream %s failed", self.name)
                return Finish(grpc.StatusCode.INTERNAL, f"provider stream failed: {exc}")
            if finish is not None:
                return finish

    async def _handle(self, request: Any) -> Finish | None:
        action = request.WhichOneof("action")
        if action == "provide_actuation_request":
            await self._provide_actuation(request.provide_actuation_request)
        elif action == "provide_signal_request":
            await self._provide_signals(request.provide_signal_request)
        elif action == "publish_values_request":
            return await self._publish(request.publish_values_request)
        elif action == "batch_actuate_stream_response":
            self._acknowledge(request.batch_actuate_stream_response)
        elif action is not None and not self.session.claimed:
            # update_filter_response, get_provider_value_response, provider_error_indication
            return Finish(grpc.StatusCode.ABORTED, NOT_CLAIMED)
        return None

    async def _provide_actuation(self, request: Any) -> None:
        nodes = [messages.node_of(self.catalog, s) for s in request.actuator_identifiers]
        if nodes:
            self.session.claim_actuation([n.path for n in nodes])
            self.actuator_ids.update(n.id for n in nodes)
        response = val_pb2.OpenProviderStreamResponse()
        response.provide_actuation_response.SetInParent()
        await self._send(response)

    async def _provide_signals(self, request: Any) -> None:
        nodes = [messages.node_by_id(self.catalog, i) for i in request.signals_sample_intervals]
        if nodes:
            self.session.claim_values([n.path for n in nodes])
            self.value_ids.update(n.id for n in nodes)
        self.provides_values = True
        response = val_pb2.OpenProviderStreamResponse()
        response.provide_signal_response.SetInParent()
        await self._send(response)

    def _unclaimed(self, node: Node) -> Finish:
        owner = self.broker.provider_of(node.path)
        if owner is not None and self.provides_values:
            return Finish(
                grpc.StatusCode.ALREADY_EXISTS,
                f"{node.path} is provided by {owner}; only that provider may publish it",
            )
        detail = f"{node.path} is not claimed on this stream. {NOT_CLAIMED}"
        return Finish(grpc.StatusCode.ABORTED, detail)

    async def _publish(self, request: Any) -> Finish | None:
        """Publish a batch; refused values are reported by id, the others applied.

        As in the databroker, publishing before any ``ProvideSignalRequest`` or a signal
        this stream did not claim ends the stream (ABORTED; ALREADY_EXISTS when another
        provider holds it), while a bad value only earns an error entry in a
        ``PublishValuesResponse``; nothing is sent when everything was applied.
        """
        if not self.provides_values:
            return Finish(grpc.StatusCode.ABORTED, NOT_CLAIMED)
        errors: dict[int, Any] = {}
        by_time: dict[int | None, dict[str, Any]] = {}
        ids: dict[str, int] = {}
        for node_id, datapoint in request.data_points.items():
            try:
                node = messages.node_by_id(self.catalog, node_id)
            except NotFound as exc:
                errors[node_id] = messages.error_of(exc)
                continue
            if node_id not in self.value_ids:
                return self._unclaimed(node)
            try:
                value = messages.value_of(node, datapoint.value)
            except CarmeshError as exc:
                errors[node_id] = messages.error_of(exc)
                continue
            stamp = (
                convert.timestamp_ns(datapoint.timestamp)
                if datapoint.HasField("timestamp")
                else None
            )
            by_time.setdefault(stamp, {})[node.path] = value
            ids[node.path] = node_id
        for stamp, values in by_time.items():
            while values:
                try:
                    await self.session.publish(values, timestamp=stamp)
                    break
                except CarmeshError as exc:
                    if exc.path in values:
                        errors[ids[exc.path]] = messages.error_of(exc)
                        del values[exc.path]
                        continue
                    for path in values:
                        errors[ids[path]] = messages.error_of(exc)
                    break
        if errors:
            response = val_pb2.OpenProviderStreamResponse()
            response.publish_values_response.request_id = request.request_id
            for node_id, error in errors.items():
                response.publish_values_response.status[node_id].CopyFrom(error)
            await self._send(response)
        return None

    def _acknowledge(self, response: Any) -> None:
        self.acknowledging = True
        try:
            node = messages.node_of(self.catalog, response.signal_id)
        except CarmeshError as exc:
            log.debug("provider %s answered for an unknown signal: %s", self.name, exc)
            return
        waiters = self._waiting.get(node.id)
        if not waiters:
            return
        waiter = waiters.popleft()
        if not waiters:
            del self._waiting[node.id]
        if waiter.done():
            return
        refusal = (
            messages.exception_of(response.error, node.path, self.name)
            if response.HasField("error")
            else None
        )
        if refusal is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(refusal)
