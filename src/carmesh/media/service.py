"""The media service: sessions per source and zone on the audio engine, audio focus applied to
them, the VSS provider of the media signals, and memory across restarts (``docs/media.md``).

This module composes the parts and runs them (start and stop, the library scan, publishing and
saving what changed): the engine and audio focus, the sources (library, stations, podcasts:
:mod:`~carmesh.media.sources`), the zones with their sessions (:mod:`~carmesh.media.zones`),
the sounds played under audio focus (:mod:`~carmesh.media.sounds`), the apps' sessions
(:mod:`~carmesh.media.app_media`), the
:class:`~carmesh.media.control.MediaControl` methods (:mod:`~carmesh.media.commands`) and the
VSS actuations (:mod:`~carmesh.media.actuation`).

VSS (:mod:`carmesh.media.signals`). The service is a provider like the vehicle, under its own
principal that may only provide the media signals. It publishes a zone's signals whenever its
state changes and the position once a second while playing.

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
from typing import TYPE_CHECKING, Any

from carmesh.broker import Broker, Principal
from carmesh.errors import CarmeshError, InvalidArgument
from carmesh.media.actuation import Actuations
from carmesh.media.app_media import AppSessions, is_app
from carmesh.media.commands import MediaCommands
from carmesh.media.control import MediaListener
from carmesh.media.engine import AudioEngine
from carmesh.media.focus import AudioFocus
from carmesh.media.library import Library, ScanReport
from carmesh.media.podcasts import Podcasts
from carmesh.media.resolve import Resolver
from carmesh.media.session import MediaSession
from carmesh.media.signals import DRIVER, MEDIA_SCOPES, PATHS, REAR, SignalLink, signal_values
from carmesh.media.sinks import Sink
from carmesh.media.sounds import Sounds
from carmesh.media.sources import Sources
from carmesh.media.state import StateStore
from carmesh.media.stations import Station, load_stations
from carmesh.media.zones import Zone, Zones
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


class MediaService(MediaCommands):
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
            on_metadata=lambda item, values: self._zones.on_stream_metadata(item, values),
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
        self._zones = Zones(outputs, self.engine, self.focus, self.resolver, settings, self._spawn)
        self._sounds = Sounds(
            self.engine, self.focus, self.resolver, outputs, duck_db=settings.duck_db
        )
        self.actuations = Actuations(self)
        self._listeners: list[MediaListener] = []
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
        self._undo.append(self.focus.listen(self._zones.on_focus))
        self._undo.append(self.focus.listen(self._sounds.on_focus))
        resume = self._zones.restore(saved)
        await self.signals.open(self.actuations, self._zones)
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
        self._sounds.close()  # after the listeners: nothing resumes on the way out
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

    async def _resume(self, zone: Zone) -> None:
        session = zone.session
        if session is None:
            return
        try:
            self._zones.take_focus(zone, session)
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

    # -- signals and memory ---------------------------------------------------------------

    async def _publish(self, zone: Zone, *only: str) -> None:
        session = zone.session
        values = signal_values(
            PATHS[zone.name],
            self._zones.state(zone),
            source=session.source if session is not None else "UNKNOWN",
            seek=zone.seek,
        )
        if only:
            values = {PATHS[zone.name][name]: values[PATHS[zone.name][name]] for name in only}
        await self.signals.publish(zone.name, values)

    async def _publisher(self) -> None:
        """Publish, announce and save what changed (one pass per wake-up, folding bursts)."""
        while True:
            zones, sessions = await self._zones.changes()
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
