"""Installing, updating, rolling back and removing apps: files under ``DATA_DIR/apps`` kept in
step with the registry, so that a crash at any instant leaves a usable car.

Layout (``docs/apps.md``, "Registry and files")::

    packages/ID/VERSION/   the extracted package, read-only (files 0444, directories 0555)
    data/ID/               the app's own data; kept across update and rollback
    logs/ID/               its logs
    staging/               unfinished work; emptied by :meth:`Installer.recover`

The order of every change is what makes it crash-safe. A package is extracted into
``staging/RANDOM``, synced, renamed to ``packages/ID/VERSION`` (atomic on one file system)
and the parent directory synced — only then is the registry row committed. Files are removed
only after the registry stopped referring to them, by renaming them into ``staging/`` first.
So a registry row never points at missing files, and what a crash leaves behind is either
the old state or the new one plus unreferenced directories, which :meth:`Installer.recover`
deletes at the next start. (One change has an intermediate state: an update to the version
that is currently the *previous* one first forgets the previous version, so a crash in the
middle leaves the app at its current version without a rollback target.)
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from carmesh.apps.grants import GRANT_MODES, GrantPolicy, carried_grants, initial_grants
from carmesh.apps.manifest import MANIFEST_NAME, Manifest, compare_versions
from carmesh.apps.package import Package
from carmesh.apps.registry import AppRecord, AppRegistry
from carmesh.apps.signing import TrustStore
from carmesh.errors import (
    AlreadyExists,
    CarmeshError,
    FailedPrecondition,
    InvalidArgument,
    PackageRejected,
)

log = logging.getLogger(__name__)

_FILE_MODE = 0o444
_DIR_MODE = 0o555
_WRITABLE_DIR_MODE = 0o755


@dataclass
class Recovery:
    """What :meth:`Installer.recover` found: leftovers it deleted, and installed apps whose
    files are not as the registry says (by app id, one sentence per problem)."""

    removed: list[Path] = field(default_factory=list)
    broken: dict[str, list[str]] = field(default_factory=dict)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _seal_and_sync(top: Path) -> None:
    """Make everything below *top* read-only, and sync the directories of the tree.

    The files' content is durable already (:meth:`Package.extract_to` syncs every file). *top*
    stays writable: a directory can only be renamed into another one while it is.
    """
    for directory, dirnames, filenames in os.walk(top, topdown=False):
        base = Path(directory)
        for name in filenames:
            os.chmod(base / name, _FILE_MODE)
        for name in dirnames:
            path = base / name
            if not path.is_symlink():
                os.chmod(path, _DIR_MODE)
        _fsync(base)


def _rmtree(path: Path) -> None:
    """Delete *path* (a file or a tree, read-only parts included); missing is fine."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return
    for directory, dirnames, _ in os.walk(path):
        os.chmod(directory, _WRITABLE_DIR_MODE)
        dirnames[:] = [d for d in dirnames if not Path(directory, d).is_symlink()]
        for name in dirnames:
            os.chmod(Path(directory, name), _WRITABLE_DIR_MODE)
    shutil.rmtree(path)


