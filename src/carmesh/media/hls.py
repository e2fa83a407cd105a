"""HTTP Live Streaming (RFC 8216) into a :class:`~carmesh.media.reader.StreamReader`.

This module fetches: playlists, reloads, segments, keys and init sections. Reading and
checking a playlist, choosing a variant and listing segments is :mod:`.hls_playlist`.

- A **master playlist** is resolved to one variant: the highest ``BANDWIDTH`` not above
  *max_bandwidth* (no cap: the highest), else the lowest; a variant whose playlist cannot be
  loaded falls back to the next choice. A variant without an audio codec uses its ``AUDIO``
  rendition when that has its own playlist.
- A **media playlist** is VOD (``#EXT-X-ENDLIST`` or ``PLAYLIST-TYPE:VOD``: every segment,
  then the end) or live (start three segments from the end, reload every target duration —
  half of it when nothing changed — follow the media sequence, end at ``#EXT-X-ENDLIST``).
- Segments are fetched ahead, at most *ahead* (3) beyond what the reader has taken, in order.
  A segment that answers 404 (or another 4xx) is retried, then skipped with a logged gap
  (:attr:`StreamReader.gaps`); too many in a row end the stream with an error. Network
  failures retry with backoff (state ``retrying``) and end in state ``error`` when retries run out.
- Byte ranges, ``#EXT-X-MAP`` init sections and ``AES-128`` encryption are supported;
  ``SAMPLE-AES`` is refused with a MediaError.

**Discontinuities.** Segments on either side of ``#EXT-X-DISCONTINUITY`` may differ in codec,
container or timestamps, so one demuxer cannot read across them. With
``split_discontinuities=True`` (the default) the reader returns ``b""`` there with
:attr:`StreamReader.discontinuity` True; the consumer closes its container and, when
:meth:`StreamReader.next_part` returns True, opens a new one on the same reader with
``format=reader.format``. ``next_part()`` False means the real end. With
``split_discontinuities=False`` the bytes simply run on (fine for packed ADTS/MP3 audio).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from carmesh.media.fetch import (
    DEFAULT_BACKOFF,
    NETWORK_ERRORS,
    Http,
    HttpStatus,
    RetryPolicy,
    check_url,
    describe,
    with_retries,
)
from carmesh.media.hls_playlist import (
    Segment,
    check_keys,
    choose_variants,
    is_live,
    media_segments,
    parse_playlist,
    variant_playlist_url,
)
from carmesh.media.items import MediaError
from carmesh.media.reader import Discontinuity, StreamReader

log = logging.getLogger(__name__)

#: Largest segment read into memory.
MAX_SEGMENT = 64 * 1024 * 1024


def _range_header(byterange: tuple[int, int] | None) -> dict[str, str]:
    if byterange is None:
        return {}
    start, length = byterange
    return {"Range": f"bytes={start}-{start + length - 1}"}


async def _load(http: Http, url: str, policy: RetryPolicy, what: str) -> tuple[Any, str]:
    """Fetch and parse a playlist: network failures retried, a 4xx or a malformed playlist
    at once."""
    body, response = await with_retries(policy, lambda: http.get(url), what=f"{what} {url}")
    final = str(response.url)
    return parse_playlist(body, final), final


async def open_hls(
    url: str,
    *,
    max_bandwidth: int | None = None,
    client: httpx.AsyncClient | None = None,
    retries: int = 5,
    backoff: Sequence[float] = DEFAULT_BACKOFF,
    timeout: float = 10.0,
    ahead: int = 3,
    live_edge: int = 3,
    split_discontinuities: bool = True,
    on_state: Callable[[str], None] | None = None,
    max_buffer: int = 1 << 20,
) -> StreamReader:
    """Load the playlist (a master's chosen variant), and return a reader that plays it.

    MediaError when no playlist can be loaded: "the playlist … is malformed: …", an HTTP
    error, or a network failure after the retries. *ahead*: segments fetched ahead;
    *live_edge*: how many segments from the end a live playlist starts.
    """
    check_url(url, "playlist")
    policy = RetryPolicy(retries, tuple(backoff), timeout)
    http = Http(client, timeout)
    info: dict[str, Any] = {"playlist": url}
    try:
        playlist, media_url = await _load(http, url, policy, "the playlist")
        if playlist.is_variant:
            master = playlist
            last: MediaError | None = None
            for variant in choose_variants(master, max_bandwidth):
                try:
                    playlist, media_url = await _load(
                        http, variant_playlist_url(master, variant), policy, "the variant playlist"
                    )
                    if playlist.is_variant:
                        raise MediaError(f"the variant playlist {media_url} is another master")
                except MediaError as e:
                    log.info("HLS %s: %s", url, e)
                    last = e
                    continue
                info["variant"] = media_url
                info["bandwidth"] = int(variant.stream_info.bandwidth or 0)
                info["codecs"] = variant.stream_info.codecs or ""
                break
            else:
                assert last is not None
                raise last
        segments = media_segments(playlist)
        check_keys(segments, media_url)
    except BaseException:
        await http.aclose()
        raise
    info["media_playlist"] = media_url
    info["live"] = is_live(playlist)
    target = float(playlist.target_duration)
    reader = StreamReader(
        url,
        max_buffer=max_buffer,
        stall_timeout=policy.stall_timeout(3 * target),
        on_state=on_state,
    )
    reader.info.update(info)
    player = _Player(
        reader,
        http,
        policy,
        media_url,
        playlist,
        ahead=max(1, ahead),
        live_edge=max(1, live_edge),
        split=split_discontinuities,
    )
    first = player.first_index(segments)
    reader.format = segments[first].format if first < len(segments) else None
    reader._start(player.run(), http.aclose)
    return reader


_END = object()


class _Player:
    """Schedules segment fetches (reloading live playlists) and writes them to the reader
    in order."""

    def __init__(
        self,
        reader: StreamReader,
        http: Http,
        policy: RetryPolicy,
        url: str,
        playlist: Any,
        *,
        ahead: int,
        live_edge: int,
        split: bool,
    ) -> None:
        self.reader = reader
        self.http = http
        self.policy = policy
        self.url = url
        self.playlist = playlist
        self.ahead = ahead
        self.live_edge = live_edge
        self.split = split
        #: 404s per segment before it is skipped.
        self.segment_retries = 2
        #: Skipped segments in a row before the stream fails.
        self.max_skips = max(3, policy.retries)
        #: Keys and init sections, fetched once however many segments need them.
        self._shared: dict[Any, asyncio.Future[bytes]] = {}

    def first_index(self, segments: list[Segment]) -> int:
        if is_live(self.playlist):
            return max(0, len(segments) - self.live_edge)
        return 0

    async def run(self) -> None:
        slots = asyncio.Semaphore(self.ahead)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        scheduler = asyncio.create_task(self._schedule(queue, slots))
        current: asyncio.Task[Any] | None = None
        try:
            previous: Segment | None = None
            sent_init: tuple[str, tuple[int, int] | None] | None = None
            skips = 0
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                segment, current = item
                try:
                    fetched = await current
                    if fetched is None:
                        skips += 1
                        if skips > self.max_skips:
                            raise MediaError(
                                f"the stream {self.reader.url} failed: {skips} segments in a "
                                "row are missing"
                            )
                        continue
                    skips = 0
                    init, data = fetched
                    if previous is not None and (
                        segment.disc != previous.disc or segment.format != previous.format
                    ):
                        log.info("HLS %s: discontinuity before segment %d", self.url, segment.seq)
                        if self.split:
                            await self.reader._put(Discontinuity(segment.format))
                            sent_init = None
                    if init is not None and segment.init != sent_init:
                        data = init + data
                        sent_init = segment.init
                    self.reader._set_state("playing")
                    await self.reader._put(data)
                    previous = segment
                finally:
                    slots.release()  # after the put: at most *ahead* segments wait
        finally:
            scheduler.cancel()
            pending: list[asyncio.Future[Any]] = [scheduler]
            while not queue.empty():
                item = queue.get_nowait()
                if isinstance(item, tuple):
                    item[1].cancel()
                    pending.append(item[1])
            if current is not None:
                current.cancel()
                pending.append(current)
            for future in self._shared.values():
                future.cancel()
                pending.append(future)
            await asyncio.gather(*pending, return_exceptions=True)

    async def _schedule(self, queue: asyncio.Queue[Any], slots: asyncio.Semaphore) -> None:
        try:
            playlist = self.playlist
            segments = media_segments(playlist)
            first = self.first_index(segments)
            next_seq = segments[first].seq if first < len(segments) else None
            loaded = time.monotonic()
            grew = loaded
            stale_failures = 0
            while True:
                if next_seq is None and segments:
                    next_seq = segments[self.first_index(segments)].seq
                new = [s for s in segments if next_seq is not None and s.seq >= next_seq]
                if new and next_seq is not None and new[0].seq > next_seq:
                    self.reader._gap(
                        f"HLS {self.url}: segments {next_seq}–{new[0].seq - 1} left the "
                        "playlist before they were fetched"
                    )
                for segment in new:
                    await slots.acquire()
                    task = asyncio.create_task(self._fetch(segment))
                    queue.put_nowait((segment, task))
                    next_seq = segment.seq + 1
                if not is_live(playlist):
                    queue.put_nowait(_END)
                    return
                target = float(playlist.target_duration)
                now = time.monotonic()
                if new:
                    grew, stale_failures = now, 0
                elif now - grew > 3 * target:
                    stale_failures += 1
                    self.reader._set_state("retrying")
                    if stale_failures > self.policy.retries:
                        raise MediaError(
                            f"the live playlist {self.url} stopped advancing: no new segment "
                            f"for {now - grew:.0f} s"
                        )
                wait = target if new else target / 2
                await asyncio.sleep(max(0.0, loaded + wait - now))
                loaded = time.monotonic()
                playlist = await self._reload()
                segments = media_segments(playlist)
                check_keys(segments, self.url)
                if (
                    next_seq is not None
                    and segments
                    and segments[-1].seq < next_seq - 1 - max(len(segments), 3)
                ):
                    self.reader._gap(
                        f"HLS {self.url}: the media sequence restarted at {segments[0].seq}"
                    )
                    next_seq = None
        except Exception as e:  # the writer raises it after the segments before it
            queue.put_nowait(e)

    async def _reload(self) -> Any:
        async def attempt() -> Any:
            body, response = await self.http.get(self.url)
            try:
                return parse_playlist(body, str(response.url))
            except MediaError as e:
                raise _Malformed(e.message) from e

        return await with_retries(
            self.policy,
            attempt,
            what=f"reloading the playlist {self.url}",
            on_retry=lambda _: self.reader._set_state("retrying"),
            fail_fast_4xx=False,
            retry_on=(_Malformed,),
        )

    async def _fetch(self, segment: Segment) -> tuple[bytes | None, bytes] | None:
        """(init section or None, the segment's media bytes), or None when skipped."""
        data = await self._get(segment.url, segment.byterange, f"segment {segment.seq}")
        if data is None:
            return None
        if segment.key is not None:
            data = await self._decrypt(segment, data)
        init = None
        if segment.init is not None:
            init_url, init_range = segment.init

            async def fetch_init() -> bytes:
                body = await self._get(init_url, init_range, "the init section", skip=False)
                assert body is not None
                return body

            init = await self._once(("init", segment.init), fetch_init)
        return init, data

    async def _once(self, what: Any, fetch: Callable[[], Awaitable[bytes]]) -> bytes:
        """*fetch()* once for all the segments that share *what*; retried after a failure."""
        future = self._shared.get(what)
        if future is None:
            future = self._shared[what] = asyncio.ensure_future(fetch())
        try:
            return await asyncio.shield(future)
        except MediaError:
            if self._shared.get(what) is future:
                del self._shared[what]
            raise

    async def _get(
        self, url: str, byterange: tuple[int, int] | None, what: str, *, skip: bool = True
    ) -> bytes | None:
        not_found = failures = 0
        while True:
            try:
                body, _ = await self.http.get(
                    url, _range_header(byterange), MAX_SEGMENT, self.reader._touch
                )
                return body
            except NETWORK_ERRORS as e:
                reason = describe(e, self.policy.timeout)
                if isinstance(e, HttpStatus) and not e.transient:
                    not_found += 1
                    if not_found > self.segment_retries:
                        if not skip:
                            raise MediaError(f"HLS {self.url}: {what} {url} {reason}") from e
                        self.reader._gap(f"HLS {self.url}: skipped {what} ({url}): {reason}")
                        return None
                    delay = self.policy.delay(not_found)
                else:
                    failures += 1
                    if failures > self.policy.retries:
                        raise MediaError(
                            f"the stream {self.reader.url} failed after "
                            f"{self.policy.retries_text()}: {what} ({url}): {reason}"
                        ) from e
                    self.reader._set_state("retrying")
                    delay = self.policy.delay(failures)
                log.info("HLS %s: %s: %s; retrying in %g s", self.url, what, reason, delay)
                self.reader._touch()
                await asyncio.sleep(delay)

    async def _decrypt(self, segment: Segment, data: bytes) -> bytes:
        assert segment.key is not None
        _method, key_url, iv = segment.key

        async def fetch_key() -> bytes:
            body, _ = await with_retries(
                self.policy, lambda: self.http.get(key_url, limit=1024), what=f"the key {key_url}"
            )
            if len(body) != 16:
                raise MediaError(f"the key {key_url} is not a 16-byte AES-128 key")
            return body

        key = await self._once(("key", key_url), fetch_key)
        decryptor = Cipher(
            algorithms.AES(key), modes.CBC(iv or segment.seq.to_bytes(16, "big"))
        ).decryptor()
        try:
            plain = decryptor.update(data) + decryptor.finalize()
        except ValueError as e:
            raise MediaError(f"HLS {self.url}: segment {segment.seq} cannot be decrypted") from e
        pad = plain[-1] if plain else 0
        if 1 <= pad <= 16 and plain.endswith(bytes([pad]) * pad):
            plain = plain[:-pad]
        return plain


class _Malformed(Exception):
    """A reloaded playlist that did not parse: retried like a network failure."""
