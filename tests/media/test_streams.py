"""Internet radio against a loopback server: ICY metadata, faults, timeouts, the station list."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carmesh.errors import ConfigError
from carmesh.media.icy import IcyDemuxer, parse_icy_metadata
from carmesh.media.items import SOURCE_INTERNET, MediaError
from carmesh.media.reader import StreamReader
from carmesh.media.stations import Station, load_stations
from carmesh.media.streams import open_stream
from tests.media.netsupport import (
    LoopbackServer,
    decode_all,
    dominant_frequency,
    encode_stream,
    icy_block,
)

#: Quick retries: 3 of them, 50–200 ms apart, 1 s timeouts.
FAST = {"retries": 3, "backoff": (0.05, 0.1, 0.2), "timeout": 1.0}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    s = LoopbackServer()
    yield s
    s.kill()


@pytest.fixture
async def readers() -> AsyncIterator[list[StreamReader]]:
    """Readers a test opened, closed at the end so no read() stays blocked."""
    opened: list[StreamReader] = []
    yield opened
    for reader in opened:
        await reader.aclose()


@pytest.fixture(scope="module")
def tone() -> bytes:
    return encode_stream(440, 2.0, "mp3")


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until *condition()* held; fails the test after *timeout*."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def read_exactly(reader: StreamReader, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = reader.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def read_all(reader: StreamReader) -> bytes:
    out = bytearray()
    while chunk := reader.read(65536):
        out += chunk
    return bytes(out)


class Drain:
    """Reads a reader in a thread until it ends or fails, counting bytes."""

    def __init__(self, reader: StreamReader) -> None:
        self.reader = reader
        self.count = 0
        self.error: MediaError | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while chunk := self.reader.read(8192):
                self.count += len(chunk)
        except MediaError as e:
            self.error = e


# --- Icecast ---------------------------------------------------------------------------


async def test_icy_metadata_is_stripped_and_reported(
    server: LoopbackServer, tone: bytes, readers: list[StreamReader]
) -> None:
    url = server.icy(
        "/radio",
        tone,
        metaint=1000,
        titles=("Artist - It's; tricky", "Second Song"),
        headers={"icy-name": "Loopback FM", "icy-genre": "Test"},
    )
    seen: list[dict[str, str]] = []
    reader = await open_stream(url, on_metadata=seen.append, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert server.requests[0].headers["icy-metadata"] == "1"
    data = await asyncio.to_thread(read_exactly, reader, 3 * len(tone))
    assert data == tone * 3  # no metadata bytes left in the audio
    assert reader.state == "playing"
    assert reader.format == "mp3"
    titles = [m.get("title") for m in seen if "title" in m]
    assert titles[:2] == ["Artist - It's; tricky", "Second Song"]
    assert reader.metadata["station"] == "Loopback FM"
    assert reader.metadata["genre"] == "Test"


async def test_icy_stream_decodes_to_the_tone(
    server: LoopbackServer, tone: bytes, readers: list[StreamReader]
) -> None:
    url = server.icy("/radio", tone, metaint=777, titles=("Now playing",))
    reader = await open_stream(url, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    pcm = await asyncio.to_thread(decode_all, reader, reader.format, limit_seconds=3.0)
    assert len(pcm) >= 3 * 44_100
    assert dominant_frequency(pcm[4096:]) == pytest.approx(440, abs=3)
    assert reader.metadata["title"] == "Now playing"


async def test_server_killed_mid_stream_retries_and_recovers(
    server: LoopbackServer, tone: bytes, readers: list[StreamReader]
) -> None:
    url = server.icy("/radio", tone, metaint=1000, titles=("Live",))
    states: list[str] = []
    reader = await open_stream(url, on_state=states.append, max_buffer=32_768, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    drain = Drain(reader)
    await wait_for(lambda: drain.count > 50_000)
    server.kill()
    await wait_for(lambda: reader.state == "retrying", 3.0)
    server.revive()
    await wait_for(lambda: reader.state == "playing", 3.0)
    before = drain.count
    await wait_for(lambda: drain.count > before + 100_000)
    assert states[-2:] == ["retrying", "playing"]
    assert server.hits["/radio"] >= 2
    assert any("reconnected" in gap for gap in reader.gaps)
    assert drain.error is None


async def test_server_gone_for_good_ends_in_error_within_bounds(
    server: LoopbackServer, tone: bytes, readers: list[StreamReader]
) -> None:
    url = server.icy("/radio", tone, metaint=1000)
    reader = await open_stream(url, max_buffer=32_768, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    drain = Drain(reader)
    await wait_for(lambda: drain.count > 10_000)
    server.kill()
    start = time.monotonic()
    await wait_for(lambda: reader.state == "error", 5.0)
    elapsed = time.monotonic() - start
    # Three retries 0.05 + 0.1 + 0.2 s apart, each refused at once.
    assert elapsed < 2.0
    assert reader.error is not None
    assert "failed after 3 retries" in reader.error
    assert "connection refused" in reader.error
    await asyncio.to_thread(drain.thread.join, 2.0)
    assert drain.error is not None and drain.error.message == reader.error


async def test_connection_refused_is_a_media_error() -> None:
    server = LoopbackServer()
    url = server.url("/radio")
    server.kill()
    start = time.monotonic()
    with pytest.raises(MediaError, match="after 4 tries: connection refused"):
        await open_stream(url, **FAST)  # type: ignore[arg-type]
    assert time.monotonic() - start < 2.0


async def test_slow_server_times_out(server: LoopbackServer, tone: bytes) -> None:
    url = server.icy("/radio", tone, delay=5.0)
    start = time.monotonic()
    with pytest.raises(MediaError, match=r"after 2 tries: .*timed out"):
        await open_stream(url, retries=1, backoff=(0.05,), timeout=0.3)
    assert time.monotonic() - start < 2.0


async def test_stalled_stream_retries_then_errors(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    url = server.hang("/radio")
    reader = await open_stream(url, retries=1, backoff=(0.05,), timeout=0.3)
    readers.append(reader)
    start = time.monotonic()
    with pytest.raises(MediaError, match=r"sent nothing for 0\.3 s"):
        await asyncio.to_thread(reader.read, 100)
    assert time.monotonic() - start < 2.0
    assert reader.state == "error"
    assert reader.error is not None and "after 1 retry" in reader.error


async def test_not_found_fails_at_once(server: LoopbackServer) -> None:
    url = server.status("/gone", 404)
    with pytest.raises(MediaError, match="answered HTTP 404"):
        await open_stream(url, **FAST)  # type: ignore[arg-type]
    assert server.hits["/gone"] == 1


async def test_server_errors_are_retried(server: LoopbackServer) -> None:
    url = server.status("/busy", 503)
    with pytest.raises(MediaError, match="after 4 tries: HTTP 503"):
        await open_stream(url, **FAST)  # type: ignore[arg-type]
    assert server.hits["/busy"] == 4


async def test_a_web_page_is_not_a_stream(server: LoopbackServer) -> None:
    url = server.file("/page", b"<html></html>", "text/html")
    with pytest.raises(MediaError, match="not an audio stream"):
        await open_stream(url, **FAST)  # type: ignore[arg-type]


async def test_a_file_over_http_plays_to_its_end(
    server: LoopbackServer, tone: bytes, readers: list[StreamReader]
) -> None:
    url = server.file("/song.mp3", tone, "audio/mpeg")
    reader = await open_stream(url, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert await asyncio.to_thread(read_all, reader) == tone
    assert reader.state == "ended"
    assert await asyncio.to_thread(reader.read, 10) == b""


async def test_a_station_playlist_resolves_to_its_stream(
    server: LoopbackServer, tone: bytes, readers: list[StreamReader]
) -> None:
    live = server.icy("/live", tone, metaint=500)
    pls = f"[playlist]\nNumberOfEntries=2\nFile1={server.url('/dead')}\nFile2={live}\n"
    url = server.file("/station.pls", pls.encode(), "audio/x-scpls")
    reader = await open_stream(url, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert reader.url == live
    assert await asyncio.to_thread(read_exactly, reader, 1500) == tone[:1500]


async def test_close_releases_a_blocked_read(
    server: LoopbackServer, readers: list[StreamReader]
) -> None:
    url = server.hang("/radio")
    reader = await open_stream(url, timeout=5.0)
    readers.append(reader)
    blocked = asyncio.ensure_future(asyncio.to_thread(reader.read, 100))
    await asyncio.sleep(0.1)
    assert not blocked.done()
    threading.Thread(target=reader.close).start()  # from another thread, as the decoder does
    assert await asyncio.wait_for(blocked, 2.0) == b""
    await reader.aclose()
    assert reader.state == "ended"


async def test_the_buffer_is_bounded_and_reading_on_the_loop_is_refused(
    server: LoopbackServer, tone: bytes, readers: list[StreamReader]
) -> None:
    url = server.icy("/radio", tone)
    reader = await open_stream(url, max_buffer=50_000, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    await asyncio.sleep(0.3)
    assert 0 < reader._buffered <= 50_000 + 65_536
    with pytest.raises(RuntimeError, match="worker thread"):
        reader.read(10)


async def test_a_stuck_producer_cannot_hang_the_reader() -> None:
    reader = StreamReader("http://127.0.0.1:9/never", stall_timeout=0.3)
    reader._start(asyncio.sleep(3600))
    start = time.monotonic()
    with pytest.raises(MediaError, match="stalled"):
        await asyncio.to_thread(reader.read, 10)
    assert time.monotonic() - start < 1.5
    await reader.aclose()
    assert reader.state == "error"


async def test_m3u8_urls_go_to_hls(server: LoopbackServer, readers: list[StreamReader]) -> None:
    server.file("/a.ts", b"A" * 100, "video/mp2t")
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\na.ts\n#EXT-X-ENDLIST\n"
    url = server.file("/index.m3u8", playlist.encode(), "application/vnd.apple.mpegurl")
    reader = await open_stream(url, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert reader.info["media_playlist"] == url
    assert await asyncio.to_thread(read_all, reader) == b"A" * 100
    # …and so does an HLS content type on a URL that does not say so.
    url = server.file("/live", playlist.encode(), "application/vnd.apple.mpegurl")
    reader = await open_stream(url, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    assert reader.format == "mpegts"
    assert await asyncio.to_thread(read_all, reader) == b"A" * 100


# --- ICY metadata, properties ------------------------------------------------------------


def test_icy_fields_with_quotes_semicolons_and_latin1() -> None:
    block = icy_block("StreamTitle='Guns N' Roses - Don't Cry; live';StreamUrl='http://x/';")
    assert parse_icy_metadata(block[1:]) == {
        "StreamTitle": "Guns N' Roses - Don't Cry; live",
        "StreamUrl": "http://x/",
    }
    assert parse_icy_metadata("StreamTitle='Caf\xe9';".encode("latin-1")) == {
        "StreamTitle": "Caf\xe9"
    }
    assert parse_icy_metadata(b"\x00" * 16) == {}


@settings(max_examples=150, deadline=None)
@given(
    metaint=st.integers(1, 64),
    blocks=st.lists(st.binary(max_size=255 * 16), max_size=12),
    tail=st.integers(0, 63),
    cuts=st.lists(st.integers(1, 200), max_size=40),
    data=st.data(),
)
def test_icy_demuxer_strips_any_blocks_at_any_split(
    metaint: int, blocks: list[bytes], tail: int, cuts: list[int], data: st.DataObject
) -> None:
    padded = [b + b"\x00" * (-len(b) % 16) for b in blocks]
    audio = data.draw(st.binary(min_size=metaint * len(padded) + min(tail, metaint)))
    audio = audio[: metaint * len(padded) + min(tail, metaint)]
    wire = bytearray()
    for i, block in enumerate(padded):
        wire += audio[i * metaint : (i + 1) * metaint] + bytes([len(block) // 16]) + block
    wire += audio[len(padded) * metaint :]
    demuxer = IcyDemuxer(metaint)
    got_audio, got_blocks, at = bytearray(), [], 0
    for cut in [*cuts, len(wire)]:
        piece, at = bytes(wire[at : at + cut]), at + cut
        a, b = demuxer.feed(piece)
        got_audio += a
        got_blocks += b
    assert bytes(got_audio) == audio
    assert got_blocks == [b for b in padded if b]


# --- stations ----------------------------------------------------------------------------


def test_the_packaged_station_list() -> None:
    stations = load_stations()
    assert len(stations) >= 3
    assert len({s.id for s in stations}) == len(stations)
    assert all(s.url.startswith(("http://", "https://")) for s in stations)
    item = stations[0].item()
    assert item.uri == f"radio:station/{stations[0].id}"
    assert item.live and item.source == SOURCE_INTERNET and item.title == stations[0].name


def test_a_station_file(tmp_path: Path) -> None:
    path = tmp_path / "stations.toml"
    path.write_text(
        '[[station]]\nid = "one"\nname = "One"\nurl = "http://127.0.0.1/one"\n'
        '[[station]]\nid = "two"\nname = "Two"\nurl = "https://127.0.0.1/two.m3u8"\n'
        'genre = "News"\n'
    )
    assert load_stations(path) == [
        Station("one", "One", "http://127.0.0.1/one"),
        Station("two", "Two", "https://127.0.0.1/two.m3u8", "News"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[station]\n", "not valid TOML"),
        ('[[station]]\nid = "a"\nname = "A"\nurl = "ftp://x/"\n', "http"),
        ('[[station]]\nid = "a b"\nname = "A"\nurl = "http://x/"\n', "id"),
        ('[[station]]\nid = "a"\nurl = "http://x/"\n', "needs a name"),
        ('[[station]]\nid = "a"\nname = "A"\nurl = "http://x/"\nbitrate = 1\n', "unknown"),
        ('[[station]]\nid = "a"\nname = "A"\nurl = "http://x/"\n' * 2, "twice"),
        ('station = "x"\n', "[[station]]"),
    ],
)
def test_a_bad_station_file_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "stations.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as raised:
        load_stations(path)
    assert str(path) in str(raised.value)


def test_a_missing_station_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_stations(tmp_path / "missing.toml")
