"""``/api/media/sounds`` and ``/api/media/focus`` (docs/media.md "HTTP API") against the real
``carmesh run --media --audio-out wav:PATH``: a navigation prompt posted over HTTP ducks the
music in the WAV output, the sound and focus routes answer what plays, and bad values are 400,
a sound the focus refuses 409, an unknown sound 404."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hmi.test_media_api import error_of
from tests.media.audio import encode, read_wav, sine, tone_level
from tests.support.car import RunningCar, running_car

RATE = 48_000
WINDOW = 4800
DUCKED = 10 ** (-12 / 20)


def until(condition: Any, timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)


@pytest.fixture
def car(tmp_path: Path) -> Iterator[RunningCar]:
    with running_car(
        tmp_path / "data",
        "--media",
        "--audio-out",
        f"wav:{tmp_path / 'out.wav'}",
        "--vehicle",
        "none",
    ) as running:
        yield running


def test_a_prompt_posted_over_http_ducks_the_music(car: RunningCar, tmp_path: Path) -> None:
    hum = encode(tmp_path / "hum.flac", sine(440.0, 20.0), "flac")
    with httpx.Client(base_url=car.http_url, timeout=20) as http:
        played = http.post("/api/media/play", json={"uri": hum.as_uri()})
        assert played.status_code == 200, played.text
        time.sleep(1.0)
        response = http.post(
            "/api/media/sounds", json={"usage": "navigation", "source": "tone:880:1"}
        )
        assert response.status_code == 201, response.text
        sound = response.json()
        assert (sound["usage"], sound["zone"], sound["state"]) == (
            "navigation",
            "driver",
            "playing",
        )
        assert sound["gain"] == "transient_may_duck"
        assert http.get("/api/media/sounds").json()["sounds"] == [sound]
        focus = http.get("/api/media/focus", params={"zone": "driver"}).json()
        assert focus["zone"] == "driver" and focus["delayed"] is None
        assert [(h["client_id"], h["state"]) for h in focus["holders"]] == [
            (f"sound:{sound['id']}", "gain"),
            ("media:files", "loss_transient_can_duck"),
        ]
        until(lambda: http.get("/api/media/sounds").json()["sounds"] == [], what="its end")
        until(
            lambda: http.get("/api/media/state").json()["zones"]["driver"]["focus"] == "gain",
            what="the music's focus back",
        )
        time.sleep(0.8)
    car.stop()

    pcm, _ = read_wav(tmp_path / "out.wav")
    prompt = [
        at
        for at in range(0, len(pcm) - WINDOW, WINDOW // 2)
        if tone_level(pcm, 880.0, at, WINDOW) > 0.03
    ]
    assert prompt, "the prompt is not in the output"
    start, end = prompt[0], prompt[-1] + WINDOW
    assert (end - start) / RATE == pytest.approx(1.0, abs=0.15)
    before = tone_level(pcm, 440.0, start - 4 * WINDOW, WINDOW)
    during = tone_level(pcm, 440.0, (start + end) // 2 - WINDOW // 2, WINDOW)
    after = tone_level(pcm, 440.0, end + 2 * WINDOW, WINDOW)
    assert before == pytest.approx(0.0625, rel=0.1)  # 0.5 at volume 50
    assert during / before == pytest.approx(DUCKED, rel=0.1)
    assert after == pytest.approx(before, rel=0.1)


def test_sound_routes_check_what_they_are_given(car: RunningCar) -> None:
    with httpx.Client(base_url=car.http_url, timeout=20) as http:
        spec = http.get("/openapi.json").json()
        assert {"/api/media/sounds", "/api/media/sounds/{sound_id}", "/api/media/focus"} <= set(
            spec["paths"]
        )
        assert "201" in spec["paths"]["/api/media/sounds"]["post"]["responses"]

        def post(**body: Any) -> httpx.Response:
            return http.post("/api/media/sounds", json=body)

        bad = {
            "usage": ({"usage": "music", "source": "chime:safety"}, "usage must be"),
            "media": ({"usage": "media", "source": "chime:safety"}, "usage must be"),
            "gain": ({"usage": "safety", "source": "chime:safety", "gain": "gain"}, "gain"),
            "zone": ({"usage": "safety", "source": "chime:safety", "zone": "rear"}, "rear"),
            "name": ({"usage": "safety", "source": "chime:safety", "zone": "Rear!"}, "zone"),
            "chime": ({"usage": "safety", "source": "chime:boom"}, "not a chime"),
            "tone": ({"usage": "safety", "source": "tone:5:1"}, "not a tone"),
            "scheme": ({"usage": "safety", "source": "radio:station/x"}, "sound source"),
            "volume": ({"usage": "safety", "source": "chime:safety", "volume": 1.5}, "0 to 1"),
        }
        for name, (body, fragment) in bad.items():
            message = error_of(post(**body), 400, "invalid_argument")
            assert fragment in message, (name, message)
            assert message.count(". ") == 0, message  # one sentence
        error_of(post(usage="safety", source="file:///nowhere/at/all.wav"), 404, "not_found")
        error_of(post(usage="safety"), 422)
        error_of(post(usage="safety", source="chime:safety", loud=True), 422)
        error_of(post(usage="safety", source="chime:safety", volume="high"), 422)

        listening = post(usage="assistant", source="tone:500:5", gain="transient_exclusive")
        assert listening.status_code == 201, listening.text
        refused = post(usage="notification", source="chime:notification")
        assert "refuses" in error_of(refused, 409, "failed_precondition")
        assert post(usage="safety", source="chime:safety").status_code == 201
        stopped = http.delete(f"/api/media/sounds/{listening.json()['id']}")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["state"] == "stopped"
        error_of(http.delete(f"/api/media/sounds/{listening.json()['id']}"), 404, "not_found")
        error_of(http.delete("/api/media/sounds/no%20such"), 400, "invalid_argument")
        error_of(http.get("/api/media/focus", params={"zone": "rear"}), 400)
        until(lambda: http.get("/api/media/sounds").json()["sounds"] == [], what="the chime")
        assert http.get("/api/media/focus").json() == {
            "zone": "driver",
            "holders": [],
            "delayed": None,
        }
        foreign = http.post(
            "/api/media/sounds",
            json={"usage": "safety", "source": "chime:safety"},
            headers={"Origin": "http://elsewhere.example"},
        )
        error_of(foreign, 403, "permission_denied")
