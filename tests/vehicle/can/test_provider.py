"""The CAN provider end to end: a virtual bus, the real broker, subscribers and actuators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import can
import pytest

from carmesh.broker import Broker, Field
from carmesh.errors import InvalidValue, Unavailable
from carmesh.vehicle.can import BusSource, CanMapping, CanVehicle, Replay
from carmesh.vss import Catalog
from tests.vehicle.can.conftest import Frames, unique_channel
from tests.vehicle.can.support import READER, collect, running, until

LOCK = "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"
SET_POINT = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
FAN = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed"
CHARGE_LIMIT = "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit"
START_STOP = "Vehicle.Powertrain.TractionBattery.Charging.StartStopCharging"


@pytest.fixture
async def broker(catalog: Catalog) -> AsyncIterator[Broker]:
    b = Broker(catalog, actuation_timeout=2.0)
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
def channel() -> str:
    return unique_channel()


@pytest.fixture
def car_bus(channel: str) -> Iterator[can.BusABC]:
    """The car's side of the virtual bus: what ECUs send and what they receive."""
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


@pytest.fixture
def vehicle(mapping: CanMapping, channel: str) -> CanVehicle:
    return CanVehicle(mapping, BusSource("virtual", channel))


async def test_frames_on_a_virtual_bus_reach_a_broker_subscriber(
    broker: Broker, vehicle: CanVehicle, car_bus: can.BusABC, frames: Frames
) -> None:
    sub = broker.subscribe(
        READER,
        ["Vehicle.Powertrain.ElectricMotor.Speed", "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"],
        initial=False,
    )
    async with running(vehicle, broker):
        assert broker.provider_of("Vehicle.Speed") == "can"
        assert broker.actuation_provider_of(LOCK) == "can"
        for rpm in range(0, 1000, 10):
            car_bus.send(frames("VCU_Drive", VCU_MotorSpeed=rpm))
        car_bus.send(frames("BCM_Doors", BCM_DoorFL="OPEN"))
        motor = await collect(sub, "Vehicle.Powertrain.ElectricMotor.Speed", 100)
        assert motor == [float(rpm) for rpm in range(0, 1000, 10)]
        await until(lambda: vehicle.counters.frames_decoded == 101)
        door = broker.get(READER, "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen")
        assert door is not None and door.value is True
        speed = broker.get(READER, "Vehicle.Speed")
        assert speed is not None and speed.value == 0.0
        c = vehicle.counters
        assert c.frames_received == 101
        assert c.values_published > 100
        assert c.frames_malformed == c.frames_unknown_id == c.frames_dropped == 0
    assert broker.provider_of("Vehicle.Speed") is None  # stopping released the claims


async def test_bad_traffic_is_counted_and_the_provider_keeps_going(
    broker: Broker, vehicle: CanVehicle, car_bus: can.BusABC, frames: Frames
) -> None:
    async with running(vehicle, broker) as task:
        car_bus.send(can.Message(arbitration_id=0x200, is_extended_id=False, data=b"\x01"))
        car_bus.send(can.Message(arbitration_id=0x555, is_extended_id=False, data=bytes(8)))
        car_bus.send(frames("BMS_Status", BMS_SOC=102.3, BMS_PackVoltage=398.2))
        car_bus.send(frames("VCU_Drive", VCU_Gear="SNA"))
        await until(lambda: vehicle.counters.frames_received == 4)
        assert not task.done()
        c = vehicle.counters
        assert (c.frames_malformed, c.frames_unknown_id) == (1, 1)
        assert c.values_out_of_range == 1  # SOC 102.3 % > max 100
        assert c.values_untransformable == 2  # SNA: no gear, no park lock
        voltage = broker.get(READER, "Vehicle.Powertrain.TractionBattery.CurrentVoltage")
        assert voltage is not None and voltage.value == pytest.approx(398.2)
        assert (
            broker.get(READER, "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current") is None
        )


