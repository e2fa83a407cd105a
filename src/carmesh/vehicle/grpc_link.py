"""A :class:`~carmesh.vehicle.provider.Connector` over the KUKSA ``kuksa.val.v2`` provider
stream, so that a vehicle provider runs in its own process next to a carmesh (or any KUKSA
databroker) at ``HOST:PORT``::

    async with GrpcConnector("127.0.0.1:55555", token=token) as connector:
        catalog = await connector.catalog()        # the broker's signals (ListMetadata)
        await SimulatedVehicle(catalog=catalog).run(connector)

Each link is one ``OpenProviderStream`` call. ``claim_values`` sends a
``ProvideSignalRequest`` (by id, from ``ListMetadata``), ``claim_actuation`` a
``ProvideActuationRequest`` (by path), ``claim`` both; each waits for the broker's answer.
``publish`` checks the values against the broker's own metadata, as the in-process broker
would (all or nothing, :class:`~carmesh.errors.InvalidValue` naming the signal), and sends
one ``PublishValuesRequest``. The broker answers a publication only when it refuses a value;
such a refusal is logged and raised by the next ``publish`` that carries the same signal.

Actuations arrive as ``BatchActuateStreamRequest``: each batch goes to the handler's
``actuate`` in order of arrival and is answered with one ``BatchActuateStreamResponse`` per
signal: ``ERROR_CODE_OK``, or the refusal's code (``InvalidArgument`` →
``INVALID_ARGUMENT``, ``NotFound`` → ``NOT_FOUND``, ``PermissionDenied`` →
``PERMISSION_DENIED``) with its message. Before it first claims actuators the link sends
one ``OK`` answer unasked: a carmesh broker then waits for the provider's answer to every
actuation, the first one included (so that an interlock's refusal reaches the caller); the
databroker ignores it.

When the stream ends or breaks, every pending and later call raises the reason as a carmesh
error (``Unavailable`` naming the address, ``Unauthenticated``, ``PermissionDenied``,
``AlreadyClaimed`` for ``ALREADY_EXISTS``…), and :meth:`GrpcConnector.broken` returns it, so
that a provider that is only waiting for actuations also learns that the broker is gone. A
link does not reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from carmesh.api.grpc import convert
from carmesh.api.grpc import val_v2_messages as messages
from carmesh.errors import (
    AlreadyClaimed,
    CarmeshError,
    ConfigError,
    InvalidArgument,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from carmesh.vehicle.provider import Actuator, ProviderLink
from carmesh.vss.catalog import Catalog
from carmesh.vss.model import Node, NodeType
from carmesh.vss.values import validate

__all__ = ["GrpcConnector", "GrpcLink", "catalog_from_metadata"]

log = logging.getLogger(__name__)

#: Seconds to wait for a unary call (ListMetadata) and for the answer to a claim.
DEFAULT_TIMEOUT = 10.0


def catalog_from_metadata(metadata: Iterable[Any], name: str) -> Catalog:
    """A catalog of the signals a ``ListMetadataResponse`` describes, with the broker's ids,
    types and constraints; branches are filled in. Signals of a type carmesh does not model
    (timestamps) are left out."""
    leaves: list[Node] = []
    for entry in metadata:
        node = messages.node_of_metadata(entry)
        if node is None:
            log.debug("leaving out %s: not a signal carmesh can carry", entry.path)
        else:
            leaves.append(node)
    known = {leaf.path for leaf in leaves}
    next_id = itertools.count(max((leaf.id for leaf in leaves), default=0) + 1)
    branches: dict[str, Node] = {}
    for leaf in leaves:
        parts = leaf.path.split(".")
        for depth in range(1, len(parts)):
            path = ".".join(parts[:depth])
            if path not in branches and path not in known:
                branches[path] = Node(next(next_id), path, NodeType.BRANCH, "")
    return Catalog([*branches.values(), *leaves], name=name)


def _stream_error(exc: grpc.aio.AioRpcError, address: str, *, connected: bool) -> CarmeshError:
    """The carmesh error for a call to the broker at *address* that ended with *exc*."""
    code = exc.code()
    details = exc.details() or code.name
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return Unauthenticated(
            f"the broker at {address} refused the credentials ({details}); "
            "give a valid token with --token or --token-file"
        )
    if code is grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(
            f"the broker at {address} refused: {details}; the token needs the 'provide' scope "
            "for these signals"
        )
    if code is grpc.StatusCode.ALREADY_EXISTS:
        return AlreadyClaimed(
            f"the broker at {address} refused the claim: {details}; "
            "is another provider already running?"
        )
    if code is grpc.StatusCode.NOT_FOUND:
        return NotFound(f"the broker at {address} refused: {details}")
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(f"the broker at {address} refused: {details}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and not connected:
        return Unavailable(
            f"cannot reach the broker at {address} ({details}); is `carmesh run` (or a KUKSA "
            "databroker) running there?"
        )
    return Unavailable(f"the broker at {address} ended the provider stream: {details}")


class GrpcConnector:
    """Opens :class:`GrpcLink` s to the broker at *address* (``HOST:PORT``).

    *token* is sent as ``authorization: Bearer <token>`` on every call; with *tls_ca* (a PEM
    file of root certificates) the channel is TLS and the broker's certificate must be
    signed by it. Use it as an async context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        tls_ca: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.address = address
        self.metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self.timeout = timeout
        self._credentials: grpc.ChannelCredentials | None = None
        if tls_ca is not None:
            try:
                roots = tls_ca.read_bytes()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read the TLS root certificate {tls_ca}: {exc.strerror}"
                ) from None
            self._credentials = grpc.ssl_channel_credentials(root_certificates=roots)
        self._channel: grpc.aio.Channel | None = None
        self._catalog: Catalog | None = None
        self._links: set[GrpcLink] = set()
        self._broken: asyncio.Future[CarmeshError] | None = None
        #: Set once any link has published a batch.
        self.published = asyncio.Event()

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            if self._credentials is not None:
                self._channel = grpc.aio.secure_channel(self.address, self._credentials)
            else:
                self._channel = grpc.aio.insecure_channel(self.address)
        return self._channel

    @property
    def stub(self) -> val_pb2_grpc.VALStub:
        return val_pb2_grpc.VALStub(self.channel)

    async def catalog(self) -> Catalog:
        """The signals the broker serves and this caller may read (``ListMetadata``, once).

        Raises ``Unavailable`` (not reachable), ``Unauthenticated`` (bad or missing token),
        ``PermissionDenied``.
        """
        if self._catalog is None:
            try:
                response = await self.stub.ListMetadata(
                    val_pb2.ListMetadataRequest(root="**"),
                    metadata=self.metadata,
                    timeout=self.timeout,
                )
            except grpc.aio.AioRpcError as exc:
                raise _stream_error(exc, self.address, connected=False) from None
            self._catalog = catalog_from_metadata(
                response.metadata, f"the broker at {self.address}"
            )
        return self._catalog

    async def connect(self, name: str, handler: Actuator | None) -> ProviderLink:
        """Open a provider stream for the provider *name*; *handler* serves its actuations."""
        catalog = await self.catalog()
        link = GrpcLink(self, name, handler, catalog)
        self._links.add(link)
        return link

    def _broken_future(self) -> asyncio.Future[CarmeshError]:
        if self._broken is None:
            self._broken = asyncio.get_running_loop().create_future()
        return self._broken

    async def broken(self) -> CarmeshError:
        """Wait until a link's stream ends or breaks (not by :meth:`GrpcLink.close`); the
        reason."""
        return await asyncio.shield(self._broken_future())

    def _report(self, error: CarmeshError) -> None:
        future = self._broken_future()
        if not future.done():
            future.set_result(error)

    async def close(self) -> None:
        """Close every link and the channel."""
        for link in list(self._links):
            await link.close()
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close(grace=None)

    async def __aenter__(self) -> GrpcConnector:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class GrpcLink:
    """One provider's ``OpenProviderStream`` call (see the module's description)."""

    def __init__(
        self, connector: GrpcConnector, name: str, handler: Actuator | None, catalog: Catalog
    ) -> None:
        self.connector = connector
        self.address = connector.address
        self.name = name
        self.handler = handler
        self.catalog = catalog
        self.call = connector.stub.OpenProviderStream(metadata=connector.metadata)
        #: Signals this link may publish, and actuators it serves.
        self.values: dict[str, Node] = {}
        self.actuators: dict[str, Node] = {}
        self.failure: CarmeshError | None = None
        self._closed = False
        self._connected = False
        self._acknowledging = False
        self._write_lock = asyncio.Lock()
        self._claim_lock = asyncio.Lock()
        self._answer: asyncio.Future[str] | None = None
        self._refused: dict[str, CarmeshError] = {}
        self._warned: set[str] = set()
        self._request_ids = itertools.count(1)
        self._actuations: asyncio.Queue[Any] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(), name=f"provider stream {name}")
        self._worker = asyncio.create_task(self._serve(), name=f"actuations {name}")

    # -- the ProviderLink interface ----------------------------------------------------------

    async def claim(self, patterns: Iterable[str]) -> None:
        nodes = self._resolve(patterns)
        actuators = [n for n in nodes if n.is_actuator]
        self._check_handler(actuators)
        await self._provide_signals(nodes)
        await self._provide_actuation(actuators)

    async def claim_values(self, patterns: Iterable[str]) -> None:
        await self._provide_signals(self._resolve(patterns))

    async def claim_actuation(self, patterns: Iterable[str]) -> None:
        nodes = self._resolve(patterns)
        for node in nodes:
            if not node.is_actuator:
                raise InvalidArgument(
                    f"{node.path} is a {node.type.value}; only actuators can be claimed "
                    "for actuation",
                    path=node.path,
                )
        self._check_handler(nodes)
        await self._provide_actuation(nodes)

    async def publish(self, values: Mapping[str, Any], *, timestamp: int | None = None) -> None:
        self._check_open()
        if not values:
            return
        for path in values:
            refusal = self._refused.pop(path, None)
            if refusal is not None:
                raise refusal
        request = val_pb2.PublishValuesRequest(request_id=next(self._request_ids))
        for path, value in values.items():
            node = self.values.get(path)
            if node is None:
                self.catalog.leaf(path)  # NotFound for signals the broker does not have
                raise PermissionDenied(
                    f"{path} is not claimed by provider {self.name}; claim it before publishing it",
                    path=path,
                )
            point = request.data_points[node.id]
            convert.fill(point.value, node, validate(node, value))
            if timestamp is not None:
                convert.set_timestamp(point.timestamp, timestamp)
        await self._write(val_pb2.OpenProviderStreamRequest(publish_values_request=request))
        self.connector.published.set()

    async def close(self) -> None:
        """End the stream (the broker releases every claim); safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self.connector._links.discard(self)
        self.call.cancel()
        for task in (self._reader, self._worker):
            task.cancel()
        for task in (self._reader, self._worker):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(Unavailable(f"provider {self.name} is disconnected"))

    # -- claiming ----------------------------------------------------------------------------

    def _resolve(self, patterns: Iterable[str]) -> list[Node]:
        self._check_open()
        if isinstance(patterns, str):
            patterns = [patterns]
        found: dict[str, Node] = {}
        for pattern in patterns:
            for node in self.catalog.resolve(pattern):
                found[node.path] = node
        return list(found.values())

    def _check_handler(self, actuators: list[Node]) -> None:
        if actuators and self.handler is None:
            raise InvalidArgument(
                f"provider {self.name} cannot claim the actuator {actuators[0].path}: "
                "it has no actuation handler",
                path=actuators[0].path,
            )

    async def _provide_signals(self, nodes: list[Node]) -> None:
        if not nodes:
            return
        request = val_pb2.ProvideSignalRequest(
            signals_sample_intervals={n.id: types_pb2.SampleInterval(interval_ms=0) for n in nodes}
        )
        await self._request(val_pb2.OpenProviderStreamRequest(provide_signal_request=request))
        self.values.update((n.path, n) for n in nodes)

    async def _provide_actuation(self, nodes: list[Node]) -> None:
        if not nodes:
            return
        if not self._acknowledging:
            # Ask a carmesh broker to wait for our answers (see the module's description).
            # Sent ahead of the claim, so that the broker reads it before any actuation.
            self._acknowledging = True
            await self._answer_actuation(types_pb2.SignalID(id=nodes[0].id), None)
        # Known before the broker's answer: an actuation may follow it at once.
        self.actuators.update((n.path, n) for n in nodes)
        self.actuators.update((str(n.id), n) for n in nodes)
        request = val_pb2.ProvideActuationRequest(
            actuator_identifiers=[types_pb2.SignalID(path=n.path) for n in nodes]
        )
        await self._request(val_pb2.OpenProviderStreamRequest(provide_actuation_request=request))

    async def _request(self, request: Any) -> None:
        """Send a claim and wait for the broker's answer (or the stream's end)."""
        async with self._claim_lock:
            self._check_open()
            self._answer = asyncio.get_running_loop().create_future()
            try:
                await self._write(request)
                await asyncio.wait_for(asyncio.shield(self._answer), self.connector.timeout)
            except TimeoutError:
                raise Unavailable(
                    f"the broker at {self.address} did not answer a claim within "
                    f"{self.connector.timeout:g} s; does it serve kuksa.val.v2 provider streams?"
                ) from None
            finally:
                self._answer = None

    # -- the stream ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self._closed:
            raise Unavailable(f"provider {self.name} is disconnected")

    async def _write(self, request: Any) -> None:
        async with self._write_lock:
            self._check_open()
            try:
                await self.call.write(request)
            except (grpc.RpcError, asyncio.InvalidStateError, grpc.aio.UsageError):
                await asyncio.sleep(0)  # let the reader learn why the call ended
                self._check_open()
                raise Unavailable(f"the provider stream to {self.address} is closed") from None

    async def _read(self) -> None:
        try:
            while True:
                message = await self.call.read()
                if message is grpc.aio.EOF:
                    self._fail(
                        Unavailable(f"the broker at {self.address} closed the provider stream")
                    )
                    return
                self._connected = True
                self._receive(message)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.CANCELLED and self._closed:
                return
            self._fail(_stream_error(exc, self.address, connected=self._connected))
        except Exception as exc:
            log.exception("provider stream %s failed", self.name)
            self._fail(Unavailable(f"the provider stream to {self.address} failed: {exc}"))

    def _fail(self, error: CarmeshError) -> None:
        if self._closed or self.failure is not None:
            return
        self.failure = error
        log.debug("provider stream %s ended: %s", self.name, error)
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self._worker.cancel()
        self.connector._report(error)

    def _receive(self, message: Any) -> None:
        action = message.WhichOneof("action")
        if action in ("provide_signal_response", "provide_actuation_response"):
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(action)
        elif action == "batch_actuate_stream_request":
            self._actuations.put_nowait(message.batch_actuate_stream_request)
        elif action == "publish_values_response":
            self._refusals(message.publish_values_response)
        else:
            log.debug("provider %s: ignoring %s from the broker", self.name, action)

    def _refusals(self, response: Any) -> None:
        """Remember (and log once) the values the broker refused, to raise them from the next
        ``publish`` of the same signal."""
        for node_id, error in response.status.items():
            if error.code == types_pb2.ERROR_CODE_OK:
                continue
            try:
                path = self.catalog.by_id(node_id).path
            except NotFound:
                path = f"id {node_id}"
            message = f"the broker at {self.address} refused {path}: {error.message or error.code}"
            refusal: CarmeshError
            if error.code == types_pb2.ERROR_CODE_NOT_FOUND:
                refusal = NotFound(message, path=path)
            elif error.code == types_pb2.ERROR_CODE_PERMISSION_DENIED:
                refusal = PermissionDenied(message, path=path)
            else:
                refusal = InvalidValue(message, path=path)
            if path not in self._warned:
                self._warned.add(path)
                log.warning("%s", message)
            self._refused[path] = refusal

    # -- actuations ----------------------------------------------------------------------

    async def _serve(self) -> None:
        """Carry out the actuation batches one after the other, answering each signal."""
        while True:
            batch = await self._actuations.get()
            targets: dict[str, Any] = {}
            refusal: CarmeshError | None = None
            for request in batch.actuate_requests:
                which = request.signal_id.WhichOneof("signal")
                key = request.signal_id.path if which == "path" else str(request.signal_id.id)
                node = self.actuators.get(key)
                try:
                    if node is None:
                        raise NotFound(f"provider {self.name} does not serve {key}", path=key)
                    targets[node.path] = validate(node, messages.value_of(node, request.value))
                except CarmeshError as exc:
                    refusal = refusal or exc
            if refusal is None and self.handler is not None:
                try:
                    await self.handler.actuate(targets)
                except CarmeshError as exc:
                    refusal = exc
                except Exception as exc:
                    log.exception("provider %s failed to actuate %s", self.name, list(targets))
                    refusal = CarmeshError(f"the provider failed: {exc}")
            for request in batch.actuate_requests:
                await self._answer_actuation(request.signal_id, refusal)

    async def _answer_actuation(self, signal: Any, refusal: CarmeshError | None) -> None:
        """Send a ``BatchActuateStreamResponse`` for *signal* (a ``SignalID``): OK, or the
        refusal's code and message (without a leading ``PATH:`` when it is about this very
        signal, since the broker names the signal itself)."""
        if refusal is None:
            error = types_pb2.Error(code=types_pb2.ERROR_CODE_OK)
        else:
            error = messages.error_of(refusal)
            which = signal.WhichOneof("signal")
            node = self.actuators.get(signal.path if which == "path" else str(signal.id))
            if node is not None and refusal.path == node.path:
                error.message = error.message.removeprefix(f"{node.path}: ")
        response = val_pb2.BatchActuateStreamResponse(signal_id=signal, error=error)
        with contextlib.suppress(Unavailable):
            await self._write(
                val_pb2.OpenProviderStreamRequest(batch_actuate_stream_response=response)
            )
