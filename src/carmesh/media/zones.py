"""The media service's zones: their sessions, the active one, audio focus applied to them, and
what each zone's state is.

Zones. ``driver`` always (``audio_out``), ``rear`` when ``audio_out_rear`` is not ``off``.
Each zone has its own sessions, audio focus stack, volume and engine output, and one
**active** session: the one its transport and its signals are about.

Sessions. One per source and zone (:data:`~carmesh.media.sources.SESSIONS`: ``library``,
``radio``, ``podcasts``, ``web`` for ``http(s)://`` URIs, ``files`` for ``file://`` URIs),
made when first used, and one per app media session (:mod:`carmesh.media.app_media`).
Playing something makes its session the zone's active one, which asks for ``MEDIA`` focus with
``GAIN``: the previous session (and any other media) loses focus for good and stops, keeping
its queue and position (``Played.Source`` switches back to it).

Focus. Changes from :class:`~carmesh.media.focus.AudioFocus` (navigation prompts, the
assistant, calls…) are applied to the session's channel: ``LOSS_TRANSIENT_CAN_DUCK`` ducks by
``duck_db`` (ramped), ``LOSS_TRANSIENT`` pauses until ``GAIN`` comes back (then it plays
again), ``LOSS`` pauses for good. Playing while a call holds focus is refused
(``FailedPrecondition``).

:class:`Zones` also notes which zones and sessions changed, for the service to publish and
save (:meth:`Zones.changes`), and brings saved sessions back (:meth:`Zones.restore`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from carmesh.errors import CarmeshError, FailedPrecondition, InvalidArgument
from carmesh.media.engine import AudioEngine
from carmesh.media.focus import AudioFocus, Change, FocusChange, FocusRequest, Gain, Result, Usage
from carmesh.media.items import SOURCE_INTERNET, MediaItem
from carmesh.media.output import ChannelOutput
from carmesh.media.resolve import Resolver
from carmesh.media.session import MediaSession, PlaybackState
from carmesh.media.sources import SESSIONS
from carmesh.media.state import SavedState
from carmesh.settings import Settings

__all__ = ["DEFAULT_VOLUME", "Zone", "Zones"]

# The media service logs under one name, whichever of its modules speaks.
log = logging.getLogger("carmesh.media.service")

#: The zones' volume until the user sets one.
DEFAULT_VOLUME = 50


@dataclass
class Zone:
    """One audio zone: its sessions (and their engine outputs) by key, which is active, its
    volume."""

    name: str
    sessions: dict[str, MediaSession] = field(default_factory=dict)
    outputs: dict[str, ChannelOutput] = field(default_factory=dict)
    active: str | None = None
    volume: int = DEFAULT_VOLUME
    #: Session keys, the most recently active first (for switching by source).
    history: list[str] = field(default_factory=list)
    #: Sessions paused by a transient focus loss, to play again on GAIN.
    resume: set[str] = field(default_factory=set)
    #: The last position sought to (the current value of ``Seek``).
    seek: float = 0.0

    @property
    def session(self) -> MediaSession | None:
        return None if self.active is None else self.sessions.get(self.active)

    def source(self, key: str) -> str:
        """The VSS ``Played.Source`` of session *key*: its item's, else its own."""
        session = self.sessions[key]
        item = session.item
        return item.source if item is not None else session.source


