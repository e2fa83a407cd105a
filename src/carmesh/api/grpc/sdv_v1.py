"""Velocitas' ``sdv.databroker.v1``: the ``Broker`` and ``Collector`` services over the broker.

This is the API that ``velocitas-sdk`` vehicle apps and older feeders speak; the Eclipse KUKSA
databroker dropped it in 0.7.0. The semantics are that databroker's (its
``grpc/sdv_databroker_v1`` module):

- ``GetDatapoints`` answers OK with one entry per requested path; a path without a value,
  unknown or not readable carries ``failure_value`` NOT_AVAILABLE, UNKNOWN_DATAPOINT or
  ACCESS_DENIED. An empty request is INVALID_ARGUMENT.
- ``SetDatapoints`` requests actuator targets (what ``DataPoint.set`` of a Velocitas app does)
  and answers OK with a ``DatapointError`` per path that failed: UNKNOWN_DATAPOINT, ACCESS_DENIED
  (sensors and attributes, missing scope), INVALID_TYPE (the wrong ``Datapoint`` field for the
  signal's type), OUT_OF_BOUNDS (outside min/max/allowed or the integer width), INTERNAL_ERROR
  (no provider serves the actuator, or it refused). Each path is its own request, as the
  databroker applied each entry on its own.
- ``Subscribe`` takes a query (:mod:`carmesh.api.grpc.sdv_query`); a malformed query or one that
  names unknown signals is INVALID_ARGUMENT, a signal the caller may not read
  PERMISSION_DENIED. Responses carry the select items whenever one of the query's signals is
  written and the condition holds, starting with the current values. When carmesh stops, the
  stream ends with UNAVAILABLE.
- ``GetMetadata`` lists the named signals (all readable ones when no name is given); unknown
  names are left out, a named signal the caller may not read is PERMISSION_DENIED. Ids are the
  catalog's node ids. ``entry_type`` is sent too, although velocitas-sdk's copy of the messages
  predates it.
- ``RegisterDatapoints`` maps names to ids. carmesh adds no signals at run time, so an unknown
  name is NOT_FOUND (declare it in an overlay); a type other than the catalog's is
  INVALID_ARGUMENT; the caller needs the ``provide`` (or ``create``) scope.
- ``UpdateDatapoints`` and ``StreamDatapoints`` publish current values by id and report
  ``DatapointError`` per id, as ``SetDatapoints`` does; values are stamped with the time carmesh
  receives them (the databroker kept the sender's timestamp aside and answered with its own).

Values keep their catalog type on the wire: ``int8``…``int32`` travel as ``int32_value``,
``uint8``…``uint32`` as ``uint32_value``, arrays in the matching ``*_array``. The generated
messages come from the ``velocitas-sdk`` package; without it this API is not served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeAlias

import grpc

from carmesh.api.grpc import sdv_query_eval
from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.convert import carrier, set_timestamp
from carmesh.api.grpc.status import abort, datapoint_error, unary
from carmesh.broker import Action, Broker, Datapoint, Principal, Subscription
from carmesh.errors import (
    CarmeshError,
    InvalidArgument,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from carmesh.vss.model import ChangeType, DataType, Node, NodeType

log = logging.getLogger(__name__)

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

try:
    from velocitas_sdk.proto import (
        broker_pb2,
        broker_pb2_grpc,
        collector_pb2,
        collector_pb2_grpc,
        types_pb2,
    )
except Exception as exc:  # not installed, or stubs the protobuf runtime cannot load
    _missing: Exception | None = exc
else:
    _missing = None


def wire_field(datatype: DataType) -> str:
    """The ``Datapoint`` field that carries *datatype* (``uint16`` → ``uint32_value``)."""
    name = carrier(datatype)
    return name if datatype.is_array else f"{name}_value"


def _wire_type(datatype: DataType) -> str:
    """The ``DataType`` enum name of *datatype* (``boolean[]`` → ``BOOL_ARRAY``)."""
    return datatype.value.replace("boolean", "bool").replace("[]", "_array").upper()


_CHANGE_TYPES = {
    ChangeType.STATIC: "STATIC",
    ChangeType.ON_CHANGE: "ON_CHANGE",
    ChangeType.CONTINUOUS: "CONTINUOUS",
}

#: ``Metadata.entry_type`` (field 2 of the databroker's ``types.proto``) is missing from the
#: copy velocitas-sdk ships; it is added to each message as a raw varint field.
_ENTRY_TYPE_TAG = 2 << 3
_ENTRY_TYPES = {NodeType.SENSOR: 1, NodeType.ACTUATOR: 2, NodeType.ATTRIBUTE: 3}


class WrongType(InvalidValue):
    """The ``Datapoint`` holds a field that does not carry the signal's type."""


