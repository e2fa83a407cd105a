"""The media service's memory across restarts: ``DATA/media/state.db`` (SQLite).

Per zone: the active session and the volume. Per zone and session: the queue (items as
JSON), the play order, the current item, the position, shuffle, repeat and whether it was
playing. The database runs in WAL mode with ``synchronous=FULL`` and every save is one
committed transaction, so a killed car (or a power cut) comes back with what was saved last.
The service saves on every change and every few seconds of playback; saves run on one
dedicated thread, in order, never on the event loop, and saves that pile up while a write is
in progress are folded into the next write (the latest snapshot of each session wins).

A file that is not a usable database is moved aside (``state.db.broken``) and a new one is
started: losing the last queue must never keep the car from starting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SavedState", "SavedZone", "StateStore"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS zone (
        zone TEXT PRIMARY KEY,
        active TEXT,
        volume INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS session (
        zone TEXT NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        items TEXT NOT NULL,
        play_order TEXT NOT NULL,
        cursor INTEGER NOT NULL,
        position REAL NOT NULL,
        shuffle INTEGER NOT NULL,
        repeat TEXT NOT NULL,
        playing INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL,
        PRIMARY KEY (zone, key)
    ) WITHOUT ROWID
    """,
)


@dataclass
class SavedZone:
    """A zone as it was: its active session's key (None: none) and volume (0–100)."""

    active: str | None = None
    volume: int | None = None


@dataclass
class SavedState:
    """Everything :meth:`StateStore.open` found."""

    zones: dict[str, SavedZone] = field(default_factory=dict)
    #: (zone, session key) → a :meth:`MediaSession.snapshot`.
    sessions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


class StateStore:
    """``state.db``: open it, save snapshots, close it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._sessions: dict[tuple[str, str], dict[str, Any]] = {}
        self._positions: dict[tuple[str, str], tuple[int, float, bool]] = {}
        self._forget: set[tuple[str, str]] = set()
        self._zones: dict[str, SavedZone] = {}
        self._lock = asyncio.Lock()

    # -- opening --------------------------------------------------------------------------

    def open(self) -> SavedState:
        """Open (creating, or replacing a broken file) and read everything. Blocking: call
        it in a thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db, saved = self._open()
        except sqlite3.DatabaseError as exc:
            broken = self.path.with_name(self.path.name + ".broken")
            log.warning(
                "%s is not a usable media state database (%s); moved it to %s and "
                "starting without the last session",
                self.path,
                exc,
                broken,
            )
            for suffix in ("-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            self.path.replace(broken)
            db, saved = self._open()
        self._db = db
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="carmesh-media")
        return saved

    def _open(self) -> tuple[sqlite3.Connection, SavedState]:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"written by a newer carmesh (schema {version})")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            saved = SavedState()
            for zone, active, volume in db.execute("SELECT zone, active, volume FROM zone"):
                saved.zones[zone] = SavedZone(active, volume)
            rows = db.execute(
                "SELECT zone, key, name, source, items, play_order, cursor, position, shuffle, "
                "repeat, playing FROM session"
            ).fetchall()
        except BaseException:
            db.close()
            raise
        for (
            zone,
            key,
            name,
            source,
            items,
            order,
            cursor,
            position,
            shuffle,
            repeat,
            playing,
        ) in rows:
            try:
                saved.sessions[(zone, key)] = {
                    "key": key,
                    "name": name,
                    "source": source,
                    "items": json.loads(items),
                    "order": json.loads(order),
                    "cursor": cursor,
                    "position": position,
                    "shuffle": bool(shuffle),
                    "repeat": repeat,
                    "playing": bool(playing),
                }
            except ValueError as exc:
                log.warning("skipping the saved media session %s/%s: %s", zone, key, exc)
        return db, saved

    # -- saving ---------------------------------------------------------------------------

    async def save_session(self, zone: str, snapshot: dict[str, Any]) -> None:
        """Store a :meth:`MediaSession.snapshot` of a session of *zone*; returns once it
        (or a newer one) is committed."""
        key = (zone, str(snapshot["key"]))
        self._forget.discard(key)
        self._positions.pop(key, None)
        self._sessions[key] = snapshot
        await self._flush()

    async def save_position(
        self, zone: str, key: str, cursor: int, position: float, playing: bool
    ) -> None:
        """Store where a saved session is (its play-order cursor and position) without
        writing its queue again; nothing happens for a session never saved."""
        self._positions[(zone, key)] = (cursor, position, playing)
        await self._flush()

    async def forget_session(self, zone: str, key: str) -> None:
        """Delete a saved session."""
        self._sessions.pop((zone, key), None)
        self._positions.pop((zone, key), None)
        self._forget.add((zone, key))
        await self._flush()

    async def save_zone(self, zone: str, active: str | None, volume: int) -> None:
        """Store the active session and the volume of *zone*."""
        self._zones[zone] = SavedZone(active, volume)
        await self._flush()

    async def _flush(self) -> None:
        async with self._lock:
            if not (self._sessions or self._positions or self._zones or self._forget):
                return  # a write that ran meanwhile took it
            if self._executor is None:
                raise RuntimeError("the media state store is not open")
            sessions, positions = self._sessions, self._positions
            zones, forget = self._zones, self._forget
            self._sessions, self._positions, self._zones, self._forget = {}, {}, {}, set()
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self._write, sessions, positions, zones, forget
            )

    def _write(
        self,
        sessions: dict[tuple[str, str], dict[str, Any]],
        positions: dict[tuple[str, str], tuple[int, float, bool]],
        zones: dict[str, SavedZone],
        forget: set[tuple[str, str]],
    ) -> None:
        db = self._db
        assert db is not None
        now = time.time_ns()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM session WHERE zone = ? AND key = ?", sorted(forget))
            db.executemany(
                "INSERT INTO zone (zone, active, volume, updated_ns) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (zone) DO UPDATE SET active = excluded.active, "
                "volume = excluded.volume, updated_ns = excluded.updated_ns",
                [
                    (zone, z.active, z.volume if z.volume is not None else 50, now)
                    for zone, z in zones.items()
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO session (zone, key, name, source, items, play_order, "
                "cursor, position, shuffle, repeat, playing, updated_ns) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        zone,
                        key,
                        str(s.get("name", key)),
                        str(s.get("source", "UNKNOWN")),
                        json.dumps(s.get("items", []), ensure_ascii=False),
                        json.dumps(s.get("order", [])),
                        int(s.get("cursor", 0)),
                        float(s.get("position", 0.0)),
                        int(bool(s.get("shuffle", False))),
                        str(s.get("repeat", "off")),
                        int(bool(s.get("playing", False))),
                        now,
                    )
                    for (zone, key), s in sessions.items()
                ],
            )
            db.executemany(
                "UPDATE session SET cursor = ?, position = ?, playing = ?, updated_ns = ? "
                "WHERE zone = ? AND key = ?",
                [
                    (cursor, position, int(playing), now, zone, key)
                    for (zone, key), (cursor, position, playing) in positions.items()
                ],
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- closing --------------------------------------------------------------------------

    async def close(self) -> None:
        """Write what is pending, then close (safe to call more than once)."""
        if self._executor is not None:
            try:
                await self._flush()
            except Exception:
                log.exception("could not save the media state before closing")
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
        if self._db is not None:
            self._db.close()
            self._db = None
