"""Benchmark of the in-process broker core: publish fan-out to N subscribers.

Two measurements, each for N = 1, 10 and 100 subscribers of the same signals:

throughput
    One provider publishes batches of 100 distinct float sensors from the VSS 6.0 catalog as
    fast as it can, yielding to the event loop after every batch so subscribers can drain.
    Each subscriber counts the updates it receives. Reported: delivered updates/s (aggregate
    and per subscriber), the median of several runs, next to a *peer* measured in the same
    run: the least an asyncio fan-out of the same batches does (one ``asyncio.Queue`` per
    subscriber, no validation, one shared dict per batch).

latency
    The provider publishes 10 updates every millisecond (10,000 updates/s offered), on a
    drift-free schedule on ``loop.time()``. Each update carries ``time.time_ns()`` taken just
    before the publish call; a subscriber records ``time.time_ns()`` minus that timestamp for
    every update it receives. Reported: p50 and p99 (median over runs) and the publish rate
    actually achieved, because a publisher that falls behind its schedule hides overload.

Run ``python benchmarks/broker_core.py`` (about a minute on two cores), ``--quick`` for a short
run, ``--profile N`` for a cProfile of the throughput hot path with N subscribers.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import math
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table

import carmesh
from carmesh.broker import Batch, Broker, Datapoint, Principal, Subscription
from carmesh.vss.catalog import Catalog
from carmesh.vss.model import NodeType
from report import machine_line, progress

SUBSCRIBER_COUNTS = (1, 10, 100)
THROUGHPUT_BATCH = 100
LATENCY_BATCH = 10
LATENCY_PERIOD = 0.001
LATENCY_RATE = LATENCY_BATCH / LATENCY_PERIOD

#: Targets of the issue: updates/s delivered to one subscriber; p99 at 10k updates/s to 10.
TARGET_THROUGHPUT = 300_000.0
TARGET_LATENCY_SUBSCRIBERS = 10
TARGET_P99_NS = 1_000_000
#: Share of the offered rate the publisher must achieve for a latency result to count.
MIN_ACHIEVED_SHARE = 0.95


@dataclass(frozen=True)
class Plan:
    """How long and how often to measure."""

    subscribers: tuple[int, ...]
    seconds: float
    latency_seconds: float
    warmup: float
    repeats: int
    peer: bool


@dataclass(frozen=True)
class ThroughputRun:
    """One throughput run: delivered updates over the measured window."""

    delivered: int
    elapsed: float
    conflated: int

    @property
    def rate(self) -> float:
        return self.delivered / self.elapsed


@dataclass(frozen=True)
class LatencyRun:
    """One latency run: publish→delivery latencies (ns) and the publish rate achieved."""

    samples: list[int]
    published: int
    elapsed: float

    @property
    def achieved(self) -> float:
        return self.published / self.elapsed


@dataclass(frozen=True)
class ThroughputResult:
    subscribers: int
    rates: list[float]
    peer_rates: list[float]
    conflated: int

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    @property
    def peer_median(self) -> float | None:
        return statistics.median(self.peer_rates) if self.peer_rates else None


@dataclass(frozen=True)
class LatencyResult:
    subscribers: int
    p50_ns: float
    p99_ns: float
    max_ns: int
    achieved: float

    @property
    def valid(self) -> bool:
        return self.achieved >= MIN_ACHIEVED_SHARE * LATENCY_RATE


# -- the workload ---------------------------------------------------------------------------


def pick_sensors(catalog: Catalog, count: int) -> list[str]:
    """The first *count* scalar float sensors without min, max or allowed values."""
    paths = [
        node.path
        for node in catalog.leaves
        if node.type is NodeType.SENSOR
        and node.datatype is not None
        and node.datatype.is_float
        and not node.datatype.is_array
        and node.min is None
        and node.max is None
        and node.allowed is None
    ]
    if len(paths) < count:
        raise SystemExit(f"the catalog has only {len(paths)} unconstrained float sensors")
    return paths[:count]


def value_sets(paths: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Two sets of values for *paths*; publishers alternate so every value changes."""
    return (
        {path: 1.0 + i for i, path in enumerate(paths)},
        {path: 0.5 + i for i, path in enumerate(paths)},
    )


