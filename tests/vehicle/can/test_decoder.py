"""Frames to VSS values: decoding, transforms, filters, and counting what cannot be used."""

from __future__ import annotations

import logging

import can
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carmesh.vehicle.can import CanCounters, CanMapping, FrameDecoder, ProblemLog
from tests.vehicle.can.conftest import Frames

DOOR = "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"
SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
GEAR = "Vehicle.Powertrain.Transmission.CurrentGear"
PARK_LOCK = "Vehicle.Powertrain.Transmission.IsParkLockEngaged"


def decoder(mapping: CanMapping) -> FrameDecoder:
    """A fresh decoder (filter state is per decoder)."""
    return FrameDecoder(mapping, CanCounters(), ProblemLog(interval=60.0))


def values(batches: list[dict[str, object]]) -> dict[str, object]:
    merged: dict[str, object] = {}
    for batch in batches:
        merged.update(batch)
    return merged


def test_a_drive_frame_becomes_vss_values(mapping: CanMapping, frames: Frames) -> None:
    d = decoder(mapping)
    frame = frames(
        "VCU_Drive",
        VCU_VehicleSpeed=87.35,
        VCU_Gear="DRIVE",
        VCU_DriveMode="SPORT",
        VCU_AccelPedal=40.4,
        VCU_MotorSpeed=-1234,
    )
    assert d.decode([frame]) == [
        {
            "Vehicle.Speed": pytest.approx(87.35),
            "Vehicle.Powertrain.ElectricMotor.Speed": -1234.0,
            "Vehicle.Chassis.Accelerator.PedalPosition": 40,
            GEAR: 1,
            PARK_LOCK: False,
            "Vehicle.Powertrain.Transmission.PerformanceMode": "SPORT",
        }
    ]
    assert d.counters.frames_decoded == 1
    assert d.counters.values_published == 0  # publishing is the provider's business


def test_math_and_extended_ids(mapping: CanMapping, frames: Frames) -> None:
    d = decoder(mapping)
    got = values(
        d.decode(
            [
                frames("VCU_Odometer", VCU_OdometerKm=12345.6),
                frames("OBC_Status", OBC_ChargeLimit=80, OBC_ChargePower=11.04),
            ]
        )
    )
    assert got["Vehicle.TraveledDistance"] == 12_345_600
    assert got["Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit"] == 80
    assert got["Vehicle.Powertrain.TractionBattery.Charging.AveragePower"] == pytest.approx(11.04)


def test_interval_ms_uses_frame_timestamps(mapping: CanMapping, frames: Frames) -> None:
    d = decoder(mapping)
    speeds = [
        frames("VCU_Drive", timestamp=100.0 + i * 0.02, VCU_VehicleSpeed=float(i))
        for i in range(12)
    ]
    got = [b["Vehicle.Speed"] for b in d.decode(speeds) if "Vehicle.Speed" in b]
    assert got == [0.0, 5.0, 10.0]  # at most one per 100 ms: t = 0, 0.1, 0.2 s
    assert d.counters.values_suppressed >= 9
    # every frame still updates the signals mapped with interval_ms: 0
    motor = [b for b in d.decode(speeds) if "Vehicle.Powertrain.ElectricMotor.Speed" in b]
    assert len(motor) == 12


def test_time_going_backwards_does_not_block_updates(mapping: CanMapping, frames: Frames) -> None:
    d = decoder(mapping)
    d.decode([frames("VCU_Drive", timestamp=50.0, VCU_VehicleSpeed=1.0)])
    got = d.decode([frames("VCU_Drive", timestamp=1.0, VCU_VehicleSpeed=2.0)])
    assert got[0]["Vehicle.Speed"] == 2.0


def test_on_change_forwards_changes_only(mapping: CanMapping, frames: Frames) -> None:
    d = decoder(mapping)
    socs = [
        frames("BMS_Status", timestamp=i, BMS_SOC=s) for i, s in enumerate([50, 50, 50.1, 50.1])
    ]
    got = [b[SOC] for b in d.decode(socs) if SOC in b]
    assert got == [50.0, pytest.approx(50.1)]


def test_batches_keep_every_value_in_order(mapping: CanMapping, frames: Frames) -> None:
    d = decoder(mapping)
    doors = [
        frames("BCM_Doors", timestamp=i, BCM_DoorFL=state)
        for i, state in enumerate(["CLOSED", "OPEN", "CLOSED", "AJAR"])
    ]
    got = [b[DOOR] for b in d.decode(doors)]
    assert got == [False, True, False, True]