class Zones(Mapping[str, Zone]):
    """The zones by name (see the module's description). Sessions play on *engine* through
    *resolver*; *spawn* runs a coroutine in the background (a session stopping, pausing,
    playing again) for the service, which owns those tasks."""

    def __init__(
        self,
        names: Iterable[str],
        engine: AudioEngine,
        focus: AudioFocus,
        resolver: Resolver,
        settings: Settings,
        spawn: Callable[[Coroutine[Any, Any, Any]], object],
    ) -> None:
        self.engine = engine
        self.focus = focus
        self.resolver = resolver
        self.settings = settings
        self._spawn = spawn
        self._zones = {name: Zone(name) for name in names}
        self._dirty: set[str] = set()
        self._dirty_sessions: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()

    def __getitem__(self, name: str) -> Zone:
        return self._zones[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._zones)

    def __len__(self) -> int:
        return len(self._zones)

    def zone(self, name: str) -> Zone:
        """The zone *name*; InvalidArgument naming the zones there are."""
        zone = self._zones.get(name) if isinstance(name, str) else None
        if zone is None:
            raise InvalidArgument(
                f"{name!r} is not an audio zone of this car; it has {', '.join(self._zones)}"
            )
        return zone

    # -- sessions ---------------------------------------------------------------------------

    def session(self, zone: Zone, key: str, name: str | None = None) -> MediaSession:
        """The session *key* of *zone*, made when missing (a source's, or an app's)."""
        session = zone.sessions.get(key)
        if session is not None:
            return session
        default_name, source = SESSIONS.get(key, (key, SOURCE_INTERNET))
        output = ChannelOutput(self.engine, self.resolver, zone.name)
        session = MediaSession(
            key,
            name or default_name,
            zone.name,
            output,
            source=source,
            on_change=self._on_session_change,
        )
        output.session = session
        zone.sessions[key] = session
        zone.outputs[key] = output
        return session

    def forget(self, zone: Zone, key: str) -> None:
        """End session *key* of *zone* for good (an app went away)."""
        session = zone.sessions.pop(key)
        zone.outputs.pop(key)
        zone.history = [k for k in zone.history if k != key]
        zone.resume.discard(key)
        self.focus.abandon(_client(key), zone.name)
        if zone.active == key:
            zone.active = None
        self._spawn(session.clear())
        self.changed(zone.name)

    def active(self, zone: Zone) -> MediaSession:
        """The zone's active session; FailedPrecondition when there is none."""
        session = zone.session
        if session is None:
            raise FailedPrecondition(
                f"nothing is playing in the {zone.name} zone; choose something to play first"
            )
        return session

    def take_focus(self, zone: Zone, session: MediaSession) -> None:
        """Make *session* the zone's active one holding media focus (FailedPrecondition when
        another sound keeps media out, e.g. a call)."""
        client = _client(session.key)
        state = self.focus.state(client, zone.name)
        if state is Change.LOSS_TRANSIENT:
            raise FailedPrecondition(
                f"media cannot play in the {zone.name} zone now: another sound (a call, the "
                "assistant) has the audio focus; it plays when that ends"
            )
        # Asked again only when not held: a new GAIN would end a navigation prompt's focus.
        if state is None:
            request = FocusRequest(client, Usage.MEDIA, Gain.GAIN, zone.name)
            if self.focus.request(request) is Result.FAILED:
                raise FailedPrecondition(
                    f"media cannot play in the {zone.name} zone now: another sound (a call, "
                    "an emergency message) has the audio focus"
                )
        if zone.active != session.key:
            previous = zone.session
            zone.active = session.key
            zone.history = [session.key, *(k for k in zone.history if k != session.key)]
            if previous is not None and previous.state is not PlaybackState.STOPPED:
                self._spawn(previous.stop())
            self.changed(zone.name)

    def set_volume(self, zone: Zone, volume: int) -> None:
        zone.volume = volume
        self.engine.set_volume(zone.name, volume)
        self.changed(zone.name)

    def restore(self, saved: SavedState) -> list[Zone]:
        """Bring saved sessions back (paused); the zones whose active one was playing."""
        playing: dict[tuple[str, str], bool] = {}
        for (zone_name, key), snapshot in saved.sessions.items():
            zone = self._zones.get(zone_name)
            if zone is None or key not in SESSIONS:
                continue
            try:
                playing[(zone_name, key)] = self.session(zone, key).restore(snapshot)
            except CarmeshError as exc:
                log.warning("could not restore the %s session of zone %s: %s", key, zone_name, exc)
        resume: list[Zone] = []
        for zone_name, record in saved.zones.items():
            zone = self._zones.get(zone_name)
            if zone is None:
                continue
            if record.volume is not None and 0 <= record.volume <= 100:
                zone.volume = record.volume
            if record.active in zone.sessions:
                zone.active = record.active
                if playing.get((zone_name, record.active)):
                    resume.append(zone)
            active = zone.active
            zone.history = sorted(zone.sessions, key=lambda key: key != active)
        for each in self._zones.values():
            self.engine.set_volume(each.name, each.volume)
        return resume

    # -- changes ----------------------------------------------------------------------------

    def changed(self, zone: str) -> None:
        """Note that the state of *zone* changed."""
        self._dirty.add(zone)
        self._wake.set()

    def _on_session_change(self, session: MediaSession) -> None:
        self._dirty_sessions.add((session.zone, session.key))
        self.changed(session.zone)

    async def changes(self) -> tuple[set[str], set[tuple[str, str]]]:
        """Wait for changes; the zones and the (zone, session key) pairs that changed since
        the last call (a burst of changes comes as one)."""
        await self._wake.wait()
        self._wake.clear()
        zones, self._dirty = self._dirty, set()
        sessions, self._dirty_sessions = self._dirty_sessions, set()
        return zones, sessions

    def on_focus(self, change: FocusChange) -> None:
        """Apply an audio focus change to the session it is about."""
        zone = self._zones.get(change.zone)
        key = change.client_id.removeprefix("media:")
        if zone is None or not change.client_id.startswith("media:") or key not in zone.sessions:
            return
        session, output = zone.sessions[key], zone.outputs[key]
        if change.change is Change.LOSS:
            zone.resume.discard(key)
            output.duck(0.0)
            if session.state is not PlaybackState.STOPPED:
                self._spawn(session.stop())
        elif change.change is Change.LOSS_TRANSIENT:
            output.duck(0.0)
            if session.playing:
                zone.resume.add(key)
                self._spawn(session.pause())
        elif change.change is Change.LOSS_TRANSIENT_CAN_DUCK:
            output.duck(self.settings.duck_db)
        else:
            output.duck(0.0)
            if key in zone.resume:
                zone.resume.discard(key)
                self._spawn(session.play())
        self.changed(zone.name)

    def on_stream_metadata(self, item: MediaItem, values: dict[str, str]) -> None:
        """A stream's metadata changed: its title is shown where *item* plays."""
        title = values.get("title") or None
        for zone in self._zones.values():
            for output in zone.outputs.values():
                if output.item is item and output.stream_title != title:
                    output.stream_title = title
                    self.changed(zone.name)

    # -- state ------------------------------------------------------------------------------

    def state(self, zone: Zone) -> dict[str, Any]:
        """ZONE_STATE of *zone* (``docs/media.md``, "HTTP API")."""
        session = zone.session
        if session is None:
            return {
                "session": None,
                "session_key": None,
                "state": PlaybackState.STOPPED.value,
                "item": None,
                "position": 0.0,
                "duration": None,
                "volume": zone.volume,
                "shuffle": False,
                "repeat": "off",
                "queue_index": None,
                "queue_length": 0,
                "focus": None,
                "error": None,
            }
        item, output = session.item, zone.outputs[session.key]
        item_json: dict[str, Any] | None = None
        duration = None
        if item is not None:
            item_json = item.as_json()
            if output.stream_title and output.item is item:
                item_json["stream_title"] = output.stream_title
            duration = item.duration
            if duration is None and not item.live:
                duration = output.duration
        focus = self.focus.state(_client(session.key), zone.name)
        return {
            "session": session.name,
            "session_key": session.key,
            "state": session.state.value,
            "item": item_json,
            "position": round(session.position, 3),
            "duration": duration,
            "volume": zone.volume,
            "shuffle": session.shuffle,
            "repeat": session.repeat.value,
            "queue_index": session.index,
            "queue_length": len(session),
            "focus": None if focus is None else focus.value,
            "error": session.error,
        }


def _client(key: str) -> str:
    """The audio focus client id of session *key*."""
    return f"media:{key}"
