"""Internet radio: connecting to Icecast/HTTP streams and copying them into a reader.

:func:`open_stream` connects to a stream URL and returns a
:class:`~carmesh.media.reader.StreamReader` (the blocking file-like a decoder pulls from)
fed by an asyncio task that copies the response body into it; every network wait has a
timeout (``timeout`` s per connect and per read, :mod:`carmesh.media.fetch`).

A failure mid-stream (connection refused, reset, a stalled server, HTTP 5xx) puts the reader in
state ``retrying`` and reconnects after ``backoff[i]`` s, at most ``retries`` times in a row;
then the state is ``error`` with a one-sentence reason in :attr:`StreamReader.error`.

Icecast/SHOUTcast metadata (``Icy-MetaData: 1``, ``icy-metaint``) is stripped from the audio
(:mod:`carmesh.media.icy`) and delivered as :attr:`StreamReader.metadata`
(``{"title": StreamTitle, …}``) and through ``on_metadata``. ``.m3u8`` URLs (and HLS content
types) go to :func:`carmesh.media.hls.open_hls`; ``.pls``/``.m3u`` station playlists
(:mod:`carmesh.media.stations`) are resolved to their first working entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from carmesh.media.fetch import (
    DEFAULT_BACKOFF,
    MAX_DOCUMENT,
    NETWORK_ERRORS,
    Dropped,
    Http,
    RetryPolicy,
    check_url,
    describe,
    read_body,
    with_retries,
)
from carmesh.media.icy import IcyDemuxer, parse_icy_metadata
from carmesh.media.items import MediaError
from carmesh.media.reader import StreamReader
from carmesh.media.stations import parse_station_playlist

log = logging.getLogger(__name__)

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
