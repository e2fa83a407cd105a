"""The WebSocket's app frames (docs/apps.md, "WebSocket /ws additions") over real uvicorn: the
platform's state on connect, its events to every connection, ``app.action`` taps answered
with ``result``, no app frames while the platform is off, and no listener left behind.

The platform is :class:`tests.hmi.test_apps_api.AppsPlatformDouble` (see there why).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from carmesh.apps.control import AppEvent
from carmesh.broker import Broker
from carmesh.errors import FailedPrecondition
from carmesh.hmi import HmiServer
from carmesh.hmi.ws import MAX_QUEUED_NOTIFICATIONS
from carmesh.vss import Catalog
from tests.hmi.support import HmiClient, hmi_client
from tests.hmi.test_apps_api import HELLO, AppsPlatformDouble, package

OTHER = "org.example.other"
LIST = {
    "type": "list",
    "title": "Hello",
    "items": [{"id": f"i{n}", "title": f"Item {n}"} for n in range(10)],
    "actions": [{"id": "refresh", "label": {"en": "Refresh", "zh-CN": "刷新"}}],
}


@pytest.fixture
async def platform() -> AppsPlatformDouble:
    double = AppsPlatformDouble()
    await double.install(package(), grant="all")
    await double.install(package(OTHER, names={"en": "Other", "zh-CN": "其他"}), grant="ask")
    await double.start(HELLO)
    double.show(HELLO, LIST)
    double.notify(HELLO, "First", "the older one")
    double.notify(HELLO, "Second", "the newer one")
    return double


@pytest.fixture
async def hmi(broker: Broker, platform: AppsPlatformDouble) -> AsyncIterator[HmiServer]:
    server = HmiServer(broker, "127.0.0.1:0", apps=platform)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def broker(catalog: Catalog) -> AsyncIterator[Broker]:
    b = Broker(catalog)
    await b.start()
    yield b
    await b.stop()


async def connect_state(client: HmiClient) -> dict[str, Any]:
    """What a new connection receives first: apps, templates, recent notifications."""
    apps = await client.next("apps")
    templates = [await client.next("app.template") for _ in apps["apps"]]
    notes = [await client.next("notification") for _ in range(2)]
    return {"apps": apps, "templates": templates, "notifications": notes}


async def test_a_new_connection_gets_the_apps_templates_and_recent_notifications(
    hmi: HmiServer, platform: AppsPlatformDouble
) -> None:
    async with hmi_client(hmi.url) as client:
        state = await connect_state(client)
    assert state["apps"]["apps"] == platform.list()
    assert [a["id"] for a in state["apps"]["apps"]] == [HELLO, OTHER]
    assert {f["app"]: (f["template"], f["trimmed"]) for f in state["templates"]} == {
        HELLO: (LIST, False),
        OTHER: (None, False),  # shows nothing: said so, so a reconnecting page drops stale ones
    }
    notes = state["notifications"]
    assert [n["notification"]["title"] for n in notes] == ["First", "Second"]  # oldest first
    assert all(n["recent"] is True for n in notes)
    assert set(notes[0]["notification"]) == {"id", "app", "title", "body", "priority", "time"}
    # The app frames come before nothing else is pending: the driving frame came too.
    assert any(frame["type"] == "driving" for frame in client.frames)


async def test_events_reach_every_connection(hmi: HmiServer, platform: AppsPlatformDouble) -> None:
    async with hmi_client(hmi.url) as first, hmi_client(hmi.url) as second:
        for client in (first, second):
            await connect_state(client)
        platform.drive(moving=True)
        platform.notify(HELLO, "Charged", "80 % reached", "high")
        await platform.set_grants(OTHER, {"read:Vehicle.Speed": True, "notifications": True})
        for client in (first, second):
            got = await one_of_each(client, "app.template", "notification", "apps")
            shown = got["app.template"]
            assert shown["app"] == HELLO and shown["trimmed"] is True
            assert len(shown["template"]["items"]) == 6
            note = got["notification"]
            assert note["recent"] is False
            assert note["notification"]["title"] == "Charged"
            assert note["notification"]["priority"] == "high"
            other = next(a for a in got["apps"]["apps"] if a["id"] == OTHER)
            assert {p["granted"] for p in other["permissions"]} == {True}


async def one_of_each(client: HmiClient, *kinds: str) -> dict[str, dict[str, Any]]:
    """The first frame of each of *kinds*, in whatever order they come."""
    got: dict[str, dict[str, Any]] = {}
    while len(got) < len(kinds):
        frame = await client.recv()
        if frame["type"] in kinds:
            got.setdefault(frame["type"], frame)
    return got


async def test_templates_and_lists_are_conflated_notifications_are_not(
    hmi: HmiServer, platform: AppsPlatformDouble
) -> None:
    async with hmi_client(hmi.url) as client:
        await connect_state(client)
        for n in range(5):
            platform.show(HELLO, {**LIST, "title": f"Version {n}"})
            platform.set_state(OTHER, "backoff" if n % 2 else "stopped")
            platform.notify(HELLO, f"Note {n}", "")
        notes: list[str] = []
        titles: list[str] = []
        while len(notes) < 5:
            frame = await client.recv()
            if frame["type"] == "notification":
                notes.append(frame["notification"]["title"])
            elif frame["type"] == "app.template":
                titles.append(frame["template"]["title"])
        assert notes == [f"Note {n}" for n in range(5)]
        assert titles[-1] == "Version 4" and len(titles) <= 5


async def test_a_client_that_does_not_read_holds_a_bounded_backlog(
    hmi: HmiServer, platform: AppsPlatformDouble
) -> None:
    async with hmi_client(hmi.url, max_queue=1) as client:
        await connect_state(client)
        for n in range(2000):
            platform.notify(HELLO, f"Note {n}", "x" * 16_000)
            if n % 100 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0.2)
        seen = []
        while True:
            try:
                frame = await client.next("notification", timeout=0.5)
            except TimeoutError:
                break
            seen.append(int(frame["notification"]["title"].split()[1]))
        assert seen[-1] == 1999
        assert seen == sorted(seen)
        # What the socket buffers held, then the newest that waited: the oldest gave way.
        assert len(seen) < 2000 - MAX_QUEUED_NOTIFICATIONS


async def test_app_action_is_delivered_and_answered(
    hmi: HmiServer, platform: AppsPlatformDouble
) -> None:
    async with hmi_client(hmi.url) as client:
        await client.send(
            {"type": "app.action", "id": 1, "app": HELLO, "action": "select", "item": "i3"}
        )
        assert await result(client, 1) == {"type": "result", "id": 1, "ok": True}
        await client.send({"type": "app.action", "id": "r", "app": HELLO, "action": "refresh"})
        assert (await result(client, "r"))["ok"] is True
        assert platform.taps == [(HELLO, "select", "i3"), (HELLO, "refresh", None)]


@pytest.mark.parametrize(
    ("frame", "code", "words"),
    [
        ({"app": "org.example.none", "action": "refresh"}, "not_found", "no app"),
        ({"app": OTHER, "action": "refresh"}, "unavailable", "not running"),
        ({"app": HELLO, "action": "nope"}, "invalid_argument", "nothing to tap"),
        ({"app": "hello", "action": "refresh"}, "invalid_argument", "not a valid app id"),
        ({"action": "refresh"}, "invalid_argument", "not a valid app id"),
        ({"app": HELLO}, "invalid_argument", "not an action id"),
        ({"app": HELLO, "action": "select", "item": 3}, "invalid_argument", "not an item id"),
    ],
)
async def test_refused_app_actions_are_results_with_the_error(
    hmi: HmiServer, platform: AppsPlatformDouble, frame: dict[str, Any], code: str, words: str
) -> None:
    async with hmi_client(hmi.url) as client:
        await client.send({"type": "app.action", "id": 7, **frame})
        answer = await result(client, 7)
        assert answer["ok"] is False and answer["error"]["code"] == code
        assert words in answer["error"]["message"]
        # Without an id: an error frame when the HMI refuses it, else a result with id null.
        await client.send({"type": "app.action", **frame})
        while True:
            answer = await client.recv()
            if answer["type"] == "error" or answer["type"] == "result":
                break
        assert answer.get("id") is None and answer["error"]["code"] == code
        await client.send({"type": "app.action", "id": True, "app": HELLO, "action": "x"})
        assert "id must be a number or a string" in (await client.next("error"))["error"]["message"]
    assert platform.taps == []


async def test_no_app_frames_without_the_platform(broker: Broker) -> None:
    server = HmiServer(broker, "127.0.0.1:0")
    await server.start()
    try:
        async with hmi_client(server.url) as client:
            await client.next("driving")
            await client.send({"type": "app.action", "id": 1, "app": HELLO, "action": "x"})
            answer = await result(client, 1)
            assert answer["error"] == {
                "code": "unavailable",
                "message": "the apps platform is not running",
                "path": None,
            }
            with pytest.raises(TimeoutError):
                await client.recv(timeout=0.3)
        kinds = {frame["type"] for frame in client.frames}
        assert kinds == {"driving", "result"}
    finally:
        await server.stop()


async def test_listeners_are_removed_when_connections_close(
    hmi: HmiServer, platform: AppsPlatformDouble
) -> None:
    assert platform.listeners == []
    async with hmi_client(hmi.url) as first, hmi_client(hmi.url) as second:
        await first.next("apps")
        await second.next("apps")
        assert len(platform.listeners) == 2
    for _ in range(100):
        if not platform.listeners:
            break
        await asyncio.sleep(0.01)
    assert platform.listeners == []


async def test_a_platform_still_starting_leaves_the_connection_working(
    hmi: HmiServer, platform: AppsPlatformDouble
) -> None:
    def not_yet() -> list[dict[str, Any]]:
        raise FailedPrecondition("the apps platform is not running")

    platform.list = not_yet  # type: ignore[method-assign]
    async with hmi_client(hmi.url) as client:
        await client.next("driving")
        platform.emit(AppEvent("notification", HELLO, {"id": "late", "title": "Later"}))
        note = await client.next("notification")
        assert note["notification"]["id"] == "late"
        assert not any(frame["type"] == "apps" for frame in client.frames)


async def test_a_failing_platform_leaves_the_connection_working(
    hmi: HmiServer, platform: AppsPlatformDouble, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("bug in the platform")

    platform.notifications = broken  # type: ignore[method-assign]
    async with hmi_client(hmi.url) as client:
        await client.next("driving")
        await client.subscribe("Vehicle.Speed")
        platform.notify(HELLO, "Still", "there")
        assert (await client.next("notification"))["notification"]["title"] == "Still"
    assert "the apps platform failed to describe its state" in caplog.text


async def result(client: HmiClient, ident: int | str) -> dict[str, Any]:
    while True:
        frame = await client.next("result")
        if frame["id"] == ident:
            return frame
