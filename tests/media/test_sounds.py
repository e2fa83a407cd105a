"""Sounds played under audio focus by the media service in process (a real broker, the engine
writing a WAV file, a library of one long 440 Hz track): a navigation prompt ducks the music
by ``duck_db`` and lets it back, a call pauses it and it goes on where it was, a safety chime
is heard over a call, a notification is refused while someone holds TRANSIENT_EXCLUSIVE, a
stopped sound gives its focus back, a bad source leaves no focus held — all heard in the WAV
output."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from carmesh.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from carmesh.media.sounds import CHIMES, synthesize
from tests.media.audio import encode, read_wav, sine, tone_level
from tests.media.test_service import Car_, settings_for, start_car, stop, until

RATE = 48_000
MUSIC = 440.0
#: The music's level in the WAV: amplitude 0.5 at the zone's default volume 50 (−18 dB).
LEVEL = 0.5 * 0.5**3
DUCKED = 10 ** (-12 / 20)  # duck_db's default
WINDOW = 4800  # 100 ms


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sounds-library") / "music"
    root.mkdir()
    encode(
        root / "Hum.flac",
        sine(MUSIC, 20.0),
        "flac",
        tags={"title": "Hum", "artist": "Synth", "album": "Hum"},
    )
    return root


@pytest.fixture
async def car(tmp_path: Path, music: Path) -> AsyncIterator[Car_]:
    running = await start_car(settings_for(tmp_path, music))
    try:
        yield running
    finally:
        await stop(running)


async def play_music(car: Car_) -> None:
    track = await car.track_id("Hum")
    await car.service.play("driver", uri=f"library:track/{track}")
    await asyncio.sleep(0.8)


async def no_sounds(car: Car_) -> None:
    await until(lambda: not car.service.sounds()["sounds"], what="the sounds to end")


def level(pcm: np.ndarray, freq: float, at: int) -> float:
    return tone_level(pcm, freq, at, WINDOW)


def test_the_built_in_sounds() -> None:
    for name in CHIMES:
        samples = synthesize(f"chime:{name}")
        assert samples is not None and 0.2 * RATE < len(samples) < RATE
        assert 0.3 <= np.max(np.abs(samples)) <= 0.7
    tone = synthesize("tone:880:0.25")
    assert tone is not None and len(tone) == RATE // 4
    assert synthesize("library:track/1") is None
    for bad in ("tone:880", "tone:5:1", "tone:880:0", "tone:880:61", "tone:x:1", "chime:boom"):
        with pytest.raises(InvalidArgument):
            synthesize(bad)


async def test_a_navigation_prompt_ducks_the_music_while_it_plays(car: Car_) -> None:
    await play_music(car)
    engine = car.service.engine
    chime_at = engine.frames_rendered("driver")
    chime = await car.service.play_sound("navigation", "chime:navigation")
    assert chime["gain"] == "transient_may_duck"
    assert car.state()["focus"] == "loss_transient_can_duck"
    await no_sounds(car)
    await until(lambda: car.state()["focus"] == "gain", what="the music's focus back")
    await asyncio.sleep(0.5)
    prompt_at = engine.frames_rendered("driver")
    prompt = await car.service.play_sound("navigation", "tone:880:1")
    assert set(prompt) >= {"id", "usage", "zone", "state"}
    assert (prompt["usage"], prompt["zone"], prompt["state"]) == ("navigation", "driver", "playing")
    stack = car.service.focus_stack("driver")
    assert [(h["client_id"], h["state"]) for h in stack["holders"]] == [
        (f"sound:{prompt['id']}", "gain"),
        ("media:library", "loss_transient_can_duck"),
    ]
    await no_sounds(car)
    await until(lambda: car.state()["focus"] == "gain", what="the music's focus back")
    await asyncio.sleep(0.5)
    assert car.state()["state"] == "playing"
    await stop(car)

    pcm, _ = read_wav(car.wav)
    before = level(pcm, MUSIC, chime_at - 3 * WINDOW)
    assert before == pytest.approx(LEVEL, rel=0.1)
    # the chime (0.6 s): ducked during, full level after
    assert level(pcm, MUSIC, chime_at + WINDOW) / before == pytest.approx(DUCKED, rel=0.1)
    assert level(pcm, MUSIC, chime_at + RATE) == pytest.approx(before, rel=0.1)
    # the prompt (1 s): 880 Hz heard over the ducked music, then the music at full level
    assert level(pcm, 880.0, prompt_at + 4 * WINDOW) == pytest.approx(LEVEL, rel=0.1)
    for at in (prompt_at + WINDOW, prompt_at + 5 * WINDOW, prompt_at + 8 * WINDOW):
        assert level(pcm, MUSIC, at) / before == pytest.approx(DUCKED, rel=0.1)
    after = prompt_at + RATE + 2 * WINDOW
    assert level(pcm, MUSIC, after) == pytest.approx(before, rel=0.1)
    assert level(pcm, 880.0, after) < 0.001


async def test_a_call_pauses_the_music_which_goes_on_where_it_was(car: Car_) -> None:
    await play_music(car)
    engine = car.service.engine
    call_at = engine.frames_rendered("driver")
    call = await car.service.play_sound("call", "tone:660:1.5")
    assert call["gain"] == "transient"
    await until(lambda: car.state()["state"] == "paused", what="paused by the call")
    assert car.state()["focus"] == "loss_transient"
    paused_at = car.state()["position"]
    assert paused_at > 0.7
    await asyncio.sleep(0.5)
    assert car.state()["position"] == pytest.approx(paused_at, abs=0.02)
    await no_sounds(car)
    await until(lambda: car.state()["state"] == "playing", what="playing after the call")
    assert paused_at <= car.state()["position"] < paused_at + 0.3  # continued, not restarted
    assert car.service.focus_stack("driver")["holders"][0]["state"] == "gain"
    await asyncio.sleep(0.6)
    await stop(car)

    pcm, _ = read_wav(car.wav)
    before = level(pcm, MUSIC, call_at - 3 * WINDOW)
    assert before == pytest.approx(LEVEL, rel=0.1)
    for at in (call_at + 2 * WINDOW, call_at + 7 * WINDOW, call_at + 12 * WINDOW):
        assert level(pcm, MUSIC, at) < 0.001, "the music is heard during the call"
        assert level(pcm, 660.0, at) == pytest.approx(LEVEL, rel=0.1)
    after = call_at + round(1.5 * RATE) + 3 * WINDOW
    assert level(pcm, MUSIC, after) == pytest.approx(before, rel=0.1)
    assert level(pcm, 660.0, after) < 0.001


async def test_a_safety_chime_is_heard_over_a_call(car: Car_) -> None:
    await play_music(car)
    engine = car.service.engine
    call = await car.service.play_sound("call", "tone:660:2")
    await until(lambda: car.state()["state"] == "paused", what="paused by the call")
    await asyncio.sleep(0.3)
    safety_at = engine.frames_rendered("driver")
    safety = await car.service.play_sound("safety", "tone:1000:0.6")
    assert safety["state"] == "playing"
    sounds = {s["id"]: s for s in car.service.sounds()["sounds"]}
    assert sounds[call["id"]]["state"] == "ducked"  # a call may duck under safety
    await until(lambda: len(car.service.sounds()["sounds"]) == 1, what="the chime's end")
    assert car.service.sounds()["sounds"][0]["state"] == "playing"
    assert car.state()["state"] == "paused"  # the call goes on
    await asyncio.sleep(0.4)
    await stop(car)

    pcm, _ = read_wav(car.wav)
    at = safety_at + 2 * WINDOW
    assert level(pcm, 1000.0, at) == pytest.approx(LEVEL, rel=0.1)
    assert level(pcm, 660.0, at) == pytest.approx(LEVEL * DUCKED, rel=0.15)
    assert level(pcm, MUSIC, at) < 0.001
    assert level(pcm, 660.0, safety_at + round(0.75 * RATE)) == pytest.approx(LEVEL, rel=0.1)


async def test_a_notification_is_refused_while_the_assistant_listens(car: Car_) -> None:
    listening = await car.service.play_sound("assistant", "tone:500:5", gain="transient_exclusive")
    with pytest.raises(FailedPrecondition, match="refuses"):
        await car.service.play_sound("notification", "chime:notification")
    assert [s["id"] for s in car.service.sounds()["sounds"]] == [listening["id"]]
    holders = car.service.focus_stack("driver")["holders"]
    assert [h["usage"] for h in holders] == ["assistant"]
    safety = await car.service.play_sound("safety", "chime:safety")  # never refused
    assert safety["state"] == "playing"
    car.service.stop_sound(listening["id"])
    await no_sounds(car)
    assert car.service.focus_stack("driver")["holders"] == []
    notification = await car.service.play_sound("notification", "chime:notification")
    assert notification["state"] == "playing"


async def test_a_prompt_waits_out_a_call(car: Car_) -> None:
    prompt = await car.service.play_sound("navigation", "tone:880:1.5")
    await asyncio.sleep(0.3)
    await car.service.play_sound("call", "tone:660:0.5")
    sounds = {s["id"]: s for s in car.service.sounds()["sounds"]}
    assert sounds[prompt["id"]]["state"] == "paused"
    await until(lambda: len(car.service.sounds()["sounds"]) == 1, what="the call's end")
    assert car.service.sounds()["sounds"][0]["state"] == "playing"
    await no_sounds(car)


async def test_a_stopped_sound_gives_the_focus_back(car: Car_) -> None:
    await play_music(car)
    engine = car.service.engine
    prompt = await car.service.play_sound("navigation", "tone:880:5")
    await asyncio.sleep(0.5)
    stop_at = engine.frames_rendered("driver")
    stopped = car.service.stop_sound(prompt["id"])
    assert stopped["state"] == "stopped"
    assert car.service.sounds() == {"sounds": []}
    holders = car.service.focus_stack("driver")["holders"]
    assert [(h["client_id"], h["state"]) for h in holders] == [("media:library", "gain")]
    assert car.state()["focus"] == "gain"
    with pytest.raises(NotFound):
        car.service.stop_sound(prompt["id"])
    await asyncio.sleep(0.5)
    await stop(car)

    pcm, _ = read_wav(car.wav)
    assert level(pcm, MUSIC, stop_at - 2 * WINDOW) == pytest.approx(LEVEL * DUCKED, rel=0.1)
    assert level(pcm, MUSIC, stop_at + WINDOW) == pytest.approx(LEVEL, rel=0.1)
    assert level(pcm, 880.0, stop_at + WINDOW) < 0.001


async def test_bad_sounds_are_refused_and_hold_no_focus(car: Car_, tmp_path: Path) -> None:
    await play_music(car)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 100)
    cases: list[tuple[str, str, dict[str, object], type[Exception], str]] = [
        ("navigation", "tone:abc", {}, InvalidArgument, "not a tone"),
        ("navigation", "chime:boom", {}, InvalidArgument, "not a chime"),
        ("navigation", "radio:station/x", {}, InvalidArgument, "not a sound source"),
        ("navigation", "nonsense", {}, InvalidArgument, "not a media URI"),
        ("navigation", (tmp_path / "missing.wav").as_uri(), {}, NotFound, "no file"),
        ("navigation", "library:track/9999", {}, NotFound, "9999"),
        ("navigation", junk.as_uri(), {}, Unavailable, "not a playable audio file"),
        ("music", "chime:navigation", {}, InvalidArgument, "not a focus usage"),
        ("media", "chime:navigation", {}, InvalidArgument, "sessions"),
        ("navigation", "chime:navigation", {"gain": "gain"}, InvalidArgument, "for a while"),
        ("navigation", "chime:navigation", {"gain": "loud"}, InvalidArgument, "focus gain"),
        ("navigation", "chime:navigation", {"zone": "rear"}, InvalidArgument, "zone"),
        ("navigation", "chime:navigation", {"volume": 2}, InvalidArgument, "0 to 1"),
    ]
    for usage, source, options, error, match in cases:
        with pytest.raises(error, match=match):
            await car.service.play_sound(usage, source, **options)  # type: ignore[arg-type]
    assert car.service.sounds() == {"sounds": []}
    holders = car.service.focus_stack("driver")["holders"]
    assert [(h["client_id"], h["state"]) for h in holders] == [("media:library", "gain")]
    assert car.state()["state"] == "playing"


async def test_a_file_plays_as_a_sound_and_a_client_replaces_its_own(
    car: Car_, tmp_path: Path
) -> None:
    path = encode(tmp_path / "ding.wav", sine(1200.0, 0.3), "wav")
    ding = await car.service.play_sound("notification", path.as_uri(), volume=0.5)
    assert ding["source"] == path.as_uri()
    await no_sounds(car)
    first = await car.service.play_sound("navigation", "tone:880:5", client_id="nav")
    second = await car.service.play_sound("navigation", "tone:660:5", client_id="nav")
    assert [s["id"] for s in car.service.sounds()["sounds"]] == [second["id"]]
    assert [h["client_id"] for h in car.service.focus_stack("driver")["holders"]] == ["nav"]
    with pytest.raises(NotFound):
        car.service.stop_sound(first["id"])
    car.service.stop_sound(second["id"])
    assert car.service.focus_stack("driver")["holders"] == []
