"""``carmesh app new``: the scaffolded app packages, installs and passes its own tests."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from carmesh.apps.manifest import MANIFEST_NAME, Manifest, platform_version
from carmesh.apps.package import Package, build_package
from carmesh.apps.scaffold import default_publisher, module_name, new_app
from carmesh.errors import AlreadyExists, InvalidArgument

from .support import dev_key, trust_store


def test_new_app_builds_and_reads(tmp_path: Path) -> None:
    directory = new_app("org.example.hello", tmp_path / "hello")
    assert directory == tmp_path / "hello"
    key = dev_key(tmp_path)
    package = Package.read(build_package(directory, key), trust_store(tmp_path, key))
    manifest = package.manifest
    assert manifest.id == "org.example.hello"
    assert manifest.publisher == "org.example"
    assert manifest.version == "0.1.0"
    assert manifest.entry == "hello.app:main"
    assert manifest.min_platform == platform_version()
    assert manifest.names == {"en": "Hello", "zh-CN": "Hello"}
    assert manifest.permissions == ("read:Vehicle.Speed",)
    assert manifest.templates == ("pane",)
    assert manifest.icon == "icon.svg"
    assert sorted(package.members) == [
        "README.md",
        MANIFEST_NAME,
        "hello/__init__.py",
        "hello/app.py",
        "hello/view.py",
        "icon.svg",
        "pyproject.toml",
        "tests/test_app.py",
    ]
    assert (tmp_path / "hello-0.1.0.cmapp").is_file()


def test_the_generated_tests_pass(tmp_path: Path) -> None:
    directory = new_app("org.example.speed-check", tmp_path / "speed")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(directory / "tests")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_names_publisher_and_odd_characters(tmp_path: Path) -> None:
    name = 'Say "hi" \\ $x'
    directory = new_app(
        "com.acme.3d-view", tmp_path / "x", publisher="com.acme.apps", name_en=name, name_zh="三维"
    )
    manifest = Manifest.parse((directory / MANIFEST_NAME).read_text())
    assert manifest.names == {"en": name, "zh-CN": "三维"}
    assert manifest.publisher == "com.acme.apps"
    assert manifest.entry == "app_3d_view.app:main"
    view: dict[str, Any] = {}
    exec((directory / "app_3d_view" / "view.py").read_text(), view)
    assert view["TITLE"] == {"en": name, "zh-CN": "三维"}
    compile((directory / "app_3d_view" / "app.py").read_text(), "app.py", "exec")
    assert '# Say "hi" \\ $x' in (directory / "README.md").read_text()


def test_refusals(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")
    with pytest.raises(AlreadyExists, match=r"exists and is not empty"):
        new_app("org.example.hello", tmp_path / "taken")
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["file"]
    (tmp_path / "a-file").write_text("")
    with pytest.raises(AlreadyExists):
        new_app("org.example.hello", tmp_path / "a-file")
    with pytest.raises(InvalidArgument, match=r"is not an app id"):
        new_app("Hello", tmp_path / "h")
    with pytest.raises(InvalidArgument, match=r"is not a publisher id"):
        new_app("org.example.hello", tmp_path / "h", publisher="example")
    with pytest.raises(InvalidArgument, match=r"the app's \[names\] 'en' must hold 1 to 80"):
        new_app("org.example.hello", tmp_path / "h", name_en="x" * 81)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "taken"]


def test_an_empty_directory_is_used(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert (new_app("org.example.hello", tmp_path / "empty") / MANIFEST_NAME).is_file()


@pytest.mark.parametrize(
    ("app_id", "module"),
    [
        ("org.example.hello", "hello"),
        ("org.example.my-app", "my_app"),
        ("org.example.3d", "app_3d"),
        ("org.example.json", "json_app"),
        ("org.example.class", "class_app"),
        ("org.example.carmesh", "carmesh_app"),
        ("org.example.tests", "tests_app"),
    ],
)
def test_module_names(app_id: str, module: str) -> None:
    assert module_name(app_id) == module
    assert module.isidentifier()


def test_default_publisher() -> None:
    assert default_publisher("org.example.hello") == "org.example"
    assert default_publisher("org.hello") == "org.hello"


# --- the generated app against a stand-in car ----------------------------------------------


class FakeCar:
    """Just what the scaffolded app uses: get, subscribe and show."""

    def __init__(self, speeds: list[float | None]) -> None:
        self.speeds = speeds
        self.shown: list[dict[str, Any]] = []

    async def get(self, path: str) -> float | None:
        assert path == "Vehicle.Speed"
        return self.speeds[0]

    async def subscribe(self, paths: list[str]) -> AsyncIterator[dict[str, Any]]:
        assert paths == ["Vehicle.Speed"]
        for speed in self.speeds[1:]:
            yield {"Vehicle.Speed": speed}

    async def show(self, template: Any) -> bool:
        from carmesh.apps.templates import template_json

        self.shown.append(template_json(template))
        return False


@pytest.fixture
def generated_app(tmp_path: Path) -> Iterator[Any]:
    pytest.importorskip("carmesh.sdk")  # written in parallel; the app's own tests need none
    directory = new_app("org.example.scaffoldcheck", tmp_path / "app")
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module("scaffoldcheck.app")
    finally:
        sys.path.remove(str(directory))
        for name in [m for m in sys.modules if m.split(".")[0] == "scaffoldcheck"]:
            del sys.modules[name]


async def test_the_generated_app_shows_the_speed(generated_app: Any) -> None:
    car = FakeCar([None, 12.3, 50.0])
    await generated_app.main(car)
    values = [template["rows"][0]["value"] for template in car.shown]
    assert values == ["—", "12 km/h", "50 km/h"]
    assert {template["type"] for template in car.shown} == {"pane"}
    assert car.shown[0]["title"] == {"en": "Scaffoldcheck", "zh-CN": "Scaffoldcheck"}
    assert car.shown[0]["rows"][0]["label"] == {"en": "Speed", "zh-CN": "车速"}
