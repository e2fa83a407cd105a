"""Durable storage of persistent signal values in SQLite.

One row per (path, field). The database runs in WAL mode with ``synchronous=FULL``; every
call to :meth:`SignalStore.write` is one transaction, committed before it returns, so a value
the broker acknowledged survives a crash of the process (and of the machine). Writes run on a
single dedicated thread, in call order, and never block the event loop.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from carmesh.errors import ConfigError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS signal_value (
    path TEXT NOT NULL,
    field TEXT NOT NULL CHECK (field IN ('value', 'target')),
    value TEXT NOT NULL,
    timestamp_ns INTEGER NOT NULL,
    PRIMARY KEY (path, field)
) WITHOUT ROWID
"""

#: (path, field, value, timestamp_ns)
Row = tuple[str, str, Any, int]


class SignalStore:
    """The broker's persistence file (``signals.db`` in the data directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    def open(self) -> list[Row]:
        """Open (creating if needed) and return every stored row."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"{self.path} was written by a newer carmesh (schema {version}); "
                    "upgrade carmesh or choose another --data-dir"
                )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            rows = db.execute(
                "SELECT path, field, value, timestamp_ns FROM signal_value ORDER BY path"
            ).fetchall()
        except BaseException as exc:
            db.close()
            if not isinstance(exc, sqlite3.DatabaseError):
                raise
            raise ConfigError(
                f"{self.path} is not a usable carmesh database ({exc}); "
                "move it away or choose another --data-dir"
            ) from None
        self._db = db
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="carmesh-store")
        return [(p, f, json.loads(v), ts) for p, f, v, ts in rows]

    def _write_sync(self, rows: Sequence[Row]) -> None:
        assert self._db is not None
        encoded = [(p, f, json.dumps(v), ts) for p, f, v, ts in rows]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT INTO signal_value (path, field, value, timestamp_ns) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (path, field) DO UPDATE SET value = excluded.value, "
                "timestamp_ns = excluded.timestamp_ns",
                encoded,
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    async def write(self, rows: Sequence[Row]) -> None:
        """Store *rows* in one transaction; returns once it is committed."""
        if self._executor is None:
            raise RuntimeError("the store is not open")
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write_sync, rows)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._db is not None:
            self._db.close()
            self._db = None
