"""The efficiency history: one JSON line per completed kilometre, kept across restarts.

The file is append-only, so a crash can at worst leave a partial last line, which
:meth:`History.load` skips like any other damaged line. It stays bounded: the newest
:data:`MAX_ENTRIES` entries are kept in memory, and once the file holds twice that many lines
it is rewritten with those alone (through a temporary file and a rename, so it is never
half-written). The trip in progress is saved next to it (:func:`save_json`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tripcomputer.trip import HistoryEntry

#: Entries kept (the newest); the file holds at most twice as many lines.
MAX_ENTRIES = 500
HISTORY_FILE = "history.jsonl"
TRIP_FILE = "trip.json"


class History:
    """The newest entries of ``DIRECTORY/history.jsonl``, oldest first."""

    def __init__(self, directory: Path, max_entries: int = MAX_ENTRIES) -> None:
        self.path = directory / HISTORY_FILE
        self.max_entries = max_entries
        self.entries: deque[HistoryEntry] = deque(maxlen=max_entries)
        self._lines = 0
        self._ends_in_newline = True

    def load(self) -> None:
        """Read the file (a missing file is an empty history; damaged lines are skipped)."""
        self.entries.clear()
        self._lines = 0
        self._ends_in_newline = True
        try:
            with self.path.open("r", encoding="utf-8", errors="replace") as file:
                for line in file:
                    self._lines += 1
                    self._ends_in_newline = line.endswith("\n")
                    with contextlib.suppress(ValueError):
                        entry = HistoryEntry.from_json(json.loads(line))
                        if entry is not None:
                            self.entries.append(entry)
        except FileNotFoundError:
            pass

    def append(self, entries: Iterable[HistoryEntry]) -> None:
        """Add *entries* to the file (fsynced) and to :attr:`entries`."""
        new = list(entries)
        if not new:
            return
        lines = [_line(entry) for entry in new]
        if not self._ends_in_newline:
            lines.insert(0, "\n")  # end the partial line a crash left
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.writelines(lines)
            file.flush()
            os.fsync(file.fileno())
        self._lines += len(new)
        self._ends_in_newline = True
        self.entries.extend(new)
        if self._lines >= 2 * self.max_entries:
            self.compact()

    def compact(self) -> None:
        """Rewrite the file with the kept entries alone."""
        write_atomically(self.path, "".join(_line(entry) for entry in self.entries))
        self._lines = len(self.entries)

    def newest(self, count: int) -> list[HistoryEntry]:
        """The *count* newest entries, newest first."""
        return list(reversed(self.entries))[:count]


def _line(entry: HistoryEntry) -> str:
    return json.dumps(entry.as_json(), separators=(",", ":")) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace *path* with *text* through a fsynced temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def save_json(path: Path, data: Any) -> None:
    """Write *data* as JSON to *path*, atomically."""
    write_atomically(path, json.dumps(data, indent=1) + "\n")


def load_json(path: Path) -> Any:
    """The JSON in *path*, or ``None`` when the file is missing or damaged."""
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
