"""The HMI's media API (``/api/media/…``, docs/media.md "HTTP API") and the ``media`` frames
of ``/ws``, over real uvicorn, httpx and websockets, against the real media service (a broker
with the carmesh overlay, a library of generated FLAC files, audio to the null output).

Every route: what it answers, and the status and JSON error body of each bad input — a body
that does not parse or has a field of the wrong type 422, a bad value 400, an unknown node,
track or art 404, nothing to play 409, a feed that cannot be fetched 503, a change from a page
of another host 403, and 503 everywhere while the media service is off."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from carmesh.broker import Broker
from carmesh.hmi import HmiServer
from carmesh.media.service import MediaService
from carmesh.runtime import load_catalog
from carmesh.settings import Settings
from tests.hmi.support import hmi_client
from tests.media.test_service import make_library


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("media-api-library"))


@dataclass
class Media:
    http: httpx.AsyncClient
    service: MediaService
    url: str

    async def album(self, title: str = "Tones") -> str:
        response = await self.http.get("/api/media/browse", params={"node": "library/albums"})
        return next(c["id"] for c in response.json()["children"] if c["title"] == title)

    async def track(self, title: str) -> str:
        response = await self.http.get("/api/media/search", params={"q": title})
        return str(response.json()["items"][0]["uri"])

    async def play_album(self) -> dict[str, Any]:
        response = await self.http.post("/api/media/play", json={"node": await self.album()})
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()
        return state


@pytest.fixture
async def media(tmp_path: Path, music: Path) -> AsyncIterator[Media]:
    settings = Settings.load(
        env={},
        data_dir=tmp_path / "data",
        vehicle="none",
        media_library=[music],
        audio_out="null",
    )
    broker = Broker(load_catalog(settings))
    await broker.start()
    service = MediaService(settings, broker)
    await service.start()
    await service.wait_scanned()
    server = HmiServer(broker, "127.0.0.1:0", media=service)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            yield Media(http, service, server.url)
    finally:
        await server.stop()
        await service.stop()
        await broker.stop()


def error_of(response: httpx.Response, status: int, code: str | None = None) -> str:
    """The message of a JSON error body, checked for status, shape and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "path"}
    if code is not None:
        assert error["code"] == code
    message: str = error["message"]
    return message


# -- reading ------------------------------------------------------------------------------------


async def test_state(media: Media) -> None:
    response = await media.http.get("/api/media/state")
    assert response.status_code == 200
    driver = response.json()["zones"]["driver"]
    assert driver["state"] == "stopped"
    assert driver["session"] is None and driver["item"] is None
    assert driver["volume"] == 50
    assert set(driver) >= {
        "session",
        "state",
        "item",
        "position",
        "duration",
        "volume",
        "shuffle",
        "repeat",
        "queue_index",
        "queue_length",
        "focus",
    }


async def test_browse(media: Media) -> None:
    root = (await media.http.get("/api/media/browse")).json()
    assert [c["id"] for c in root["children"]] == ["library", "radio", "podcasts", "apps"]
    library = (await media.http.get("/api/media/browse", params={"node": "library"})).json()
    assert [c["id"] for c in library["children"]] == [
        "library/artists",
        "library/albums",
        "library/genres",
        "library/folders",
    ]
    artist = await media.http.get("/api/media/browse", params={"node": "library/artist/Synth"})
    assert [c["title"] for c in artist.json()["children"]] == ["Tones"]
    album = (await media.http.get("/api/media/browse", params={"node": await media.album()})).json()
    assert [c["title"] for c in album["children"]] == ["Tone 440", "Tone 660", "Tone 880"]
    assert all(c["kind"] == "item" and c["uri"].startswith("library:") for c in album["children"])
    radio = (await media.http.get("/api/media/browse", params={"node": "radio"})).json()
    assert radio["children"][0]["uri"].startswith("radio:station/")
    podcasts = (await media.http.get("/api/media/browse", params={"node": "podcasts"})).json()
    assert podcasts["children"] == []
    apps = (await media.http.get("/api/media/browse", params={"node": "apps"})).json()
    assert apps["children"] == []

    missing = await media.http.get("/api/media/browse", params={"node": "library/album/999"})
    assert "999" in error_of(missing, 404, "not_found")
    error_of(await media.http.get("/api/media/browse", params={"node": "nowhere"}), 404)
    bad = await media.http.get("/api/media/browse", params={"node": "library\n"})
    assert "browse node" in error_of(bad, 400, "invalid_argument")


