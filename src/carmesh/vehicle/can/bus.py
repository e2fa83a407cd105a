"""A live CAN bus through any python-can interface, chosen by name at run time.

``BusSource("socketcan", "can0")`` on a car's computer, ``BusSource("virtual", "test")`` in
tests and demos, or any other python-can interface (``pcan``, ``kvaser``, ``slcan``…) with its
own options (``bitrate=500000``…).

python-can's ``recv`` blocks, so a reader thread receives frames and hands them to the event
loop in runs: it wakes the loop only when the loop has drained everything it had, so a busy
bus costs one wake-up per run of frames, not one per frame. If the loop falls more than
*max_pending* frames behind, the oldest are dropped and counted (``frames_dropped``): the
freshest state of the car matters more than a backlog. Receive errors (an interface that went
down) are counted and retried; they never end the provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any

import can

from carmesh.errors import ConfigError, Unavailable
from carmesh.vehicle.can.counters import CanCounters, ProblemLog
from carmesh.vehicle.can.source import FrameSource

__all__ = ["BusSource"]

log = logging.getLogger(__name__)

#: Longest a receive call blocks, which bounds how long closing takes.
RECV_TIMEOUT = 0.1
#: Pause after a failed receive before trying again.
ERROR_BACKOFF = 0.5
#: Most frames handed to the provider at once.
MAX_BATCH = 512


class BusSource(FrameSource):
    """Frames from (and to) a python-can bus.

    *interface* and *channel* are python-can's (``can.Bus(interface=..., channel=...)``);
    *options* are passed on (``bitrate``, ``receive_own_messages``…). :meth:`attach` wraps a
    bus that is already open and that the caller keeps ownership of.
    """

    can_send = True

    def __init__(
        self,
        interface: str = "socketcan",
        channel: str = "can0",
        *,
        options: Mapping[str, Any] | None = None,
        max_pending: int = 100_000,
        send_timeout: float = 0.2,
    ) -> None:
        super().__init__()
        self.interface = interface
        self.channel = channel
        self.options = dict(options or {})
        self.max_pending = max_pending
        self.send_timeout = send_timeout
        self._bus: can.BusABC | None = None
        self._owned = True
        self._frames: deque[can.Message] = deque()
        self._wakeup = asyncio.Event()
        self._signalled = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def attach(cls, bus: can.BusABC, *, max_pending: int = 100_000) -> BusSource:
        """A source over an open *bus*; :meth:`close` leaves the bus open."""
        source = cls(str(type(bus).__name__), str(bus.channel_info), max_pending=max_pending)
        source._bus = bus
        source._owned = False
        return source

    @property
    def description(self) -> str:
        return f"{self.interface} {self.channel}"

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self, counters: CanCounters, problems: ProblemLog) -> None:
        await super().open(counters, problems)
        if self._bus is None:
            self._bus = await asyncio.to_thread(self._open_bus)
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._receive, name=f"can-{self.channel}", daemon=True
        )
        self._thread.start()

    def _open_bus(self) -> can.BusABC:
        try:
            return can.Bus(interface=self.interface, channel=self.channel, **self.options)
        except can.CanInterfaceNotImplementedError as exc:
            known = ", ".join(sorted(can.VALID_INTERFACES))
            raise ConfigError(
                f"CAN interface {self.interface!r} cannot be used here ({exc}); "
                f"python-can knows: {known}"
            ) from None
        except (can.CanError, OSError, ValueError, TypeError) as exc:
            raise Unavailable(
                f"cannot open CAN bus {self.interface} {self.channel}: {exc}"
            ) from None

    async def close(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, RECV_TIMEOUT * 5)
        bus = self._bus
        if bus is not None and self._owned:
            self._bus = None
            with contextlib.suppress(Exception):
                bus.shutdown()

    # -- receiving ----------------------------------------------------------------------------

    def _receive(self) -> None:
        bus = self._bus
        assert bus is not None
        frames = self._frames
        while not self._stopping.is_set():
            try:
                frame = bus.recv(RECV_TIMEOUT)
            except Exception as exc:
                if self._stopping.is_set():
                    break
                self.counters.bus_errors += 1
                self.problems.report(
                    "bus-error", "receiving from %s failed: %s", self.description, exc
                )
                time.sleep(ERROR_BACKOFF)
                continue
            if frame is None:
                continue
            frames.append(frame)
            if len(frames) > self.max_pending:
                with contextlib.suppress(IndexError):
                    frames.popleft()
                    self.counters.frames_dropped += 1
            if not self._signalled:
                self._signalled = True
                self._wake()

    def _wake(self) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._wakeup.set)

    async def batches(self) -> AsyncIterator[list[can.Message]]:
        frames = self._frames
        while True:
            if not frames:
                # Order matters: clear the flag first, then look, then wait; a frame
                # appended after the look finds the flag clear and wakes us.
                self._wakeup.clear()
                self._signalled = False
                if not frames:
                    await self._wakeup.wait()
                continue
            count = min(len(frames), MAX_BATCH)
            yield [frames.popleft() for _ in range(count)]

    # -- sending ------------------------------------------------------------------------------

    async def send(self, frame: can.Message) -> None:
        bus = self._bus
        if bus is None:
            raise Unavailable(f"the CAN bus {self.description} is not open")
        try:
            await asyncio.to_thread(bus.send, frame, self.send_timeout)
        except (can.CanError, OSError, ValueError) as exc:
            raise Unavailable(f"sending on CAN bus {self.description} failed: {exc}") from None
