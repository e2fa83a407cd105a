"""Sinks: null, WAV (also after SIGKILL), device sinks' queue and failures, specs, auto."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from carmesh.errors import ConfigError
from carmesh.media.items import MediaError
from carmesh.media.pcm import BLOCK, RATE
from carmesh.media.sinks import (
    DEVICE_PREFILL,
    DEVICE_QUEUE,
    DeviceSink,
    NullSink,
    WavSink,
    open_sink,
    parse_spec,
    to_s16,
)
from tests.media.audio import read_wav, sine

ROOT = Path(__file__).resolve().parents[2]


def blocks(pcm: np.ndarray) -> list[np.ndarray]:
    return [pcm[i : i + BLOCK] for i in range(0, len(pcm), BLOCK)]


def test_null_sink_counts_and_discards() -> None:
    sink = open_sink("null")
    assert isinstance(sink, NullSink)
    for block in blocks(sine(440, 0.1)):
        sink.write(block)
    assert sink.frames_written == 4800
    sink.close()


def test_to_s16_clips_and_rounds() -> None:
    pcm = np.array([[0.0, 1.0], [-1.0, 2.0], [-3.0, 0.5]], dtype=np.float32)
    assert np.frombuffer(to_s16(pcm), "<i2").tolist() == [0, 32767, -32767, 32767, -32767, 16384]


def test_wav_sink_round_trip(tmp_path: Path) -> None:
    tone = sine(440, 0.5, 0.5)
    sink = open_sink(f"wav:{tmp_path / 'out.wav'}")
    for block in blocks(tone):
        sink.write(block)
    sink.close()
    sink.close()
    pcm, rate = read_wav(tmp_path / "out.wav")
    assert rate == RATE and pcm.shape == tone.shape
    assert np.abs(pcm - tone).max() < 2 / 32768


def test_wav_header_is_refreshed_every_second(tmp_path: Path) -> None:
    sink = WavSink(tmp_path / "live.wav")
    for block in blocks(sine(440, 1.5)):
        sink.write(block)
    pcm, _ = read_wav(tmp_path / "live.wav")  # not closed: the header says 1 s
    assert len(pcm) == RATE
    sink.close()
    assert len(read_wav(tmp_path / "live.wav")[0]) == 1.5 * RATE


WRITER = """
import sys, time
import numpy as np
from carmesh.media.sinks import WavSink
from tests.media.audio import sine
sink = WavSink(sys.argv[1])
tone = sine(440, 10.0, 0.5)
for i in range(0, len(tone), 480):
    sink.write(tone[i : i + 480])
    if i == 480 * 130:
        print("past a second", flush=True)
    time.sleep(0.001)
"""


def test_a_killed_writer_leaves_a_readable_wav(tmp_path: Path) -> None:
    path = tmp_path / "killed.wav"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env, cwd=ROOT
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"past a second\n"
        child.send_signal(signal.SIGKILL)
        child.wait(5)
    finally:
        if child.poll() is None:
            child.kill()
    pcm, rate = read_wav(path)
    assert rate == RATE and len(pcm) >= RATE and len(pcm) % RATE == 0
    assert np.abs(pcm - sine(440, len(pcm) / RATE, 0.5)).max() < 2 / 32768


def test_wav_sink_in_a_missing_folder_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="cannot write the WAV file"):
        open_sink(f"wav:{tmp_path / 'no' / 'such' / 'dir.wav'}")


@pytest.mark.parametrize("spec", ["", "wav", "wav:", "speaker", "null:x", "pulse:foo", "auto:1"])
def test_bad_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="not an audio output"):
        parse_spec(spec)


def test_specs() -> None:
    assert parse_spec("alsa") == ("alsa", "default")
    assert parse_spec("alsa:hw:1,0") == ("alsa", "hw:1,0")
    assert parse_spec("WAV:/tmp/a:b.wav") == ("wav", "/tmp/a:b.wav")
    assert parse_spec(" pulse ") == ("pulse", "")


def test_pulse_without_pasimple_says_what_to_install() -> None:
    try:
        import pasimple  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pasimple is installed here")
    with pytest.raises(MediaError, match=r"pasimple.*carmesh\[pulse\]"):
        open_sink("pulse")


def test_alsa_without_the_device_is_a_media_error() -> None:
    with pytest.raises(MediaError, match="cannot open the ALSA device 'carmesh-missing'"):
        open_sink("alsa:carmesh-missing")


def test_auto_falls_back_to_null(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if Path("/dev/snd").exists():
        pytest.skip("this machine has sound devices")
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert isinstance(open_sink("auto"), NullSink)


class FakeDevice(DeviceSink):
    """A device that takes *delay* seconds per block, or fails on the *fail_at*-th block."""

    def __init__(self, delay: float = 0.0, fail_at: int | None = None) -> None:
        super().__init__("fake")
        self.delay = delay
        self.fail_at = fail_at
        self.played: list[np.ndarray] = []
        self.released = threading.Event()
        self._open()
        self._start()

    def _open(self) -> None:
        pass

    def _play(self, block: np.ndarray) -> None:
        if self.fail_at is not None and len(self.played) + 1 >= self.fail_at:
            raise OSError("the device went away")
        time.sleep(self.delay)
        self.played.append(block)

    def _release(self) -> None:
        self.released.set()


def test_device_sink_plays_in_order_and_drains_on_close() -> None:
    sink = FakeDevice()
    tone = blocks(sine(440, 0.2))
    for block in tone:
        sink.write(block)
        time.sleep(0.0005)
    sink.close()
    assert sink.released.is_set() and sink.dropped == 0
    assert all(not block.any() for block in sink.played[:DEVICE_PREFILL])  # headroom
    assert np.array_equal(np.concatenate(sink.played[DEVICE_PREFILL:]), np.concatenate(tone))


def test_a_slow_device_drops_blocks_instead_of_blocking() -> None:
    sink = FakeDevice(delay=0.05)
    started = time.perf_counter()
    for block in blocks(sine(440, 0.3)):
        sink.write(block)
    assert time.perf_counter() - started < 0.05
    assert sink.dropped >= 30 - DEVICE_QUEUE - 1
    sink.close()


def test_a_failed_device_raises_on_the_next_write() -> None:
    sink = FakeDevice(fail_at=3)
    with pytest.raises(MediaError, match="audio output fake failed: the device went away"):
        for block in blocks(sine(440, 1.0)):
            sink.write(block)
            time.sleep(0.002)
    assert sink.released.wait(1)
    sink.close()
