"""The HMI's WebSocket against a real ``carmesh run``: subscriptions, batching at ≤ 30 frames
per second, actuations, driving frames, and malformed frames that leave the connection open."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from kuksa.val.v2 import val_pb2_grpc

from tests.api.val_v2_support import publish
from tests.hmi.support import hmi_client
from tests.support.car import RunningCar

SPEED = "Vehicle.Speed"
GEAR = "Vehicle.Powertrain.Transmission.SelectedGear"
FAN = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed"
OUTSIDE = "Vehicle.Exterior.AirTemperature"
MAX_FPS = 30


@pytest.fixture
async def stub(bare_car: RunningCar) -> AsyncIterator[val_pb2_grpc.VALStub]:
    async with grpc.aio.insecure_channel(bare_car.grpc_address) as channel:
        yield val_pb2_grpc.VALStub(channel)


async def test_subscribe_answers_with_current_values_then_streams(sim_car: RunningCar) -> None:
    async with hmi_client(sim_car.http_url) as client:
        driving = await client.next("driving")
        assert set(driving["state"]) == {"moving", "speed", "gear", "rules"}
        current = await client.subscribe(SPEED, "Vehicle.Cabin.HVAC.Station.Row1.*.FanSpeed")
        assert set(current) == {SPEED, FAN, FAN.replace("Driver", "Passenger")}
        assert set(current[SPEED]) == {"value", "timestamp"}
        stamps = {current[SPEED]["timestamp"]}
        while len(stamps) < 4:  # the simulated car publishes its speed at 10 Hz
            frame = await client.next("values")
            assert set(frame["values"]) <= set(current)
            if SPEED in frame["values"]:
                stamps.add(frame["values"][SPEED]["timestamp"])


async def test_unsubscribe_stops_a_signal(sim_car: RunningCar) -> None:
    power = "Vehicle.Powertrain.TractionBattery.CurrentPower"
    async with hmi_client(sim_car.http_url) as client:
        await client.subscribe(SPEED, power)
        await client.send({"type": "unsubscribe", "paths": [SPEED]})
        await asyncio.sleep(0.05)  # frames already on their way may hold it
        for _ in range(5):
            frame = await client.next("values")
            assert SPEED not in frame["values"]
        await client.send({"type": "unsubscribe", "paths": [power]})
        await client.send({"type": "unsubscribe", "paths": ["Vehicle.Nothing"]})
        assert (await client.next("error"))["error"]["code"] == "not_found"
        with pytest.raises(TimeoutError):
            await client.next("values", timeout=0.5)


async def test_at_most_30_frames_a_second_from_the_simulated_car(sim_car: RunningCar) -> None:
    """Every signal of the car, published at 10 Hz and once a simulated second at 20×."""
    async with hmi_client(sim_car.http_url) as client:
        await client.subscribe("Vehicle")
        started = time.monotonic()
        frames, signals = 0, set()
        while time.monotonic() - started < 1.5:
            frame = await client.next("values")
            frames += 1
            signals.update(frame["values"])
        elapsed = time.monotonic() - started
        assert frames <= MAX_FPS * elapsed + 1
        assert frames >= 5 and len(signals) > 50


async def test_a_fast_publisher_is_conflated_to_30_frames_a_second(
    bare_car: RunningCar, stub: val_pb2_grpc.VALStub
) -> None:
    """About a thousand updates a second reach the page as ≤ 30 frames, the last one intact."""
    async with hmi_client(bare_car.http_url) as client:
        await client.subscribe(OUTSIDE)
        gaps: list[float] = []
        received: list[float] = []

        async def read() -> None:
            last = time.monotonic()
            while True:
                frame = await client.next("values")
                now = time.monotonic()
                gaps.append(now - last)
                last = now
                received.append(frame["values"][OUTSIDE]["value"])

        reader = asyncio.create_task(read())
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < 1.0:
            await asyncio.gather(
                *(publish(stub, OUTSIDE, float=float(sent + i)) for i in range(20))
            )
            sent += 20
        final = float(sent)
        await publish(stub, OUTSIDE, float=final)
        deadline = time.monotonic() + 2
        while not received or received[-1] != final:
            assert time.monotonic() < deadline, f"the last value never arrived: {received[-3:]}"
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started
        reader.cancel()
    assert sent >= 300, "the publisher was too slow to test conflation"
    assert len(received) <= MAX_FPS * elapsed + 2
    assert received == sorted(received), "frames arrive in publish order"
    assert statistics.median(gaps[1:]) >= 0.025, "frames are spaced by about 33 ms"


async def test_actuate_over_the_socket(sim_car: RunningCar) -> None:
    async with hmi_client(sim_car.http_url) as client:
        before = (await client.subscribe(FAN))[FAN]["value"]
        wanted = 70 if before != 70 else 60
        assert await client.actuate(1, {FAN: wanted}) == {"type": "result", "id": 1, "ok": True}
        deadline = time.monotonic() + 5
        while True:
            frame = await client.next("values", timeout=deadline - time.monotonic())
            if frame["values"].get(FAN, {}).get("value") == wanted:
                break
        refused = await client.actuate(2, {"Vehicle.TraveledDistance": 0})
        assert refused["ok"] is False and refused["error"] == {
            "code": "permission_denied",
            "message": "hmi may not actuate Vehicle.TraveledDistance",
            "path": "Vehicle.TraveledDistance",
        }
        door = await client.actuate(3, {"Vehicle.Cabin.Door.Row1.DriverSide.IsOpen": True})
        assert door["error"]["code"] == "invalid_argument" and "locked" in door["error"]["message"]
        bad = await client.actuate(4, {FAN: 101})
        assert bad["error"]["code"] == "invalid_value" and bad["error"]["path"] == FAN
        await client.send({"type": "actuate", "id": "five", "targets": []})
        assert (await client.next("result"))["id"] == "five"
        await client.actuate(6, {FAN: before})


async def test_malformed_frames_get_an_error_and_the_connection_stays_open(
    sim_car: RunningCar,
) -> None:
    cases: list[tuple[object, str, str]] = [
        ("{not json", "invalid_argument", "not valid JSON"),
        ([1, 2], "invalid_argument", "JSON object"),
        ({"paths": [SPEED]}, "invalid_argument", "unknown frame type"),
        ({"type": "dance"}, "invalid_argument", "unknown frame type 'dance'"),
        ({"type": "subscribe"}, "invalid_argument", "paths"),
        ({"type": "subscribe", "paths": "Vehicle.Speed"}, "invalid_argument", "paths"),
        ({"type": "subscribe", "paths": [SPEED, 3]}, "invalid_argument", "paths"),
        ({"type": "subscribe", "paths": ["Vehicle.Nothing"]}, "not_found", "Vehicle.Nothing"),
        ({"type": "subscribe", "paths": ["Vehicle.Cab*"]}, "invalid_argument", "pattern"),
        ({"type": "actuate", "targets": {}}, "invalid_argument", "targets"),
        ({"type": "actuate", "id": [1], "targets": {FAN: 1}}, "invalid_argument", "id"),
        (b"\x00\x01", "invalid_argument", "text frames"),
    ]
    async with hmi_client(sim_car.http_url) as client:
        for frame, code, words in cases:
            await client.send(frame)  # type: ignore[arg-type]
            error = (await client.next("error"))["error"]
            assert error["code"] == code and words in error["message"], (frame, error)
        assert SPEED in await client.subscribe(SPEED)


async def test_each_path_of_a_subscription_stands_alone(sim_car: RunningCar) -> None:
    """A page written for a richer catalog still gets what this car has."""
    async with hmi_client(sim_car.http_url) as client:
        await client.send({"type": "subscribe", "paths": [SPEED, "Vehicle.Nothing", FAN]})
        error = await client.next("error")
        assert error["error"]["path"] == "Vehicle.Nothing"
        assert set((await client.next("values"))["values"]) == {SPEED, FAN}


async def test_driving_frames_follow_speed_and_gear(
    bare_car: RunningCar, stub: val_pb2_grpc.VALStub
) -> None:
    await publish(stub, GEAR, int32=126)
    await publish(stub, SPEED, float=0.0)
    async with hmi_client(bare_car.http_url) as client:
        first = await client.next("driving")
        assert first["state"]["moving"] is False
        assert first["state"]["rules"] == {
            "text_entry": True,
            "video": True,
            "max_list_items": None,
            "max_text_length": None,
        }
        await publish(stub, GEAR, int32=127)
        for speed in (3.0, 30.0, 50.0):
            await publish(stub, SPEED, float=speed)
        moving = await client.next("driving")
        assert moving["state"]["moving"] is True and moving["state"]["gear"] == 127
        assert moving["state"]["rules"] == {
            "text_entry": False,
            "video": False,
            "max_list_items": 6,
            "max_text_length": 40,
        }
        await publish(stub, SPEED, float=0.0)
        with pytest.raises(TimeoutError):  # standing in Drive keeps the rules
            await client.next("driving", timeout=0.3)
        await publish(stub, GEAR, int32=126)
        parked = await client.next("driving")
        assert parked["state"]["moving"] is False and parked["state"]["speed"] == 0.0


async def test_many_clients_each_get_their_own_stream(bare_car: RunningCar) -> None:
    async with hmi_client(bare_car.http_url) as a, hmi_client(bare_car.http_url) as b:
        await a.subscribe(OUTSIDE)
        await b.subscribe(SPEED)
        await a.send({"type": "subscribe", "paths": ["Vehicle.Nothing"]})
        assert (await a.next("error"))["error"]["path"] == "Vehicle.Nothing"
        assert not [f for f in b.frames if f["type"] == "error"]