async def test_search(media: Media) -> None:
    found = (await media.http.get("/api/media/search", params={"q": "TONE 88"})).json()
    assert [i["title"] for i in found["items"]] == ["Tone 880"]
    assert found["items"][0]["artist"] == "Synth"
    assert (await media.http.get("/api/media/search", params={"q": "xyzzy"})).json() == {
        "items": []
    }
    error_of(await media.http.get("/api/media/search"), 400, "invalid_argument")
    error_of(await media.http.get("/api/media/search", params={"q": "   "}), 400)
    error_of(await media.http.get("/api/media/search", params={"q": "a" * 201}), 400)


async def test_stations_art_and_scan(media: Media) -> None:
    stations = (await media.http.get("/api/media/stations")).json()["stations"]
    assert stations and {"id", "name", "genre", "uri"} <= set(stations[0])

    album = (await media.http.get("/api/media/browse", params={"node": "library/albums"})).json()
    art = next(c["art"] for c in album["children"] if c["title"] == "Tones")
    assert art.startswith("/api/media/art/")
    image = await media.http.get(art)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert "immutable" in image.headers["cache-control"]
    assert image.headers["x-content-type-options"] == "nosniff"
    error_of(await media.http.get("/api/media/art/" + "0" * 32), 404, "not_found")
    error_of(await media.http.get("/api/media/art/not.a.key"), 400, "invalid_argument")

    report = await media.http.post("/api/media/library/scan")
    assert report.status_code == 200
    assert report.json()["unchanged"] == 4
    assert report.json()["tracks"] == 4


async def test_podcasts(media: Media) -> None:
    for url in ("ftp://example.org/feed", "not a url", "http://"):
        bad = await media.http.post("/api/media/podcasts", json={"url": url})
        assert "feed" in error_of(bad, 400, "invalid_argument")
    error_of(await media.http.post("/api/media/podcasts", json={}), 422)
    error_of(await media.http.post("/api/media/podcasts", json={"url": 7}), 422)
    refused = await media.http.post("/api/media/podcasts", json={"url": "http://127.0.0.1:9/f"})
    error_of(refused, 503, "unavailable")
    refreshed = await media.http.post("/api/media/podcasts/refresh")
    assert refreshed.status_code == 200
    assert refreshed.json() == {"feeds": []}


# -- playing ------------------------------------------------------------------------------------


async def test_play(media: Media) -> None:
    state = await media.play_album()
    assert state["state"] == "playing"
    assert (state["session"], state["queue_length"], state["queue_index"]) == ("Library", 3, 0)
    uri = await media.track("Tone 880")
    state = (await media.http.post("/api/media/play", json={"uri": uri, "zone": "driver"})).json()
    assert state["item"]["title"] == "Tone 880"
    assert state["queue_index"] == 2  # with its album

    play = "/api/media/play"
    assert "no track 999" in error_of(
        await media.http.post(play, json={"uri": "library:track/999"}), 404, "not_found"
    )
    assert "not a media URI" in error_of(
        await media.http.post(play, json={"uri": "spotify:track:1"}), 400, "invalid_argument"
    )
    assert "either" in error_of(await media.http.post(play, json={}), 400)
    both = {"uri": uri, "node": "library/albums"}
    assert "either" in error_of(await media.http.post(play, json=both), 400)
    assert "zone" in error_of(
        await media.http.post(play, json={"uri": uri, "zone": "back"}), 400, "invalid_argument"
    )
    error_of(await media.http.post(play, json={"uri": uri, "zone": "Driver!"}), 400)
    error_of(await media.http.post(play, json={"uri": 5}), 422, "invalid_argument")
    error_of(await media.http.post(play, json={"uri": uri, "loud": True}), 422)
    error_of(
        await media.http.post(play, content=b"{nope", headers={"content-type": "application/json"}),
        422,
    )
    error_of(await media.http.post(play, json={"node": "library/album/999"}), 404)
    error_of(await media.http.post(play, json={"uri": "file:///no/such/file.mp3"}), 404)
    current = (await media.http.get("/api/media/state")).json()["zones"]["driver"]
    assert current["item"]["title"] == "Tone 880", "nothing was lost"


