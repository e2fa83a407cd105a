"""An app's UI on the centre display, end to end: a real car, a real app process, Chromium.

The user grants the app's permissions in the HMI's dialog, opens the app, sees its list and
taps an item that the app answers; then the car starts moving and the same list comes back
trimmed by the platform (the app does nothing for that), and whole again once parked.
"""

from __future__ import annotations

import json
from pathlib import Path

from kuksa_client.grpc import Datapoint, VSSClient
from playwright.sync_api import Page, expect

from tests.apps.platform_support import AppCar, app_car
from tests.support.browser import PageFactory

APP_ID = "org.example.lister"
LISTER = """
import asyncio

from carmesh.sdk import Item, ListTemplate

ITEMS = 20


def screen(title):
    items = [Item(id=f"i{n}", title=f"Item {n}", text="a line of explanatory text " * 3)
             for n in range(ITEMS)]
    return ListTemplate(title=title, items=items)


async def main(car):
    speed = await car.get("Vehicle.Speed")
    await car.show(screen("Things"))

    async def tapped(action, item):
        await car.show(screen(f"picked {item}"))

    car.on_action(tapped)
    await asyncio.Event().wait()
"""


def publish_speed(car: AppCar, kmh: float) -> None:
    with VSSClient("127.0.0.1", car.car.grpc_port) as client:
        client.set_current_values({"Vehicle.Speed": Datapoint(kmh)})


def open_centre(factory: PageFactory, car: AppCar) -> Page:
    page = factory("centre")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    settings = json.dumps(json.dumps({"theme": "night", "lang": "en"}))
    page.add_init_script(f"localStorage.setItem('carmesh.hmi.settings', {settings})")
    page.goto(car.car.http_url + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("html")).to_have_attribute("data-link", "open")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_an_apps_template_appears_in_the_hmi_and_is_trimmed_while_driving(
    tmp_path: Path, new_page: PageFactory
) -> None:
    with app_car(tmp_path) as car:
        package = car.build(APP_ID, LISTER, permissions={"read": ["Vehicle.Speed"]})
        car.install(package, grant="ask")
        page = open_centre(new_page, car)

        tile = page.locator(f'[data-testid=app-tile][data-app="{APP_ID}"]')
        expect(tile).to_be_visible()
        expect(tile.get_by_test_id("app-pending")).to_be_visible()
        tile.click()
        dialog = page.get_by_test_id("permission-dialog")
        expect(dialog).to_be_visible()
        dialog.locator('[data-permission="read:Vehicle.Speed"]').get_by_test_id(
            "permission-allow"
        ).click()
        page.get_by_test_id("permission-done").click()

        # The grant reached the car, which started the app; its list is on the screen.
        items = page.locator("[data-testid=app-items] [data-item]")
        expect(items).to_have_count(20, timeout=15_000)
        view = page.locator("cm-app-view")
        expect(view.locator(".av-title")).to_have_text("Things")
        assert car.app(APP_ID)["state"] == "running"
        assert car.app(APP_ID)["permissions"] == [{"id": "read:Vehicle.Speed", "granted": True}]

        # A tap travels to the app process, which answers with a new template.
        page.locator('[data-item="i3"]').click()
        expect(view.locator(".av-title")).to_have_text("picked i3")
        expect(page.get_by_test_id("app-trimmed")).to_be_hidden()

        # Driving: the platform trims the list; the app is not involved.
        publish_speed(car, 50.0)
        expect(items).to_have_count(6, timeout=10_000)
        expect(page.get_by_test_id("app-trimmed")).to_be_visible()
        shown = car.template(APP_ID)
        assert shown["trimmed"] is True
        assert len(shown["template"]["items"]) == 6
        assert all(len(item["text"]) <= 40 for item in shown["template"]["items"])

        # Parked again (no gear known, standing still): everything is back.
        publish_speed(car, 0.0)
        expect(items).to_have_count(20, timeout=10_000)
        expect(page.get_by_test_id("app-trimmed")).to_be_hidden()
        assert not page.errors  # type: ignore[attr-defined]
