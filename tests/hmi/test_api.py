"""The HMI's JSON API against a real ``carmesh run``: reads, actuations that reach the
simulated car, and clear JSON errors with the right HTTP status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.car import RunningCar

DRIVER = "Vehicle.Cabin.HVAC.Station.Row1.Driver"
PASSENGER = "Vehicle.Cabin.HVAC.Station.Row1.Passenger"
CABIN_TEMPERATURE = "Vehicle.Cabin.HVAC.AmbientAirTemperature"
DOOR = "Vehicle.Cabin.Door.Row1.DriverSide"


@pytest.fixture(scope="module")
def sim(sim_car: RunningCar) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim_car.http_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def bare(bare_car: RunningCar) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bare_car.http_url, timeout=10) as client:
        yield client


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "path"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"] and "Traceback" not in body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


def value_of(client: httpx.Client, path: str) -> Any:
    return client.get(f"/api/signals/{path}").json()["value"]


def test_read_signals_by_path_and_pattern(sim: httpx.Client) -> None:
    response = sim.get(
        "/api/signals", params={"paths": "Vehicle.Speed, Vehicle.Cabin.Door.*.*.IsOpen"}
    )
    assert response.status_code == 200
    values = response.json()["values"]
    assert len(values) == 5 and "Vehicle.Cabin.Door.Row2.PassengerSide.IsOpen" in values
    speed = values["Vehicle.Speed"]
    assert isinstance(speed["value"], float)
    now_ms = time.time() * 1000
    assert now_ms - 10_000 < speed["timestamp"] <= now_ms + 1  # Date.now()-compatible ms
    nothing = sim.get(
        "/api/signals", params={"paths": "Vehicle.Cabin.Seat.Row2.Middle.Massage.Level"}
    )
    assert nothing.json() == {"values": {"Vehicle.Cabin.Seat.Row2.Middle.Massage.Level": None}}


def test_read_one_signal_with_target_and_metadata(sim: httpx.Client) -> None:
    body = sim.get(f"/api/signals/{DRIVER}.FanSpeed").json()
    assert body["path"] == f"{DRIVER}.FanSpeed"
    assert isinstance(body["value"], int) and isinstance(body["timestamp"], int)
    assert set(body) == {"path", "value", "timestamp", "target", "target_timestamp", "metadata"}
    assert body["metadata"] == {
        "type": "actuator",
        "datatype": "uint8",
        "unit": "percent",
        "min": 0,
        "max": 100,
        "allowed": None,
        "description": body["metadata"]["description"],
    }
    gear = sim.get("/api/signals/Vehicle.Powertrain.Transmission.SelectedGear").json()
    assert gear["metadata"]["type"] == "actuator"
    speed = sim.get("/api/signals/Vehicle.Speed").json()
    assert speed["target"] is None and speed["metadata"]["unit"] == "km/h"


def test_actuation_reaches_the_simulated_car(sim: httpx.Client) -> None:
    """Raise both front set points: the target is recorded and the cabin warms towards it."""
    start = value_of(sim, CABIN_TEMPERATURE)
    wanted = round(max(start, 21.0) + 6.0)
    targets = {f"{DRIVER}.Temperature": wanted, f"{PASSENGER}.Temperature": wanted}
    try:
        response = sim.post("/api/actuate", json={"targets": targets})
        assert response.status_code == 200 and response.json() == {"ok": True}
        body = sim.get(f"/api/signals/{DRIVER}.Temperature").json()
        assert body["target"] == wanted and body["target_timestamp"] >= time.time() * 1000 - 5000
        deadline = time.monotonic() + 15
        while value_of(sim, CABIN_TEMPERATURE) < start + 0.5:
            assert time.monotonic() < deadline, "the cabin did not warm towards the set point"
            time.sleep(0.2)
        assert value_of(sim, f"{DRIVER}.Temperature") == wanted
    finally:
        restore = {f"{DRIVER}.Temperature": 21, f"{PASSENGER}.Temperature": 21}
        sim.post("/api/actuate", json={"targets": restore})


def test_an_interlock_refusal_is_a_400_with_the_reason(sim: httpx.Client) -> None:
    response = sim.post("/api/actuate", json={"targets": {f"{DOOR}.IsOpen": True}})
    error = error_of(response, 400, "invalid_argument")
    assert "locked" in error["message"] and "unlock it" in error["message"]


def test_permission_is_the_hmis_own(sim: httpx.Client) -> None:
    odometer = sim.post("/api/actuate", json={"targets": {"Vehicle.TraveledDistance": 0}})
    error = error_of(odometer, 403, "permission_denied")
    assert error == {
        "code": "permission_denied",
        "message": "hmi may not actuate Vehicle.TraveledDistance",
        "path": "Vehicle.TraveledDistance",
    }
    gear = {"Vehicle.Powertrain.Transmission.SelectedGear": 127}
    error_of(sim.post("/api/actuate", json={"targets": gear}), 403, "permission_denied")
    fault = {"Vehicle.Carmesh.Simulator.Fault.LowVoltageBattery": True}
    error_of(sim.post("/api/actuate", json={"targets": fault}), 403, "permission_denied")
    sensor = sim.post("/api/actuate", json={"targets": {CABIN_TEMPERATURE: 30}})
    error = error_of(sensor, 400, "invalid_argument")
    assert "is a sensor, not an actuator" in error["message"] and error["path"] == CABIN_TEMPERATURE


def test_bad_values_name_the_signal(sim: httpx.Client) -> None:
    for value, words in [(150, "100"), ("fast", "uint8"), (None, ""), (-1, "0")]:
        response = sim.post("/api/actuate", json={"targets": {f"{DRIVER}.FanSpeed": value}})
        error = error_of(response, 400, "invalid_value")
        assert error["path"] == f"{DRIVER}.FanSpeed" and words in error["message"], error
    mixed = {f"{DRIVER}.FanSpeed": 30, "Vehicle.Cabin.Door.Row9.IsOpen": True}
    error = error_of(sim.post("/api/actuate", json={"targets": mixed}), 404, "not_found")
    assert error["path"] == "Vehicle.Cabin.Door.Row9.IsOpen"


def test_bad_paths(sim: httpx.Client) -> None:
    error = error_of(sim.get("/api/signals/Vehicle.Nothing"), 404, "not_found")
    assert error["path"] == "Vehicle.Nothing" and "Vehicle.Nothing" in error["message"]
    error = error_of(sim.get("/api/signals/Vehicle.Cabin"), 404, "not_found")
    assert "branch" in error["message"]
    error_of(sim.get("/api/signals", params={"paths": "Vehicle.Cab*"}), 400, "invalid_argument")
    error_of(sim.get("/api/signals", params={"paths": "Vehicle.Nope.**"}), 404, "not_found")
    error = error_of(sim.get("/api/signals"), 400, "invalid_argument")
    assert "?paths=" in error["message"]


def test_malformed_bodies_are_422(sim: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    broken = sim.post("/api/actuate", content=b'{"targets": {', headers=headers)
    assert "not valid JSON" in error_of(broken, 422, "invalid_argument")["message"]
    missing = sim.post("/api/actuate", json={"target": {}})
    assert "targets" in error_of(missing, 422, "invalid_argument")["message"]
    wrong = sim.post("/api/actuate", json={"targets": [1, 2]})
    error_of(wrong, 422, "invalid_argument")
    empty = sim.post("/api/actuate", json={"targets": {}})
    error_of(empty, 400, "invalid_argument")


def test_routing_errors_are_json_too(sim: httpx.Client) -> None:
    error_of(sim.get("/api/nothing"), 404, "not_found")
    error_of(sim.get("/api/actuate"), 405, "invalid_argument")
    error_of(sim.get("/static/no-such-file.js"), 404, "not_found")


def test_no_provider_is_503(bare: httpx.Client) -> None:
    response = bare.post("/api/actuate", json={"targets": {f"{DRIVER}.FanSpeed": 30}})
    error = error_of(response, 503, "unavailable")
    assert error["path"] == f"{DRIVER}.FanSpeed" and "no provider" in error["message"]


def test_driving_state(sim: httpx.Client, bare: httpx.Client) -> None:
    parked = bare.get("/api/driving-state").json()
    assert parked == {
        "moving": False,
        "speed": None,
        "gear": None,
        "rules": {
            "text_entry": True,
            "video": True,
            "max_list_items": None,
            "max_text_length": None,
        },
    }
    state = sim.get("/api/driving-state").json()
    assert set(state) == {"moving", "speed", "gear", "rules"}
    assert state["rules"]["text_entry"] is not state["moving"]
