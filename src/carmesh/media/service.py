"""The media service: sessions per source and zone, the audio engine and focus, the sources,
the VSS provider of the media signals, and memory across restarts (``docs/media.md``).

Zones. ``driver`` always (``audio_out``), ``rear`` when ``audio_out_rear`` is not ``off``.
Each zone has its own sessions, audio focus stack, volume and engine output, and one
**active** session: the one its transport and its VSS signals are about.

Sessions. One per source and zone — ``library``, ``radio``, ``podcasts``, ``web``
(``http(s)://`` URIs), ``files`` (``file://`` URIs) — made when first used, and one per app
media session (``app:APP_ID/SESSION_ID``). Playing something in a zone makes its session the
active one, which asks for ``MEDIA`` focus with ``GAIN``, so the previous session (and any
other media) loses focus for good and stops, keeping its queue and position (``Played.Source``
switches back to it). A library track played on its own brings the rest of its album after
it; a browse node (album, artist, genre, folder, the stations, a feed) becomes the queue.

Focus. Changes from :class:`~carmesh.media.focus.AudioFocus` (navigation prompts, the
assistant, calls…) are applied to the session's channel: ``LOSS_TRANSIENT_CAN_DUCK`` ducks by
``duck_db`` (ramped), ``LOSS_TRANSIENT`` pauses until ``GAIN`` comes back (then it plays
again), ``LOSS`` pauses for good. Playing while a call holds focus is refused
(``FailedPrecondition``).

VSS. The service is a provider like the vehicle, under its own principal that may only
provide ``Vehicle.Cabin.Infotainment.Media`` and ``Vehicle.Carmesh.Media`` (the rear zone's
signals are claimed only when that zone exists). It publishes the active session's
now-playing values whenever they change and the position once a second while playing, and
carries out actuations: ``Action`` (``PLAY``, ``STOP`` = pause, ``SKIP_FORWARD``,
``SKIP_BACKWARD``, ``FAST_FORWARD`` +10 s, ``FAST_BACKWARD`` −10 s), ``Volume``,
``SelectedURI`` (play it now), ``Played.Source`` (switch to that source's last session),
``Played.PlaybackRate`` (0 pauses, 1 plays), and the carmesh ``Shuffle``, ``Repeat``
(``OFF``/``ONE``/``ALL``), ``Seek`` (s). An actuation is validated first (a URI that names
nothing, a seek beyond the end, nothing to play: refused with the reason); its work is awaited
for up to :data:`ACCEPT_WAIT` s, so errors reach the caller, and then goes on in the
background (a station that takes long to connect). A selected URI that fails later is
published as ``DeclinedURI``.

Memory. Every change of a session is saved (``state.db``), positions every
:data:`SAVE_INTERVAL` s while playing; at start the sessions come back, and the active one
plays again if it was playing. App sessions are not kept (their app serves the items).

Nothing blocks the event loop: the library scan, SQLite look-ups of browsing and search,
state writes and podcast fetches run in threads; decoding runs in decoder threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

from carmesh.broker import Broker, Principal
from carmesh.errors import (
    CarmeshError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from carmesh.media.control import COMMANDS, MediaEvent, MediaListener
from carmesh.media.decode import Decoder
from carmesh.media.engine import AudioEngine
from carmesh.media.focus import AudioFocus, Change, FocusChange, FocusRequest, Gain, Usage
from carmesh.media.items import (
    SOURCE_INTERNET,
    SOURCE_LIBRARY,
    MediaError,
    MediaItem,
    split_uri,
)
from carmesh.media.library import Library, ScanReport
from carmesh.media.mixer import Channel
from carmesh.media.pcm import BLOCK
from carmesh.media.podcasts import Feed, Podcasts
from carmesh.media.resolve import Resolver
from carmesh.media.session import MediaSession, PlaybackState, check_seek
from carmesh.media.sinks import Sink
from carmesh.media.state import SavedState, StateStore
from carmesh.media.streams import Station, StreamReader, load_stations
from carmesh.settings import Settings
from carmesh.vehicle.provider import Connector, InProcessConnector, ProviderLink

__all__ = ["MEDIA_SCOPES", "MediaService"]

log = logging.getLogger(__name__)

DRIVER = "driver"
REAR = "rear"
#: What the service's principal may do: provide the media signals, nothing else.
MEDIA_SCOPES = "provide:Vehicle.Cabin.Infotainment.Media provide:Vehicle.Carmesh.Media"
#: Seconds between position updates (VSS, WebSocket) while playing.
POSITION_INTERVAL = 1.0
#: Seconds between saves of the positions of playing sessions.
SAVE_INTERVAL = 3.0
#: How far FAST_FORWARD and FAST_BACKWARD move (s).
SKIP_SECONDS = 10.0
#: Seconds an item may take to start (connect, buffer) before it counts as failed.
LOAD_TIMEOUT = 20.0
#: Seconds an actuation waits for its work before it is accepted and goes on in the background.
ACCEPT_WAIT = 2.0
#: The zones' volume until the user sets one.
DEFAULT_VOLUME = 50

#: URI scheme → (session key, name, VSS Played.Source) of the source's session.
SOURCES: dict[str, tuple[str, str, str]] = {
    "library": ("library", "Library", SOURCE_LIBRARY),
    "radio": ("radio", "Radio", SOURCE_INTERNET),
    "podcast": ("podcasts", "Podcasts", SOURCE_INTERNET),
    "http": ("web", "Web", SOURCE_INTERNET),
    "https": ("web", "Web", SOURCE_INTERNET),
    "file": ("files", "Files", SOURCE_LIBRARY),
}
SOURCE_KEYS = {key: (name, source) for key, name, source in SOURCES.values()}

#: Logical signal → path, per zone.
_DRIVER_MEDIA = "Vehicle.Cabin.Infotainment.Media"
_CARMESH = "Vehicle.Carmesh.Media"
_REAR = "Vehicle.Carmesh.Media.Rear"
_EXTRA = {
    "position": "Position",
    "duration": "Duration",
    "state": "State",
    "shuffle": "Shuffle",
    "repeat": "Repeat",
    "seek": "Seek",
    "art": "ArtURI",
    "session": "Session",
    "queue_length": "QueueLength",
    "queue_index": "QueueIndex",
}
PATHS: dict[str, dict[str, str]] = {
    DRIVER: {
        "track": f"{_DRIVER_MEDIA}.Played.Track",
        "artist": f"{_DRIVER_MEDIA}.Played.Artist",
        "album": f"{_DRIVER_MEDIA}.Played.Album",
        "genre": f"{_DRIVER_MEDIA}.Played.Genre",
        "uri": f"{_DRIVER_MEDIA}.Played.URI",
        "source": f"{_DRIVER_MEDIA}.Played.Source",
        "rate": f"{_DRIVER_MEDIA}.Played.PlaybackRate",
        "action": f"{_DRIVER_MEDIA}.Action",
        "volume": f"{_DRIVER_MEDIA}.Volume",
        "selected": f"{_DRIVER_MEDIA}.SelectedURI",
        **{name: f"{_CARMESH}.{leaf}" for name, leaf in _EXTRA.items()},
    },
    REAR: {
        "track": f"{_REAR}.Track",
        "artist": f"{_REAR}.Artist",
        "album": f"{_REAR}.Album",
        "genre": f"{_REAR}.Genre",
        "uri": f"{_REAR}.URI",
        "source": f"{_REAR}.Source",
        "rate": f"{_REAR}.PlaybackRate",
        "action": f"{_REAR}.Action",
        "volume": f"{_REAR}.Volume",
        "selected": f"{_REAR}.SelectedURI",
        **{name: f"{_REAR}.{leaf}" for name, leaf in _EXTRA.items()},
    },
}
#: What each zone claims (patterns).
CLAIMS: dict[str, tuple[str, ...]] = {
    DRIVER: (_DRIVER_MEDIA, f"{_CARMESH}.*"),
    REAR: (_REAR,),
}
DECLINED_URI = f"{_DRIVER_MEDIA}.DeclinedURI"
#: The logical signals that are actuators (in the driver zone; the rear's rate is a sensor).
ACTUATED = ("action", "volume", "selected", "source", "rate", "shuffle", "repeat", "seek")
#: VSS Action values → transport commands.
ACTIONS = {
    "PLAY": "play",
    "STOP": "pause",
    "SKIP_FORWARD": "next",
    "SKIP_BACKWARD": "previous",
    "FAST_FORWARD": "forward",
    "FAST_BACKWARD": "backward",
}


class _ChannelOutput:
    """One session's side of the engine: a mixer :class:`Channel` in its zone (the
    :class:`~carmesh.media.session.Output` of the session)."""

    def __init__(self, service: MediaService, zone: str) -> None:
        self.service = service
        self.zone = zone
        self.session: MediaSession | None = None
        self.channel: Channel | None = None
        #: The item the channel plays, its stream (radio), and the stream's current title.
        self.item: MediaItem | None = None
        self.reader: StreamReader | None = None
        self.stream_title: str | None = None
        self._cued: MediaItem | None = None
        self._asked = False
        self._duck_db = 0.0

    async def load(self, item: MediaItem, position: float) -> None:
        opened = await self.service.resolver.open(item)
        try:
            decoder = Decoder(opened.source, start=position, format=opened.format, name=item.title)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        try:
            await asyncio.wait_for(_started(decoder, item), LOAD_TIMEOUT)
        except TimeoutError:
            decoder.close()
            raise MediaError(f"{item.title} did not start within {LOAD_TIMEOUT:g} s") from None
        except BaseException:
            decoder.close()
            raise
        self._drop()
        channel = Channel(decoder, name=item.title)
        channel.on_needs_next = lambda: self._needs_next(channel)
        channel.on_track_change = lambda index: self._track_changed(channel)
        channel.on_end = lambda: self._ended(channel)
        channel.on_error = lambda exc: self._failed(channel, exc)
        if self._duck_db:
            channel.duck(self._duck_db)
        self.channel, self.item, self.reader = channel, item, opened.reader
        self.stream_title = None
        self.service.engine.play(self.zone, channel)

    async def unload(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self.channel is not None:
            self.service.engine.remove(self.channel)
        self.channel = self.item = self.reader = None
        self.stream_title = None
        self._cued = None
        self._asked = False

    def pause(self) -> None:
        if self.channel is not None:
            self.channel.pause()

    def resume(self) -> None:
        if self.channel is not None:
            self.channel.resume()

    def cue(self, item: MediaItem | None) -> None:
        if item is self._cued:
            return
        self._cued = item
        if self._asked and self.channel is not None:
            self.channel.set_next(self._decoder_for(item))

    def position(self) -> float:
        return self.channel.position if self.channel is not None else 0.0

    @property
    def duration(self) -> float | None:
        return self.channel.duration if self.channel is not None else None

    def duck(self, db: float) -> None:
        self._duck_db = db
        if self.channel is not None:
            self.channel.duck(db)

    def _decoder_for(self, item: MediaItem | None) -> Decoder | None:
        if item is None:
            return None
        try:
            opened = self.service.resolver.open_now(item)
            if opened is None:
                return None
            return Decoder(opened.source, format=opened.format, name=item.title)
        except CarmeshError as exc:
            log.info("cannot prepare %s to follow: %s", item.title, exc)
            return None

    def _needs_next(self, channel: Channel) -> Decoder | None:
        if channel is not self.channel:
            return None
        self._asked = True
        return self._decoder_for(self._cued)

    def _track_changed(self, channel: Channel) -> None:
        if channel is not self.channel:
            return
        self.item, self._cued, self._asked = self._cued, None, False
        self.stream_title = None
        if self.session is not None:
            self.session.advanced()

    def _ended(self, channel: Channel) -> None:
        if channel is self.channel:
            self.channel = self.item = self.reader = None
            if self.session is not None:
                self.session.ended()

    def _failed(self, channel: Channel, exc: MediaError) -> None:
        if channel is self.channel:
            self.channel = self.item = self.reader = None
            if self.session is not None:
                self.session.failed(exc.message)


async def _started(decoder: Decoder, item: MediaItem) -> None:
    """Return once *decoder* has audio; its MediaError when it failed before any."""
    await decoder.wait_buffered(BLOCK)
    if decoder.buffered == 0:
        if decoder.error is not None:
            raise decoder.error
        if decoder.finished:
            raise MediaError(f"{item.title} holds no audio to play")


@dataclass
class _Zone:
    name: str
    paths: dict[str, str]
    sessions: dict[str, MediaSession] = field(default_factory=dict)
    outputs: dict[str, _ChannelOutput] = field(default_factory=dict)
    active: str | None = None
    volume: int = DEFAULT_VOLUME
    #: Session keys, the most recently active first (for switching by source).
    history: list[str] = field(default_factory=list)
    #: Sessions paused by a transient focus loss, to play again on GAIN.
    resume: set[str] = field(default_factory=set)
    #: The last position sought to (the current value of ``Seek``).
    seek: float = 0.0
    published: dict[str, Any] = field(default_factory=dict)

    @property
    def session(self) -> MediaSession | None:
        return None if self.active is None else self.sessions.get(self.active)


class MediaService:
    """The media service as a runtime service (start/serve/stop) and the implementation of
    :class:`~carmesh.media.control.MediaControl` and of the app host's
    :class:`~carmesh.apps.host.MediaBridge`; see the module's description.

    *sinks* replaces the sink specs of the settings (tests); *realtime* False renders as
    fast as decoders deliver (offline tests); *connector* replaces the in-process link to
    the broker (e.g. a gRPC provider stream); *apps_host* is the app host whose media
    sessions it plays.
    """

    name = "media"

    def __init__(
        self,
        settings: Settings,
        broker: Broker,
        *,
        apps_host: Any = None,
        sinks: Mapping[str, str | Sink] | None = None,
        realtime: bool = True,
        connector: Connector | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.apps_host = apps_host
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
        self.resolver = Resolver(
            library=lambda: self.library,
            stations=lambda: self._stations,
            podcasts=lambda: self.podcasts,
            app_items=self._app_item,
            on_metadata=self._on_stream_metadata,
        )
        self.connector = connector or InProcessConnector(
            broker, Principal.from_scopes("media", MEDIA_SCOPES)
        )
        self._link: ProviderLink | None = None
        self._zones = {name: _Zone(name, PATHS[name]) for name in outputs}
        self._actuators = {
            path: (zone, name)
            for zone in self._zones.values()
            for name, path in zone.paths.items()
            if name in ACTUATED
        }
        self._listeners: list[MediaListener] = []
        self._dirty: set[str] = set()
        self._dirty_sessions: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._scanning: asyncio.Task[ScanReport | None] | None = None
        self._scan_progress: tuple[int, int] = (0, 0)
        self._last_scan: ScanReport | None = None
        self._app_sessions: dict[tuple[str, str], tuple[str, str]] = {}
        self._detach_apps: Callable[[], None] | None = None
        self._stop_focus: Callable[[], None] | None = None
        self._started = False

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the state, the library and the sources, start the engine, claim and publish
        the signals, bring the last sessions back; the library scan goes on afterwards."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stations = await asyncio.to_thread(load_stations, self.settings.radio_stations)
        self._stations = {station.id: station for station in stations}
        saved = await asyncio.to_thread(self.store.open)
        self.library = await asyncio.to_thread(Library, self.directory / "library.db")
        self.podcasts = await self._open_podcasts()
        await self.engine.start()
        self._stop_focus = self.focus.listen(self._on_focus)
        for zone in self._zones.values():
            self.engine.set_volume(zone.name, zone.volume)
        resume = self._restore(saved)
        link = await self.connector.connect("media", self)
        self._link = link
        for zone in self._zones.values():
            await link.claim(CLAIMS[zone.name])
        for zone in self._zones.values():
            await self._publish(zone)
        if self.apps_host is not None:
            self._detach_apps = self.apps_host.attach_media(self)
        self._loops = [
            asyncio.create_task(self._publisher(), name="media-publisher"),
            asyncio.create_task(self._ticker(), name="media-ticker"),
        ]
        self._scanning = asyncio.create_task(self._scan(), name="media-library-scan")
        for zone_name in resume:
            self._spawn(self._resume(self._zones[zone_name]))
        self._started = True

    async def serve(self) -> None:
        return None

    async def stop(self) -> None:
        """Save every session where it is, then stop playing and close everything."""
        self._started = False
        if self._detach_apps is not None:
            self._detach_apps()
            self._detach_apps = None
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        if self._scanning is not None:
            self._scanning.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops = []
        with contextlib.suppress(Exception):
            for zone in self._zones.values():
                for key, session in zone.sessions.items():
                    if _keeps(key):
                        await self.store.save_session(zone.name, session.snapshot())
                await self.store.save_zone(zone.name, zone.active, zone.volume)
        await self.store.close()
        if self._stop_focus is not None:
            self._stop_focus()
        await self.engine.stop()
        if self._link is not None:
            with contextlib.suppress(Exception):
                await self._link.close()
            self._link = None
        if self._scanning is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._scanning
            self._scanning = None
        if self.podcasts is not None:
            podcasts, self.podcasts = self.podcasts, None
            await asyncio.to_thread(podcasts.close)
        if self.library is not None:
            library, self.library = self.library, None
            await asyncio.to_thread(library.close)

    async def _open_podcasts(self) -> Podcasts:
        return await asyncio.to_thread(Podcasts, self.directory / "podcasts.db")

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
        return (
            f"{', '.join(outs)}; library {tracks} tracks{scan}; "
            f"{len(self._stations)} radio stations"
        )

    def _restore(self, saved: SavedState) -> list[str]:
        """Bring saved sessions back (paused); the zones whose active one was playing."""
        resume: list[str] = []
        for (zone_name, key), snapshot in saved.sessions.items():
            zone = self._zones.get(zone_name)
            if zone is None or not _keeps(key) or key not in SOURCE_KEYS:
                continue
            session = self._session(zone, key)
            try:
                playing = session.restore(snapshot)
            except CarmeshError as exc:
                log.warning("could not restore the %s session of zone %s: %s", key, zone_name, exc)
                continue
            record = saved.zones.get(zone_name)
            if playing and record is not None and record.active == key:
                resume.append(zone_name)
        for zone_name, record in saved.zones.items():
            zone = self._zones.get(zone_name)
            if zone is None:
                continue
            if record.volume is not None and 0 <= record.volume <= 100:
                zone.volume = record.volume
                self.engine.set_volume(zone.name, zone.volume)
            if record.active in zone.sessions:
                zone.active = record.active
            zone.history = sorted(zone.sessions, key=lambda key: key != zone.active)
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
        if not folders or self.library is None:
            return None
        library = self.library

        def progress(done: int, total: int) -> None:
            self._scan_progress = (done, total)

        try:
            report = await asyncio.to_thread(library.scan, folders, progress)
        except Exception:
            log.exception("the library scan failed")
            return None
        self._last_scan = report
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

    # -- sessions and zones ---------------------------------------------------------------

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
        default_name, source = SOURCE_KEYS.get(key, (name or key, SOURCE_INTERNET))
        output = _ChannelOutput(self, zone.name)
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
        if state is None:
            result = self.focus.request(FocusRequest(client, Usage.MEDIA, Gain.GAIN, zone.name))
            if result.value == "failed":
                raise FailedPrecondition(
                    f"media cannot play in the {zone.name} zone now: another sound (a call, "
                    "an emergency message) has the audio focus"
                )
        self._set_active(zone, session)

    def _set_active(self, zone: _Zone, session: MediaSession) -> None:
        if zone.active == session.key:
            return
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

    # -- focus ----------------------------------------------------------------------------

    def _on_focus(self, change: FocusChange) -> None:
        if not change.client_id.startswith("media:"):
            return
        zone = self._zones.get(change.zone)
        key = change.client_id.removeprefix("media:")
        session = None if zone is None else zone.sessions.get(key)
        if zone is None or session is None:
            return
        output = zone.outputs[key]
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

    # -- the state ------------------------------------------------------------------------

    @property
    def zones(self) -> list[str]:
        return list(self._zones)

    def state(self) -> dict[str, Any]:
        return {"zones": {name: self._zone_state(zone) for name, zone in self._zones.items()}}

    def zone_state(self, zone: str) -> dict[str, Any]:
        return self._zone_state(self._zone(zone))

    def _zone_state(self, zone: _Zone) -> dict[str, Any]:
        session = zone.session
        item = None if session is None else session.item
        output = None if session is None else zone.outputs[session.key]
        item_json: dict[str, Any] | None = None
        duration = None
        if item is not None:
            item_json = item.as_json()
            if output is not None and output.stream_title and output.item is item:
                item_json["stream_title"] = output.stream_title
            duration = item.duration
            if duration is None and not item.live and output is not None:
                duration = output.duration
        focus = None
        if session is not None:
            change = self.focus.state(_client(session.key), zone.name)
            focus = None if change is None else change.value
        return {
            "session": None if session is None else session.name,
            "session_key": None if session is None else session.key,
            "state": PlaybackState.STOPPED.value if session is None else session.state.value,
            "item": item_json,
            "position": 0.0 if session is None else round(session.position, 3),
            "duration": duration,
            "volume": zone.volume,
            "shuffle": False if session is None else session.shuffle,
            "repeat": "off" if session is None else session.repeat.value,
            "queue_index": None if session is None else session.index,
            "queue_length": 0 if session is None else len(session),
            "focus": focus,
            "error": None if session is None else session.error,
        }

    def _values(self, zone: _Zone) -> dict[str, Any]:
        """The zone's signals as they should be now."""
        state = self._zone_state(zone)
        item = state["item"] or {}
        session = zone.session
        paths = zone.paths
        playing = state["state"] in ("playing", "buffering")
        source = item.get("source") or (session.source if session is not None else "UNKNOWN")
        return {
            paths["track"]: item.get("stream_title") or item.get("title", ""),
            paths["artist"]: item.get("artist", ""),
            paths["album"]: item.get("album", ""),
            paths["genre"]: item.get("genre", ""),
            paths["uri"]: item.get("uri", ""),
            paths["source"]: source,
            paths["rate"]: 1.0 if state["state"] == "playing" else 0.0,
            paths["action"]: "PLAY" if playing else "STOP",
            paths["volume"]: zone.volume,
            paths["selected"]: item.get("uri", ""),
            paths["position"]: float(state["position"]),
            paths["duration"]: float(state["duration"] or 0.0),
            paths["state"]: state["state"],
            paths["shuffle"]: state["shuffle"],
            paths["repeat"]: state["repeat"].upper(),
            paths["seek"]: zone.seek,
            paths["art"]: item.get("art") or "",
            paths["session"]: state["session"] or "",
            paths["queue_length"]: state["queue_length"],
            paths["queue_index"]: state["queue_index"] or 0,
        }

    async def _publish(self, zone: _Zone, only: Iterable[str] | None = None) -> None:
        link = self._link
        if link is None:
            return
        values = self._values(zone)
        if only is not None:
            wanted = set(only)
            values = {path: v for path, v in values.items() if path in wanted}
        changed = {path: v for path, v in values.items() if zone.published.get(path) != v}
        if not changed:
            return
        try:
            await link.publish(changed)
        except CarmeshError as exc:
            log.warning("could not publish the media signals of zone %s: %s", zone.name, exc)
            return
        zone.published.update(changed)

    async def _publisher(self) -> None:
        """Publish, save and announce what changed (one pass per wake-up, folding bursts)."""
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
                    if session is not None and _keeps(key):
                        await self.store.save_session(zone_name, session.snapshot())
                for name in zones:
                    zone = self._zones[name]
                    await self.store.save_zone(name, zone.active, zone.volume)
            except Exception:
                log.exception("could not save the media state")

    async def _ticker(self) -> None:
        """Once a second: positions of what plays; every few seconds: save them."""
        last_save = time.monotonic()
        while True:
            await asyncio.sleep(POSITION_INTERVAL)
            playing = [z for z in self._zones.values() if z.session and z.session.playing]
            for zone in playing:
                await self._publish(zone, [zone.paths["position"], zone.paths["duration"]])
            if playing:
                self._emit(position_only=True)
            if time.monotonic() - last_save >= SAVE_INTERVAL:
                last_save = time.monotonic()
                for zone in playing:
                    session = zone.session
                    assert session is not None
                    if not _keeps(session.key):
                        continue
                    snapshot = session.snapshot()
                    try:
                        await self.store.save_position(
                            zone.name,
                            session.key,
                            snapshot["cursor"],
                            snapshot["position"],
                            True,
                        )
                    except Exception:
                        log.exception("could not save the media position")
                    await self._save_episode_position(session)

    async def _save_episode_position(self, session: MediaSession) -> None:
        item = session.item
        podcasts = self.podcasts
        if podcasts is None or item is None or not item.uri.startswith("podcast:"):
            return
        duration = item.duration or session.duration
        try:
            await asyncio.to_thread(
                podcasts.save_position, item.uri.rpartition("/")[2], session.position, duration
            )
        except Exception:
            log.exception("could not save the position of %s", item.title)

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

    def _on_stream_metadata(self, item: MediaItem, values: dict[str, str]) -> None:
        title = values.get("title") or None
        for zone in self._zones.values():
            for output in zone.outputs.values():
                if output.item is item and output.stream_title != title:
                    output.stream_title = title
                    self._changed(zone.name)

    # -- what to play ---------------------------------------------------------------------

    async def _items_for_uri(self, uri: str) -> tuple[str, list[MediaItem], int, float]:
        """(session key, queue, start, position) that playing *uri* makes."""
        item = await self.resolver.item(uri)
        scheme, _ = split_uri(uri)
        if scheme == "app":
            raise InvalidArgument("app items play from their app's session (play its node)")
        key = SOURCES[scheme][0]
        if scheme == "library" and self.library is not None:
            album = item.extra.get("album_id")
            tracks = await asyncio.to_thread(self.library.tracks, album=album)
            uris = [t.uri for t in tracks]
            if item.uri in uris:
                return key, tracks, uris.index(item.uri), 0.0
        position = 0.0
        if scheme == "podcast" and self.podcasts is not None:
            position = await asyncio.to_thread(self.podcasts.position, uri.rpartition("/")[2])
        return key, [item], 0, position

    async def _items_for_node(self, node: str) -> tuple[str, list[MediaItem]]:
        """(session key, items) of a browse node."""
        if node == "library" or node.startswith("library/"):
            library = self._library()
            await asyncio.to_thread(library.browse, node)  # NotFound for a bad node
            kind, _, name = node.removeprefix("library").removeprefix("/").partition("/")
            filters: dict[str, Any] = {}
            if kind == "artist":
                filters["artist"] = name
            elif kind == "album":
                filters["album"] = int(name)
            elif kind == "genre":
                filters["genre"] = name
            elif kind == "folder":
                filters["folder"] = os.fsdecode(unquote_to_bytes(name))
            return "library", await asyncio.to_thread(lambda: library.tracks(**filters))
        if node == "radio":
            return "radio", [station.item() for station in self._stations.values()]
        if node == "podcasts" or node.startswith("podcasts/"):
            return "podcasts", await self._podcast_episodes(node)
        if node.startswith("apps/"):
            app_id, _, session_id = node.removeprefix("apps/").partition("/")
            key = self._app_key(app_id, session_id)
            for zone in self._zones.values():
                if key in zone.sessions:
                    return key, zone.sessions[key].items
        raise NotFound(f"there is no browse node {node!r} to play")

    def _library(self) -> Library:
        if self.library is None:
            raise Unavailable("the music library is not open")
        return self.library

    # -- MediaControl ---------------------------------------------------------------------

    async def browse(self, node: str = "") -> dict[str, Any]:
        if node in ("", "root"):
            return {
                "node": {"id": "", "title": "Media", "kind": "folder"},
                "children": [
                    {"id": "library", "title": "Library", "kind": "folder"},
                    {"id": "radio", "title": "Radio", "kind": "folder"},
                    {"id": "podcasts", "title": "Podcasts", "kind": "folder"},
                    {"id": "apps", "title": "Apps", "kind": "folder"},
                ],
            }
        if node == "library" or node.startswith("library/"):
            return await asyncio.to_thread(self._library().browse, node)
        if node == "radio":
            return {
                "node": {"id": "radio", "title": "Radio", "kind": "folder"},
                "children": [_item_child(s.item(), s.genre) for s in self._stations.values()],
            }
        if node == "podcasts" or node.startswith("podcasts/"):
            return await self._browse_podcasts(node)
        if node == "apps":
            children = []
            for zone in self._zones.values():
                for key, session in zone.sessions.items():
                    if key.startswith("app:"):
                        app_id, _, session_id = key.removeprefix("app:").partition("/")
                        children.append(
                            {
                                "id": f"apps/{app_id}/{session_id}",
                                "title": session.name,
                                "kind": "folder",
                                "subtitle": app_id,
                            }
                        )
            return {"node": {"id": "apps", "title": "Apps", "kind": "folder"}, "children": children}
        if node.startswith("apps/"):
            app_id, _, session_id = node.removeprefix("apps/").partition("/")
            key = self._app_key(app_id, session_id)
            for zone in self._zones.values():
                found = zone.sessions.get(key)
                if found is not None:
                    return {
                        "node": {"id": node, "title": found.name, "kind": "folder"},
                        "children": [_item_child(item) for item in found.items],
                    }
        raise NotFound(f"there is no browse node {node!r}")

    async def search(self, text: str) -> dict[str, Any]:
        items: list[MediaItem] = []
        if self.library is not None:
            items += await asyncio.to_thread(self.library.search, text)
        needle = text.casefold()
        items += [
            s.item()
            for s in self._stations.values()
            if needle in s.name.casefold() or needle in s.genre.casefold()
        ]
        if self.podcasts is not None:
            episodes = await asyncio.to_thread(self.podcasts.search, text)
            items += [episode.item() for episode in episodes]
        return {"items": [item.as_json() for item in items]}

    async def play(
        self, zone: str, *, uri: str | None = None, node: str | None = None
    ) -> dict[str, Any]:
        target = self._zone(zone)
        if (uri is None) == (node is None):
            raise InvalidArgument('give either "uri" or "node" to play')
        position = 0.0
        start = 0
        if uri is not None:
            key, items, start, position = await self._items_for_uri(uri)
        else:
            assert node is not None
            key, items = await self._items_for_node(node)
            if not items:
                raise FailedPrecondition(f"there is nothing to play in {node!r}")
        session = self._session(target, key)
        self._take_focus(target, session)
        if key.startswith("app:"):
            if session.state is PlaybackState.PLAYING:
                return self.zone_state(zone)
            await session.play()
        else:
            await session.set_queue(items, start, play=True, position=position)
        self._notify_app(session, "play")
        return self.zone_state(zone)

    async def transport(
        self, zone: str, command: str, position: float | None = None, index: int | None = None
    ) -> dict[str, Any]:
        target = self._zone(zone)
        if command not in COMMANDS:
            raise InvalidArgument(f"command must be one of {', '.join(COMMANDS)}")
        if index is not None and command != "play":
            raise InvalidArgument("a queue index goes only with the play command")
        await self._command(target, command, position, index)
        return self.zone_state(zone)

    async def _command(
        self,
        zone: _Zone,
        command: str,
        position: float | None = None,
        index: int | None = None,
    ) -> None:
        session = self._active(zone)
        if command == "toggle":
            command = "pause" if session.state is PlaybackState.PLAYING else "play"
        if command == "play":
            self._take_focus(zone, session)
            if index is not None:
                self._check_editable(session)
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
                target = check_seek(item, position)
                await session.seek(target)
            else:
                step = SKIP_SECONDS if command == "forward" else -SKIP_SECONDS
                await session.skip(step)
                target = session.position
            zone.seek = round(target, 3)
            command = "seek"
            self._changed(zone.name)
        else:
            raise InvalidArgument(f"{command!r} is not a transport command")
        self._notify_app(session, command)

    def queue(self, zone: str) -> dict[str, Any]:
        target = self._zone(zone)
        session = target.session
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
            item = await self.resolver.item(uri)
            scheme, _ = split_uri(uri)
            if scheme == "app":
                raise InvalidArgument("app items belong to their app's queue")
            key, items = SOURCES[scheme][0], [item]
        elif node is not None and uri is None:
            key, items = await self._items_for_node(node)
            if key.startswith("app:"):
                raise InvalidArgument("an app's queue is its own; play its node instead")
            if not items:
                raise FailedPrecondition(f"there is nothing to add in {node!r}")
        else:
            raise InvalidArgument('give either "uri" or "node" to add')
        session = target.session
        if session is None:
            session = self._session(target, key)
            self._set_active(target, session)
        if session.key.startswith("app:"):
            raise FailedPrecondition(
                f"the queue of {session.name} belongs to its app; play something else first"
            )
        await session.enqueue(items, next=next)
        return self.queue(zone)

    async def remove(self, zone: str, index: int) -> dict[str, Any]:
        target = self._zone(zone)
        session = self._active(target)
        self._check_editable(session)
        await session.remove(index)
        return self.queue(zone)

    async def move(self, zone: str, source: int, target: int) -> dict[str, Any]:
        found = self._zone(zone)
        session = self._active(found)
        self._check_editable(session)
        await session.move(source, target)
        return self.queue(zone)

    @staticmethod
    def _check_editable(session: MediaSession) -> None:
        if session.key.startswith("app:"):
            raise FailedPrecondition(f"the queue of {session.name} belongs to its app")

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
        return self.zone_state(zone)

    def _set_volume(self, zone: _Zone, volume: int) -> None:
        zone.volume = volume
        self.engine.set_volume(zone.name, volume)
        self._changed(zone.name)

    async def art(self, key: str) -> tuple[bytes, str]:
        return await asyncio.to_thread(self._library().art, key)

    def stations(self) -> dict[str, Any]:
        return {
            "stations": [
                {"id": s.id, "name": s.name, "genre": s.genre, "uri": s.uri}
                for s in self._stations.values()
            ]
        }

    async def add_podcast(self, url: str) -> dict[str, Any]:
        feed = await self._require_podcasts().subscribe(url)
        self._emit()
        return _feed_json(feed)

    async def refresh_podcasts(self) -> dict[str, Any]:
        feeds = await self._require_podcasts().refresh()
        self._emit()
        return {"feeds": [_feed_json(feed) for feed in feeds]}

    def _require_podcasts(self) -> Podcasts:
        if self.podcasts is None:
            raise Unavailable("the podcasts are not open")
        return self.podcasts

    async def _browse_podcasts(self, node: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._require_podcasts().browse, node)

    async def _podcast_episodes(self, node: str) -> list[MediaItem]:
        podcasts = self._require_podcasts()
        prefix = "podcasts/feed/"
        if node.startswith(prefix):
            feed = await asyncio.to_thread(podcasts.feed, node[len(prefix) :])
            return [episode.item() for episode in feed.episodes]
        if node == "podcasts":
            feeds = await asyncio.to_thread(podcasts.feeds)
            return [episode.item() for feed in feeds for episode in feed.episodes]
        raise NotFound(f"there is no browse node {node!r} to play")

    async def scan(self) -> dict[str, Any]:
        library = self._library()
        if self._scanning is not None and not self._scanning.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._scanning)
        report = await asyncio.to_thread(library.scan, list(self.settings.media_library))
        self._last_scan = report
        self._emit()
        return {**report.as_json(), "tracks": await asyncio.to_thread(library.count)}

    async def wait_scanned(self) -> ScanReport | None:
        """Wait for the scan started with the service (tests, the banner)."""
        if self._scanning is None:
            return None
        return await asyncio.shield(self._scanning)

    # -- VSS actuation ----------------------------------------------------------------------

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        """Carry out actuations of the media actuators (see the module's description)."""
        work: list[Callable[[], Coroutine[Any, Any, None]]] = []
        for path, value in targets.items():
            found = self._actuators.get(path)
            if found is None:
                raise InvalidArgument(f"the media service does not actuate {path}", path=path)
            zone, name = found
            work.append(await self._actuation(zone, name, path, value))
        for step in work:
            await self._accept(step())

    async def _accept(self, work: Coroutine[Any, Any, None]) -> None:
        task = self._spawn(work)
        done, _ = await asyncio.wait({task}, timeout=ACCEPT_WAIT)
        if done:
            task.result()

    async def _actuation(
        self, zone: _Zone, name: str, path: str, value: Any
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        """Check one target; the work that carries it out."""
        if name == "volume":
            volume = int(value)
            return lambda: self._quick(lambda: self._set_volume(zone, volume))
        if name == "action":
            command = ACTIONS.get(value)
            if command is None:
                raise InvalidArgument(
                    f"{path} cannot be set to {value!r}; use PLAY, STOP, SKIP_FORWARD, "
                    "SKIP_BACKWARD, FAST_FORWARD or FAST_BACKWARD",
                    path=path,
                )
            session = self._active(zone)
            if command == "play" and session.item is None:
                raise FailedPrecondition(f"the queue of {session.name} is empty", path=path)
            return lambda: self._command(zone, command)
        if name == "rate":
            rate = float(value)
            if rate not in (0.0, 1.0):
                raise InvalidArgument(
                    f"{path}: carmesh plays at rate 1.0 or pauses at 0, not {rate:g}", path=path
                )
            self._active(zone)
            return lambda: self._command(zone, "play" if rate else "pause")
        if name == "selected":
            uri = str(value)
            await self.resolver.item(uri)  # InvalidArgument, NotFound before accepting
            return lambda: self._play_selected(zone, uri)
        if name == "source":
            key = next(
                (
                    k
                    for k in zone.history
                    if k in zone.sessions and _source_of(zone.sessions[k]) == value
                ),
                None,
            )
            if key is None:
                raise FailedPrecondition(
                    f"there is no {value} session in the {zone.name} zone to switch to", path=path
                )
            return lambda: self._switch(zone, key)
        session = self._active(zone)
        if name == "shuffle":
            on = bool(value)
            return lambda: session.set_shuffle(on)
        if name == "repeat":
            repeat = str(value).lower()
            return lambda: session.set_repeat(repeat)
        item = session.item
        if item is None:
            raise FailedPrecondition(f"the queue of {session.name} is empty", path=path)
        try:
            seconds = check_seek(item, float(value))
        except InvalidArgument as exc:
            raise InvalidArgument(exc.message, path=path) from None
        return lambda: self._command(zone, "seek", seconds)

    @staticmethod
    async def _quick(step: Callable[[], None]) -> None:
        step()

    async def _play_selected(self, zone: _Zone, uri: str) -> None:
        try:
            await self.play(zone.name, uri=uri)
        except CarmeshError:
            if zone.name == DRIVER and self._link is not None:
                with contextlib.suppress(CarmeshError):
                    await self._link.publish({DECLINED_URI: uri})
            raise

    async def _switch(self, zone: _Zone, key: str) -> None:
        session = zone.sessions[key]
        self._take_focus(zone, session)
        if session.item is not None:
            await session.play()

    # -- app media sessions (MediaBridge) -----------------------------------------------------

    @staticmethod
    def _app_key(app_id: str, session_id: str) -> str:
        return f"app:{app_id}/{session_id}"

    def _app_session(self, app_id: str, session_id: str) -> tuple[_Zone, MediaSession]:
        found = self._app_sessions.get((app_id, session_id))
        if found is None:
            raise NotFound(f"app {app_id} has no media session {session_id!r}")
        zone = self._zones[found[0]]
        return zone, zone.sessions[found[1]]

    def _app_item(self, app_id: str, item_id: str) -> MediaItem | None:
        uri = f"app:{app_id}/{item_id}"
        for (owner, _), (zone_name, key) in self._app_sessions.items():
            if owner != app_id:
                continue
            for item in self._zones[zone_name].sessions[key].items:
                if item.uri == uri:
                    return item
        return None

    def app_session(self, app_id: str, session_id: str, name: str, zone: str) -> None:
        target = self._zone(zone)
        key = self._app_key(app_id, session_id)
        self._session(target, key, name)
        self._app_sessions[(app_id, session_id)] = (target.name, key)
        self._emit()

    async def app_queue(
        self,
        app_id: str,
        session_id: str,
        items: list[dict[str, Any]],
        start: int,
        play: bool,
    ) -> dict[str, Any]:
        zone, session = self._app_session(app_id, session_id)
        queue = [
            MediaItem(
                uri=f"app:{app_id}/{entry['id']}",
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
            self._take_focus(zone, session)
        await session.set_queue(queue, start, play=play)
        return self._zone_state(zone)

    async def app_state(
        self,
        app_id: str,
        session_id: str,
        state: str | None,
        index: int | None,
        position: float | None,
    ) -> dict[str, Any]:
        zone, session = self._app_session(app_id, session_id)
        if index is not None:
            await session.go_to(index)
        if position is not None:
            await session.seek(position)
        if state == "playing":
            self._take_focus(zone, session)
            await session.play()
        elif state == "paused":
            await session.pause()
        return self._zone_state(zone)

    def app_gone(self, app_id: str) -> None:
        for (owner, session_id), (zone_name, key) in list(self._app_sessions.items()):
            if owner != app_id:
                continue
            del self._app_sessions[(owner, session_id)]
            zone = self._zones[zone_name]
            session = zone.sessions.pop(key)
            zone.outputs.pop(key)
            zone.history = [k for k in zone.history if k != key]
            zone.resume.discard(key)
            self.focus.abandon(_client(key), zone_name)
            if zone.active == key:
                zone.active = None
            self._spawn(session.clear())
            self._changed(zone_name)

    def _notify_app(self, session: MediaSession, command: str) -> None:
        if self.apps_host is None or not session.key.startswith("app:"):
            return
        app_id, _, session_id = session.key.removeprefix("app:").partition("/")
        payload: dict[str, Any] = {"command": command, "index": session.index}
        if command == "seek":
            payload["position"] = round(session.position, 3)
        try:
            self.apps_host.media_command(app_id, session_id, payload)
        except Exception:
            log.exception("could not tell app %s of a media command", app_id)

    # -- tasks ----------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
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
    """The focus client id of session *key*."""
    return f"media:{key}"


def _keeps(key: str) -> bool:
    """Whether session *key* is saved across restarts (app sessions are not)."""
    return not key.startswith("app:")


def _source_of(session: MediaSession) -> str:
    item = session.item
    return item.source if item is not None else session.source


def _item_child(item: MediaItem, subtitle: str | None = None) -> dict[str, Any]:
    child: dict[str, Any] = {"id": item.uri, "title": item.title, "kind": "item"}
    text = item.artist if subtitle is None else subtitle
    if text:
        child["subtitle"] = text
    if item.art:
        child["art"] = item.art
    child["uri"] = item.uri
    return child


def _feed_json(feed: Feed) -> dict[str, Any]:
    return {
        "id": feed.id,
        "url": feed.url,
        "title": feed.title,
        "author": feed.author,
        "image": feed.image,
        "node": f"podcasts/feed/{feed.id}",
        "episodes": [
            {
                **episode.item().as_json(),
                "id": episode.id,
                "published": None if episode.published is None else episode.published.isoformat(),
            }
            for episode in feed.episodes
        ],
    }
