"""Benchmark of the media engine: CPU to play an MP3, focus change → ducked samples, library
scan rate.

CPU
    A generated 30 s, 320 kbit/s MP3 (music-like: chords and noise) plays in a loop through
    a real-time :class:`AudioEngine` to the null sink (decoder thread, 10 ms render task,
    mixer, soft clip). After a warm-up, process CPU time (every thread: ``time.process_time``)
    over wall time, as % of one core; the median of the runs. Next to it, measured the same
    way in the same run: the engine idle (rendering silence), and decoding alone (the decoder
    reading the file as fast as it can, CPU per second of audio).

Focus → duck
    Music (a 400 Hz tone, so every 10 ms block holds whole periods and its RMS is exact)
    plays through an engine whose sink stamps each block with ``time.perf_counter()`` and
    its RMS. Each trial asks for NAVIGATION focus (``TRANSIENT_MAY_DUCK``) through
    :class:`carmesh.media.focus.AudioFocus` when it is there, and a listener applies the
    change as ``docs/media.md`` says (``LOSS_TRANSIENT_CAN_DUCK`` → ``duck(duck_db)``, GAIN →
    ``unduck()``); without it the trial ducks the channel directly. Measured from just before
    the request to the write of the first block quieter than full level (*first*) and of the
    block where the duck is complete (*full*: −12 dB, the 20 ms ramp done). Trials start at
    random phases of the 10 ms schedule; p50/p99 over the trials. It ends at the sink: a
    sound card adds its own buffer.

Library scan
    Small tagged files (MP3, FLAC, Ogg Vorbis in turn) in nested folders, scanned by
    ``carmesh.media.library.Library`` when it is there: files/s for a first scan and for a
    rescan of the unchanged tree.

Run ``make bench-media`` or ``.venv/bin/python benchmarks/media.py`` (about 1.5 min),
``--quick`` for a short run (~30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

import carmesh
from carmesh.media.decode import Decoder
from carmesh.media.engine import AudioEngine
from carmesh.media.mixer import Channel
from carmesh.media.pcm import BLOCK, RATE, Block, db_to_gain
from carmesh.media.sinks import Sink
from report import machine_line, progress

TARGET_CPU_PERCENT = 5.0
TARGET_DUCK_MS = 50.0
DUCK_DB = -12.0
RAMP_MS = 20.0
BITRATE = 320_000
TONE_HZ = 400.0  # 120 frames a period: a 480-frame block holds exactly 4


@dataclass(frozen=True)
class Plan:
    cpu_seconds: float
    cpu_runs: int
    trials: int
    files: int


@dataclass
class Results:
    cpu: list[float] = field(default_factory=list)
    cpu_idle: list[float] = field(default_factory=list)
    cpu_underruns: int = 0
    decode_only: float = 0.0
    first_ms: list[float] = field(default_factory=list)
    full_ms: list[float] = field(default_factory=list)
    via_focus: bool = False
    scan_files: int = 0
    scan_rate: float | None = None
    rescan_rate: float | None = None
    scan_failed: int = 0
    library_missing: str = ""


# -- material -------------------------------------------------------------------------------


def write_mp3(path: Path, pcm: np.ndarray[Any, Any], bitrate: int = BITRATE) -> Path:
    out: Any = av.open(str(path), "w", format="mp3")
    try:
        stream = out.add_stream("libmp3lame", rate=RATE, layout="stereo")
        stream.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm.T, dtype=np.float32), format="fltp", layout="stereo"
        )
        frame.rate = RATE
        frame.pts = 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    finally:
        out.close()
    return path


def music(seconds: float, seed: int = 1) -> np.ndarray[Any, Any]:
    """Something an MP3 encoder has to work at: moving chords, a beat, noise."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    out = np.zeros((n, 2))
    for i, root in enumerate((110.0, 146.8, 164.8, 196.0)):
        for ratio, level in ((1.0, 0.12), (1.26, 0.08), (1.5, 0.08), (2.0, 0.05)):
            wobble = 1 + 0.002 * np.sin(2 * np.pi * (0.3 + i) * t)
            tone = level * np.sin(2 * np.pi * root * ratio * wobble * t + i)
            out[:, i % 2] += tone
            out[:, 1 - i % 2] += 0.6 * tone
    beat = np.exp(-((t % 0.5) * 30)) * rng.standard_normal(n) * 0.2
    out += beat[:, None] + rng.standard_normal((n, 2)) * 0.02
    scaled: np.ndarray[Any, Any] = (out / np.abs(out).max() * 0.8).astype(np.float32)
    return scaled


