"""The media service in process: a real broker with the carmesh overlay, the audio engine
writing WAV files, a library of generated FLAC files. Playing, pausing, skipping and gapless
joins heard in the WAV output; the VSS values it publishes and the actuations it carries out
for a client; audio focus ducking and pausing it; the rear zone; resuming after a restart;
app media sessions through the SDK over gRPC; and the media settings."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from carmesh.api.grpc.app_host import adapter_for
from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.server import GrpcServer
from carmesh.api.tokens import TokenVerifier, create_token
from carmesh.apps.host import AppAccess, AppHost
from carmesh.broker import Broker, Principal
from carmesh.errors import (
    ConfigError,
    FailedPrecondition,
    InvalidArgument,
    InvalidValue,
    NotFound,
    PermissionDenied,
)
from carmesh.media.focus import FocusRequest, Gain, Usage
from carmesh.media.service import MediaService
from carmesh.runtime import load_catalog
from carmesh.sdk import Car, QueueItem
from carmesh.settings import Settings
from tests.media.audio import audible_span, encode, longest_silence, read_wav, sine, tone_level
from tests.media.netsupport import LoopbackServer, encode_stream
from tests.support.images import png

RATE = 48_000
SYSTEM = Principal.system()
#: A KUKSA client allowed to drive the media and nothing else.
CLIENT = Principal.from_scopes(
    "client", "read actuate:Vehicle.Cabin.Infotainment.Media actuate:Vehicle.Carmesh.Media"
)
MEDIA = "Vehicle.Cabin.Infotainment.Media"
CARMESH = "Vehicle.Carmesh.Media"
TONES = (440.0, 660.0, 880.0)
TRACK_SECONDS = 1.5
LONG_TONE = 330.0
TIMEOUT = 10.0


def make_library(root: Path) -> Path:
    """An album of three short tones (FLAC, tagged, with a cover image in its folder) and a
    long tone on an album of its own."""
    album = root / "music" / "Synth - Tones"
    album.mkdir(parents=True)
    (album / "cover.png").write_bytes(png(16))
    for number, freq in enumerate(TONES, 1):
        encode(
            album / f"{number:02} Tone {freq:g}.flac",
            sine(freq, TRACK_SECONDS),
            "flac",
            tags={"title": f"Tone {freq:g}", "artist": "Synth", "album": "Tones", "track": number},
        )
    long = root / "music" / "Drone"
    long.mkdir()
    encode(
        long / "Drone.flac",
        sine(LONG_TONE, 12.0),
        "flac",
        tags={"title": "Drone", "artist": "Hum", "album": "Drone", "genre": "Ambient"},
    )
    return root / "music"


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("media-library"))


def settings_for(tmp_path: Path, music: Path, **extra: Any) -> Settings:
    return Settings.load(
        env={},
        data_dir=tmp_path / "data",
        vehicle="none",
        media_library=[music],
        audio_out=f"wav:{tmp_path / 'driver.wav'}",
        **extra,
    )


@dataclass
class Car_:
    broker: Broker
    service: MediaService
    settings: Settings
    wav: Path

    def value(self, path: str) -> Any:
        point = self.broker.get(SYSTEM, path)
        return None if point is None else point.value

    def state(self, zone: str = "driver") -> dict[str, Any]:
        return self.service.zone_state(zone)

    async def actuate(self, targets: dict[str, Any]) -> None:
        await self.broker.actuate(CLIENT, targets)

    async def album(self, title: str = "Tones") -> str:
        """The browse node of the album *title*."""
        albums = await self.service.browse("library/albums")
        return next(str(c["id"]) for c in albums["children"] if c["title"] == title)

    async def track_id(self, title: str) -> int:
        assert self.service.library is not None
        found = await asyncio.to_thread(self.service.library.search, title)
        return int(found[0].extra["id"])


async def until(condition: Callable[[], Any], timeout: float = TIMEOUT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        await asyncio.sleep(0.02)


async def start_car(settings: Settings, **options: Any) -> Car_:
    broker = Broker(load_catalog(settings), actuation_timeout=5.0)
    await broker.start()
    service = MediaService(settings, broker, **options)
    await service.start()
    await service.wait_scanned()
    out = settings.audio_out.removeprefix("wav:")
    return Car_(broker, service, settings, Path(out))


@pytest.fixture
async def car(tmp_path: Path, music: Path) -> AsyncIterator[Car_]:
    running = await start_car(settings_for(tmp_path, music))
    try:
        yield running
    finally:
        await running.service.stop()
        await running.broker.stop()


async def stop(car: Car_) -> None:
    await car.service.stop()
    await car.broker.stop()


# -- playing --------------------------------------------------------------------------------


async def test_an_album_plays_gaplessly_and_its_values_are_published(car: Car_) -> None:
    state = await car.service.play("driver", node=await car.album())
    assert state["state"] == "playing"
    assert state["session"] == "Library"
    assert state["queue_length"] == 3
    assert state["item"]["title"] == "Tone 440"
    await until(lambda: car.value(f"{CARMESH}.State") == "playing", what="published playing")
    assert car.value(f"{MEDIA}.Played.Track") == "Tone 440"
    assert car.value(f"{MEDIA}.Played.Artist") == "Synth"
    assert car.value(f"{MEDIA}.Played.Album") == "Tones"
    assert car.value(f"{MEDIA}.Played.Source") == "USB"
    assert car.value(f"{MEDIA}.Played.URI").startswith("library:track/")
    assert car.value(f"{MEDIA}.Played.PlaybackRate") == 1.0
    assert car.value(f"{MEDIA}.Action") == "PLAY"
    assert car.value(f"{MEDIA}.Volume") == 50
    assert car.value(f"{CARMESH}.State") == "playing"
    assert car.value(f"{CARMESH}.Session") == "Library"
    assert car.value(f"{CARMESH}.QueueLength") == 3
    assert car.value(f"{CARMESH}.Duration") == pytest.approx(TRACK_SECONDS, abs=0.05)

    await until(lambda: car.value(f"{CARMESH}.QueueIndex") == 1, what="the second track")
    assert car.value(f"{MEDIA}.Played.Track") == "Tone 660"
    await until(lambda: car.state()["state"] == "stopped", what="the end of the album")
    assert car.value(f"{MEDIA}.Action") == "STOP"
    assert car.value(f"{CARMESH}.QueueIndex") == 0  # rewound

    await stop(car)
    pcm, rate = read_wav(car.wav)
    assert rate == RATE
    first, last = audible_span(pcm)
    music = pcm[first:last]
    assert len(music) == pytest.approx(3 * TRACK_SECONDS * RATE, abs=0.02 * RATE)
    assert longest_silence(music) < 48, "a gap between the tracks"
    third = len(music) // 3
    for n, freq in enumerate(TONES):
        middle = n * third + third // 2
        levels = {f: tone_level(music, f, middle - 2400, 4800) for f in TONES}
        assert max(levels, key=lambda f: levels[f]) == freq
        assert levels[freq] == pytest.approx(0.5 * 0.5**3, rel=0.1)  # volume 50: (0.5)³


async def test_a_track_plays_with_the_rest_of_its_album(car: Car_) -> None:
    second = await car.track_id("Tone 660")
    state = await car.service.play("driver", uri=f"library:track/{second}")
    assert (state["queue_index"], state["queue_length"]) == (1, 3)
    queue = car.service.queue("driver")
    assert [i["title"] for i in queue["items"]] == ["Tone 440", "Tone 660", "Tone 880"]


async def test_transport_through_vss_actuation(car: Car_) -> None:
    with pytest.raises(FailedPrecondition, match="nothing is playing"):
        await car.actuate({f"{MEDIA}.Action": "PLAY"})
    drone = await car.track_id("Drone")
    await car.actuate({f"{MEDIA}.SelectedURI": f"library:track/{drone}"})
    await until(lambda: car.state()["state"] == "playing")
    assert car.state()["item"]["title"] == "Drone"
    await until(lambda: car.value(f"{MEDIA}.Played.Track") == "Drone")

    await car.actuate({f"{MEDIA}.Action": "STOP"})
    await until(lambda: car.value(f"{MEDIA}.Action") == "STOP")
    assert car.state()["state"] == "paused"
    assert car.value(f"{MEDIA}.Played.PlaybackRate") == 0.0
    held = car.state()["position"]
    await asyncio.sleep(0.3)
    assert car.state()["position"] == held

    await car.actuate({f"{MEDIA}.Action": "PLAY", f"{MEDIA}.Volume": 80})
    assert car.service.engine.volume("driver") == 80
    await until(lambda: car.value(f"{MEDIA}.Action") == "PLAY")
    await until(lambda: car.value(f"{MEDIA}.Volume") == 80)

    await car.actuate({f"{MEDIA}.Action": "FAST_FORWARD"})
    await until(lambda: car.state()["position"] >= 10.0)
    await until(lambda: car.value(f"{CARMESH}.Seek") >= 10.0)
    await car.actuate({f"{CARMESH}.Seek": 2.5})
    await until(lambda: 2.5 <= car.state()["position"] < 5.0)

    album = await car.track_id("Tone 440")
    await car.actuate({f"{MEDIA}.SelectedURI": f"library:track/{album}"})
    await until(lambda: car.value(f"{MEDIA}.Played.Track") == "Tone 440")
    await car.actuate({f"{MEDIA}.Action": "SKIP_FORWARD"})
    await until(lambda: car.value(f"{MEDIA}.Played.Track") == "Tone 660")
    await car.actuate({f"{MEDIA}.Action": "SKIP_BACKWARD"})
    await until(lambda: car.value(f"{MEDIA}.Played.Track") == "Tone 440")
    await car.actuate({f"{CARMESH}.Repeat": "ONE", f"{CARMESH}.Shuffle": True})
    await until(lambda: car.value(f"{CARMESH}.Repeat") == "ONE")
    await until(lambda: car.value(f"{CARMESH}.Shuffle") is True)
    assert car.state()["shuffle"] is True


async def test_bad_actuations_are_refused_with_the_reason(car: Car_) -> None:
    await car.service.play("driver", node=await car.album())
    with pytest.raises(InvalidArgument, match="not a media URI"):
        await car.actuate({f"{MEDIA}.SelectedURI": "spotify:track:1"})
    with pytest.raises(NotFound, match="no track 999"):
        await car.actuate({f"{MEDIA}.SelectedURI": "library:track/999"})
    with pytest.raises(NotFound, match="no radio station"):
        await car.actuate({f"{MEDIA}.SelectedURI": "radio:station/nowhere"})
    with pytest.raises(InvalidValue):
        await car.actuate({f"{MEDIA}.Volume": 101})
    with pytest.raises(InvalidValue):
        await car.actuate({f"{MEDIA}.Action": "REWIND"})
    with pytest.raises(InvalidArgument, match="use PLAY, STOP"):
        await car.actuate({f"{MEDIA}.Action": "UNKNOWN"})
    with pytest.raises(InvalidArgument, match="beyond the end"):
        await car.actuate({f"{CARMESH}.Seek": 60.0})
    with pytest.raises(InvalidArgument, match=r"rate 1\.0 or pauses"):
        await car.actuate({f"{MEDIA}.Played.PlaybackRate": 2.0})
    with pytest.raises(FailedPrecondition, match="no BLUETOOTH session"):
        await car.actuate({f"{MEDIA}.Played.Source": "BLUETOOTH"})
    with pytest.raises(PermissionDenied):
        await car.broker.actuate(Principal.from_scopes("x", "read"), {f"{MEDIA}.Volume": 10})
    assert car.state()["state"] == "playing", "nothing was lost"
    assert car.value(f"{MEDIA}.Volume") == 50


async def test_the_service_may_only_provide_media_signals(car: Car_) -> None:
    principal = car.service.connector.principal  # type: ignore[attr-defined]
    link = await car.service.connector.connect("sneaky", None)
    with pytest.raises(PermissionDenied):
        await link.publish({"Vehicle.Speed": 200.0})
    await link.close()
    assert principal.name == "media"
    assert car.broker.provider_of(f"{MEDIA}.Played.Track") == "media"
    assert car.broker.actuation_provider_of(f"{MEDIA}.Action") == "media"
    assert car.broker.actuation_provider_of(f"{CARMESH}.Rear.Action") is None  # no rear zone


async def test_control_validation(car: Car_) -> None:
    with pytest.raises(InvalidArgument, match="not an audio zone"):
        await car.service.play("back", node=await car.album())
    with pytest.raises(NotFound):
        await car.service.play("driver", node="library/album/77")
    with pytest.raises(NotFound):
        await car.service.browse("library/artist/Nobody")
    with pytest.raises(NotFound):
        await car.service.browse("elsewhere")
    with pytest.raises(FailedPrecondition):
        await car.service.transport("driver", "next")
    await car.service.play("driver", node=await car.album())
    with pytest.raises(InvalidArgument, match="queue index"):
        await car.service.remove("driver", 3)
    with pytest.raises(InvalidArgument, match="beyond the end"):
        await car.service.transport("driver", "seek", 99.0)
    with pytest.raises(InvalidArgument, match="volume"):
        await car.service.set_mode("driver", volume=101)
    with pytest.raises(InvalidArgument, match="repeat"):
        await car.service.set_mode("driver", repeat="twice")
    assert car.state()["state"] == "playing"
    assert car.state()["queue_length"] == 3


async def test_browse_search_and_queue_editing(car: Car_) -> None:
    root = await car.service.browse("")
    assert [c["id"] for c in root["children"]] == ["library", "radio", "podcasts", "apps"]
    albums = await car.service.browse("library/albums")
    assert {c["title"] for c in albums["children"]} == {"Tones", "Drone"}
    radio = await car.service.browse("radio")
    assert radio["children"] and all(c["kind"] == "item" for c in radio["children"])
    found = await car.service.search("tone 66")
    assert [i["title"] for i in found["items"]] == ["Tone 660"]

    await car.service.play("driver", node=await car.album())
    await car.service.transport("driver", "pause")
    drone = await car.track_id("Drone")
    queue = await car.service.enqueue("driver", uri=f"library:track/{drone}", next=True)
    assert [i["title"] for i in queue["items"]] == ["Tone 440", "Drone", "Tone 660", "Tone 880"]
    queue = await car.service.move("driver", 3, 0)
    assert [i["title"] for i in queue["items"]] == ["Tone 880", "Tone 440", "Drone", "Tone 660"]
    assert queue["index"] == 1  # still Tone 440
    queue = await car.service.remove("driver", 2)
    assert [i["title"] for i in queue["items"]] == ["Tone 880", "Tone 440", "Tone 660"]
    state = await car.service.transport("driver", "next")
    assert state["item"]["title"] == "Tone 660"
    assert state["state"] == "paused"
    state = await car.service.set_mode("driver", shuffle=True, repeat="all", volume=30)
    assert (state["shuffle"], state["repeat"], state["volume"]) == (True, "all", 30)


# -- focus ----------------------------------------------------------------------------------


async def test_a_navigation_prompt_ducks_the_music(car: Car_) -> None:
    drone = await car.track_id("Drone")
    await car.service.play("driver", uri=f"library:track/{drone}")
    engine = car.service.engine
    await asyncio.sleep(1.0)
    duck_at = engine.frames_rendered("driver")
    prompt = FocusRequest("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK)
    assert car.service.focus.request(prompt).value == "granted"
    assert car.state()["focus"] == "loss_transient_can_duck"
    await asyncio.sleep(1.0)
    back_at = engine.frames_rendered("driver")
    car.service.focus.abandon("nav")
    await asyncio.sleep(1.0)
    assert car.state()["state"] == "playing"
    assert car.state()["focus"] == "gain"
    await stop(car)
    pcm, _ = read_wav(car.wav)
    window = 9600
    before = tone_level(pcm, LONG_TONE, duck_at - 2 * window, window)
    during = tone_level(pcm, LONG_TONE, duck_at + window, window)
    after = tone_level(pcm, LONG_TONE, back_at + 2 * window, window)
    assert before == pytest.approx(0.0625, rel=0.1)
    assert during / before == pytest.approx(10 ** (-12 / 20), rel=0.1)  # duck_db −12
    assert after == pytest.approx(before, rel=0.1)


async def test_a_call_pauses_the_music_until_it_ends(car: Car_) -> None:
    drone = await car.track_id("Drone")
    await car.service.play("driver", uri=f"library:track/{drone}")
    call = FocusRequest("phone", Usage.CALL, Gain.TRANSIENT)
    assert car.service.focus.request(call).value == "granted"
    await until(lambda: car.state()["state"] == "paused", what="paused by the call")
    with pytest.raises(FailedPrecondition, match="audio focus"):
        await car.service.transport("driver", "play")
    car.service.focus.abandon("phone")
    await until(lambda: car.state()["state"] == "playing", what="playing after the call")


async def test_another_source_takes_the_zone_and_the_first_waits(car: Car_) -> None:
    await car.service.play("driver", node=await car.album())
    drone = car.service.library.path(await car.track_id("Drone"))  # type: ignore[union-attr]
    state = await car.service.play("driver", uri=drone.as_uri())
    assert state["session"] == "Files"
    assert state["item"]["title"] == "Drone"
    with pytest.raises(NotFound, match="no file"):
        await car.service.play("driver", uri=(drone.parent / "missing.flac").as_uri())
    with pytest.raises(InvalidArgument, match="local file"):
        await car.service.play("driver", uri="file://elsewhere/music/a.mp3")
    library = car.service._zones["driver"].sessions["library"]
    await until(lambda: library.state.value == "paused", what="the library session paused")
    await until(lambda: car.value(f"{CARMESH}.Session") == "Files")
    # Both are USB sources; the most recent other one is the library.
    await car.service.transport("driver", "pause")
    await car.service.play("driver", node=await car.album())
    await until(lambda: car.value(f"{CARMESH}.Session") == "Library")
    await car.actuate({f"{MEDIA}.Played.Source": "USB"})
    assert car.state()["session"] == "Library"
    assert car.state()["state"] == "playing"


# -- zones, restart --------------------------------------------------------------------------


async def test_the_rear_zone_has_its_own_session_and_signals(tmp_path: Path, music: Path) -> None:
    settings = settings_for(tmp_path, music, audio_out_rear=f"wav:{tmp_path / 'rear.wav'}")
    car = await start_car(settings)
    try:
        drone = await car.track_id("Drone")
        await car.service.play("rear", uri=f"library:track/{drone}")
        await until(lambda: car.value(f"{CARMESH}.Rear.State") == "playing")
        assert car.value(f"{CARMESH}.Rear.Track") == "Drone"
        assert car.value(f"{CARMESH}.Rear.Action") == "PLAY"
        assert car.state("driver")["state"] == "stopped"
        await car.actuate({f"{CARMESH}.Rear.Volume": 20, f"{CARMESH}.Rear.Action": "STOP"})
        await until(lambda: car.value(f"{CARMESH}.Rear.Action") == "STOP")
        assert car.service.engine.volume("rear") == 20
        assert car.service.engine.volume("driver") == 50
    finally:
        await stop(car)
    rear, _ = read_wav(tmp_path / "rear.wav")
    driver, _ = read_wav(tmp_path / "driver.wav")
    assert audible_span(rear) != (0, 0)
    assert audible_span(driver) == (0, 0)


async def test_the_session_resumes_after_a_restart(tmp_path: Path, music: Path) -> None:
    settings = settings_for(tmp_path, music)
    car = await start_car(settings)
    drone = await car.track_id("Drone")
    try:
        await car.service.play("driver", uri=f"library:track/{drone}")
        await car.service.set_mode("driver", volume=35, repeat="one")
        await until(lambda: car.state()["position"] >= 2.0, what="two seconds played")
        left_at = car.state()["position"]
    finally:
        await stop(car)

    again = await start_car(settings)
    try:
        await until(lambda: again.state()["state"] == "playing", what="playing again")
        state = again.state()
        assert state["item"]["title"] == "Drone"
        assert state["position"] == pytest.approx(left_at, abs=0.5)
        assert (state["volume"], state["repeat"]) == (35, "one")
        assert again.service.engine.volume("driver") == 35
        await until(lambda: again.value(f"{MEDIA}.Played.Track") == "Drone")
        await again.service.transport("driver", "pause")
    finally:
        await stop(again)

    third = await start_car(settings)
    try:
        await asyncio.sleep(0.3)
        assert third.state()["state"] == "paused", "a paused session comes back paused"
        assert third.state()["item"]["title"] == "Drone"
    finally:
        await stop(third)


# -- app sessions ----------------------------------------------------------------------------


@pytest.fixture
def web(music: Path) -> Iterator[str]:
    """The library folder over HTTP, like an app serving its media."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(music))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_an_app_session_plays_through_the_sdk(tmp_path: Path, music: Path, web: str) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app = "org.example.radio"
    access = {app: AppAccess(app, "1.0.0", frozenset({"media"}), frozenset({"list"}))}
    host = AppHost(access.get)
    settings = settings_for(tmp_path, music)
    car = await start_car(settings, apps_host=host)
    server = GrpcServer(
        car.broker, "127.0.0.1:0", auth=GrpcAuth(TokenVerifier(public)), extra=[adapter_for(host)]
    )
    await server.start()
    token = create_token(private, "", subject=f"app:{app}", issuer="carmesh-apps")
    commands: list[tuple[str, dict[str, Any]]] = []
    try:
        async with Car.connect(server.address, token) as sdk:
            session = sdk.media_session(await sdk.register_media_session("My tones"))
            session.on_command(lambda command, event: commands.append((command, event)))
            await sdk.events_open()
            with pytest.raises(InvalidArgument, match="http"):
                await session.set_queue([QueueItem(id="x", title="X", url="ftp://nowhere/x")])
            state = await session.set_queue(
                [
                    QueueItem(
                        id="a", title="A", url=f"{web}/Synth%20-%20Tones/01%20Tone%20440.flac"
                    ),
                    QueueItem(id="b", title="B", url=f"{web}/Drone/Drone.flac", artist="Hum"),
                ],
                play=True,
            )
            assert state["session"] == "My tones"
            assert state["state"] == "playing"
            await until(lambda: car.value(f"{MEDIA}.Played.Track") == "A")
            assert car.value(f"{MEDIA}.Played.Source") == "INTERNET"
            assert car.value(f"{MEDIA}.Played.URI") == f"app:{app}/a"
            await until(lambda: car.state()["position"] >= 0.5, what="half a second of A")
            await car.actuate({f"{MEDIA}.Action": "SKIP_FORWARD"})
            await until(lambda: car.value(f"{MEDIA}.Played.Track") == "B")
            await until(lambda: commands, what="the app told of the skip")
            assert commands[0] == (
                "next",
                {"session_id": session.id, "command": "next", "index": 1},
            )
            state = await session.set_state("paused")
            assert state["state"] == "paused"
            browse = await car.service.browse("apps")
            assert browse["children"][0]["title"] == "My tones"
        host.clear(app)  # the app stopped
        await until(lambda: car.state()["session"] is None, what="the app's session gone")
    finally:
        await server.stop()
        await stop(car)
    pcm, _ = read_wav(car.wav)
    first, _last = audible_span(pcm)
    assert tone_level(pcm, 440.0, first + 2400, 9600) == pytest.approx(0.0625, rel=0.1)


