"""Install, update, rollback and remove with real packages, directories and registry files."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from carmesh.apps.grants import GrantPolicy
from carmesh.apps.installer import Installer
from carmesh.apps.manifest import MANIFEST_NAME
from carmesh.apps.registry import AppRecord, AppRegistry
from carmesh.apps.signing import PublisherKey, TrustStore
from carmesh.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PackageRejected,
)
from tests.apps.support import dev_key, make_package, trust_store

APP = "org.example.hello"
PERMISSIONS: dict[str, Any] = {"read": ["Vehicle.Speed"], "notifications": True, "network": True}


@dataclass
class Car:
    tmp_path: Path
    root: Path
    key: PublisherKey
    trust: TrustStore
    registry: AppRegistry
    installer: Installer

    def package(self, version: str = "1.0.0", app_id: str = APP, **source: Any) -> bytes:
        source.setdefault("permissions", PERMISSIONS)
        key = source.pop("key", self.key)
        return make_package(self.tmp_path / "build", app_id, key, version=version, **source)

    def reopen(self, policy: GrantPolicy | None = None) -> None:
        self.registry.close()
        self.registry = AppRegistry(self.root / "registry.db")
        self.installer = Installer(self.root, self.registry, self.trust, policy=policy)

    def tree(self) -> list[str]:
        """Every directory below packages/, data/, logs/ and staging/, relative to the root."""
        found = []
        for top in ("packages", "data", "logs", "staging"):
            for path in sorted((self.root / top).rglob("*")):
                if path.is_dir() and path.parent.name != "__pycache__":
                    relative = path.relative_to(self.root)
                    if len(relative.parts) <= 3:
                        found.append(str(relative))
        return found


@pytest.fixture
def car(tmp_path: Path) -> Iterator[Car]:
    key = dev_key(tmp_path)
    trust = trust_store(tmp_path, key)
    root = tmp_path / "apps"
    registry = AppRegistry(root / "registry.db")
    car = Car(tmp_path, root, key, trust, registry, Installer(root, registry, trust))
    yield car
    car.registry.close()


def versions(record: AppRecord) -> tuple[str, str | None]:
    return record.version, record.previous_version


def test_install_extracts_read_only_and_registers(car: Car) -> None:
    record = car.installer.install(car.package())
    assert versions(record) == ("1.0.0", None)
    assert record.grants == {"read:Vehicle.Speed": None, "notifications": None, "network": None}
    assert record.enabled and not record.quarantined
    directory = car.installer.package_dir(APP)
    assert directory == car.root / "packages" / APP / "1.0.0"
    assert sorted(p.name for p in directory.iterdir()) == ["app.py", MANIFEST_NAME]
    assert stat.S_IMODE(directory.stat().st_mode) == 0o555
    assert stat.S_IMODE((directory / "app.py").stat().st_mode) == 0o444
    assert list((car.root / "staging").iterdir()) == []
    assert car.registry.get(APP) == record
    assert car.installer.check(APP) == []


def test_install_from_a_file_and_grant_modes(car: Car) -> None:
    path = car.tmp_path / "hello.cmapp"
    path.write_bytes(car.package())
    assert set(car.installer.install(path, grant="all").grants.values()) == {True}
    other = car.package(app_id="org.example.other")
    assert set(car.installer.install(other, grant="none").grants.values()) == {False}


def test_install_refusals_leave_nothing_behind(car: Car) -> None:
    car.installer.install(car.package())
    before = car.tree()
    with pytest.raises(AlreadyExists, match="installed already; update it"):
        car.installer.install(car.package("2.0.0"))
    with pytest.raises(InvalidArgument, match="grant must be one of"):
        car.installer.install(car.package(app_id="org.example.other"), grant="maybe")
    stranger = dev_key(car.tmp_path, "org.stranger")
    with pytest.raises(PackageRejected, match="untrusted"):
        car.installer.install(car.package(app_id="org.stranger.app", key=stranger))
    with pytest.raises(PackageRejected, match="zip"):
        car.installer.install(b"definitely not a package")
    assert car.tree() == before
    assert [r.id for r in car.registry.apps()] == [APP]


def test_update_keeps_one_previous_version(car: Car) -> None:
    car.installer.install(car.package("1.0.0"))
    record = car.installer.update(APP, car.package("1.1.0"))
    assert versions(record) == ("1.1.0", "1.0.0")
    assert record.previous_manifest is not None
    assert record.previous_manifest.version == "1.0.0"
    assert (car.root / "packages" / APP / "1.0.0" / MANIFEST_NAME).is_file()
    record = car.installer.update(APP, car.package("2.0.0-rc.1"))
    assert versions(record) == ("2.0.0-rc.1", "1.1.0")
    assert sorted(p.name for p in (car.root / "packages" / APP).iterdir()) == [
        "1.1.0",
        "2.0.0-rc.1",
    ]
    assert car.installer.package_dir(APP).name == "2.0.0-rc.1"
    assert car.installer.check(APP) == []
    assert list((car.root / "staging").iterdir()) == []


@pytest.mark.parametrize(
    ("version", "app_id", "publisher", "fault"),
    [
        ("0.9.0", APP, None, "^downgrade: 0.9.0 is older than the installed 1.0.0"),
        ("1.0.0", APP, None, f"^{APP} 1.0.0 is already installed$"),
        ("1.0.0+rebuild", APP, None, "already installed"),
        ("1.0.0-beta", APP, None, "downgrade"),
        (
            "2.0.0",
            APP,
            "org.other",
            "^wrong publisher: .* by org.example, the package by org.other",
        ),
        ("2.0.0", "org.example.other", None, f"holds the app org.example.other, not {APP}"),
    ],
)
def test_refused_updates_change_nothing(
    car: Car, version: str, app_id: str, publisher: str | None, fault: str
) -> None:
    car.installer.install(car.package("1.0.0"))
    before, tree = car.registry.get(APP), car.tree()
    source: dict[str, Any] = {}
    if publisher is not None:
        source = {"key": dev_key(car.tmp_path, publisher), "publisher": publisher}
        trust_store(car.tmp_path, source["key"])
    with pytest.raises(PackageRejected, match=fault):
        car.installer.update(APP, car.package(version, app_id=app_id, **source))
    assert car.registry.get(APP) == before
    assert car.tree() == tree


def test_update_of_an_app_not_installed(car: Car) -> None:
    with pytest.raises(NotFound, match=f"no app {APP} is installed"):
        car.installer.update(APP, car.package())
    assert car.tree() == []


def test_rollback_swaps_and_can_be_undone(car: Car) -> None:
    car.installer.install(car.package("1.0.0"))
    with pytest.raises(FailedPrecondition, match="no previous version"):
        car.installer.rollback(APP)
    car.installer.update(APP, car.package("2.0.0"))
    back = car.installer.rollback(APP)
    assert versions(back) == ("1.0.0", "2.0.0")
    assert car.installer.package_dir(APP).name == "1.0.0"
    forward = car.installer.rollback(APP)
    assert versions(forward) == ("2.0.0", "1.0.0")
    with pytest.raises(NotFound):
        car.installer.rollback("org.example.missing")


def test_update_to_the_version_rolled_back_from(car: Car) -> None:
    car.installer.install(car.package("1.0.0"))
    car.installer.update(APP, car.package("2.0.0", code="VERSION = 'first build'\n"))
    car.installer.rollback(APP)
    record = car.installer.update(APP, car.package("2.0.0", code="VERSION = 'second build'\n"))
    assert versions(record) == ("2.0.0", "1.0.0")
    app_py = car.installer.package_dir(APP) / "app.py"
    assert app_py.read_text() == "VERSION = 'second build'\n"
    assert car.installer.check(APP) == []
    assert list((car.root / "staging").iterdir()) == []


def test_rollback_refused_when_the_older_files_are_gone(car: Car) -> None:
    car.installer.install(car.package("1.0.0"))
    car.installer.update(APP, car.package("2.0.0"))
    old = car.root / "packages" / APP / "1.0.0"
    old.chmod(0o755)
    (old / MANIFEST_NAME).chmod(0o644)
    (old / MANIFEST_NAME).unlink()
    with pytest.raises(FailedPrecondition, match=r"files of .* 1\.0\.0 are missing"):
        car.installer.rollback(APP)
    assert versions(car.registry.get(APP)) == ("2.0.0", "1.0.0")
    assert car.installer.check(APP) == ["the files of the previous version 1.0.0 are missing"]


def test_data_survives_update_and_rollback_but_not_remove(car: Car) -> None:
    car.installer.install(car.package("1.0.0"))
    data = car.installer.data_dir(APP)
    assert data == car.root / "data" / APP and data.is_dir()
    (data / "state.json").write_text("{}")
    logs = car.installer.log_dir(APP)
    (logs / "app.log").write_text("hello\n")
    car.installer.update(APP, car.package("2.0.0"))
    car.installer.rollback(APP)
    assert (car.installer.data_dir(APP) / "state.json").read_text() == "{}"
    assert (car.installer.log_dir(APP) / "app.log").is_file()

    car.installer.remove(APP)
    assert car.registry.find(APP) is None
    assert car.tree() == []
    with pytest.raises(NotFound):
        car.installer.remove(APP)
    for call in (car.installer.package_dir, car.installer.data_dir, car.installer.log_dir):
        with pytest.raises(NotFound):
            call(APP)

    car.installer.install(car.package("1.0.0"))
    assert list(car.installer.data_dir(APP).iterdir()) == [], "a reinstall starts afresh"


def test_grants_carry_over_to_what_the_new_version_still_declares(car: Car) -> None:
    car.installer.install(car.package("1.0.0"))
    car.registry.set_grants(
        APP, {"read:Vehicle.Speed": True, "notifications": False, "network": True}
    )
    v2 = {"read": ["Vehicle.Speed", "Vehicle.Cabin.*"], "notifications": True, "media": True}
    record = car.installer.update(APP, car.package("2.0.0", permissions=v2))
    assert record.grants == {
        "read:Vehicle.Speed": True,
        "read:Vehicle.Cabin.*": None,
        "notifications": False,
        "media": None,
    }
    car.registry.set_grants(APP, {"media": True})

    back = car.installer.rollback(APP)
    assert back.grants == {
        "read:Vehicle.Speed": True,
        "notifications": False,
        "network": None,  # v2 did not declare it: that decision was dropped
    }
    assert back.granted() == {"read:Vehicle.Speed"}


def test_policy_pre_grants_on_install_update_and_rollback(car: Car) -> None:
    policy = GrantPolicy.parse(
        '[publishers."org.example"]\ngrant = ["read:*", "media"]\n'
        f'[apps."{APP}"]\ngrant = ["notifications"]\ndeny = ["network"]\n'
    )
    car.reopen(policy)
    record = car.installer.install(car.package("1.0.0"))
    assert record.grants == {"read:Vehicle.Speed": True, "notifications": True, "network": False}
    car.registry.set_grants(APP, {"notifications": False, "network": True})
    v2 = {"read": ["Vehicle.Speed", "Vehicle.Cabin.*"], "media": True, "location": True}
    record = car.installer.update(APP, car.package("2.0.0", permissions=v2))
    assert record.grants == {
        "read:Vehicle.Speed": True,
        "read:Vehicle.Cabin.*": True,
        "media": True,
        "location": None,
    }
    back = car.installer.rollback(APP)
    assert back.grants == {"read:Vehicle.Speed": True, "notifications": True, "network": False}
    other = car.installer.install(car.package(app_id="org.example.other"), grant="none")
    assert other.grants == {"read:Vehicle.Speed": True, "notifications": False, "network": False}


def test_a_failed_registry_commit_leaves_no_files(
    car: Car, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> AppRecord:
        raise OSError("disk full")

    monkeypatch.setattr(car.registry, "put_installed", broken)
    with pytest.raises(OSError, match="disk full"):
        car.installer.install(car.package())
    assert car.tree() == [f"packages/{APP}"]
    assert car.registry.find(APP) is None


def test_recover_removes_leftovers_and_keeps_installed_apps(car: Car) -> None:
    car.installer.install(car.package("1.0.0"))
    car.installer.update(APP, car.package("2.0.0"))
    car.installer.data_dir(APP)
    leftovers = [
        car.root / "staging" / "0123456789abcdef",
        car.root / "packages" / "org.ghost.app" / "1.0.0",
        car.root / "packages" / APP / "0.5.0",
        car.root / "data" / "org.ghost.app",
        car.root / "logs" / "org.ghost.app",
    ]
    for path in leftovers:
        (path / "sub").mkdir(parents=True)
        (path / "sub" / "file").write_text("x")
        (path / "sub" / "file").chmod(0o444)
        (path / "sub").chmod(0o555)
    (car.root / "packages" / "stray-file").write_text("x")
    before = car.registry.apps()
    car.reopen()

    recovery = car.installer.recover()
    assert recovery.broken == {}
    assert set(recovery.removed) == {
        car.root / "staging" / "0123456789abcdef",
        car.root / "packages" / "org.ghost.app",
        car.root / "packages" / APP / "0.5.0",
        car.root / "data" / "org.ghost.app",
        car.root / "logs" / "org.ghost.app",
        car.root / "packages" / "stray-file",
    }
    assert car.tree() == [
        f"packages/{APP}",
        f"packages/{APP}/1.0.0",
        f"packages/{APP}/2.0.0",
        f"data/{APP}",
    ]
    assert car.registry.apps() == before
    assert car.installer.recover().removed == []


def test_recover_reports_apps_whose_files_are_missing(
    car: Car, caplog: pytest.LogCaptureFixture
) -> None:
    car.installer.install(car.package("1.0.0"))
    car.installer.install(car.package(app_id="org.example.other"))
    current = car.installer.package_dir(APP)
    current.chmod(0o755)
    for path in current.iterdir():
        path.unlink()
    current.rmdir()

    recovery = car.installer.recover()
    assert recovery.broken == {APP: ["the files of the current version 1.0.0 are missing"]}
    assert "the files of the current version 1.0.0 are missing" in caplog.text
    assert car.registry.find(APP) is not None, "recover never drops a registry row"
    assert car.installer.check("org.example.other") == []
    with pytest.raises(NotFound):
        car.installer.check("org.example.missing")
