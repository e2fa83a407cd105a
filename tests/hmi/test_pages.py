"""The centre display and the driver cluster in a real browser against the real ``carmesh run``.

Playwright drives Debian's Chromium (``tests/support/browser.py``) over pages served by a car
that runs the simulator at 20× real time. Every page is watched for the whole test: it must
log no console error and fetch nothing from anywhere but the car's own origin (requests to
other hosts are also blocked, so a regression cannot reach the internet).

Screenshots of the centre display (night and day, English and Chinese, parked and driving)
and of the cluster go to ``$CARMESH_ARTIFACTS`` (default: the test session's temporary
directory).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from kuksa_client.grpc import Datapoint, VSSClient
from playwright.sync_api import Page, Route, WebSocketRoute, expect

from carmesh.vss.glob import matches as glob_matches
from tests.support.browser import PageFactory, browser, new_page  # noqa: F401
from tests.support.car import RunningCar, running_car

I18N = Path(__file__).parents[2] / "src" / "carmesh" / "hmi" / "i18n"
HVAC = "Vehicle.Cabin.HVAC"
DRIVER_SETPOINT = f"{HVAC}.Station.Row1.Driver.Temperature"
CABIN = f"{HVAC}.AmbientAirTemperature"
MEDIA = "Vehicle.Cabin.Infotainment.Media.Played"
DESTINATION = "Vehicle.Cabin.Infotainment.Navigation.DestinationSet"
DOOR = "Vehicle.Cabin.Door.Row1.DriverSide"
TIMEOUT_MS = 15_000
OPEN = re.compile(r"\bopen\b")
ON = re.compile(r"\bon\b")

#: Parked at home on an 11 kW wallbox for hours: powered, climate running, charging.
CHARGING = """
name: Charging at home
start: {soc: 46, outside_temperature: 6}
steps:
  - charge: ac
    power: 11
    until: 90
"""
#: Parked for 8 s (real time), then a steady drive.
PARK_THEN_DRIVE = """
name: Park, then drive
start: {soc: 70, outside_temperature: 14}
steps:
  - park: 160
  - drive: constant
    speed: 50
    duration: 3600
"""
#: Driving at once, left indicator on, with a weak 12 V battery.
CLUSTER = """
name: Motorway with a weak 12 V battery
start: {soc: 72, outside_temperature: 14}
steps:
  - set:
      Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling: true
  - fault: 12v-low
  - drive: constant
    speed: 72
    duration: 3600
