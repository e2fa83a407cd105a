"""Eclipse KUKSA ``kuksa.val.v1`` ``VAL`` service over the broker.

The semantics are those of the KUKSA databroker's v1 adapter (``databroker/src/grpc/
kuksa_val_v1/val.rs``):

- ``Get`` and ``Set`` answer OK and report problems per path inside the response
  (``errors``, with ``error`` repeating the first one) using HTTP-like codes: 404 unknown path,
  400 bad pattern or value, 403 missing scope, 503 no provider for an actuator. An empty
  request, an unknown view, an update without an entry and a target for a non-actuator fail the
  whole call with INVALID_ARGUMENT, as in the databroker.
- Paths are KUKSA patterns: a signal, a branch (everything below it) or a wildcard pattern;
  ``""`` selects every signal.
- ``Set`` of ``FIELD_ACTUATOR_TARGET`` is an actuation: it reaches whichever provider claimed
  the actuator (over ``kuksa.val.v2`` or in-process), so one actuator has one target whichever
  API set it.
- ``Subscribe`` sends the current state of every selected signal first (with no value where
  none is known yet), then each change.
- ``StreamedUpdate`` is ``Set`` on a stream: one response per request, every problem inside it.
- A subscription ends with UNAVAILABLE when the broker stops, and with UNAUTHENTICATED once
  the caller's token expires.

Where the databroker silently ignores a malformed request, carmesh says what is wrong instead:
an unknown ``Field`` number, an update that carries no value for the field it names, and an
attempt to change metadata (fixed by the VSS catalog) are 400 errors for that path.
Unlike the databroker, metadata is only shown for signals the caller may read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import grpc
from kuksa.val.v1 import types_pb2, val_pb2, val_pb2_grpc

from carmesh import __version__
from carmesh.api.grpc import val_v1_messages as v1
from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.status import abort, unary
from carmesh.broker import Batch, Broker, Datapoint, Field, Principal, Subscription
from carmesh.errors import CarmeshError, InvalidArgument, PermissionDenied, Unavailable
from carmesh.vss.model import Node

SERVER_NAME = "carmesh"


# -- the service ------------------------------------------------------------------------------


class _WholeRequest(InvalidArgument):
    """A malformed update that fails a whole ``Set`` (INVALID_ARGUMENT), as in the databroker;
    on ``StreamedUpdate`` it is a 400 for that path like every other problem."""


class _Updates:
    """What a batch of v1 ``EntryUpdate`` s asks for, with the problems found on the way."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.targets: dict[str, Any] = {}
        self.errors: list[types_pb2.DataEntryError] = []


