"""The app host in process: templates as shown under the driving rules, notifications, media
sessions, taps and the apps' event streams."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from carmesh.apps.control import AppEvent
from carmesh.apps.host import EVENT_QUEUE_SIZE, MAX_NOTIFICATIONS, AppAccess, AppHost
from carmesh.errors import InvalidArgument, PermissionDenied, Unavailable
from carmesh.rules.distraction import INITIAL_STATE, derive

APP = "org.example.a"
OTHER = "org.example.b"
MOVING = derive(None, 50.0, 127)
PARKED = derive(MOVING, 0.0, 126)


def access(app_id: str, *permissions: str, templates: tuple[str, ...] = ("list",)) -> AppAccess:
    return AppAccess(app_id, "1.0.0", frozenset(permissions), frozenset(templates))


class Apps:
    def __init__(self) -> None:
        self.installed = {
            APP: access(APP, "notifications", "media", templates=("list", "search", "message")),
            OTHER: access(OTHER, "read:Vehicle.Speed"),
        }

    def __call__(self, app_id: str) -> AppAccess | None:
        return self.installed.get(app_id)


@pytest.fixture
def host() -> AppHost:
    return AppHost(Apps(), locale=lambda: "zh-CN")


@pytest.fixture
def events(host: AppHost) -> list[AppEvent]:
    seen: list[AppEvent] = []
    host.listen(seen.append)
    return seen


def listing(n: int, *, actions: bool = True) -> dict[str, Any]:
    return {
        "type": "list",
        "title": "Stations",
        "items": [{"id": f"s{i}", "title": f"Station {i}"} for i in range(n)],
        "actions": [{"id": "refresh", "label": "Refresh"}] if actions else [],
    }


def test_hello_tells_the_app_about_itself(host: AppHost) -> None:
    assert host.hello(APP) == {
        "app_id": APP,
        "version": "1.0.0",
        "permissions": ["media", "notifications"],
        "locale": "zh-CN",
        "driving": INITIAL_STATE.as_json(),
    }
    with pytest.raises(PermissionDenied, match=r"org\.example\.z is not installed"):
        host.hello("org.example.z")


def test_show_stores_and_announces_the_template(host: AppHost, events: list[AppEvent]) -> None:
    assert host.current(APP) == {"template": None, "trimmed": False}
    assert host.show(APP, listing(3)) is False
    assert host.current(APP) == {"template": listing(3), "trimmed": False}
    assert events == [AppEvent("template", APP, {"template": listing(3), "trimmed": False})]
    host.show(APP, listing(3))
    assert len(events) == 1, "showing the same template again changes nothing"
    assert host.shown() == {APP: host.current(APP)}
    host.clear(APP)
    assert host.current(APP) == {"template": None, "trimmed": False}
    assert events[-1] == AppEvent("template", APP, {"template": None, "trimmed": False})
    host.clear(APP)
    assert len(events) == 2


def test_show_refuses_bad_and_undeclared_templates(host: AppHost) -> None:
    with pytest.raises(InvalidArgument, match=r"items\.0\.title is missing"):
        host.show(APP, {"type": "list", "title": "t", "items": [{"id": "a"}]})
    pane = {"type": "pane", "title": "t", "rows": []}
    with pytest.raises(InvalidArgument, match=r"does not declare the pane template .*list"):
        host.show(APP, pane)
    with pytest.raises(PermissionDenied, match="not installed"):
        host.show("org.example.z", listing(1))
    assert host.current(APP)["template"] is None


def test_driving_retrims_what_is_shown(host: AppHost, events: list[AppEvent]) -> None:
    host.show(APP, listing(20))
    host.show(OTHER, listing(2))
    events.clear()
    host.set_driving(MOVING)
    assert host.current(APP)["trimmed"] is True
    assert len(host.current(APP)["template"]["items"]) == 6
    assert host.current(OTHER) == {"template": listing(2), "trimmed": False}
    assert [(e.kind, e.app_id) for e in events] == [("template", APP)], "only what changed"
    assert events[0].payload == host.current(APP)
    assert host.show(APP, listing(10)) is True
    host.set_driving(PARKED)
    assert host.current(APP) == {"template": listing(10), "trimmed": False}


def test_search_is_unavailable_while_moving(host: AppHost) -> None:
    search = {
        "type": "search",
        "title": "Find",
        "placeholder": "Name",
        "results": [{"id": "r", "title": "R"}],
    }
    host.set_driving(MOVING)
    assert host.show(APP, search) is True
    shown = host.current(APP)["template"]
    assert shown["type"] == "message" and "driving" in shown["message"]["en"]
    host.set_driving(PARKED)
    assert host.current(APP) == {"template": search, "trimmed": False}


def test_notifications(host: AppHost, events: list[AppEvent]) -> None:
    first = host.notify(APP, "Charged", "80 % reached")
    assert set(first) == {"id", "app", "title", "body", "priority", "time"}
    assert (first["app"], first["priority"]) == (APP, "normal")
    assert events == [AppEvent("notification", APP, first)]
    second = host.notify(APP, "Low", "10 % left", priority="high")
    assert host.notifications() == [second, first]
    with pytest.raises(PermissionDenied, match="'notifications' permission is not granted"):
        host.notify(OTHER, "Hi", "there")
    with pytest.raises(InvalidArgument, match="priority"):
        host.notify(APP, "Hi", "there", priority="urgent")
    with pytest.raises(InvalidArgument, match="title"):
        host.notify(APP, "", "there")
    with pytest.raises(InvalidArgument, match="body"):
        host.notify(APP, "Hi", "x" * 501)
    for i in range(MAX_NOTIFICATIONS + 5):
        host.notify(APP, f"n{i}", "")
    kept = host.notifications()
    assert len(kept) == MAX_NOTIFICATIONS
    assert kept[0]["title"] == f"n{MAX_NOTIFICATIONS + 4}" and kept[-1]["title"] == "n5"


def test_notifications_are_cut_while_moving(host: AppHost) -> None:
    host.set_driving(MOVING)
    posted = host.notify(APP, "A title of more than forty characters, surely", "b" * 100)
    limit = MOVING.rules.max_text_length
    assert limit is not None
    assert posted["body"] == "b" * (limit - 1) + "…"
    assert len(posted["title"]) == limit and posted["title"].endswith("…")


def test_media_sessions(host: AppHost) -> None:
    one = host.register_media_session(APP, "Radio")
    two = host.register_media_session(APP, "Podcasts")
    assert one != two
    assert host.media_sessions() == [
        {"session_id": one, "app": APP, "name": "Radio"},
        {"session_id": two, "app": APP, "name": "Podcasts"},
    ]
    with pytest.raises(PermissionDenied, match="'media'"):
        host.register_media_session(OTHER, "Mine")
    with pytest.raises(InvalidArgument):
        host.register_media_session(APP, "")
    host.clear(APP)
    assert host.media_sessions() == []


async def test_taps_reach_the_apps_streams(host: AppHost) -> None:
    host.show(APP, listing(3))
    with pytest.raises(Unavailable, match=f"{APP} is not running"):
        await host.action(APP, "refresh", None)
    first, second = host.events(APP), host.events(APP)
    assert host.connected(APP) and not host.connected(OTHER)
    assert await anext(first) == ("driving", INITIAL_STATE.as_json())
    await host.action(APP, "refresh", None)
    await host.action(APP, "select", "s2")
    await host.action(APP, "refresh", "s1")
    assert await anext(first) == ("action", {"action": "refresh", "item": None})
    assert await anext(first) == ("action", {"action": "select", "item": "s2"})
    assert await anext(first) == ("action", {"action": "refresh", "item": "s1"})
    assert await anext(second) == ("driving", INITIAL_STATE.as_json())
    assert await anext(second) == ("action", {"action": "refresh", "item": None})
    for action, item in (("play", None), ("select", "s9"), ("select", None), ("play", "s1")):
        with pytest.raises(InvalidArgument):
            await host.action(APP, action, item)
    first.close()
    second.close()
    assert not host.connected(APP)
    with pytest.raises(StopAsyncIteration):
        await anext(first)


async def test_only_what_is_shown_can_be_tapped(host: AppHost) -> None:
    host.show(APP, listing(20))
    host.set_driving(MOVING)
    async with host.events(APP):
        await host.action(APP, "select", "s5")
        with pytest.raises(InvalidArgument, match="s6"):
            await host.action(APP, "select", "s6")


async def test_driving_changes_reach_every_stream(host: AppHost) -> None:
    stream = host.events(APP)
    other = host.events(OTHER)
    host.set_driving(MOVING)
    host.set_driving(MOVING)  # no change: no event
    host.set_driving(PARKED)
    got = [await anext(stream) for _ in range(3)]
    assert got == [
        ("driving", INITIAL_STATE.as_json()),
        ("driving", MOVING.as_json()),
        ("driving", PARKED.as_json()),
    ]
    assert [await anext(other) for _ in range(3)] == got
    stream.close()
    other.close()


async def test_a_slow_reader_loses_the_oldest_events(
    host: AppHost, caplog: pytest.LogCaptureFixture
) -> None:
    host.show(APP, listing(1))
    stream = host.events(APP)
    for _ in range(EVENT_QUEUE_SIZE + 10):
        await host.action(APP, "select", "s0")
    assert "reads its events too slowly" in caplog.text
    got = [await anext(stream) for _ in range(EVENT_QUEUE_SIZE)]
    assert all(kind == "action" for kind, _ in got), "the oldest (driving) was dropped"
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    stream.close()
    with pytest.raises(StopAsyncIteration):
        await waiting


def test_listeners_can_be_removed_and_may_fail(
    host: AppHost, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[AppEvent] = []

    def broken(event: AppEvent) -> None:
        raise RuntimeError("boom")

    host.listen(broken)
    remove = host.listen(seen.append)
    host.show(APP, listing(1))
    assert len(seen) == 1 and "an app-host listener failed" in caplog.text
    remove()
    remove()
    host.show(APP, listing(2))
    assert len(seen) == 1
