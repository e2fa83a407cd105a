"""The example apps in ``examples/apps/``: their own unit tests pass, each builds into a
package the car accepts from the development publisher, and each app's SDK glue
(``app.py``) drives a stand-in car as intended. Installing them into a running car is the
end-to-end test's business."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from carmesh.apps.manifest import MANIFEST_NAME, Manifest
from carmesh.apps.package import Package, build_package
from carmesh.apps.signing import PublisherKey, TrustStore
from carmesh.sdk import ListTemplate, MessageTemplate, PaneTemplate, Template

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apps"
DEV_KEY = EXAMPLES / "dev-publisher.key"
PUBLISHER = "org.carmesh.examples"
#: The carmesh SDK apps and their package modules.
SDK_APPS = {
    "trip-computer": "tripcomputer",
    "charging-assistant": "chargingassistant",
    "seat-memory": "seatmemory",
}
ALL_APPS = sorted(p.name for p in EXAMPLES.iterdir() if (p / MANIFEST_NAME).is_file())
TIMEOUT = 5.0


def test_the_three_sdk_examples_are_there() -> None:
    assert set(SDK_APPS) <= set(ALL_APPS)


@pytest.mark.parametrize("app", sorted(SDK_APPS))
def test_the_examples_own_unit_tests_pass(app: str) -> None:
    tests = EXAMPLES / app / "tests"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> TrustStore:
    store = TrustStore(tmp_path_factory.mktemp("trusted"))
    store.add(PUBLISHER, (EXAMPLES / "dev-publisher.key.pub").read_text())
    return store


def test_the_dev_key_is_the_examples_publishers() -> None:
    key = PublisherKey.load(DEV_KEY)
    assert key.publisher == PUBLISHER
    assert "never trust it in a production car" in DEV_KEY.read_text()


@pytest.mark.parametrize("app", ALL_APPS)
def test_each_example_builds_into_a_package_the_car_accepts(
    app: str, trust: TrustStore, tmp_path: Path
) -> None:
    source = EXAMPLES / app
    declared = tomllib.loads((source / MANIFEST_NAME).read_text("utf-8"))
    path = build_package(source, PublisherKey.load(DEV_KEY), tmp_path / f"{app}.cmapp")
    package = Package.read(path, trust)
    manifest = package.manifest
    assert manifest == Manifest.parse((source / MANIFEST_NAME).read_text("utf-8"))
    assert manifest.publisher == PUBLISHER
    assert manifest.id.startswith(PUBLISHER + ".")
    assert set(manifest.names) == {"en", "zh-CN"}
    permissions = declared.get("permissions", {})
    expected = [
        f"{kind}:{pattern}"
        for kind in ("read", "actuate", "provide")
        for pattern in permissions.get(kind, [])
    ] + [
        flag for flag in ("notifications", "media", "location", "network") if permissions.get(flag)
    ]
    assert list(manifest.permissions) == expected
    if app in SDK_APPS:
        assert manifest.icon == "icon.svg"
        assert package.members["icon.svg"].startswith(b"<svg")
        assert manifest.entry == f"{SDK_APPS[app]}.app:main"


def test_build_script_builds_every_example(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "build.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = [Path(line) for line in result.stdout.splitlines()]
    assert printed == [tmp_path / f"{app}.cmapp" for app in ALL_APPS]
    assert all(path.is_file() for path in printed)


def test_the_sdk_examples_read_only_what_their_manifests_declare() -> None:
    """The signals each app's pure module names are exactly its read permissions."""
    for app, package in SDK_APPS.items():
        declared = tomllib.loads((EXAMPLES / app / MANIFEST_NAME).read_text("utf-8"))
        reads = set(declared["permissions"]["read"])
        with importable(app):
            if app == "trip-computer":
                signals = set(importlib.import_module(f"{package}.trip").SIGNALS)
            elif app == "charging-assistant":
                signals = set(importlib.import_module(f"{package}.assistant").SIGNALS)
            else:
                profiles = importlib.import_module(f"{package}.profiles")
                signals = {*profiles.POSITIONS, profiles.SPEED, *profiles.DRIVER_SIGNALS}
                assert set(declared["permissions"]["actuate"]) == set(profiles.POSITIONS)
        assert signals == reads, app


# -- the SDK glue against a stand-in car ----------------------------------------------------------


