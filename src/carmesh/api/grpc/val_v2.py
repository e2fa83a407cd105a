"""kuksa.val.v2 ``VAL`` service: Eclipse KUKSA's current API over the broker.

An adapter only: each method finds the caller's principal, turns the request into broker
calls and the results (or :mod:`carmesh.errors`) into messages (or gRPC status codes, as the
databroker sends them). Signals are addressed by path or by catalog id. Unlike the databroker,
``Subscribe``, ``SubscribeById`` and ``ListMetadata`` need read scope on what they return.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from kuksa.val.v2 import val_pb2, val_pb2_grpc

import carmesh
from carmesh.api.grpc import convert
from carmesh.api.grpc import val_v2_messages as messages
from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.status import abort, unary
from carmesh.api.grpc.val_v2_provider import Finish, ProviderStream
from carmesh.broker import Batch, Broker, Datapoint, Principal, Subscription
from carmesh.errors import CarmeshError, InvalidArgument, NotFound, Unavailable
from carmesh.vss.model import Node

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

#: The most updates a subscriber may ask to have buffered (the databroker's limit).
MAX_BUFFER_SIZE = 1000


STOPPING = "carmesh is stopping; reconnect when it is back"


class ValV2Servicer(val_pb2_grpc.VALServicer):  # type: ignore[misc]
    def __init__(self, broker: Broker, auth: GrpcAuth) -> None:
        self.broker = broker
        self.catalog = broker.catalog
        self.auth = auth
        self._subscriptions: set[Subscription] = set()
        self._datapoints = messages.DatapointCache()
        self._providers: set[ProviderStream] = set()
        self._stopping = False

    async def close(self) -> None:
        """End every open stream with UNAVAILABLE, so that the server can stop at once."""
        self._stopping = True
        for subscription in list(self._subscriptions):
            subscription.close()
        for stream in list(self._providers):
            stream.shutdown(STOPPING)

    def _principal(self, context: Context) -> Principal:
        """The caller; refuses new calls once the server is stopping."""
        if self._stopping:
            raise Unavailable(STOPPING)
        return self.auth.principal(context)

    # -- helpers --------------------------------------------------------------------------

    def _target(self, request: Any) -> tuple[Node, Any]:
        """The actuator and raw target of an ``ActuateRequest`` (the broker validates)."""
        if not request.HasField("signal_id"):
            raise InvalidArgument("the ActuateRequest has no signal_id")
        node = messages.node_of(self.catalog, request.signal_id)
        if not request.HasField("value"):
            raise InvalidArgument(f"no value was given for {node.path}", path=node.path)
        return node, messages.value_of(node, request.value)

    def _subscribe(
        self, principal: Principal, nodes: list[Node], buffer_size: int
    ) -> tuple[Subscription, dict[str, Datapoint | None]]:
        """A subscription and the current values (None: no value yet) of *nodes*.

        The databroker keeps ``buffer_size`` older updates besides the latest one; carmesh
        keeps as many batches, then folds newer updates into the last (latest value wins).
        """
        if not nodes:
            raise InvalidArgument("no signals were given to subscribe to")
        if buffer_size > MAX_BUFFER_SIZE:
            raise InvalidArgument(f"buffer_size may be at most {MAX_BUFFER_SIZE}")
        paths = [n.path for n in nodes]
        subscription = self.broker.subscribe(
            principal, paths, initial=False, max_batches=buffer_size + 1
        )
        try:
            current = self.broker.get_many(principal, paths)
        except BaseException:
            subscription.close()
            raise
        return subscription, current

    async def _deliver(
        self,
        context: Context,
        subscription: Subscription,
        first: dict[str, Datapoint | None],
        build: Callable[[dict[str, Datapoint | None] | Batch], Any],
        interval_ms: int,
    ) -> None:
        """Send the current values, then every batch; with *interval_ms*, at most one
        message per interval holding the latest value of each signal that changed."""
        self._subscriptions.add(subscription)
        try:
            await context.write(build(first))
            loop = asyncio.get_running_loop()
            interval = interval_ms / 1000
            due = loop.time() + interval
            async for batch in subscription:
                if interval:
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    while (more := subscription.get_nowait()) is not None:
                        batch.update(more)
                    due = loop.time() + interval
                await context.write(build(batch))
        finally:
            subscription.close()
            self._subscriptions.discard(subscription)
        # Subscriptions end only when the broker or the server stops.
        await context.abort(grpc.StatusCode.UNAVAILABLE, STOPPING)

    # -- reading --------------------------------------------------------------------------

    @unary
    async def GetValue(self, request: Any, context: Context) -> Any:
        principal = self._principal(context)
        node = messages.node_of(self.catalog, request.signal_id)
        response = val_pb2.GetValueResponse()
        messages.fill_datapoint(response.data_point, node, self.broker.get(principal, node.path))
        return response

    @unary
    async def GetValues(self, request: Any, context: Context) -> Any:
        principal = self._principal(context)
        nodes = [messages.node_of(self.catalog, s) for s in request.signal_ids]
        response = val_pb2.GetValuesResponse()
        for node in nodes:
            dp = self.broker.get(principal, node.path)
            messages.fill_datapoint(response.data_points.add(), node, dp)
        return response

    async def Subscribe(self, request: Any, context: Context) -> None:
        try:
            principal = self._principal(context)
            nodes = [messages.node_by_path(self.catalog, p) for p in request.signal_paths]
        except CarmeshError as exc:
            await abort(context, exc)
        await self._stream(
            request, context, principal, nodes, val_pb2.SubscribeResponse, lambda n: n.path
        )

    async def SubscribeById(self, request: Any, context: Context) -> None:
        try:
            principal = self._principal(context)
            nodes = [messages.node_by_id(self.catalog, i) for i in request.signal_ids]
        except CarmeshError as exc:
            await abort(context, exc)
        await self._stream(
            request, context, principal, nodes, val_pb2.SubscribeByIdResponse, lambda n: n.id
        )

    async def _stream(
        self,
        request: Any,
        context: Context,
        principal: Principal,
        nodes: list[Node],
        response_type: Callable[[], Any],
        key: Callable[[Node], Any],
    ) -> None:
        """Serve a Subscribe or SubscribeById call whose responses key entries by *key*."""
        try:
            subscription, first = self._subscribe(principal, nodes, request.buffer_size)
        except CarmeshError as exc:
            await abort(context, exc)
        by_path = {n.path: n for n in nodes}
        cache = self._datapoints

        def build(batch: dict[str, Datapoint | None] | Batch) -> Any:
            response = response_type()
            entries = response.entries
            for path, dp in batch.items():
                node = by_path[path]
                if dp is None:
                    entries[key(node)].SetInParent()
                else:
                    entries[key(node)].CopyFrom(cache.message(node, dp))
            return response

        interval = request.filter.min_sample_interval.interval_ms
        await self._deliver(context, subscription, first, build, interval)

    @unary
    async def ListMetadata(self, request: Any, context: Context) -> Any:
        """Metadata of the readable signals below ``root`` (a path or pattern); a non-empty
        ``filter`` is a further pattern they must match (the databroker ignores it)."""
        principal = self._principal(context)
        nodes = self.broker.metadata(principal, request.root)
        if request.filter:
            wanted = {n.id for n in self.catalog.match(request.filter)}
            nodes = tuple(n for n in nodes if n.id in wanted)
            if not nodes:
                raise NotFound(
                    f"no signal below {request.root or '(everything)'} matches {request.filter}"
                )
        response = val_pb2.ListMetadataResponse()
        for node in nodes:
            messages.fill_metadata(response.metadata.add(), node)
        return response

    @unary
    async def GetServerInfo(self, request: Any, context: Context) -> Any:
        self._principal(context)
        return val_pb2.GetServerInfoResponse(
            name="carmesh", version=carmesh.__version__, commit_hash=""
        )

    # -- writing --------------------------------------------------------------------------

    @unary
    async def PublishValue(self, request: Any, context: Context) -> Any:
        principal = self._principal(context)
        node = messages.node_of(self.catalog, request.signal_id)
        if not request.HasField("data_point"):
            raise InvalidArgument(f"no data_point was given for {node.path}", path=node.path)
        datapoint = request.data_point
        value = messages.value_of(node, datapoint.value)
        stamp = (
            convert.timestamp_ns(datapoint.timestamp) if datapoint.HasField("timestamp") else None
        )
        await self.broker.publish(principal, {node.path: value}, timestamp=stamp)
        return val_pb2.PublishValueResponse()

    @unary
    async def Actuate(self, request: Any, context: Context) -> Any:
        principal = self._principal(context)
        node, value = self._target(request)
        await self.broker.actuate(principal, {node.path: value})
        return val_pb2.ActuateResponse()

    @unary
    async def ActuateStream(self, request_iterator: AsyncIterable[Any], context: Context) -> Any:
        """Each request is carried out in turn; the first failure ends the call with its code."""
        principal = self._principal(context)
        async for request in request_iterator:
            node, value = self._target(request)
            await self.broker.actuate(principal, {node.path: value})
        return val_pb2.ActuateResponse()

    @unary
    async def BatchActuate(self, request: Any, context: Context) -> Any:
        """All targets are checked before any is forwarded; an empty batch does nothing."""
        principal = self._principal(context)
        targets = dict(self._target(r) for r in request.actuate_requests)
        if targets:
            await self.broker.actuate(principal, {n.path: v for n, v in targets.items()})
        return val_pb2.BatchActuateResponse()

    # -- providers ------------------------------------------------------------------------

    async def OpenProviderStream(
        self, request_iterator: AsyncIterable[Any], context: Context
    ) -> None:
        try:
            principal = self._principal(context)
            name = f"{principal.name} at {context.peer()}"
            stream = ProviderStream(self.broker, principal, name)
        except CarmeshError as exc:
            await abort(context, exc)
        self._providers.add(stream)
        reader = asyncio.create_task(stream.read(request_iterator))
        try:
            while True:
                item = await stream.outbox.get()
                if isinstance(item, Finish):
                    if item.code is not None:
                        await context.abort(item.code, item.details)
                    return
                await context.write(item)
        finally:
            reader.cancel()
            stream.close()
            self._providers.discard(stream)


def add_to_server(
    server: grpc.aio.Server, broker: Broker, auth: GrpcAuth
) -> Callable[[], Awaitable[None]]:
    servicer = ValV2Servicer(broker, auth)
    val_pb2_grpc.add_VALServicer_to_server(servicer, server)
    return servicer.close