class ValV1Servicer(val_pb2_grpc.VALServicer):  # type: ignore[misc]
    """Translates ``kuksa.val.v1`` calls to broker calls; see the module docstring."""

    def __init__(self, broker: Broker, auth: GrpcAuth) -> None:
        self.broker = broker
        self.auth = auth

    async def _principal(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        try:
            return self.auth.principal(context)
        except CarmeshError as exc:
            await abort(context, exc)

    # -- GetServerInfo ------------------------------------------------------------------------

    @unary
    async def GetServerInfo(
        self, request: val_pb2.GetServerInfoRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> val_pb2.GetServerInfoResponse:
        self.auth.principal(context)
        return val_pb2.GetServerInfoResponse(name=SERVER_NAME, version=__version__)

    # -- Get ----------------------------------------------------------------------------------

    @unary
    async def Get(
        self, request: val_pb2.GetRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        principal = self.auth.principal(context)
        if not request.entries:
            raise InvalidArgument("No datapoints requested")
        for asked in request.entries:
            if asked.view not in v1.VIEWS:
                raise InvalidArgument(f"Invalid View (id: {asked.view})")
        response = val_pb2.GetResponse()
        denied = False
        for asked in request.entries:
            try:
                v1.check_length(asked.path)
                fields = v1.requested_fields(asked.view, asked.fields)
                response.entries.extend(self._read(principal, asked.path, fields))
            except CarmeshError as exc:
                denied |= isinstance(exc, PermissionDenied)
                response.errors.append(v1.entry_error(asked.path, exc))
        if denied:  # the databroker answers only errors rather than a partial success
            del response.entries[:]
        if response.errors:
            response.error.CopyFrom(response.errors[0].error)
        return response

    def _read(self, principal: Principal, path: str, fields: frozenset[int]) -> list[Any]:
        metadata = fields & v1.METADATA_FIELDS
        want_value = v1.VALUE in fields
        want_target = v1.TARGET in fields
        values: dict[str, Datapoint | None] = {}
        targets: dict[str, Datapoint | None] = {}
        if want_value or want_target:
            nodes: Sequence[Node] = self.broker.catalog.resolve(path)
            if want_value:
                values = self.broker.get_many(principal, path, Field.VALUE)
            if want_target:
                targets = self.broker.get_many(principal, path, Field.TARGET)
        else:
            nodes = self.broker.metadata(principal, path)
        return [
            v1.data_entry(
                node,
                value=values.get(node.path),
                target=targets.get(node.path),
                metadata=metadata,
            )
            for node in nodes
        ]

    # -- Set and StreamedUpdate ---------------------------------------------------------------

    @unary
    async def Set(
        self, request: val_pb2.SetRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        principal = self.auth.principal(context)
        errors = await self._set(principal, request.updates, streamed=False)
        return val_pb2.SetResponse(errors=errors)

    async def StreamedUpdate(
        self, request_iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[val_pb2.StreamedUpdateResponse]:
        principal = await self._principal(context)
        async for request in request_iterator:
            errors = await self._set(principal, request.updates, streamed=True)
            response = val_pb2.StreamedUpdateResponse(errors=errors)
            if errors:
                response.error.CopyFrom(errors[0].error)
            yield response

    async def _set(
        self, principal: Principal, updates: Iterable[Any], *, streamed: bool
    ) -> list[types_pb2.DataEntryError]:
        """Apply v1 updates. Problems of one path are returned; a malformed request raises
        :class:`InvalidArgument` (for ``Set``; ``StreamedUpdate`` reports it as a 400)."""
        parsed = _Updates()
        for update in updates:
            path = update.entry.path if update.HasField("entry") else ""
            try:
                self._parse_update(update, parsed)
            except _WholeRequest as exc:
                if not streamed:
                    raise
                parsed.errors.append(v1.entry_error(path, exc))
            except CarmeshError as exc:
                parsed.errors.append(v1.entry_error(path, exc))
        errors = parsed.errors
        errors += await self._publish(principal, parsed.values)
        errors += await self._actuate(principal, parsed.targets)
        return errors

    def _parse_update(self, update: Any, parsed: _Updates) -> None:
        if not update.HasField("entry"):
            raise _WholeRequest("Path is required: an update needs an entry with a path")
        entry = update.entry
        path = entry.path
        if not path:
            raise InvalidArgument("an update needs the path of a signal; none was given")
        v1.check_length(path)
        node = self.broker.catalog.leaf(path)
        if entry.HasField("actuator_target") and not node.is_actuator:
            raise _WholeRequest(
                f"{path} is a {node.type.value}: tried to set a target value for a "
                "non-actuator; only actuators have a target"
            )
        fields = set(update.fields)
        unknown = sorted(fields - v1.KNOWN_FIELDS)
        if unknown:
            raise InvalidArgument(f"unknown field {', '.join(map(str, unknown))}")
        fields.discard(v1.PATH)
        if not fields or types_pb2.FIELD_UNSPECIFIED in fields:
            fields.discard(types_pb2.FIELD_UNSPECIFIED)
            fields |= {
                f
                for f, name in ((v1.VALUE, "value"), (v1.TARGET, "actuator_target"))
                if entry.HasField(name)
            }
            if not fields:
                raise InvalidArgument(f"the update of {path} carries neither a value nor a target")
        if fields & v1.METADATA_FIELDS:
            raise InvalidArgument(
                f"the metadata of {path} comes from the VSS catalog and cannot be changed"
            )
        value = self._value_of(entry, node, "value") if v1.VALUE in fields else None
        target = self._value_of(entry, node, "actuator_target") if v1.TARGET in fields else None
        if value is not None:
            parsed.values[path] = value
        if target is not None:
            parsed.targets[path] = target

    @staticmethod
    def _value_of(entry: Any, node: Node, name: str) -> Any:
        what = "value" if name == "value" else "target value"
        if not entry.HasField(name):
            raise InvalidArgument(f"the update of {node.path} names the {what} but carries none")
        return v1.value_of(node, getattr(entry, name), what)

    async def _publish(
        self, principal: Principal, values: dict[str, Any]
    ) -> list[types_pb2.DataEntryError]:
        """Publish all values at once; when that fails, each on its own, so that every bad
        path is reported and the good ones are applied, as the databroker does."""
        if not values:
            return []
        try:
            await self.broker.publish(principal, values)
            return []
        except CarmeshError as exc:
            if len(values) == 1:
                return [v1.entry_error(next(iter(values)), exc)]
        errors = []
        for path, value in values.items():
            try:
                await self.broker.publish(principal, {path: value})
            except CarmeshError as exc:
                errors.append(v1.entry_error(path, exc))
        return errors

    async def _actuate(
        self, principal: Principal, targets: dict[str, Any]
    ) -> list[types_pb2.DataEntryError]:
        """Actuate each target on its own (concurrently), reporting each refusal."""
        if not targets:
            return []
        results = await asyncio.gather(
            *(self.broker.actuate(principal, {path: value}) for path, value in targets.items()),
            return_exceptions=True,
        )
        errors = []
        for path, result in zip(targets, results, strict=True):
            if isinstance(result, CarmeshError):
                errors.append(v1.entry_error(path, result))
            elif isinstance(result, BaseException):
                raise result
        return errors

    # -- Subscribe ----------------------------------------------------------------------------

    async def Subscribe(
        self, request: val_pb2.SubscribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[val_pb2.SubscribeResponse]:
        principal = await self._principal(context)
        subscriptions: list[tuple[Field, Subscription]] = []

        def close(*_: object) -> None:
            for _field, sub in subscriptions:
                sub.close()

        context.add_done_callback(close)
        try:
            first = self._subscribe(principal, request, subscriptions)
        except CarmeshError as exc:
            close()
            await abort(context, exc)
        try:
            yield first
            async for field, batch in _merged(subscriptions):
                if principal.expires_at is not None:
                    principal.check_live()  # an expired token ends the stream
                yield self._changes(field, batch)
            raise Unavailable("the broker is shutting down")
        except CarmeshError as exc:
            await abort(context, exc)
        finally:
            close()

    def _subscribe(
        self,
        principal: Principal,
        request: val_pb2.SubscribeRequest,
        subscriptions: list[tuple[Field, Subscription]],
    ) -> val_pb2.SubscribeResponse:
        """Open the broker subscriptions and build the first response (the current state)."""
        if not request.entries:
            raise InvalidArgument("Subscription request must contain at least one entry.")
        value_paths: dict[str, Node] = {}
        target_paths: dict[str, Node] = {}
        metadata: dict[str, frozenset[int]] = {}
        described: dict[str, Node] = {}
        for entry in request.entries:
            v1.check_length(entry.path)
            fields = v1.requested_fields(entry.view, entry.fields)
            selected = self.broker.catalog.resolve(entry.path)
            if v1.VALUE in fields:
                value_paths.update((n.path, n) for n in selected)
            if v1.TARGET in fields:
                actuators = [n for n in selected if n.is_actuator]
                if not actuators:
                    raise InvalidArgument(
                        f"{entry.path or '(everything)'} selects no actuator; only actuators "
                        "have a target to subscribe to"
                    )
                target_paths.update((n.path, n) for n in actuators)
            wanted = fields & v1.METADATA_FIELDS
            if wanted:
                for node in self.broker.metadata(principal, entry.path):
                    metadata[node.path] = metadata.get(node.path, frozenset()) | wanted
                    described.setdefault(node.path, node)
            if not fields & (v1.METADATA_FIELDS | {v1.VALUE, v1.TARGET}):
                raise InvalidArgument(
                    f"nothing to subscribe to for {entry.path or '(everything)'}: ask for "
                    "FIELD_VALUE, FIELD_ACTUATOR_TARGET or metadata"
                )
        nodes = {**value_paths, **target_paths, **described}
        values: dict[str, Datapoint | None] = {}
        targets: dict[str, Datapoint | None] = {}
        if value_paths:
            sub = self.broker.subscribe(principal, list(value_paths), initial=False)
            subscriptions.append((Field.VALUE, sub))
            values = self.broker.get_many(principal, list(value_paths), Field.VALUE)
        if target_paths:
            sub = self.broker.subscribe(
                principal, list(target_paths), field=Field.TARGET, initial=False
            )
            subscriptions.append((Field.TARGET, sub))
            targets = self.broker.get_many(principal, list(target_paths), Field.TARGET)
        first = val_pb2.SubscribeResponse()
        for path, node in nodes.items():
            update = first.updates.add()
            wanted = metadata.get(path, frozenset())
            update.entry.CopyFrom(
                v1.data_entry(
                    node, value=values.get(path), target=targets.get(path), metadata=wanted
                )
            )
            if path in value_paths:
                update.fields.append(v1.VALUE)
            if path in target_paths:
                update.fields.append(v1.TARGET)
            update.fields.extend(sorted(wanted))
        return first

    def _changes(self, field: Field, batch: Batch) -> val_pb2.SubscribeResponse:
        response = val_pb2.SubscribeResponse()
        wire_field = v1.VALUE if field is Field.VALUE else v1.TARGET
        catalog = self.broker.catalog
        for path, dp in batch.items():
            update = response.updates.add()
            update.entry.path = path
            node = catalog[path]
            if field is Field.VALUE:
                v1.fill_datapoint(update.entry.value, node, dp)
            else:
                v1.fill_datapoint(update.entry.actuator_target, node, dp)
            update.fields.append(wire_field)
        return response


async def _merged(
    subscriptions: Sequence[tuple[Field, Subscription]],
) -> AsyncIterator[tuple[Field, Batch]]:
    """Batches of several subscriptions as they come; ends when any of them ends."""
    if not subscriptions:
        await asyncio.Event().wait()  # metadata only: nothing ever changes
        return
    if len(subscriptions) == 1:
        field, sub = subscriptions[0]
        async for batch in sub:
            yield field, batch
        return
    pending: dict[asyncio.Future[Batch], tuple[Field, Subscription]] = {
        asyncio.ensure_future(anext(sub)): (field, sub) for field, sub in subscriptions
    }
    try:
        while True:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                field, sub = pending.pop(future)
                try:
                    batch = future.result()
                except StopAsyncIteration:
                    return
                yield field, batch
                pending[asyncio.ensure_future(anext(sub))] = (field, sub)
    finally:
        for future in pending:
            future.cancel()


def add_to_server(server: grpc.aio.Server, broker: Broker, auth: GrpcAuth) -> None:
    val_pb2_grpc.add_VALServicer_to_server(ValV1Servicer(broker, auth), server)
