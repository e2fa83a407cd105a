"""The reader a decoder pulls network media from: :class:`StreamReader`.

A :class:`StreamReader` is a blocking, read-only, non-seekable file-like object
(``read(n) -> bytes``) that a decoder thread hands to PyAV, fed by an asyncio task that does
the fetching (:mod:`carmesh.media.streams` for Icecast/HTTP, :mod:`carmesh.media.hls` for
HLS). The two sides meet in a bounded, thread-safe buffer, so neither can run away from the
other:

- the fetching task never blocks the event loop: it awaits space in the buffer;
- the decoder thread never waits forever: ``read`` returns ``b""`` at the end, raises
  :class:`~carmesh.media.items.MediaError` once the stream has failed for good, and fails by
  itself if the fetching side stops making progress for ``stall_timeout`` s.

A :class:`Discontinuity` in the buffer ends a part: ``read`` returns ``b""`` there and
:meth:`StreamReader.next_part` moves on to the next, which needs a new demuxer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from carmesh.media.items import MediaError

# The network streams log under one name, whichever of their modules speaks.
log = logging.getLogger("carmesh.media.streams")

STATES = ("connecting", "playing", "retrying", "error", "ended")


@dataclass(frozen=True)
class Discontinuity:
    """A marker in the reader's buffer: what follows needs a new demuxer (*format*)."""

    format: str | None


