"""Where CAN frames come from: the one small interface of bus and log sources.

Like python-can's ``BusABC`` with its interfaces, the provider knows only
:class:`FrameSource`; :class:`~carmesh.vehicle.can.bus.BusSource` (any python-can interface:
``socketcan``, ``virtual``, ``pcan``…) and :class:`~carmesh.vehicle.can.replay.Replay`
(``candump -L`` and ASC logs, or frames in memory) implement it in their own modules.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator

import can

from carmesh.errors import Unavailable
from carmesh.vehicle.can.counters import CanCounters, ProblemLog

__all__ = ["FrameSource"]


class FrameSource(abc.ABC):
    """A stream of received frames, and for a live bus a way to send.

    Use: :meth:`open` once, iterate :meth:`batches`, :meth:`close` once (also after an
    error or a cancellation). Sources count their own problems (lines that are not frames,
    frames dropped, bus errors) into the counters given to :meth:`open`.
    """

    #: Whether :meth:`send` can put frames on a bus.
    can_send: bool = False

    def __init__(self) -> None:
        self.counters = CanCounters()
        self.problems = ProblemLog()

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """One line for logs and the start banner, e.g. ``"socketcan can0"``."""

    async def open(self, counters: CanCounters, problems: ProblemLog) -> None:
        """Get ready to deliver frames; raises ``Unavailable`` or ``ConfigError`` if it cannot."""
        self.counters = counters
        self.problems = problems

    @abc.abstractmethod
    def batches(self) -> AsyncIterator[list[can.Message]]:
        """Received frames in arrival order, a few at a time (never an empty list).

        Ends when a recording is exhausted; a live bus ends only when closed.
        """

    async def send(self, frame: can.Message) -> None:
        """Put *frame* on the bus; raises ``Unavailable`` when that is not possible."""
        raise Unavailable(f"{self.description} cannot send CAN frames")

    async def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release the bus or file; safe to call more than once."""