def tone(seconds: float, amplitude: float = 0.5) -> np.ndarray[Any, Any]:
    t = np.arange(round(seconds * RATE)) / RATE
    mono = amplitude * np.sin(2 * np.pi * TONE_HZ * t)
    return np.repeat(mono[:, None], 2, axis=1).astype(np.float32)


def looping(path: Path) -> Channel:
    """A channel that plays *path* over and over, gaplessly."""
    return Channel(Decoder(path), on_needs_next=lambda: Decoder(path))


# -- CPU ------------------------------------------------------------------------------------


async def cpu_run(path: Path | None, seconds: float) -> tuple[float, int]:
    """(% of one core, underruns) of a real-time engine playing *path* (None: idle)."""
    engine = AudioEngine({"driver": "null"}, ramp_ms=RAMP_MS)
    if path is not None:
        engine.play("driver", looping(path))
    async with engine:
        await asyncio.sleep(1.0)  # the decoder's first 2 s of buffer, imports, caches
        underruns = engine.underruns("driver")
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        underruns = engine.underruns("driver") - underruns
    return 100.0 * cpu / wall, underruns


async def decode_only(path: Path) -> float:
    """CPU seconds per second of audio to decode *path* as fast as possible, in %."""
    cpu = time.process_time()
    decoder = Decoder(path)
    frames = 0
    while (pcm := await decoder.read(RATE)) is not None:
        frames += len(pcm)
    return 100.0 * (time.process_time() - cpu) / (frames / RATE)


# -- focus → duck ---------------------------------------------------------------------------


class StampingSink(Sink):
    """Records (perf_counter, first frame, RMS) of every block it is given."""

    spec = "stamping"

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[float, int, float]] = []

    def write(self, block: Block) -> None:
        rms = float(np.sqrt(np.mean(np.square(block[:, 0], dtype=np.float64))))
        self.records.append((time.perf_counter(), self.frames_written, rms))
        self.frames_written += len(block)