def to_wire(message: Any, datatype: DataType, dp: Datapoint | None) -> None:
    """Fill an sdv ``Datapoint`` from a broker datapoint (NOT_AVAILABLE when None)."""
    if dp is None:
        message.failure_value = types_pb2.Datapoint.NOT_AVAILABLE
        return
    set_timestamp(message.timestamp, dp.timestamp)
    field = wire_field(datatype)
    if datatype.is_array:
        getattr(message, field).values.extend(dp.value)
    else:
        setattr(message, field, dp.value)


def from_wire(message: Any, node: Node) -> Any:
    """The value an sdv ``Datapoint`` holds for *node*; :class:`WrongType` unless it uses the
    field for the node's type (the broker checks ranges). A failure value or no value is
    refused too: carmesh keeps no "not available" value."""
    assert node.datatype is not None
    expected = wire_field(node.datatype)
    which = message.WhichOneof("value")
    if which != expected:
        raise WrongType(
            f"{node.path} is {node.datatype.value}: send it in {expected}, not "
            f"{which or 'an empty Datapoint'}",
            path=node.path,
            expected=expected,
            got=str(which),
        )
    held = getattr(message, which)
    return list(held.values) if node.datatype.is_array else held


def _error_code(exc: CarmeshError) -> int:
    name = "INVALID_TYPE" if isinstance(exc, WrongType) else datapoint_error(exc)
    return int(types_pb2.DatapointError.Value(name))


def _failure(exc: CarmeshError) -> int:
    name = datapoint_error(exc)
    if name not in ("UNKNOWN_DATAPOINT", "ACCESS_DENIED"):
        name = "INTERNAL_ERROR"
    return int(types_pb2.Datapoint.Failure.Value(name))


def _metadata(message: Any, node: Node) -> None:
    assert node.datatype is not None
    message.id = node.id
    message.name = node.path
    message.data_type = types_pb2.DataType.Value(_wire_type(node.datatype))
    change = _CHANGE_TYPES.get(node.change_type) if node.change_type else None
    message.change_type = types_pb2.ChangeType.Value(change or "CONTINUOUS")
    message.description = node.description
    message.MergeFromString(bytes((_ENTRY_TYPE_TAG, _ENTRY_TYPES[node.type])))


STOPPING = "carmesh is stopping; reconnect when it is back"


class _Service:
    def __init__(self, broker: Broker, auth: GrpcAuth) -> None:
        self.broker = broker
        self.auth = auth
        self.stopping = False

    def _principal(self, context: Context) -> Principal:
        """The caller; once the server is stopping, new calls are UNAVAILABLE."""
        if self.stopping:
            raise Unavailable(STOPPING)
        return self.auth.principal(context)