def percentile(ordered: Sequence[int], p: float) -> int:
    """Nearest-rank percentile of an already sorted, non-empty sequence."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class _Setup:
    """A fresh broker with one provider that claimed *paths*, and *n* subscribers."""

    def __init__(self, catalog: Catalog, paths: Sequence[str], n: int) -> None:
        self.broker = Broker(catalog)
        self.paths = list(paths)
        self.n = n
        self.subscriptions: list[Subscription] = []

    async def __aenter__(self) -> _Setup:
        await self.broker.start()
        self.session = self.broker.connect_provider(Principal.system("sim"), "sim")
        self.session.claim(self.paths)
        for i in range(self.n):
            reader = Principal.from_scopes(f"subscriber-{i}", "read")
            self.subscriptions.append(self.broker.subscribe(reader, self.paths, initial=False))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.broker.stop()


async def _drain(tasks: list[asyncio.Task[None]], subs: Sequence[Subscription]) -> None:
    for sub in subs:
        sub.close()
    await asyncio.gather(*tasks)


# -- throughput -----------------------------------------------------------------------------


async def throughput_run(
    catalog: Catalog, paths: Sequence[str], n: int, seconds: float, warmup: float
) -> ThroughputRun:
    """Publish batches of *paths* as fast as possible; count deliveries in the window."""
    counts = [0] * n

    async def count(i: int, sub: Subscription) -> None:
        async for batch in sub:
            counts[i] += len(batch)

    values = value_sets(paths)
    async with _Setup(catalog, paths, n) as setup:
        tasks = [asyncio.create_task(count(i, s)) for i, s in enumerate(setup.subscriptions)]
        publish = setup.session.publish
        gc.collect()
        k = 0
        clock = time.perf_counter
        end = clock() + warmup
        while clock() < end:
            await publish(values[k & 1])
            k += 1
            await asyncio.sleep(0)
        start_count = sum(counts)
        start = clock()
        end = start + seconds
        while clock() < end:
            await publish(values[k & 1])
            k += 1
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        elapsed = clock() - start
        delivered = sum(counts) - start_count
        conflated = sum(s.conflated for s in setup.subscriptions)
        await _drain(tasks, setup.subscriptions)
    return ThroughputRun(delivered, elapsed, conflated)


async def peer_run(
    catalog: Catalog, paths: Sequence[str], n: int, seconds: float, warmup: float
) -> ThroughputRun:
    """The same workload through plain ``asyncio.Queue`` s: the floor of asyncio fan-out."""
    counts = [0] * n
    queues: list[asyncio.Queue[Batch | None]] = [asyncio.Queue() for _ in range(n)]

    async def count(i: int, queue: asyncio.Queue[Batch | None]) -> None:
        while (batch := await queue.get()) is not None:
            counts[i] += len(batch)

    def publish(values: dict[str, float]) -> None:
        ts = time.time_ns()
        batch = {path: Datapoint(value, ts) for path, value in values.items()}
        for queue in queues:
            queue.put_nowait(batch)

    values = value_sets(paths)
    tasks = [asyncio.create_task(count(i, q)) for i, q in enumerate(queues)]
    gc.collect()
    k = 0
    clock = time.perf_counter
    end = clock() + warmup
    while clock() < end:
        publish(values[k & 1])
        k += 1
        await asyncio.sleep(0)
    start_count = sum(counts)
    start = clock()
    end = start + seconds
    while clock() < end:
        publish(values[k & 1])
        k += 1
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    elapsed = clock() - start
    delivered = sum(counts) - start_count
    for queue in queues:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    return ThroughputRun(delivered, elapsed, 0)


# -- latency --------------------------------------------------------------------------------


async def latency_run(
    catalog: Catalog, paths: Sequence[str], n: int, seconds: float, warmup: float
) -> LatencyRun:
    """Publish ``LATENCY_BATCH`` updates every ``LATENCY_PERIOD``; record their latencies."""
    samples: list[int] = []
    recording = False

    async def record(sub: Subscription) -> None:
        async for batch in sub:
            now = time.time_ns()
            if recording:
                samples.extend([now - dp.timestamp for dp in batch.values()])

    values = value_sets(paths)
    async with _Setup(catalog, paths, n) as setup:
        tasks = [asyncio.create_task(record(s)) for s in setup.subscriptions]
        publish = setup.session.publish
        loop = asyncio.get_running_loop()
        gc.collect()
        k = 0
        published = 0
        begin = loop.time()
        measure_from = started = begin + warmup
        end = measure_from + seconds
        while True:
            due = begin + k * LATENCY_PERIOD
            if due >= end:
                break
            delay = due - loop.time()
            await asyncio.sleep(delay if delay > 0 else 0)
            if not recording and due >= measure_from:
                recording = True
                started = loop.time()
            await publish(values[k & 1], timestamp=time.time_ns())
            if recording:
                published += LATENCY_BATCH
            k += 1
        elapsed = loop.time() - started + LATENCY_PERIOD
        await _drain(tasks, setup.subscriptions)
    return LatencyRun(samples, published, elapsed)


# -- running --------------------------------------------------------------------------------


def _median_latency(n: int, runs: list[LatencyRun]) -> LatencyResult:
    p50s: list[float] = []
    p99s: list[float] = []
    worst = 0
    for run in runs:
        ordered = sorted(run.samples)
        p50s.append(percentile(ordered, 50))
        p99s.append(percentile(ordered, 99))
        worst = max(worst, ordered[-1])
    return LatencyResult(
        subscribers=n,
        p50_ns=statistics.median(p50s),
        p99_ns=statistics.median(p99s),
        max_ns=worst,
        achieved=statistics.median(r.achieved for r in runs),
    )


async def measure(
    catalog: Catalog, plan: Plan, progress: Callable[[str], None]
) -> tuple[list[ThroughputResult], list[LatencyResult]]:
    big = pick_sensors(catalog, THROUGHPUT_BATCH)
    small = big[:LATENCY_BATCH]
    throughput: list[ThroughputResult] = []
    for n in plan.subscribers:
        rates: list[float] = []
        peer_rates: list[float] = []
        conflated = 0
        for r in range(plan.repeats):
            progress(f"throughput, {n} subscriber(s), run {r + 1}/{plan.repeats}")
            run = await throughput_run(catalog, big, n, plan.seconds, plan.warmup)
            rates.append(run.rate)
            conflated += run.conflated
            if plan.peer:
                peer = await peer_run(catalog, big, n, plan.seconds, plan.warmup)
                peer_rates.append(peer.rate)
        throughput.append(ThroughputResult(n, rates, peer_rates, conflated))
    latency: list[LatencyResult] = []
    for n in plan.subscribers:
        runs: list[LatencyRun] = []
        for r in range(plan.repeats):
            progress(f"latency, {n} subscriber(s), run {r + 1}/{plan.repeats}")
            runs.append(await latency_run(catalog, small, n, plan.latency_seconds, plan.warmup))
        latency.append(_median_latency(n, runs))
    return throughput, latency


def profile(catalog: Catalog, n: int, seconds: float, console: Console) -> None:
    """Print the functions where a throughput run with *n* subscribers spends its time."""
    paths = pick_sensors(catalog, THROUGHPUT_BATCH)
    profiler = cProfile.Profile()
    profiler.enable()
    run = asyncio.run(throughput_run(catalog, paths, n, seconds, 0.1))
    profiler.disable()
    console.print(
        f"[bold]cProfile of a {seconds:g} s throughput run, {n} subscriber(s)[/] "
        f"({_rate(run.rate)} updates/s under the profiler)"
    )
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(18)
        sys.stdout.write(out.getvalue())


# -- output ---------------------------------------------------------------------------------


def _rate(value: float) -> str:
    """A rate in updates/s, short: ``1.90 M``, ``908 k``."""
    if value >= 999_500:
        return f"{value / 1e6:.2f} M"
    return f"{value / 1e3:.0f} k"


def _rate_range(low: float, high: float) -> str:
    if low >= 999_500:
        return f"{low / 1e6:.2f}–{high / 1e6:.2f} M"
    if high < 999_500:
        return f"{low / 1e3:.0f}–{high / 1e3:.0f} k"
    return f"{_rate(low)}–{_rate(high)}"


def _duration(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.0f} µs"


def machine_lines(catalog: Catalog, loop_name: str) -> list[str]:
    return [
        machine_line(),
        f"carmesh {carmesh.__version__} · catalog {catalog.name} · {loop_name}",
    ]


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


def throughput_table(results: list[ThroughputResult], plan: Plan) -> Table:
    table = _table(
        f"Throughput, updates/s: batches of {THROUGHPUT_BATCH} float sensors, "
        f"median of {plan.repeats} × {plan.seconds:g} s"
    )
    table.add_column("subscribers", justify="right")
    table.add_column("delivered", justify="right")
    table.add_column("per sub", justify="right")
    table.add_column("runs min–max", justify="right")
    if plan.peer:
        table.add_column("Queue peer", justify="right")
        table.add_column("÷ peer", justify="right")
    conflation = any(r.conflated for r in results)
    if conflation:
        table.add_column("conflated", justify="right")
    for r in results:
        row = [
            str(r.subscribers),
            _rate(r.median),
            _rate(r.median / r.subscribers),
            _rate_range(min(r.rates), max(r.rates)),
        ]
        peer = r.peer_median
        if plan.peer and peer is not None:
            row += [_rate(peer), f"{r.median / peer:.2f}"]
        if conflation:
            row.append(f"{r.conflated:,}")
        table.add_row(*row)
    if not conflation:
        table.caption = "No batch was conflated: every subscriber kept up."
        table.caption_justify = "left"
    return table


def latency_table(results: list[LatencyResult], plan: Plan) -> Table:
    table = _table(
        f"Latency, publish→delivery at {_rate(LATENCY_RATE)} updates/s, "
        f"median of {plan.repeats} × {plan.latency_seconds:g} s"
    )
    table.caption = (
        f"Batches of {LATENCY_BATCH} every {LATENCY_PERIOD * 1e3:g} ms; "
        "published/s is the rate achieved."
    )
    table.caption_justify = "left"
    table.add_column("subscribers", justify="right")
    table.add_column("published/s", justify="right")
    table.add_column("delivered/s", justify="right")
    table.add_column("p50", justify="right")
    table.add_column("p99", justify="right")
    table.add_column("max", justify="right")
    for r in results:
        achieved = _rate(r.achieved)
        if not r.valid:
            achieved = f"[red]{achieved} (late)[/]"
        table.add_row(
            str(r.subscribers),
            achieved,
            _rate(r.achieved * r.subscribers),
            _duration(r.p50_ns),
            _duration(r.p99_ns),
            _duration(r.max_ns),
        )
    return table


def targets_table(throughput: list[ThroughputResult], latency: list[LatencyResult]) -> Table:
    table = _table("Targets")
    table.add_column("target")
    table.add_column("measured", justify="right")
    table.add_column("met")

    def verdict(ok: bool | None) -> str:
        if ok is None:
            return "[yellow]not measured[/]"
        return "[green]yes[/]" if ok else "[red]NO[/]"

    one = next((r for r in throughput if r.subscribers == 1), None)
    table.add_row(
        f"≥ {_rate(TARGET_THROUGHPUT)} updates/s delivered to 1 subscriber",
        f"{_rate(one.median)}/s" if one else "–",
        verdict(one.median >= TARGET_THROUGHPUT if one else None),
    )
    ten = next((r for r in latency if r.subscribers == TARGET_LATENCY_SUBSCRIBERS), None)
    measured = "–"
    if ten:
        measured = f"p99 {_duration(ten.p99_ns)}"
        if not ten.valid:
            measured += f" (only {_rate(ten.achieved)}/s published)"
    table.add_row(
        f"p99 ≤ {_duration(TARGET_P99_NS)} at {_rate(LATENCY_RATE)} updates/s, "
        f"{TARGET_LATENCY_SUBSCRIBERS} subscribers",
        measured,
        verdict(ten.valid and ten.p99_ns <= TARGET_P99_NS if ten else None),
    )
    return table


# -- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure the in-process broker core: publish fan-out throughput and "
        "publish→delivery latency for N subscribers."
    )
    parser.add_argument("--quick", action="store_true", help="a short run (under 20 s)")
    parser.add_argument(
        "--seconds",
        type=float,
        help="length of one throughput run (1.0; quick: 0.25; profile: 2.0)",
    )
    parser.add_argument(
        "--latency-seconds", type=float, help="length of one latency run (1.0; quick: 0.5)"
    )
    parser.add_argument("--repeats", type=int, help="runs per measurement (5; quick: 3)")
    parser.add_argument(
        "--subscribers",
        type=int,
        nargs="+",
        default=list(SUBSCRIBER_COUNTS),
        metavar="N",
        help="subscriber counts (1 10 100)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the asyncio.Queue comparison")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="instead of the tables, print a cProfile of a throughput run with N subscribers",
    )
    args = parser.parse_args(argv)
    for option in ("seconds", "latency_seconds"):
        value = getattr(args, option)
        if value is not None and not value > 0:
            parser.error(f"--{option.replace('_', '-')} must be more than 0")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.profile is not None and args.profile < 1:
        parser.error("--profile needs at least 1 subscriber")
    if any(n < 1 for n in args.subscribers):
        parser.error("--subscribers must be at least 1")
    return args


def make_plan(args: argparse.Namespace) -> Plan:
    quick = bool(args.quick)
    return Plan(
        subscribers=tuple(args.subscribers),
        seconds=args.seconds or (0.25 if quick else 1.0),
        latency_seconds=args.latency_seconds or (0.5 if quick else 1.0),
        warmup=0.05 if quick else 0.2,
        repeats=args.repeats or (3 if quick else 5),
        peer=not args.no_peer,
    )


async def _loop_name() -> str:
    loop = asyncio.get_running_loop()
    return f"{type(loop).__module__}.{type(loop).__name__}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    catalog = Catalog.load()
    if args.profile is not None:
        profile(catalog, args.profile, args.seconds or 2.0, console)
        return 0
    plan = make_plan(args)
    for line in machine_lines(catalog, asyncio.run(_loop_name())):
        console.print(line, highlight=False)
    steps = len(plan.subscribers) * plan.repeats * 2
    with progress(steps) as step:
        started = time.perf_counter()
        throughput, latency = asyncio.run(measure(catalog, plan, step))
        took = time.perf_counter() - started
    console.print()
    console.print(throughput_table(throughput, plan))
    console.print(latency_table(latency, plan))
    console.print(targets_table(throughput, latency))
    console.print(f"[dim]measured in {took:.0f} s[/]", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