async def test_transport(media: Media) -> None:
    transport = "/api/media/transport"
    nothing = await media.http.post(transport, json={"command": "play"})
    assert "choose something" in error_of(nothing, 409, "failed_precondition")
    await media.play_album()
    state = (await media.http.post(transport, json={"command": "next"})).json()
    assert state["item"]["title"] == "Tone 660"
    state = (await media.http.post(transport, json={"command": "pause"})).json()
    assert state["state"] == "paused"
    state = (await media.http.post(transport, json={"command": "toggle"})).json()
    assert state["state"] == "playing"
    state = (await media.http.post(transport, json={"command": "previous"})).json()
    assert state["item"]["title"] == "Tone 440"
    state = (await media.http.post(transport, json={"command": "seek", "position": 0.75})).json()
    assert state["position"] >= 0.75
    state = (await media.http.post(transport, json={"command": "play", "index": 2})).json()
    assert (state["item"]["title"], state["state"]) == ("Tone 880", "playing")

    assert "command must be one of" in error_of(
        await media.http.post(transport, json={"command": "jump"}), 400
    )
    assert "position" in error_of(await media.http.post(transport, json={"command": "seek"}), 400)
    beyond = await media.http.post(transport, json={"command": "seek", "position": 99})
    assert "beyond the end" in error_of(beyond, 400, "invalid_argument")
    negative = await media.http.post(transport, json={"command": "seek", "position": -1})
    error_of(negative, 400)
    error_of(await media.http.post(transport, json={"command": "next", "position": 3}), 400)
    error_of(await media.http.post(transport, json={"command": "pause", "index": 1}), 400)
    error_of(await media.http.post(transport, json={"command": "play", "index": 3}), 400)
    error_of(await media.http.post(transport, json={"command": "play", "index": -1}), 400)
    error_of(await media.http.post(transport, json={"command": "seek", "position": "1"}), 422)
    error_of(await media.http.post(transport, json={}), 422)
    error_of(await media.http.post(transport, json={"command": "next", "zone": "rear"}), 400)


async def test_queue(media: Media) -> None:
    empty = (await media.http.get("/api/media/queue", params={"zone": "driver"})).json()
    assert empty == {"zone": "driver", "items": [], "index": None, "order": []}
    await media.play_album()
    await media.http.post("/api/media/transport", json={"command": "pause"})
    queue = (await media.http.get("/api/media/queue")).json()
    assert [i["title"] for i in queue["items"]] == ["Tone 440", "Tone 660", "Tone 880"]
    assert (queue["index"], queue["order"]) == (0, [0, 1, 2])

    drone = await media.track("Drone")
    added = await media.http.post("/api/media/queue", json={"uri": drone, "next": True})
    assert [i["title"] for i in added.json()["items"]][:2] == ["Tone 440", "Drone"]
    added = await media.http.post("/api/media/queue", json={"node": await media.album()})
    assert len(added.json()["items"]) == 7
    moved = await media.http.post("/api/media/queue/move", json={"from": 1, "to": 6})
    assert moved.json()["items"][6]["title"] == "Drone"
    removed = await media.http.delete("/api/media/queue/6", params={"zone": "driver"})
    assert [i["title"] for i in removed.json()["items"]] == [
        "Tone 440",
        "Tone 660",
        "Tone 880",
        "Tone 440",
        "Tone 660",
        "Tone 880",
    ]

    error_of(await media.http.get("/api/media/queue", params={"zone": "back"}), 400)
    error_of(await media.http.post("/api/media/queue", json={"node": "library/album/999"}), 404)
    error_of(await media.http.post("/api/media/queue", json={"uri": "x"}), 400)
    error_of(await media.http.post("/api/media/queue", json={"uri": drone, "next": "yes"}), 422)
    assert "queue index" in error_of(await media.http.delete("/api/media/queue/6"), 400)
    error_of(await media.http.delete("/api/media/queue/first"), 400)
    error_of(await media.http.delete("/api/media/queue/-1"), 400)
    error_of(await media.http.post("/api/media/queue/move", json={"from": 0}), 422)
    error_of(await media.http.post("/api/media/queue/move", json={"from": 0, "to": 9}), 400)
    error_of(await media.http.post("/api/media/queue/move", json={"from": "0", "to": 1}), 422)
    final = (await media.http.get("/api/media/queue")).json()
    assert len(final["items"]) == 6, "nothing was lost"


async def test_mode(media: Media) -> None:
    mode = "/api/media/mode"
    volume = (await media.http.put(mode, json={"volume": 30})).json()
    assert volume["volume"] == 30
    assert media.service.engine.volume("driver") == 30
    no_session = await media.http.put(mode, json={"shuffle": True})
    error_of(no_session, 409, "failed_precondition")
    await media.play_album()
    state = (await media.http.put(mode, json={"shuffle": True, "repeat": "all"})).json()
    assert (state["shuffle"], state["repeat"]) == (True, "all")
    assert "at least one" in error_of(await media.http.put(mode, json={}), 400)
    assert "volume" in error_of(await media.http.put(mode, json={"volume": 101}), 400)
    error_of(await media.http.put(mode, json={"volume": -1}), 400)
    assert "repeat" in error_of(await media.http.put(mode, json={"repeat": "twice"}), 400)
    error_of(await media.http.put(mode, json={"volume": 20.5}), 422)
    error_of(await media.http.put(mode, json={"shuffle": "yes"}), 422)
    error_of(await media.http.put(mode, json={"volume": True}), 422)
    error_of(await media.http.put(mode, json={"zone": "back", "volume": 3}), 400)
    assert media.service.zone_state("driver")["volume"] == 30


