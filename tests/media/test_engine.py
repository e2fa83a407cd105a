"""The engine end to end: real encoded files in, a real WAV file out, analysed with numpy."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from pathlib import Path

import numpy as np
import pytest

from carmesh.errors import ConfigError, NotFound
from carmesh.media.decode import Decoder
from carmesh.media.engine import SINK_FAILED, UNDERRUN, AudioEngine, EngineEvent
from carmesh.media.mixer import Channel
from carmesh.media.pcm import BLOCK, RATE
from carmesh.media.sinks import Sink
from tests.media.audio import (
    audible_span,
    encode,
    level_db,
    longest_silence,
    max_step,
    read_wav,
    sine,
    tone_level,
)

RAMP_MS = 20.0
RAMP = round(RAMP_MS * RATE / 1000)
#: Largest sample-to-sample change of a 440 Hz tone at amplitude 0.5.
TONE_STEP = 2 * math.pi * 440 * 0.5 / RATE


async def test_navigation_prompt_ducks_music_by_the_configured_db(tmp_path: Path) -> None:
    music_file = encode(tmp_path / "music.mp3", sine(440, 3.0, 0.5), "mp3", bitrate=320_000)
    prompt_file = encode(tmp_path / "prompt.flac", sine(880, 1.0, 0.25), "flac")
    out = tmp_path / "out.wav"
    engine = AudioEngine({"driver": f"wav:{out}"}, ramp_ms=RAMP_MS)
    music = Channel(Decoder(music_file), name="music")
    engine.play("driver", music)
    async with engine:
        await asyncio.sleep(0.3)
        engine.play("driver", Channel(Decoder(prompt_file), name="prompt"))
        music.duck(-12)
        changed = engine.frames_rendered("driver")
        await asyncio.sleep(0.3)
        rendered = engine.frames_rendered("driver")
    pcm, _ = read_wav(out)
    assert len(pcm) == rendered and changed >= 0.2 * RATE

    before = tone_level(pcm, 440, changed - 4800, 4800)
    assert level_db(before) == pytest.approx(-6.02, abs=0.3)
    done = changed + RAMP + BLOCK  # the ramp completes within ramp_ms + one block
    after = tone_level(pcm, 440, done, 4800)
    assert level_db(after) - level_db(before) == pytest.approx(-12.0, abs=0.5)
    halfway = tone_level(pcm, 440, changed + RAMP // 2 - 120, 240)
    assert after < halfway < before  # a ramp, not a step
    assert tone_level(pcm, 880, done + 2400, 4800) == pytest.approx(0.25, abs=0.01)
    assert max_step(pcm[changed - 480 : done]) < TONE_STEP + 0.25 * 2 * math.pi * 880 / RATE


async def test_pause_silences_and_freezes_the_position_resume_continues(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    engine = AudioEngine({"driver": f"wav:{out}"}, ramp_ms=RAMP_MS)
    channel = Channel(Decoder(encode(tmp_path / "t.flac", sine(440, 3.0, 0.5), "flac")))
    engine.play("driver", channel)
    async with engine:
        await asyncio.sleep(0.2)
        channel.pause()
        paused_at = engine.frames_rendered("driver")
        await asyncio.sleep(0.1)
        position = channel.position
        await asyncio.sleep(0.15)
        assert channel.position == position and channel.paused
        channel.resume()
        resumed_at = engine.frames_rendered("driver")
        await asyncio.sleep(0.2)
    pcm, _ = read_wav(out)
    silent = pcm[paused_at + RAMP + BLOCK : resumed_at]
    assert len(silent) > 0.1 * RATE and np.abs(silent).max() == 0.0
    assert max_step(pcm[paused_at - BLOCK : resumed_at + RAMP + BLOCK]) < TONE_STEP + 0.002
    assert tone_level(pcm, 440, resumed_at + RAMP, 4800) == pytest.approx(0.5, abs=0.01)
    assert channel.position == pytest.approx(position + (len(pcm) - resumed_at) / RATE, abs=0.03)


@pytest.mark.parametrize("codec", ["mp3", "flac"])
async def test_consecutive_tracks_join_without_a_gap(tmp_path: Path, codec: str) -> None:
    tone = sine(440, 2.0, 0.5)
    halves = [
        encode(tmp_path / f"{i}.{codec}", part, codec, bitrate=320_000 if codec == "mp3" else None)
        for i, part in enumerate((tone[:RATE], tone[RATE:]))
    ]
    changes: list[int] = []
    ended = asyncio.Event()
    channel = Channel(
        Decoder(halves[0]),
        on_needs_next=lambda: Decoder(halves[1]) if not changes else None,
        on_track_change=changes.append,
        on_end=ended.set,
    )
    out = tmp_path / "out.wav"
    engine = AudioEngine({"driver": f"wav:{out}"}, realtime=False)
    engine.play("driver", channel)
    async with engine:
        await asyncio.wait_for(ended.wait(), 10)
    assert changes == [1]
    pcm, _ = read_wav(out)
    first, last = audible_span(pcm)
    assert first <= 1 and last == pytest.approx(len(tone), abs=2)  # sin(0) is silent
    played = pcm[first:last]
    assert longest_silence(played) < 0.020 * RATE  # the bound; in fact 0:
    assert longest_silence(played) <= 2  # a sine has a zero crossing or two under 1e-3
    junction = pcm[RATE - 2400 : RATE + 2400]
    bound = TONE_STEP + (0.002 if codec == "flac" else 0.01)
    assert max_step(junction) < bound  # no click where the tracks meet
    error = np.abs(junction - tone[RATE - 2400 : RATE + 2400]).max()
    assert error < (2 / 32768 + 1e-6 if codec == "flac" else 0.01)  # in phase, no offset


async def test_a_stall_is_caught_up_then_counted_as_an_underrun(tmp_path: Path) -> None:
    engine = AudioEngine({"driver": "null"})
    events: list[EngineEvent] = []
    engine.add_listener(events.append)
    async with engine:
        await asyncio.sleep(0.1)
        assert engine.underruns("driver") == 0
        started_frames = engine.frames_rendered("driver")
        started = time.perf_counter()
        time.sleep(0.02)  # 2 blocks late: caught up, no underrun
        await asyncio.sleep(0.05)
        assert engine.underruns("driver") == 0
        time.sleep(0.15)  # 15 blocks late: 5 caught up, the rest skipped
        await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        frames = engine.frames_rendered("driver") - started_frames
    assert engine.underruns("driver") == 1
    assert 8 <= engine.skipped_blocks("driver") <= 11
    assert frames == pytest.approx(
        elapsed * RATE - engine.skipped_blocks("driver") * BLOCK, abs=3 * BLOCK
    )
    assert [e.kind for e in events] == [UNDERRUN]


class Breaking(Sink):
    """Fails on its *fail_at*-th block."""

    spec = "breaking"

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.closed = False

    def write(self, block: np.ndarray) -> None:
        if self.frames_written // BLOCK + 1 >= self.fail_at:
            raise OSError("the sound card is gone")
        self.frames_written += len(block)

    def close(self) -> None:
        self.closed = True


async def test_a_failing_sink_is_replaced_by_null_and_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = Breaking(fail_at=3)
    engine = AudioEngine({"driver": broken, "rear": "null"})
    events: list[EngineEvent] = []
    engine.add_listener(events.append)
    with caplog.at_level(logging.WARNING, logger="carmesh.media.engine"):
        async with engine:
            await asyncio.sleep(0.1)
            assert engine.sink("driver") is not broken and broken.closed
            assert engine.frames_rendered("driver") >= 5 * BLOCK
    assert [(e.zone, e.kind) for e in events] == [("driver", SINK_FAILED)]
    assert "the sound card is gone" in events[0].message
    assert sum("sound card is gone" in r.getMessage() for r in caplog.records) == 1


async def test_a_sink_that_cannot_open_becomes_null(tmp_path: Path) -> None:
    engine = AudioEngine({"driver": "alsa:carmesh-missing"})
    events: list[EngineEvent] = []
    engine.add_listener(events.append)
    async with engine:
        await asyncio.sleep(0.03)
        assert engine.sink("driver").spec == "null"
    assert [e.kind for e in events] == [SINK_FAILED]


async def test_zones_and_specs_are_checked() -> None:
    with pytest.raises(ConfigError):
        AudioEngine({"driver": "speakers"})
    engine = AudioEngine({"driver": "null"})
    with pytest.raises(NotFound, match="no audio zone 'rear'"):
        engine.play("rear", Channel())
    engine.set_volume("driver", 40)
    assert engine.volume("driver") == 40


async def test_zones_are_mixed_separately(tmp_path: Path) -> None:
    files = {f: encode(tmp_path / f"{f}.flac", sine(f, 1.0, 0.5), "flac") for f in (440, 880)}
    engine = AudioEngine(
        {"driver": f"wav:{tmp_path / 'd.wav'}", "rear": f"wav:{tmp_path / 'r.wav'}"},
        realtime=False,
    )
    front, rear = Channel(Decoder(files[440])), Channel(Decoder(files[880]))
    engine.play("driver", front)
    engine.play("rear", rear)
    engine.set_volume("rear", 50)
    async with engine:
        while front.pulling or rear.pulling:
            await asyncio.sleep(0.01)
    driver, _ = read_wav(tmp_path / "d.wav")
    back, _ = read_wav(tmp_path / "r.wav")
    assert tone_level(driver, 440, 4800, 9600) == pytest.approx(0.5, abs=0.01)
    assert tone_level(driver, 880, 4800, 9600) < 0.001
    assert tone_level(back, 880, 4800, 9600) == pytest.approx(0.5 * 0.125, abs=0.005)


async def test_remove_fades_the_channel_out(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    engine = AudioEngine({"driver": f"wav:{out}"})
    channel = Channel(Decoder(encode(tmp_path / "t.flac", sine(440, 2.0), "flac")))
    engine.play("driver", channel)
    async with engine:
        await asyncio.sleep(0.1)
        engine.remove(channel)
        removed_at = engine.frames_rendered("driver")
        await asyncio.sleep(0.1)
        assert engine.channels("driver") == [] and channel.decoder is not None
        assert channel.decoder.ended
    pcm, _ = read_wav(out)
    assert max_step(pcm[removed_at - BLOCK :]) < TONE_STEP + 0.001
    assert np.abs(pcm[removed_at + RAMP + BLOCK :]).max() == 0.0


async def test_an_idle_fast_engine_renders_silence_in_real_time() -> None:
    engine = AudioEngine({"driver": "null"}, realtime=False)

    def clock() -> int:  # frames of output time, rendered or skipped after a stall
        return engine.frames_rendered("driver") + engine.skipped_blocks("driver") * BLOCK

    async with engine:
        await asyncio.sleep(0.02)
        started, start_frames = time.perf_counter(), clock()
        await asyncio.sleep(0.2)
        frames, elapsed = clock() - start_frames, time.perf_counter() - started
    assert frames == pytest.approx(elapsed * RATE, abs=3 * BLOCK)
