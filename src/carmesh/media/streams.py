"""Internet radio: the station list, Icecast/HTTP streams, and the reader the decoder pulls from.

Network media reaches the decoder through a :class:`StreamReader`: a blocking, read-only,
non-seekable file-like object (``read(n) -> bytes``) that a decoder thread hands to PyAV, fed
by an asyncio task that does the fetching with ``httpx``. The two sides meet in a bounded
buffer, so neither can run away from the other:

- the fetching task never blocks the event loop: it awaits space in the buffer, and every
  network wait has a timeout (``timeout`` s per connect and per read);
- the decoder thread never waits forever: ``read`` returns ``b""`` at the end, raises
  :class:`~carmesh.media.items.MediaError` once the stream has failed for good, and fails by
  itself if the fetching side stops making progress for ``stall_timeout`` s.

A failure mid-stream (connection refused, reset, a stalled server, HTTP 5xx) puts the reader in
state ``retrying`` and reconnects after ``backoff[i]`` s, at most ``retries`` times in a row;
then the state is ``error`` with a one-sentence reason in :attr:`StreamReader.error`.

Icecast/SHOUTcast metadata (``Icy-MetaData: 1``, ``icy-metaint``) is stripped from the audio
and delivered as :attr:`StreamReader.metadata` (``{"title": StreamTitle, …}``) and through
``on_metadata``. ``.m3u8`` URLs (and HLS content types) go to
:func:`carmesh.media.hls.open_hls`; ``.pls``/``.m3u`` station playlists are resolved to their
first working entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
import re
import threading
import time
import tomllib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from carmesh.errors import ConfigError
from carmesh.media.items import SOURCE_INTERNET, MediaError, MediaItem

log = logging.getLogger(__name__)
T = TypeVar("T")

STATES = ("connecting", "playing", "retrying", "error", "ended")

#: Content type (without parameters) → FFmpeg demuxer name, the reader's ``format`` hint.
FORMATS = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mpeg3": "mp3",
    "audio/x-mpeg": "mp3",
    "audio/aac": "aac",
    "audio/aacp": "aac",
    "audio/x-aac": "aac",
    "audio/ogg": "ogg",
    "application/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/mp4": "mp4",
    "video/mp2t": "mpegts",
}
HLS_TYPES = ("application/vnd.apple.mpegurl", "application/x-mpegurl")
STATION_PLAYLIST_TYPES = (
    "audio/x-mpegurl",
    "audio/mpegurl",
    "audio/x-scpls",
    "application/pls+xml",
)

DEFAULT_BACKOFF = (1.0, 2.0, 4.0, 8.0, 8.0)
USER_AGENT = "carmesh/0.1"
#: Largest text document (playlist, station playlist) read into memory.
MAX_DOCUMENT = 4 * 1024 * 1024


# --- stations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Station:
    """An internet radio station: *url* is an Icecast/HTTP stream, an HLS playlist or a
    ``.pls``/``.m3u`` station playlist; nothing is fetched until it plays."""

    id: str
    name: str
    url: str
    genre: str = ""

    @property
    def uri(self) -> str:
        return f"radio:station/{self.id}"

    def item(self) -> MediaItem:
        return MediaItem(
            uri=self.uri,
            title=self.name,
            genre=self.genre,
            source=SOURCE_INTERNET,
            live=True,
            extra={"url": self.url},
        )


_STATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def load_stations(path: Path | None = None) -> list[Station]:
    """Stations of a TOML file (``[[station]]`` tables with ``id``, ``name``, ``url`` and an
    optional ``genre``), in file order; the packaged default list when *path* is None.
    ConfigError naming the file and the station for anything unusable."""
    if path is None:
        resource = importlib.resources.files("carmesh.media").joinpath("data/stations.toml")
        text, where = resource.read_text(encoding="utf-8"), "the packaged station list"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read the station list {where}: {e}") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"the station list {where} is not valid TOML: {e}") from e
    tables = data.get("station", [])
    if not isinstance(tables, list):
        raise ConfigError(f"the station list {where} needs [[station]] tables")
    stations: list[Station] = []
    seen: set[str] = set()
    for n, table in enumerate(tables, 1):
        if not isinstance(table, dict):
            raise ConfigError(f"station {n} in {where} is not a table")
        unknown = set(table) - {"id", "name", "url", "genre"}
        if unknown:
            raise ConfigError(f"station {n} in {where} has unknown keys: {sorted(unknown)}")
        values = {k: table.get(k, "") for k in ("id", "name", "url", "genre")}
        for key, value in values.items():
            if not isinstance(value, str):
                raise ConfigError(f"station {n} in {where}: {key} must be a string")
        sid, name, url = values["id"], values["name"], values["url"]
        if not _STATION_ID.fullmatch(sid):
            raise ConfigError(
                f"station {n} in {where} needs an id of letters, digits, '_', '.' or '-'"
            )
        if sid in seen:
            raise ConfigError(f"station id {sid!r} appears twice in {where}")
        if not name:
            raise ConfigError(f"station {sid!r} in {where} needs a name")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ConfigError(f"station {sid!r} in {where} needs an http(s) url")
        seen.add(sid)
        stations.append(Station(sid, name, url, values["genre"]))
    return stations


# --- ICY metadata ------------------------------------------------------------------------


class IcyDemuxer:
    """Splits an Icecast body into audio and metadata blocks. With ``icy-metaint: N`` the
    server sends N audio bytes, one length byte L, L × 16 bytes of metadata, and again.
    *metaint* None or 0: everything is audio."""

    def __init__(self, metaint: int | None) -> None:
        self.metaint = metaint or 0
        self._audio_left = self.metaint
        self._meta_left: int | None = None  # None: expecting audio or the length byte
        self._meta = bytearray()

    def feed(self, data: bytes) -> tuple[bytes, list[bytes]]:
        """(audio bytes, non-empty metadata blocks) found in *data*."""
        if not self.metaint:
            return data, []
        audio = bytearray()
        blocks: list[bytes] = []
        view = memoryview(data)
        i, n = 0, len(data)
        while i < n:
            if self._meta_left is not None:
                take = min(self._meta_left, n - i)
                self._meta += view[i : i + take]
                i += take
                self._meta_left -= take
                if self._meta_left == 0:
                    blocks.append(bytes(self._meta))
                    self._meta.clear()
                    self._meta_left = None
                    self._audio_left = self.metaint
            elif self._audio_left > 0:
                take = min(self._audio_left, n - i)
                audio += view[i : i + take]
                i += take
                self._audio_left -= take
            else:
                length = data[i] * 16
                i += 1
                if length:
                    self._meta_left = length
                else:
                    self._audio_left = self.metaint
        return bytes(audio), blocks


_ICY_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9_]*)='(.*?)';(?=[A-Za-z][A-Za-z0-9_]*='|\s*$)", re.S)


def parse_icy_metadata(block: bytes) -> dict[str, str]:
    """Fields of one ICY metadata block (``StreamTitle='…';StreamUrl='…';`` padded with NULs).
    Titles may contain quotes and semicolons; text that is not UTF-8 is read as Latin-1."""
    raw = block.rstrip(b"\x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return {m.group(1): m.group(2) for m in _ICY_FIELD.finditer(text.strip())}


# --- the reader --------------------------------------------------------------------------


@dataclass(frozen=True)
class Discontinuity:
    """A marker in the reader's buffer: what follows needs a new demuxer (*format*)."""

    format: str | None


