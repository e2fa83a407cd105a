"""Media end to end: the real ``carmesh run --media`` with its audio going to a WAV file and a
library of generated FLAC files, driven by the unmodified ``kuksa-client`` over KUKSA gRPC and
by the HMI's HTTP API; the WAV output holds the tracks' tones; a car killed with SIGKILL
comes back playing where it was."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from kuksa_client.grpc import Datapoint, VSSClient, VSSClientError

from tests.media.audio import read_wav, tone_level
from tests.media.test_service import LONG_TONE, TONES, make_library
from tests.support.car import running_car

MEDIA = "Vehicle.Cabin.Infotainment.Media"
TRACK = f"{MEDIA}.Played.Track"
ACTION = f"{MEDIA}.Action"
TIMEOUT = 15.0


def until(check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def current(client: VSSClient, path: str) -> Any:
    point = client.get_current_values([path])[path]
    return None if point is None else point.value


def driver(http: httpx.Client) -> dict[str, Any]:
    state: dict[str, Any] = http.get("/api/media/state").json()["zones"]["driver"]
    return state


def media_car(data: Path, wav: Path, music: Path) -> Any:
    return running_car(
        data,
        "--media",
        "--audio-out",
        f"wav:{wav}",
        "--media-library",
        str(music),
        "--vehicle",
        "none",
    )


def search(http: httpx.Client, text: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = http.get("/api/media/search", params={"q": text}).json()["items"]
    return items


def test_kuksa_client_http_api_wav_and_restart_after_sigkill(tmp_path: Path) -> None:
    music = make_library(tmp_path / "library")
    data = tmp_path / "car"
    first_wav = tmp_path / "first.wav"
    with (
        media_car(data, first_wav, music) as car,
        httpx.Client(base_url=car.http_url, timeout=30) as http,
        VSSClient("127.0.0.1", car.grpc_port) as kuksa,
    ):
        banner = next(line for line in car.output if line.strip().startswith("media"))
        assert f"driver → wav:{first_wav}" in banner
        until(lambda: len(search(http, "tone")) == 3, "the library scanned")

        # The HTTP API browses and searches.
        albums = http.get("/api/media/browse", params={"node": "library/albums"}).json()
        assert {c["title"] for c in albums["children"]} == {"Tones", "Drone"}
        first = search(http, "tone 440")[0]
        assert (first["artist"], first["album"]) == ("Synth", "Tones")

        # kuksa-client drives the media through the VSS signals.
        kuksa.set_target_values({f"{MEDIA}.SelectedURI": Datapoint(first["uri"])})
        until(lambda: current(kuksa, TRACK) == "Tone 440", "Tone 440 playing")
        until(lambda: current(kuksa, ACTION) == "PLAY", "Action PLAY")
        assert current(kuksa, f"{MEDIA}.Played.Artist") == "Synth"
        assert current(kuksa, f"{MEDIA}.Played.Source") == "USB"
        time.sleep(0.5)
        kuksa.set_target_values({ACTION: Datapoint("SKIP_FORWARD")})
        until(lambda: current(kuksa, TRACK) == "Tone 660", "Tone 660 after SKIP_FORWARD")
        time.sleep(0.5)
        kuksa.set_target_values({ACTION: Datapoint("STOP")})
        until(lambda: current(kuksa, ACTION) == "STOP", "Action STOP")
        assert driver(http)["state"] == "paused"
        assert current(kuksa, f"{MEDIA}.Played.PlaybackRate") == 0.0
        with pytest.raises(VSSClientError):
            kuksa.set_target_values({f"{MEDIA}.SelectedURI": Datapoint("library:track/999")})
        with pytest.raises(VSSClientError):
            kuksa.set_target_values({f"{MEDIA}.Volume": Datapoint(120)})

        # The HTTP API edits the queue: Drone next, then moved and removed again.
        drone = search(http, "drone")[0]
        added = http.post("/api/media/queue", json={"uri": drone["uri"], "next": True})
        assert [i["title"] for i in added.json()["items"]] == [
            "Tone 440",
            "Tone 660",
            "Drone",
            "Tone 880",
        ]
        moved = http.post("/api/media/queue/move", json={"from": 2, "to": 0}).json()
        assert moved["items"][0]["title"] == "Drone"
        assert moved["index"] == 2  # still Tone 660
        removed = http.delete("/api/media/queue/3").json()
        assert [i["title"] for i in removed["items"]] == ["Drone", "Tone 440", "Tone 660"]
        bad = http.delete("/api/media/queue/7")
        assert bad.status_code == 400
        # Play the drone from the queue, long enough to be killed in the middle.
        state = http.post("/api/media/transport", json={"command": "play", "index": 0}).json()
        assert state["item"]["title"] == "Drone"
        until(lambda: current(kuksa, TRACK) == "Drone", "Drone playing")
        until(lambda: driver(http)["position"] >= 4.0, "four seconds of Drone")
        left_at = driver(http)["position"]
        time.sleep(0.2)
        car.process.send_signal(signal.SIGKILL)
        car.process.wait(5)

    pcm, rate = read_wav(first_wav)
    heard = {
        freq: max(tone_level(pcm, freq, at, 4800) for at in range(0, len(pcm) - 4800, 2400))
        for freq in (*TONES[:2], LONG_TONE)
    }
    for freq, level in heard.items():
        assert level == pytest.approx(0.0625, rel=0.15), (freq, heard)
    assert len(pcm) / rate >= 4.0

    second_wav = tmp_path / "second.wav"
    with (
        media_car(data, second_wav, music) as car,
        httpx.Client(base_url=car.http_url, timeout=30) as http,
        VSSClient("127.0.0.1", car.grpc_port) as kuksa,
    ):
        until(lambda: driver(http)["state"] == "playing", "playing again after the restart")
        state = driver(http)
        assert state["item"]["title"] == "Drone"
        assert state["queue_length"] == 3
        # Saved every few seconds while playing: no more than that is lost.
        assert left_at - 3.5 <= state["position"] <= left_at + 1.5
        until(lambda: current(kuksa, TRACK) == "Drone", "Drone published again")
        kuksa.set_target_values({ACTION: Datapoint("STOP")})
        until(lambda: driver(http)["state"] == "paused", "paused by kuksa-client")
        time.sleep(0.5)
    assert car.process.returncode == 0
    assert os.path.getsize(second_wav) > 44
    resumed, _ = read_wav(second_wav)
    assert max(tone_level(resumed, LONG_TONE, at, 4800) for at in range(0, 48_000, 2400)) > 0.05