class StreamReader:
    """A blocking, non-seekable binary file-like object for a decoder thread.

    - :meth:`read` blocks until data is there; ``b""`` at the end (or at a discontinuity, see
      :meth:`next_part`); MediaError once the stream failed for good (after the bytes that did
      arrive). Never call it on the event loop.
    - :attr:`state`: ``connecting``, ``playing``, ``retrying``, ``error`` or ``ended``;
      :attr:`error` the reason when ``error``; ``on_state(state)`` on each change.
    - :attr:`metadata`: what the stream says about itself (``title`` from ICY StreamTitle,
      ``url``, ``station``, ``genre``, ``bitrate``); ``on_metadata(metadata)`` on each change.
    - :attr:`format`: an FFmpeg demuxer name for the current part (``mp3``, ``aac``,
      ``mpegts``, ``ogg``, ``mp4``…) or None to let FFmpeg probe.

    Callbacks run on the event loop and must not block. :meth:`close` may be called from any
    thread; it stops the fetching and makes :meth:`read` return ``b""``; :meth:`aclose` also
    waits for the fetching task, so close readers before their event loop ends.

    The underscored methods (``_start``, ``_put``, ``_set_state``…) are the fetching side's,
    used by :mod:`carmesh.media.streams` and :mod:`carmesh.media.hls` on the event loop.
    """

    def __init__(
        self,
        url: str,
        *,
        max_buffer: int = 1 << 20,
        stall_timeout: float = 60.0,
        on_metadata: Callable[[dict[str, str]], None] | None = None,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.max_buffer = max_buffer
        self.stall_timeout = stall_timeout
        self.on_metadata = on_metadata
        self.on_state = on_state
        self.metadata: dict[str, str] = {}
        self.state = "connecting"
        self.error: str | None = None
        self.format: str | None = None
        #: Facts about the source (HLS: ``variant``, ``bandwidth``, ``playlist``…).
        self.info: dict[str, Any] = {}
        #: Gaps in the stream (skipped segments, reconnections), one sentence each.
        self.gaps: list[str] = []
        self._cond = threading.Condition()
        self._chunks: deque[bytes | Discontinuity] = deque()
        self._head_at = 0  # bytes of the first chunk already read
        self._buffered = 0
        self._finished = False
        self._closed = False
        self._break: Discontinuity | None = None
        self._progress = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._space: asyncio.Event | None = None
        self._want_space = False
        self._cleanup: list[Callable[[], Awaitable[None]]] = []

    # -- the decoder's side (any thread but the event loop's) --

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def discontinuity(self) -> bool:
        """True when :meth:`read` stopped at a discontinuity; call :meth:`next_part`."""
        return self._break is not None

    def read(self, n: int = -1) -> bytes:
        """Up to *n* bytes (*n* < 0: whatever is buffered), blocking until at least one byte,
        the end (``b""``), a discontinuity (``b""``, :attr:`discontinuity` True) or a failure
        (MediaError)."""
        if self._loop_thread is not None and threading.get_ident() == self._loop_thread:
            raise RuntimeError("StreamReader.read blocks; call it from a worker thread")
        with self._cond:
            while True:
                if self._closed or self._break is not None:
                    return b""
                if self._chunks:
                    return self._take(n)
                if self._finished:
                    if self.error is not None:
                        raise MediaError(self.error)
                    return b""
                self._cond.wait(0.25)
                if not self._chunks and not self._finished and not self._closed:
                    idle = time.monotonic() - self._progress
                    if idle > self.stall_timeout:
                        self._fail_from_thread(
                            f"the stream {self.url} stalled: nothing arrived for {idle:.0f} s"
                        )

    def next_part(self) -> bool:
        """After :meth:`read` returned ``b""`` at a discontinuity: continue with the next part
        (open a new demuxer on this reader, with :attr:`format` as its hint) and return True.
        False when the reader is not at a discontinuity (the real end, or an error)."""
        with self._cond:
            if self._break is None:
                return False
            self.format = self._break.format
            self._break = None
            return True

    def _take(self, n: int) -> bytes:
        out = bytearray()
        while self._chunks and (n < 0 or len(out) < n):
            head = self._chunks[0]
            if isinstance(head, Discontinuity):
                if out:
                    break
                self._chunks.popleft()
                self._break = head
                return b""
            left = len(head) - self._head_at
            want = left if n < 0 else min(left, n - len(out))
            out += memoryview(head)[self._head_at : self._head_at + want]
            self._head_at += want
            if self._head_at == len(head):
                self._chunks.popleft()
                self._head_at = 0
        self._buffered -= len(out)
        if self._want_space and self._buffered < self.max_buffer:
            self._want_space = False
            self._call_in_loop(self._set_space)
        return bytes(out)

    def close(self) -> None:
        """Stop fetching and release the buffer; :meth:`read` returns ``b""`` afterwards."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._chunks.clear()
            self._head_at = 0
            self._buffered = 0
            self._cond.notify_all()
        if self.state not in ("error", "ended"):
            self.state = "ended"
        task = self._task
        if task is not None:
            self._call_in_loop(task.cancel)

    async def aclose(self) -> None:
        """Close, and wait until the fetching task has let go of its connections."""
        self.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def __enter__(self) -> StreamReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call_in_loop(self, fn: Callable[[], object]) -> None:
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            fn()
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to stop
            loop.call_soon_threadsafe(fn)

    def _set_space(self) -> None:
        if self._space is not None:
            self._space.set()

    def _fail_from_thread(self, reason: str) -> None:
        # Called with self._cond held, on the decoder's thread.
        log.warning("%s", reason)
        self.error = reason
        self.state = "error"
        self._finished = True
        self._cond.notify_all()
        if self._task is not None:
            self._call_in_loop(self._task.cancel)

    # -- the fetching side (on the event loop) --

    def _start(
        self,
        producer: Coroutine[Any, Any, None],
        cleanup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._space = asyncio.Event()
        if cleanup is not None:
            self._cleanup.append(cleanup)
        self._progress = time.monotonic()
        self._task = self._loop.create_task(self._run(producer), name=f"stream {self.url}")

    async def _run(self, producer: Coroutine[Any, Any, None]) -> None:
        try:
            await producer
        except asyncio.CancelledError:
            self._finish(None)
            raise
        except MediaError as e:
            self._finish(e.message)
        except Exception as e:
            log.exception("the stream %s failed unexpectedly", self.url)
            self._finish(f"the stream {self.url} failed unexpectedly: {e}")
        else:
            self._finish(None)
        finally:
            for cleanup in self._cleanup:
                with contextlib.suppress(Exception):
                    await cleanup()

    def _touch(self) -> None:
        self._progress = time.monotonic()

    def _set_state(self, state: str) -> None:
        self._touch()
        if self.state == state or self._closed or self._finished:
            return
        self.state = state
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                log.exception("on_state callback of %s failed", self.url)

    def _update_metadata(self, values: dict[str, str]) -> None:
        values = {k: v for k, v in values.items() if v}
        if all(self.metadata.get(k) == v for k, v in values.items()):
            return
        self.metadata.update(values)
        if self.on_metadata is not None:
            try:
                self.on_metadata(dict(self.metadata))
            except Exception:
                log.exception("on_metadata callback of %s failed", self.url)

    def _gap(self, what: str) -> None:
        log.warning("%s", what)
        self.gaps.append(what)

    async def _put(self, data: bytes | Discontinuity) -> None:
        """Append to the buffer, waiting (on the loop, never blocking it) while it is full."""
        assert self._space is not None
        while True:
            with self._cond:
                if self._closed:
                    raise asyncio.CancelledError
                if self._buffered < self.max_buffer or isinstance(data, Discontinuity):
                    self._chunks.append(data)
                    if isinstance(data, bytes):
                        self._buffered += len(data)
                    self._cond.notify_all()
                    break
                self._want_space = True
                self._space.clear()
            self._touch()
            await self._space.wait()
        self._touch()

    def _finish(self, error: str | None) -> None:
        with self._cond:
            if self._finished:
                return
            self._finished = True
            if error is not None and not self._closed:
                self.error = error
            self._cond.notify_all()
        final = "error" if self.error is not None else "ended"
        if self.state != final:
            self.state = final
            if self.on_state is not None and not self._closed:
                try:
                    self.on_state(final)
                except Exception:
                    log.exception("on_state callback of %s failed", self.url)