@dataclass
class RetryPolicy:
    """*retries* more attempts after a failure, waiting *backoff*[i] s before the i-th (the
    last value repeats); *timeout* s for every connect and every read."""

    retries: int
    backoff: Sequence[float]
    timeout: float

    def delay(self, failure: int) -> float:
        """Seconds to wait after the *failure*-th failure in a row (1-based)."""
        if not self.backoff:
            return 0.0
        return float(self.backoff[min(failure, len(self.backoff)) - 1])

    def retries_text(self) -> str:
        return f"{self.retries} {'retry' if self.retries == 1 else 'retries'}"

    def stall_timeout(self, extra: float = 0.0) -> float:
        """How long a reader may see no progress before it gives up by itself."""
        longest = max(self.backoff, default=0.0)
        return 2 * self.timeout + longest + extra + 5.0


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
    used by this module and :mod:`carmesh.media.hls` on the event loop.
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


# --- HTTP with timeouts and retries ------------------------------------------------------


class HttpStatus(Exception):
    """A response with an error status."""

    def __init__(self, url: str, status: int, reason: str = "") -> None:
        super().__init__(f"HTTP {status}{f' ({reason})' if reason else ''}")
        self.url = url
        self.status = status

    @property
    def transient(self) -> bool:
        """Worth retrying: server trouble or rate limiting, not a wrong URL."""
        return self.status >= 500 or self.status in (408, 425, 429)


