"""The engine side of a media session: one mixer channel in a zone.

:class:`ChannelOutput` is the :class:`~carmesh.media.session.Output` the media service gives
each session. Loading an item opens it (:class:`~carmesh.media.resolve.Resolver`), waits until
its decoder has audio (a file that does not decode, a station that does not answer is a
:class:`~carmesh.media.items.MediaError` here, within :data:`LOAD_TIMEOUT` s), then plays it
on a new :class:`~carmesh.media.mixer.Channel` while the previous one fades out. The item the
session cues is opened when the channel asks for it (ahead of the end of the current one), so
that it follows without a gap; the channel's track changes, its end and its failures go back
to the session. Ducking is kept across items.
"""

from __future__ import annotations

import asyncio
import logging

from carmesh.errors import CarmeshError, InvalidArgument
from carmesh.media.decode import Decoder
from carmesh.media.engine import AudioEngine
from carmesh.media.items import MediaError, MediaItem
from carmesh.media.mixer import Channel
from carmesh.media.pcm import BLOCK
from carmesh.media.reader import StreamReader
from carmesh.media.resolve import Resolver
from carmesh.media.session import MediaSession

__all__ = ["LOAD_TIMEOUT", "ChannelOutput"]

log = logging.getLogger(__name__)

#: Seconds an item may take to start (connect, buffer) before it counts as failed.
LOAD_TIMEOUT = 20.0


class ChannelOutput:
    """One session's side of the engine: a mixer :class:`Channel` in *zone* of *engine* (the
    :class:`~carmesh.media.session.Output` of the session), its items opened by *resolver*."""

    def __init__(self, engine: AudioEngine, resolver: Resolver, zone: str) -> None:
        self.engine = engine
        self.resolver = resolver
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
        opened = await self.resolver.open(item)
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
        # What the stream said while it connected, before this item was the output's.
        title = opened.reader.metadata.get("title") if opened.reader is not None else None
        self.stream_title = title or None
        self.engine.play(self.zone, channel)

    async def unload(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self.channel is not None:
            self.engine.remove(self.channel)
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
            opened = self.resolver.open_now(item)
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
