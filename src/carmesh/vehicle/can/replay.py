"""Replaying recorded CAN traffic: log files or frames in memory, timed or as fast as possible.

With a *speed* (1.0 = as recorded, 10.0 = ten times faster) frames are delivered on a
drift-free schedule on the event loop's clock, from the gaps between their recorded
timestamps; gaps longer than *max_gap* recorded seconds are shortened to it (a car parked for
an hour replays in seconds). python-can's ``MessageSync`` does the same with ``time.sleep``,
which would stall the event loop, so the schedule is kept here with ``asyncio.sleep``. With
``speed=None`` frames are delivered as fast as the provider takes them, in runs of *chunk*.

Frames keep their recorded timestamps, so ``interval_ms`` filters behave as on the car at
any replay speed. A replay is read-only: the provider does not claim actuators for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import can

from carmesh.errors import ConfigError
from carmesh.vehicle.can.logfile import check_log_file, read_log
from carmesh.vehicle.can.source import FrameSource

__all__ = ["Replay"]

DEFAULT_MAX_GAP = 5.0
DEFAULT_CHUNK = 256


class Replay(FrameSource):
    """Frames from *frames* (a function returning a fresh iterable each time, or one
    iterable, which then cannot be looped), replayed at *speed* (None: as fast as possible),
    again and again if *loop*."""

    def __init__(
        self,
        frames: Callable[[], Iterable[can.Message]] | Iterable[can.Message],
        *,
        speed: float | None = 1.0,
        loop: bool = False,
        max_gap: float | None = DEFAULT_MAX_GAP,
        chunk: int = DEFAULT_CHUNK,
        description: str = "replay of frames in memory",
    ) -> None:
        super().__init__()
        if speed is not None and not speed > 0:
            raise ConfigError(f"a replay speed must be more than 0, got {speed}")
        if chunk < 1:
            raise ConfigError("a replay chunk must hold at least one frame")
        if callable(frames):
            self._open_frames: Callable[[], Iterable[can.Message]] = frames
        else:
            if loop and iter(frames) is frames:
                raise ConfigError("a one-time iterator of frames cannot be replayed in a loop")
            fixed = frames
            self._open_frames = lambda: fixed
        self.speed = speed
        self.loop = loop
        self.max_gap = max_gap
        self.chunk = chunk
        self._description = description
        #: Completed passes over the frames.
        self.passes = 0

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        speed: float | None = 1.0,
        loop: bool = False,
        max_gap: float | None = DEFAULT_MAX_GAP,
    ) -> Replay:
        """Replay a log file (``candump -L`` ``.log``, ``.asc``, or any python-can format)."""
        file = Path(path)
        check_log_file(file)
        source: Replay

        def frames() -> Iterable[can.Message]:
            return read_log(file, source._bad_line)

        pace = "as fast as possible" if speed is None else f"at {speed:g}× recorded speed"
        source = cls(
            frames,
            speed=speed,
            loop=loop,
            max_gap=max_gap,
            description=f"replay of {file.name} {pace}" + (", looped" if loop else ""),
        )
        return source

    @property
    def description(self) -> str:
        return self._description

    def _bad_line(self, number: int, text: str, exc: Exception) -> None:
        self.counters.frames_received += 1
        self.counters.frames_malformed += 1
        where = f"line {number}" if number else "a record"
        self.problems.report(
            "bad-log-line", "%s: %s is not a CAN frame (%s): %r", self.description, where, exc, text
        )

    async def batches(self) -> AsyncIterator[list[can.Message]]:
        while True:
            frames = self._open_frames()
            if self.speed is None:
                async for batch in self._fast(frames):
                    yield batch
            else:
                async for batch in self._timed(frames, self.speed):
                    yield batch
            self.passes += 1
            if not self.loop:
                return

    async def _fast(self, frames: Iterable[can.Message]) -> AsyncIterator[list[can.Message]]:
        batch: list[can.Message] = []
        for frame in frames:
            batch.append(frame)
            if len(batch) >= self.chunk:
                yield batch
                batch = []
        if batch:
            yield batch

    async def _timed(
        self, frames: Iterable[can.Message], speed: float
    ) -> AsyncIterator[list[can.Message]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        first: float | None = None
        previous = 0.0
        skipped = 0.0
        max_gap = self.max_gap
        batch: list[can.Message] = []
        for frame in frames:
            stamp = frame.timestamp
            if first is None:
                first = previous = stamp
            gap = stamp - previous
            if max_gap is not None and gap > max_gap:
                skipped += gap - max_gap
            previous = max(previous, stamp)
            due = start + (stamp - first - skipped) / speed
            delay = due - loop.time()
            if delay > 0:
                if batch:
                    yield batch
                    batch = []
                await asyncio.sleep(due - loop.time())
            batch.append(frame)
            if len(batch) >= self.chunk:
                yield batch
                batch = []
        if batch:
            yield batch