class FakeSubscription:
    """Hands out what the test feeds, then ends when fed None."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def __aenter__(self) -> FakeSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> FakeSubscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        values = await self.queue.get()
        if values is None:
            raise StopAsyncIteration
        return values


class FakeCar:
    """The parts of :class:`carmesh.sdk.Car` the examples use, recording what they do."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.locale = "en"
        self.driving: dict[str, Any] | None = {"moving": False}
        self.values: dict[str, Any] = {}
        self.shown: list[Template] = []
        self.notified: list[tuple[str, str, str]] = []
        self.actuated: list[dict[str, Any]] = []
        self.subscriptions: dict[str, FakeSubscription] = {}
        self.refuse: Exception | None = None
        self._callbacks: list[Any] = []
        self._shown = asyncio.Event()

    def subscribe(self, paths: list[str] | tuple[str, ...]) -> FakeSubscription:
        subscription = FakeSubscription(list(paths))
        for path in paths:
            self.subscriptions[path] = subscription
        return subscription

    async def get(self, path: str) -> Any:
        return self.values.get(path)

    async def get_many(self, paths: Any) -> dict[str, Any]:
        return {path: self.values.get(path) for path in paths}

    async def actuate(self, targets: dict[str, Any]) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.actuated.append(dict(targets))
        self.values.update(targets)

    async def show(self, template: Template) -> bool:
        self.shown.append(template)
        self._shown.set()
        return False

    async def notify(self, title: str, body: str, priority: str = "normal") -> str:
        self.notified.append((title, body, priority))
        return str(len(self.notified))

    def on_action(self, callback: Any) -> None:
        self._callbacks.append(callback)

    async def tap(self, action: str, item: str | None = None) -> None:
        for callback in self._callbacks:
            await callback(action, item)

    async def feed(self, path: str, values: dict[str, Any]) -> None:
        self.values.update(values)
        await self.subscriptions[path].queue.put(dict(values))

    async def screen(self, wanted: Any) -> Template:
        """Wait until the latest template shown satisfies *wanted*; return it."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                if self.shown and wanted(self.shown[-1]):
                    return self.shown[-1]
                self._shown.clear()
                await self._shown.wait()


class importable:
    """Put an example's root on ``sys.path`` (and take it off again)."""

    def __init__(self, app: str) -> None:
        self.root = str(EXAMPLES / app)

    def __enter__(self) -> None:
        sys.path.insert(0, self.root)

    def __exit__(self, *exc: object) -> None:
        sys.path.remove(self.root)


def app_module(app: str) -> ModuleType:
    with importable(app):
        return importlib.import_module(f"{SDK_APPS[app]}.app")


@pytest.fixture
async def car(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeCar]:
    """Run the example *app* (the test's parameter) against a FakeCar; yield the car."""
    module = app_module(request.param)
    if hasattr(module, "SHOW_INTERVAL_S"):
        monkeypatch.setattr(module, "SHOW_INTERVAL_S", 0.02)
    fake = FakeCar(tmp_path)
    task = asyncio.create_task(module.main(fake))
    try:
        yield fake
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def rows(template: Template) -> dict[str, str]:
    assert isinstance(template, PaneTemplate)
    return {r.label["en"]: r.value for r in template.rows}  # type: ignore[index]


def titled(template: Template, english: str) -> bool:
    title = template.title  # type: ignore[union-attr]
    return isinstance(title, dict) and title.get("en") == english


@pytest.mark.parametrize("car", ["trip-computer"], indirect=True)
async def test_trip_computer_shows_the_trip_and_its_history(car: FakeCar) -> None:
    trip = importlib.import_module("tripcomputer.trip")
    start = {trip.SPEED: 0.0, trip.ODOMETER: 10_000, trip.ENERGY: 100.0, trip.SOC: 80.0}
    await car.feed(trip.SPEED, {**start, trip.RANGE: 300_000})
    pane = await car.screen(lambda t: isinstance(t, PaneTemplate))
    assert [a.id for a in pane.actions] == ["reset", "history"]
    await car.feed(trip.SPEED, {trip.SPEED: 60.0, trip.ODOMETER: 11_500, trip.ENERGY: 100.3})
    pane = await car.screen(lambda t: rows(t)["Distance"] == "1.5 km")
    assert rows(pane)["Consumption"] == "20.0 kWh/100 km"
    assert rows(pane)["Range"] == "300 km · 80 %"

    await car.tap("history")
    history = await car.screen(lambda t: isinstance(t, ListTemplate))
    assert len(history.items) == 1  # one kilometre completed
    assert history.items[0].title == "20.0 kWh/100 km"
    assert (car.data_dir / "history.jsonl").read_text().count("\n") == 1
    await car.tap("back")
    await car.tap("reset")
    await car.screen(lambda t: isinstance(t, PaneTemplate) and rows(t)["Distance"] == "0.0 km")
    assert (car.data_dir / "trip.json").is_file()