class SdvBroker(_Service):
    """``sdv.databroker.v1.Broker``: what vehicle apps read, actuate and subscribe with."""

    def __init__(self, broker: Broker, auth: GrpcAuth) -> None:
        super().__init__(broker, auth)
        self._subscriptions: set[Subscription] = set()

    async def close(self) -> None:
        """End every subscription with UNAVAILABLE (as the databroker did when shutting
        down), so that the server can stop at once."""
        self.stopping = True
        for subscription in list(self._subscriptions):
            subscription.close()

    @unary
    async def GetDatapoints(self, request: Any, context: Context) -> Any:
        principal = self._principal(context)
        if not request.datapoints:
            raise InvalidArgument("no datapoints were requested")
        reply = broker_pb2.GetDatapointsReply()
        for path in request.datapoints:
            out = reply.datapoints[path]
            try:
                dp = self.broker.get(principal, path)
            except CarmeshError as exc:
                out.failure_value = _failure(exc)
                continue
            node = self.broker.catalog[path]
            assert node.datatype is not None
            to_wire(out, node.datatype, dp)
        return reply

    @unary
    async def SetDatapoints(self, request: Any, context: Context) -> Any:
        principal = self._principal(context)
        reply = broker_pb2.SetDatapointsReply()
        targets: dict[str, Any] = {}
        for path, wire in request.datapoints.items():
            node = self.broker.catalog.get(path)
            if node is None or not node.is_leaf:
                reply.errors[path] = types_pb2.UNKNOWN_DATAPOINT
            elif not node.is_actuator:
                reply.errors[path] = types_pb2.ACCESS_DENIED
            else:
                try:
                    targets[path] = from_wire(wire, node)
                except WrongType as exc:
                    reply.errors[path] = _error_code(exc)
        results = await asyncio.gather(
            *(self.broker.actuate(principal, {path: value}) for path, value in targets.items()),
            return_exceptions=True,
        )
        for path, result in zip(targets, results, strict=True):
            if isinstance(result, CarmeshError):
                log.debug("sdv SetDatapoints %s: %s", path, result)
                reply.errors[path] = _error_code(result)
            elif isinstance(result, Exception):
                log.error("sdv SetDatapoints %s failed", path, exc_info=result)
                reply.errors[path] = types_pb2.INTERNAL_ERROR
            elif isinstance(result, BaseException):
                raise result
        return reply

    async def Subscribe(self, request: Any, context: Context) -> AsyncIterator[Any]:
        try:
            principal = self._principal(context)
            query = sdv_query_eval.compile_text(request.query, self.broker.catalog.get)
            subscription = self.broker.subscribe(principal, query.paths)
        except CarmeshError as exc:
            await abort(context, exc)
        self._subscriptions.add(subscription)
        try:
            async with subscription:
                evaluation = sdv_query_eval.Evaluation(query)
                fields = evaluation.update(subscription.get_nowait() or {})
                if fields is not None:
                    yield _reply(fields)
                async for batch in subscription:
                    fields = evaluation.update(batch)
                    if fields is not None:
                        yield _reply(fields)
        finally:
            self._subscriptions.discard(subscription)
        await abort(context, Unavailable(STOPPING))

    @unary
    async def GetMetadata(self, request: Any, context: Context) -> Any:
        principal = self._principal(context)
        reply = broker_pb2.GetMetadataReply()
        if not request.names:
            nodes: list[Node] = list(self.broker.metadata(principal, ""))
        else:
            nodes = []
            for name in request.names:
                node = self.broker.catalog.get(name)
                if node is not None and node.is_leaf:
                    nodes.extend(self.broker.metadata(principal, name))
        for node in nodes:
            _metadata(reply.list.add(), node)
        return reply


def _reply(fields: list[sdv_query_eval.Field]) -> Any:
    reply = broker_pb2.SubscribeReply()
    for field in fields:
        to_wire(reply.fields[field.name], field.datatype, field.datapoint)
    return reply


