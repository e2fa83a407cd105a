"""The API documentation at ``/docs`` works offline: the page and everything it loads come
from the car, checked in headless Chromium."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Request

from tests.support.browser import PageFactory
from tests.support.car import RunningCar

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


def test_docs_page_refers_only_to_the_car(bare_car: RunningCar) -> None:
    page = httpx.get(f"{bare_car.http_url}/docs")
    assert page.status_code == 200
    references = [a or b for a, b in _REFERENCE.findall(page.text)]
    assert "/openapi.json" in references and len(references) >= 3
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in references)
    assert "http://" not in page.text and "https://" not in page.text
    spec = httpx.get(f"{bare_car.http_url}/openapi.json").json()
    assert {"/api/signals", "/api/signals/{path}", "/api/actuate", "/api/driving-state"} <= set(
        spec["paths"]
    )


def test_docs_render_offline_in_chromium(bare_car: RunningCar, new_page: PageFactory) -> None:
    page = new_page((1280, 800))
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    page.goto(f"{bare_car.http_url}/docs", wait_until="networkidle")
    page.get_by_text("/api/actuate").first.wait_for(timeout=10_000)
    assert page.get_by_text("carmesh HMI").first.is_visible()
    foreign = [url for url in requested if not url.startswith(bare_car.http_url + "/")]
    assert not foreign, foreign
    assert any(url.endswith("/openapi.json") for url in requested)
