"""Headless Chromium for browser tests: Playwright for Python driving Debian's Chromium.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``apt-get install
chromium``; ``.ci/run`` and ``make test`` as root install it). Make the fixtures visible
with ``from tests.support.browser import browser, new_page  # noqa: F401`` in a
``conftest.py`` (``tests/hmi/conftest.py`` does) or in the test module::

    def test_home(new_page: PageFactory) -> None:
        page = new_page("centre")          # 1920×720; "cluster" is 1280×480
        page.goto(car.http_url + "/")

Tests using them must be plain (not ``async``) functions: Playwright's sync API runs its own
event loop. Each page gets a fresh browser context, closed after the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The car's screens: the centre display and the driver cluster.
VIEWPORTS: dict[str, tuple[int, int]] = {"centre": (1920, 720), "cluster": (1280, 480)}

PageFactory = Callable[..., Page]


def require_chromium() -> None:
    """Skip (fail under CI, where ``.ci/run`` installs it) when Chromium is missing."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: apt-get install chromium (make test does it as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with the flags a quiet test browser needs."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module."""
    require_chromium()
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[PageFactory]:
    """``new_page("centre" | "cluster" | (width, height), **context_options)`` → a Page."""
    contexts: list[BrowserContext] = []

    def make(size: str | tuple[int, int] = "centre", **options: Any) -> Page:
        width, height = VIEWPORTS[size] if isinstance(size, str) else size
        viewport = {"width": width, "height": height}
        context = browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
