"""Apps on the centre display, in Debian's Chromium (Playwright): the launcher in the UI
language with state badges and the permission marker, an open app's list template and its
taps, the "trimmed while driving" notice, the permission dialog, and notification toasts.

The HMI runs in-process on its own event loop in a thread (Playwright's sync API owns this
thread's), with :class:`tests.hmi.test_apps_api.AppsPlatformDouble` as the apps platform (see
there why). Pages must log no console error and fetch nothing from elsewhere. Screenshots go
to ``$CARMESH_ARTIFACTS`` (default: the session's temporary directory).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from carmesh.broker import Broker
from carmesh.hmi import HmiServer
from carmesh.vss import Catalog
from tests.hmi.test_apps_api import HELLO, AppsPlatformDouble, package
from tests.support.browser import PageFactory

I18N = Path(__file__).parents[2] / "src" / "carmesh" / "hmi" / "i18n"
OTHER = "org.example.other"
ITEMS = [{"id": f"i{n}", "title": f"Item {n}", "text": f"The {n}th thing"} for n in range(1, 11)]
LIST = {
    "type": "list",
    "title": {"en": "Things", "zh-CN": "事项"},
    "items": ITEMS,
    "actions": [{"id": "refresh", "label": {"en": "Refresh", "zh-CN": "刷新"}}],
}


def strings(lang: str) -> dict[str, Any]:
    return json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@dataclass
class LiveHmi:
    """The HMI served from a thread; :meth:`call` runs code on its event loop."""

    url: str
    platform: AppsPlatformDouble
    loop: asyncio.AbstractEventLoop

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async def run() -> Any:
            result = function(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)


@pytest.fixture
def live(catalog: Catalog) -> Iterator[LiveHmi]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hmi-under-test", daemon=True)
    thread.start()
    platform = AppsPlatformDouble()

    async def start() -> tuple[Broker, HmiServer]:
        broker = Broker(catalog)
        await broker.start()
        server = HmiServer(broker, "127.0.0.1:0", apps=platform)
        await server.start()
        await platform.install(package(), grant="all")
        await platform.install(
            package(OTHER, names={"en": "Other", "zh-CN": "其他"}, read=("Vehicle.Cabin.HVAC.*",))
        )
        await platform.start(HELLO)
        platform.show(HELLO, LIST)
        return broker, server

    broker, server = asyncio.run_coroutine_threadsafe(start(), loop).result(20)

    async def stop() -> None:
        await server.stop()
        await broker.stop()

    try:
        yield LiveHmi(server.url, platform, loop)
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@dataclass
class Screen:
    """A page of the centre display, watched for console errors and foreign requests."""

    page: Page
    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


@pytest.fixture
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("CARMESH_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.getbasetemp() / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def open_centre(
    live: LiveHmi, new_page: PageFactory, artifacts: Path
) -> Iterator[Callable[..., Page]]:
    screens: list[Screen] = []

    def open_(lang: str = "en") -> Page:
        page = new_page("centre")
        screen = Screen(page, live.url)
        screens.append(screen)
        netloc = urlsplit(live.url).netloc

        def record(url: str) -> None:
            if urlsplit(url).netloc != netloc and not url.startswith("data:"):
                screen.foreign.append(url)

        page.on("request", lambda request: record(request.url))
        page.on("console", lambda m: m.type == "error" and screen.errors.append(m.text))
        page.on("pageerror", lambda error: screen.errors.append(str(error)))
        stored = {"theme": "night", "lang": lang}
        page.add_init_script(
            f"localStorage.setItem('carmesh.hmi.settings', {json.dumps(json.dumps(stored))})"
        )
        page.goto(live.url + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.locator("html")).to_have_attribute("data-link", "open")
        return page

    yield open_
    for screen in screens:
        assert not screen.errors, f"console errors: {screen.errors}"
        assert not screen.foreign, f"requests left the car: {screen.foreign}"


def snap(page: Page, artifacts: Path, name: str) -> None:
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / f"{name}.png"), animations="disabled")


def wait_until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def tile(page: Page, app_id: str) -> Any:
    return page.locator(f'[data-testid=app-tile][data-app="{app_id}"]')


# -- the launcher -------------------------------------------------------------------------------


def test_the_launcher_shows_the_apps_in_the_ui_language(
    live: LiveHmi, open_centre: Callable[..., Page], artifacts: Path
) -> None:
    zh = strings("zh-CN")
    page = open_centre("zh-CN")
    expect(page.get_by_test_id("app-tile")).to_have_count(2)
    hello, other = tile(page, HELLO), tile(page, OTHER)
    expect(hello.locator(".al-name")).to_have_text("你好")
    expect(other.locator(".al-name")).to_have_text("其他")
    expect(hello.locator(".al-state")).to_have_text(zh["apps"]["state_running"])
    expect(other.locator(".al-state")).to_have_text(zh["apps"]["state_stopped"])
    expect(hello.get_by_test_id("app-pending")).to_have_count(0)
    expect(other.get_by_test_id("app-pending")).to_be_visible()
    icon = hello.locator("img")
    expect(icon).to_have_attribute("src", f"/api/apps/{HELLO}/icon")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=icon.element_handle())
    # A change of state reaches the tile; a removed app leaves.
    live.call(live.platform.set_state, HELLO, "quarantined")
    expect(hello.locator(".al-state")).to_have_text(zh["apps"]["state_quarantined"])
    snap(page, artifacts, "apps-launcher-zh-CN")
    live.call(live.platform.remove, OTHER)
    expect(page.get_by_test_id("app-tile")).to_have_count(1)
    # Switching the language renames the tiles.
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("setting-lang-en").click()
    page.get_by_test_id("nav-home").click()
    expect(hello.locator(".al-name")).to_have_text("Hello")


# -- an open app --------------------------------------------------------------------------------


def test_an_open_app_shows_its_list_and_taps_reach_it(
    live: LiveHmi, open_centre: Callable[..., Page], artifacts: Path
) -> None:
    page = open_centre()
    tile(page, HELLO).click()
    view = page.locator("cm-app-view")
    expect(view).to_be_visible()
    expect(page.get_by_test_id("app-name")).to_have_text("Hello")
    expect(page.get_by_test_id("app-state")).to_have_text(strings("en")["apps"]["state_running"])
    expect(view.locator(".av-title")).to_have_text("Things")
    items = page.locator("[data-testid=app-items] [data-item]")
    expect(items).to_have_count(10)
    expect(items.nth(2)).to_contain_text("Item 3")
    expect(items.nth(2)).to_contain_text("The 3th thing")
    expect(page.get_by_test_id("app-trimmed")).to_be_hidden()
    snap(page, artifacts, "apps-list-night-en")
    items.nth(2).click()
    wait_until(lambda: live.platform.taps == [(HELLO, "select", "i3")], "the tap reached the app")
    view.locator('[data-action="refresh"]').click()
    wait_until(lambda: live.platform.taps[-1] == (HELLO, "refresh", None), "the action arrived")
    # A new template replaces the old one; back returns home.
    live.call(
        live.platform.show,
        HELLO,
        {"type": "pane", "title": "Trip", "rows": [{"label": "Distance", "value": "12 km"}]},
    )
    expect(view.locator(".av-row dd")).to_have_text("12 km")
    page.get_by_test_id("app-back").click()
    expect(view).to_be_hidden()
    expect(page.locator("cm-app-launcher")).to_be_visible()


def test_a_refused_tap_shows_the_apps_reason(
    live: LiveHmi, open_centre: Callable[..., Page]
) -> None:
    page = open_centre()
    tile(page, HELLO).click()
    expect(page.locator("[data-testid=app-items] [data-item]")).to_have_count(10)
    live.call(live.platform.set_state, HELLO, "backoff")  # not connected: taps are refused
    page.locator('[data-item="i1"]').click()
    toast = page.locator(".toast-error")
    expect(toast).to_contain_text(f"{HELLO} is not running")
    assert live.platform.taps == []


def test_a_trimmed_template_says_so_and_shows_at_most_six_items(
    live: LiveHmi, open_centre: Callable[..., Page], artifacts: Path
) -> None:
    page = open_centre()
    tile(page, HELLO).click()
    items = page.locator("[data-testid=app-items] [data-item]")
    expect(items).to_have_count(10)
    live.call(live.platform.drive, True)
    notice = page.get_by_test_id("app-trimmed")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(strings("en")["apps"]["trimmed"])
    expect(items).to_have_count(6)
    snap(page, artifacts, "apps-list-trimmed-night-en")
    live.call(live.platform.drive, False)
    expect(notice).to_be_hidden()
    expect(items).to_have_count(10)


def test_search_offers_the_keyboard_only_when_parked(
    live: LiveHmi, open_centre: Callable[..., Page]
) -> None:
    results = [{"id": f"r{n}", "title": f"Charger {n}"} for n in range(1, 9)]
    results.append({"id": "cafe", "title": "Café Lindholmen"})
    search = {"type": "search", "title": "Find", "placeholder": "Where to?", "results": results}
    live.call(live.platform.show, HELLO, search)
    page = open_centre()
    tile(page, HELLO).click()
    field_ = page.get_by_test_id("app-search")
    expect(field_).to_be_enabled()
    expect(field_).to_have_attribute("placeholder", "Where to?")
    found = page.locator("[data-testid=app-items] [data-item]")
    expect(found).to_have_count(9)
    field_.fill("café")
    expect(found).to_have_count(1)
    found.first.click()
    wait_until(lambda: live.platform.taps == [(HELLO, "select", "cafe")], "the result was tapped")
    # The driving rules: the page locks the keyboard even before the host's next template.
    page.evaluate(
        """async () => {
          const {driving} = await import("/static/js/driving.js");
          driving.apply({moving: true, rules: {text_entry: false, video: false,
                                                max_list_items: 6}});
        }"""
    )
    expect(field_).to_be_disabled()
    expect(field_).to_have_attribute("placeholder", strings("en")["apps"]["search_parked"])
    expect(found).to_have_count(6)


# -- permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_permission_dialog_grants_and_the_app_opens(
    live: LiveHmi, open_centre: Callable[..., Page], artifacts: Path, lang: str
) -> None:
    words = strings(lang)["permissions"]
    page = open_centre(lang)
    tile(page, OTHER).click()
    dialog = page.get_by_test_id("permission-dialog")
    expect(dialog).to_be_visible()
    name = "Other" if lang == "en" else "其他"
    expect(dialog.locator(".pd-title")).to_have_text(words["title"].replace("{app}", name))
    rows = dialog.locator("[data-permission]")
    expect(rows).to_have_count(2)
    climate = dialog.locator('[data-permission="read:Vehicle.Cabin.HVAC.*"]')
    expect(climate).to_contain_text(words["read"].replace("{what}", words["what"]["climate"]))
    expect(climate.locator(".pd-detail")).to_have_text("Vehicle.Cabin.HVAC.*")
    notifications = dialog.locator('[data-permission="notifications"]')
    expect(notifications).to_contain_text(words["notifications"])
    expect(page.get_by_test_id("permission-done")).to_have_text(words["later"])
    snap(page, artifacts, f"apps-permissions-night-{lang}")
    climate.get_by_test_id("permission-allow").click()
    expect(climate).to_have_attribute("data-granted", "true")
    notifications.get_by_test_id("permission-deny").click()
    expect(notifications).to_have_attribute("data-granted", "false")
    wait_until(
        lambda: (
            live.platform.grant_requests
            == [(OTHER, {"read:Vehicle.Cabin.HVAC.*": True}), (OTHER, {"notifications": False})]
        ),
        "both decisions reached the car",
    )
    expect(page.get_by_test_id("permission-done")).to_have_text(words["done"])
    page.get_by_test_id("permission-done").click()
    expect(dialog).to_be_hidden()
    # All decided: the app opens and is started.
    expect(page.get_by_test_id("app-name")).to_have_text(name)
    wait_until(lambda: live.platform.apps[OTHER]["state"] == "running", "the app was started")
    expect(tile(page, OTHER).get_by_test_id("app-pending")).to_have_count(0)


def test_leaving_the_dialog_undecided_keeps_the_app_closed(
    live: LiveHmi, open_centre: Callable[..., Page]
) -> None:
    page = open_centre()
    tile(page, OTHER).click()
    dialog = page.get_by_test_id("permission-dialog")
    dialog.locator('[data-permission="notifications"]').get_by_test_id("permission-allow").click()
    wait_until(lambda: len(live.platform.grant_requests) == 1, "the decision reached the car")
    page.get_by_test_id("permission-done").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("cm-app-view")).to_be_hidden()
    assert live.platform.apps[OTHER]["state"] == "stopped"
    expect(tile(page, OTHER).get_by_test_id("app-pending")).to_be_visible()


# -- notifications ------------------------------------------------------------------------------


def test_a_notification_pops_up_as_a_toast(
    live: LiveHmi, open_centre: Callable[..., Page], artifacts: Path
) -> None:
    live.call(live.platform.notify, HELLO, "Old news", "posted before the page opened")
    page = open_centre()
    toasts = page.get_by_test_id("app-notification")
    live.call(live.platform.notify, HELLO, "Charged", "80 % reached", "high")
    expect(toasts).to_have_count(1)  # the old one is not popped up again
    expect(toasts).to_contain_text("Charged")
    expect(toasts).to_contain_text("80 % reached")
    expect(toasts).to_contain_text("From Hello")
    expect(toasts).to_have_attribute("data-priority", "high")
    snap(page, artifacts, "apps-notification-night-en")
    recent = page.evaluate(
        """async () => (await import("/static/js/link.js")).link.notifications.map(n => n.title)"""
    )
    assert recent == ["Charged", "Old news"]
    # The notifications card lists them too, newest first, naming the app.
    listed = page.locator('[data-testid=notifications] [data-alert^="app-"]')
    expect(listed).to_have_count(2)
    expect(listed.first).to_contain_text("Charged")
    expect(listed.first).to_contain_text("Hello · 80 % reached")
    expect(listed.nth(1)).to_contain_text("Old news")
