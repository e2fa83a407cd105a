"""Moves the driver's seat on request, but only while the car stands still.

MQTT topics (JSON payloads):

- ``seatadjuster/setPosition/request`` ← ``{"position": MM, "requestId": ID}``
- ``seatadjuster/setPosition/response`` → ``{"requestId": ID, "result": {"status": S,
  "message": TEXT}}``; status 0: the car accepted the new seat target, 1: refused (the car
  moves, its speed is unknown, the request is malformed, or the broker said no).
- ``seatadjuster/currentPosition`` → ``{"position": MM}`` whenever the seat's position changes.
"""

import json
import logging
from typing import Any

from velocitas_sdk.vdb.client import VehicleDataBrokerClient
from velocitas_sdk.vdb.reply import DataPointReply
from velocitas_sdk.vehicle_app import VehicleApp, subscribe_topic

from app.vehicle import Vehicle

log = logging.getLogger(__name__)

REQUEST_TOPIC = "seatadjuster/setPosition/request"
RESPONSE_TOPIC = "seatadjuster/setPosition/response"
POSITION_TOPIC = "seatadjuster/currentPosition"
OK, REFUSED = 0, 1
MAX_POSITION = 65535  # uint16


class SeatAdjuster(VehicleApp):
    def __init__(self, vehicle: Vehicle) -> None:
        super().__init__()
        self.Vehicle = vehicle

    async def on_start(self) -> None:
        """Report the seat's position from now on (the first report is the current one)."""
        await self.Vehicle.Cabin.Seat.Row1.DriverSide.Position.subscribe(self.on_position)

    async def on_position(self, reply: DataPointReply) -> None:
        position = reply.get(self.Vehicle.Cabin.Seat.Row1.DriverSide.Position).value
        await self.publish_event(POSITION_TOPIC, json.dumps({"position": position}))

    @subscribe_topic(REQUEST_TOPIC)
    async def on_request(self, payload: str) -> None:
        request_id: Any = None
        try:
            request = json.loads(payload)
            request_id = request.get("requestId") if isinstance(request, dict) else None
            status, message = await self.move_seat(request)
        except ValueError as exc:
            status, message = REFUSED, f"malformed request: {exc}"
        except Exception as exc:  # the broker is unreachable, or refused the call
            log.exception("setting the seat position failed")
            status, message = REFUSED, f"the car did not accept the request: {exc}"
        answer = {"requestId": request_id, "result": {"status": status, "message": message}}
        await self.publish_event(RESPONSE_TOPIC, json.dumps(answer))

    async def move_seat(self, request: Any) -> tuple[int, str]:
        if not isinstance(request, dict):
            raise ValueError("expected a JSON object")
        position = request.get("position")
        if not isinstance(position, int) or isinstance(position, bool):
            raise ValueError("position must be a whole number of millimetres")
        if not 0 <= position <= MAX_POSITION:
            raise ValueError(f"position must be 0..{MAX_POSITION} mm")
        speed = await self.speed()
        if speed is None:
            return REFUSED, "the vehicle speed is unknown, so the seat stays where it is"
        if speed != 0:
            return REFUSED, f"the seat moves only while the car stands still (now {speed} km/h)"
        try:
            await self.Vehicle.Cabin.Seat.Row1.DriverSide.Position.set(position)
        except TypeError:
            # velocitas-sdk raises TypeError for any per-signal error in the reply (its
            # message always says "non-actuator"): here, a missing permission or no seat
            # provider.
            return REFUSED, "the car refused the seat position (no permission, or no seat)"
        return OK, f"seat moving to {position} mm"

    async def speed(self) -> float | None:
        """Vehicle.Speed in km/h, or None when the broker has no value the app may read.

        The typed ``Vehicle.Speed.get()`` would turn "no value" and "not allowed" into 0.0,
        which here would mean "standing still"; so the reply is read as the broker sent it.
        """
        path = self.Vehicle.Speed.get_path()
        reply = await VehicleDataBrokerClient().GetDatapoints([path])
        datapoint = reply.datapoints[path]
        if datapoint.WhichOneof("value") != "float_value":
            return None
        return float(datapoint.float_value)
