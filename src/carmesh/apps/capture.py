"""One run of an app's process as the event loop sees it: its output copied into the app's log.

An :class:`AppRun` is the ``asyncio`` subprocess protocol of one run. It splits stdout and
stderr into lines (:class:`~.logs.LineSplitter`, bounded however long a line) and appends them
to the app's :class:`~.logs.RotatingLog` as ``out`` and ``err`` lines straight from the pipe
callbacks, so nothing queues up in memory however fast the app writes. It tells the supervisor
when the process ended (:attr:`AppRun.exited`) and when its pipes closed
(:attr:`AppRun.finished`), and drains what is left of the output once the run is over.
Starting, stopping and restarting the process is :mod:`.supervisor`'s business.
"""

from __future__ import annotations

import asyncio

from carmesh.apps.logs import LineSplitter, RotatingLog

__all__ = ["AppRun"]

#: Seconds to wait for the rest of the output once the process ended.
_DRAIN_TIMEOUT = 1.0

_SOURCES = {1: "out", 2: "err"}


class AppRun(asyncio.SubprocessProtocol):
    """One run of an app's process: copies its output into the log as it arrives.

    Output is written from the pipe callbacks, so nothing queues up in memory however fast
    the app writes. *exited* resolves to the return code as soon as the process ends —
    even if something it started still holds its pipes; *finished* once the pipes closed too.
    """

    def __init__(self, log: RotatingLog) -> None:
        loop = asyncio.get_running_loop()
        self.log = log
        self.transport: asyncio.SubprocessTransport | None = None
        self.exited: asyncio.Future[int] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()
        self._splitters = {1: LineSplitter(log.max_line), 2: LineSplitter(log.max_line)}

    @property
    def pid(self) -> int | None:
        """The pid while the process runs, else ``None``."""
        if self.transport is None or self.exited.done():
            return None
        return self.transport.get_pid()

    async def drain(self) -> None:
        """Let the rest of the output arrive (for up to a second), then close the transport."""
        assert self.transport is not None
        await asyncio.wait([self.finished], timeout=_DRAIN_TIMEOUT)
        self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        splitter = self._splitters.get(fd)
        if splitter is not None and isinstance(data, bytes):
            lines = splitter.feed(data)
            if lines:
                self.log.write(_SOURCES[fd], lines)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        splitter = self._splitters.pop(fd, None)
        if splitter is not None:
            self.log.write(_SOURCES[fd], splitter.flush())

    def process_exited(self) -> None:
        assert self.transport is not None
        returncode = self.transport.get_returncode()
        if not self.exited.done() and returncode is not None:
            self.exited.set_result(returncode)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_result(None)
