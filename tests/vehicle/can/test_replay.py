"""Replaying candump and ASC logs: timing, speed, gaps, loops and damaged lines."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import can
import pytest

from carmesh.broker import Broker
from carmesh.errors import ConfigError
from carmesh.vehicle.can import (
    CanCounters,
    CanMapping,
    CanOptions,
    CanVehicle,
    ProblemLog,
    Replay,
    create_vehicle,
)
from carmesh.vehicle.can.logfile import read_log
from carmesh.vss import Catalog
from tests.vehicle.can.conftest import DATA, DBC, MAPPING, Frames
from tests.vehicle.can.support import READER, running

LOG = DATA / "short_drive.log"
ASC = DATA / "short_drive.asc"


@pytest.fixture
async def broker(catalog: Catalog) -> AsyncIterator[Broker]:
    b = Broker(catalog)
    await b.start()
    yield b
    await b.stop()


async def arrivals(source: Replay) -> list[tuple[float, can.Message]]:
    """(seconds since the first delivery, frame) for everything *source* delivers."""
    await source.open(CanCounters(), ProblemLog())
    loop = asyncio.get_running_loop()
    out: list[tuple[float, can.Message]] = []
    start: float | None = None
    async for batch in source.batches():
        now = loop.time()
        if start is None:
            start = now
        out.extend((now - start, frame) for frame in batch)
    await source.close()
    return out


@pytest.mark.parametrize(("file", "bad_lines"), [(LOG, 3), (ASC, 1)])
async def test_a_damaged_log_replays_every_good_frame(
    broker: Broker, mapping: CanMapping, file: Path, bad_lines: int
) -> None:
    vehicle = CanVehicle(mapping, Replay.from_file(file, speed=None))
    async with running(vehicle, broker):
        await asyncio.wait_for(vehicle.finished.wait(), 5.0)
    c = vehicle.counters
    assert c.frames_malformed == bad_lines
    assert c.frames_received == 27 + bad_lines
    assert c.frames_decoded == 27
    assert c.frames_unknown_id == 0
    values = {p: dp.value for p, dp in broker.get_many(READER, mapping.value_paths).items() if dp}
    assert values["Vehicle.Speed"] == pytest.approx(28.5)
    assert values["Vehicle.Powertrain.ElectricMotor.Speed"] == 1900.0
    assert values["Vehicle.Powertrain.Transmission.CurrentGear"] == 1
    assert values["Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"] == pytest.approx(79.7)
    assert values["Vehicle.Powertrain.TractionBattery.CurrentCurrent"] == pytest.approx(-50.5)
    assert values["Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"] is False
    assert values["Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit"] == 80


async def test_recorded_timing_is_kept(frames: Frames) -> None:
    offsets = [0.0, 0.02, 0.05, 0.1, 0.1, 0.18, 0.3]
    recorded = [
        frames("VCU_Drive", timestamp=1000.0 + t, VCU_MotorSpeed=i) for i, t in enumerate(offsets)
    ]
    got = await arrivals(Replay(recorded, speed=1.0))
    assert [f.data for _, f in got] == [f.data for f in recorded]
    for (arrived, _), planned in zip(got, offsets, strict=True):
        # never early; late only by what a busy machine adds
        assert planned - 0.005 <= arrived <= planned + 0.06


async def test_speed_scales_the_schedule_and_long_gaps_are_shortened(frames: Frames) -> None:
    recorded = [frames("VCU_Drive", timestamp=t) for t in (0.0, 0.4, 0.8, 100.8, 101.2)]
    got = await arrivals(Replay(recorded, speed=4.0, max_gap=0.4))
    # 0.4 s steps at 4x are 0.1 s; the 100 s pause counts as 0.4 s of recording
    for (arrived, _), planned in zip(got, [0.0, 0.1, 0.2, 0.3, 0.4], strict=True):
        assert planned - 0.005 <= arrived <= planned + 0.06


async def test_as_fast_as_possible_comes_in_chunks(frames: Frames) -> None:
    recorded = [frames("VCU_Drive", timestamp=i * 10.0) for i in range(600)]
    source = Replay(recorded, speed=None, chunk=256)
    await source.open(CanCounters(), ProblemLog())
    sizes = [len(batch) async for batch in source.batches()]
    assert sizes == [256, 256, 88]


async def test_a_looped_replay_starts_again(frames: Frames) -> None:
    recorded = [frames("VCU_Drive", timestamp=i * 0.001) for i in range(5)]
    source = Replay(lambda: recorded, speed=None, loop=True)
    await source.open(CanCounters(), ProblemLog())
    seen = 0
    async for batch in source.batches():
        seen += len(batch)
        if seen >= 20:
            break
    assert source.passes >= 3


async def test_a_looped_file_replay_keeps_publishing(broker: Broker, mapping: CanMapping) -> None:
    vehicle = CanVehicle(mapping, Replay.from_file(LOG, speed=None, loop=True))
    async with running(vehicle, broker):
        while vehicle.counters.frames_decoded < 27 * 3:
            await asyncio.sleep(0.01)
    assert not vehicle.finished.is_set()


@pytest.mark.parametrize("suffix", [".log", ".asc"])
def test_logs_written_by_python_can_read_back(tmp_path: Path, frames: Frames, suffix: str) -> None:
    written = [
        frames("VCU_Drive", timestamp=10.0 + i * 0.01, VCU_VehicleSpeed=i * 0.5) for i in range(30)
    ] + [frames("OBC_Status", timestamp=11.0, OBC_ChargePower=7.4)]
    file = tmp_path / f"drive{suffix}"
    with can.Logger(file) as logger:
        for frame in written:
            logger.on_message_received(frame)
    bad: list[object] = []
    read = list(read_log(file, lambda *args: bad.append(args)))
    assert not bad
    assert [(f.arbitration_id, f.is_extended_id, bytes(f.data)) for f in read] == [
        (f.arbitration_id, f.is_extended_id, bytes(f.data)) for f in written
    ]
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(read)]
    assert gaps[:29] == pytest.approx([0.01] * 29, abs=1e-4)


def test_bad_replay_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Replay.from_file(tmp_path / "none.log")
    odd = tmp_path / "drive.xyz"
    odd.write_text("")
    with pytest.raises(ConfigError, match=r"no known log format; use one of .*\.asc"):
        Replay.from_file(odd)
    with pytest.raises(ConfigError, match="more than 0"):
        Replay([], speed=0)
    with pytest.raises(ConfigError, match="cannot be replayed in a loop"):
        Replay(iter([]), loop=True)


async def test_create_vehicle_from_options(broker: Broker, catalog: Catalog) -> None:
    options = CanOptions(dbc=[DBC], mapping=MAPPING, replay=LOG, replay_speed=None)
    vehicle = create_vehicle(catalog, options)
    assert vehicle.description == (
        "CAN: replay of short_drive.log as fast as possible, carmesh_ev.dbc: "
        "28 signals from the bus, 0 actuators to it"
    )
    async with running(vehicle, broker):
        await asyncio.wait_for(vehicle.finished.wait(), 5.0)
    bus = create_vehicle(catalog, CanOptions(dbc=[DBC], mapping=MAPPING, channel="can1"))
    assert bus.description.startswith("CAN: socketcan can1, carmesh_ev.dbc: 28 signals")
    assert "7 actuators" in bus.description