async def test_an_actuator_target_becomes_a_frame_on_the_bus(
    broker: Broker, vehicle: CanVehicle, car_bus: can.BusABC, database: object
) -> None:
    async with running(vehicle, broker):
        await broker.actuate(READER, {LOCK: True})
        frame = car_bus.recv(1.0)
        assert frame is not None
        assert (frame.arbitration_id, frame.is_extended_id, bytes(frame.data)) == (
            0x320,
            False,
            b"\x02",  # BCM_LockRequestFL = LOCK (2), the others NO_REQUEST
        )
        target = broker.get(READER, LOCK, Field.TARGET)
        assert target is not None and target.value is True

        # 21.5 °C is 70.7 °F, 0.5 °F per bit from 50 °F: raw 41; the fan keeps its start value
        await broker.actuate(READER, {SET_POINT: 21.5})
        frame = car_bus.recv(1.0)
        assert frame is not None and frame.arbitration_id == 0x311
        assert bytes(frame.data) == bytes([41, 0])
        # setting the fan keeps the set point sent before
        await broker.actuate(READER, {FAN: 60})
        frame = car_bus.recv(1.0)
        assert frame is not None and bytes(frame.data) == bytes([41, 60])

        # an extended frame, and a string actuator sent as a DBC choice
        await broker.actuate(READER, {CHARGE_LIMIT: 90, START_STOP: "START"})
        frame = car_bus.recv(1.0)
        assert frame is not None
        assert (frame.arbitration_id, frame.is_extended_id) == (0x18FF51E5, True)
        assert bytes(frame.data) == bytes([90, 1])
        assert car_bus.recv(0.05) is None  # one frame per message
        assert vehicle.counters.frames_sent == 4


async def test_a_target_the_dbc_cannot_encode_is_refused_and_nothing_is_sent(
    broker: Broker, vehicle: CanVehicle, car_bus: can.BusABC
) -> None:
    async with running(vehicle, broker):
        # VSS allows 0..100 %, the charger takes 50..100 %
        with pytest.raises(InvalidValue, match="cannot be sent as CAN message OBC_Request"):
            await broker.actuate(READER, {CHARGE_LIMIT: 30})
        assert car_bus.recv(0.05) is None
        assert broker.get(READER, CHARGE_LIMIT, Field.TARGET) is None
        # the refused value was not remembered: the next frame starts from the DBC start value
        await broker.actuate(READER, {START_STOP: "STOP"})
        frame = car_bus.recv(1.0)
        assert frame is not None and bytes(frame.data) == bytes([80, 2])


async def test_a_failed_send_refuses_the_request_as_unavailable(
    broker: Broker, vehicle: CanVehicle
) -> None:
    async def broken(frame: can.Message) -> None:
        raise Unavailable("sending on CAN bus virtual x failed: bus off")

    async with running(vehicle, broker):
        vehicle.source.send = broken  # type: ignore[method-assign]
        with pytest.raises(Unavailable, match="bus off"):
            await broker.actuate(READER, {LOCK: False})
        assert vehicle.counters.send_failures == 1


async def test_a_replay_serves_values_but_no_actuators(
    broker: Broker, mapping: CanMapping, frames: Frames
) -> None:
    recorded = [frames("HVAC_Status", timestamp=i * 0.01, HVAC_FanDriver=i) for i in range(50)]
    vehicle = CanVehicle(mapping, Replay(recorded, speed=None))
    async with running(vehicle, broker):
        await asyncio.wait_for(vehicle.finished.wait(), 5.0)
        fan = broker.get(READER, FAN)
        assert fan is not None and fan.value == 49
        assert broker.actuation_provider_of(FAN) is None
        assert broker.provider_of(FAN) == "can"
        with pytest.raises(Unavailable, match="no provider serves the actuator"):
            await broker.actuate(READER, {FAN: 10})
    assert "replay of frames in memory" in vehicle.description


async def test_an_unknown_interface_is_a_clear_error(broker: Broker, mapping: CanMapping) -> None:
    vehicle = CanVehicle(mapping, BusSource("no-such-interface", "x"))
    with pytest.raises(Exception, match="CAN interface 'no-such-interface' cannot be used"):
        async with running(vehicle, broker):
            pass
    assert broker.provider_of("Vehicle.Speed") is None


async def test_a_missing_socketcan_device_is_unavailable(
    broker: Broker, mapping: CanMapping
) -> None:
    vehicle = CanVehicle(mapping, BusSource("socketcan", "carmesh-none0"))
    with pytest.raises(Unavailable, match="cannot open CAN bus socketcan carmesh-none0"):
        async with running(vehicle, broker):
            pass