class Installer:
    """The only code that changes ``packages/``, ``data/`` and ``logs/`` of installed apps.

    Every method raises carmesh errors: :class:`PackageRejected` for a package the car will
    not take, :class:`NotFound` for an app that is not installed, :class:`AlreadyExists`,
    :class:`FailedPrecondition`. Calls are serialised; the object may be used from threads.
    """

    def __init__(
        self,
        root: Path,
        registry: AppRegistry,
        trust: TrustStore,
        *,
        policy: GrantPolicy | None = None,
    ) -> None:
        """Work under *root* (``DATA_DIR/apps``), creating its directories; *policy* holds the
        integrator's pre-decisions, applied on install, update and rollback."""
        self.root = root
        self.registry = registry
        self.trust = trust
        self.policy = policy
        self.packages = root / "packages"
        self.data = root / "data"
        self.logs = root / "logs"
        self.staging = root / "staging"
        self._lock = threading.RLock()
        for directory in (self.packages, self.data, self.logs, self.staging):
            directory.mkdir(parents=True, exist_ok=True)

    # -- paths ------------------------------------------------------------------------------

    def package_dir(self, app_id: str) -> Path:
        """The extracted current version of an installed app; :class:`NotFound`."""
        return self._version_dir(app_id, self.registry.get(app_id).version)

    def data_dir(self, app_id: str) -> Path:
        """The app's data directory (created when missing); :class:`NotFound`."""
        return self._own_dir(self.data, app_id)

    def log_dir(self, app_id: str) -> Path:
        """The app's log directory (created when missing); :class:`NotFound`."""
        return self._own_dir(self.logs, app_id)

    def _own_dir(self, parent: Path, app_id: str) -> Path:
        self.registry.get(app_id)
        directory = parent / app_id
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _version_dir(self, app_id: str, version: str) -> Path:
        return self.packages / app_id / version

    # -- changes ----------------------------------------------------------------------------

    def install(self, package: bytes | Path | Package, *, grant: str = "ask") -> AppRecord:
        """Install a new app from a package (bytes, a file, or one already read).

        *grant* decides every permission the policy does not: ``ask`` leaves it undecided,
        ``all`` grants it, ``none`` denies it. :class:`AlreadyExists` when the app is installed
        (use :meth:`update`); :class:`InvalidArgument` for another *grant*.
        """
        if grant not in GRANT_MODES:
            raise InvalidArgument(f"grant must be one of {', '.join(GRANT_MODES)}, not {grant!r}")
        read = self._read(package)
        manifest = read.manifest
        with self._lock:
            installed = self.registry.find(manifest.id)
            if installed is not None:
                raise AlreadyExists(
                    f"{manifest.id} {installed.version} is installed already; "
                    "update it instead of installing it"
                )
            grants = initial_grants(manifest, grant, self.policy)
            target = self._place(read)
            try:
                return self.registry.put_installed(manifest, previous_version=None, grants=grants)
            except BaseException:
                self._discard_unless_referenced(manifest.id, target)
                raise

    def update(self, app_id: str, package: bytes | Path | Package) -> AppRecord:
        """Replace *app_id*'s current version by a newer one from the same publisher.

        The current version becomes the previous one (the one before it is deleted). Decisions
        for permissions the new version still declares are kept; new ones take the policy's
        pre-decision or stay undecided. :class:`PackageRejected` for a package of another app,
        another publisher, or a version not above the installed one.
        """
        read = self._read(package)
        manifest = read.manifest
        with self._lock:
            current = self.registry.get(app_id)
            if manifest.id != app_id:
                raise PackageRejected(f"the package holds the app {manifest.id}, not {app_id}")
            if manifest.publisher != current.publisher:
                raise PackageRejected(
                    f"wrong publisher: {app_id} is published by {current.publisher}, "
                    f"the package by {manifest.publisher}"
                )
            order = compare_versions(manifest.version, current.version)
            if order == 0:
                raise PackageRejected(f"{app_id} {current.version} is already installed")
            if order < 0:
                raise PackageRejected(
                    f"downgrade: {manifest.version} is older than the installed "
                    f"{current.version} (roll back instead, or remove the app first)"
                )
            grants = carried_grants(current.grants, manifest, self.policy)
            dropped = current.previous_version
            if dropped == manifest.version:
                current = self.registry.forget_previous(app_id)
                dropped = None
            target = self._place(read)
            try:
                record = self.registry.put_installed(
                    manifest, previous_version=current.version, grants=grants
                )
            except BaseException:
                self._discard_unless_referenced(app_id, target)
                raise
            if dropped is not None and dropped not in (record.version, record.previous_version):
                self._discard(self._version_dir(app_id, dropped))
            return record

    def rollback(self, app_id: str) -> AppRecord:
        """Swap the current and previous versions (so a second rollback undoes the first).

        Decisions for permissions the older version does not declare are dropped.
        :class:`FailedPrecondition` when there is no previous version (or its files are gone).
        """
        with self._lock:
            current = self.registry.get(app_id)
            older = current.previous_manifest
            if older is None:
                raise FailedPrecondition(f"{app_id} has no previous version to roll back to")
            if not (self._version_dir(app_id, older.version) / MANIFEST_NAME).is_file():
                raise FailedPrecondition(
                    f"the files of {app_id} {older.version} are missing; it cannot be restored"
                )
            grants = carried_grants(current.grants, older, self.policy)
            return self.registry.put_installed(
                older, previous_version=current.version, grants=grants
            )

    def remove(self, app_id: str) -> None:
        """Uninstall: the registry row first, then the packages, data and logs of the app."""
        with self._lock:
            self.registry.delete(app_id)
            for parent in (self.packages, self.data, self.logs):
                self._discard(parent / app_id)

    # -- crash recovery ---------------------------------------------------------------------

    def recover(self) -> Recovery:
        """Bring the files in line with the registry; call once at start, before apps run.

        Deletes everything in ``staging/`` and every package, data or log directory no
        registry row refers to. Never raises for what it finds: installed apps whose files are
        missing or do not match are logged and listed in the result (see :meth:`check`).
        """
        recovery = Recovery()
        with self._lock:
            for leftover in sorted(self.staging.iterdir()):
                _rmtree(leftover)
                recovery.removed.append(leftover)
            records = {record.id: record for record in self.registry.apps()}
            for app_dir in sorted(self.packages.iterdir()):
                record = records.get(app_dir.name)
                if record is None or not app_dir.is_dir() or app_dir.is_symlink():
                    self._discard(app_dir)
                    recovery.removed.append(app_dir)
                    continue
                keep = {record.version, record.previous_version}
                for version_dir in sorted(app_dir.iterdir()):
                    if version_dir.name not in keep:
                        self._discard(version_dir)
                        recovery.removed.append(version_dir)
            for parent in (self.data, self.logs):
                for own in sorted(parent.iterdir()):
                    if own.name not in records:
                        self._discard(own)
                        recovery.removed.append(own)
            for app_id in records:
                problems = self.check(app_id)
                if problems:
                    recovery.broken[app_id] = problems
                    for problem in problems:
                        log.warning("app %s: %s", app_id, problem)
        for path in recovery.removed:
            log.info("removed the leftover %s", path)
        return recovery

    def check(self, app_id: str) -> list[str]:
        """What is wrong with the files of an installed app (empty when nothing is).

        Checks that the current and previous versions are extracted and hold a manifest with
        the id and version the registry names. :class:`NotFound` for an unknown app.
        """
        record = self.registry.get(app_id)
        problems: list[str] = []
        versions = [("current", record.version)]
        if record.previous_version is not None:
            versions.append(("previous", record.previous_version))
        for role, version in versions:
            manifest_path = self._version_dir(app_id, version) / MANIFEST_NAME
            try:
                found = Manifest.parse(manifest_path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                problems.append(f"the files of the {role} version {version} are missing")
                continue
            except (OSError, UnicodeDecodeError, CarmeshError) as exc:
                problems.append(f"the manifest of the {role} version {version} is unusable: {exc}")
                continue
            if (found.id, found.version) != (app_id, version):
                problems.append(
                    f"the {role} version's directory {version} holds {found.id} {found.version}"
                )
        return problems

    # -- steps ------------------------------------------------------------------------------

    def _read(self, package: bytes | Path | Package) -> Package:
        if isinstance(package, Package):
            return package
        return Package.read(package, self.trust)

    def _place(self, package: Package) -> Path:
        """Extract *package* to ``packages/ID/VERSION`` durably; returns that directory.

        A directory already there is not referenced by the registry (callers make sure) and
        is replaced.
        """
        manifest = package.manifest
        work = self.staging / secrets.token_hex(8)
        try:
            package.extract_to(work)
            _seal_and_sync(work)
            app_dir = self.packages / manifest.id
            if not app_dir.is_dir():
                app_dir.mkdir()
                _fsync(self.packages)
            target = app_dir / manifest.version
            if target.exists() or target.is_symlink():
                self._discard(target)
            os.rename(work, target)
        except BaseException:
            _rmtree(work)
            raise
        _fsync(app_dir)
        os.chmod(target, _DIR_MODE)
        _fsync(target)
        return target

    def _discard_unless_referenced(self, app_id: str, version_dir: Path) -> None:
        """After a failed commit: delete *version_dir* unless the registry refers to it after
        all (when in doubt it stays, and :meth:`recover` decides at the next start)."""
        try:
            record = self.registry.find(app_id)
        except Exception:
            return
        if record is None or version_dir.name not in (record.version, record.previous_version):
            self._discard(version_dir)

    def _discard(self, path: Path) -> None:
        """Delete *path*: renamed into ``staging/`` at once, then deleted (so an interrupted
        deletion leaves only staging leftovers). Failures are logged, not raised."""
        if not (path.exists() or path.is_symlink()):
            return
        trash = self.staging / f"trash-{secrets.token_hex(8)}"
        try:
            if path.is_dir() and not path.is_symlink():
                os.chmod(path, _WRITABLE_DIR_MODE)
            os.rename(path, trash)
        except OSError as exc:
            log.warning("could not move %s aside (%s); deleting it in place", path, exc)
            trash = path
        try:
            _rmtree(trash)
        except OSError as exc:
            log.warning("could not delete %s: %s", trash, exc)
