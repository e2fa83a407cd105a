"""Simulated time: fixed steps of simulated seconds, paced against the wall clock.

The model always advances in steps of the same length (``step``, 0.1 s by default), so a run
with a given seed and scenario computes the same values whatever the machine's speed; only
how often those steps happen in real time depends on the time scale. Each tick (every
``tick`` real seconds) asks for as many steps as the scale calls for; a tick that comes late
catches up, but never by more than one second of real time, so a stalled process does not
spin afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

#: Real seconds between ticks: the publishing rate of fast signals at real time (10 Hz).
DEFAULT_TICK = 0.1
#: Simulated seconds per model step.
DEFAULT_STEP = 0.1
MAX_CATCH_UP = 1.0


class SimClock:
    """Turns real time into a count of fixed simulated steps (``time_scale`` sim s per s)."""

    def __init__(
        self,
        time_scale: float = 1.0,
        *,
        step: float = DEFAULT_STEP,
        tick: float = DEFAULT_TICK,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("the time scale must be a positive number")
        self.time_scale = time_scale
        self.step = step
        self.tick = tick
        self.monotonic = monotonic
        self._owed = 0.0

    def steps_for(self, real_seconds: float) -> int:
        """How many model steps *real_seconds* of wall time are worth (fractions carry)."""
        self._owed += min(real_seconds, MAX_CATCH_UP) * self.time_scale / self.step
        whole = int(self._owed + 1e-9)
        self._owed -= whole
        return whole

    async def ticks(self) -> AsyncIterator[int]:
        """Forever: sleep until the next tick, then yield the number of steps to run."""
        last = self.monotonic()
        deadline = last
        while True:
            deadline += self.tick
            delay = deadline - self.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                deadline = self.monotonic()
            now = self.monotonic()
            yield self.steps_for(now - last)
            last = now
