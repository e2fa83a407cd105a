"""The registry of installed apps: one SQLite file (``DATA_DIR/apps/registry.db``).

It holds, per app, the current version and its manifest, the previous version and its
manifest (what rollback returns to; at most one), the user's permission decisions, whether the
app starts with the car, whether it is quarantined, and its recent crashes. It knows nothing of
files: :class:`carmesh.apps.installer.Installer` keeps ``packages/`` in step with it.

The database runs in WAL mode with ``synchronous=FULL``; every change is one transaction,
committed before the method returns, so a change the caller saw succeed survives a crash of
the process (and of the machine). The schema version lives in the ``schema`` table; a file of a
newer schema is refused untouched. One registry object may be shared by threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from carmesh.apps.manifest import Manifest
from carmesh.errors import ConfigError, InvalidArgument, NotFound

#: Each entry upgrades the schema from its index to index + 1 (entry 0 creates version 1).
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE app (
            id TEXT PRIMARY KEY,
            version TEXT NOT NULL,
            publisher TEXT NOT NULL,
            manifest TEXT NOT NULL,
            previous_version TEXT,
            previous_manifest TEXT,
            grants TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            quarantined INTEGER NOT NULL,
            installed_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            CHECK ((previous_version IS NULL) = (previous_manifest IS NULL))
        )
        """,
        """
        CREATE TABLE app_crash (
            app_id TEXT NOT NULL REFERENCES app (id) ON DELETE CASCADE,
            at_ms INTEGER NOT NULL,
            returncode INTEGER NOT NULL
        )
        """,
        "CREATE INDEX app_crash_by_app ON app_crash (app_id, at_ms)",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

#: Crash records kept per app (older ones are dropped as new ones arrive).
CRASHES_KEPT = 100

Grants = dict[str, bool | None]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class AppRecord:
    """One installed app as the registry holds it.

    ``grants`` maps every permission id the current manifest declares, in manifest order, to
    the decision: True (granted), False (denied) or None (not decided yet). Times are UNIX
    milliseconds; ``installed_at`` is the first install, ``updated_at`` the last change of
    version or grants.
    """

    id: str
    version: str
    previous_version: str | None
    publisher: str
    manifest: Manifest
    previous_manifest: Manifest | None
    grants: Grants
    enabled: bool
    quarantined: bool
    installed_at: int
    updated_at: int

    def granted(self) -> frozenset[str]:
        """The permission ids the user (or the policy) granted."""
        return frozenset(p for p, decision in self.grants.items() if decision is True)


def _complete(manifest: Manifest, grants: Mapping[str, bool | None]) -> Grants:
    """*grants* over exactly the ids *manifest* declares (missing ones undecided)."""
    declared = manifest.permissions
    unknown = sorted(set(grants) - set(declared))
    if unknown:
        raise InvalidArgument(
            f"{manifest.id} {manifest.version} does not declare the permission {', '.join(unknown)}"
        )
    for permission, decision in grants.items():
        if decision is not None and not isinstance(decision, bool):
            raise InvalidArgument(f"the decision for {permission} must be true, false or null")
    return {p: grants.get(p) for p in declared}


