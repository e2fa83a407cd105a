"""HLS against a loopback server: variants, VOD and live playlists, faults, discontinuities."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from carmesh.media.hls import open_hls
from carmesh.media.hls_playlist import parse_playlist
from carmesh.media.items import MediaError
from carmesh.media.reader import StreamReader
from tests.media.netsupport import (
    LoopbackServer,
    Request,
    Response,
    decode_all,
    dominant_frequency,
    encode_stream,
)
from tests.media.test_streams import read_all, wait_for

FAST = {"retries": 3, "backoff": (0.05, 0.1, 0.2), "timeout": 1.0}
M3U8 = "application/vnd.apple.mpegurl"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    s = LoopbackServer()
    yield s
    s.kill()


@pytest.fixture
async def readers() -> AsyncIterator[list[StreamReader]]:
    opened: list[StreamReader] = []
    yield opened
    for reader in opened:
        await reader.aclose()


def segment(n: int, size: int = 1000) -> bytes:
    return bytes([n % 256]) * size


def media_playlist(names: list[str], *, target: int = 1, end: bool = True, head: str = "") -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}", head]
    for name in names:
        lines += ["#EXTINF:1.0,", name]
    if end:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(line for line in lines if line) + "\n"


def vod(server: LoopbackServer, prefix: str, segments: list[bytes], ext: str = ".ts") -> str:
    names = [f"seg{i}{ext}" for i in range(len(segments))]
    for name, data in zip(names, segments, strict=True):
        server.file(f"{prefix}/{name}", data, "video/mp2t")
    return server.file(f"{prefix}/index.m3u8", media_playlist(names).encode(), M3U8)


class Live:
    """A live playlist the test grows: a sliding *window* of segments, ENDLIST on demand."""

    def __init__(self, server: LoopbackServer, prefix: str, window: int = 6) -> None:
        self.server, self.prefix, self.window = server, prefix, window
        self.segments: list[bytes] = []
        self.ended = False
        self.broken = False
        self.url = server.dynamic(f"{prefix}/live.m3u8", self.render)

    def append(self, data: bytes) -> None:
        n = len(self.segments)
        self.server.file(f"{self.prefix}/s{n}.ts", data, "video/mp2t")
        self.segments.append(data)

    def render(self, _: Request) -> Response:
        if self.broken:
            return Response(b"#EXTM3U\n#EXTINF:what\n", content_type=M3U8)
        first = max(0, len(self.segments) - self.window)
        names = [f"s{i}.ts" for i in range(first, len(self.segments))]
        text = media_playlist(names, end=self.ended, head=f"#EXT-X-MEDIA-SEQUENCE:{first}")
        return Response(text.encode(), content_type=M3U8)


# --- VOD and variants ----------------------------------------------------------------------


async def test_vod_plays_every_segment_in_order(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    segments = [segment(i) for i in range(5)]
    reader = await open_hls(vod(server, "/vod", segments), **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert reader.format == "mpegts"
    assert not reader.info["live"]
    assert await asyncio.to_thread(read_all, reader) == b"".join(segments)
    assert reader.state == "ended"
    assert all(server.hits[f"/vod/seg{i}.ts"] == 1 for i in range(5))


def master(server: LoopbackServer, variants: dict[int, list[bytes]], ext: str = ".ts") -> str:
    lines = ["#EXTM3U"]
    for bandwidth, segments in variants.items():
        vod(server, f"/v{bandwidth}", segments, ext)
        lines += [f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS="mp4a.40.2"']
        lines += [f"v{bandwidth}/index.m3u8"]
    return server.file("/master.m3u8", "\n".join(lines).encode() + b"\n", M3U8)


@pytest.mark.parametrize(
    ("cap", "chosen"), [(None, 256_000), (150_000, 128_000), (128_000, 128_000), (10, 64_000)]
)
async def test_the_variant_is_chosen_by_bandwidth(
    server: LoopbackServer, readers: list[StreamReader], cap: int | None, chosen: int
) -> None:
    variants = {
        bw: [segment(bw // 1000 + i) for i in range(3)] for bw in (128_000, 64_000, 256_000)
    }
    url = master(server, variants)
    reader = await open_hls(url, max_bandwidth=cap, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert reader.info["bandwidth"] == chosen
    assert reader.info["variant"] == server.url(f"/v{chosen}/index.m3u8")
    assert await asyncio.to_thread(read_all, reader) == b"".join(variants[chosen])
    fetched = {path.split("/")[1] for path in server.hits if path.endswith(".ts")}
    assert fetched == {f"v{chosen}"}


async def test_the_chosen_variant_decodes_to_its_tone(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    variants = {}
    for bandwidth, freq in ((64_000, 330), (128_000, 550), (256_000, 880)):
        stream = encode_stream(freq, 3.0, "mpegts")
        cut = [len(stream) // 3 // 188 * 188 * k for k in range(3)] + [len(stream)]
        variants[bandwidth] = [stream[cut[k] : cut[k + 1]] for k in range(3)]
    url = master(server, variants)
    reader = await open_hls(url, max_bandwidth=200_000, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    pcm = await asyncio.to_thread(decode_all, reader, reader.format)
    assert len(pcm) > 2.5 * 44_100
    assert dominant_frequency(pcm) == pytest.approx(550, abs=3)


async def test_a_broken_variant_falls_back_to_the_next(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    url = master(server, {64_000: [segment(1)], 128_000: [segment(2)]})
    server.status("/v128000/index.m3u8", 404)
    reader = await open_hls(url, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert reader.info["bandwidth"] == 64_000
    assert await asyncio.to_thread(read_all, reader) == segment(1)


async def test_an_audio_rendition_is_preferred_to_a_video_variant(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    vod(server, "/audio", [segment(7)], ".aac")
    vod(server, "/video", [segment(8)])
    text = (
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",DEFAULT=YES,URI="audio/index.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.4d401f",AUDIO="a"\n'
        "video/index.m3u8\n"
    )
    reader = await open_hls(server.file("/m.m3u8", text.encode(), M3U8), **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert reader.format == "aac"
    assert await asyncio.to_thread(read_all, reader) == segment(7)


# --- live ----------------------------------------------------------------------------------


async def test_a_live_playlist_is_followed_from_near_its_edge(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    live = Live(server, "/radio", window=4)
    for i in range(6):
        live.append(segment(i))
    reader = await open_hls(live.url, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert reader.info["live"]
    got = asyncio.ensure_future(asyncio.to_thread(read_all, reader))
    for i in range(6, 9):
        await asyncio.sleep(0.4)
        live.append(segment(i))
    await wait_for(lambda: server.hits["/radio/s8.ts"] == 1, 5.0)
    live.ended = True
    data = await asyncio.wait_for(got, 5.0)
    assert data == b"".join(segment(i) for i in range(3, 9))  # three from the end, then on
    assert server.hits["/radio/live.m3u8"] >= 3
    assert reader.state == "ended"
    assert reader.gaps == []


async def test_a_live_server_killed_and_back_is_recovered(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    live = Live(server, "/radio")
    for i in range(3):
        live.append(segment(i))
    states: list[str] = []
    reader = await open_hls(
        live.url, on_state=states.append, retries=8, backoff=(0.1,), timeout=1.0
    )
    readers.append(reader)
    got = asyncio.ensure_future(asyncio.to_thread(read_all, reader))
    await wait_for(lambda: server.hits["/radio/s2.ts"] == 1)
    server.kill()
    await wait_for(lambda: reader.state == "retrying", 3.0)
    live.append(segment(3))
    server.revive()
    await wait_for(lambda: server.hits["/radio/s3.ts"] == 1, 5.0)
    live.ended = True
    assert await asyncio.wait_for(got, 5.0) == b"".join(segment(i) for i in range(4))
    assert "retrying" in states and states[-1] == "ended"


async def test_a_live_server_gone_for_good_is_an_error(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    live = Live(server, "/radio")
    live.append(segment(0))
    reader = await open_hls(live.url, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    got = asyncio.ensure_future(asyncio.to_thread(read_all, reader))
    await wait_for(lambda: server.hits["/radio/s0.ts"] == 1)
    server.kill()
    start = time.monotonic()
    with pytest.raises(MediaError, match="failed after 4 tries: connection refused"):
        await asyncio.wait_for(got, 5.0)
    assert time.monotonic() - start < 3.0  # one reload wait (1 s) and 0.35 s of backoff
    assert reader.state == "error"


async def test_a_malformed_reload_is_retried_then_an_error(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    live = Live(server, "/radio")
    live.append(segment(0))
    reader = await open_hls(live.url, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    live.broken = True
    with pytest.raises(MediaError, match=r"reloading the playlist .* is malformed"):
        await asyncio.wait_for(asyncio.to_thread(read_all, reader), 5.0)
    assert server.hits["/radio/live.m3u8"] == 1 + 4


async def test_a_live_playlist_that_stops_advancing_is_an_error(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    live = Live(server, "/radio")
    live.append(segment(0))
    reader = await open_hls(live.url, retries=0, backoff=(), timeout=1.0)
    readers.append(reader)
    start = time.monotonic()
    with pytest.raises(MediaError, match="stopped advancing"):
        await asyncio.wait_for(asyncio.to_thread(read_all, reader), 6.0)
    assert 3.0 <= time.monotonic() - start < 5.0  # three target durations, then half of one


# --- faults ----------------------------------------------------------------------------------


async def test_a_missing_segment_is_skipped_with_a_logged_gap(
    server: LoopbackServer, readers: list[StreamReader], caplog: pytest.LogCaptureFixture
) -> None:
    segments = [segment(i) for i in range(4)]
    url = vod(server, "/vod", segments)
    server.status("/vod/seg2.ts", 404)
    with caplog.at_level(logging.WARNING, logger="carmesh.media.streams"):
        reader = await open_hls(url, **FAST)  # type: ignore[arg-type]
        readers.append(reader)
        data = await asyncio.to_thread(read_all, reader)
    assert data == segments[0] + segments[1] + segments[3]
    assert server.hits["/vod/seg2.ts"] == 3  # tried, retried twice, skipped
    assert len(reader.gaps) == 1 and "seg2.ts" in reader.gaps[0] and "404" in reader.gaps[0]
    assert any("skipped segment" in r.message for r in caplog.records)
    assert reader.state == "ended"


async def test_too_many_missing_segments_are_an_error(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    url = vod(server, "/vod", [segment(i) for i in range(6)])
    for i in range(1, 6):
        server.status(f"/vod/seg{i}.ts", 404)
    reader = await open_hls(url, retries=1, backoff=(0.01,), timeout=1.0)
    readers.append(reader)
    with pytest.raises(MediaError, match="4 segments in a row are missing"):
        await asyncio.to_thread(read_all, reader)
    assert reader.state == "error"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html><body>Not here</body></html>", "does not start with #EXTM3U"),
        (b"#EXTM3U\n\xff\xfe\n", "not UTF-8"),
        (b"#EXTM3U\n#EXTINF:1,\na.ts\n#EXT-X-ENDLIST\n", "no #EXT-X-TARGETDURATION"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-ENDLIST\n", "no segments"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:x\n#EXTINF:1,\na.ts\n", "cannot be parsed"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:oops,\na.ts\n", "cannot be parsed"),
        (b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=lots\nv.m3u8\n", "cannot be parsed"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n", "http"),
    ],
)
async def test_a_malformed_playlist_is_a_media_error(
    server: LoopbackServer, body: bytes, why: str
) -> None:
    url = server.file("/bad.m3u8", body, M3U8)
    with pytest.raises(MediaError, match=f"the playlist {url} is malformed: .*{why}"):
        await open_hls(url, **FAST)  # type: ignore[arg-type]
    assert server.hits["/bad.m3u8"] == 1


async def test_sample_aes_is_refused(server: LoopbackServer) -> None:
    text = media_playlist(["a.ts"], head='#EXT-X-KEY:METHOD=SAMPLE-AES,URI="k"')
    with pytest.raises(MediaError, match="SAMPLE-AES encryption"):
        await open_hls(server.file("/e.m3u8", text.encode(), M3U8), **FAST)  # type: ignore[arg-type]


# --- what HLS carries ------------------------------------------------------------------------


async def test_discontinuities_split_the_stream_into_parts(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    server.file("/d/a.ts", segment(1), "video/mp2t")
    server.file("/d/b.ts", segment(2), "video/mp2t")
    server.file("/d/c.aac", segment(3), "audio/aac")
    text = media_playlist(["a.ts", "b.ts"]).replace("#EXT-X-ENDLIST\n", "")
    text += "#EXT-X-DISCONTINUITY\n#EXTINF:1.0,\nc.aac\n#EXT-X-ENDLIST\n"
    url = server.file("/d/index.m3u8", text.encode(), M3U8)

    reader = await open_hls(url, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert reader.format == "mpegts"
    assert await asyncio.to_thread(read_all, reader) == segment(1) + segment(2)
    assert reader.discontinuity
    assert reader.next_part()
    assert reader.format == "aac"
    assert await asyncio.to_thread(read_all, reader) == segment(3)
    assert not reader.discontinuity and not reader.next_part()

    joined = await open_hls(url, split_discontinuities=False, **FAST)  # type: ignore[arg-type]
    readers.append(joined)
    assert await asyncio.to_thread(read_all, joined) == segment(1) + segment(2) + segment(3)


async def test_aes128_segments_are_decrypted(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    key = bytes(range(16))
    iv = bytes(range(16, 32))

    def encrypt(data: bytes, iv: bytes) -> bytes:
        padder = padding.PKCS7(128).padder()
        plain = padder.update(data) + padder.finalize()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return encryptor.update(plain) + encryptor.finalize()

    server.file("/k/key.bin", key)
    server.file("/k/a.ts", encrypt(segment(1, 1001), iv))
    server.file("/k/b.ts", encrypt(segment(2, 1002), (8).to_bytes(16, "big")))  # IV = sequence
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:7\n"
        f'#EXT-X-KEY:METHOD=AES-128,URI="key.bin",IV=0x{iv.hex()}\n#EXTINF:1,\na.ts\n'
        '#EXT-X-KEY:METHOD=AES-128,URI="key.bin"\n#EXTINF:1,\nb.ts\n#EXT-X-ENDLIST\n'
    )
    reader = await open_hls(server.file("/k/index.m3u8", text.encode(), M3U8), **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert await asyncio.to_thread(read_all, reader) == segment(1, 1001) + segment(2, 1002)
    assert server.hits["/k/key.bin"] == 1


async def test_byte_ranges_and_an_init_section(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    init, one, two = b"I" * 50, b"1" * 300, b"2" * 200
    server.file("/r/media.mp4", init + one + two, "video/mp4")
    text = (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n"
        '#EXT-X-MAP:URI="media.mp4",BYTERANGE="50@0"\n'
        "#EXTINF:1,\n#EXT-X-BYTERANGE:300@50\nmedia.mp4\n"
        "#EXTINF:1,\n#EXT-X-BYTERANGE:200\nmedia.mp4\n#EXT-X-ENDLIST\n"
    )
    reader = await open_hls(server.file("/r/index.m3u8", text.encode(), M3U8), **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert reader.format == "mp4"
    assert await asyncio.to_thread(read_all, reader) == init + one + two
    ranges = [r.headers.get("range") for r in server.requests if r.path == "/r/media.mp4"]
    assert sorted(ranges) == ["bytes=0-49", "bytes=350-549", "bytes=50-349"]


async def test_segments_are_fetched_at_most_three_ahead(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    url = vod(server, "/vod", [segment(i) for i in range(10)])
    reader = await open_hls(url, max_buffer=1, **FAST)  # type: ignore[arg-type]
    readers.append(reader)

    def fetched() -> int:
        return sum(1 for path in server.hits if path.endswith(".ts"))

    await wait_for(lambda: fetched() == 4)
    await asyncio.sleep(0.3)
    assert fetched() == 4  # one in the reader's buffer, three waiting
    assert await asyncio.to_thread(read_all, reader) == b"".join(segment(i) for i in range(10))


# --- properties ------------------------------------------------------------------------------

TAGS = [
    "#EXTM3U",
    "#EXT-X-VERSION:",
    "#EXT-X-TARGETDURATION:",
    "#EXT-X-MEDIA-SEQUENCE:",
    "#EXT-X-DISCONTINUITY-SEQUENCE:",
    "#EXTINF:",
    "#EXT-X-BYTERANGE:",
    "#EXT-X-DISCONTINUITY",
    "#EXT-X-ENDLIST",
    "#EXT-X-PLAYLIST-TYPE:",
    "#EXT-X-KEY:METHOD=AES-128,URI=",
    "#EXT-X-KEY:IV=",
    "#EXT-X-MAP:URI=",
    "#EXT-X-STREAM-INF:BANDWIDTH=",
    "#EXT-X-MEDIA:TYPE=AUDIO,URI=",
    "#EXT-X-PROGRAM-DATE-TIME:",
    "#EXT-X-DATERANGE:",
    "#EXT-X-PART:",
    "#EXT-X-SKIP:",
]
lines = st.one_of(
    st.builds(
        lambda tag, value: tag + value,
        st.sampled_from(TAGS),
        st.one_of(st.text(max_size=20), st.integers(-5, 10**6).map(str), st.just('"x"')),
    ),
    st.text(max_size=30),
    st.sampled_from(["a.ts", "http://[::1", "http://h:99999/x", "//x/y.ts", "../up.aac"]),
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_as_a_playlist_raise_only_media_error(data: bytes) -> None:
    with contextlib.suppress(MediaError):
        parse_playlist(data, "http://127.0.0.1/p.m3u8")


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, max_size=25))
def test_random_playlist_lines_raise_only_media_error(body: list[str]) -> None:
    text = "\n".join(["#EXTM3U", *body])
    try:
        playlist = parse_playlist(text.encode(), "http://127.0.0.1/p.m3u8")
    except MediaError:
        return
    from carmesh.media.hls_playlist import choose_variants, media_segments

    if playlist.is_variant:
        choose_variants(playlist, 100_000)
    else:
        media_segments(playlist)
