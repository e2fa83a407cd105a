"""The app host: what running apps show and post, and what the user does with it.

One in-process object between the apps (through the ``carmesh.app.v1.AppHost`` gRPC adapter,
:mod:`carmesh.api.grpc.app_host`) and the HMI (through :class:`~carmesh.apps.control.
AppsControl`). It keeps each app's current template and hands the HMI only the
:func:`~carmesh.apps.templates.trim`-med form the driving rules allow, re-trimming every
template when the driving state changes; it keeps the recent notifications and the media
sessions, checks the app's ``notifications`` and ``media`` permissions, and carries the
user's taps and the driving state to the app's event streams.

Everything runs on the event loop; listeners are called synchronously and must not block.
Errors are carmesh's: ``PermissionDenied`` (app not installed, permission not granted),
``InvalidArgument`` (bad template, undeclared template type, tap on something the template
does not show), ``Unavailable`` (no event stream of the app is open).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from carmesh.apps.control import AppEvent, Listener
from carmesh.apps.templates import (
    SELECT,
    TEXT_LENGTH,
    TITLE_LENGTH,
    Template,
    cut_text,
    parse_template,
    trim,
)
from carmesh.errors import InvalidArgument, PermissionDenied, Unavailable
from carmesh.rules.distraction import INITIAL_STATE, DrivingState

__all__ = [
    "MAX_NOTIFICATIONS",
    "PRIORITIES",
    "AppAccess",
    "AppHost",
    "EventStream",
]

log = logging.getLogger(__name__)

#: How many notifications the host keeps (the newest).
MAX_NOTIFICATIONS = 50
#: Notification priorities, lowest first.
PRIORITIES = ("low", "normal", "high")
#: Events an app's stream holds when the app reads too slowly; older ones are dropped.
EVENT_QUEUE_SIZE = 100

#: Permission ids the host itself checks (``docs/apps.md``).
NOTIFICATIONS = "notifications"
MEDIA = "media"


@dataclass(frozen=True)
class AppAccess:
    """What the host needs to know of an installed app."""

    app_id: str
    version: str
    #: Granted permission ids (``notifications``, ``media``, ``read:Vehicle.Speed`` …).
    permissions: frozenset[str]
    #: Template types the manifest declares (``[ui] templates``).
    templates: frozenset[str]


class EventStream:
    """One open event stream of an app: ``("action", {"action", "item"})`` and
    ``("driving", STATE_JSON)`` in order, starting with the driving state in force.

    Iterate it; :meth:`close` (or leaving ``async with``) ends the iteration and unregisters
    it. The queue is bounded: when the app does not keep up the oldest event is dropped.
    """

    def __init__(self, host: AppHost, app_id: str) -> None:
        self.host = host
        self.app_id = app_id
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._ready = asyncio.Event()
        self._closed = False

    def put(self, kind: str, payload: dict[str, Any]) -> None:
        if self._closed:
            return
        if len(self._queue) >= EVENT_QUEUE_SIZE:
            dropped = self._queue.popleft()
            log.warning("app %s reads its events too slowly; dropped a %s", self.app_id, dropped[0])
        self._queue.append((kind, payload))
        self._ready.set()

    def close(self) -> None:
        """End the stream (safe to call more than once)."""
        if not self._closed:
            self._closed = True
            self.host._unregister(self)
        self._ready.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> tuple[str, dict[str, Any]]:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AppHost:
    """Templates, notifications, media sessions and events of the installed apps.

    *access* tells what an app id may do (None: not installed); *locale* is the language the
    user chose (``"en"``, ``"zh-CN"``), reported to apps by :meth:`hello`.
    """

    def __init__(
        self,
        access: Callable[[str], AppAccess | None],
        *,
        locale: Callable[[], str] = lambda: "en",
    ) -> None:
        self.access = access
        self.locale = locale
        self._driving = INITIAL_STATE
        self._templates: dict[str, Template] = {}
        self._shown: dict[str, tuple[dict[str, Any], bool]] = {}
        self._notifications: deque[dict[str, Any]] = deque(maxlen=MAX_NOTIFICATIONS)
        self._sessions: dict[str, dict[str, str]] = {}
        self._streams: dict[str, list[EventStream]] = {}
        self._listeners: list[Listener] = []

    # -- who ---------------------------------------------------------------------------------

    def app(self, app_id: str) -> AppAccess:
        """The access of an installed app; ``PermissionDenied`` when it is not installed."""
        access = self.access(app_id)
        if access is None:
            raise PermissionDenied(f"app {app_id} is not installed")
        return access

    def _require(self, app_id: str, permission: str, what: str) -> AppAccess:
        access = self.app(app_id)
        if permission not in access.permissions:
            raise PermissionDenied(
                f"app {app_id} may not {what}: the '{permission}' permission is not granted"
            )
        return access

    def hello(self, app_id: str) -> dict[str, Any]:
        """``{app_id, version, permissions, locale, driving}`` for the app's ``Hello``."""
        access = self.app(app_id)
        return {
            "app_id": access.app_id,
            "version": access.version,
            "permissions": sorted(access.permissions),
            "locale": self.locale(),
            "driving": self._driving.as_json(),
        }

    # -- driving -----------------------------------------------------------------------------

    @property
    def driving(self) -> DrivingState:
        return self._driving

    def set_driving(self, state: DrivingState) -> None:
        """Apply the rules of *state*: re-trim every template (a ``template`` event for each
        one whose shown form changed) and send a ``driving`` event to every open stream."""
        if state == self._driving:
            return
        self._driving = state
        for app_id, template in list(self._templates.items()):
            self._present(app_id, template)
        payload = state.as_json()
        for streams in self._streams.values():
            for stream in streams:
                stream.put("driving", payload)

    # -- templates ---------------------------------------------------------------------------

    def show(self, app_id: str, template: Any) -> bool:
        """Make *template* (JSON or a template model) the app's current one; True when the
        driving rules trimmed what the HMI shows. ``InvalidArgument`` for a bad template or
        a type the app's manifest does not declare."""
        access = self.app(app_id)
        parsed = parse_template(template)
        if parsed.type not in access.templates:
            declared = ", ".join(sorted(access.templates)) or "none"
            raise InvalidArgument(
                f"app {app_id} does not declare the {parsed.type} template in its manifest "
                f"([ui] templates: {declared})"
            )
        self._templates[app_id] = parsed
        return self._present(app_id, parsed)

    def _present(self, app_id: str, template: Template) -> bool:
        """Trim *template* for the rules in force; emit a ``template`` event on a change."""
        shown = trim(template, self._driving.rules)
        if self._shown.get(app_id) != shown:
            self._shown[app_id] = shown
            self._emit(AppEvent("template", app_id, {"template": shown[0], "trimmed": shown[1]}))
        return shown[1]

    def current(self, app_id: str) -> dict[str, Any]:
        """``{"template": T|None, "trimmed": bool}`` as the HMI shows it now."""
        shown = self._shown.get(app_id)
        if shown is None:
            return {"template": None, "trimmed": False}
        return {"template": shown[0], "trimmed": shown[1]}

    def shown(self) -> dict[str, dict[str, Any]]:
        """:meth:`current` of every app that has a template."""
        return {app_id: self.current(app_id) for app_id in self._shown}

    def clear(self, app_id: str) -> None:
        """The app stopped or was removed: forget its template (a ``template`` event with
        None) and its media sessions."""
        self._templates.pop(app_id, None)
        self._sessions.pop(app_id, None)
        if self._shown.pop(app_id, None) is not None:
            self._emit(AppEvent("template", app_id, {"template": None, "trimmed": False}))

    # -- notifications -----------------------------------------------------------------------

    def notify(
        self, app_id: str, title: str, body: str, priority: str = "normal"
    ) -> dict[str, Any]:
        """Post a notification (needs ``notifications``); the notification JSON.

        *title* is 1 to 80 characters, *body* at most 500, *priority* one of
        :data:`PRIORITIES` (``InvalidArgument`` otherwise). While the car moves both are cut
        to the rules' ``max_text_length``.
        """
        self._require(app_id, NOTIFICATIONS, "post notifications")
        if priority not in PRIORITIES:
            raise InvalidArgument(
                f"{priority!r} is not a notification priority; use {', '.join(PRIORITIES)}"
            )
        if not isinstance(title, str) or not 1 <= len(title) <= TITLE_LENGTH:
            raise InvalidArgument(f"a notification title is 1 to {TITLE_LENGTH} characters")
        if not isinstance(body, str) or len(body) > TEXT_LENGTH:
            raise InvalidArgument(f"a notification body is at most {TEXT_LENGTH} characters")
        limit = self._driving.rules.max_text_length
        if limit is not None:
            title, body = cut_text(title, limit), cut_text(body, limit)
        notification = {
            "id": uuid.uuid4().hex,
            "app": app_id,
            "title": title,
            "body": body,
            "priority": priority,
            "time": time.time_ns() // 1_000_000,
        }
        self._notifications.append(notification)
        self._emit(AppEvent("notification", app_id, dict(notification)))
        return dict(notification)

    def notifications(self) -> list[dict[str, Any]]:
        """The last :data:`MAX_NOTIFICATIONS` notifications, newest first."""
        return [dict(n) for n in reversed(self._notifications)]

    # -- media -------------------------------------------------------------------------------

    def register_media_session(self, app_id: str, name: str) -> str:
        """Register a media session named *name* (1 to 80 characters; needs ``media``);
        its id. The sessions last until :meth:`clear`."""
        self._require(app_id, MEDIA, "register a media session")
        if not isinstance(name, str) or not 1 <= len(name) <= TITLE_LENGTH:
            raise InvalidArgument(f"a media session name is 1 to {TITLE_LENGTH} characters")
        session_id = uuid.uuid4().hex
        self._sessions.setdefault(app_id, {})[session_id] = name
        return session_id

    def media_sessions(self, app_id: str | None = None) -> list[dict[str, str]]:
        """``[{"session_id", "app", "name"}]`` of every app (or of *app_id*), oldest first."""
        return [
            {"session_id": session_id, "app": app, "name": name}
            for app, sessions in self._sessions.items()
            if app_id is None or app == app_id
            for session_id, name in sessions.items()
        ]

    # -- events ------------------------------------------------------------------------------

    async def action(self, app_id: str, action: str, item: str | None = None) -> None:
        """Deliver a user's tap to the app's event streams.

        Without *item*, *action* must be one of the shown template's actions; with *item*,
        *item* must be one of its items (grid tiles, search results) and *action* one of its
        actions or ``"select"`` (a tap on the item itself). ``Unavailable`` when the app has
        no open event stream, ``InvalidArgument`` when the template shows no such thing.
        """
        if not self.connected(app_id):
            raise Unavailable(f"app {app_id} is not running")
        shown = self._shown.get(app_id)
        template = shown[0] if shown is not None else {}
        actions = {a["id"] for a in template.get("actions", ())}
        items = {e["id"] for e in template.get("items", template.get("results", ()))}
        if item is None and action not in actions:
            raise InvalidArgument(f"the template of app {app_id} has no action {action!r}")
        if item is not None:
            if item not in items:
                raise InvalidArgument(f"the template of app {app_id} shows no item {item!r}")
            if action != SELECT and action not in actions:
                raise InvalidArgument(
                    f"the template of app {app_id} has no action {action!r} "
                    f"(a tap on an item is {SELECT!r})"
                )
        for stream in self._streams.get(app_id, ()):
            stream.put("action", {"action": action, "item": item})

    def events(self, app_id: str) -> EventStream:
        """A new event stream of the app, registered at once (see :class:`EventStream`).
        Close it when done."""
        stream = EventStream(self, app_id)
        stream.put("driving", self._driving.as_json())
        self._streams.setdefault(app_id, []).append(stream)
        return stream

    def _unregister(self, stream: EventStream) -> None:
        streams = self._streams.get(stream.app_id)
        if streams is not None and stream in streams:
            streams.remove(stream)
            if not streams:
                del self._streams[stream.app_id]

    def connected(self, app_id: str) -> bool:
        """True while the app has an open event stream."""
        return bool(self._streams.get(app_id))

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call *listener* with every ``template`` and ``notification`` :class:`AppEvent`;
        returns the function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _emit(self, event: AppEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("an app-host listener failed")