@pytest.mark.parametrize("car", ["charging-assistant"], indirect=True)
async def test_charging_assistant_notifies_and_sets_the_limit(car: FakeCar) -> None:
    a = importlib.import_module("chargingassistant.assistant")
    parked = {a.SOC: 78.0, a.IS_CHARGING: False, a.LIMIT: 80, a.TIME_TO_COMPLETE: 0, a.CABLE: False}
    await car.feed(a.SOC, {**parked, a.RATE: 0.0})
    await car.screen(lambda t: isinstance(t, PaneTemplate) and rows(t)["Battery"] == "78 %")
    await car.feed(a.SOC, {a.CABLE: True, a.IS_CHARGING: True, a.TIME_TO_COMPLETE: 600})
    pane = await car.screen(lambda t: rows(t)["Status"]["en"] == "Charging")
    assert rows(pane)["Time to limit"] == "0:10"
    await car.feed(a.SOC, {a.SOC: 80.0, a.IS_CHARGING: False, a.TIME_TO_COMPLETE: 0})
    await car.screen(lambda t: rows(t)["Status"]["en"] == "Done: at the limit")
    assert [n[0] for n in car.notified] == ["Charged to the limit"]

    await car.tap("limit")
    limits = await car.screen(lambda t: isinstance(t, ListTemplate))
    assert [item.id for item in limits.items] == ["limit-80", "limit-90", "limit-100"]
    await car.tap("select", "limit-90")
    assert car.actuated == [{a.LIMIT: 90}]
    await car.screen(lambda t: isinstance(t, PaneTemplate))

    from carmesh.errors import InvalidArgument

    car.refuse = InvalidArgument("the charge limit cannot change now")
    await car.tap("limit")
    await car.tap("select", "limit-100")
    message = await car.screen(lambda t: isinstance(t, MessageTemplate))
    assert "cannot change now" in message.message


@pytest.mark.parametrize("car", ["seat-memory"], indirect=True)
async def test_seat_memory_saves_recalls_and_refuses_while_moving(car: FakeCar) -> None:
    profiles = importlib.import_module("seatmemory.profiles")
    saved = dict.fromkeys(profiles.POSITIONS, 10)
    car.values.update({**saved, profiles.SEAT: 200, profiles.SPEED: 0.0})
    first = await car.screen(lambda t: isinstance(t, ListTemplate))
    assert [i.id for i in first.items] == ["profile-1", "profile-2", "profile-3"]
    assert [a.id for a in first.actions] == ["save", "use-2", "use-3"]

    await car.tap("save")
    await car.screen(lambda t: titled(t, "Saved to profile 1"))
    stored = (car.data_dir / "profiles.json").read_text()
    assert '"Vehicle.Cabin.Seat.Row1.DriverSide.Position": 200' in stored

    car.values[profiles.SEAT] = 50
    await car.tap("select", "profile-1")
    await car.screen(lambda t: titled(t, "Profile 1 recalled"))
    assert car.actuated == [{**saved, profiles.SEAT: 200}]

    await car.tap("select", "profile-2")  # nothing saved there
    await car.screen(lambda t: isinstance(t, MessageTemplate) and titled(t, "Profile 2 is empty"))
    await car.tap("back")

    car.driving = {"moving": True}
    await car.tap("select", "profile-1")
    await car.screen(lambda t: isinstance(t, MessageTemplate) and titled(t, "Not while driving"))
    assert len(car.actuated) == 1

    car.driving = {"moving": False}
    await car.tap("back")
    await car.feed(profiles.DRIVER, {profiles.DRIVER: "alice"})
    await asyncio.sleep(0.1)  # the app takes the update
    await car.tap("use-3")  # alice chooses profile 3
    await car.screen(lambda t: t.items[2].title["en"] == "Profile 3 (in use)")
    await car.feed(profiles.DRIVER, {profiles.DRIVER: ""})  # alice leaves
    await asyncio.sleep(0.1)
    await car.tap("use-1")  # someone else drives
    await car.screen(lambda t: t.items[0].title["en"] == "Profile 1 (in use)")
    await car.feed(profiles.DRIVER, {profiles.DRIVER: "alice"})  # alice is back
    await car.screen(lambda t: titled(t, "Driver recognised: profile 3"))


@pytest.fixture(autouse=True)
def _forget_example_modules() -> Iterator[None]:
    """Each test imports the examples afresh (their modules hold no state worth sharing)."""
    yield
    for name in list(sys.modules):
        if name.split(".")[0] in SDK_APPS.values():
            del sys.modules[name]
