"""An app's log: its stdout and stderr plus the supervisor's notes, one line per entry.

Each line reads ``2026-11-25T10:00:00.123Z SOURCE TEXT`` — UTC with milliseconds, then ``out``
(stdout), ``err`` (stderr) or ``car`` (the supervisor: started, exited, restarting…). The file
(``DATA/apps/logs/ID/app.log``) rotates at 1 MiB into ``app.log.1`` … ``app.log.3``, the
oldest dropped, so an app never holds more than 4 MiB of logs. A line's text is at most
16 KiB; a longer one keeps its first 16 KiB followed by :data:`CUT_MARK`.

Writes are unbuffered (one ``write`` per batch of lines), so a reader sees a line as soon as
the app printed it. Text is stored as the app wrote it (bytes); readers decode it as UTF-8,
replacing what is not.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

MAX_BYTES = 1024 * 1024
BACKUPS = 3
MAX_LINE = 16 * 1024
#: Appended to a line that was cut at :data:`MAX_LINE` bytes.
CUT_MARK = b" [cut]"

_log = logging.getLogger(__name__)


def timestamp(when: float | None = None) -> str:
    """*when* (seconds since the epoch, default now) as ``2026-11-25T10:00:00.123Z``."""
    if when is None:
        when = time.time()
    whole = int(when)
    millis = int((when - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def cut(line: bytes, max_line: int = MAX_LINE) -> bytes:
    """*line* itself, or its first *max_line* bytes and :data:`CUT_MARK` if it is longer."""
    return line if len(line) <= max_line else line[:max_line] + CUT_MARK


def rotated(path: Path, backups: int = BACKUPS) -> list[Path]:
    """The files of the log at *path*, oldest first: ``path.3`` … ``path.1``, ``path``."""
    return [path.with_name(f"{path.name}.{n}") for n in range(backups, 0, -1)] + [path]


class LineSplitter:
    """Cuts a byte stream into lines, holding at most *max_line* bytes of a partial line.

    The rest of an overlong line is dropped as it arrives, so memory stays bounded whatever
    the app writes.
    """

    __slots__ = ("_overflow", "_partial", "max_line")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._partial = b""
        self._overflow = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines *chunk* completes (without their ``\\n``), overlong ones cut."""
        pieces = chunk.split(b"\n")
        lines: list[bytes] = []
        for piece in pieces[:-1]:
            lines.append(self._take(piece))
            self._partial = b""
            self._overflow = False
        self._take_partial(pieces[-1])
        return lines

    def flush(self) -> list[bytes]:
        """The unterminated last line, if any (call at end of stream)."""
        if not self._partial and not self._overflow:
            return []
        line = self._partial + CUT_MARK if self._overflow else self._partial
        self._partial = b""
        self._overflow = False
        return [line]

    def _take(self, piece: bytes) -> bytes:
        if self._overflow:
            return self._partial + CUT_MARK
        return cut(self._partial + piece, self.max_line)

    def _take_partial(self, piece: bytes) -> None:
        if self._overflow or not piece:
            return
        room = self.max_line - len(self._partial)
        if len(piece) > room:
            self._partial += piece[:room]
            self._overflow = True
        else:
            self._partial += piece


class RotatingLog:
    """Appends timestamped lines to *path*, rotating at *max_bytes* into *backups* old files.

    Not thread-safe; one writer per file. A failing disk never raises: the lines are dropped
    and the first failure is logged.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = MAX_BYTES,
        backups: int = BACKUPS,
        max_line: int = MAX_LINE,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.max_line = max_line
        self._fd: int | None = None
        self._size = 0
        self._failed = False

    def write(self, source: str, lines: Iterable[bytes | str], when: float | None = None) -> None:
        """Append *lines* from *source* (``out``, ``err`` or ``car``) stamped *when* (now)."""
        prefix = f"{timestamp(when)} {source} ".encode()
        data = b"".join(
            prefix + cut(line.encode() if isinstance(line, str) else line, self.max_line) + b"\n"
            for line in lines
        )
        if not data:
            return
        try:
            self._append(data)
        except OSError as exc:
            self.close()
            if not self._failed:
                _log.warning("cannot write the app log %s: %s", self.path, exc)
                self._failed = True
        else:
            self._failed = False

    def close(self) -> None:
        """Close the file; the next :meth:`write` opens it again."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            self._open()
        if self._size > 0 and self._size + len(data) > self.max_bytes:
            self._rotate()
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self._size += written

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size

    def _rotate(self) -> None:
        self.close()
        files = rotated(self.path, self.backups)
        for older, newer in itertools.pairwise(files):
            if newer.exists():
                os.replace(newer, older)
        self._open()


def tail(path: Path, lines: int = 200, *, backups: int = BACKUPS) -> list[str]:
    """The last *lines* lines of the log at *path*, reading back through its rotated files.

    Oldest first, newest last, without line ends. Missing files count as empty.
    """
    if lines <= 0:
        return []
    collected: list[bytes] = []
    for file in reversed(rotated(path, backups)):
        need = lines - len(collected)
        if need <= 0:
            break
        try:
            found = _last_lines(file, need)
        except FileNotFoundError:
            continue
        collected = found + collected
    return [line.decode("utf-8", "replace") for line in collected]


def _last_lines(path: Path, count: int, block: int = 64 * 1024) -> list[bytes]:
    """The last *count* lines of one file, read backwards in blocks."""
    with path.open("rb") as f:
        end = f.seek(0, os.SEEK_END)
        data = b""
        position = end
        while position > 0 and data.count(b"\n") <= count:
            step = min(block, position)
            position -= step
            f.seek(position)
            data = f.read(step) + data
    found = data.split(b"\n")
    if found and found[-1] == b"":
        found.pop()
    if position > 0:  # the first piece may be the end of a line that starts earlier
        found = found[1:]
    return found[-count:]
