"""Apps' media sessions in the media service: the app host's
:class:`~carmesh.apps.host.MediaBridge`.

An app registers a session (through the SDK and the app host, which checks its ``media``
permission and its items); the service makes a :class:`~carmesh.media.session.MediaSession`
with the key ``app:APP_ID/SESSION_ID`` in the session's zone. Its queue holds the app's items
as ``app:APP_ID/ITEM`` URIs with the app's ``http(s)`` URL, which the car fetches and decodes
like any other item. Playing one makes the session its zone's active one (media focus, like
any source); the user's transport commands on it are carried out by the service and then
told to the app as ``media`` events. The sessions end when the app stops; they are never
kept across restarts (the app serves the items).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from carmesh.errors import NotFound
from carmesh.media.items import SOURCE_INTERNET, MediaItem
from carmesh.media.session import MediaSession

if TYPE_CHECKING:
    from carmesh.apps.host import AppHost
    from carmesh.media.service import MediaService
    from carmesh.media.zones import Zone

__all__ = ["AppSessions", "app_key"]

log = logging.getLogger(__name__)

PREFIX = "app:"


def app_key(app_id: str, session_id: str) -> str:
    """The session key (and focus client) of an app's session."""
    return f"{PREFIX}{app_id}/{session_id}"


def is_app(key: str) -> bool:
    return key.startswith(PREFIX)


class AppSessions:
    """The bridge between the app host and *service* (see the module's description)."""

    def __init__(self, service: MediaService, host: AppHost | None) -> None:
        self.service = service
        self.host = host
        #: (app id, session id) → (zone, session key).
        self._sessions: dict[tuple[str, str], tuple[str, str]] = {}

    def _find(self, app_id: str, session_id: str) -> tuple[Zone, MediaSession]:
        found = self._sessions.get((app_id, session_id))
        if found is None:
            raise NotFound(f"app {app_id} has no media session {session_id!r}")
        zone = self.service._zones[found[0]]
        return zone, zone.sessions[found[1]]

    def by_node(self) -> dict[str, MediaSession]:
        """Each session by its browse node ``apps/APP_ID/SESSION_ID``."""
        nodes: dict[str, MediaSession] = {}
        for (app_id, session_id), (zone, key) in self._sessions.items():
            nodes[f"apps/{app_id}/{session_id}"] = self.service._zones[zone].sessions[key]
        return nodes

    def item(self, app_id: str, item_id: str) -> MediaItem | None:
        """The item ``app:APP_ID/ITEM`` in one of the app's queues, or None."""
        uri = f"{PREFIX}{app_id}/{item_id}"
        for (owner, session_id), _where in self._sessions.items():
            if owner != app_id:
                continue
            for item in self._find(owner, session_id)[1].items:
                if item.uri == uri:
                    return item
        return None

    # -- MediaBridge ----------------------------------------------------------------------

    def app_session(self, app_id: str, session_id: str, name: str, zone: str) -> None:
        target = self.service._zones.zone(zone)
        key = app_key(app_id, session_id)
        self.service._zones.session(target, key, name)
        self._sessions[(app_id, session_id)] = (target.name, key)
        self.service._emit()

    async def app_queue(
        self,
        app_id: str,
        session_id: str,
        items: list[dict[str, Any]],
        start: int,
        play: bool,
    ) -> dict[str, Any]:
        zone, session = self._find(app_id, session_id)
        queue = [
            MediaItem(
                uri=f"{PREFIX}{app_id}/{entry['id']}",
                title=entry["title"],
                artist=entry.get("artist", ""),
                album=entry.get("album", ""),
                genre=entry.get("genre", ""),
                duration=entry.get("duration"),
                art=entry.get("art"),
                source=entry.get("source", SOURCE_INTERNET),
                live=bool(entry.get("live", False)),
                extra={"url": entry["url"]},
            )
            for entry in items
        ]
        if play:
            self.service._zones.take_focus(zone, session)
        await session.set_queue(queue, start, play=play)
        return self.service._zones.state(zone)

    async def app_state(
        self,
        app_id: str,
        session_id: str,
        state: str | None,
        index: int | None,
        position: float | None,
    ) -> dict[str, Any]:
        zone, session = self._find(app_id, session_id)
        if index is not None:
            await session.go_to(index)
        if position is not None:
            await session.seek(position)
        if state == "playing":
            self.service._zones.take_focus(zone, session)
            await session.play()
        elif state == "paused":
            await session.pause()
        return self.service._zones.state(zone)

    def app_gone(self, app_id: str) -> None:
        for (owner, session_id), (zone_name, key) in list(self._sessions.items()):
            if owner == app_id:
                del self._sessions[(owner, session_id)]
                self.service._zones.forget(self.service._zones[zone_name], key)

    # -- telling the app ------------------------------------------------------------------

    def notify(self, session: MediaSession, command: str) -> None:
        """Tell the app owning *session* (if an app does) of a transport *command*."""
        if self.host is None or not is_app(session.key):
            return
        app_id, _, session_id = session.key.removeprefix(PREFIX).partition("/")
        payload: dict[str, Any] = {"command": command, "index": session.index}
        if command == "seek":
            payload["position"] = round(session.position, 3)
        try:
            self.host.media_command(app_id, session_id, payload)
        except Exception:
            log.exception("could not tell app %s of a media command", app_id)