class AppRegistry:
    """The registry file; see the module docstring for what is promised."""

    def __init__(self, path: Path, *, clock: Callable[[], int] = _now_ms) -> None:
        """Open *path*, creating it (and its directory) when missing.

        :class:`ConfigError` when the file is not a usable database or was written by a newer
        carmesh; the file is then left as it was. *clock* returns UNIX milliseconds.
        """
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._manifests: dict[str, Manifest] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._migrate(db)
        except BaseException as exc:
            db.close()
            if not isinstance(exc, sqlite3.DatabaseError):
                raise
            raise ConfigError(
                f"{path} is not a usable carmesh app registry ({exc}); "
                "move it away or choose another --data-dir"
            ) from None
        db.row_factory = sqlite3.Row
        self._db: sqlite3.Connection | None = db

    def _migrate(self, db: sqlite3.Connection) -> None:
        has_schema = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema'"
        ).fetchone()
        version = 0
        if has_schema:
            row = db.execute("SELECT version FROM schema").fetchone()
            version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path} was written by a newer carmesh (schema {version}); "
                "upgrade carmesh or choose another --data-dir"
            )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        if version == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema (version INTEGER NOT NULL)")
            for statements in _MIGRATIONS[version:]:
                for statement in statements:
                    db.execute(statement)
            db.execute("DELETE FROM schema")
            db.execute("INSERT INTO schema (version) VALUES (?)", (SCHEMA_VERSION,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- reading ----------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise RuntimeError("the app registry is closed")
            yield self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction (rolled back when the body raises)."""
        with self._read() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    _COLUMNS = (
        "id, version, previous_version, publisher, manifest, previous_manifest, grants, "
        "enabled, quarantined, installed_at, updated_at"
    )

    def _manifest(self, raw: str) -> Manifest:
        manifest = self._manifests.get(raw)
        if manifest is None:
            manifest = Manifest.parse(raw)
            if len(self._manifests) >= 256:
                self._manifests.clear()
            self._manifests[raw] = manifest
        return manifest

    def _record(self, row: sqlite3.Row) -> AppRecord:
        manifest = self._manifest(row["manifest"])
        previous_raw = row["previous_manifest"]
        stored: dict[str, bool | None] = json.loads(row["grants"])
        return AppRecord(
            id=row["id"],
            version=row["version"],
            previous_version=row["previous_version"],
            publisher=row["publisher"],
            manifest=manifest,
            previous_manifest=None if previous_raw is None else self._manifest(previous_raw),
            grants={p: stored.get(p) for p in manifest.permissions},
            enabled=bool(row["enabled"]),
            quarantined=bool(row["quarantined"]),
            installed_at=int(row["installed_at"]),
            updated_at=int(row["updated_at"]),
        )

    def apps(self) -> list[AppRecord]:
        """Every installed app, by id."""
        with self._read() as db:
            rows = db.execute(f"SELECT {self._COLUMNS} FROM app ORDER BY id").fetchall()
        return [self._record(row) for row in rows]

    def find(self, app_id: str) -> AppRecord | None:
        """The app, or None when it is not installed."""
        with self._read() as db:
            row = db.execute(f"SELECT {self._COLUMNS} FROM app WHERE id = ?", (app_id,)).fetchone()
        return None if row is None else self._record(row)

    def get(self, app_id: str) -> AppRecord:
        """The app; :class:`NotFound` when it is not installed."""
        record = self.find(app_id)
        if record is None:
            raise NotFound(f"no app {app_id} is installed")
        return record

    def crashes(self, app_id: str, since_ms: int) -> list[tuple[int, int]]:
        """(time in ms, return code) of the app's crashes at or after *since_ms*, oldest first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT at_ms, returncode FROM app_crash WHERE app_id = ? AND at_ms >= ? "
                "ORDER BY at_ms, rowid",
                (app_id, since_ms),
            ).fetchall()
        return [(int(at), int(code)) for at, code in rows]

    # -- changing ---------------------------------------------------------------------------

    def put_installed(
        self,
        manifest: Manifest,
        *,
        previous_version: str | None,
        grants: Mapping[str, bool | None],
    ) -> AppRecord:
        """Make *manifest* the app's current version, in one transaction.

        *previous_version* must be None or a version whose manifest the registry holds for
        this app (its current or its previous one): that manifest is kept as the previous
        version. *grants* may only name permission ids *manifest* declares (else
        :class:`InvalidArgument`); ids it leaves out are undecided. A new app starts enabled
        and not quarantined; for an installed one both flags and the install time are kept.
        """
        complete = _complete(manifest, grants)
        if previous_version == manifest.version:
            raise InvalidArgument(f"{manifest.id} {previous_version} cannot be its own previous")
        now = self._clock()
        with self._transaction() as db:
            row = db.execute(
                "SELECT version, manifest, previous_version, previous_manifest, installed_at "
                "FROM app WHERE id = ?",
                (manifest.id,),
            ).fetchone()
            previous_raw: str | None = None
            if previous_version is not None:
                if row is not None and previous_version == row["version"]:
                    previous_raw = row["manifest"]
                elif row is not None and previous_version == row["previous_version"]:
                    previous_raw = row["previous_manifest"]
                else:
                    raise InvalidArgument(
                        f"the registry holds no manifest of {manifest.id} {previous_version}"
                    )
            if row is None:
                db.execute(
                    "INSERT INTO app (id, version, publisher, manifest, previous_version, "
                    "previous_manifest, grants, enabled, quarantined, installed_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?)",
                    (
                        manifest.id,
                        manifest.version,
                        manifest.publisher,
                        manifest.raw,
                        previous_version,
                        previous_raw,
                        json.dumps(complete),
                        now,
                        now,
                    ),
                )
            else:
                db.execute(
                    "UPDATE app SET version = ?, publisher = ?, manifest = ?, "
                    "previous_version = ?, previous_manifest = ?, grants = ?, updated_at = ? "
                    "WHERE id = ?",
                    (
                        manifest.version,
                        manifest.publisher,
                        manifest.raw,
                        previous_version,
                        previous_raw,
                        json.dumps(complete),
                        now,
                        manifest.id,
                    ),
                )
        return self.get(manifest.id)

    def forget_previous(self, app_id: str) -> AppRecord:
        """Drop the previous version (rollback is then impossible); :class:`NotFound`."""
        with self._transaction() as db:
            self._require(db, app_id)
            db.execute(
                "UPDATE app SET previous_version = NULL, previous_manifest = NULL WHERE id = ?",
                (app_id,),
            )
        return self.get(app_id)

    def set_grants(self, app_id: str, grants: Mapping[str, bool]) -> AppRecord:
        """Record the user's decisions for the ids in *grants*; the others stay as they are.

        :class:`InvalidArgument` for an id the app's current manifest does not declare or a
        decision that is not a bool; :class:`NotFound` for an app that is not installed.
        """
        with self._transaction() as db:
            record = self._require(db, app_id)
            for permission, decision in grants.items():
                if not isinstance(decision, bool):
                    raise InvalidArgument(f"the decision for {permission} must be true or false")
            merged = _complete(record.manifest, {**record.grants, **grants})
            db.execute(
                "UPDATE app SET grants = ?, updated_at = ? WHERE id = ?",
                (json.dumps(merged), self._clock(), app_id),
            )
        return self.get(app_id)

    def set_enabled(self, app_id: str, enabled: bool) -> AppRecord:
        """Whether the app starts with the car; :class:`NotFound`."""
        return self._set_flag(app_id, "enabled", enabled)

    def set_quarantined(self, app_id: str, quarantined: bool) -> AppRecord:
        """Whether the app is held back after crashing too often; :class:`NotFound`."""
        return self._set_flag(app_id, "quarantined", quarantined)

    def _set_flag(self, app_id: str, column: str, value: bool) -> AppRecord:
        with self._transaction() as db:
            self._require(db, app_id)
            db.execute(f"UPDATE app SET {column} = ? WHERE id = ?", (int(value), app_id))
        return self.get(app_id)

    def record_crash(self, app_id: str, returncode: int) -> None:
        """Note that the app's process ended abnormally now; :class:`NotFound`."""
        with self._transaction() as db:
            self._require(db, app_id)
            db.execute(
                "INSERT INTO app_crash (app_id, at_ms, returncode) VALUES (?, ?, ?)",
                (app_id, self._clock(), int(returncode)),
            )
            db.execute(
                "DELETE FROM app_crash WHERE app_id = ? AND rowid NOT IN (SELECT rowid FROM "
                "app_crash WHERE app_id = ? ORDER BY at_ms DESC, rowid DESC LIMIT ?)",
                (app_id, app_id, CRASHES_KEPT),
            )

    def delete(self, app_id: str) -> None:
        """Forget the app and its crashes, in one transaction; :class:`NotFound`."""
        with self._transaction() as db:
            self._require(db, app_id)
            db.execute("DELETE FROM app_crash WHERE app_id = ?", (app_id,))
            db.execute("DELETE FROM app WHERE id = ?", (app_id,))

    def _require(self, db: sqlite3.Connection, app_id: str) -> AppRecord:
        row = db.execute(f"SELECT {self._COLUMNS} FROM app WHERE id = ?", (app_id,)).fetchone()
        if row is None:
            raise NotFound(f"no app {app_id} is installed")
        return self._record(row)