# -- settings --------------------------------------------------------------------------------


def test_media_settings_from_the_environment(tmp_path: Path) -> None:
    env = {
        "CARMESH_MEDIA": "off",
        "CARMESH_MEDIA_LIBRARY": f"{tmp_path / 'a'}:{tmp_path / 'b'}",
        "CARMESH_AUDIO_OUT": "wav:/tmp/x.wav",
        "CARMESH_AUDIO_OUT_REAR": "null",
        "CARMESH_DUCK_DB": "-20",
        "CARMESH_AUDIO_RAMP_MS": "5",
    }
    settings = Settings.load(env=env)
    assert settings.media is False
    assert settings.media_library == [tmp_path / "a", tmp_path / "b"]
    assert (settings.audio_out, settings.audio_out_rear) == ("wav:/tmp/x.wav", "null")
    assert (settings.duck_db, settings.audio_ramp_ms) == (-20.0, 5.0)
    defaults = Settings.load(env={})
    assert (defaults.media, defaults.audio_out, defaults.audio_out_rear) == (True, "auto", "off")
    assert defaults.duck_db == -12.0 and defaults.audio_ramp_ms == 20.0


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"audio_out": "speakers"}, "audio_out 'speakers' is not an audio output"),
        ({"audio_out": "wav:"}, "is not an audio output"),
        ({"audio_out": "off"}, "is not an audio output"),
        ({"audio_out_rear": "hdmi"}, "audio_out_rear 'hdmi'"),
        ({"duck_db": 6}, "duck_db must be"),
        ({"audio_ramp_ms": -1}, "audio_ramp_ms must be"),
        ({"media": "maybe"}, "invalid setting media"),
    ],
)
def test_bad_media_settings_are_refused(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Settings.load(env={}, **overrides)


def test_the_overlay_comes_with_the_media_service() -> None:
    assert "Vehicle.Carmesh.Media.Rear.Action" in load_catalog(
        Settings.load(env={}, vehicle="none")
    )
    bare = Settings.load(env={}, vehicle="none", media=False)
    assert "Vehicle.Carmesh" not in load_catalog(bare)
    assert load_catalog(bare).name == "VSS 6.0"


# -- radio and podcasts ----------------------------------------------------------------------


@pytest.fixture
def net() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    try:
        yield server
    finally:
        server.kill()


async def test_a_station_plays_live_with_its_stream_title_as_the_track(
    tmp_path: Path, music: Path, net: LoopbackServer
) -> None:
    url = net.icy("/live", encode_stream(520.0, 3.0), metaint=4096, titles=("Ane Brun - Halo",))
    stations = tmp_path / "stations.toml"
    stations.write_text(
        f'[[station]]\nid = "test-fm"\nname = "Test FM"\nurl = "{url}"\ngenre = "Pop"\n'
    )
    car = await start_car(settings_for(tmp_path, music, radio_stations=stations))
    try:
        assert car.service.stations()["stations"] == [
            {"id": "test-fm", "name": "Test FM", "genre": "Pop", "uri": "radio:station/test-fm"}
        ]
        found = await car.service.search("test f")
        assert [i["uri"] for i in found["items"]] == ["radio:station/test-fm"]
        state = await car.service.play("driver", uri="radio:station/test-fm")
        assert (state["session"], state["item"]["live"]) == ("Radio", True)
        await until(lambda: car.value(f"{MEDIA}.Played.Track") == "Ane Brun - Halo")
        assert car.value(f"{MEDIA}.Played.Source") == "INTERNET"
        assert car.value(f"{CARMESH}.Duration") == 0.0
        assert car.state()["state"] == "playing"
        with pytest.raises(InvalidArgument, match="live stream"):
            await car.service.transport("driver", "seek", 5.0)
        with pytest.raises(InvalidArgument, match="live stream"):
            await car.actuate({f"{CARMESH}.Seek": 5.0})
        await asyncio.sleep(1.0)
        state = await car.service.play("driver", node="radio")
        assert state["queue_length"] == 1
    finally:
        await stop(car)
    pcm, _ = read_wav(car.wav)
    first, _last = audible_span(pcm)
    assert tone_level(pcm, 520.0, first + 9600, 9600) > 0.03


async def test_a_podcast_episode_starts_where_it_was_left(
    tmp_path: Path, music: Path, net: LoopbackServer
) -> None:
    episode = encode(tmp_path / "ep1.mp3", sine(600.0, 30.0), "mp3")
    audio = net.file("/ep1.mp3", episode.read_bytes(), "audio/mpeg")
    feed = net.file(
        "/feed.xml",
        (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Fjord Talk</title>'
            "<item><title>Episode 1</title><guid>fjord-1</guid>"
            f'<enclosure url="{audio}" length="1000" type="audio/mpeg"/></item>'
            "</channel></rss>"
        ).encode(),
        "application/rss+xml",
    )
    car = await start_car(settings_for(tmp_path, music))
    try:
        subscribed = await car.service.add_podcast(feed)
        assert subscribed["title"] == "Fjord Talk"
        uri = subscribed["episodes"][0]["uri"]
        podcasts = await car.service.browse("podcasts")
        assert [c["title"] for c in podcasts["children"]] == ["Fjord Talk"]
        await car.service.play("driver", uri=uri)
        assert car.state()["session"] == "Podcasts"
        await until(lambda: car.state()["position"] >= 4.0, what="four seconds of the episode")
        await asyncio.sleep(1.5)  # saved every few seconds while playing
        await car.service.play("driver", node=await car.album())
        state = await car.service.play("driver", uri=uri)
        assert state["position"] >= 2.5
        refreshed = await car.service.refresh_podcasts()
        assert [f["title"] for f in refreshed["feeds"]] == ["Fjord Talk"]
    finally:
        await stop(car)