class Ducker:
    """Ducks *channel* on request: through AudioFocus as the media service does when
    ``carmesh.media.focus`` is there, else directly."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        try:
            focus: Any = importlib.import_module("carmesh.media.focus")
        except ImportError:
            self.focus: Any = None
            return
        self.module = focus
        self.focus = focus.AudioFocus(["driver"])
        self.focus.listen(self._on_change)
        self.focus.request(focus.FocusRequest("music", focus.Usage.MEDIA, focus.Gain.GAIN))

    def _on_change(self, change: Any) -> None:
        if change.client_id != "music":
            return
        if change.change == self.module.Change.LOSS_TRANSIENT_CAN_DUCK:
            self.channel.duck(DUCK_DB)
        elif change.change == self.module.Change.GAIN:
            self.channel.unduck()

    def duck(self) -> None:
        if self.focus is None:
            self.channel.duck(DUCK_DB)
            return
        m = self.module
        result = self.focus.request(
            m.FocusRequest("navigation", m.Usage.NAVIGATION, m.Gain.TRANSIENT_MAY_DUCK)
        )
        assert result == m.Result.GRANTED, result

    def unduck(self) -> None:
        if self.focus is None:
            self.channel.unduck()
        else:
            self.focus.abandon("navigation", "driver")


async def duck_trials(
    path: Path, trials: int, step: Callable[[str], None]
) -> tuple[list[float], list[float], bool]:
    """Latencies (ms) to the first quieter block and to the block the duck completes in."""
    sink = StampingSink()
    engine = AudioEngine({"driver": sink}, ramp_ms=RAMP_MS)
    channel = engine.play("driver", looping(path))
    ducker = Ducker(channel)
    ramp_frames = round(RAMP_MS * RATE / 1000)
    rng = random.Random(7)
    first_ms: list[float] = []
    full_ms: list[float] = []
    async with engine:
        await asyncio.sleep(0.5)
        full = statistics.median(rms for _, _, rms in sink.records[-20:])
        ducked = full * db_to_gain(DUCK_DB)
        for _ in range(trials):
            step("focus → duck")
            await asyncio.sleep(0.05 + rng.random() * 0.01)
            started = time.perf_counter()
            ducker.duck()
            at = engine.frames_rendered("driver")
            await asyncio.sleep(0.06)
            after = [r for r in sink.records if r[1] >= at]
            quieter = next(r for r in after if r[2] < 0.97 * full)
            complete = next(r for r in after if r[2] <= 1.03 * ducked)
            assert quieter[1] == at, "the duck must start in the next block"
            assert complete[1] <= at + ramp_frames + BLOCK
            first_ms.append((quieter[0] - started) * 1e3)
            full_ms.append((complete[0] - started) * 1e3)
            ducker.unduck()
            await asyncio.sleep(0.05)
            del sink.records[:-50]
    return first_ms, full_ms, ducker.focus is not None


# -- library scan ---------------------------------------------------------------------------


def write_library(root: Path, count: int, step: Callable[[str], None]) -> None:
    kinds = (("mp3", "libmp3lame", ".mp3"), ("flac", "flac", ".flac"), ("ogg", "vorbis", ".ogg"))
    clip = tone(0.5, 0.3)
    for i in range(count):
        if i % 10 == 0:
            step("writing the library")
        container_format, encoder, suffix = kinds[i % len(kinds)]
        folder = root / f"Artist {i % 7}" / f"Album {i % 23}"
        folder.mkdir(parents=True, exist_ok=True)
        out: Any = av.open(str(folder / f"{i:03d} Track{suffix}"), "w", format=container_format)
        try:
            for key, value in {
                "title": f"Track {i}",
                "artist": f"Artist {i % 7}",
                "album": f"Album {i % 23}",
                "genre": ("Rock", "Jazz", "Pop")[i % 3],
                "track": str(i % 12 + 1),
            }.items():
                out.metadata[key] = value
            stream = out.add_stream(encoder, rate=RATE, layout="stereo")
            if encoder == "vorbis":
                stream.codec_context.options = {"strict": "experimental"}
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(clip.T), format="fltp", layout="stereo"
            )
            frame.rate = RATE
            frame.pts = 0
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(packet)
        finally:
            out.close()


def scan_library(root: Path, results: Results) -> None:
    try:
        library_module: Any = importlib.import_module("carmesh.media.library")
        library_type = library_module.Library
    except (ImportError, AttributeError) as exc:
        results.library_missing = f"carmesh.media.library.Library is not available ({exc})"
        return
    library = library_type(root / "index" / "library.db")
    try:
        report = library.scan([root / "music"])
        results.scan_files = report.added + report.updated + report.unchanged
        results.scan_failed = len(report.failed)
        results.scan_rate = results.scan_files / report.seconds
        rescan = library.scan([root / "music"])
        results.rescan_rate = (rescan.unchanged + rescan.updated + rescan.added) / rescan.seconds
    finally:
        close = getattr(library, "close", None)
        if callable(close):
            close()


# -- the run --------------------------------------------------------------------------------


async def measure(plan: Plan, work: Path, step: Callable[[str], None]) -> Results:
    results = Results()
    step("writing the MP3s")
    song = write_mp3(work / "music.mp3", music(30.0))
    beep = write_mp3(work / "tone.mp3", tone(10.0))
    results.decode_only = await decode_only(song)
    for _ in range(plan.cpu_runs):
        step("CPU: playing")
        percent, underruns = await cpu_run(song, plan.cpu_seconds)
        results.cpu.append(percent)
        results.cpu_underruns += underruns
        step("CPU: idle")
        results.cpu_idle.append((await cpu_run(None, plan.cpu_seconds))[0])
    first, full, via_focus = await duck_trials(beep, plan.trials, step)
    results.first_ms, results.full_ms, results.via_focus = first, full, via_focus
    write_library(work / "music", plan.files, step)
    step("scanning the library")
    await asyncio.to_thread(scan_library, work, results)
    return results


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return "[yellow]not measured[/]"
    return "[green]yes[/]" if ok else "[red]NO[/]"


def tables(plan: Plan, r: Results) -> list[Table]:
    cpu = _table(
        f"CPU, % of one core: {BITRATE // 1000} kbit/s MP3 decoded and mixed in real time, "
        f"median of {plan.cpu_runs} × {plan.cpu_seconds:g} s"
    )
    cpu.add_column("workload")
    cpu.add_column("median", justify="right")
    cpu.add_column("runs min–max", justify="right")
    cpu.add_row(
        "playing (decode + mix + null sink)",
        f"{statistics.median(r.cpu):.2f} %",
        f"{min(r.cpu):.2f}–{max(r.cpu):.2f} %",
    )
    cpu.add_row(
        "engine idle (silence)",
        f"{statistics.median(r.cpu_idle):.2f} %",
        f"{min(r.cpu_idle):.2f}–{max(r.cpu_idle):.2f} %",
    )
    cpu.add_row("decoding alone (per second of audio)", f"{r.decode_only:.2f} %", "")
    cpu.caption = (
        f"Underruns while playing: {r.cpu_underruns} (stalls of the event loop over 50 ms; "
        "on a busy machine, other processes')."
    )
    cpu.caption_justify = "left"

    duck = _table(
        f"Focus change → ducked samples written, ms: {len(r.full_ms)} trials, "
        f"{DUCK_DB:g} dB over {RAMP_MS:g} ms"
    )
    duck.add_column("written", justify="left")
    duck.add_column("p50", justify="right")
    duck.add_column("p99", justify="right")
    duck.add_column("max", justify="right")
    for label, values in (("first quieter block", r.first_ms), ("duck complete", r.full_ms)):
        duck.add_row(
            label,
            f"{percentile(values, 50):.1f}",
            f"{percentile(values, 99):.1f}",
            f"{max(values):.1f}",
        )
    duck.caption = (
        "Requested through AudioFocus (NAVIGATION, TRANSIENT_MAY_DUCK)."
        if r.via_focus
        else "carmesh.media.focus is not there: the channel was ducked directly."
    )
    duck.caption_justify = "left"

    scan = _table("Library scan")
    scan.add_column("scan")
    scan.add_column("files/s", justify="right")
    if r.scan_rate is None:
        scan.caption = r.library_missing
    else:
        scan.add_row(f"first scan of {r.scan_files} files", f"{r.scan_rate:,.0f}")
        if r.rescan_rate is not None:
            scan.add_row("rescan, nothing changed", f"{r.rescan_rate:,.0f}")
        scan.caption = f"{r.scan_failed} files failed." if r.scan_failed else "No file failed."
    scan.caption_justify = "left"

    targets = _table("Targets")
    targets.add_column("target")
    targets.add_column("measured", justify="right")
    targets.add_column("met")
    cpu_median = statistics.median(r.cpu)
    targets.add_row(
        f"≤ {TARGET_CPU_PERCENT:g} % of one core for one {BITRATE // 1000} kbit/s MP3",
        f"{cpu_median:.2f} %",
        _verdict(cpu_median <= TARGET_CPU_PERCENT),
    )
    p99 = percentile(r.full_ms, 99)
    targets.add_row(
        f"focus change → ducked samples ≤ {TARGET_DUCK_MS:g} ms (p99, duck complete)",
        f"{p99:.1f} ms",
        _verdict(p99 <= TARGET_DUCK_MS),
    )
    targets.add_row(
        "library scan rate (no target)",
        f"{r.scan_rate:,.0f} files/s" if r.scan_rate is not None else "–",
        _verdict(None) if r.scan_rate is None else "–",
    )
    return [cpu, duck, scan, targets]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure the media engine: CPU for one MP3, focus → duck latency, "
        "library scan rate."
    )
    parser.add_argument("--quick", action="store_true", help="a short run (~30 s)")
    parser.add_argument("--seconds", type=float, help="length of one CPU run (10; quick: 3)")
    parser.add_argument("--runs", type=int, help="CPU runs (3)")
    parser.add_argument("--trials", type=int, help="focus → duck trials (50; quick: 15)")
    parser.add_argument("--files", type=int, help="files in the library (200; quick: 60)")
    args = parser.parse_args(argv)
    for name in ("seconds", "runs", "trials", "files"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            parser.error(f"--{name} must be more than 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quick = bool(args.quick)
    plan = Plan(
        cpu_seconds=args.seconds or (3.0 if quick else 10.0),
        cpu_runs=args.runs or 3,
        trials=args.trials or (15 if quick else 50),
        files=args.files or (60 if quick else 200),
    )
    console = Console()
    console.print(machine_line(), highlight=False)
    console.print(
        f"carmesh {carmesh.__version__} · PyAV {av.__version__} · numpy {np.__version__}",
        highlight=False,
    )
    if hasattr(os, "getloadavg"):
        console.print(
            "load average before: " + " ".join(f"{x:.2f}" for x in os.getloadavg()),
            highlight=False,
        )
    steps = 2 + 2 * plan.cpu_runs + plan.trials + math.ceil(plan.files / 10)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="carmesh-bench-media-") as tmp, progress(steps) as step:
        results = asyncio.run(measure(plan, Path(tmp), step))
    console.print()
    for table in tables(plan, results):
        console.print(table)
    took = time.perf_counter() - started
    load = ""
    if hasattr(os, "getloadavg"):
        load = " · load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(f"[dim]measured in {took:.0f} s{load}[/]", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
