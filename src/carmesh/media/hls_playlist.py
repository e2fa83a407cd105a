"""HLS playlists (RFC 8216) read and checked, with no I/O: what :mod:`.hls` plays from.

- :func:`parse_playlist` turns playlist bytes into an ``m3u8.M3U8``, checked enough to play
  (URLs, durations, byte ranges, IVs), or raises a MediaError — never another exception.
- :func:`choose_variants` orders a master playlist's variants by ``BANDWIDTH`` under a cap;
  :func:`variant_playlist_url` picks a variant's playlist or its ``AUDIO`` rendition's.
- :func:`media_segments` lists a media playlist's segments as :class:`Segment` records
  (sequence number, discontinuity count, byte range, key, init section, demuxer format);
  :func:`is_live` and :func:`check_keys` answer what the player needs to know of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import m3u8  # type: ignore[import-untyped]

from carmesh.media.items import MediaError

__all__ = [
    "AUDIO_CODECS",
    "SEGMENT_FORMATS",
    "Segment",
    "check_keys",
    "choose_variants",
    "is_live",
    "media_segments",
    "parse_playlist",
    "segment_format",
    "variant_playlist_url",
]

AUDIO_CODECS = ("mp4a", "mp3", "ac-3", "ec-3", "opus", "flac", "alac")
SEGMENT_FORMATS = {
    ".ts": "mpegts",
    ".tsa": "mpegts",
    ".tsv": "mpegts",
    ".aac": "aac",
    ".adts": "aac",
    ".mp3": "mp3",
    ".ac3": "ac3",
    ".ec3": "eac3",
    ".m4s": "mp4",
    ".mp4": "mp4",
    ".m4a": "mp4",
    ".cmfa": "mp4",
}


def parse_playlist(data: bytes, url: str) -> Any:
    """The ``m3u8.M3U8`` of *data*, checked enough to play; MediaError("the playlist URL is
    malformed: why") for anything else — never another exception."""

    def malformed(why: str) -> MediaError:
        return MediaError(f"the playlist {url} is malformed: {why}")

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise malformed("it is not UTF-8 text") from None
    if not text.lstrip().startswith("#EXTM3U"):
        raise malformed("it does not start with #EXTM3U")
    try:
        playlist = m3u8.loads(text, uri=url)
        if playlist.is_variant:
            if not playlist.playlists:
                raise malformed("a master playlist lists no variants")
            for variant in playlist.playlists:
                _check_url(variant.absolute_uri)
                if variant.stream_info.bandwidth is None:
                    variant.stream_info.bandwidth = variant.stream_info.average_bandwidth or 0
                int(variant.stream_info.bandwidth)
            for media in playlist.media:
                if media.uri:
                    _check_url(media.absolute_uri)
            return playlist
        if playlist.target_duration is None:
            raise malformed("it has no #EXT-X-TARGETDURATION")
        if not 0 < float(playlist.target_duration) <= 3600:
            raise malformed(f"its target duration {playlist.target_duration} is out of range")
        if playlist.is_endlist and not playlist.segments:
            raise malformed("it has no segments")
        int(playlist.media_sequence or 0)
        int(playlist.discontinuity_sequence or 0)
        for segment in playlist.segments:
            _check_url(segment.absolute_uri)
            if segment.duration is None or not 0 <= float(segment.duration) <= 3600:
                raise malformed(f"segment {segment.uri!r} has no valid duration")
            if segment.byterange:
                _byterange(segment.byterange)
            if segment.key is not None and segment.key.method not in (None, "NONE"):
                if segment.key.uri:
                    _check_url(segment.key.absolute_uri)
                if segment.key.iv:
                    _iv(segment.key.iv)
            if segment.init_section is not None:
                _check_url(segment.init_section.absolute_uri)
                if segment.init_section.byterange:
                    _byterange(segment.init_section.byterange)
        return playlist
    except MediaError:
        raise
    except Exception as e:
        raise malformed(f"it cannot be parsed ({e or type(e).__name__})") from None


def _check_url(url: Any) -> None:
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http(s) URL")
    urlsplit(url).port  # noqa: B018 — raises ValueError for a bad port


def _byterange(value: str) -> tuple[int, int | None]:
    length, _, offset = value.partition("@")
    n, o = int(length), (int(offset) if offset else None)
    if n < 0 or (o is not None and o < 0):
        raise ValueError(f"byte range {value!r} is negative")
    return n, o


def _iv(value: str) -> bytes:
    if not value.lower().startswith("0x"):
        raise ValueError(f"IV {value!r} is not hexadecimal")
    return int(value[2:], 16).to_bytes(16, "big")


def choose_variants(playlist: Any, max_bandwidth: int | None) -> list[Any]:
    """Variants of a master playlist in the order to try: the highest bandwidth under the cap
    (or the lowest when none fits), then the others under the cap from high to low, then
    the rest from low to high."""
    variants = sorted(playlist.playlists, key=lambda v: int(v.stream_info.bandwidth or 0))
    if max_bandwidth is None:
        return variants[::-1]
    under = [v for v in variants if int(v.stream_info.bandwidth or 0) <= max_bandwidth]
    over = [v for v in variants if int(v.stream_info.bandwidth or 0) > max_bandwidth]
    return under[::-1] + over


def variant_playlist_url(master: Any, variant: Any) -> str:
    """The variant's playlist, or its audio rendition's when the variant has no audio codec."""
    codecs = (variant.stream_info.codecs or "").lower()
    group = variant.stream_info.audio
    if codecs and group and not any(c in codecs for c in AUDIO_CODECS):
        renditions = [
            m for m in master.media if m.type == "AUDIO" and m.group_id == group and m.uri
        ]
        renditions.sort(key=lambda m: m.default != "YES")
        if renditions:
            return str(renditions[0].absolute_uri)
    return str(variant.absolute_uri)


@dataclass(frozen=True)
class Segment:
    """One media segment, resolved: absolute URLs, byte range as (start, length), key and IV."""

    seq: int
    url: str
    duration: float
    disc: int
    byterange: tuple[int, int] | None
    key: tuple[str, str, bytes | None] | None  # (method, key URL, IV)
    init: tuple[str, tuple[int, int] | None] | None
    format: str | None


def segment_format(url: str, has_init: bool) -> str | None:
    """The demuxer for a segment: by its init section or file extension, else None (probe)."""
    if has_init:
        return "mp4"
    return SEGMENT_FORMATS.get(Path(urlsplit(url).path).suffix.lower())


def media_segments(playlist: Any) -> list[Segment]:
    """The segments of a parsed media playlist, numbered by its media sequence."""
    seq = int(playlist.media_sequence or 0)
    disc = int(playlist.discontinuity_sequence or 0)
    ends: dict[str, int] = {}
    out: list[Segment] = []
    for i, s in enumerate(playlist.segments):
        if s.discontinuity and i > 0:
            disc += 1
        url = str(s.absolute_uri)
        byterange = None
        if s.byterange:
            length, offset = _byterange(s.byterange)
            start = ends.get(url, 0) if offset is None else offset
            byterange = (start, length)
            ends[url] = start + length
        key = None
        if s.key is not None and s.key.method not in (None, "NONE"):
            key = (
                str(s.key.method),
                str(s.key.absolute_uri),
                _iv(s.key.iv) if s.key.iv else None,
            )
        init = None
        if s.init_section is not None:
            init_range = None
            if s.init_section.byterange:
                n, o = _byterange(s.init_section.byterange)
                init_range = (o or 0, n)
            init = (str(s.init_section.absolute_uri), init_range)
        fmt = segment_format(url, init is not None)
        out.append(Segment(seq + i, url, float(s.duration), disc, byterange, key, init, fmt))
    return out


def is_live(playlist: Any) -> bool:
    """Whether the media playlist is live (neither ended nor ``PLAYLIST-TYPE:VOD``)."""
    return not playlist.is_endlist and (playlist.playlist_type or "").upper() != "VOD"


def check_keys(segments: list[Segment], url: str) -> None:
    """MediaError if a segment is encrypted other than with AES-128."""
    for s in segments:
        if s.key is not None and s.key[0] != "AES-128":
            raise MediaError(
                f"the playlist {url} uses {s.key[0]} encryption, which carmesh cannot play"
            )
