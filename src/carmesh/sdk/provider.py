"""An app as a provider: one ``kuksa.val.v2`` ``OpenProviderStream`` call.

``async with car.provide(paths) as provider`` claims the values of *paths* (paths or KUKSA
patterns; the app needs ``provide`` permission for them) and :meth:`Provider.publish` sends
new values. With an *actuate* handler it also claims the actuators among them: each
actuation the car forwards is handed to the handler as ``{path: value}`` (sync or async) and
answered OK, or with the carmesh error the handler raises (its message reaches the caller of
``actuate``). Leaving the block ends the stream and the car releases every claim.

The broker answers a publication only when it refuses a value; such a refusal is logged and
raised by the next :meth:`~Provider.publish` that carries the same signal. When the stream
ends (the car stops, the app's token is revoked) every later call raises the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import grpc
from kuksa.val.v2 import types_pb2, val_pb2

from carmesh.errors import (
    CarmeshError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from carmesh.sdk.signals import Signal, from_value, to_value
from carmesh.sdk.status import error_of

__all__ = ["ActuationHandler", "Provider"]

log = logging.getLogger(__name__)

#: Called with ``{path: target}`` for each actuation; may be a coroutine function.
ActuationHandler = Callable[[dict[str, Any]], Awaitable[None] | None]
Resolver = Callable[[Iterable[str]], Awaitable[list[Signal]]]


class Provider:
    """One provider stream (see the module's description). Use it as an async context
    manager; it opens on entry."""

    def __init__(
        self,
        stub: Any,
        metadata: tuple[tuple[str, str], ...],
        address: str,
        patterns: Iterable[str],
        resolve: Resolver,
        handler: ActuationHandler | None = None,
        timeout: float = 10.0,
        on_close: Callable[[Provider], None] | None = None,
    ) -> None:
        self._stub = stub
        self._metadata = metadata
        self.address = address
        self._patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self._resolve = resolve
        self.handler = handler
        self.timeout = timeout
        self._on_close = on_close
        #: The signals whose values this provider publishes, by path.
        self.signals: dict[str, Signal] = {}
        #: The actuators it serves, by path.
        self.actuators: dict[str, Signal] = {}
        self.failure: CarmeshError | None = None
        self._by_id: dict[int, Signal] = {}
        self._call: Any = None
        self._opened = False
        self._closed = False
        self._answer: asyncio.Future[str] | None = None
        self._write_lock = asyncio.Lock()
        self._refused: dict[str, CarmeshError] = {}
        self._request_ids = itertools.count(1)
        self._actuations: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self) -> Provider:
        """Claim the signals (and, with a handler, the actuators); raises the car's refusal
        (``PermissionDenied`` without ``provide`` permission, ``AlreadyClaimed`` when another
        provider has them, ``NotFound``)."""
        if self._opened:
            return self
        self._opened = True
        signals = await self._resolve(self._patterns)
        if not signals:
            raise InvalidArgument("no signals were given to provide")
        self.signals = {s.path: s for s in signals}
        self._by_id = {s.id: s for s in signals}
        self._call = self._stub.OpenProviderStream(metadata=self._metadata)
        self._tasks = [
            asyncio.create_task(self._read(), name="carmesh provider stream"),
            asyncio.create_task(self._serve(), name="carmesh provider actuations"),
        ]
        try:
            intervals = {s.id: types_pb2.SampleInterval(interval_ms=0) for s in signals}
            await self._request(
                val_pb2.OpenProviderStreamRequest(
                    provide_signal_request=val_pb2.ProvideSignalRequest(
                        signals_sample_intervals=intervals
                    )
                )
            )
            actuators = [s for s in signals if s.is_actuator] if self.handler else []
            if actuators:
                # An answer sent unasked asks a carmesh broker to wait for this provider's
                # answer to every actuation, so that a refusal reaches the caller.
                await self._answer_actuation(types_pb2.SignalID(id=actuators[0].id), None)
                self.actuators = {s.path: s for s in actuators}
                await self._request(
                    val_pb2.OpenProviderStreamRequest(
                        provide_actuation_request=val_pb2.ProvideActuationRequest(
                            actuator_identifiers=[
                                types_pb2.SignalID(path=s.path) for s in actuators
                            ]
                        )
                    )
                )
        except BaseException:
            await self.close()
            raise
        return self

    async def publish(self, values: Mapping[str, Any]) -> None:
        """Publish ``{path: value}`` in one message. ``InvalidValue`` (checked against the
        datatype, range and allowed values the car reported) or ``PermissionDenied`` (a
        signal this provider did not claim) before anything is sent."""
        self._check_open()
        for path in values:
            refusal = self._refused.pop(path, None)
            if refusal is not None:
                raise refusal
        request = val_pb2.PublishValuesRequest(request_id=next(self._request_ids))
        for path, value in values.items():
            signal = self.signals.get(path)
            if signal is None:
                raise PermissionDenied(
                    f"{path} is not provided here; list it in car.provide(...) first", path=path
                )
            request.data_points[signal.id].value.CopyFrom(to_value(signal, value, check_range=True))
        if values:
            await self._write(val_pb2.OpenProviderStreamRequest(publish_values_request=request))

    async def close(self) -> None:
        """End the stream; the car releases every claim. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close(self)
        if self._call is not None:
            self._call.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(Unavailable("the provider is closed"))

    async def __aenter__(self) -> Provider:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the stream ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self._closed or not self._opened:
            raise Unavailable("the provider is not open; use it in 'async with car.provide(…)'")

    async def _write(self, request: Any) -> None:
        async with self._write_lock:
            self._check_open()
            try:
                await self._call.write(request)
            except (grpc.RpcError, asyncio.InvalidStateError, grpc.aio.UsageError):
                await asyncio.sleep(0)  # let the reader learn why the call ended
                self._check_open()
                raise Unavailable(f"the provider stream to {self.address} is closed") from None

    async def _request(self, request: Any) -> None:
        """Send a claim and wait for the car's answer (or the stream's end)."""
        self._answer = asyncio.get_running_loop().create_future()
        try:
            await self._write(request)
            await asyncio.wait_for(asyncio.shield(self._answer), self.timeout)
        except TimeoutError:
            raise Unavailable(
                f"the car at {self.address} did not answer a claim within {self.timeout:g} s"
            ) from None
        finally:
            self._answer = None

    async def _read(self) -> None:
        try:
            while True:
                message = await self._call.read()
                if message is grpc.aio.EOF:
                    self._fail(Unavailable(f"the car at {self.address} ended the provider stream"))
                    return
                self._receive(message)
        except grpc.aio.AioRpcError as exc:
            if not self._closed:
                self._fail(error_of(exc, self.address))
        except Exception as exc:
            log.exception("the provider stream failed")
            self._fail(Unavailable(f"the provider stream to {self.address} failed: {exc}"))

    def _fail(self, error: CarmeshError) -> None:
        if self._closed or self.failure is not None:
            return
        self.failure = error
        log.debug("provider stream ended: %s", error)
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)

    def _receive(self, message: Any) -> None:
        action = message.WhichOneof("action")
        if action in ("provide_signal_response", "provide_actuation_response"):
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(action)
        elif action == "batch_actuate_stream_request":
            self._actuations.put_nowait(message.batch_actuate_stream_request)
        elif action == "publish_values_response":
            for signal_id, error in message.publish_values_response.status.items():
                if error.code == types_pb2.ERROR_CODE_OK:
                    continue
                signal = self._by_id.get(signal_id)
                path = signal.path if signal else f"id {signal_id}"
                text = f"the car refused {path}: {error.message or error.code}"
                log.warning("%s", text)
                refusal: CarmeshError
                if error.code == types_pb2.ERROR_CODE_NOT_FOUND:
                    refusal = NotFound(text, path=path)
                elif error.code == types_pb2.ERROR_CODE_PERMISSION_DENIED:
                    refusal = PermissionDenied(text, path=path)
                else:
                    refusal = InvalidArgument(text, path=path)
                self._refused[path] = refusal

    # -- actuations ----------------------------------------------------------------------

    async def _serve(self) -> None:
        """Hand each actuation batch to the handler in turn and answer every signal."""
        while True:
            batch = await self._actuations.get()
            targets: dict[str, Any] = {}
            refusal: CarmeshError | None = None
            for request in batch.actuate_requests:
                signal = self._actuator(request.signal_id)
                if signal is None:
                    refusal = refusal or NotFound("this provider does not serve that actuator")
                else:
                    targets[signal.path] = from_value(request.value)
            if refusal is None and self.handler is not None:
                try:
                    result = self.handler(targets)
                    if inspect.isawaitable(result):
                        await result
                except CarmeshError as exc:
                    refusal = exc
                except Exception as exc:
                    log.exception("the actuation handler failed for %s", list(targets))
                    refusal = CarmeshError(f"the app failed to actuate: {exc}")
            for request in batch.actuate_requests:
                await self._answer_actuation(request.signal_id, refusal)

    def _actuator(self, signal_id: Any) -> Signal | None:
        if signal_id.WhichOneof("signal") == "path":
            return self.actuators.get(signal_id.path)
        signal = self._by_id.get(signal_id.id)
        return signal if signal is not None and signal.path in self.actuators else None

    async def _answer_actuation(self, signal_id: Any, refusal: CarmeshError | None) -> None:
        if refusal is None:
            error = types_pb2.Error(code=types_pb2.ERROR_CODE_OK)
        else:
            if isinstance(refusal, NotFound):
                code = types_pb2.ERROR_CODE_NOT_FOUND
            elif isinstance(refusal, PermissionDenied):
                code = types_pb2.ERROR_CODE_PERMISSION_DENIED
            elif isinstance(refusal, InvalidArgument):
                code = types_pb2.ERROR_CODE_INVALID_ARGUMENT
            else:
                code = types_pb2.ERROR_CODE_UNSPECIFIED
            error = types_pb2.Error(code=code, message=str(refusal) or "refused")
        response = val_pb2.BatchActuateStreamResponse(signal_id=signal_id, error=error)
        with contextlib.suppress(Unavailable):
            await self._write(
                val_pb2.OpenProviderStreamRequest(batch_actuate_stream_response=response)
            )
