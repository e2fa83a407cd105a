"""What the HMI's media API asks of the media service: :class:`~carmesh.media.control.MediaControl`
carried out on the zones and the sources.

:class:`MediaCommands` is mixed into :class:`~carmesh.media.service.MediaService`, which
composes what it works on: the zones (:class:`~carmesh.media.zones.Zones`), the sources
(:class:`~carmesh.media.sources.Sources`: what a URI or a browse node plays), the apps'
sessions, the stations, the library scan started with the service and the listeners.
Playing something makes its session the zone's active one (media focus, see
:mod:`carmesh.media.zones`); the transport commands act on the zone's active session and are
told to the app when the session is an app's; an app's queue is its own to edit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from carmesh.errors import FailedPrecondition, InvalidArgument
from carmesh.media.app_media import AppSessions, is_app
from carmesh.media.control import COMMANDS, MediaEvent, MediaListener
from carmesh.media.focus import AudioFocus, Gain, Usage
from carmesh.media.library import ScanReport
from carmesh.media.session import MediaSession, PlaybackState, check_seek
from carmesh.media.sounds import Sounds
from carmesh.media.sources import Sources, feed_json
from carmesh.media.stations import Station
from carmesh.media.zones import Zone, Zones
from carmesh.settings import Settings

__all__ = ["SKIP_SECONDS", "MediaCommands"]

# The media service logs under one name, whichever of its modules speaks.
log = logging.getLogger("carmesh.media.service")

#: How far FAST_FORWARD and FAST_BACKWARD move (s).
SKIP_SECONDS = 10.0


class MediaCommands:
    """The :class:`~carmesh.media.control.MediaControl` methods of the media service (see
    the module's description); the service sets the attributes declared here."""

    settings: Settings
    sources: Sources
    apps: AppSessions
    focus: AudioFocus
    _zones: Zones
    _sounds: Sounds
    _stations: dict[str, Station]
    _listeners: list[MediaListener]
    _scanning: asyncio.Task[ScanReport | None] | None

    # -- state ----------------------------------------------------------------------------

    @property
    def zones(self) -> list[str]:
        return list(self._zones)

    def state(self) -> dict[str, Any]:
        return {"zones": {name: self._zones.state(zone) for name, zone in self._zones.items()}}

    def zone_state(self, zone: str) -> dict[str, Any]:
        return self._zones.state(self._zones.zone(zone))

    def _emit(self, *, position_only: bool = False) -> None:
        if not self._listeners:
            return
        event = MediaEvent(self.state(), position_only)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a media listener failed")

    def listen(self, listener: MediaListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # -- sessions, queues, sources ---------------------------------------------------------

    async def browse(self, node: str = "") -> dict[str, Any]:
        return await self.sources.browse(node)

    async def search(self, text: str) -> dict[str, Any]:
        return {"items": [item.as_json() for item in await self.sources.search(text)]}

    async def play(
        self, zone: str, *, uri: str | None = None, node: str | None = None
    ) -> dict[str, Any]:
        target = self._zones.zone(zone)
        if uri is not None and node is None:
            selection = await self.sources.for_uri(uri)
        elif node is not None and uri is None:
            selection = await self.sources.for_node(node)
        else:
            raise InvalidArgument('give either "uri" or "node" to play')
        if not selection.items:
            raise FailedPrecondition(f"there is nothing to play in {node!r}")
        if is_app(selection.key):
            session = target.sessions.get(selection.key)
            if session is None:
                raise InvalidArgument(f"{node} plays in another zone than {zone}")
            self._zones.take_focus(target, session)
            await session.play()
        else:
            session = self._zones.session(target, selection.key)
            self._zones.take_focus(target, session)
            await session.set_queue(
                selection.items, selection.start, play=True, position=selection.position
            )
        self.apps.notify(session, "play")
        return self._zones.state(target)

    async def transport(
        self, zone: str, command: str, position: float | None = None, index: int | None = None
    ) -> dict[str, Any]:
        target = self._zones.zone(zone)
        if command not in COMMANDS:
            raise InvalidArgument(f"command must be one of {', '.join(COMMANDS)}")
        if index is not None and command != "play":
            raise InvalidArgument("a queue index goes only with the play command")
        await self._command(target, command, position, index)
        return self._zones.state(target)

    async def _command(
        self, zone: Zone, command: str, position: float | None = None, index: int | None = None
    ) -> None:
        """Carry out a transport command (those of ``transport``, and ``forward`` and
        ``backward`` of ``FAST_FORWARD``/``FAST_BACKWARD``) on the zone's active session."""
        session = self._zones.active(zone)
        if command == "toggle":
            command = "pause" if session.state is PlaybackState.PLAYING else "play"
        if command == "play":
            self._zones.take_focus(zone, session)
            if index is not None:
                _editable(session)
                await session.go_to(index)
            await session.play()
        elif command == "pause":
            zone.resume.discard(session.key)
            await session.pause()
        elif command == "next":
            await session.next()
        elif command == "previous":
            await session.previous()
        elif command in ("seek", "forward", "backward"):
            item = session.item
            if item is None:
                raise FailedPrecondition(f"the queue of {session.name} is empty")
            if command == "seek":
                if position is None:
                    raise InvalidArgument("a seek needs a position in seconds")
                await session.seek(check_seek(item, position))
            else:
                await session.skip(SKIP_SECONDS if command == "forward" else -SKIP_SECONDS)
            zone.seek = round(session.position, 3)
            command = "seek"
            self._zones.changed(zone.name)
        else:
            raise InvalidArgument(f"{command!r} is not a transport command")
        self.apps.notify(session, command)

    def queue(self, zone: str) -> dict[str, Any]:
        session = self._zones.zone(zone).session
        if session is None:
            return {"zone": zone, "items": [], "index": None, "order": []}
        return {
            "zone": zone,
            "items": [item.as_json() for item in session.items],
            "index": session.index,
            "order": session.order,
        }

    async def enqueue(
        self, zone: str, *, uri: str | None = None, node: str | None = None, next: bool = False
    ) -> dict[str, Any]:
        target = self._zones.zone(zone)
        if uri is not None and node is None:
            selection = await self.sources.for_uri(uri)
            items = [selection.items[selection.start]]
        elif node is not None and uri is None:
            selection = await self.sources.for_node(node)
            items = selection.items
        else:
            raise InvalidArgument('give either "uri" or "node" to add')
        if is_app(selection.key):
            raise InvalidArgument("an app's queue is its own; play its node instead")
        if not items:
            raise FailedPrecondition(f"there is nothing to add in {node!r}")
        session = target.session
        if session is None:
            session = self._zones.session(target, selection.key)
            target.active = session.key
            target.history.insert(0, session.key)
        _editable(session)
        await session.enqueue(items, next=next)
        return self.queue(zone)

    async def remove(self, zone: str, index: int) -> dict[str, Any]:
        session = self._zones.active(self._zones.zone(zone))
        _editable(session)
        await session.remove(index)
        return self.queue(zone)

    async def move(self, zone: str, source: int, target: int) -> dict[str, Any]:
        session = self._zones.active(self._zones.zone(zone))
        _editable(session)
        await session.move(source, target)
        return self.queue(zone)

    async def set_mode(
        self,
        zone: str,
        *,
        shuffle: bool | None = None,
        repeat: str | None = None,
        volume: int | None = None,
    ) -> dict[str, Any]:
        target = self._zones.zone(zone)
        if volume is not None and (
            isinstance(volume, bool) or not isinstance(volume, int) or not 0 <= volume <= 100
        ):
            raise InvalidArgument(f"volume must be a whole number from 0 to 100, not {volume}")
        if shuffle is not None or repeat is not None:
            session = self._zones.active(target)
            if repeat is not None:
                await session.set_repeat(repeat)
            if shuffle is not None:
                await session.set_shuffle(bool(shuffle))
        if volume is not None:
            self._zones.set_volume(target, volume)
        return self._zones.state(target)

    # -- sounds and focus -------------------------------------------------------------------

    async def play_sound(
        self,
        usage: Usage | str,
        source: str,
        *,
        zone: str = "driver",
        gain: Gain | str | None = None,
        volume: float = 1.0,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        self._zones.zone(zone)
        return await self._sounds.play(
            usage, source, zone=zone, gain=gain, volume=volume, client_id=client_id
        )

    def stop_sound(self, sound_id: str) -> dict[str, Any]:
        return self._sounds.stop(sound_id)

    def sounds(self) -> dict[str, Any]:
        return {"sounds": self._sounds.list()}

    def focus_stack(self, zone: str) -> dict[str, Any]:
        return self.focus.as_json(self._zones.zone(zone).name)

    async def art(self, key: str) -> tuple[bytes, str]:
        return await asyncio.to_thread(self.sources.library().art, key)

    def stations(self) -> dict[str, Any]:
        return {
            "stations": [
                {"id": s.id, "name": s.name, "genre": s.genre, "uri": s.uri}
                for s in self._stations.values()
            ]
        }

    async def add_podcast(self, url: str) -> dict[str, Any]:
        feed = await self.sources.podcasts().subscribe(url)
        self._emit()
        return feed_json(feed)

    async def refresh_podcasts(self) -> dict[str, Any]:
        feeds = await self.sources.podcasts().refresh()
        self._emit()
        return {"feeds": [feed_json(feed) for feed in feeds]}

    async def scan(self) -> dict[str, Any]:
        library = self.sources.library()
        if self._scanning is not None and not self._scanning.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._scanning)
        report = await asyncio.to_thread(library.scan, list(self.settings.media_library))
        self._emit()
        return {**report.as_json(), "tracks": await asyncio.to_thread(library.count)}


def _editable(session: MediaSession) -> None:
    if is_app(session.key):
        raise FailedPrecondition(f"the queue of {session.name} belongs to its app")