def test_value_map_misses_and_out_of_range_values_are_counted(
    mapping: CanMapping, frames: Frames, caplog: pytest.LogCaptureFixture
) -> None:
    d = decoder(mapping)
    with caplog.at_level(logging.WARNING, "carmesh.vehicle.can"):
        got = values(
            d.decode(
                [
                    frames("VCU_Drive", VCU_Gear="SNA", VCU_DriveMode="TRACK"),
                    frames("BMS_Status", BMS_SOC=102.3, BMS_PackVoltage=400.0),
                    frames("BCM_Doors", BCM_DoorFL="SNA"),
                ]
            )
        )
    assert GEAR not in got and PARK_LOCK not in got and DOOR not in got
    assert SOC not in got
    assert "Vehicle.Powertrain.Transmission.PerformanceMode" not in got  # TRACK is not allowed
    assert got["Vehicle.Powertrain.TractionBattery.CurrentVoltage"] == 400.0
    assert d.counters.values_untransformable == 3
    assert d.counters.values_out_of_range == 2
    text = caplog.text
    assert "no 'from' entry matches 15" in text
    assert f"{SOC} from BMS_SOC dropped" in text and "above max" in text


def standard(arbitration_id: int, data: bytes) -> can.Message:
    return can.Message(arbitration_id=arbitration_id, is_extended_id=False, data=data)


def test_bad_frames_are_counted_and_never_raise(
    mapping: CanMapping, frames: Frames, caplog: pytest.LogCaptureFixture
) -> None:
    d = decoder(mapping)
    good = frames("BMS_Status", BMS_PackVoltage=401.5)
    bad = [
        standard(0x200, b"\x01\x02\x03"),  # too short for BMS_Status
        standard(0x100, b""),  # empty VCU_Drive
        standard(0x7FF, b"\x00"),  # in no database
        can.Message(arbitration_id=0x200, is_extended_id=True, data=bytes(8)),  # 0x200x: unknown
        standard(0x311, bytes(2)),  # HVAC_Request: in the DBC, but nothing maps from it
        can.Message(arbitration_id=0x200, is_extended_id=False, is_remote_frame=True, dlc=8),
        can.Message(is_error_frame=True),
    ]
    with caplog.at_level(logging.WARNING, "carmesh.vehicle.can"):
        got = d.decode([*bad, good, *bad])
    assert len(got) == 1
    assert got[0]["Vehicle.Powertrain.TractionBattery.CurrentVoltage"] == 401.5
    c = d.counters
    assert c.frames_received == 15
    assert (c.frames_malformed, c.frames_unknown_id, c.frames_ignored, c.error_frames) == (
        4,
        4,
        4,
        2,
    )
    assert c.frames_decoded == 1
    # the second round of the same problems is held back by the rate limit
    assert caplog.text.count("cannot be decoded as BMS_Status") == 1
    assert caplog.text.count("cannot be decoded as VCU_Drive") == 1
    assert caplog.text.count("is in no CAN database") == 1
    assert "0x7FF is in no CAN database" in caplog.text
    assert "CAN frame 0x200 (3 bytes) cannot be decoded as BMS_Status" in caplog.text


def test_dbc_multiplexing_and_mapping_multiplexer(mapping: CanMapping, frames: Frames) -> None:
    d = decoder(mapping)
    got = d.decode(
        [
            frames("TPMS_Pressure", TPMS_Wheel=0, TPMS_PressureFL=250),
            frames("TPMS_Pressure", TPMS_Wheel=3, TPMS_PressureRR=238),
            frames("TPMS_Temperature", TPMS_TempWheel=1, TPMS_Temp=31),
            frames("TPMS_Temperature", TPMS_TempWheel=2, TPMS_Temp=99),
        ]
    )
    assert values(got) == {
        "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure": 250,
        "Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure": 238,
        "Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Temperature": 31.0,
    }


@settings(max_examples=200, deadline=None)
@given(
    speed=st.integers(min_value=0, max_value=30000).map(lambda n: n / 100),
    current=st.integers(min_value=-10000, max_value=10000).map(lambda n: n / 10),
    temp=st.integers(min_value=-40, max_value=215),
)
def test_encode_decode_round_trip(
    mapping: CanMapping, frames: Frames, speed: float, current: float, temp: int
) -> None:
    """Physical values encoded with the DBC come back as the same VSS values."""
    d = decoder(mapping)
    got = values(
        d.decode(
            [
                frames("VCU_Drive", VCU_VehicleSpeed=speed),
                frames("BMS_Status", BMS_PackCurrent=current, BMS_PackTemp=temp),
            ]
        )
    )
    assert got["Vehicle.Speed"] == pytest.approx(speed, abs=0.005)
    assert got["Vehicle.Powertrain.TractionBattery.CurrentCurrent"] == pytest.approx(
        current, abs=0.05
    )
    assert got["Vehicle.Powertrain.TractionBattery.Temperature.Average"] == temp
