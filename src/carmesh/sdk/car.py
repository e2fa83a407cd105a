"""The car as an app sees it: signals over ``kuksa.val.v2``, UI and events over
``carmesh.app.v1``, both on one gRPC channel with the app's token.

::

    async with Car.connect() as car:              # CARMESH_BROKER, CARMESH_APP_TOKEN
        speed = await car.get("Vehicle.Speed")
        await car.show(ListTemplate(title="Hi", items=[Item(id="a", title="A")]))

Every failure is a :mod:`carmesh.errors` exception carrying the car's message:
``PermissionDenied`` (not granted), ``NotFound`` (no such signal), ``InvalidValue`` /
``InvalidArgument``, ``Unauthenticated`` (bad or expired token), ``Unavailable`` (the car is
out of reach, or no provider serves an actuator). An app is a pure client: this package
imports nothing of the car's server side.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from carmesh.api.grpc.carmesh_app_v1 import app_pb2, app_pb2_grpc
from carmesh.apps.templates import Template, template_json
from carmesh.errors import InvalidArgument, NotFound, PermissionDenied
from carmesh.sdk.media import MediaSession
from carmesh.sdk.provider import ActuationHandler, Provider
from carmesh.sdk.signals import Signal, from_value, to_value
from carmesh.sdk.status import error_of

__all__ = ["ActionCallback", "Car", "Connecting", "DrivingCallback", "Subscription"]

log = logging.getLogger(__name__)

#: Where an app finds the car when ``CARMESH_BROKER`` is not set: a car on this computer.
DEFAULT_ADDRESS = "127.0.0.1:55555"
#: Seconds a unary call may take.
DEFAULT_TIMEOUT = 10.0

#: Called with ``(action, item)`` when the user taps something; may be a coroutine function.
ActionCallback = Callable[[str, str | None], Awaitable[None] | None]
#: Called with the driving state JSON when it changes; may be a coroutine function.
DrivingCallback = Callable[[dict[str, Any]], Awaitable[None] | None]


class Car:
    """A connection to the car (see the module's description). Make one with
    :meth:`connect`; :meth:`close` it (or use ``async with``) when done."""

    def __init__(
        self, address: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.address = address
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._channel = grpc.aio.insecure_channel(address)
        self._val = val_pb2_grpc.VALStub(self._channel)
        self._host = app_pb2_grpc.AppHostStub(self._channel)
        #: The app's id (``org.example.hello``); None when the token is not an app's.
        self.app_id: str | None = os.environ.get("CARMESH_APP_ID") or None
        #: The installed version, the granted permission ids and the user's language.
        self.version: str | None = None
        self.permissions: frozenset[str] = frozenset()
        self.locale = "en"
        #: The latest driving state JSON (``{"moving", "speed", "gear", "rules"}``), from
        #: ``Hello`` and then from the event stream; None when the car has no app host.
        self.driving: dict[str, Any] | None = None
        self._data_dir: Path | None = None
        self._signals: dict[str, Signal] = {}
        self._patterns: dict[str, tuple[str, ...]] = {}
        self._action_callbacks: list[ActionCallback] = []
        self._driving_callbacks: list[DrivingCallback] = []
        self._media_sessions: dict[str, MediaSession] = {}
        self._events: asyncio.Task[None] | None = None
        self._events_call: Any = None
        self._events_open = asyncio.Event()
        self._subscriptions: set[Subscription] = set()
        self._providers: set[Provider] = set()
        self._closed = False

    # -- connecting ----------------------------------------------------------------------

    @classmethod
    def connect(cls, address: str | None = None, token: str | None = None) -> Connecting:
        """Connect to the car at *address* (``HOST:PORT`` or ``unix:PATH``; default
        ``CARMESH_BROKER``, else :data:`DEFAULT_ADDRESS`) with *token* (default
        ``CARMESH_APP_TOKEN``; none is fine against a development car without tokens).

        ``await Car.connect()`` or ``async with Car.connect() as car``. Greets the app host
        (``Hello``) to learn the app's id, grants, language and the driving state; a car
        without an app host, or a token that is not an app's, leaves those unset.
        ``Unavailable`` when the car cannot be reached, ``Unauthenticated`` for a bad token.
        """
        address = address or os.environ.get("CARMESH_BROKER") or DEFAULT_ADDRESS
        if token is None:
            token = os.environ.get("CARMESH_APP_TOKEN") or None
        return Connecting(lambda: cls(address, token))

    async def _hello(self) -> None:
        try:
            hello = await self._host.Hello(
                app_pb2.HelloRequest(), metadata=self._metadata, timeout=self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED):
                log.debug("no app host for this caller: %s", exc.details())
                return
            raise error_of(exc, self.address) from None
        self.app_id = hello.app_id
        self.version = hello.version
        self.permissions = frozenset(hello.permissions)
        self.locale = hello.locale or "en"
        self.driving = json.loads(hello.driving_json) if hello.driving_json else None

    @property
    def data_dir(self) -> Path:
        """The app's own directory (``CARMESH_APP_DATA``; a new temporary one otherwise),
        kept across runs and updates, deleted when the app is removed."""
        if self._data_dir is None:
            given = os.environ.get("CARMESH_APP_DATA")
            self._data_dir = Path(given) if given else Path(tempfile.mkdtemp(prefix="carmesh-app-"))
        return self._data_dir

    async def close(self) -> None:
        """End the event stream, subscriptions and providers, and the connection."""
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.close()
        for provider in list(self._providers):
            await provider.close()
        if self._events_call is not None:
            self._events_call.cancel()
        if self._events is not None:
            self._events.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._events
        await self._channel.close(grace=None)

    async def __aenter__(self) -> Car:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- signals -------------------------------------------------------------------------

    async def _unary(
        self, method: Any, request: Any, *, path: str | None = None, value: bool = False
    ) -> Any:
        try:
            return await method(request, metadata=self._metadata, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise error_of(exc, self.address, path=path, value=value) from None

    async def signals(self, pattern: str) -> list[Signal]:
        """The signals *pattern* (a path or KUKSA pattern) selects that the app may read,
        as the car describes them; cached per pattern."""
        paths = self._patterns.get(pattern)
        if paths is None:
            response = await self._unary(
                self._val.ListMetadata, val_pb2.ListMetadataRequest(root=pattern), path=pattern
            )
            found = [Signal.of(m) for m in response.metadata]
            self._signals.update((s.path, s) for s in found)
            paths = tuple(s.path for s in found)
            self._patterns[pattern] = paths
        return [self._signals[p] for p in paths]

    async def signal(self, path: str) -> Signal:
        """The signal at *path* (``NotFound`` when it is a branch or does not exist)."""
        known = self._signals.get(path)
        if known is not None:
            return known
        for signal in await self.signals(path):
            if signal.path == path:
                return signal
        raise NotFound(f"{path} is not a signal; give the path of a sensor or actuator", path=path)

    async def get(self, path: str) -> Any:
        """The current value of *path*; None when it has none yet."""
        response = await self._unary(
            self._val.GetValue,
            val_pb2.GetValueRequest(signal_id=types_pb2.SignalID(path=path)),
            path=path,
        )
        return _datapoint_value(response.data_point)

    async def get_many(self, paths: Iterable[str]) -> dict[str, Any]:
        """``{path: value or None}`` of *paths*, read at one moment."""
        paths = list(paths)
        response = await self._unary(
            self._val.GetValues,
            val_pb2.GetValuesRequest(signal_ids=[types_pb2.SignalID(path=p) for p in paths]),
        )
        return {p: _datapoint_value(dp) for p, dp in zip(paths, response.data_points, strict=True)}

    def subscribe(self, paths: Iterable[str]) -> Subscription:
        """Follow *paths*: iterate to get ``{path: value}`` of all of them, first the current
        values, then after every change (the latest value of each). Close it, or leave
        ``async with``, to end it (breaking out of ``async for`` alone leaves the call open
        until :meth:`close` of the car)."""
        paths = [paths] if isinstance(paths, str) else list(paths)
        if not paths:
            raise InvalidArgument("no signals were given to subscribe to")
        call = self._val.Subscribe(
            val_pb2.SubscribeRequest(signal_paths=paths), metadata=self._metadata
        )
        subscription = Subscription(self, call, paths)
        self._subscriptions.add(subscription)
        return subscription

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        """Ask the car to move the actuators to *targets* (``{path: value}``), all or
        nothing; returns when the providers have accepted. ``PermissionDenied`` without
        ``actuate`` permission, ``Unavailable`` when no provider serves one."""
        if not targets:
            return
        request = val_pb2.BatchActuateRequest()
        for path, target in targets.items():
            try:
                signal = await self.signal(path)
            except PermissionDenied as exc:
                raise PermissionDenied(f"cannot actuate {path}: {exc}", path=path) from None
            entry = request.actuate_requests.add()
            entry.signal_id.path = path
            entry.value.CopyFrom(to_value(signal, target))
        only = next(iter(targets)) if len(targets) == 1 else None
        await self._unary(self._val.BatchActuate, request, path=only, value=True)

    async def publish(self, values: Mapping[str, Any]) -> None:
        """Publish ``{path: value}``, one ``PublishValue`` each (needs ``provide``
        permission); for a stream of values use :meth:`provide`."""
        for path, value in values.items():
            signal = await self.signal(path)
            request = val_pb2.PublishValueRequest(signal_id=types_pb2.SignalID(path=path))
            request.data_point.value.CopyFrom(to_value(signal, value, check_range=True))
            await self._unary(self._val.PublishValue, request, path=path, value=True)

    def provide(self, paths: Iterable[str], *, actuate: ActuationHandler | None = None) -> Provider:
        """A provider of *paths* (paths or patterns): ``async with car.provide([...]) as p:
        await p.publish({...})``; with *actuate*, it serves the actuators among them too
        (see :mod:`carmesh.sdk.provider`)."""
        provider = Provider(
            self._val,
            self._metadata,
            self.address,
            paths,
            self._resolve,
            actuate,
            self.timeout,
            on_close=self._providers.discard,
        )
        self._providers.add(provider)
        return provider

    async def _resolve(self, patterns: Iterable[str]) -> list[Signal]:
        found: dict[str, Signal] = {}
        for pattern in patterns:
            for signal in await self.signals(pattern):
                found[signal.path] = signal
        return list(found.values())

    # -- the app host --------------------------------------------------------------------

    async def show(self, template: Template | Mapping[str, Any]) -> bool:
        """Make *template* (a template model or its JSON) the app's UI; True when the car
        trimmed it for the driving rules in force. ``InvalidArgument`` for a bad template or
        a type the manifest does not declare."""
        data = template_json(template) if not isinstance(template, Mapping) else template
        try:
            text = json.dumps(data, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"the template cannot be sent as JSON: {exc}") from None
        response = await self._unary(
            self._host.ShowTemplate, app_pb2.ShowTemplateRequest(template_json=text)
        )
        return bool(response.trimmed)

    async def notify(self, title: str, body: str, priority: str = "normal") -> str:
        """Post a notification (needs ``notifications``); its id. *priority* is ``low``,
        ``normal`` or ``high``."""
        response = await self._unary(
            self._host.Notify, app_pb2.NotifyRequest(title=title, body=body, priority=priority)
        )
        return str(response.id)

    async def register_media_session(self, name: str, zone: str = "driver") -> str:
        """Register a media session (needs ``media``) playing in *zone* (``driver`` or
        ``rear``); its id, for :meth:`media_session`."""
        response = await self._unary(
            self._host.RegisterMediaSession,
            app_pb2.RegisterMediaSessionRequest(name=name, zone=zone),
        )
        return str(response.session_id)

    def media_session(self, session_id: str) -> MediaSession:
        """The registered session *session_id*: set its queue and state, follow the user's
        transport commands (see :mod:`carmesh.sdk.media`)."""
        session = self._media_sessions.get(session_id)
        if session is None:
            session = self._media_sessions[session_id] = MediaSession(self, session_id)
        return session

    def on_action(self, callback: ActionCallback) -> None:
        """Call *callback(action, item)* when the user taps something in the app's template
        (an action: ``item`` None; an item: ``action`` ``"select"``). Starts reading the
        event stream (which is not reopened once the car ends it). Callbacks run one at a
        time, in order."""
        self._action_callbacks.append(callback)
        self._start_events()

    def on_driving(self, callback: DrivingCallback) -> None:
        """Call *callback(state)* with the driving state JSON whenever it changes (and once
        when the event stream opens). Starts reading the event stream."""
        self._driving_callbacks.append(callback)
        self._start_events()

    async def events_open(self) -> None:
        """Wait until the event stream is open (the car has sent its first event)."""
        self._start_events()
        await self._events_open.wait()

    def _start_events(self) -> None:
        if self._events is None and not self._closed:
            self._events = asyncio.create_task(self._read_events(), name="carmesh app events")

    async def _read_events(self) -> None:
        call = self._host.Events(app_pb2.EventsRequest(), metadata=self._metadata)
        self._events_call = call
        try:
            async for event in call:
                self._events_open.set()
                try:
                    payload = json.loads(event.json)
                except ValueError:
                    log.warning("the car sent a %s event that is not JSON", event.kind)
                    continue
                if event.kind == "driving":
                    self.driving = payload
                    for driving_callback in list(self._driving_callbacks):
                        await _call(driving_callback, payload)
                elif event.kind == "action":
                    for action_callback in list(self._action_callbacks):
                        await _call(action_callback, payload.get("action"), payload.get("item"))
                elif event.kind == "media":
                    media = self._media_sessions.get(str(payload.get("session_id")))
                    for media_callback in media.callbacks if media is not None else ():
                        await _call(media_callback, payload.get("command"), payload)
                else:
                    log.debug("ignoring a %s event", event.kind)
        except grpc.aio.AioRpcError as exc:
            if not self._closed and exc.code() is not grpc.StatusCode.CANCELLED:
                log.warning("the app's event stream ended: %s", error_of(exc, self.address))


async def _call(callback: Callable[..., Any], *args: Any) -> None:
    """Run an app's callback (sync or async); its exceptions are logged, never raised."""
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("an app callback failed")


def _datapoint_value(datapoint: Any) -> Any:
    return from_value(datapoint.value) if datapoint.HasField("value") else None


class Connecting:
    """What :meth:`Car.connect` returns: await it for the :class:`Car`, or use it in
    ``async with`` to close the car at the end of the block."""

    def __init__(self, make: Callable[[], Car]) -> None:
        self._make = make
        self._car: Car | None = None

    async def _connect(self) -> Car:
        car = self._car = self._make()
        try:
            await car._hello()
        except BaseException:
            await car.close()
            raise
        return car

    def __await__(self) -> Generator[Any, None, Car]:
        return self._connect().__await__()

    async def __aenter__(self) -> Car:
        return await self._connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._car is not None:
            await self._car.close()


class Subscription:
    """A running ``Subscribe`` call: an async iterator of ``{path: value}`` holding every
    subscribed path's latest value (None: none yet)."""

    def __init__(self, car: Car, call: Any, paths: list[str]) -> None:
        self._car = car
        self._call = call
        self.values: dict[str, Any] = dict.fromkeys(paths)
        self._closed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._closed:
            raise StopAsyncIteration
        try:
            response = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            self.close()
            if exc.code() is grpc.StatusCode.CANCELLED:
                raise StopAsyncIteration from None
            raise error_of(exc, self._car.address) from None
        except asyncio.CancelledError:
            if self._closed:
                raise StopAsyncIteration from None
            raise
        if response is grpc.aio.EOF:
            self.close()
            raise StopAsyncIteration
        for path, datapoint in response.entries.items():
            self.values[path] = _datapoint_value(datapoint)
        return dict(self.values)

    def close(self) -> None:
        """End the subscription (safe to call more than once)."""
        if not self._closed:
            self._closed = True
            self._call.cancel()
            self._car._subscriptions.discard(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