class Dropped(Exception):
    """The server ended a live stream or sent less than it announced."""


#: Failures that retrying may cure.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    HttpStatus,
    Dropped,
    TimeoutError,
)


def describe(exc: BaseException, timeout: float) -> str:
    """One short phrase for a network failure, e.g. ``connection refused``."""
    if isinstance(exc, HttpStatus | Dropped):
        return str(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connecting timed out after {timeout:g} s"
    if isinstance(exc, httpx.ReadTimeout | TimeoutError):
        return f"the server sent nothing for {timeout:g} s (timed out)"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or 'connection failed'})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection"
    if isinstance(exc, httpx.TransportError):
        return f"the connection failed ({exc or type(exc).__name__})"
    return str(exc) or type(exc).__name__


def check_url(url: str, what: str = "stream") -> None:
    """InvalidArgument-free check used before fetching: MediaError unless http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MediaError(f"the {what} {url!r} is not an http(s) URL")


class Http:
    """An httpx client with carmesh's timeouts; owns (and closes) it when none was given."""

    def __init__(self, client: httpx.AsyncClient | None, timeout: float) -> None:
        self.timeout = timeout
        self.owned = client is None
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        if self.owned:
            await self.client.aclose()

    async def open(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """A streaming response with a success status (headers read within ``timeout``);
        HttpStatus for an error status. Close it with ``aclose``."""
        request = self.client.build_request(
            "GET",
            url,
            headers={"Accept-Encoding": "identity", **(headers or {})},
            timeout=httpx.Timeout(self.timeout),
        )
        async with asyncio.timeout(self.timeout):
            response = await self.client.send(request, stream=True, follow_redirects=True)
        if response.status_code >= 400:
            await response.aclose()
            raise HttpStatus(url, response.status_code, response.reason_phrase)
        return response

    async def get(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        limit: int = MAX_DOCUMENT,
        progress: Callable[[], None] | None = None,
    ) -> tuple[bytes, httpx.Response]:
        """The whole body (at most *limit* bytes, else MediaError) and the response; every
        read within ``timeout`` s; *progress()* after each."""
        response = await self.open(url, headers)
        try:
            return await read_body(response, limit, progress), response
        finally:
            await response.aclose()


async def read_body(
    response: httpx.Response, limit: int, progress: Callable[[], None] | None = None
) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise MediaError(f"{response.url} is too large ({int(declared)} bytes)")
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if progress is not None:
            progress()
        if len(body) > limit:
            raise MediaError(f"{response.url} is too large (over {limit} bytes)")
    if declared and declared.isdigit() and len(body) < int(declared):
        raise Dropped(f"the server sent {len(body)} of {declared} bytes")
    return bytes(body)


async def with_retries(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    on_retry: Callable[[str], None] | None = None,
    fail_fast_4xx: bool = True,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """*attempt()* until it succeeds: after a network failure wait ``backoff[i]`` and try
    again, at most ``retries`` more times; then MediaError("… *what* … failed after …: why").
    An HTTP 4xx (other than 408/425/429) fails at once when *fail_fast_4xx*; *retry_on* adds
    exception types to retry."""
    failures = 0
    while True:
        try:
            return await attempt()
        except (*NETWORK_ERRORS, *retry_on) as e:
            reason = describe(e, policy.timeout)
            if isinstance(e, HttpStatus) and not e.transient and fail_fast_4xx:
                raise MediaError(f"{what} answered {reason}") from e
            failures += 1
            if failures > policy.retries:
                tries = f"{failures} {'try' if failures == 1 else 'tries'}"
                raise MediaError(f"{what} failed after {tries}: {reason}") from e
            log.info("%s: %s; retrying in %g s", what, reason, policy.delay(failures))
            if on_retry is not None:
                on_retry(reason)
            await asyncio.sleep(policy.delay(failures))


def content_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).split(";")[0].strip().lower()


def format_for(ctype: str, url: str) -> str | None:
    """The demuxer hint for a content type, else for the URL's extension, else None."""
    if ctype in FORMATS:
        return FORMATS[ctype]
    suffix = Path(urlsplit(url).path).suffix.lower()
    return {
        ".mp3": "mp3",
        ".aac": "aac",
        ".adts": "aac",
        ".ogg": "ogg",
        ".oga": "ogg",
        ".opus": "ogg",
        ".flac": "flac",
        ".ts": "mpegts",
        ".m4a": "mp4",
    }.get(suffix)


def _is_hls_url(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(".m3u8")


def parse_station_playlist(text: str, base: str) -> list[str]:
    """Stream URLs of a ``.pls`` or plain ``.m3u`` station playlist, in order."""
    from urllib.parse import urljoin

    urls: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"File\d+", key.strip(), re.I):
            line = value.strip()
        elif sep and "://" not in key:
            continue
        url = urljoin(base, line)
        if urlsplit(url).scheme in ("http", "https"):
            urls.append(url)
    return urls


# --- Icecast / HTTP ----------------------------------------------------------------------


async def open_stream(
    url: str,
    *,
    client: httpx.AsyncClient | None = None,
    retries: int = 5,
    backoff: Sequence[float] = DEFAULT_BACKOFF,
    timeout: float = 10.0,
    max_bandwidth: int | None = None,
    on_metadata: Callable[[dict[str, str]], None] | None = None,
    on_state: Callable[[str], None] | None = None,
    max_buffer: int = 1 << 20,
) -> StreamReader:
    """Connect to a radio stream and return its reader, playing.

    The first connection is made here (retried per *retries*/*backoff*; an HTTP 4xx or a
    document that is not audio fails at once) so that a bad URL is a MediaError from this call;
    later failures show in the reader's state. HLS (``.m3u8``, an HLS content type) goes to
    :func:`carmesh.media.hls.open_hls` with *max_bandwidth*; a ``.pls``/``.m3u`` station
    playlist is resolved to its first entry that connects.
    """
    return await _open(
        url,
        depth=0,
        client=client,
        policy=RetryPolicy(retries, tuple(backoff), timeout),
        max_bandwidth=max_bandwidth,
        on_metadata=on_metadata,
        on_state=on_state,
        max_buffer=max_buffer,
    )


async def _open(
    url: str,
    *,
    depth: int,
    client: httpx.AsyncClient | None,
    policy: RetryPolicy,
    max_bandwidth: int | None,
    on_metadata: Callable[[dict[str, str]], None] | None,
    on_state: Callable[[str], None] | None,
    max_buffer: int,
) -> StreamReader:
    from carmesh.media import hls

    check_url(url)

    async def to_hls() -> StreamReader:
        return await hls.open_hls(
            url,
            max_bandwidth=max_bandwidth,
            client=client,
            retries=policy.retries,
            backoff=policy.backoff,
            timeout=policy.timeout,
            on_state=on_state,
            max_buffer=max_buffer,
        )

    if _is_hls_url(url):
        return await to_hls()
    http = Http(client, policy.timeout)
    try:
        response: httpx.Response = await with_retries(
            policy,
            lambda: http.open(url, {"Icy-MetaData": "1"}),
            what=f"the stream {url}",
        )
        ctype = content_type(response)
        suffix = Path(urlsplit(url).path).suffix.lower()
        playlist = ctype in HLS_TYPES or ctype in STATION_PLAYLIST_TYPES
        if playlist or suffix in (".pls", ".m3u"):
            try:
                body = await read_body(response, MAX_DOCUMENT)
            except NETWORK_ERRORS as e:
                raise MediaError(
                    f"the playlist {url} could not be read: {describe(e, policy.timeout)}"
                ) from e
            finally:
                await response.aclose()
        elif ctype.startswith("text/") or ctype in ("application/json", "application/xml"):
            await response.aclose()
            raise MediaError(f"{url} is not an audio stream (it is {ctype})")
    except BaseException:
        await http.aclose()
        raise
    if playlist or suffix in (".pls", ".m3u"):
        await http.aclose()
        text = body.decode("utf-8", "replace")
        if ctype in HLS_TYPES or "#EXT-X-" in text:
            return await to_hls()
        return await _open_station_playlist(
            url,
            text,
            depth=depth,
            client=client,
            policy=policy,
            max_bandwidth=max_bandwidth,
            on_metadata=on_metadata,
            on_state=on_state,
            max_buffer=max_buffer,
        )
    reader = StreamReader(
        url,
        max_buffer=max_buffer,
        stall_timeout=policy.stall_timeout(),
        on_metadata=on_metadata,
        on_state=on_state,
    )
    reader.format = format_for(ctype, url)
    reader._start(_IcyStream(reader, http, url, policy, response).run(), http.aclose)
    return reader


async def _open_station_playlist(
    url: str,
    text: str,
    *,
    depth: int,
    client: httpx.AsyncClient | None,
    policy: RetryPolicy,
    max_bandwidth: int | None,
    on_metadata: Callable[[dict[str, str]], None] | None,
    on_state: Callable[[str], None] | None,
    max_buffer: int,
) -> StreamReader:
    entries = parse_station_playlist(text, url)
    if not entries:
        raise MediaError(f"the station playlist {url} lists no http(s) streams")
    if depth >= 3:
        raise MediaError(f"the station playlist {url} nests playlists too deeply")
    last: MediaError | None = None
    for entry in entries[:5]:
        try:
            return await _open(
                entry,
                depth=depth + 1,
                client=client,
                policy=policy,
                max_bandwidth=max_bandwidth,
                on_metadata=on_metadata,
                on_state=on_state,
                max_buffer=max_buffer,
            )
        except MediaError as e:
            log.info("station playlist %s: %s", url, e)
            last = e
    assert last is not None
    raise last


@dataclass
class _IcyStream:
    """Copies an Icecast/HTTP body into the reader, reconnecting after failures."""

    reader: StreamReader
    http: Http
    url: str
    policy: RetryPolicy
    response: httpx.Response | None
    received: int = 0
    length: int | None = None
    failures: int = 0

    async def run(self) -> None:
        try:
            while True:
                try:
                    if self.response is None:
                        await self._reconnect()
                    assert self.response is not None
                    await self._copy(self.response)
                    return
                except NETWORK_ERRORS as e:
                    await self._failed(e)
        finally:
            if self.response is not None:
                await self.response.aclose()

    async def _reconnect(self) -> None:
        headers = {"Icy-MetaData": "1"}
        if self.length is not None and self.received:
            headers["Range"] = f"bytes={self.received}-"
        self.response = await self.http.open(self.url, headers)
        self.reader._touch()

    async def _copy(self, response: httpx.Response) -> None:
        reader = self.reader
        partial = response.status_code == 206
        if self.length is None and response.status_code == 200:
            declared = response.headers.get("content-length", "")
            self.length = int(declared) if declared.isdigit() else None
        skip = self.received if (self.length is not None and not partial) else 0
        if self.received and self.length is None:
            reader._gap(f"the stream {self.url} reconnected; some audio was lost")
        icy = {
            "station": response.headers.get("icy-name", ""),
            "genre": response.headers.get("icy-genre", ""),
            "bitrate": response.headers.get("icy-br", ""),
        }
        reader._update_metadata(icy)
        metaint = response.headers.get("icy-metaint", "")
        demuxer = IcyDemuxer(int(metaint) if metaint.isdigit() else None)
        async for chunk in response.aiter_raw():
            audio, blocks = demuxer.feed(chunk)
            for block in blocks:
                fields = parse_icy_metadata(block)
                if "StreamTitle" in fields:
                    reader._update_metadata(
                        {"title": fields["StreamTitle"], "url": fields.get("StreamUrl", "")}
                    )
            if skip:
                dropped = min(skip, len(audio))
                audio, skip = audio[dropped:], skip - dropped
            if not audio:
                reader._touch()
                continue
            self.received += len(audio)
            self.failures = 0
            reader._set_state("playing")
            await reader._put(audio)
        if self.length is not None and self.received >= self.length:
            return
        if self.length is not None:
            raise Dropped(f"the server sent {self.received} of {self.length} bytes")
        raise Dropped("the server ended the stream")

    async def _failed(self, exc: BaseException) -> None:
        if self.response is not None:
            await self.response.aclose()
            self.response = None
        reason = describe(exc, self.policy.timeout)
        self.failures += 1
        if self.failures > self.policy.retries:
            raise MediaError(
                f"the stream {self.url} failed after {self.policy.retries_text()}: {reason}"
            ) from exc
        delay = self.policy.delay(self.failures)
        log.info("the stream %s: %s; retrying in %g s", self.url, reason, delay)
        self.reader.info["last_failure"] = reason
        self.reader._set_state("retrying")
        await asyncio.sleep(delay)
