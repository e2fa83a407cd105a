"""Decoding any playable source to the engine's PCM, off the event loop.

A :class:`Decoder` opens a path, an ``http(s)://`` or ``file://`` URL, or a binary file-like
object with PyAV (FFmpeg), resamples to :mod:`carmesh.media.pcm`'s format and fills a bounded
ring buffer (at most :data:`BUFFER_SECONDS` ahead) from a background thread, which sleeps
while the buffer is full and refills it in one burst once a quarter is free. The event loop
only copies frames out of the buffer: nothing here blocks it.

Gapless playback relies on FFmpeg trimming encoder delay and padding (``skip_samples`` at the
start, end trimming from the LAME/Xing tag in MP3, the pre-skip in Opus, the codec headers in
FLAC and Vorbis). FFmpeg trims MP3 end padding only when it can seek in the input: a path or
a seekable file-like; a non-seekable stream keeps up to one MP3 frame of padding
(≤ 26 ms) at its end.

Stopping: :meth:`Decoder.close` never waits for the thread. It raises a flag that every step
of the thread checks (between packets, while waiting for room in the buffer, and in the
wrapper PyAV reads a file-like through, which answers end-of-file once closed), wakes the
thread if it waits for room, and closes a file-like source so that a ``read()`` blocked on
the network returns. A file-like source handed to a decoder therefore belongs to it, and its
``close()`` must be callable from another thread and make a blocked ``read()`` return. URLs
opened by FFmpeg itself give up after :data:`READ_TIMEOUT` seconds without data. Whatever the
thread produces after ``close()`` is discarded; the thread is a daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

import av
import av.error
import numpy as np

from carmesh.media.items import MediaError
from carmesh.media.pcm import CHANNELS, DTYPE, RATE, Block

log = logging.getLogger(__name__)

#: How far ahead of the reader the decoder thread may fill its buffer.
BUFFER_SECONDS = 2.0
#: Seconds FFmpeg waits to open a URL, and for more data from it, before giving up.
OPEN_TIMEOUT = 10.0
READ_TIMEOUT = 10.0
#: Consecutive undecodable packets tolerated (skipped) before a stream counts as broken.
MAX_BAD_PACKETS = 20


class Readable(Protocol):
    """What a file-like source must offer: ``read(size) -> bytes`` (``b""`` at the end)."""

    def read(self, size: int = -1, /) -> bytes: ...


Source = str | os.PathLike[str] | BinaryIO | Readable


class _Reader:
    """The object PyAV reads a file-like source through: end-of-file once the decoder closes."""

    def __init__(self, source: Any, closing: threading.Event) -> None:
        self._source = source
        self._closing = closing

    def read(self, size: int = -1) -> bytes:
        if self._closing.is_set():
            return b""
        data: bytes = self._source.read(size)
        return b"" if self._closing.is_set() else data


class _SeekableReader(_Reader):
    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return int(self._source.seek(offset, whence))

    def tell(self) -> int:
        return int(self._source.tell())


def _seekable(source: Any) -> bool:
    if not (hasattr(source, "seek") and hasattr(source, "tell")):
        return False
    check = getattr(source, "seekable", None)
    try:
        return bool(check()) if callable(check) else True
    except (OSError, ValueError):
        return False


class Decoder:
    """One source decoded to 48 kHz stereo float32 blocks by a background thread.

    The thread starts (and opens the source) at construction; *start* (seconds) seeks first,
    sample-exact after FFmpeg's keyframe seek. *format* names the container when FFmpeg
    cannot guess it (a non-seekable file-like, e.g. ``"mp3"``, ``"aac"``, ``"ogg"``); a
    file-like's own ``format`` attribute is the hint when *format* is None. A file-like that
    ends a part with ``discontinuity`` true and ``next_part()`` returning True (the radio and
    HLS readers, :mod:`carmesh.media.reader`) is decoded on with a new demuxer.
    Failures — a missing file, undecodable data, no audio stream, a network error — surface
    as :class:`MediaError` from :meth:`read` (and :meth:`read_nowait`) once the audio decoded
    before them has been handed out.
    """

    def __init__(
        self,
        source: Source,
        *,
        start: float = 0.0,
        format: str | None = None,
        name: str | None = None,
        buffer_seconds: float = BUFFER_SECONDS,
    ) -> None:
        if start < 0:
            raise ValueError("start must be 0 or more seconds")
        self.name = name or _describe(source)
        self._source = source
        self._format = format
        self._start = start
        self._capacity = max(4096, round(buffer_seconds * RATE))
        self._refill = self._capacity // 4  # the thread wakes when this much room is free
        self._refill_waiting = False
        self._ring = np.zeros((self._capacity, CHANNELS), dtype=DTYPE)
        self._written = 0  # frames put in the ring since the start
        self._read = 0  # frames handed out since the start
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._finished = False  # the thread will write nothing more
        self._error: MediaError | None = None
        self._duration: float | None = None
        self._opened = False
        self._offset = start  # seconds of the first frame handed out
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"carmesh-decode {self.name}", daemon=True
        )
        self._thread.start()

    # -- the reader's side (event loop) -----------------------------------------------------

    @property
    def duration(self) -> float | None:
        """Length of the source in seconds; None until opened, or when unknown (live)."""
        return self._duration

    @property
    def position(self) -> float:
        """Seconds into the source of the next frame :meth:`read` hands out."""
        return self._offset + self._read / RATE

    @property
    def buffered(self) -> int:
        """Frames decoded and not yet read (0 once closed)."""
        return 0 if self._closing.is_set() else self._written - self._read

    @property
    def opened(self) -> bool:
        """The source was opened and its audio stream found."""
        return self._opened

    @property
    def finished(self) -> bool:
        """The thread has decoded everything (or failed, or was closed); what is buffered is
        all that is left."""
        return self._finished

    @property
    def ended(self) -> bool:
        """Everything was handed out (or the decoder failed or was closed)."""
        return self._finished and self.buffered == 0

    @property
    def error(self) -> MediaError | None:
        return self._error

    def read_nowait(self, frames: int) -> Block | None:
        """Up to *frames* frames decoded so far (possibly none); None at the end.

        Raises MediaError when decoding failed and the audio before the failure is used up.
        """
        with self._cond:
            available = self.buffered
            if available == 0:
                if self._finished:
                    if self._error is not None:
                        raise self._error
                    return None
                return np.zeros((0, CHANNELS), dtype=DTYPE)
            count = min(frames, available)
            first = self._read % self._capacity
            end = first + count
            if end <= self._capacity:
                out = self._ring[first:end].copy()
            else:
                out = np.concatenate((self._ring[first:], self._ring[: end - self._capacity]))
            self._read += count
            if self._refill_waiting and self._capacity - available + count >= self._refill:
                self._cond.notify()
            return out

    async def wait_buffered(self, frames: int) -> None:
        """Return once *frames* frames are buffered or the decoder has finished."""
        while True:
            with self._cond:
                if self._finished or self.buffered >= frames:
                    return
                loop = asyncio.get_running_loop()
                future: asyncio.Future[None] = loop.create_future()
                self._waiter = (loop, future)
            try:
                await future
            finally:
                with self._cond:
                    if self._waiter is not None and self._waiter[1] is future:
                        self._waiter = None

    async def read(self, frames: int) -> Block | None:
        """Exactly *frames* frames, fewer only at the end, None after the end; waits (without
        blocking the loop) for the thread to decode them. Raises MediaError on failure."""
        await self.wait_buffered(frames)
        return self.read_nowait(frames)

    def close(self) -> None:
        """Stop decoding and drop the buffer (the position stays); returns at once (see the
        module docstring)."""
        if self._closing.is_set():
            return
        self._closing.set()
        with self._cond:
            self._finished = True
            self._cond.notify_all()
            self._wake()
        if not isinstance(self._source, str | os.PathLike):
            _close_quietly(self._source)

    def join(self, timeout: float | None = None) -> bool:
        """Wait (blocking) for the thread to end; True when it has. For tests and shutdown."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __repr__(self) -> str:
        return f"<Decoder {self.name!r} {self.position:.2f}s>"

    # -- the thread's side ------------------------------------------------------------------

    def _wake(self) -> None:
        """Resolve a waiting :meth:`wait_buffered` (called with the lock held)."""
        if self._waiter is not None:
            loop, future = self._waiter
            self._waiter = None
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(_resolve, future)

    def _put(self, pcm: Block) -> None:
        """Copy *pcm* into the ring, waiting for room; returns early when closing."""
        done = 0
        total = len(pcm)
        while done < total:
            with self._cond:
                if self._written - self._read >= self._capacity:
                    # full: sleep until a quarter has drained, then refill in one burst
                    self._refill_waiting = True
                    while self._capacity - (self._written - self._read) < self._refill:
                        if self._closing.is_set():
                            return
                        self._cond.wait(0.5)
                    self._refill_waiting = False
                if self._closing.is_set():
                    return
                count = min(total - done, self._capacity - (self._written - self._read))
                first = self._written % self._capacity
                head = min(count, self._capacity - first)
                self._ring[first : first + head] = pcm[done : done + head]
                if head < count:
                    self._ring[: count - head] = pcm[done + head : done + count]
                self._written += count
                done += count
                self._wake()

    def _run(self) -> None:
        container: Any = None
        try:
            container = self._open(self._format)
            self._decode(container, first_part=True)
            while self._next_part():
                container.close()
                container = None
                container = self._open(getattr(self._source, "format", None))
                self._decode(container, first_part=False)
            if self._written == 0 and self._start == 0 and not self._closing.is_set():
                raise MediaError(f"{self.name} contains no audio that can be decoded")
        except MediaError as exc:
            self._fail(exc)
        except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as exc:
            self._fail(_media_error(exc, self.name))
        except Exception as exc:  # a bug, or a file-like raising something odd
            log.exception("decoder for %s failed", self.name)
            self._fail(MediaError(f"{self.name} could not be decoded: {exc}"))
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception:
                    log.debug("closing the container of %s failed", self.name, exc_info=True)
            if not isinstance(self._source, str | os.PathLike):
                _close_quietly(self._source)
            with self._cond:
                self._finished = True
                self._cond.notify_all()
                self._wake()

    def _next_part(self) -> bool:
        """A file-like that stopped at a discontinuity (``discontinuity`` true) continues
        with a new demuxer when its ``next_part()`` says so (the streams' readers do)."""
        if self._closing.is_set() or not getattr(self._source, "discontinuity", False):
            return False
        next_part = getattr(self._source, "next_part", None)
        return bool(next_part()) if callable(next_part) else False

    def _fail(self, exc: MediaError) -> None:
        if self._closing.is_set():
            return
        with self._cond:
            self._error = exc

    def _open(self, format: str | None) -> Any:
        source: Any = self._source
        options: dict[str, Any] = {}
        if isinstance(source, os.PathLike):
            source = os.fspath(source)
        if isinstance(source, str):
            if source.startswith("file://"):
                source = unquote(urlsplit(source).path)
            elif source.startswith(("http://", "https://")):
                options["timeout"] = (OPEN_TIMEOUT, READ_TIMEOUT)
                options["options"] = {"reconnect": "1", "reconnect_streamed": "1"}
            elif not Path(source).exists():
                raise MediaError(f"{self.name} does not exist")
        else:
            if format is None:
                format = getattr(source, "format", None)
            reader_type = _SeekableReader if _seekable(source) else _Reader
            source = reader_type(source, self._closing)
        container = av.open(source, "r", format=format, **options)
        if not container.streams.audio:
            container.close()
            raise MediaError(f"{self.name} has no audio stream")
        if not container.streams.audio[0].codec_context.sample_rate:
            container.close()
            raise MediaError(f"{self.name} is not a playable audio file")
        self._opened = True
        return container

    def _decode(self, container: Any, *, first_part: bool) -> None:
        """Decode *container*'s first audio stream into the ring; the first part of a source
        gives the duration and honours *start*."""
        stream = container.streams.audio[0]
        start = self._start if first_part else 0.0
        if first_part and stream.duration is not None and stream.time_base is not None:
            self._duration = float(stream.duration * stream.time_base)
        elif first_part and container.duration is not None:
            self._duration = container.duration / av.time_base
        skip = 0  # output frames still to drop to land exactly on start
        # MP3 timestamps count the encoder delay FFmpeg trims: time 0 of the audio is there.
        origin = 0.0
        if stream.start_time is not None and stream.time_base is not None:
            origin = float(stream.start_time * stream.time_base)
        if start > 0:
            try:
                container.seek(int(start / stream.time_base), stream=stream)
            except (av.error.FFmpegError, OSError):
                log.debug("%s cannot seek; decoding from the start", self.name)
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=RATE)
        first = True
        bad = 0
        for packet in container.demux(stream):
            if self._closing.is_set():
                return
            try:
                decoded = packet.decode()
                bad = 0
            except av.error.InvalidDataError:
                bad += 1
                if bad > MAX_BAD_PACKETS:
                    raise
                continue
            for frame in decoded:
                if first and start > 0:
                    first = False
                    if frame.pts is not None and frame.time_base is not None:
                        skip = max(0, round((start + origin - float(frame.time)) * RATE))
                for out in resampler.resample(frame):
                    skip = self._emit(out, skip)
            if self._closing.is_set():
                return
        for out in resampler.resample(None):
            skip = self._emit(out, skip)

    def _emit(self, frame: Any, skip: int) -> int:
        pcm = frame.to_ndarray().reshape(-1, CHANNELS)
        if skip:
            dropped = min(skip, len(pcm))
            pcm = pcm[dropped:]
            skip -= dropped
        if len(pcm):
            self._put(pcm)
        return skip


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _close_quietly(source: Any) -> None:
    close = getattr(source, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.debug("closing a media source failed", exc_info=True)


def _describe(source: Source) -> str:
    if isinstance(source, str):
        return source if "://" in source else Path(source).name
    if isinstance(source, os.PathLike):
        return Path(source).name
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return Path(name).name
    url = getattr(source, "url", None)
    return url if isinstance(url, str) else "the stream"


def _media_error(exc: BaseException, name: str) -> MediaError:
    """One sentence for what went wrong with *name*."""
    if isinstance(exc, av.error.HTTPError | av.error.HTTPClientError | av.error.HTTPServerError):
        return MediaError(f"{name} could not be fetched: {exc.strerror or exc}")
    if isinstance(exc, av.error.DecoderNotFoundError):
        return MediaError(f"{name} uses a codec this car cannot decode")
    if isinstance(exc, av.error.InvalidDataError | av.error.DemuxerNotFoundError):
        return MediaError(f"{name} is not a playable audio file")
    if isinstance(exc, av.error.ExitError | av.error.TimeoutError | TimeoutError):
        return MediaError(f"{name} did not answer in time")
    if isinstance(exc, FileNotFoundError | av.error.FileNotFoundError):
        return MediaError(f"{name} does not exist")
    if isinstance(exc, PermissionError | av.error.PermissionError):
        return MediaError(f"{name} cannot be read: permission denied")
    if isinstance(exc, ConnectionError | av.error.ConnectionRefusedError):
        return MediaError(f"{name} could not be reached: {exc}")
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return MediaError(f"{name} could not be decoded: {reason}")
