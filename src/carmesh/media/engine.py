"""The playback engine: one mixer and one sink per zone, rendered in 10 ms blocks.

Each zone has a render task paced on the event loop's clock: it renders one
:data:`~carmesh.media.pcm.BLOCK` every 10 ms on a drift-free schedule. After a stall it
catches up by rendering up to :data:`MAX_CATCH_UP` blocks back to back; a longer stall skips
the rest of the missed blocks and counts one underrun. Rendering only copies decoded frames
and does arithmetic on them; decoding happens in each decoder's thread.

``frames_rendered(zone)`` is the zone's output sample clock: the number of frames handed to
its sink so far. A change made on the event loop (``duck``, ``pause``, ``play``…) takes effect
in the next block rendered, which starts at exactly the frame ``frames_rendered`` returns
right after the change — so tests and benchmarks can find it in the output.

With ``realtime=False`` (tests, offline rendering) a zone with a playing channel renders as
fast as its decoders deliver, waiting for them instead of underrunning; a zone with nothing
playing renders silence in real time.

A sink that fails while running is logged once, reported to listeners and replaced by the
null sink: the car keeps going without sound in that zone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from carmesh.errors import NotFound
from carmesh.media.items import MediaError
from carmesh.media.mixer import DEFAULT_RAMP_MS, Channel, Mixer
from carmesh.media.pcm import BLOCK, RATE
from carmesh.media.sinks import NullSink, Sink, open_sink, parse_spec

log = logging.getLogger(__name__)

#: Blocks rendered back to back to catch up after a stall before the rest are skipped.
MAX_CATCH_UP = 5
PERIOD = BLOCK / RATE

SINK_FAILED = "sink_failed"
UNDERRUN = "underrun"


@dataclass(frozen=True)
class EngineEvent:
    """Something listeners hear about: *kind* is ``sink_failed`` or ``underrun``."""

    zone: str
    kind: str
    message: str


@dataclass
class _Zone:
    name: str
    output: str | Sink
    mixer: Mixer
    sink: Sink = field(default_factory=NullSink)
    frames: int = 0
    underruns: int = 0
    skipped: int = 0
    task: asyncio.Task[None] | None = None


class AudioEngine:
    """Zones (name → sink spec or a :class:`Sink` instance) with their mixers and sinks.

    Specs are checked at construction (ConfigError); sinks open in :meth:`start` — one that
    cannot be opened is logged and replaced by null. *ramp_ms* is the length of every gain
    ramp of the channels played here (unless a channel has its own) and of volume changes.
    """

    def __init__(
        self,
        zones: Mapping[str, str | Sink],
        *,
        ramp_ms: float = DEFAULT_RAMP_MS,
        realtime: bool = True,
        volume: float = 100.0,
    ) -> None:
        if not zones:
            raise ValueError("an audio engine needs at least one zone")
        for output in zones.values():
            if isinstance(output, str):
                parse_spec(output)
        self.ramp_ms = ramp_ms
        self.realtime = realtime
        self._zones = {
            name: _Zone(name, output, Mixer(ramp_ms=ramp_ms, volume=volume))
            for name, output in zones.items()
        }
        self._listeners: list[Callable[[EngineEvent], None]] = []
        self._running = False

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the sinks and start rendering every zone."""
        if self._running:
            return
        for zone in self._zones.values():
            zone.sink = await self._open(zone)
        self._running = True
        for zone in self._zones.values():
            zone.task = asyncio.create_task(self._render_loop(zone), name=f"audio {zone.name}")

    async def _open(self, zone: _Zone) -> Sink:
        if isinstance(zone.output, Sink):
            return zone.output
        try:
            return await asyncio.to_thread(open_sink, zone.output, name=f"carmesh {zone.name}")
        except MediaError as exc:
            self._report(zone, SINK_FAILED, f"{exc}; zone {zone.name} plays to null")
            return NullSink()

    async def stop(self) -> None:
        """Stop rendering, close every channel's decoders and the sinks (the WAV header is
        finalised)."""
        self._running = False
        tasks = [zone.task for zone in self._zones.values() if zone.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for zone in self._zones.values():
            zone.task = None
            for channel in zone.mixer.channels:
                channel.close()
            zone.mixer.channels.clear()
            await asyncio.to_thread(zone.sink.close)

    async def __aenter__(self) -> AudioEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- control --------------------------------------------------------------------------

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(self._zones)

    def _zone(self, name: str) -> _Zone:
        try:
            return self._zones[name]
        except KeyError:
            raise NotFound(f"there is no audio zone {name!r}") from None

    def play(self, zone: str, channel: Channel) -> Channel:
        """Mix *channel* into *zone* from the next block on; returns it."""
        for other in self._zones.values():
            if other.name != zone:
                other.mixer.discard(channel)
        self._zone(zone).mixer.add(channel)
        return channel

    def remove(self, channel: Channel) -> None:
        """Ramp *channel* down and drop it (its decoders are closed after the ramp)."""
        channel.stop()

    def channels(self, zone: str) -> list[Channel]:
        return list(self._zone(zone).mixer.channels)

    def set_volume(self, zone: str, volume: float) -> None:
        """Zone volume 0–100 on the mixer's cubic curve, ramped."""
        self._zone(zone).mixer.volume = volume

    def volume(self, zone: str) -> float:
        return self._zone(zone).mixer.volume

    def frames_rendered(self, zone: str) -> int:
        """Frames handed to the zone's sink so far: its output sample clock."""
        return self._zone(zone).frames

    def underruns(self, zone: str) -> int:
        """Stalls longer than :data:`MAX_CATCH_UP` blocks (each skipped some blocks)."""
        return self._zone(zone).underruns

    def skipped_blocks(self, zone: str) -> int:
        return self._zone(zone).skipped

    def sink(self, zone: str) -> Sink:
        return self._zone(zone).sink

    def add_listener(self, listener: Callable[[EngineEvent], None]) -> Callable[[], None]:
        """Call *listener* (on the loop) with every :class:`EngineEvent`; returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- rendering ------------------------------------------------------------------------

    def _report(self, zone: _Zone, kind: str, message: str) -> None:
        if kind == SINK_FAILED:
            log.warning("%s", message)
        event = EngineEvent(zone.name, kind, message)
        loop = asyncio.get_running_loop()
        for listener in list(self._listeners):
            loop.call_soon(listener, event)

    def _render(self, zone: _Zone) -> None:
        block = zone.mixer.render(BLOCK)
        try:
            zone.sink.write(block)
        except Exception as exc:
            failed = zone.sink
            zone.sink = NullSink()
            zone.sink.frames_written = failed.frames_written
            self._report(zone, SINK_FAILED, f"{exc}; zone {zone.name} plays to null")
            with contextlib.suppress(Exception):
                failed.close()
        zone.frames += BLOCK

    async def _render_loop(self, zone: _Zone) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            if not self.realtime and zone.mixer.busy:
                await zone.mixer.wait_ready(BLOCK)
                self._render(zone)
                await asyncio.sleep(0)
                deadline = loop.time()
                continue
            now = loop.time()
            if now < deadline:
                await asyncio.sleep(deadline - now)
                now = loop.time()
            else:
                await asyncio.sleep(0)  # catching up, but never starving the loop
            behind = int((now - deadline) / PERIOD)
            if behind > MAX_CATCH_UP:
                skipped = behind - MAX_CATCH_UP
                deadline += skipped * PERIOD
                zone.underruns += 1
                zone.skipped += skipped
                self._report(zone, UNDERRUN, f"zone {zone.name} stalled; skipped {skipped} blocks")
            self._render(zone)
            deadline += PERIOD