class SdvCollector(_Service):
    """``sdv.databroker.v1.Collector``: how feeders publish current values, by id."""

    @unary
    async def RegisterDatapoints(self, request: Any, context: Context) -> Any:
        principal = self._principal(context)
        catalog = self.broker.catalog
        reply = collector_pb2.RegisterDatapointsReply()
        for item in request.list:
            name = item.name
            try:
                wire_type = types_pb2.DataType.Name(item.data_type)
                types_pb2.ChangeType.Name(item.change_type)
            except ValueError:
                raise InvalidArgument(
                    f"cannot register {name}: unsupported data or change type", path=name
                ) from None
            node = catalog.get(name)
            if node is None or node.datatype is None:
                what = "a branch" if node is not None else f"not a signal of {catalog.name}"
                raise NotFound(
                    f"cannot register {name}: it is {what}, and carmesh adds no signals at run "
                    "time; declare new signals in an overlay (--overlay FILE)",
                    path=name,
                )
            if wire_type != _wire_type(node.datatype):
                raise InvalidArgument(
                    f"cannot register {name} as {wire_type}: it is "
                    f"{_wire_type(node.datatype)} in the catalog",
                    path=name,
                )
            _may_provide(principal, node)
            reply.results[name] = node.id
        return reply

    @unary
    async def UpdateDatapoints(self, request: Any, context: Context) -> Any:
        principal = self._principal(context)
        errors = await self._publish(principal, request.datapoints)
        return collector_pb2.UpdateDatapointsReply(errors=errors)

    async def StreamDatapoints(
        self, request_iterator: AsyncIterator[Any], context: Context
    ) -> AsyncIterator[Any]:
        try:
            principal = self._principal(context)
        except CarmeshError as exc:
            await abort(context, exc)
        async for request in request_iterator:
            errors = await self._publish(principal, request.datapoints)
            if errors:
                yield collector_pb2.StreamDatapointsReply(errors=errors)

    async def _publish(self, principal: Principal, datapoints: Mapping[int, Any]) -> dict[int, int]:
        """Publish values by id; the ``DatapointError`` of each id that failed."""
        errors: dict[int, int] = {}
        values: dict[str, Any] = {}
        ids: dict[str, int] = {}
        for node_id, wire in datapoints.items():
            try:
                node = self.broker.catalog.by_id(node_id)
                if node.datatype is None:
                    raise NotFound(f"id {node_id} is the branch {node.path}, not a signal")
                values[node.path] = from_wire(wire, node)
                ids[node.path] = node_id
            except CarmeshError as exc:
                errors[node_id] = _error_code(exc)
        if not values:
            return errors
        try:
            await self.broker.publish(principal, values)
        except CarmeshError:
            # The batch is refused whole; publish each value on its own so that one bad value
            # does not hold back the others, as the databroker applied each entry by itself.
            for path, value in values.items():
                try:
                    await self.broker.publish(principal, {path: value})
                except CarmeshError as exc:
                    errors[ids[path]] = _error_code(exc)
        return errors


def _may_provide(principal: Principal, node: Node) -> None:
    """Registering means "I will provide this": the ``provide`` scope, or KUKSA's ``create``
    that the databroker asked for."""
    try:
        principal.require(Action.PROVIDE, node)
    except PermissionDenied:
        if not principal.allows(Action.CREATE, node):
            raise


_warned = False


def add_to_server(
    server: grpc.aio.Server, broker: Broker, auth: GrpcAuth
) -> Callable[[], Awaitable[None]] | None:
    """Serve both services and return what ends their streams when the server stops; without
    the velocitas-sdk stubs, warn and serve nothing."""
    global _warned
    if _missing is not None:
        if not _warned:  # once per process, however many servers (main port, apps socket)
            _warned = True
            log.warning(
                "sdv.databroker.v1 is not served: install velocitas-sdk with --no-deps (%s)",
                _missing,
            )
        return None
    front = SdvBroker(broker, auth)
    collector = SdvCollector(broker, auth)
    broker_pb2_grpc.add_BrokerServicer_to_server(front, server)  # type: ignore[no-untyped-call]
    collector_pb2_grpc.add_CollectorServicer_to_server(  # type: ignore[no-untyped-call]
        collector, server
    )

    async def close() -> None:
        collector.stopping = True
        await front.close()

    return close
