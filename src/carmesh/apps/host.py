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
does not show, bad media items), ``NotFound`` (a media session the app did not register),
``Unavailable`` (no event stream of the app is open; the media service is off).

Media sessions: the host keeps who registered which session (and for which zone) and checks
what apps send; the media service, attached with :meth:`AppHost.attach_media`, plays them
(``docs/media.md``). Items an app queues are checked here: an ``id`` (``[A-Za-z0-9_.-]``, 1
to 64), a ``title``, an ``http(s)`` ``url`` the car fetches, and optionally ``artist``,
``album``, ``genre``, ``duration`` (s), ``art`` (an http(s) URL), ``live`` and ``source``
(a VSS ``Played.Source`` value). The user's transport commands reach the app as ``media``
events.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit

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
from carmesh.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from carmesh.rules.distraction import INITIAL_STATE, DrivingState

__all__ = [
    "MAX_NOTIFICATIONS",
    "PRIORITIES",
    "AppAccess",
    "AppHost",
    "EventStream",
    "MediaBridge",
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

#: Media items: most per queue, their ids, the longest texts and URLs.
MAX_MEDIA_ITEMS = 1000
MEDIA_ITEM_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MEDIA_TEXT_LENGTH = 200
MEDIA_URL_LENGTH = 4096
#: VSS ``Vehicle.Cabin.Infotainment.Media.Played.Source`` values an app may name.
MEDIA_SOURCES = frozenset(
    [
        "UNKNOWN",
        "SIRIUS_XM",
        "AM",
        "FM",
        "DAB",
        "TV",
        "CD",
        "DVD",
        "AUX",
        "USB",
        "DISK",
        "BLUETOOTH",
        "INTERNET",
        "VOICE",
        "BEEP",
    ]
)
#: What an app may ask of its session with ``set_media_state``.
MEDIA_STATES = ("playing", "paused")


class MediaBridge(Protocol):
    """The media service's side of app media sessions (``MediaService`` implements it).

    Items reach it checked (:func:`check_media_items`); it raises carmesh errors of its own
    (``InvalidArgument`` for an unknown zone or index, ``Unavailable`` when an item cannot
    be played).
    """

    def app_session(self, app_id: str, session_id: str, name: str, zone: str) -> None:
        """A session was registered (``InvalidArgument`` when the zone does not exist)."""

    async def app_queue(
        self,
        app_id: str,
        session_id: str,
        items: list[dict[str, Any]],
        start: int,
        play: bool,
    ) -> dict[str, Any]:
        """Replace the session's queue; the zone's state JSON."""
        ...

    async def app_state(
        self,
        app_id: str,
        session_id: str,
        state: str | None,
        index: int | None,
        position: float | None,
    ) -> dict[str, Any]:
        """Play/pause the session, jump to *index*, seek to *position*; the zone's state."""
        ...

    def app_gone(self, app_id: str) -> None:
        """The app stopped or was removed: end its sessions."""


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
        self._session_zones: dict[str, str] = {}
        self._media: MediaBridge | None = None
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
        for session_id in self._sessions.pop(app_id, {}):
            self._session_zones.pop(session_id, None)
        if self._media is not None:
            try:
                self._media.app_gone(app_id)
            except Exception:
                log.exception("the media service failed to end the sessions of %s", app_id)
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

    def register_media_session(self, app_id: str, name: str, zone: str = "driver") -> str:
        """Register a media session named *name* (1 to 80 characters; needs ``media``) that
        plays in *zone*; its id. The sessions last until :meth:`clear`."""
        self._require(app_id, MEDIA, "register a media session")
        if not isinstance(name, str) or not 1 <= len(name) <= TITLE_LENGTH:
            raise InvalidArgument(f"a media session name is 1 to {TITLE_LENGTH} characters")
        zone = zone or "driver"
        if not isinstance(zone, str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", zone):
            raise InvalidArgument(f"{zone!r} is not an audio zone name such as driver or rear")
        session_id = uuid.uuid4().hex
        if self._media is not None:
            self._media.app_session(app_id, session_id, name, zone)
        self._sessions.setdefault(app_id, {})[session_id] = name
        self._session_zones[session_id] = zone
        return session_id

    def media_sessions(self, app_id: str | None = None) -> list[dict[str, str]]:
        """``[{"session_id", "app", "name"}]`` of every app (or of *app_id*), oldest first."""
        return [
            {"session_id": session_id, "app": app, "name": name}
            for app, sessions in self._sessions.items()
            if app_id is None or app == app_id
            for session_id, name in sessions.items()
        ]

    def media_session_zone(self, session_id: str) -> str | None:
        """The zone a registered session plays in; None for an unknown session."""
        return self._session_zones.get(session_id)

    def attach_media(self, bridge: MediaBridge) -> Callable[[], None]:
        """Let *bridge* (the media service) play the apps' sessions; it is told of those
        registered already. Returns the function that detaches it."""
        self._media = bridge
        for app_id, sessions in self._sessions.items():
            for session_id, name in sessions.items():
                try:
                    bridge.app_session(app_id, session_id, name, self._session_zones[session_id])
                except Exception:
                    log.exception("the media service refused the session %s of %s", name, app_id)

        def detach() -> None:
            if self._media is bridge:
                self._media = None

        return detach

    def _media_session(self, app_id: str, session_id: str) -> MediaBridge:
        self._require(app_id, MEDIA, "play media")
        if session_id not in self._sessions.get(app_id, {}):
            raise NotFound(f"app {app_id} has no media session {session_id!r}; register one first")
        if self._media is None:
            raise Unavailable("the car's media service is not running")
        return self._media

    async def set_media_queue(
        self, app_id: str, session_id: str, items: Any, start: int = 0, play: bool = False
    ) -> dict[str, Any]:
        """Give the session *items* (see the module's description), start at *start*,
        playing when *play*; the zone's media state."""
        media = self._media_session(app_id, session_id)
        checked = check_media_items(items)
        if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < len(checked):
            raise InvalidArgument(f"start must be an index into the {len(checked)} items")
        return await media.app_queue(app_id, session_id, checked, start, bool(play))

    async def set_media_state(
        self,
        app_id: str,
        session_id: str,
        state: str | None = None,
        index: int | None = None,
        position: float | None = None,
    ) -> dict[str, Any]:
        """Play or pause the session (*state* ``playing``/``paused``), jump to queue *index*,
        seek to *position* (s); the zone's media state."""
        media = self._media_session(app_id, session_id)
        if state is not None and state not in MEDIA_STATES:
            raise InvalidArgument(f"a media session state is playing or paused, not {state!r}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise InvalidArgument("index must be a queue index")
        if position is not None and (
            isinstance(position, bool)
            or not isinstance(position, int | float)
            or not math.isfinite(position)
            or position < 0
        ):
            raise InvalidArgument("position must be a number of seconds, 0 or more")
        return await media.app_state(app_id, session_id, state, index, position)

    def media_command(self, app_id: str, session_id: str, payload: dict[str, Any]) -> None:
        """Tell the app (a ``media`` event on its streams) that the user gave its session a
        transport command; *payload* has ``command`` and details."""
        for stream in self._streams.get(app_id, ()):
            stream.put("media", {"session_id": session_id, **payload})

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


def check_media_items(items: Any) -> list[dict[str, Any]]:
    """Items an app queues, checked and normalised (see the module's description);
    ``InvalidArgument`` naming the first problem."""
    if not isinstance(items, list) or not items:
        raise InvalidArgument("a media queue is a non-empty list of items")
    if len(items) > MAX_MEDIA_ITEMS:
        raise InvalidArgument(f"a media queue holds at most {MAX_MEDIA_ITEMS} items")
    checked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, item in enumerate(items):
        where = f"media item {n}"
        if not isinstance(item, dict):
            raise InvalidArgument(f"{where} is not an object")
        unknown = sorted(
            set(item)
            - {
                "id",
                "title",
                "url",
                "artist",
                "album",
                "genre",
                "duration",
                "art",
                "live",
                "source",
            }
        )
        if unknown:
            raise InvalidArgument(f"{where} has an unknown field {unknown[0]!r}")
        ident = item.get("id")
        if not isinstance(ident, str) or not MEDIA_ITEM_ID.fullmatch(ident):
            raise InvalidArgument(f"{where}: id must be 1 to 64 letters, digits, '_', '.' or '-'")
        if ident in seen:
            raise InvalidArgument(f"{where}: the id {ident!r} is used twice")
        seen.add(ident)
        title = item.get("title")
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= MEDIA_TEXT_LENGTH:
            raise InvalidArgument(f"{where}: title must be 1 to {MEDIA_TEXT_LENGTH} characters")
        entry: dict[str, Any] = {
            "id": ident,
            "title": title.strip(),
            "url": _media_url(item.get("url"), f"{where}: url"),
        }
        for key in ("artist", "album", "genre"):
            value = item.get(key, "")
            if not isinstance(value, str) or len(value) > MEDIA_TEXT_LENGTH:
                raise InvalidArgument(f"{where}: {key} must be text of at most 200 characters")
            entry[key] = value.strip()
        duration = item.get("duration")
        if duration is not None and (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not math.isfinite(duration)
            or duration <= 0
        ):
            raise InvalidArgument(f"{where}: duration must be a positive number of seconds")
        entry["duration"] = None if duration is None else float(duration)
        art = item.get("art")
        entry["art"] = None if art is None else _media_url(art, f"{where}: art")
        live = item.get("live", False)
        if not isinstance(live, bool):
            raise InvalidArgument(f"{where}: live must be true or false")
        entry["live"] = live
        source = item.get("source", "INTERNET")
        if source not in MEDIA_SOURCES:
            raise InvalidArgument(
                f"{where}: source must be a VSS Played.Source value such as INTERNET"
            )
        entry["source"] = source
        checked.append(entry)
    return checked


def _media_url(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > MEDIA_URL_LENGTH:
        raise InvalidArgument(f"{what} must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"{what} must be an http(s) URL, not {value[:80]!r}")
    return value
