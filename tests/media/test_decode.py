"""The decoder: real files from every codec, seeking, file-likes, failures, stopping."""

from __future__ import annotations

import asyncio
import functools
import io
import socket
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from carmesh.media.decode import Decoder
from carmesh.media.items import MediaError
from carmesh.media.pcm import RATE
from tests.media.audio import CODECS, chirp, encode, sine, tone_level

LOSSY_EXTRA = {"aac": 1024}  # AAC in MP4 keeps its end padding; the others are exact


async def decode_all(decoder: Decoder, block: int = 4800) -> np.ndarray:
    parts = []
    while (pcm := await decoder.read(block)) is not None:
        parts.append(pcm)
    return np.concatenate(parts) if parts else np.zeros((0, 2), np.float32)


def lag(decoded: np.ndarray, reference: np.ndarray, at: int = 10_000, span: int = 8_000) -> int:
    """Frames by which *decoded* is late against *reference* (a chirp: unambiguous)."""
    ref = reference[at : at + span, 0].astype(np.float64)
    return max(
        range(-2000, 2001),
        key=lambda d: (
            float(np.dot(decoded[at + d : at + d + span, 0], ref))
            if at + d >= 0 and at + d + span <= len(decoded)
            else -1e18
        ),
    )


@pytest.mark.parametrize("codec", list(CODECS))
async def test_each_codec_decodes_to_the_same_audio(tmp_path: Path, codec: str) -> None:
    reference = chirp(200, 4000, 1.0)
    path = encode(tmp_path / f"chirp{CODECS[codec][3]}", reference, codec)
    decoder = Decoder(path)
    pcm = await decode_all(decoder)

    assert pcm.dtype == np.float32 and pcm.shape[1] == 2
    assert RATE <= len(pcm) <= RATE + LOSSY_EXTRA.get(codec, 0)
    assert lag(pcm, reference) == 0  # encoder delay trimmed: sample-exact start
    assert decoder.duration == pytest.approx(1.0, abs=0.03)
    assert decoder.position == pytest.approx(len(pcm) / RATE)
    assert decoder.ended and decoder.error is None
    error = np.abs(pcm[:RATE] - reference).max()
    assert error < (1e-3 if codec in ("flac", "wav") else 0.2)


async def test_other_rates_are_resampled_to_48k(tmp_path: Path) -> None:
    path = encode(tmp_path / "cd.flac", sine(1000, 1.0, 0.5, rate=44_100), "flac", rate=44_100)
    pcm = await decode_all(Decoder(path))
    assert abs(len(pcm) - RATE) <= 64
    assert tone_level(pcm, 1000, 4800, 9600) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("codec", ["mp3", "flac", "opus"])
async def test_start_seeks_sample_exactly(tmp_path: Path, codec: str) -> None:
    reference = chirp(200, 4000, 2.0)
    path = encode(tmp_path / f"chirp{CODECS[codec][3]}", reference, codec)
    decoder = Decoder(path, start=1.25)
    first = await decoder.read(10)
    assert decoder.position == pytest.approx(1.25 + 10 / RATE)
    rest = await decode_all(decoder)
    pcm = np.concatenate([first, rest])
    assert len(pcm) == pytest.approx(0.75 * RATE, abs=2)
    assert lag(pcm, reference[round(1.25 * RATE) :], at=2000) == 0


async def test_a_start_past_the_end_ends_at_once(tmp_path: Path) -> None:
    path = encode(tmp_path / "short.flac", sine(440, 0.5), "flac")
    assert await Decoder(path, start=3.0).read(480) is None


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"this is not audio at all" * 100, "not a playable audio file"),
        (b"", "not a playable audio file"),
    ],
)
async def test_a_bad_file_is_a_media_error(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "bad.mp3"
    path.write_bytes(content)
    with pytest.raises(MediaError, match=fragment):
        await Decoder(path).read(480)


async def test_a_missing_file_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="does not exist"):
        await Decoder(tmp_path / "nothing.flac").read(480)


async def test_a_truncated_file_plays_what_is_there(tmp_path: Path) -> None:
    path = encode(tmp_path / "full.mp3", sine(440, 2.0), "mp3", bitrate=128_000)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    pcm = await decode_all(Decoder(cut))
    assert 0.8 * RATE < len(pcm) < 1.2 * RATE


class Pipe:
    """A non-seekable file-like, as a network stream is."""

    def __init__(self, data: bytes, format: str | None = None) -> None:
        self.data = data
        self.at = 0
        self.format = format
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        size = len(self.data) if size < 0 else size
        chunk = self.data[self.at : self.at + size]
        self.at += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed = True


async def test_file_like_sources(tmp_path: Path) -> None:
    reference = chirp(200, 4000, 1.0)
    data = encode(tmp_path / "c.mp3", reference, "mp3").read_bytes()
    seekable = await decode_all(Decoder(io.BytesIO(data)))
    assert len(seekable) == RATE and lag(seekable, reference) == 0

    pipe = Pipe(data)
    streamed = await decode_all(Decoder(pipe, format="mp3"))
    # FFmpeg trims the encoder delay; the end padding only when it can seek (≤ 1 frame)
    assert RATE <= len(streamed) <= RATE + 1152 and lag(streamed, reference) == 0
    assert pipe.closed  # the decoder owns its file-like

    hinted = await decode_all(Decoder(Pipe(data, format="mp3")))
    assert len(hinted) == len(streamed)


