"""The media service: sessions per source and zone on the audio engine, audio focus applied to
them, the VSS provider of the media signals, and memory across restarts (``docs/media.md``).

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

VSS (:mod:`carmesh.media.signals`). The service is a provider like the vehicle, under its own
principal that may only provide the media signals. It publishes a zone's signals whenever its
state changes and the position once a second while playing, and carries out actuations: each
is checked first (a URI that names nothing, a seek beyond the end, nothing to play: refused
with the reason), its work is awaited for up to :data:`ACCEPT_WAIT` s, so that errors reach
the caller, and goes on in the background after that (a station slow to connect). A selected
URI that fails later is published as ``DeclinedURI``.

Memory (:mod:`carmesh.media.state`). Every change of a session is saved, positions every
:data:`SAVE_INTERVAL` s while playing, episode positions to the podcasts too; at start the
sessions come back (paused), and the active one plays again if it was playing.

Nothing blocks the event loop: the library scan, SQLite look-ups, state writes and podcast
fetches run in threads; decoding runs in decoder threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from carmesh.broker import Broker, Principal
from carmesh.errors import CarmeshError, FailedPrecondition, InvalidArgument
from carmesh.media.app_media import AppSessions, is_app
from carmesh.media.control import COMMANDS, MediaEvent, MediaListener
from carmesh.media.engine import AudioEngine
from carmesh.media.focus import AudioFocus, Change, FocusChange, FocusRequest, Gain, Result, Usage
from carmesh.media.items import SOURCE_INTERNET, MediaItem
from carmesh.media.library import Library, ScanReport
from carmesh.media.output import ChannelOutput
from carmesh.media.podcasts import Podcasts
from carmesh.media.resolve import Resolver
from carmesh.media.session import MediaSession, PlaybackState, check_seek
from carmesh.media.signals import (
    DRIVER,
    MEDIA_SCOPES,
    PATHS,
    REAR,
    SignalLink,
    Target,
    actuators,
    signal_values,
    target_of,
)
from carmesh.media.sinks import Sink
from carmesh.media.sources import SESSIONS, Sources, feed_json
from carmesh.media.state import SavedState, StateStore
from carmesh.media.streams import Station, load_stations
from carmesh.settings import Settings
from carmesh.vehicle.provider import Connector, InProcessConnector

if TYPE_CHECKING:
    from carmesh.apps.host import AppHost

__all__ = ["MEDIA_SCOPES", "MediaService"]

log = logging.getLogger(__name__)

#: Seconds between position updates (VSS, WebSocket) while playing.
POSITION_INTERVAL = 1.0
#: Seconds between saves of the positions of playing sessions.
SAVE_INTERVAL = 3.0
#: How far FAST_FORWARD and FAST_BACKWARD move (s).
SKIP_SECONDS = 10.0
#: Seconds an actuation waits for its work before it is accepted and goes on in the background.
ACCEPT_WAIT = 2.0
#: The zones' volume until the user sets one.
DEFAULT_VOLUME = 50


@dataclass
class _Zone:
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


class MediaService:
    """The media service as a runtime service (start/serve/stop) and the implementation of
    :class:`~carmesh.media.control.MediaControl`; see the module's description.

    *apps_host* is the app host whose apps' media sessions it plays. *sinks* replaces the
    outputs of the settings (zone → spec or :class:`Sink`); *realtime* False renders as fast
    as decoders deliver (offline tests); *connector* replaces the in-process link to the
    broker (e.g. a gRPC provider stream).
    """

    name = "media"

    def __init__(
        self,
        settings: Settings,
        broker: Broker,
        *,
        apps_host: AppHost | None = None,
        sinks: Mapping[str, str | Sink] | None = None,
        realtime: bool = True,
        connector: Connector | None = None,
    ) -> None:
        self.settings = settings
        outputs: dict[str, str | Sink] = {DRIVER: settings.audio_out}
        if settings.audio_out_rear != "off":
            outputs[REAR] = settings.audio_out_rear
        if sinks is not None:
            outputs = dict(sinks)
        if DRIVER not in outputs or not set(outputs) <= {DRIVER, REAR}:
            raise InvalidArgument("media zones are driver (always) and rear")
        self.outputs = outputs
        self.engine = AudioEngine(outputs, ramp_ms=settings.audio_ramp_ms, realtime=realtime)
        self.focus = AudioFocus(list(outputs))
        self.directory = settings.data_dir / "media"
        self.store = StateStore(self.directory / "state.db")
        self.library: Library | None = None
        self.podcasts: Podcasts | None = None
        self._stations: dict[str, Station] = {}
        self.apps = AppSessions(self, apps_host)
        self.resolver = Resolver(
            library=lambda: self.library,
            stations=lambda: self._stations,
            podcasts=lambda: self.podcasts,
            app_items=self.apps.item,
            on_metadata=self._on_stream_metadata,
        )
        self.sources = Sources(
            self.resolver,
            library=lambda: self.library,
            podcasts=lambda: self.podcasts,
            stations=lambda: self._stations,
            app_sessions=self.apps.by_node,
        )
        self.connector = connector or InProcessConnector(
            broker, Principal.from_scopes("media", MEDIA_SCOPES)
        )
        self.signals = SignalLink(self.connector)
        self._zones = {name: _Zone(name) for name in outputs}
        self._actuators = actuators(self._zones)
        self._listeners: list[MediaListener] = []
        self._dirty: set[str] = set()
        self._dirty_sessions: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._scanning: asyncio.Task[ScanReport | None] | None = None
        self._undo: list[Callable[[], None]] = []

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the state, the library and the sources, start the engine, claim and publish
        the signals, bring the last sessions back; the library scan goes on afterwards."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stations = await asyncio.to_thread(load_stations, self.settings.radio_stations)
        self._stations = {station.id: station for station in stations}
        saved = await asyncio.to_thread(self.store.open)
        self.library = await asyncio.to_thread(Library, self.directory / "library.db")
        self.podcasts = await asyncio.to_thread(Podcasts, self.directory / "podcasts.db")
        await self.engine.start()
        self._undo.append(self.focus.listen(self._on_focus))
        resume = self._restore(saved)
        await self.signals.open(self, self._zones)
        for zone in self._zones.values():
            await self._publish(zone)
        if self.apps.host is not None:
            self._undo.append(self.apps.host.attach_media(self.apps))
        self._loops = [
            asyncio.create_task(self._publisher(), name="media-publisher"),
            asyncio.create_task(self._ticker(), name="media-ticker"),
        ]
        self._scanning = asyncio.create_task(self._scan(), name="media-library-scan")
        for zone in resume:
            self._spawn(self._resume(zone))

    async def serve(self) -> None:
        return None

    async def stop(self) -> None:
        """Save every session where it is, then stop playing and close everything (safe
        after a failed or partial start)."""
        for undo in reversed(self._undo):
            undo()
        self._undo = []
        tasks = [*self._loops, *self._tasks]
        if self._scanning is not None:
            tasks.append(self._scanning)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops, self._scanning = [], None
        try:
            for zone in self._zones.values():
                for key, session in zone.sessions.items():
                    if not is_app(key):
                        await self.store.save_session(zone.name, session.snapshot())
                await self.store.save_zone(zone.name, zone.active, zone.volume)
        except Exception as exc:  # not opened, or the disk is gone
            log.debug("the media state was not saved at stop: %s", exc)
        await self.store.close()
        await self.engine.stop()
        await self.signals.close()
        if self.podcasts is not None:
            podcasts, self.podcasts = self.podcasts, None
            await asyncio.to_thread(podcasts.close)
        if self.library is not None:
            library, self.library = self.library, None
            await asyncio.to_thread(library.close)

    def describe(self) -> str:
        """One line for the start banner: the zones' outputs and what the sources hold."""
        outs = []
        for zone in self._zones:
            spec = self.outputs[zone]
            actual = self.engine.sink(zone).spec or str(spec)
            outs.append(f"{zone} → {actual}" + (" (auto)" if spec == "auto" else ""))
        tracks = self.library.count() if self.library is not None else 0
        scan = ""
        if self._scanning is not None and not self._scanning.done():
            folders = len(self.settings.media_library)
            scan = f", scanning {folders} folder{'s' if folders != 1 else ''}…"
        stations = len(self._stations)
        return f"{', '.join(outs)}; library {tracks} tracks{scan}; {stations} radio stations"

    def _restore(self, saved: SavedState) -> list[_Zone]:
        """Bring saved sessions back (paused); the zones whose active one was playing."""
        playing: dict[tuple[str, str], bool] = {}
        for (zone_name, key), snapshot in saved.sessions.items():
            zone = self._zones.get(zone_name)
            if zone is None or key not in SESSIONS:
                continue
            try:
                playing[(zone_name, key)] = self._session(zone, key).restore(snapshot)
            except CarmeshError as exc:
                log.warning("could not restore the %s session of zone %s: %s", key, zone_name, exc)
        resume: list[_Zone] = []
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

    async def _resume(self, zone: _Zone) -> None:
        session = zone.session
        if session is None:
            return
        try:
            self._take_focus(zone, session)
            await session.play()
        except CarmeshError as exc:
            log.warning("could not resume %s in zone %s: %s", session.name, zone.name, exc)

    async def _scan(self) -> ScanReport | None:
        folders = list(self.settings.media_library)
        library = self.library
        if not folders or library is None:
            return None
        try:
            report = await asyncio.to_thread(library.scan, folders)
        except Exception:
            log.exception("the library scan failed")
            return None
        log.debug(
            "library scan: %d added, %d updated, %d removed, %d unchanged, %d failed in %.1f s",
            report.added,
            report.updated,
            report.removed,
            report.unchanged,
            len(report.failed),
            report.seconds,
        )
        if report.failed:
            path, reason = report.failed[0]
            log.info(
                "the library scan could not read %d files or folders (%s: %s)",
                len(report.failed),
                path,
                reason,
            )
        self._emit()
        return report

    async def wait_scanned(self) -> ScanReport | None:
        """Wait for the scan started with the service (tests)."""
        if self._scanning is None:
            return None
        return await asyncio.shield(self._scanning)

    # -- zones and sessions ---------------------------------------------------------------

    @property
    def zones(self) -> list[str]:
        return list(self._zones)

    def _zone(self, name: str) -> _Zone:
        zone = self._zones.get(name) if isinstance(name, str) else None
        if zone is None:
            raise InvalidArgument(
                f"{name!r} is not an audio zone of this car; it has {', '.join(self._zones)}"
            )
        return zone

    def _session(self, zone: _Zone, key: str, name: str | None = None) -> MediaSession:
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

    def _forget_session(self, zone: _Zone, key: str) -> None:
        """End session *key* of *zone* for good (an app went away)."""
        session = zone.sessions.pop(key)
        zone.outputs.pop(key)
        zone.history = [k for k in zone.history if k != key]
        zone.resume.discard(key)
        self.focus.abandon(_client(key), zone.name)
        if zone.active == key:
            zone.active = None
        self._spawn(session.clear())
        self._changed(zone.name)

    def _active(self, zone: _Zone) -> MediaSession:
        session = zone.session
        if session is None:
            raise FailedPrecondition(
                f"nothing is playing in the {zone.name} zone; choose something to play first"
            )
        return session

    def _take_focus(self, zone: _Zone, session: MediaSession) -> None:
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
            self._changed(zone.name)

    def _on_session_change(self, session: MediaSession) -> None:
        self._dirty_sessions.add((session.zone, session.key))
        self._changed(session.zone)

    def _changed(self, zone: str) -> None:
        self._dirty.add(zone)
        self._wake.set()

    def _on_focus(self, change: FocusChange) -> None:
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
        self._changed(zone.name)

    def _on_stream_metadata(self, item: MediaItem, values: dict[str, str]) -> None:
        title = values.get("title") or None
        for zone in self._zones.values():
            for output in zone.outputs.values():
                if output.item is item and output.stream_title != title:
                    output.stream_title = title
                    self._changed(zone.name)

    # -- state, signals, memory -----------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"zones": {name: self._zone_state(zone) for name, zone in self._zones.items()}}

    def zone_state(self, zone: str) -> dict[str, Any]:
        return self._zone_state(self._zone(zone))

    def _zone_state(self, zone: _Zone) -> dict[str, Any]:
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

    async def _publish(self, zone: _Zone, *only: str) -> None:
        session = zone.session
        values = signal_values(
            PATHS[zone.name],
            self._zone_state(zone),
            source=session.source if session is not None else "UNKNOWN",
            seek=zone.seek,
        )
        if only:
            values = {PATHS[zone.name][name]: values[PATHS[zone.name][name]] for name in only}
        await self.signals.publish(zone.name, values)

    async def _publisher(self) -> None:
        """Publish, announce and save what changed (one pass per wake-up, folding bursts)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            zones, self._dirty = self._dirty, set()
            sessions, self._dirty_sessions = self._dirty_sessions, set()
            for name in zones:
                await self._publish(self._zones[name])
            self._emit()
            try:
                for zone_name, key in sessions:
                    session = self._zones[zone_name].sessions.get(key)
                    if session is not None and not is_app(key):
                        await self.store.save_session(zone_name, session.snapshot())
                for name in zones:
                    zone = self._zones[name]
                    await self.store.save_zone(name, zone.active, zone.volume)
            except Exception:
                log.exception("could not save the media state")

    async def _ticker(self) -> None:
        """Once a second: the positions of what plays; every few seconds: save them."""
        last_save = time.monotonic()
        while True:
            await asyncio.sleep(POSITION_INTERVAL)
            playing = [z for z in self._zones.values() if z.session and z.session.playing]
            for zone in playing:
                await self._publish(zone, "position", "duration")
            if playing:
                self._emit(position_only=True)
            if time.monotonic() - last_save < SAVE_INTERVAL:
                continue
            last_save = time.monotonic()
            for zone in playing:
                session = zone.session
                if session is None or is_app(session.key):
                    continue
                snapshot = session.snapshot()
                try:
                    await self.store.save_position(
                        zone.name, session.key, snapshot["cursor"], snapshot["position"], True
                    )
                    await self._save_episode_position(session)
                except Exception:
                    log.exception("could not save the media position")

    async def _save_episode_position(self, session: MediaSession) -> None:
        item, podcasts = session.item, self.podcasts
        if podcasts is None or item is None or not item.uri.startswith("podcast:"):
            return
        await asyncio.to_thread(
            podcasts.save_position,
            item.uri.rpartition("/")[2],
            session.position,
            item.duration or session.duration,
        )

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

    # -- MediaControl ---------------------------------------------------------------------

    async def browse(self, node: str = "") -> dict[str, Any]:
        return await self.sources.browse(node)

    async def search(self, text: str) -> dict[str, Any]:
        return {"items": [item.as_json() for item in await self.sources.search(text)]}

    async def play(
        self, zone: str, *, uri: str | None = None, node: str | None = None
    ) -> dict[str, Any]:
        target = self._zone(zone)
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
            self._take_focus(target, session)
            await session.play()
        else:
            session = self._session(target, selection.key)
            self._take_focus(target, session)
            await session.set_queue(
                selection.items, selection.start, play=True, position=selection.position
            )
        self.apps.notify(session, "play")
        return self._zone_state(target)

    async def transport(
        self, zone: str, command: str, position: float | None = None, index: int | None = None
    ) -> dict[str, Any]:
        target = self._zone(zone)
        if command not in COMMANDS:
            raise InvalidArgument(f"command must be one of {', '.join(COMMANDS)}")
        if index is not None and command != "play":
            raise InvalidArgument("a queue index goes only with the play command")
        await self._command(target, command, position, index)
        return self._zone_state(target)

    async def _command(
        self, zone: _Zone, command: str, position: float | None = None, index: int | None = None
    ) -> None:
        """Carry out a transport command (those of ``transport``, and ``forward`` and
        ``backward`` of ``FAST_FORWARD``/``FAST_BACKWARD``) on the zone's active session."""
        session = self._active(zone)
        if command == "toggle":
            command = "pause" if session.state is PlaybackState.PLAYING else "play"
        if command == "play":
            self._take_focus(zone, session)
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
            self._changed(zone.name)
        else:
            raise InvalidArgument(f"{command!r} is not a transport command")
        self.apps.notify(session, command)

    def queue(self, zone: str) -> dict[str, Any]:
        session = self._zone(zone).session
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
        target = self._zone(zone)
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
            session = self._session(target, selection.key)
            target.active = session.key
            target.history.insert(0, session.key)
        _editable(session)
        await session.enqueue(items, next=next)
        return self.queue(zone)

    async def remove(self, zone: str, index: int) -> dict[str, Any]:
        session = self._active(self._zone(zone))
        _editable(session)
        await session.remove(index)
        return self.queue(zone)

    async def move(self, zone: str, source: int, target: int) -> dict[str, Any]:
        session = self._active(self._zone(zone))
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
        target = self._zone(zone)
        if volume is not None and (
            isinstance(volume, bool) or not isinstance(volume, int) or not 0 <= volume <= 100
        ):
            raise InvalidArgument(f"volume must be a whole number from 0 to 100, not {volume}")
        if shuffle is not None or repeat is not None:
            session = self._active(target)
            if repeat is not None:
                await session.set_repeat(repeat)
            if shuffle is not None:
                await session.set_shuffle(bool(shuffle))
        if volume is not None:
            self._set_volume(target, volume)
        return self._zone_state(target)

    def _set_volume(self, zone: _Zone, volume: int) -> None:
        zone.volume = volume
        self.engine.set_volume(zone.name, volume)
        self._changed(zone.name)

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

    # -- VSS actuation --------------------------------------------------------------------

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        """Carry out actuations of the media actuators (see the module's description): all
        are checked before any is carried out."""
        work: list[Callable[[], Coroutine[Any, Any, None]]] = []
        for path, value in targets.items():
            found = self._actuators.get(path)
            if found is None:
                raise InvalidArgument(f"the media service does not actuate {path}", path=path)
            zone, name = found
            work.append(await self._check(target_of(zone, name, path, value), path))
        deadline = asyncio.get_running_loop().time() + ACCEPT_WAIT
        for step in work:
            task = self._spawn(step())
            left = deadline - asyncio.get_running_loop().time()
            done, _ = await asyncio.wait({task}, timeout=max(0.0, left))
            if done:
                task.result()

    async def _check(self, target: Target, path: str) -> Callable[[], Coroutine[Any, Any, None]]:
        """Check *target* against the state; the work that carries it out."""
        zone = self._zones[target.zone]
        if target.kind == "volume":
            volume = int(target.value)
            return lambda: _now(lambda: self._set_volume(zone, volume))
        if target.kind == "select":
            uri = str(target.value)
            await self.resolver.item(uri)  # InvalidArgument, NotFound before accepting
            return lambda: self._play_selected(zone, uri)
        if target.kind == "source":
            key = next(
                (
                    k
                    for k in zone.history
                    if k in zone.sessions and _source(zone, k) == target.value
                ),
                None,
            )
            if key is None:
                raise FailedPrecondition(
                    f"there is no {target.value} session in the {zone.name} zone to switch to",
                    path=path,
                )
            return lambda: self._switch(zone, key)
        session = self._active(zone)
        if target.kind == "shuffle":
            return lambda: session.set_shuffle(bool(target.value))
        if target.kind == "repeat":
            return lambda: session.set_repeat(str(target.value))
        command = str(target.value)
        if command in ("play", "seek") and session.item is None:
            raise FailedPrecondition(f"the queue of {session.name} is empty", path=path)
        if command == "seek":
            assert session.item is not None and target.position is not None
            try:
                check_seek(session.item, target.position)
            except InvalidArgument as exc:
                raise InvalidArgument(exc.message, path=path) from None
        return lambda: self._command(zone, command, target.position)

    async def _play_selected(self, zone: _Zone, uri: str) -> None:
        try:
            await self.play(zone.name, uri=uri)
        except CarmeshError:
            if zone.name == DRIVER:
                await self.signals.declined(uri)
            raise

    async def _switch(self, zone: _Zone, key: str) -> None:
        session = zone.sessions[key]
        self._take_focus(zone, session)
        if session.item is not None:
            await session.play()

    # -- tasks ----------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run *work* in the background; its errors are logged (carmesh errors briefly)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, CarmeshError):
            log.info("media: %s", exc)
        elif exc is not None:
            log.error("a media task failed", exc_info=exc)


def _client(key: str) -> str:
    """The audio focus client id of session *key*."""
    return f"media:{key}"


def _source(zone: _Zone, key: str) -> str:
    """The VSS ``Played.Source`` of session *key*: its item's, else its own."""
    session = zone.sessions[key]
    item = session.item
    return item.source if item is not None else session.source


def _editable(session: MediaSession) -> None:
    if is_app(session.key):
        raise FailedPrecondition(f"the queue of {session.name} belongs to its app")


async def _now(step: Callable[[], None]) -> None:
    step()
