"""The app registry on real SQLite files: what it stores, refuses, and keeps across reopen."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from carmesh.apps.manifest import Manifest
from carmesh.apps.registry import CRASHES_KEPT, SCHEMA_VERSION, AppRegistry
from carmesh.errors import ConfigError, InvalidArgument, NotFound

APP = "org.example.hello"


def manifest(
    version: str = "1.0.0",
    *,
    app_id: str = APP,
    publisher: str = "org.example",
    read: tuple[str, ...] = ("Vehicle.Speed",),
    flags: tuple[str, ...] = ("notifications",),
) -> Manifest:
    reads = ", ".join(f'"{p}"' for p in read)
    flag_lines = "".join(f"{flag} = true\n" for flag in flags)
    return Manifest.parse(
        f'id = "{app_id}"\nversion = "{version}"\npublisher = "{publisher}"\n'
        'entry = "hello.app:main"\nmin_platform = "0.1.0"\n'
        '[names]\nen = "Hello"\n"zh-CN" = "你好"\n'
        f"[permissions]\nread = [{reads}]\n{flag_lines}"
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 1000
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(tmp_path: Path, clock: Clock) -> Iterator[AppRegistry]:
    registry = AppRegistry(tmp_path / "apps" / "registry.db", clock=clock)
    yield registry
    registry.close()


def test_new_registry_is_empty_wal_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "apps" / "registry.db"
    registry = AppRegistry(path)
    assert registry.apps() == []
    assert registry.find(APP) is None
    with pytest.raises(NotFound, match=f"^no app {APP} is installed$"):
        registry.get(APP)
    registry.close()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("SELECT version FROM schema").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        raw.close()


def test_install_stores_every_declared_permission_in_manifest_order(
    registry: AppRegistry, clock: Clock
) -> None:
    m = manifest(read=("Vehicle.Speed", "Vehicle.Cabin.*"), flags=("notifications", "network"))
    record = registry.put_installed(m, previous_version=None, grants={"network": False})
    assert list(record.grants) == [
        "read:Vehicle.Speed",
        "read:Vehicle.Cabin.*",
        "notifications",
        "network",
    ]
    assert record.grants == {
        "read:Vehicle.Speed": None,
        "read:Vehicle.Cabin.*": None,
        "notifications": None,
        "network": False,
    }
    assert record.granted() == frozenset()
    assert (record.id, record.version, record.publisher) == (APP, "1.0.0", "org.example")
    assert record.previous_version is None and record.previous_manifest is None
    assert record.manifest == m
    assert record.enabled and not record.quarantined
    assert record.installed_at == record.updated_at == clock.now
    assert registry.apps() == [record]


def test_grants_for_undeclared_permissions_are_refused(registry: AppRegistry) -> None:
    with pytest.raises(InvalidArgument, match="does not declare the permission network"):
        registry.put_installed(manifest(), previous_version=None, grants={"network": True})
    assert registry.apps() == []
    registry.put_installed(manifest(), previous_version=None, grants={})
    with pytest.raises(InvalidArgument, match="network"):
        registry.set_grants(APP, {"read:Vehicle.Speed": True, "network": True})
    assert registry.get(APP).grants == {"read:Vehicle.Speed": None, "notifications": None}
    with pytest.raises(InvalidArgument, match="true or false"):
        registry.set_grants(APP, {"notifications": "yes"})  # type: ignore[dict-item]


def test_set_grants_changes_only_the_named_ids(registry: AppRegistry, clock: Clock) -> None:
    registry.put_installed(manifest(), previous_version=None, grants={"notifications": False})
    record = registry.set_grants(APP, {"read:Vehicle.Speed": True})
    assert record.grants == {"read:Vehicle.Speed": True, "notifications": False}
    assert record.granted() == {"read:Vehicle.Speed"}
    assert record.updated_at == clock.now > record.installed_at
    with pytest.raises(NotFound):
        registry.set_grants("org.example.other", {"notifications": True})


def test_update_keeps_the_previous_manifest_and_rollback_swaps(
    registry: AppRegistry, clock: Clock
) -> None:
    v1, v2 = manifest("1.0.0"), manifest("2.0.0", flags=("media",))
    first = registry.put_installed(v1, previous_version=None, grants={"notifications": True})
    registry.set_enabled(APP, False)
    registry.set_quarantined(APP, True)

    updated = registry.put_installed(v2, previous_version="1.0.0", grants={"media": True})
    assert (updated.version, updated.previous_version) == ("2.0.0", "1.0.0")
    assert updated.manifest == v2 and updated.previous_manifest == v1
    assert updated.grants == {"read:Vehicle.Speed": None, "media": True}
    assert updated.installed_at == first.installed_at < updated.updated_at
    assert not updated.enabled and updated.quarantined, "flags survive an update"

    back = registry.put_installed(v1, previous_version="2.0.0", grants={})
    assert (back.version, back.previous_version) == ("1.0.0", "2.0.0")
    assert back.manifest == v1 and back.previous_manifest == v2

    forward = registry.put_installed(v2, previous_version="1.0.0", grants={})
    assert (forward.version, forward.previous_version) == ("2.0.0", "1.0.0")

    forgotten = registry.forget_previous(APP)
    assert forgotten.previous_version is None and forgotten.previous_manifest is None


def test_previous_version_must_be_one_the_registry_holds(registry: AppRegistry) -> None:
    with pytest.raises(InvalidArgument, match="holds no manifest"):
        registry.put_installed(manifest("2.0.0"), previous_version="1.0.0", grants={})
    assert registry.apps() == []
    registry.put_installed(manifest("1.0.0"), previous_version=None, grants={})
    with pytest.raises(InvalidArgument, match="holds no manifest"):
        registry.put_installed(manifest("3.0.0"), previous_version="2.0.0", grants={})
    with pytest.raises(InvalidArgument, match="its own previous"):
        registry.put_installed(manifest("1.0.0"), previous_version="1.0.0", grants={})
    record = registry.get(APP)
    assert (record.version, record.previous_version) == ("1.0.0", None)


def test_flags_and_missing_apps(registry: AppRegistry) -> None:
    registry.put_installed(manifest(), previous_version=None, grants={})
    assert not registry.set_enabled(APP, False).enabled
    assert registry.set_quarantined(APP, True).quarantined
    assert registry.set_enabled(APP, True).enabled
    assert not registry.set_quarantined(APP, False).quarantined
    for call in (
        lambda: registry.set_enabled("org.x.y", True),
        lambda: registry.set_quarantined("org.x.y", True),
        lambda: registry.record_crash("org.x.y", 1),
        lambda: registry.delete("org.x.y"),
        lambda: registry.forget_previous("org.x.y"),
    ):
        with pytest.raises(NotFound, match=r"^no app org\.x\.y is installed$"):
            call()


def test_crashes_are_recorded_bounded_and_deleted_with_the_app(
    registry: AppRegistry, clock: Clock
) -> None:
    registry.put_installed(manifest(), previous_version=None, grants={})
    start = clock.now
    registry.record_crash(APP, 1)
    registry.record_crash(APP, -9)
    assert registry.crashes(APP, since_ms=0) == [(start + 1000, 1), (start + 2000, -9)]
    assert registry.crashes(APP, since_ms=start + 1500) == [(start + 2000, -9)]
    for code in range(CRASHES_KEPT + 10):
        registry.record_crash(APP, code)
    kept = registry.crashes(APP, since_ms=0)
    assert len(kept) == CRASHES_KEPT
    assert kept[-1][1] == CRASHES_KEPT + 9, "the newest crashes are kept"
    registry.delete(APP)
    assert registry.find(APP) is None
    assert registry.crashes(APP, since_ms=0) == []
    registry.put_installed(manifest(), previous_version=None, grants={})
    assert registry.crashes(APP, since_ms=0) == [], "a reinstall starts without crashes"


def test_everything_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    first = AppRegistry(path)
    first.put_installed(manifest("1.0.0"), previous_version=None, grants={})
    first.put_installed(manifest("1.1.0"), previous_version="1.0.0", grants={"notifications": True})
    first.put_installed(manifest(app_id="org.example.other"), previous_version=None, grants={})
    first.set_quarantined("org.example.other", True)
    first.record_crash("org.example.other", 3)
    before = first.apps()
    first.close()

    second = AppRegistry(path)
    try:
        assert second.apps() == before
        assert [r.id for r in before] == ["org.example.hello", "org.example.other"]
        assert second.get(APP).previous_manifest == manifest("1.0.0")
        assert [code for _, code in second.crashes("org.example.other", 0)] == [3]
    finally:
        second.close()


def test_closed_registry_refuses_use(tmp_path: Path) -> None:
    registry = AppRegistry(tmp_path / "registry.db")
    registry.close()
    registry.close()
    with pytest.raises(RuntimeError, match="closed"):
        registry.apps()


def test_concurrent_changes_from_threads_are_all_kept(registry: AppRegistry) -> None:
    ids = [f"org.example.app{i}" for i in range(8)]
    for app_id in ids:
        registry.put_installed(manifest(app_id=app_id), previous_version=None, grants={})

    def work(app_id: str) -> None:
        for n in range(20):
            registry.set_grants(app_id, {"notifications": n % 2 == 0})
            registry.record_crash(app_id, n)

    threads = [threading.Thread(target=work, args=(app_id,)) for app_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for app_id in ids:
        assert registry.get(app_id).grants["notifications"] is False
        assert len(registry.crashes(app_id, 0)) == 20


@pytest.mark.parametrize(
    "garbage",
    [b"not a database at all\n" * 50, b"SQLite format 3\x00" + b"\xff" * 4080],
    ids=["text", "bad-header"],
)
def test_corrupt_file_is_refused_and_kept(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "registry.db"
    path.write_bytes(garbage)
    with pytest.raises(ConfigError, match="not a usable carmesh app registry") as caught:
        AppRegistry(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.db"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    AppRegistry(path).close()
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("UPDATE schema SET version = 99")
    raw.close()
    with pytest.raises(ConfigError, match="newer carmesh"):
        AppRegistry(path)
