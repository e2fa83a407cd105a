"""Reading CAN log files with python-can's readers, past the lines they cannot read.

python-can's readers stop at the first line they fail to parse. A recording from a car is
worth replaying even with a damaged line in it, so for the line-based formats carmesh replays
(``candump -L`` ``.log`` files and Vector ``.asc`` files) a failure is reported and reading
resumes with a fresh reader on the next line (an ASC reader resumes with the number base the
file declared). Every other format python-can reads (``.blf``, ``.trc``, ``.csv``, ``.mf4``,
gzip-compressed files…) is read through :func:`can.LogReader`, up to its first bad record.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TextIO, cast

import can
from can.io.asc import ASCReader
from can.io.canutils import CanutilsLogReader
from can.io.generic import MessageReader
from can.io.player import MESSAGE_READERS

from carmesh.errors import ConfigError

__all__ = ["BadLine", "check_log_file", "read_log"]

#: Called with the line number (0 if unknown), the line's text and the error.
BadLine = Callable[[int, str, Exception], None]

_RESUMABLE = (".log", ".asc")


def check_log_file(path: Path) -> None:
    """Refuse, with one clear sentence, a file that is missing or of no known log format."""
    if not path.is_file():
        raise ConfigError(f"CAN log {path} does not exist")
    suffixes = [s.lower() for s in path.suffixes]
    suffix = suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) > 1 else path.suffix
    known = {s.lower() for s in MESSAGE_READERS}
    if suffix.lower() not in known:
        raise ConfigError(
            f"CAN log {path} has no known log format; use one of {', '.join(sorted(known))}"
        )


class _Lines:
    """The lines of a text file for a python-can reader, with lines that can be put back."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file
        self.number = 0
        self.current = ""
        self._pending: deque[str] = deque()

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._pending:
            return self._pending.popleft()
        line = next(self.file)
        self.number += 1
        self.current = line
        return line

    def put_back(self, *lines: str) -> None:
        self._pending.extend(lines)

    def close(self) -> None:
        """Readers close their file when done; the file's owner does that here."""


def read_log(path: Path, on_bad_line: BadLine) -> Iterator[can.Message]:
    """The frames of the log at *path*, in file order; bad lines go to *on_bad_line*."""
    if path.suffix.lower() not in _RESUMABLE:
        whole = can.LogReader(path)
        try:
            yield from whole
        except Exception as exc:
            on_bad_line(0, "", exc)
        finally:
            whole.stop()
        return
    asc = path.suffix.lower() == ".asc"
    with path.open(encoding="utf-8", errors="replace") as file:
        lines = _Lines(file)
        reader_asc: ASCReader | None = None
        while True:
            text = cast(TextIO, lines)
            if asc:
                base = reader_asc.base if reader_asc is not None else None
                reader_asc = ASCReader(text)
                if base is not None:
                    # the header a resumed reader looks for, with the base the file declared
                    lines.put_back(f"base {base} timestamps absolute", "no internal events logged")
                reader: MessageReader = reader_asc
            else:
                reader = CanutilsLogReader(text)
            try:
                yield from reader
                return
            except Exception as exc:
                on_bad_line(lines.number, lines.current.rstrip("\n"), exc)
