"""Channels and the mixer, rendered block by block without an engine: sums, volume curve,
soft clip, click-free ramps, ducking, pause, stop, track chains and their events."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import numpy as np
import pytest

from carmesh.media.decode import Decoder
from carmesh.media.items import MediaError
from carmesh.media.mixer import CLIP_KNEE, Channel, Mixer, Ramp, State, soft_clip, volume_to_gain
from carmesh.media.pcm import BLOCK, RATE, db_to_gain, gain_to_db
from tests.media.audio import encode, max_step, sine, tone_level

RAMP = 960  # 20 ms


def dc(level: float, seconds: float) -> np.ndarray:
    return np.full((round(seconds * RATE), 2), level, dtype=np.float32)


async def render(mixer: Mixer, seconds: float) -> np.ndarray:
    blocks = []
    for _ in range(round(seconds * RATE / BLOCK)):
        await mixer.wait_ready(BLOCK)
        blocks.append(mixer.render(BLOCK))
    return np.concatenate(blocks)


def wav(tmp_path: Path, name: str, pcm: np.ndarray) -> Path:
    return encode(tmp_path / f"{name}.wav", pcm, "wav")


def test_volume_curve_is_cubic() -> None:
    assert volume_to_gain(100) == 1.0
    assert volume_to_gain(0) == 0.0
    assert gain_to_db(volume_to_gain(50)) == pytest.approx(-18.06, abs=0.01)
    assert gain_to_db(volume_to_gain(10)) == pytest.approx(-60.0)
    assert volume_to_gain(150) == 1.0 and volume_to_gain(-3) == 0.0
    gains = [volume_to_gain(v) for v in range(101)]
    assert all(a < b for a, b in itertools.pairwise(gains))


def test_soft_clip_bends_only_above_the_knee() -> None:
    x = np.linspace(-3, 3, 6000, dtype=np.float32).reshape(-1, 2)
    y = soft_clip(x.copy())
    quiet = np.abs(x) <= CLIP_KNEE
    assert np.array_equal(y[quiet], x[quiet])
    assert np.abs(y).max() <= 1.0 and np.abs(soft_clip(np.full((1, 2), 1.4, np.float32))).max() < 1
    flat = y.ravel()
    assert np.all(np.diff(flat) >= 0)  # monotonic
    assert np.abs(np.diff(flat)).max() <= np.abs(np.diff(x.ravel())).max() + 1e-6  # slope ≤ 1


def test_ramp_is_linear_and_exact() -> None:
    ramp = Ramp(1.0, 100)
    assert ramp.next(10) == 1.0
    ramp.set(0.0)
    gains = np.concatenate([np.ravel(ramp.next(30)) for _ in range(5)])
    assert np.allclose(gains[:100], 1.0 - np.arange(1, 101) / 100, atol=1e-6)
    assert np.all(gains[100:] == 0.0) and ramp.settled and ramp.value == 0.0
    ramp.set(1.0)
    ramp.next(50)
    ramp.set(0.0)  # reversal mid-ramp starts from where it got to
    assert np.ravel(ramp.next(1))[0] == pytest.approx(0.5 - 0.005)


async def test_channels_are_summed(tmp_path: Path) -> None:
    mixer = Mixer()
    mixer.add(Channel(Decoder(wav(tmp_path, "a", sine(440, 1, 0.25)))))
    mixer.add(Channel(Decoder(wav(tmp_path, "b", sine(880, 1, 0.25)))))
    out = await render(mixer, 0.5)
    assert tone_level(out, 440, 4800, 9600) == pytest.approx(0.25, abs=0.005)
    assert tone_level(out, 880, 4800, 9600) == pytest.approx(0.25, abs=0.005)
    assert np.abs(out).max() == pytest.approx(0.25 + 0.25 * 0.77, abs=0.05)


async def test_loud_sums_are_soft_clipped(tmp_path: Path) -> None:
    mixer = Mixer()
    for name in ("a", "b"):
        mixer.add(Channel(Decoder(wav(tmp_path, name, sine(440, 1, 0.7)))))
    out = await render(mixer, 0.3)
    assert CLIP_KNEE < np.abs(out).max() < 1.0


async def test_zone_volume_follows_the_curve_and_ramps(tmp_path: Path) -> None:
    mixer = Mixer()
    mixer.add(Channel(Decoder(wav(tmp_path, "dc", dc(0.5, 1)))))
    await render(mixer, 0.05)
    mixer.volume = 50
    out = await render(mixer, 0.1)
    assert out[RAMP:, 0] == pytest.approx(0.5 * volume_to_gain(50), abs=1e-4)
    assert max_step(out) <= 0.5 * (1 - volume_to_gain(50)) / RAMP + 1e-4
    mixer.volume = 0
    assert np.abs((await render(mixer, 0.05))[RAMP:]).max() == 0.0


@pytest.mark.parametrize("change", ["gain", "duck", "pause", "stop", "volume"])
async def test_every_change_is_a_ramp_without_steps(tmp_path: Path, change: str) -> None:
    mixer = Mixer()
    channel = Channel(Decoder(wav(tmp_path, "full", dc(1.0, 1))))
    mixer.add(channel)
    await render(mixer, 0.02)
    if change == "gain":
        channel.gain = 0.0
    elif change == "duck":
        channel.duck(-40)
    elif change == "pause":
        channel.pause()
    elif change == "stop":
        channel.stop()
    else:
        mixer.volume = 0
    out = await render(mixer, 0.06)
    # a 0 dBFS DC ramped to (almost) nothing over 960 frames: at most 1/960 per sample
    assert max_step(out) <= 1.0 / RAMP + 1e-5
    assert np.abs(out[RAMP:]).max() <= 0.011
    assert np.abs(out[RAMP - 100 : RAMP]).max() > 0  # a ramp, not a cut


async def test_duck_lowers_by_the_decibels_within_the_ramp(tmp_path: Path) -> None:
    mixer = Mixer()
    channel = Channel(Decoder(wav(tmp_path, "dc", dc(0.5, 1))))
    mixer.add(channel)
    await render(mixer, 0.02)
    channel.duck(-12)
    out = await render(mixer, 0.05)
    assert out[RAMP:, 0] == pytest.approx(0.5 * db_to_gain(-12), abs=1e-4)
    assert out[RAMP - 1, 0] == pytest.approx(0.5 * db_to_gain(-12), abs=1e-4)
    assert out[RAMP - 2, 0] > out[RAMP - 1, 0]
    channel.unduck()
    out = await render(mixer, 0.05)
    assert out[RAMP:, 0] == pytest.approx(0.5, abs=1e-4)


async def test_pause_freezes_the_position_and_resume_continues(tmp_path: Path) -> None:
    mixer = Mixer()
    channel = Channel(Decoder(wav(tmp_path, "t", sine(440, 2, 0.5))))
    mixer.add(channel)
    await render(mixer, 0.1)
    channel.pause()
    paused = await render(mixer, 0.1)
    position = channel.position
    assert position == pytest.approx(0.1 + RAMP / RATE, abs=BLOCK / RATE)
    assert np.abs(paused[RAMP:]).max() == 0.0
    assert not mixer.busy and channel.state is State.PAUSED
    await render(mixer, 0.1)
    assert channel.position == position
    channel.resume()
    resumed = await render(mixer, 0.1)
    assert channel.position == pytest.approx(position + 0.1)
    assert max_step(resumed[:RAMP]) <= 2 * np.pi * 440 * 0.5 / RATE + 0.5 / RAMP
    assert tone_level(resumed, 440, RAMP, 3000) == pytest.approx(0.5, abs=0.01)


async def test_stop_ramps_down_then_leaves_and_closes(tmp_path: Path) -> None:
    mixer = Mixer()
    decoder = Decoder(wav(tmp_path, "t", sine(440, 2)))
    channel = Channel(decoder)
    mixer.add(channel)
    await render(mixer, 0.05)
    channel.stop()
    await render(mixer, 0.05)
    assert mixer.channels == [] and channel.done and decoder.ended


async def test_a_chain_of_tracks_plays_back_to_back_with_events(tmp_path: Path) -> None:
    tone = sine(440, 1.5, 0.5)
    parts = [tone[:24_000], tone[24_000:48_000], tone[48_000:]]
    paths = [wav(tmp_path, f"p{i}", part) for i, part in enumerate(parts)]
    asked: list[float] = []
    changes: list[int] = []
    ended = asyncio.Event()

    def needs_next() -> Decoder | None:
        asked.append(channel.position)
        following = len(asked)
        return Decoder(paths[following]) if following < len(paths) else None

    channel = Channel(
        Decoder(paths[0]),
        on_needs_next=needs_next,
        on_track_change=changes.append,
        on_end=ended.set,
    )
    mixer = Mixer()
    mixer.add(channel)
    out = await render(mixer, 1.6)
    await asyncio.wait_for(ended.wait(), 1)
    assert changes == [1, 2] and len(asked) == 3
    assert np.abs(out[: len(tone)] - tone).max() < 1e-3  # seamless: the original tone
    assert np.abs(out[len(tone) :]).max() == 0.0
    assert mixer.channels == []


async def test_set_next_is_played_after_the_current_track(tmp_path: Path) -> None:
    channel = Channel(Decoder(wav(tmp_path, "a", sine(440, 0.2))))
    channel.set_next(Decoder(wav(tmp_path, "b", sine(880, 0.2))))
    mixer = Mixer()
    mixer.add(channel)
    out = await render(mixer, 0.5)
    assert tone_level(out, 880, 12_000, 4800) == pytest.approx(0.5, abs=0.01)
    assert channel.track_index == 1


async def test_a_broken_track_is_reported_and_the_channel_ends(tmp_path: Path) -> None:
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"nonsense" * 1000)
    errors: list[MediaError] = []
    ends: list[None] = []
    channel = Channel(Decoder(bad), on_error=errors.append, on_end=lambda: ends.append(None))
    mixer = Mixer()
    mixer.add(channel)
    out = await render(mixer, 0.05)
    await asyncio.sleep(0)
    assert channel.state is State.ERROR and mixer.channels == []
    assert len(errors) == 1 and "not a playable audio file" in str(errors[0]) and not ends
    assert np.abs(out).max() == 0.0
