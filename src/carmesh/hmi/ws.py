"""The HMI's WebSocket ``/ws`` (``docs/hmi-protocol.md``): subscriptions, actuations, the
driving state, when the apps platform runs its apps, templates, notifications and taps
(``docs/apps.md``), and when the media service runs its state (``docs/media.md``), one
:class:`HmiSocket` per connection.

Flow control. The broker pushes into bounded, conflating subscriptions and never waits; one
task per subscription drains it into this connection's *pending* map (latest datapoint per
signal, so at most one entry per subscribed signal). A single writer task sends what is
pending as one ``values`` frame at most every :data:`FRAME_INTERVAL` seconds (≤ 30 frames/s);
while a slow client holds the writer in ``send``, new updates keep folding into the map. So a
slow or dead client costs bounded memory and never delays the broker, other clients or this
client's replies beyond its own socket. Replies (``result``, ``error``) and ``driving`` frames
are not rate-limited; reading pauses while too many replies wait to be sent or too many
requests (actuations, app taps) are in flight, which pushes back on a client that floods them.

App frames follow the same rule. The platform's events are folded into pending state: the
latest app list, the latest template per app, and at most :data:`MAX_QUEUED_NOTIFICATIONS`
notifications (the oldest give way). On connect the connection starts with the platform's
current state: the ``apps`` frame, one ``app.template`` frame per app (``template`` null for
an app that shows nothing, so a page that reconnects drops what went away meanwhile) and the
recent notifications, oldest first, marked ``"recent": true`` (pages list them but do not pop
them up again).

Media frames too: the service's latest state is pending, one ``media`` frame holds it. A
change of state, item, queue or mode is sent at once; when only positions advanced, the frame
waits until :data:`MEDIA_POSITION_INTERVAL` after the previous ``media`` frame (≤ 4 per
second). On connect the connection starts with the current state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from carmesh.apps.control import AppEvent, AppsControl
from carmesh.broker import Datapoint, Subscription
from carmesh.errors import CarmeshError, InvalidArgument, Unavailable
from carmesh.hmi.apps_api import PLATFORM_OFF, check_action, check_app_id
from carmesh.hmi.context import HmiContext, context_of
from carmesh.hmi.status import carmesh_error_json
from carmesh.hmi.wire import datapoint_json
from carmesh.media.control import MediaEvent
from carmesh.rules.distraction import DrivingState

log = logging.getLogger(__name__)

#: Seconds between two ``values`` frames to one client (about 30 frames per second).
FRAME_INTERVAL = 1 / 30
#: Replies that may wait for the writer before the connection stops reading.
MAX_QUEUED_REPLIES = 64
#: Requests (actuations, app taps) one connection may have in flight before it stops reading.
MAX_ACTUATIONS = 16
#: Notifications that may wait for a slow client; beyond, the oldest are dropped.
MAX_QUEUED_NOTIFICATIONS = 32
#: Seconds between two ``media`` frames that only move positions (at most 4 per second).
MEDIA_POSITION_INTERVAL = 0.25


def _encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def values_frame(batch: dict[str, Datapoint]) -> str:
    return _encode(
        {"type": "values", "values": {path: datapoint_json(dp) for path, dp in batch.items()}}
    )


def driving_frame(state: DrivingState) -> str:
    return _encode({"type": "driving", "state": state.as_json()})


def apps_frame(apps: list[dict[str, Any]]) -> str:
    return _encode({"type": "apps", "apps": apps})


def template_frame(app_id: str, shown: dict[str, Any]) -> str:
    """``app.template`` from what ``AppsControl.template`` or a ``template`` event holds."""
    return _encode(
        {
            "type": "app.template",
            "app": app_id,
            "template": shown.get("template"),
            "trimmed": bool(shown.get("trimmed", False)),
        }
    )


def notification_frame(notification: dict[str, Any], *, recent: bool) -> str:
    return _encode({"type": "notification", "notification": notification, "recent": recent})


def media_frame(state: dict[str, Any]) -> str:
    return _encode({"type": "media", "state": state})


class HmiSocket:
    """One WebSocket client: its subscriptions, pending updates and replies."""

    def __init__(self, websocket: WebSocket, context: HmiContext) -> None:
        self.websocket = websocket
        self.broker = context.broker
        self.principal = context.principal
        self.watcher = context.watcher
        self.apps = context.apps
        self.media = context.media
        #: Leaf paths the client subscribed to and has not unsubscribed from.
        self._wanted: set[str] = set()
        #: Open broker subscriptions with the task draining each, and the paths they cover.
        self._subscriptions: dict[Subscription, asyncio.Task[None]] = {}
        self._covered: set[str] = set()
        #: Updates not sent yet, latest per signal; timestamps of the newest sent or pending.
        self._pending: dict[str, Datapoint] = {}
        self._newest: dict[str, int] = {}
        self._flush_now = False
        self._driving: DrivingState | None = None
        self._replies: deque[str] = deque()
        self._room = asyncio.Event()
        self._wake = asyncio.Event()
        self._next_values = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._actuations: set[asyncio.Task[None]] = set()
        self._actuation_slots = asyncio.Semaphore(MAX_ACTUATIONS)
        #: App state not sent yet: the latest list, the latest template per app, notifications.
        self._app_list: list[dict[str, Any]] | None = None
        self._templates: dict[str, dict[str, Any]] = {}
        self._notifications: deque[str] = deque(maxlen=MAX_QUEUED_NOTIFICATIONS)
        #: The media state not sent yet; whether more than positions changed in it.
        self._media_state: dict[str, Any] | None = None
        self._media_urgent = False
        self._next_media = 0.0
        self._media_timer: asyncio.TimerHandle | None = None

    # -- lifetime -------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until either side closes it."""
        await self.websocket.accept()
        remove = self.watcher.listen(self._on_driving)
        self._on_driving(self.watcher.state)
        remove_apps = self._follow_apps()
        remove_media = self._follow_media()
        writer = asyncio.create_task(self._write(), name="hmi-ws-writer")
        reader = asyncio.create_task(self._read(), name="hmi-ws-reader")
        try:
            done, _ = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = None if task.cancelled() else task.exception()
                if isinstance(exc, OSError | RuntimeError | WebSocketDisconnect):
                    log.debug("a WebSocket client went away: %r", exc)
                elif exc is not None:
                    log.error("a WebSocket connection failed", exc_info=exc)
        finally:
            remove()
            remove_apps()
            remove_media()
            for task in (writer, reader, *self._actuations, *self._subscriptions.values()):
                task.cancel()
            for subscription in self._subscriptions:
                subscription.close()
            if self._timer is not None:
                self._timer.cancel()
            if self._media_timer is not None:
                self._media_timer.cancel()
            tasks = (writer, reader, *self._actuations, *self._subscriptions.values())
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.websocket.close()

    # -- reading --------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self._reply_error(InvalidArgument("send JSON text frames, not binary ones"))
            else:
                await self._handle(text)
            while len(self._replies) >= MAX_QUEUED_REPLIES:
                self._room.clear()
                await self._room.wait()

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError as exc:
            self._reply_error(InvalidArgument(f"the frame is not valid JSON: {exc}"))
            return
        if not isinstance(message, dict):
            self._reply_error(InvalidArgument("a frame must be a JSON object with a type"))
            return
        kind = message.get("type")
        try:
            if kind == "subscribe":
                self._subscribe(_paths(message))
            elif kind == "unsubscribe":
                self._unsubscribe(_paths(message))
            elif kind == "actuate":
                await self._start_actuation(message)
            elif kind == "app.action":
                await self._start_app_action(message)
            else:
                raise InvalidArgument(
                    f"unknown frame type {kind!r}; "
                    "use subscribe, unsubscribe, actuate or app.action"
                )
        except CarmeshError as exc:
            self._reply_error(exc)

    # -- subscriptions --------------------------------------------------------------------

    def _subscribe(self, patterns: list[str]) -> None:
        """Add *patterns* to the subscription and queue their current values at once.

        Each pattern stands alone: one that selects nothing or is not readable gets an
        ``error`` frame and the others are subscribed, so a page written for a richer
        catalog still shows what this car has.
        """
        current: dict[str, Datapoint | None] = {}
        for pattern in patterns:
            try:
                current.update(self.broker.get_many(self.principal, [pattern]))
            except CarmeshError as exc:
                self._reply_error(exc)
        if not current:
            return
        missing = [path for path in current if path not in self._covered]
        if missing:
            subscription = self.broker.subscribe(self.principal, missing, initial=False)
            self._covered.update(missing)
            self._subscriptions[subscription] = asyncio.create_task(
                self._follow(subscription), name="hmi-ws-subscription"
            )
        self._wanted.update(current)
        fresh = {path: dp for path, dp in current.items() if dp is not None}
        if not fresh:
            self._reply({"type": "values", "values": {}})
            return
        self._merge(fresh)
        self._flush_now = True
        self._wake.set()

    def _unsubscribe(self, patterns: list[str]) -> None:
        """Stop sending the signals *patterns* select; close subscriptions left unused."""
        dropped: set[str] = set()
        for pattern in patterns:
            dropped.update(node.path for node in self.broker.catalog.resolve(pattern))
        self._wanted -= dropped
        for path in dropped:
            self._pending.pop(path, None)
            self._newest.pop(path, None)
        for subscription in [s for s in self._subscriptions if s.closed or self._unused(s)]:
            self._subscriptions.pop(subscription).cancel()
            subscription.close()
            self._covered.difference_update(node.path for node in subscription.nodes)

    def _unused(self, subscription: Subscription) -> bool:
        return not any(node.path in self._wanted for node in subscription.nodes)

    async def _follow(self, subscription: Subscription) -> None:
        async for batch in subscription:
            self._merge(batch)

    def _merge(self, batch: dict[str, Datapoint]) -> None:
        wanted, pending, newest = self._wanted, self._pending, self._newest
        added = False
        for path, dp in batch.items():
            if path not in wanted:
                continue
            seen = newest.get(path)
            if seen is not None and dp.timestamp < seen:
                continue  # older than what the client has or will get
            newest[path] = dp.timestamp
            pending[path] = dp
            added = True
        if added:
            self._wake.set()

    # -- actuation ------------------------------------------------------------------------

    async def _start_actuation(self, message: dict[str, Any]) -> None:
        ident = _ident(message, "an actuate")
        targets = message.get("targets")
        if not isinstance(targets, dict) or not targets:
            error = InvalidArgument('an actuate frame needs "targets": {"PATH": VALUE, …}')
            if ident is None:
                raise error
            self._reply({"type": "result", "id": ident, "ok": False, **_error_of(error)})
            return
        await self._start_request(self._actuate(ident, targets), "hmi-ws-actuate")

    async def _start_request(self, work: Coroutine[Any, Any, None], name: str) -> None:
        await self._actuation_slots.acquire()
        task = asyncio.create_task(work, name=name)
        self._actuations.add(task)
        task.add_done_callback(self._actuation_done)

    def _actuation_done(self, task: asyncio.Task[None]) -> None:
        self._actuations.discard(task)
        self._actuation_slots.release()

    async def _actuate(self, ident: int | str | None, targets: dict[str, Any]) -> None:
        try:
            await self.broker.actuate(self.principal, targets)
        except CarmeshError as exc:
            self._reply({"type": "result", "id": ident, "ok": False, **_error_of(exc)})
        else:
            self._reply({"type": "result", "id": ident, "ok": True})

    # -- apps -----------------------------------------------------------------------------

    def _follow_apps(self) -> Callable[[], None]:
        """Queue the platform's current state and follow its events; the function that
        stops following (nothing to do while the platform is off)."""
        apps = self.apps
        if apps is None:
            return lambda: None
        remove = apps.listen(self._on_app_event)
        try:
            listed = apps.list()
            shown: dict[str, dict[str, Any]] = {}
            for app in listed:
                app_id = app.get("id")
                if isinstance(app_id, str):
                    with contextlib.suppress(CarmeshError):  # removed meanwhile
                        shown[app_id] = apps.template(app_id)
            recent = apps.notifications()
        except CarmeshError as exc:  # e.g. the platform is still starting
            log.debug("no app state for a new WebSocket client: %s", exc)
            return remove
        except Exception:  # the screens stay up whatever the platform does
            log.exception("the apps platform failed to describe its state")
            return remove
        self._app_list = listed
        self._templates.update(shown)
        for notification in reversed(recent):
            self._notifications.append(notification_frame(notification, recent=True))
        self._wake.set()
        return remove

    def _on_app_event(self, event: AppEvent) -> None:
        if event.kind == "apps":
            self._app_list = list(event.payload.get("apps", []))
        elif event.kind == "template" and event.app_id is not None:
            self._templates[event.app_id] = event.payload
        elif event.kind == "notification":
            self._notifications.append(notification_frame(event.payload, recent=False))
        else:
            return
        self._wake.set()

    async def _start_app_action(self, message: dict[str, Any]) -> None:
        ident = _ident(message, "an app.action")
        try:
            app_id = check_app_id(message.get("app"))
            action, item = check_action(message.get("action"), message.get("item"))
            if self.apps is None:
                raise Unavailable(PLATFORM_OFF)
        except CarmeshError as error:
            if ident is None:
                raise
            self._reply({"type": "result", "id": ident, "ok": False, **_error_of(error)})
            return
        work = self._app_action(self.apps, ident, app_id, action, item)
        await self._start_request(work, "hmi-ws-app-action")

    async def _app_action(
        self, apps: AppsControl, ident: int | str | None, app_id: str, action: str, item: str | None
    ) -> None:
        try:
            await apps.action(app_id, action, item)
        except CarmeshError as exc:
            self._reply({"type": "result", "id": ident, "ok": False, **_error_of(exc)})
        else:
            self._reply({"type": "result", "id": ident, "ok": True})

    # -- media ----------------------------------------------------------------------------

    def _follow_media(self) -> Callable[[], None]:
        """Queue the media service's current state and follow its changes; the function
        that stops following (nothing to do while the service is off)."""
        media = self.media
        if media is None:
            return lambda: None
        remove = media.listen(self._on_media_event)
        try:
            self._media_state = media.state()
        except Exception:  # the screens stay up whatever the service does
            log.exception("the media service failed to describe its state")
            return remove
        self._media_urgent = True
        self._wake.set()
        return remove

    def _on_media_event(self, event: MediaEvent) -> None:
        self._media_state = event.state
        if not event.position_only:
            self._media_urgent = True
        self._wake.set()

    def _on_media_timer(self) -> None:
        self._media_timer = None
        self._wake.set()

    async def _write_media(self, send: Callable[[str], Awaitable[None]], now: float) -> None:
        if self._media_state is None:
            return
        if not self._media_urgent and now < self._next_media:
            if self._media_timer is None:
                loop = asyncio.get_running_loop()
                self._media_timer = loop.call_at(self._next_media, self._on_media_timer)
            return
        state, self._media_state = self._media_state, None
        self._media_urgent = False
        self._next_media = now + MEDIA_POSITION_INTERVAL
        await send(media_frame(state))

    # -- writing --------------------------------------------------------------------------

    def _on_driving(self, state: DrivingState) -> None:
        self._driving = state
        self._wake.set()

    def _reply(self, frame: dict[str, Any]) -> None:
        self._replies.append(_encode(frame))
        self._wake.set()

    def _reply_error(self, exc: CarmeshError) -> None:
        self._reply({"type": "error", **_error_of(exc)})

    def _on_timer(self) -> None:
        self._timer = None
        self._wake.set()

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        send = self.websocket.send_text
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._replies:
                await send(self._replies.popleft())
                self._room.set()
            if self._driving is not None:
                state, self._driving = self._driving, None
                await send(driving_frame(state))
            await self._write_apps(send)
            await self._write_media(send, loop.time())
            if not self._pending:
                continue
            now = loop.time()
            if now < self._next_values and not self._flush_now:
                if self._timer is None:
                    self._timer = loop.call_at(self._next_values, self._on_timer)
                continue
            batch, self._pending = self._pending, {}
            self._flush_now = False
            self._next_values = now + FRAME_INTERVAL
            await send(values_frame(batch))

    async def _write_apps(self, send: Callable[[str], Awaitable[None]]) -> None:
        if self._app_list is not None:
            listed, self._app_list = self._app_list, None
            await send(apps_frame(listed))
        while self._templates:
            app_id = next(iter(self._templates))
            await send(template_frame(app_id, self._templates.pop(app_id)))
        while self._notifications:
            await send(self._notifications.popleft())


def _ident(message: dict[str, Any], what: str) -> int | str | None:
    """The ``id`` a request frame's ``result`` will carry."""
    ident = message.get("id")
    if isinstance(ident, bool) or (ident is not None and not isinstance(ident, int | str)):
        raise InvalidArgument(f"{what} frame's id must be a number or a string")
    return ident


def _paths(message: dict[str, Any]) -> list[str]:
    paths = message.get("paths")
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
        raise InvalidArgument('"paths" must be a non-empty list of signal paths or patterns')
    return paths


def _error_of(exc: CarmeshError) -> dict[str, Any]:
    return {"error": carmesh_error_json(exc)}


async def endpoint(websocket: WebSocket) -> None:
    """The ``/ws`` route."""
    await HmiSocket(websocket, context_of(websocket)).run()
