"""What the CAN provider saw and did: counters, and a log that cannot be flooded.

A real bus carries frames nobody mapped, the odd corrupt frame and values a sensor should not
report; a log file may hold lines no reader understands. None of that stops the provider:
each is counted in :class:`CanCounters` and reported through :class:`ProblemLog`, which logs
the first occurrence of each kind of problem at once and then at most one line per kind per
interval, saying how many more there were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

__all__ = ["CanCounters", "ProblemLog"]

log = logging.getLogger("carmesh.vehicle.can")


@dataclass(slots=True)
class CanCounters:
    """Running totals since the provider started; they only grow.

    Every received frame ends in exactly one of ``frames_decoded``, ``frames_ignored``,
    ``frames_unknown_id``, ``frames_malformed`` and ``error_frames``; every mapped value read
    from a decoded frame ends in exactly one of ``values_published``, ``values_suppressed``,
    ``values_untransformable`` and ``values_out_of_range``.
    """

    #: Frames read from the bus or log (including the ones counted below).
    frames_received: int = 0
    #: Frames of a mapped DBC message that were decoded.
    frames_decoded: int = 0
    #: Frames of DBC messages that carry no mapped signal, and remote frames.
    frames_ignored: int = 0
    #: Frames whose identifier no DBC message has.
    frames_unknown_id: int = 0
    #: Frames (or log lines) that could not be decoded: too short, bad layout, bad syntax.
    frames_malformed: int = 0
    #: Error frames reported by the CAN controller.
    error_frames: int = 0
    #: Frames dropped because the provider fell too far behind the bus.
    frames_dropped: int = 0
    #: VSS values handed to the broker.
    values_published: int = 0
    #: Values held back by ``interval_ms`` or ``on_change``.
    values_suppressed: int = 0
    #: Values the transform had no answer for (no ``from`` matched, the math failed).
    values_untransformable: int = 0
    #: Values that do not fit their VSS signal (type, ``min``/``max``, ``allowed``).
    values_out_of_range: int = 0
    #: Frames sent for actuation requests.
    frames_sent: int = 0
    #: Frames that could not be sent (the request was refused as unavailable).
    send_failures: int = 0
    #: Errors of the bus itself (receive failed, interface went down).
    bus_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ProblemLog:
    """Rate-limited warnings, one stream per kind of problem.

    ``report(kind, message, *args)`` logs at once if *kind* was not reported within the last
    *interval* seconds; otherwise it only counts, and the next line for that kind says how
    many were left out.
    """

    def __init__(
        self,
        interval: float = 10.0,
        logger: logging.Logger = log,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.logger = logger
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def report(self, kind: str, message: str, *args: object) -> None:
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        if held:
            message += " (and %d more like it in the last %.0f s)"
            args = (*args, held, now - last if last is not None else 0.0)
        self.logger.warning(message, *args)
