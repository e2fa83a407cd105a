"""Benchmark of the CAN provider: frames/s decoded by the DBC and published to the broker.

The bus is the project's test EV (``tests/vehicle/can/data/carmesh_ev.dbc``) with its mapping
made as demanding as possible: every ``interval_ms`` set to 0 and every ``on_change`` removed,
so each frame's mapped signals are all published. The traffic cycles through six messages
(drive, battery, HVAC, multiplexed tyre pressures, doors, and an extended-ID charger frame),
3.7 mapped values per frame on average, with values that change from frame to frame.

Workloads, each on a fresh broker with one subscriber of every mapped signal (so delivery is
part of the cost), all on one event loop, i.e. one core:

replay
    Frames in memory, through ``Replay(speed=None)`` and the real ``CanVehicle.run`` with an
    in-process connector: decoding, transforms, checks, publishing and delivery.
candump log
    The same frames written as a ``candump -L`` log, replayed as fast as possible: adds
    python-can's log parsing.
virtual bus
    The frames sent on a python-can ``virtual`` bus by a thread of the same process (so the
    sender competes for the same interpreter): adds the bus and the provider's reader thread.
    Reported: frames/s from the first send until the provider has them all, and drops.

*Peer*: a plain loop of cantools ``Message.decode`` over the same frames (no mapping, no
broker): the floor of decoding in Python; ``÷ peer`` is how close the provider comes to it.
Reported per workload: the median of the runs, their spread, µs per frame and values/s.

Run ``python benchmarks/can_feed.py`` (about 20 s), ``--quick`` for a short run, ``--profile``
for a cProfile of the replay workload.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can
import yaml
from rich import box
from rich.console import Console
from rich.table import Table

from carmesh.broker import Broker, Principal
from carmesh.vehicle.can import BusSource, CanDatabase, CanMapping, CanVehicle, Replay
from carmesh.vehicle.can.dbc import frame_key
from carmesh.vehicle.can.encoder import initial_value
from carmesh.vehicle.provider import InProcessConnector
from carmesh.vss.catalog import Catalog

sys.path.insert(0, str(Path(__file__).parent))
from broker_core import machine_lines
from report import progress

DATA = Path(__file__).resolve().parent.parent / "tests" / "vehicle" / "can" / "data"
DBC = DATA / "carmesh_ev.dbc"
MAPPING = DATA / "carmesh_ev_mapping.yaml"

#: The issue's target: frames/s decoded and published on one core.
TARGET_FPS = 20_000.0
#: Classic CAN, 500 kbit/s, 8-byte frames of ~125 bits with stuffing: the most a bus carries.
BUS_500K_FPS = 500_000 / 125
#: Recorded spacing of the generated frames (20 kHz of traffic).
FRAME_SPACING = 50e-6


@dataclass(frozen=True)
class Plan:
    frames: int
    repeats: int
    warmup: int


@dataclass(frozen=True)
class Run:
    frames: int
    values: int
    elapsed: float
    dropped: int = 0

    @property
    def rate(self) -> float:
        return self.frames / self.elapsed


@dataclass(frozen=True)
class Result:
    name: str
    runs: list[Run]

    @property
    def median(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def values_rate(self) -> float:
        return statistics.median(r.values / r.elapsed for r in self.runs)

    @property
    def dropped(self) -> int:
        return sum(r.dropped for r in self.runs)


# -- the workload ---------------------------------------------------------------------------


def demanding_mapping(catalog: Catalog) -> CanMapping:
    """The test EV mapping with every value published (no interval, no on_change)."""
    data: dict[str, Any] = yaml.safe_load(MAPPING.read_text())
    for meta in data.values():
        inbound = meta.get("dbc2vss")
        if inbound is not None:
            inbound["interval_ms"] = 0
            inbound.pop("on_change", None)
    return CanMapping.from_data(data, CanDatabase.load([DBC]), catalog, name="benchmark")


def make_frames(database: CanDatabase, count: int) -> list[can.Message]:
    """*count* frames cycling through six messages, with values changing every frame."""
    wheels = ["TPMS_PressureFL", "TPMS_PressureFR", "TPMS_PressureRL", "TPMS_PressureRR"]

    def frame(name: str, i: int, **signals: Any) -> can.Message:
        message = database.by_name[name]
        values = {s.name: initial_value(s) for s in message.signals if s.multiplexer_ids is None}
        values.update(signals)
        return can.Message(
            timestamp=1_700_000_000.0 + i * FRAME_SPACING,
            arbitration_id=message.frame_id,
            is_extended_id=message.is_extended_frame,
            data=message.encode(values, strict=False),
            channel="can0",
        )

    out: list[can.Message] = []
    for i in range(count):
        kind = i % 6
        if kind == 0:
            out.append(
                frame(
                    "VCU_Drive",
                    i,
                    VCU_VehicleSpeed=(i % 3000) / 10,
                    VCU_Gear="DRIVE",
                    VCU_AccelPedal=i % 100,
                    VCU_MotorSpeed=i % 8000,
                )
            )
        elif kind == 1:
            out.append(
                frame(
                    "BMS_Status",
                    i,
                    BMS_SOC=(i % 1000) / 10,
                    BMS_PackVoltage=400 - (i % 100) / 10,
                    BMS_PackCurrent=(i % 2000) / 10 - 100,
                    BMS_PackTemp=25,
                    BMS_ChargeState="IDLE",
                )
            )
        elif kind == 2:
            out.append(
                frame("HVAC_Status", i, HVAC_CabinTemp=20 + (i % 10) / 2, HVAC_FanDriver=i % 100)
            )
        elif kind == 3:
            wheel = (i // 6) % 4
            out.append(frame("TPMS_Pressure", i, TPMS_Wheel=wheel, **{wheels[wheel]: 200 + i % 50}))
        elif kind == 4:
            out.append(frame("BCM_Doors", i, BCM_DoorFL=i % 3, BCM_LockFL=i % 2))
        else:
            out.append(frame("OBC_Status", i, OBC_ChargeLimit=80, OBC_ChargePower=(i % 1000) / 100))
    return out


class _Setup:
    """A fresh broker with one subscriber of every mapped signal, and a provider."""

    def __init__(self, catalog: Catalog, mapping: CanMapping, vehicle: CanVehicle) -> None:
        self.broker = Broker(catalog)
        self.mapping = mapping
        self.vehicle = vehicle
        self.delivered = 0

    async def __aenter__(self) -> _Setup:
        await self.broker.start()
        self.sub = self.broker.subscribe(
            Principal.from_scopes("app", "read"), self.mapping.value_paths, initial=False
        )

        async def count() -> None:
            async for batch in self.sub:
                self.delivered += len(batch)

        self.counter = asyncio.create_task(count())
        connector = InProcessConnector(self.broker, Principal.from_scopes("can", "provide"))
        self.task = asyncio.create_task(self.vehicle.run(connector))
        ready = asyncio.create_task(self.vehicle.ready.wait())
        await asyncio.wait({self.task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            self.task.result()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.sub.close()
        await self.counter
        await self.broker.stop()


async def replay_run(catalog: Catalog, mapping: CanMapping, source: Replay, count: int) -> Run:
    vehicle = CanVehicle(mapping, source)
    gc.collect()
    async with _Setup(catalog, mapping, vehicle) as setup:
        start = time.perf_counter()
        await vehicle.finished.wait()
        await asyncio.sleep(0)
        elapsed = time.perf_counter() - start
        assert vehicle.counters.frames_decoded == count, vehicle.counters
        values = vehicle.counters.values_published
        assert setup.delivered == values, (setup.delivered, values)
    return Run(count, values, elapsed)


async def bus_run(
    catalog: Catalog, mapping: CanMapping, frames: Sequence[can.Message], channel: str
) -> Run:
    vehicle = CanVehicle(mapping, BusSource("virtual", channel))
    sender = can.Bus(interface="virtual", channel=channel)
    gc.collect()
    try:
        async with _Setup(catalog, mapping, vehicle):
            counters = vehicle.counters
            start = time.perf_counter()

            def send() -> None:
                for frame in frames:
                    sender.send(frame)

            thread = threading.Thread(target=send, daemon=True)
            thread.start()
            total = len(frames)
            while counters.frames_received + counters.frames_dropped < total:
                await asyncio.sleep(0.001)
            elapsed = time.perf_counter() - start
            thread.join()
            run = Run(
                counters.frames_received,
                counters.values_published,
                elapsed,
                counters.frames_dropped,
            )
    finally:
        sender.shutdown()
    return run


def peer_run(database: CanDatabase, frames: Sequence[can.Message]) -> Run:
    """cantools decoding alone: the floor."""
    messages = database.messages
    gc.collect()
    start = time.perf_counter()
    values = 0
    for frame in frames:
        message = messages[frame_key(frame.arbitration_id, frame.is_extended_id)]
        values += len(message.decode(frame.data))  # type: ignore[arg-type]
    return Run(len(frames), values, time.perf_counter() - start)


async def measure(
    catalog: Catalog, plan: Plan, progress: Callable[[str], None]
) -> tuple[list[Result], Result]:
    mapping = demanding_mapping(catalog)
    database = mapping.database
    frames = make_frames(database, plan.frames)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "busy.log"
        with can.Logger(log) as logger:
            for frame in frames:
                logger.on_message_received(frame)
        if plan.warmup:
            await replay_run(
                catalog, mapping, Replay(frames[: plan.warmup], speed=None), plan.warmup
            )
        results: dict[str, list[Run]] = {"replay": [], "candump log": [], "virtual bus": []}
        peer: list[Run] = []
        for r in range(plan.repeats):
            tag = f"run {r + 1}/{plan.repeats}"
            progress(f"replay, {tag}")
            results["replay"].append(
                await replay_run(catalog, mapping, Replay(frames, speed=None), len(frames))
            )
            progress(f"candump log, {tag}")
            results["candump log"].append(
                await replay_run(catalog, mapping, Replay.from_file(log, speed=None), len(frames))
            )
            progress(f"virtual bus, {tag}")
            results["virtual bus"].append(
                await bus_run(catalog, mapping, frames, f"can-feed-bench-{r}")
            )
            peer.append(peer_run(database, frames))
    return [Result(name, runs) for name, runs in results.items()], Result("cantools peer", peer)


def profile(catalog: Catalog, count: int, console: Console) -> None:
    mapping = demanding_mapping(catalog)
    frames = make_frames(mapping.database, count)
    profiler = cProfile.Profile()
    profiler.enable()
    run = asyncio.run(replay_run(catalog, mapping, Replay(frames, speed=None), count))
    profiler.disable()
    console.print(
        f"[bold]cProfile of the replay workload, {count:,} frames[/] "
        f"({_rate(run.rate)} frames/s under the profiler)"
    )
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key).print_stats(20)
        sys.stdout.write(out.getvalue())


# -- output ---------------------------------------------------------------------------------


def _rate(value: float) -> str:
    if value >= 999_500:
        return f"{value / 1e6:.2f} M"
    return f"{value / 1e3:.1f} k"


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


def results_table(results: list[Result], peer: Result, plan: Plan) -> Table:
    table = _table(
        f"CAN frames decoded and published, {plan.frames:,} frames, median of {plan.repeats} runs"
    )
    table.add_column("workload")
    table.add_column("frames/s", justify="right")
    table.add_column("runs min–max", justify="right")
    table.add_column("µs/frame", justify="right")
    table.add_column("values/s", justify="right")
    table.add_column("÷ peer", justify="right")
    drops = any(r.dropped for r in results)
    if drops:
        table.add_column("dropped", justify="right")
    for r in [*results, peer]:
        rates = [run.rate for run in r.runs]
        row = [
            r.name,
            _rate(r.median),
            f"{_rate(min(rates))}–{_rate(max(rates))}",
            f"{1e6 / r.median:.1f}",
            _rate(r.values_rate) if r is not peer else "–",
            f"{r.median / peer.median:.2f}" if r is not peer else "1",
        ]
        if drops:
            row.append(f"{r.dropped:,}")
        table.add_row(*row)
    table.caption = (
        "One subscriber of every mapped signal; every frame's mapped values published "
        "(no interval, no on_change). Peer: cantools decode alone."
    )
    table.caption_justify = "left"
    return table


def targets_table(results: list[Result]) -> Table:
    table = _table(f"Target: ≥ {_rate(TARGET_FPS)} frames/s on one core")
    table.add_column("workload")
    table.add_column("frames/s", justify="right")
    table.add_column("× a full 500 kbit/s bus", justify="right")
    table.add_column("met")
    for r in results:
        table.add_row(
            r.name,
            _rate(r.median),
            f"{r.median / BUS_500K_FPS:.0f}×",
            "[green]yes[/]" if r.median >= TARGET_FPS else "[red]NO[/]",
        )
    table.caption = (
        f"A classic CAN bus at 500 kbit/s carries at most ~{BUS_500K_FPS / 1e3:.0f} k "
        "frames/s (8-byte frames of ~125 bits)."
    )
    table.caption_justify = "left"
    return table


# -- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure CAN frames/s decoded (DBC + mapping) and published to the broker."
    )
    parser.add_argument("--quick", action="store_true", help="a short run (a few seconds)")
    parser.add_argument("--frames", type=int, help="frames per run (60000; quick: 12000)")
    parser.add_argument("--repeats", type=int, help="runs per workload (5; quick: 3)")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the replay workload instead"
    )
    args = parser.parse_args(argv)
    if args.frames is not None and args.frames < 6:
        parser.error("--frames must be at least 6")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


async def _loop_name() -> str:
    loop = asyncio.get_running_loop()
    return f"{type(loop).__module__}.{type(loop).__name__}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    catalog = Catalog.load()
    if args.profile:
        profile(catalog, args.frames or 60_000, console)
        return 0
    quick = bool(args.quick)
    plan = Plan(
        frames=args.frames or (12_000 if quick else 60_000),
        repeats=args.repeats or (3 if quick else 5),
        warmup=1_000 if quick else 5_000,
    )
    for line in machine_lines(catalog, asyncio.run(_loop_name())):
        console.print(line, highlight=False)
    steps = plan.repeats * 3
    with progress(steps) as step:
        started = time.perf_counter()
        results, peer = asyncio.run(measure(catalog, plan, step))
        took = time.perf_counter() - started
    console.print()
    console.print(results_table(results, peer, plan))
    console.print(targets_table(results))
    console.print(f"[dim]measured in {took:.0f} s[/]", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