"""


def strings(lang: str) -> dict[str, Any]:
    return json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


# -- cars ---------------------------------------------------------------------------------------


def start_car(tmp: Path, scenario: str) -> Iterator[RunningCar]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "scenario.yaml").write_text(scenario)
    args = ("--vehicle", "sim", "--time-scale", "20", "--seed", "5")
    with running_car(tmp / "car", *args, "--scenario", str(tmp / "scenario.yaml")) as car:
        assert car.http_url, "carmesh run printed no http address:\n" + "\n".join(car.output)
        yield car


@pytest.fixture(scope="module")
def charging_car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    yield from start_car(tmp_path_factory.mktemp("charging"), CHARGING)


@pytest.fixture
def driving_car(tmp_path: Path) -> Iterator[RunningCar]:
    yield from start_car(tmp_path, PARK_THEN_DRIVE)


@pytest.fixture(scope="module")
def cluster_car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    yield from start_car(tmp_path_factory.mktemp("cluster"), CLUSTER)


def signal(car: RunningCar, path: str) -> dict[str, Any]:
    """``GET /api/signals/{path}``: value, target and metadata."""
    response = httpx.get(f"{car.http_url}/api/signals/{path}", timeout=5)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def actuate(car: RunningCar, targets: dict[str, Any]) -> None:
    response = httpx.post(f"{car.http_url}/api/actuate", json={"targets": targets}, timeout=10)
    assert response.status_code == 200, response.text


def publish(car: RunningCar, values: dict[str, Any]) -> None:
    """Publish current values over gRPC, as the media and navigation services will."""
    with VSSClient("127.0.0.1", car.grpc_port) as client:
        client.set_current_values({path: Datapoint(v) for path, v in values.items()})


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what or check}")
        time.sleep(0.1)


# -- pages --------------------------------------------------------------------------------------


@dataclass
class Screen:
    """A page under watch: what it requested and what it logged as an error."""

    page: Page
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def local(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.netloc == urlsplit(self.origin).netloc and parts.scheme in ("http", "ws")

    def check(self) -> None:
        foreign = [url for url in self.requests if not self.local(url)]
        assert not foreign, f"requests left the car: {foreign}"
        assert not self.errors, f"console errors: {self.errors}"


@dataclass
class Screens:
    new_page: PageFactory
    artifacts: Path
    opened: list[Screen] = field(default_factory=list)

    def open(
        self,
        car: RunningCar,
        path: str = "/",
        *,
        sockets: Callable[[WebSocketRoute], None] | None = None,
        **settings: str,
    ) -> Page:
        """Open *path* of *car* with these display settings and wait for the live link;
        *sockets* handles the page's WebSockets (Playwright's ``route_web_socket``)."""
        size = "cluster" if path.startswith("/cluster") else "centre"
        page = self.new_page(size)
        screen = Screen(page, car.http_url)
        self.opened.append(screen)
        page.on("request", lambda request: screen.requests.append(request.url))
        page.on("websocket", lambda ws: screen.requests.append(ws.url))
        page.on("console", lambda m: m.type == "error" and screen.errors.append(m.text))
        page.on("pageerror", lambda error: screen.errors.append(str(error)))

        def only_local(route: Route) -> None:
            if screen.local(route.request.url):
                route.continue_()
            else:
                route.abort()

        page.route("**/*", only_local)
        if sockets is not None:
            page.route_web_socket("**/ws", sockets)
        stored = {"theme": "night", "lang": "en", **settings}
        page.add_init_script(
            f"localStorage.setItem('carmesh.hmi.settings', {json.dumps(json.dumps(stored))})"
        )
        page.goto(car.http_url + path)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.locator("html")).to_have_attribute("data-link", "open")
        return page

    def snap(self, page: Page, name: str) -> Path:
        """Save a screenshot (animations settled) as an artifact."""
        page.evaluate("document.fonts.ready")
        page.wait_for_timeout(700)  # let value transitions finish
        out = self.artifacts / f"{name}.png"
        page.screenshot(path=str(out), animations="disabled")
        return out


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("CARMESH_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def screens(new_page: PageFactory, artifacts: Path) -> Iterator[Screens]:  # noqa: F811
    s = Screens(new_page, artifacts)
    yield s
    for screen in s.opened:
        screen.check()


def text(page: Page, testid: str) -> str:
    return page.get_by_test_id(testid).inner_text().strip()


def number(shown: str) -> float:
    """The number in a figure as the page shows it in English ("1,234.5 km" → 1234.5)."""
    match = re.search(r"-?[\d,]+(?:\.\d+)?", shown)
    assert match, f"no number in {shown!r}"
    return float(match.group().replace(",", ""))


# -- the centre display -------------------------------------------------------------------------


def test_centre_shows_live_values(charging_car: RunningCar, screens: Screens) -> None:
    page = screens.open(charging_car)
    expect(page.get_by_test_id("charging")).to_contain_text("Charging")
    expect(page.get_by_test_id("charging")).to_contain_text(" h ")
    # Charging moves both while we look: compare with what the broker holds, give or take.
    soc = signal(charging_car, "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed")
    assert abs(number(text(page, "soc")) - soc["value"]) <= 1
    range_km = signal(charging_car, "Vehicle.Powertrain.Range")["value"] / 1000
    assert abs(number(text(page, "range")) - range_km) <= 5
    cabin = text(page, "cabin-temperature")
    assert cabin.endswith("°C")
    page.wait_for_function(
        "t => document.querySelector('[data-testid=cabin-temperature]').textContent !== t",
        arg=cabin,
        timeout=TIMEOUT_MS,
    )
    expect(page.locator("#restriction-banner")).to_be_hidden()


def test_climate_plus_sets_the_driver_target_and_the_cabin_follows(
    charging_car: RunningCar, screens: Screens
) -> None:
    page = screens.open(charging_car)
    before = signal(charging_car, DRIVER_SETPOINT)["value"]
    expect(page.get_by_test_id("driver-setpoint")).to_have_text(f"{before:.1f}°C")
    page.get_by_test_id("driver-temp-up").click()
    wait_until(
        lambda: signal(charging_car, DRIVER_SETPOINT)["target"] == before + 0.5,
        what="the broker holds the new target",
    )
    expect(page.get_by_test_id("driver-setpoint")).to_have_text(f"{before + 0.5:.1f}°C")
    wait_until(lambda: signal(charging_car, DRIVER_SETPOINT)["value"] == before + 0.5)
    target = before + 0.5
    start = signal(charging_car, CABIN)["value"]
    assert start < target - 1, "the cabin should start colder than the set point"
    wait_until(
        lambda: signal(charging_car, CABIN)["value"] >= start + 0.5,
        what="the cabin warms towards the set point",
    )
    now = signal(charging_car, CABIN)["value"]
    assert abs(target - now) < abs(target - start)
    page.wait_for_function(
        "t => parseFloat(document.querySelector('[data-testid=cabin-temperature]')"
        ".textContent) >= t",
        arg=start + 0.5,
        timeout=TIMEOUT_MS,
    )
    page.get_by_test_id("driver-temp-down").click()
    wait_until(lambda: signal(charging_car, DRIVER_SETPOINT)["target"] == before)
    wait_until(lambda: signal(charging_car, DRIVER_SETPOINT)["value"] == before)
    # Seat heating steps through its levels; defrost toggles; the fan steps by a fifth.
    seat = "Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling"
    page.get_by_test_id("seat-driver").click()
    wait_until(lambda: signal(charging_car, seat)["value"] == 33)
    expect(page.get_by_test_id("seat-driver")).to_have_attribute("data-level", "1")
    rear = f"{HVAC}.IsRearDefrosterActive"
    page.get_by_test_id("switch-rear").click()
    wait_until(lambda: signal(charging_car, rear)["value"] is True)
    expect(page.get_by_test_id("switch-rear")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("switch-rear").click()
    wait_until(lambda: signal(charging_car, rear)["value"] is False)
    fan = f"{HVAC}.Station.Row1.Passenger.FanSpeed"
    fan_before = signal(charging_car, fan)["value"]
    page.get_by_test_id("fan-up").click()
    wait_until(lambda: signal(charging_car, fan)["value"] == fan_before + 20)


def test_units_convert_in_the_page(charging_car: RunningCar, screens: Screens) -> None:
    page = screens.open(charging_car, distance="mi", temperature="F")
    setpoint = signal(charging_car, DRIVER_SETPOINT)["value"]
    fahrenheit = round(setpoint * 1.8 + 32)
    expect(page.get_by_test_id("driver-setpoint")).to_have_text(f"{fahrenheit}°F")
    page.get_by_test_id("driver-temp-up").click()
    expected = round(((fahrenheit + 1) - 32) / 1.8, 1)
    wait_until(lambda: signal(charging_car, DRIVER_SETPOINT)["target"] == expected)
    expect(page.get_by_test_id("driver-setpoint")).to_have_text(f"{fahrenheit + 1}°F")
    odometer_m = signal(charging_car, "Vehicle.TraveledDistance")["value"]
    expect(page.get_by_test_id("odometer")).to_have_text(f"{odometer_m / 1609.344:,.0f} mi")
    actuate(charging_car, {DRIVER_SETPOINT: setpoint})


def test_language_and_theme_switch(charging_car: RunningCar, screens: Screens) -> None:
    publish(
        charging_car,
        {
            f"{MEDIA}.Track": "Northern Lights",
            f"{MEDIA}.Artist": "Ane Brun",
            f"{MEDIA}.Album": "Songs from the Coast",
            f"{MEDIA}.Source": "BLUETOOTH",
            "Vehicle.Cabin.Infotainment.Media.Action": "PLAY",
            f"{DESTINATION}.Latitude": 57.6953,
            f"{DESTINATION}.Longitude": 11.9925,
        },
    )
    en, zh = strings("en"), strings("zh-CN")
    page = screens.open(charging_car)
    expect(page.get_by_test_id("media-track")).to_have_text("Northern Lights")
    expect(page.get_by_test_id("nav-destination")).to_have_text(en["places"]["liseberg"])
    expect(page.locator("cm-climate-card .card-title")).to_have_text(en["climate"]["title"])
    screens.snap(page, "centre-night-en")
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("setting-theme-day").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "day")
    page.get_by_test_id("nav-home").click()
    screens.snap(page, "centre-day-en")

    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("setting-lang-zh-CN").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator(".sv-head h1")).to_have_text(zh["settings"]["title"])
    screens.snap(page, "settings-day-zh-CN")
    page.get_by_test_id("nav-home").click()
    expect(page.locator("cm-climate-card .card-title")).to_have_text(zh["climate"]["title"])
    expect(page.locator("cm-vehicle-card .card-title")).to_have_text(zh["vehicle"]["title"])
    expect(page.get_by_test_id("nav-destination")).to_have_text(zh["places"]["liseberg"])
    expect(page.get_by_test_id("charging")).to_contain_text(zh["vehicle"]["charging"])
    expect(page.get_by_test_id("charging")).to_contain_text("小时")
    screens.snap(page, "centre-day-zh-CN")
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("setting-theme-night").click()
    page.get_by_test_id("nav-home").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "night")
    screens.snap(page, "centre-night-zh-CN")
    # The choice is kept: the cluster opened afterwards in the same browser speaks Chinese.
    stored = page.evaluate("localStorage.getItem('carmesh.hmi.settings')")
    assert json.loads(stored)["lang"] == "zh-CN"


def test_a_refused_action_shows_the_cars_reason(charging_car: RunningCar, screens: Screens) -> None:
    page = screens.open(charging_car)
    actuate(charging_car, {f"{DOOR}.IsLocked": False})
    actuate(charging_car, {f"{DOOR}.IsOpen": True})
    try:
        expect(page.locator('[data-part="door:Row1.DriverSide"]')).to_have_class(OPEN)
        expect(page.get_by_test_id("closures")).to_contain_text("front left door")
        expect(page.locator(".vc-lock")).to_have_text("Lock")
        page.locator(".vc-lock").click()
        toast = page.locator(".toast-error")
        expect(toast).to_be_visible()
        expect(toast).to_contain_text(strings("en")["errors"]["refused"])
        expect(toast).to_contain_text("close it before locking it")
        expect(toast).not_to_contain_text("Vehicle.Cabin")  # the sentence, not the path
        screens.snap(page, "centre-refused-night-en")
        assert signal(charging_car, f"{DOOR}.IsLocked")["value"] is False
    finally:
        actuate(charging_car, {f"{DOOR}.IsOpen": False})
    wait_until(lambda: signal(charging_car, f"{DOOR}.IsOpen")["value"] is False)
    page.locator(".vc-lock").click()
    wait_until(lambda: signal(charging_car, f"{DOOR}.IsLocked")["value"] is True)
    expect(page.get_by_test_id("closures")).to_have_text("Closed and locked")


def test_driving_restricts_the_centre_display(driving_car: RunningCar, screens: Screens) -> None:
    publish(
        driving_car,
        {f"{MEDIA}.Track": "Evening news", f"{MEDIA}.Source": "TV"},
    )
    page = screens.open(driving_car)
    search = page.get_by_test_id("nav-search")
    places = page.locator("[data-testid=nav-places] .nc-place")
    # Parked: everything is allowed.
    expect(page.locator("#restriction-banner")).to_be_hidden()
    expect(search).to_be_enabled()
    expect(places).to_have_count(10)
    search.fill("lise")
    expect(places).to_have_count(1)
    search.fill("")
    expect(places).to_have_count(10)
    expect(page.locator(".mc-video-surface")).to_be_visible()
    door = "Vehicle.Cabin.Door.Row2.PassengerSide"
    actuate(driving_car, {f"{door}.IsLocked": False})
    actuate(driving_car, {f"{door}.IsOpen": True})
    # The drive begins: restrictions appear.
    banner = page.locator("#restriction-banner")
    expect(banner).to_be_visible(timeout=20_000)
    expect(banner).to_contain_text(strings("en")["driving"]["banner_title"])
    expect(search).to_be_disabled()
    expect(search).to_have_attribute("placeholder", strings("en")["nav"]["search_parked"])
    expect(places).to_have_count(6)
    expect(page.locator(".nc-more")).to_have_text("4 more when parked")
    expect(page.locator(".mc-video-surface")).to_be_hidden()
    expect(page.locator(".mc-video-blocked")).to_be_visible()
    expect(page.locator('[data-testid=notifications] [data-alert="door"]')).to_be_visible()
    screens.snap(page, "centre-driving-night-en")


def test_the_link_reconnects_with_backoff(charging_car: RunningCar, screens: Screens) -> None:
    attempts: list[float] = []
    routes: list[WebSocketRoute] = []

    def sockets(ws: WebSocketRoute) -> None:
        attempts.append(time.monotonic())
        routes.append(ws)
        if len(attempts) in (2, 3, 4):
            ws.close()  # accepted and dropped before a word: the backoff keeps growing
        else:
            ws.connect_to_server()

    page = screens.open(charging_car, sockets=sockets)
    page.evaluate(
        """window.linkStates = [];
        new MutationObserver(() => linkStates.push(document.documentElement.dataset.link))
          .observe(document.documentElement, {attributes: true, attributeFilter: ["data-link"]});"""
    )
    routes[0].close()
    expect(page.locator('[data-testid=notifications] [data-alert="link"]')).to_be_visible()
    expect(page.locator(".sb-link")).to_be_visible()
    deadline = time.monotonic() + 10
    while len(attempts) < 5 and time.monotonic() < deadline:
        page.wait_for_timeout(10)  # Playwright dispatches the socket handler meanwhile
    assert len(attempts) == 5, attempts
    expect(page.locator("html")).to_have_attribute("data-link", "open")
    expect(page.locator('[data-testid=notifications] [data-alert="link"]')).to_be_hidden()
    gaps = [b - a for a, b in itertools.pairwise(attempts[1:])]
    assert 0.3 < gaps[0] < 0.9, gaps
    # 0.5, 1 and 2 s, each ± 20 % jitter and the dispatch latency of this test.
    assert all(later > earlier for earlier, later in itertools.pairwise(gaps)), gaps
    assert gaps[-1] > 2 * gaps[0], gaps
    assert "closed" in page.evaluate("linkStates")
    # Subscribed again: live values flow on the new connection.
    cabin = text(page, "cabin-temperature")
    page.wait_for_function(
        "t => document.querySelector('[data-testid=cabin-temperature]').textContent !== t",
        arg=cabin,
        timeout=TIMEOUT_MS,
    )


def test_client_library_matches_patterns_and_formats_units(
    charging_car: RunningCar, screens: Screens
) -> None:
    """link.js's pattern matching agrees with the broker's; i18n.js converts and formats."""
    page = screens.open(charging_car)
    cases = [
        ("Vehicle.Cabin.HVAC", "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"),
        ("Vehicle.Cabin.HVAC", "Vehicle.Cabin.HVACX"),
        ("Vehicle.Speed", "Vehicle.Speed"),
        ("**.IsOpen", "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"),
        ("Vehicle.*.Door", "Vehicle.Cabin.Door"),
        ("Vehicle.*.Door", "Vehicle.Cabin.Door.Row1"),
        ("Vehicle.Cabin.**", "Vehicle.Cabin"),
        ("Vehicle.Cabin.**", "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"),
        ("Vehicle.**.Row1.*", "Vehicle.Cabin.Seat.Row1.Position"),
        ("Vehicle.**.Row2.*", "Vehicle.Cabin.Seat.Row1.Position"),
        ("", "Vehicle.Speed"),
    ]
    got = page.evaluate(
        """async (cases) => {
          const {matches} = await import("/static/js/link.js");
          return cases.map(([pattern, path]) => matches(pattern, path));
        }""",
        cases,
    )
    assert got == [glob_matches(pattern, path) for pattern, path in cases]
    formatted = page.evaluate(
        """async () => {
          const {fmt, load} = await import("/static/js/i18n.js");
          const {settings} = await import("/static/js/settings.js");
          const sample = () => [
            fmt.temperature(21.5).text, fmt.distance(123456).text, fmt.speed(100).text,
            fmt.consumption(165).text, fmt.duration(3900), fmt.duration(20),
            fmt.percent(80).text, fmt.number(12345.6, 1),
          ];
          const out = {metric: sample()};
          settings.set("temperature", "F");
          settings.set("distance", "mi");
          out.imperial = sample();
          settings.set("lang", "zh-CN");
          await load("zh-CN");
          out.chinese = sample();
          return out;
        }"""
    )
    assert formatted["metric"] == [
        "21.5°C", "123 km", "100 km/h", "16.5 kWh/100 km", "1 h 05 min", "< 1 min", "80%",
        "12,345.6",
    ]  # fmt: skip
    assert formatted["imperial"] == [
        "71°F", "77 mi", "62 mph", "26.6 kWh/100 mi", "1 h 05 min", "< 1 min", "80%",
        "12,345.6",
    ]  # fmt: skip
    assert formatted["chinese"] == [
        "71°F", "77 英里", "62 mph", "26.6 kWh/百英里", "1 小时 05 分钟", "不到 1 分钟", "80%",
        "12,345.6",
    ]  # fmt: skip


# -- the cluster --------------------------------------------------------------------------------


def test_cluster_shows_speed_gear_signals_and_warnings(
    cluster_car: RunningCar, screens: Screens
) -> None:
    page = screens.open(cluster_car, "/cluster")
    expect(page.get_by_test_id("cluster-speed")).to_have_text("72", timeout=TIMEOUT_MS)
    expect(page.locator("[data-gear=D]")).to_have_class(re.compile(r"\bactive\b"))
    expect(page.get_by_test_id("turn-left")).to_have_class(ON)
    expect(page.get_by_test_id("turn-right")).not_to_have_class(ON)
    expect(page.get_by_test_id("telltale-battery12v")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("telltale-tyre")).to_be_hidden()
    soc = signal(cluster_car, "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed")
    assert abs(number(text(page, "cluster-soc")) - soc["value"]) <= 1
    expect(page.get_by_test_id("trip-distance")).to_contain_text(" km")
    power = text(page, "cluster-power")
    assert power.endswith(" kW")
    screens.snap(page, "cluster-night-en")


def test_cluster_in_chinese_and_miles(cluster_car: RunningCar, screens: Screens) -> None:
    page = screens.open(cluster_car, "/cluster", lang="zh-CN", distance="mi", theme="day")
    expect(page.locator(".cs-unit")).to_have_text("mph")
    expect(page.get_by_test_id("cluster-speed")).to_have_text("45", timeout=TIMEOUT_MS)
    expect(page.locator("cm-cluster-trip .ce-label")).to_have_text(
        strings("zh-CN")["cluster"]["trip"]
    )
    screens.snap(page, "cluster-day-zh-CN")