async def test_changes_from_pages_of_other_hosts_are_refused(media: Media) -> None:
    evil = {"origin": "http://evil.example"}
    refused = await media.http.put("/api/media/mode", json={"volume": 99}, headers=evil)
    assert "evil.example" in error_of(refused, 403, "permission_denied")
    assert media.service.zone_state("driver")["volume"] == 50
    same = {"origin": media.url}
    assert (await media.http.put("/api/media/mode", json={"volume": 40}, headers=same)).is_success
    assert (await media.http.get("/api/media/state", headers=evil)).status_code == 200


async def test_the_routes_are_documented(media: Media) -> None:
    paths = (await media.http.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/media/state",
        "/api/media/browse",
        "/api/media/search",
        "/api/media/play",
        "/api/media/transport",
        "/api/media/queue",
        "/api/media/queue/{index}",
        "/api/media/queue/move",
        "/api/media/mode",
        "/api/media/art/{key}",
        "/api/media/stations",
        "/api/media/podcasts",
        "/api/media/podcasts/refresh",
        "/api/media/library/scan",
    ):
        assert path in paths, path


async def test_every_route_answers_503_while_the_service_is_off(tmp_path: Path) -> None:
    settings = Settings.load(env={}, data_dir=tmp_path, vehicle="none", media=False)
    broker = Broker(load_catalog(settings))
    await broker.start()
    server = HmiServer(broker, "127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            for method, path in (
                ("GET", "/api/media/state"),
                ("GET", "/api/media/browse"),
                ("GET", "/api/media/search?q=x"),
                ("POST", "/api/media/play"),
                ("POST", "/api/media/transport"),
                ("GET", "/api/media/queue"),
                ("POST", "/api/media/queue"),
                ("DELETE", "/api/media/queue/0"),
                ("POST", "/api/media/queue/move"),
                ("PUT", "/api/media/mode"),
                ("GET", "/api/media/art/abc"),
                ("GET", "/api/media/stations"),
                ("POST", "/api/media/podcasts"),
                ("POST", "/api/media/podcasts/refresh"),
                ("POST", "/api/media/library/scan"),
            ):
                response = await http.request(method, path, json={})
                assert "not running" in error_of(response, 503, "unavailable"), path
            async with hmi_client(server.url) as client:
                await client.next("driving")
                with pytest.raises(TimeoutError):
                    await client.next("media", timeout=0.3)
    finally:
        await server.stop()
        await broker.stop()


# -- WebSocket ----------------------------------------------------------------------------------


async def test_media_frames_on_connect_and_on_change(media: Media) -> None:
    async with hmi_client(media.url) as client:
        first = await client.next("media")
        assert first["state"]["zones"]["driver"]["state"] == "stopped"
        await media.play_album()
        while True:
            frame = await client.next("media")
            if frame["state"]["zones"]["driver"]["state"] == "playing":
                break
        assert frame["state"]["zones"]["driver"]["item"]["title"] == "Tone 440"


async def test_position_frames_are_at_most_four_a_second(media: Media) -> None:
    await media.play_album()
    await media.http.post("/api/media/transport", json={"command": "pause"})
    async with hmi_client(media.url) as client:
        await client.next("media")
        started = time.monotonic()
        for _ in range(100):  # a burst of position updates
            media.service._emit(position_only=True)
            await asyncio.sleep(0.01)
        frames = 0
        try:
            while True:
                await client.next("media", timeout=0.4)
                frames += 1
        except TimeoutError:
            pass
        elapsed = time.monotonic() - started
        assert 1 <= frames <= 4 * elapsed + 1
        # A real change goes out at once, whatever the position frames did.
        media.service._emit(position_only=True)
        await media.http.put("/api/media/mode", json={"volume": 33})
        deadline = time.monotonic() + 0.2
        while True:
            frame = await client.next("media", timeout=1.0)
            if frame["state"]["zones"]["driver"]["volume"] == 33:
                break
        assert time.monotonic() < deadline + 0.3


def test_frames_are_json() -> None:
    from carmesh.hmi.ws import media_frame

    assert json.loads(media_frame({"zones": {}})) == {"type": "media", "state": {"zones": {}}}