async def test_a_failing_stream_hands_out_its_audio_then_raises(tmp_path: Path) -> None:
    data = encode(tmp_path / "t.mp3", sine(440, 3.0), "mp3").read_bytes()

    class Dropping(Pipe):
        def read(self, size: int = -1) -> bytes:
            if self.at > len(self.data) // 2:
                raise MediaError("the stream went away")
            return super().read(size)

    decoder = Decoder(Dropping(data))
    got = 0
    with pytest.raises(MediaError, match="went away"):
        while (pcm := await decoder.read(4800)) is not None:
            got += len(pcm)
    assert 1.0 * RATE < got < 2.5 * RATE  # up to one 32 kB read past the half


async def test_parts_after_a_discontinuity_are_decoded_on(tmp_path: Path) -> None:
    first = encode(tmp_path / "a.mp3", sine(440, 0.5), "mp3").read_bytes()
    second = encode(tmp_path / "b.ogg", sine(880, 0.5), "vorbis").read_bytes()

    class Parts(Pipe):
        """Two parts of different formats, as an HLS reader hands them over."""

        def __init__(self) -> None:
            super().__init__(first, "mp3")
            self.discontinuity = False
            self.parts = [(second, "ogg")]

        def read(self, size: int = -1) -> bytes:
            chunk = super().read(size)
            if not chunk and self.parts:
                self.discontinuity = True
            return chunk

        def next_part(self) -> bool:
            self.data, self.format = self.parts.pop(0)
            self.at, self.discontinuity = 0, False
            return True

    pcm = await decode_all(Decoder(Parts()))
    assert len(pcm) == pytest.approx(RATE, abs=1200)
    assert tone_level(pcm, 440, 4800, 9600) == pytest.approx(0.5, abs=0.03)
    assert tone_level(pcm, 880, len(pcm) - 14400, 9600) == pytest.approx(0.5, abs=0.03)


async def test_the_buffer_stays_bounded(tmp_path: Path) -> None:
    path = encode(tmp_path / "long.flac", sine(440, 6.0, 0.1), "flac")
    decoder = Decoder(path, buffer_seconds=1.0)
    await decoder.wait_buffered(RATE)
    await asyncio.sleep(0.2)
    assert decoder.buffered == RATE and not decoder.finished
    await decoder.read(RATE // 2)
    await decoder.wait_buffered(RATE)
    assert decoder.buffered == RATE
    decoder.close()
    assert decoder.join(2.0)


async def test_close_stops_a_thread_blocked_in_a_read() -> None:
    class Blocking:
        """Blocks in read() until closed, as a network reader with no data does."""

        def __init__(self) -> None:
            self.closed = threading.Event()
            self.reading = threading.Event()

        def read(self, size: int = -1) -> bytes:
            self.reading.set()
            self.closed.wait(10)
            return b""

        def close(self) -> None:
            self.closed.set()

    source = Blocking()
    decoder = Decoder(source, format="mp3")
    assert await asyncio.to_thread(source.reading.wait, 5)
    started = time.perf_counter()
    decoder.close()
    assert time.perf_counter() - started < 0.05
    assert await asyncio.to_thread(decoder.join, 1.0)
    assert await decoder.read(480) is None


async def test_close_never_waits_for_a_stubborn_read(tmp_path: Path) -> None:
    data = encode(tmp_path / "s.mp3", sine(440, 1.0), "mp3").read_bytes()

    class Stubborn(Pipe):
        """Ignores close(): each read takes 0.3 s."""

        def read(self, size: int = -1) -> bytes:
            time.sleep(0.3)
            return super().read(size)

        def close(self) -> None:
            pass

    decoder = Decoder(Stubborn(data))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    decoder.close()
    assert time.perf_counter() - started < 0.05
    assert await asyncio.to_thread(decoder.join, 2.0)  # ends when the read returns
    assert decoder.buffered == 0 and await decoder.read(480) is None


async def test_close_while_waiting_for_room(tmp_path: Path) -> None:
    decoder = Decoder(encode(tmp_path / "l.flac", sine(440, 5.0), "flac"), buffer_seconds=0.5)
    await decoder.wait_buffered(RATE // 2)
    decoder.close()
    assert await asyncio.to_thread(decoder.join, 1.0)


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on a free port serving *tmp_path*."""
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


async def test_urls_are_fetched_by_ffmpeg(http_root: tuple[str, Path]) -> None:
    base, root = http_root
    reference = chirp(200, 4000, 1.0)
    encode(root / "c.mp3", reference, "mp3")
    pcm = await decode_all(Decoder(f"{base}/c.mp3"))
    assert len(pcm) == RATE and lag(pcm, reference) == 0  # served with ranges: trimmed
    with pytest.raises(MediaError, match=r"could not be fetched: .*404"):
        await Decoder(f"{base}/missing.mp3").read(480)
    file_url = (root / "c.mp3").as_uri()
    assert len(await decode_all(Decoder(file_url))) == RATE


async def test_a_refused_connection_is_a_media_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MediaError, match="could not be reached"):
        await Decoder(f"http://127.0.0.1:{port}/x.mp3").read(480)
