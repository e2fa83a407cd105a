"""The HMI's apps API (``/api/apps…``, docs/apps.md "HTTP API") over real uvicorn and httpx:
every route, its checks of the input, the mapping of the platform's errors to statuses and
JSON bodies, package uploads (raw and as a form, at most 64 MiB), icons, the OpenAPI document,
and 503 on every route while the platform is off.

The apps platform (``carmesh.apps.service.AppsService``) is being built alongside the HMI, so
these tests drive the routes with :class:`AppsPlatformDouble`, a small in-memory
implementation of the :class:`~carmesh.apps.control.AppsControl` protocol that raises the
platform's errors where the protocol says it does. ``test_apps_ws`` and ``test_apps_pages``
use it too. Checking signatures and running processes is the platform's business and tested
there; the double only reads the manifest.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
import tomllib
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from carmesh.apps.control import AppEvent, AppsControl, Listener
from carmesh.broker import Broker
from carmesh.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PackageRejected,
    Unavailable,
)
from carmesh.hmi import HmiServer
from carmesh.hmi.apps_api import MAX_PACKAGE_BYTES
from carmesh.vss import Catalog

HELLO = "org.example.hello"
PUBLISHER = "org.example"
ICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
    b'<rect width="24" height="24" rx="6" fill="#3fdc98"/>'
    b'<circle cx="12" cy="12" r="6" fill="#fff"/>'
    b"</svg>"
)
PEM = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
PEM += "-----END PUBLIC KEY-----\n"
MAX_LIST_ITEMS_MOVING = 6
MAX_TEXT_LENGTH_MOVING = 40


# -- the test double ----------------------------------------------------------------------------


def package(
    app_id: str = HELLO,
    version: str = "1.0.0",
    *,
    names: dict[str, str] | None = None,
    publisher: str = PUBLISHER,
    read: tuple[str, ...] = ("Vehicle.Speed",),
    actuate: tuple[str, ...] = (),
    notifications: bool = True,
    network: bool = False,
    icon: bool = True,
) -> bytes:
    """A zip shaped like a ``.cmapp``: a manifest and an icon, unsigned."""
    names = names or {"en": "Hello", "zh-CN": "你好"}
    lines = [
        f"id = {json.dumps(app_id)}",
        f"version = {json.dumps(version)}",
        f"publisher = {json.dumps(publisher)}",
        'entry = "hello.app:main"',
    ]
    if icon:
        lines.append('icon = "icon.svg"')
    lines.append("[names]")
    lines += [f"{json.dumps(lang)} = {json.dumps(name)}" for lang, name in names.items()]
    lines += ["[description]", 'en = "Says hello."', "[permissions]"]
    lines += [f"read = {json.dumps(list(read))}", f"actuate = {json.dumps(list(actuate))}"]
    lines += [f"notifications = {json.dumps(notifications)}", f"network = {json.dumps(network)}"]
    lines += ["[ui]", 'templates = ["list", "pane", "search"]']
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("carmesh-app.toml", "\n".join(lines) + "\n")
        archive.writestr("hello/app.py", "async def main(car):\n    pass\n")
        if icon:
            archive.writestr("icon.svg", ICON)
    return out.getvalue()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


class AppsPlatformDouble:
    """An in-memory stand-in for the apps platform, implementing ``AppsControl``.

    It installs the packages :func:`package` builds (publisher ``org.example`` is trusted),
    keeps grants, states and templates in dicts, and records what the HMI asked of it in
    :attr:`taps` and :attr:`grant_requests`. Tests make apps show templates and post
    notifications with :meth:`show` and :meth:`notify`, which announce them to listeners as the
    platform does. Not thread-safe: call it on the server's event loop.
    """

    def __init__(self) -> None:
        self.apps: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.recent: list[dict[str, Any]] = []
        self.trusted: dict[str, str] = {PUBLISHER: PEM}
        self.listeners: list[Listener] = []
        self.taps: list[tuple[str, str, str | None]] = []
        self.grant_requests: list[tuple[str, dict[str, bool]]] = []
        self.moving = False
        self.log = [f"line {n}" for n in range(1, 501)]

    # -- AppsControl ----------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        return [self._json(app_id) for app_id in sorted(self.apps)]

    def describe(self, app_id: str) -> dict[str, Any]:
        return self._json(self._get(app_id)["id"])

    async def install(self, package: bytes, grant: str = "ask") -> dict[str, Any]:
        if grant not in ("ask", "all", "none"):
            raise InvalidArgument(f"grant must be ask, all or none, not {grant!r}")
        manifest, icon = self._read(package)
        app_id = manifest["id"]
        if app_id in self.apps:
            raise AlreadyExists(f"{app_id} is installed already; update it instead")
        decided = {"ask": None, "all": True, "none": False}[grant]
        self.apps[app_id] = {
            "id": app_id,
            "manifest": manifest,
            "icon": icon,
            "previous": None,
            "grants": {permission: decided for permission in _permissions(manifest)},
            "enabled": False,
            "state": "stopped",
            "quarantined": False,
            "installed_at": int(time.time() * 1000),
        }
        self._changed()
        return self._json(app_id)

    async def update(self, app_id: str, package: bytes) -> dict[str, Any]:
        app = self._get(app_id)
        manifest, icon = self._read(package)
        if manifest["id"] != app_id:
            raise PackageRejected(f"the package holds {manifest['id']}, not {app_id}")
        if _version(manifest["version"]) <= _version(app["manifest"]["version"]):
            raise PackageRejected(
                f"downgrade: {manifest['version']} is not above {app['manifest']['version']}"
            )
        app["previous"] = (app["manifest"], app["icon"])
        app["manifest"], app["icon"] = manifest, icon
        for permission in _permissions(manifest):
            app["grants"].setdefault(permission, None)
        self._changed()
        return self._json(app_id)

    async def rollback(self, app_id: str) -> dict[str, Any]:
        app = self._get(app_id)
        if app["previous"] is None:
            raise FailedPrecondition(f"{app_id} has no previous version to roll back to")
        current = (app["manifest"], app["icon"])
        app["manifest"], app["icon"] = app["previous"]
        app["previous"] = current
        self._changed()
        return self._json(app_id)

    async def remove(self, app_id: str) -> None:
        self._get(app_id)
        del self.apps[app_id]
        self.templates.pop(app_id, None)
        self._changed()

    async def start(self, app_id: str) -> dict[str, Any]:
        app = self._get(app_id)
        undecided = [p for p, granted in app["grants"].items() if granted is None]
        if undecided:
            raise FailedPrecondition(
                f"{app_id} has permissions nobody decided yet ({', '.join(undecided)}): "
                "grant or deny them first"
            )
        app.update(state="running", enabled=True, quarantined=False)
        self._changed()
        return self._json(app_id)

    async def stop(self, app_id: str) -> dict[str, Any]:
        app = self._get(app_id)
        app.update(state="stopped", enabled=False)
        self.templates.pop(app_id, None)
        self._changed()
        return self._json(app_id)

    async def set_grants(self, app_id: str, grants: dict[str, bool]) -> dict[str, Any]:
        app = self._get(app_id)
        self.grant_requests.append((app_id, dict(grants)))
        for permission in grants:
            if permission not in app["grants"]:
                raise InvalidArgument(f"{app_id} does not ask for the permission {permission}")
        app["grants"].update(grants)
        self._changed()
        return self._json(app_id)

    def logs(self, app_id: str, lines: int = 200) -> list[str]:
        self._get(app_id)
        return self.log[-lines:]

    def icon(self, app_id: str) -> tuple[bytes, str]:
        icon = self._get(app_id)["icon"]
        if icon is None:
            raise NotFound(f"{app_id} has no icon")
        return icon, "image/svg+xml"

    def template(self, app_id: str) -> dict[str, Any]:
        self._get(app_id)
        return self._shown(app_id)

    async def action(self, app_id: str, action: str, item: str | None = None) -> None:
        app = self._get(app_id)
        if app["state"] != "running":
            raise Unavailable(f"{app_id} is not running")
        template = self.templates.get(app_id) or {}
        actions = {a["id"] for a in template.get("actions", [])}
        items = {i["id"] for i in template.get("items", template.get("results", []))}
        if (item is None and action not in actions) or (
            item is not None and (action != "select" or item not in items)
        ):
            raise InvalidArgument(f"{app_id} shows nothing to tap as {action!r} {item!r}")
        self.taps.append((app_id, action, item))

    def notifications(self) -> list[dict[str, Any]]:
        return list(reversed(self.recent))

    def publishers(self) -> list[dict[str, Any]]:
        return [{"publisher": p, "key": key} for p, key in sorted(self.trusted.items())]

    def trust(self, publisher: str, public_key_pem: str) -> dict[str, Any]:
        if not public_key_pem.startswith("-----BEGIN PUBLIC KEY-----"):
            raise InvalidArgument("the key is not a PEM public key")
        if publisher in self.trusted:
            raise AlreadyExists(f"{publisher} is trusted already")
        self.trusted[publisher] = public_key_pem
        return {"publisher": publisher, "key": public_key_pem}

    def listen(self, listener: Listener) -> Callable[[], None]:
        self.listeners.append(listener)

        def remove() -> None:
            if listener in self.listeners:
                self.listeners.remove(listener)

        return remove

    # -- what apps do (driven by the tests) -----------------------------------------------

    def show(self, app_id: str, template: dict[str, Any] | None) -> None:
        """The app shows *template*; listeners get it as the HMI should show it now."""
        self._get(app_id)
        if template is None:
            self.templates.pop(app_id, None)
        else:
            self.templates[app_id] = template
        self.emit(AppEvent("template", app_id, self._shown(app_id)))

    def drive(self, moving: bool) -> None:
        """The driving state changes: every template is announced again, trimmed or not."""
        self.moving = moving
        for app_id in self.templates:
            self.emit(AppEvent("template", app_id, self._shown(app_id)))

    def notify(self, app_id: str, title: str, body: str, priority: str = "normal") -> None:
        notification = {
            "id": f"n{len(self.recent) + 1}",
            "app": app_id,
            "title": title,
            "body": body,
            "priority": priority,
            "time": int(time.time() * 1000),
        }
        self.recent.append(notification)
        self.emit(AppEvent("notification", app_id, notification))

    def set_state(self, app_id: str, state: str) -> None:
        self._get(app_id)["state"] = state
        self._changed()

    def emit(self, event: AppEvent) -> None:
        for listener in list(self.listeners):
            listener(event)

    # -- inside -----------------------------------------------------------------------------

    def _get(self, app_id: str) -> dict[str, Any]:
        try:
            return self.apps[app_id]
        except KeyError:
            raise NotFound(f"no app {app_id} is installed") from None

    def _read(self, package: bytes) -> tuple[dict[str, Any], bytes | None]:
        try:
            with zipfile.ZipFile(io.BytesIO(package)) as archive:
                manifest = tomllib.loads(archive.read("carmesh-app.toml").decode())
                icon = archive.read(manifest["icon"]) if "icon" in manifest else None
        except zipfile.BadZipFile:
            raise PackageRejected("the package is not a zip file") from None
        except KeyError:
            raise PackageRejected("the package has no carmesh-app.toml") from None
        if manifest["publisher"] not in self.trusted:
            raise PackageRejected(f"untrusted publisher {manifest['publisher']}")
        return manifest, icon

    def _shown(self, app_id: str) -> dict[str, Any]:
        template = self.templates.get(app_id)
        if template is None or not self.moving:
            return {"template": template, "trimmed": False}
        shown = json.loads(json.dumps(template))
        trimmed = False
        for name in ("items", "results"):
            if len(shown.get(name, ())) > MAX_LIST_ITEMS_MOVING:
                shown[name] = shown[name][:MAX_LIST_ITEMS_MOVING]
                trimmed = True
        for entry in [shown, *shown.get("items", ())]:
            for key in ("title", "text"):
                text = entry.get(key)
                if isinstance(text, str) and len(text) > MAX_TEXT_LENGTH_MOVING:
                    entry[key] = text[: MAX_TEXT_LENGTH_MOVING - 1] + "…"
                    trimmed = True
        return {"template": shown, "trimmed": trimmed}

    def _changed(self) -> None:
        self.emit(AppEvent("apps", None, {"apps": self.list()}))

    def _json(self, app_id: str) -> dict[str, Any]:
        app = self.apps[app_id]
        manifest = app["manifest"]
        previous = app["previous"]
        return {
            "id": app_id,
            "version": manifest["version"],
            "previous_version": previous[0]["version"] if previous else None,
            "publisher": manifest["publisher"],
            "names": manifest["names"],
            "description": manifest.get("description", {}),
            "icon": f"/api/apps/{app_id}/icon" if app["icon"] is not None else None,
            "runtime": "python",
            "templates": manifest["ui"]["templates"],
            "permissions": [{"id": p, "granted": g} for p, g in app["grants"].items()],
            "enabled": app["enabled"],
            "state": app["state"],
            "pid": 4242 if app["state"] == "running" else None,
            "restarts": 0,
            "quarantined": app["quarantined"],
            "isolation": "network",
            "installed_at": app["installed_at"],
        }


def _permissions(manifest: dict[str, Any]) -> list[str]:
    asked = manifest.get("permissions", {})
    out = [f"{kind}:{pattern}" for kind in ("read", "actuate") for pattern in asked.get(kind, ())]
    out += [flag for flag in ("notifications", "media", "location", "network") if asked.get(flag)]
    return out


def _conforms(double: AppsPlatformDouble) -> AppsControl:
    return double  # mypy checks that the double implements the protocol


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
async def broker(catalog: Catalog) -> AsyncIterator[Broker]:
    b = Broker(catalog)
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
def platform() -> AppsPlatformDouble:
    return AppsPlatformDouble()


@pytest.fixture
async def client(broker: Broker, platform: AppsPlatformDouble) -> AsyncIterator[httpx.AsyncClient]:
    server = HmiServer(broker, "127.0.0.1:0", apps=platform)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            yield http
    finally:
        await server.stop()


@pytest.fixture
async def off(broker: Broker) -> AsyncIterator[httpx.AsyncClient]:
    """An HMI without the apps platform."""
    server = HmiServer(broker, "127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield http
    finally:
        await server.stop()


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """The message of a JSON error body, checked for status, shape and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "path"}
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert message and "Traceback" not in message
    return message


async def install(client: httpx.AsyncClient, data: bytes | None = None, **params: str) -> Any:
    response = await client.post(
        "/api/apps",
        params=params,
        content=package() if data is None else data,
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return response.json()


# -- the platform off ---------------------------------------------------------------------------

ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/apps", {}),
    ("POST", "/api/apps", {"content": b"PK\x03\x04"}),
    ("POST", "/api/apps?grant=bogus", {"content": b"x"}),
    ("GET", "/api/apps/publishers", {}),
    ("POST", "/api/apps/publishers", {"json": {"publisher": "org.x", "public_key_pem": PEM}}),
    ("GET", f"/api/apps/{HELLO}", {}),
    ("DELETE", f"/api/apps/{HELLO}", {}),
    ("POST", f"/api/apps/{HELLO}/update", {"content": b"PK"}),
    ("POST", f"/api/apps/{HELLO}/rollback", {}),
    ("POST", f"/api/apps/{HELLO}/start", {}),
    ("POST", f"/api/apps/{HELLO}/stop", {}),
    ("PUT", f"/api/apps/{HELLO}/grants", {"json": {"grants": {"network": True}}}),
    ("PUT", f"/api/apps/{HELLO}/grants", {"content": b"{not json"}),
    ("GET", f"/api/apps/{HELLO}/logs?lines=5", {}),
    ("GET", f"/api/apps/{HELLO}/icon", {}),
    ("GET", f"/api/apps/{HELLO}/template", {}),
    ("POST", f"/api/apps/{HELLO}/action", {"json": {"action": "select", "item": "a"}}),
    ("GET", "/api/apps/NOT-AN-ID", {}),
]


@pytest.mark.parametrize(("method", "url", "options"), ROUTES)
async def test_every_route_answers_503_while_the_platform_is_off(
    off: httpx.AsyncClient, method: str, url: str, options: dict[str, Any]
) -> None:
    response = await off.request(method, url, **options)
    message = error_of(response, 503, "unavailable")
    assert message == "the apps platform is not running"


async def test_the_rest_of_the_api_works_without_the_platform(off: httpx.AsyncClient) -> None:
    assert (await off.get("/api/driving-state")).status_code == 200


# -- installing and updating --------------------------------------------------------------------


async def test_install_answers_201_with_the_app_and_lists_it(
    client: httpx.AsyncClient, platform: AppsPlatformDouble
) -> None:
    app = await install(client)
    assert app["id"] == HELLO and app["names"] == {"en": "Hello", "zh-CN": "你好"}
    assert app["permissions"] == [
        {"id": "read:Vehicle.Speed", "granted": None},
        {"id": "notifications", "granted": None},
    ]
    assert app["icon"] == f"/api/apps/{HELLO}/icon" and app["state"] == "stopped"
    listed = (await client.get("/api/apps")).json()
    assert listed == {"apps": [app]}
    assert (await client.get(f"/api/apps/{HELLO}")).json() == app


@pytest.mark.parametrize(("grant", "granted"), [("all", True), ("none", False), ("ask", None)])
async def test_install_grants_as_asked(
    client: httpx.AsyncClient, grant: str, granted: bool | None
) -> None:
    app = await install(client, grant=grant)
    assert {p["granted"] for p in app["permissions"]} == {granted}


async def test_install_refuses_bad_requests(client: httpx.AsyncClient) -> None:
    raw = {"content-type": "application/octet-stream"}
    for grant in ("bogus", "ALL", ""):
        response = await client.post(
            "/api/apps", params={"grant": grant}, content=package(), headers=raw
        )
        assert "grant must be one of ask, all, none" in error_of(response, 400, "invalid_argument")
    empty = await client.post("/api/apps", content=b"", headers=raw)
    assert "holds no package" in error_of(empty, 400, "invalid_argument")
    junk = await client.post("/api/apps", content=b"not a zip", headers=raw)
    assert error_of(junk, 400, "package_rejected") == "the package is not a zip file"
    stranger = await client.post(
        "/api/apps", content=package(publisher="com.stranger"), headers=raw
    )
    assert "untrusted publisher" in error_of(stranger, 400, "package_rejected")
    as_json = await client.post("/api/apps", json={"package": "…"})
    assert "application/octet-stream" in error_of(as_json, 415, "invalid_argument")
    await install(client)
    again = await client.post("/api/apps", content=package(), headers=raw)
    assert "installed already" in error_of(again, 409, "already_exists")


async def test_install_takes_a_package_without_a_content_type(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/apps", content=package())
    assert response.status_code == 201, response.text


async def test_install_takes_a_multipart_upload(client: httpx.AsyncClient) -> None:
    data = package(names={"en": "Form", "zh-CN": "表单"})
    files = {"package": ("hello-1.0.0.cmapp", data, "application/octet-stream")}
    response = await client.post("/api/apps", params={"grant": "all"}, files=files)
    assert response.status_code == 201, response.text
    assert response.json()["names"]["zh-CN"] == "表单"
    # Other fields are ignored; the package must be there exactly once.
    other = {"note": (None, "hi"), "package": ("x.cmapp", package(app_id="org.example.two"))}
    assert (await client.post("/api/apps", files=other)).status_code == 201
    missing = await client.post("/api/apps", files={"file": ("x.cmapp", data)})
    assert "no 'package' file field" in error_of(missing, 400, "invalid_argument")
    twice = [("package", ("a", data)), ("package", ("b", data))]
    twice_response = await client.post("/api/apps", files=twice)
    assert "one 'package' file field, not 2" in error_of(twice_response, 400, "invalid_argument")


@pytest.mark.parametrize(
    ("content_type", "body", "problem"),
    [
        ("multipart/form-data", b"--x\r\n\r\nbody\r\n--x--\r\n", "names no boundary"),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\nbody\r\n--x\r\n", "closing boundary"),
        ("multipart/form-data; boundary=x", b"--x\r\nno blank line\r\n--x--", "malformed"),
        ("multipart/form-data; boundary=x", b"--x\r\nbad header\r\n\r\nb\r\n--x--", "header"),
    ],
)
async def test_malformed_forms_are_400(
    client: httpx.AsyncClient, content_type: str, body: bytes, problem: str
) -> None:
    response = await client.post("/api/apps", content=body, headers={"content-type": content_type})
    assert problem in error_of(response, 400, "invalid_argument")


async def test_a_body_above_64_mib_is_413_before_it_is_read(client: httpx.AsyncClient) -> None:
    host, port = client.base_url.host, client.base_url.port
    assert port is not None

    def declare_too_much() -> bytes:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/apps HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/octet-stream\r\n"
                + f"Content-Length: {MAX_PACKAGE_BYTES + 1}\r\n\r\n".encode()
            )
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            return answer

    answer = await asyncio.to_thread(declare_too_much)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_argument" and "64 MiB" in error["message"]


async def test_a_streamed_body_above_64_mib_is_413(client: httpx.AsyncClient) -> None:
    chunk = b"\0" * (1 << 20)

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield chunk
        yield b"!"  # one byte too many

    response = await client.post(
        "/api/apps", content=stream(), headers={"content-type": "application/octet-stream"}
    )
    assert "larger than 64 MiB" in error_of(response, 413, "invalid_argument")


async def test_update_and_rollback(client: httpx.AsyncClient) -> None:
    await install(client, grant="all")
    newer = package(version="1.1.0", network=True)
    response = await client.post(f"/api/apps/{HELLO}/update", content=newer)
    assert response.status_code == 200, response.text
    app = response.json()
    assert (app["version"], app["previous_version"]) == ("1.1.0", "1.0.0")
    assert {"id": "network", "granted": None} in app["permissions"]
    older = await client.post(f"/api/apps/{HELLO}/update", content=package(version="0.9.0"))
    assert "downgrade" in error_of(older, 400, "package_rejected")
    files = {"package": ("p", package(version="1.2.0"))}
    as_form = await client.post(f"/api/apps/{HELLO}/update", files=files)
    assert as_form.json()["version"] == "1.2.0"
    back = await client.post(f"/api/apps/{HELLO}/rollback")
    assert (back.json()["version"], back.json()["previous_version"]) == ("1.1.0", "1.2.0")
    other = await client.post("/api/apps/org.example.other/update", content=newer)
    error_of(other, 404, "not_found")


async def test_rollback_without_a_previous_version_is_409(client: httpx.AsyncClient) -> None:
    await install(client)
    response = await client.post(f"/api/apps/{HELLO}/rollback")
    assert "no previous version" in error_of(response, 409, "failed_precondition")


async def test_remove(client: httpx.AsyncClient) -> None:
    await install(client)
    response = await client.delete(f"/api/apps/{HELLO}")
    assert response.status_code == 200 and response.json() == {"ok": True}
    error_of(await client.get(f"/api/apps/{HELLO}"), 404, "not_found")
    error_of(await client.delete(f"/api/apps/{HELLO}"), 404, "not_found")


@pytest.mark.parametrize(
    "bad", ["hello", "Org.Example.Hello", "org..hello", "org.example.hello.", "a." + "b" * 127]
)
async def test_malformed_app_ids_are_400(client: httpx.AsyncClient, bad: str) -> None:
    for method, suffix in (("GET", ""), ("POST", "/start"), ("GET", "/icon"), ("DELETE", "")):
        response = await client.request(method, f"/api/apps/{bad}{suffix}")
        assert "is not a valid app id" in error_of(response, 400, "invalid_argument")


# -- lifecycle and permissions ------------------------------------------------------------------


async def test_start_needs_decided_permissions_then_stop(
    client: httpx.AsyncClient, platform: AppsPlatformDouble
) -> None:
    await install(client)
    refused = await client.post(f"/api/apps/{HELLO}/start")
    assert "nobody decided yet" in error_of(refused, 409, "failed_precondition")
    grants = {"read:Vehicle.Speed": True, "notifications": False}
    decided = await client.put(f"/api/apps/{HELLO}/grants", json={"grants": grants})
    assert decided.status_code == 200, decided.text
    assert decided.json()["permissions"] == [
        {"id": "read:Vehicle.Speed", "granted": True},
        {"id": "notifications", "granted": False},
    ]
    assert platform.grant_requests == [(HELLO, grants)]
    started = await client.post(f"/api/apps/{HELLO}/start")
    assert started.json()["state"] == "running" and started.json()["enabled"] is True
    stopped = await client.post(f"/api/apps/{HELLO}/stop")
    assert stopped.json()["state"] == "stopped" and stopped.json()["enabled"] is False


async def test_grants_are_checked(client: httpx.AsyncClient, platform: AppsPlatformDouble) -> None:
    await install(client)
    url = f"/api/apps/{HELLO}/grants"
    unknown = await client.put(url, json={"grants": {"location": True}})
    assert "does not ask for the permission location" in error_of(unknown, 400, "invalid_argument")
    empty = await client.put(url, json={"grants": {}})
    assert "give the permissions to decide" in error_of(empty, 400, "invalid_argument")
    for malformed in ({"grants": {"notifications": "yes"}}, {"grants": ["notifications"]}, {}):
        error_of(await client.put(url, json=malformed), 422, "invalid_argument")
    error_of(await client.put(url, content=b"{oops"), 422, "invalid_argument")
    missing = await client.put("/api/apps/org.example.none/grants", json={"grants": {"x": True}})
    error_of(missing, 404, "not_found")
    assert len(platform.grant_requests) == 1  # only the unknown permission reached it


async def test_logs(client: httpx.AsyncClient) -> None:
    await install(client)
    default = (await client.get(f"/api/apps/{HELLO}/logs")).json()
    assert len(default["lines"]) == 200 and default["lines"][-1] == "line 500"
    assert (await client.get(f"/api/apps/{HELLO}/logs?lines=3")).json() == {
        "lines": ["line 498", "line 499", "line 500"]
    }
    for bad in ("0", "-1", "abc", "10001", "1.5", "٣"):
        response = await client.get(f"/api/apps/{HELLO}/logs", params={"lines": bad})
        assert "from 1 to 10000" in error_of(response, 400, "invalid_argument"), bad


# -- icons, templates and taps ------------------------------------------------------------------


async def test_icons_are_served_with_their_type_revalidated_and_sandboxed(
    client: httpx.AsyncClient,
) -> None:
    await install(client)
    response = await client.get(f"/api/apps/{HELLO}/icon")
    assert response.status_code == 200 and response.content == ICON
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "no-cache"
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    again = await client.get(
        f"/api/apps/{HELLO}/icon", headers={"if-none-match": response.headers["etag"]}
    )
    assert again.status_code == 304 and not again.content
    await install(client, package(app_id="org.example.plain", icon=False))
    error_of(await client.get("/api/apps/org.example.plain/icon"), 404, "not_found")


async def test_template_and_action(client: httpx.AsyncClient, platform: AppsPlatformDouble) -> None:
    await install(client, grant="all")
    assert (await client.get(f"/api/apps/{HELLO}/template")).json() == {
        "template": None,
        "trimmed": False,
    }
    template = {
        "type": "list",
        "title": "Hello",
        "items": [{"id": "a", "title": "A"}],
        "actions": [{"id": "refresh", "label": "Refresh"}],
    }
    platform.show(HELLO, template)
    shown = (await client.get(f"/api/apps/{HELLO}/template")).json()
    assert shown == {"template": template, "trimmed": False}
    url = f"/api/apps/{HELLO}/action"
    not_running = await client.post(url, json={"action": "refresh"})
    assert "not running" in error_of(not_running, 503, "unavailable")
    await client.post(f"/api/apps/{HELLO}/start")
    assert (await client.post(url, json={"action": "select", "item": "a"})).json() == {"ok": True}
    assert (await client.post(url, json={"action": "refresh", "item": None})).json() == {"ok": True}
    assert platform.taps == [(HELLO, "select", "a"), (HELLO, "refresh", None)]
    error_of(await client.post(url, json={"action": "nope"}), 400, "invalid_argument")
    bad_id = await client.post(url, json={"action": "a b"})
    assert "not an action id" in error_of(bad_id, 400, "invalid_argument")
    bad_item = await client.post(url, json={"action": "select", "item": "x" * 65})
    assert "not an item id" in error_of(bad_item, 400, "invalid_argument")
    error_of(await client.post(url, json={"item": "a"}), 422, "invalid_argument")
    error_of(await client.post(url, json={"action": 5}), 422, "invalid_argument")
    assert len(platform.taps) == 2


# -- publishers ---------------------------------------------------------------------------------


async def test_publishers(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/api/apps/publishers")).json()
    assert listed == {"publishers": [{"publisher": PUBLISHER, "key": PEM}]}
    url = "/api/apps/publishers"
    response = await client.post(url, json={"publisher": "com.acme", "public_key_pem": PEM})
    assert response.status_code == 201 and response.json()["publisher"] == "com.acme"
    again = await client.post(url, json={"publisher": "com.acme", "public_key_pem": PEM})
    error_of(again, 409, "already_exists")
    bad_name = await client.post(url, json={"publisher": "acme", "public_key_pem": PEM})
    assert "not a valid publisher id" in error_of(bad_name, 400, "invalid_argument")
    for pem in ("", "x" * 20_000):
        bad_key = await client.post(url, json={"publisher": "com.b", "public_key_pem": pem})
        assert "public_key_pem" in error_of(bad_key, 400, "invalid_argument")
    not_pem = await client.post(url, json={"publisher": "com.b", "public_key_pem": "hello"})
    error_of(not_pem, 400, "invalid_argument")
    error_of(await client.post(url, json={"publisher": "com.b"}), 422, "invalid_argument")


# -- pages elsewhere, documentation -------------------------------------------------------------


async def test_pages_of_other_hosts_may_not_change_apps(client: httpx.AsyncClient) -> None:
    evil = {"origin": "http://evil.example"}
    files = {"package": ("x.cmapp", package())}
    upload = await client.post("/api/apps", params={"grant": "all"}, files=files, headers=evil)
    assert "evil.example" in error_of(upload, 403, "permission_denied")
    assert (await client.get("/api/apps")).json() == {"apps": []}
    await install(client)
    for method, suffix in (("POST", "/start"), ("POST", "/stop"), ("DELETE", "")):
        response = await client.request(method, f"/api/apps/{HELLO}{suffix}", headers=evil)
        error_of(response, 403, "permission_denied")
    null = await client.post(f"/api/apps/{HELLO}/stop", headers={"origin": "null"})
    error_of(null, 403, "permission_denied")
    # Reading is fine, and so is the car's own page.
    assert (await client.get("/api/apps", headers=evil)).status_code == 200
    own = {"origin": str(client.base_url)}
    assert (await client.post(f"/api/apps/{HELLO}/stop", headers=own)).status_code == 200


async def test_every_route_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        "/api/apps": {"get", "post"},
        "/api/apps/publishers": {"get", "post"},
        "/api/apps/{app_id}": {"get", "delete"},
        "/api/apps/{app_id}/update": {"post"},
        "/api/apps/{app_id}/rollback": {"post"},
        "/api/apps/{app_id}/start": {"post"},
        "/api/apps/{app_id}/stop": {"post"},
        "/api/apps/{app_id}/grants": {"put"},
        "/api/apps/{app_id}/logs": {"get"},
        "/api/apps/{app_id}/icon": {"get"},
        "/api/apps/{app_id}/template": {"get"},
        "/api/apps/{app_id}/action": {"post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
        for method in methods:
            operation = paths[path][method]
            assert operation["summary"], (path, method)
            assert "503" in operation["responses"], (path, method)
    install_op = paths["/api/apps"]["post"]
    assert set(install_op["requestBody"]["content"]) == {
        "application/octet-stream",
        "multipart/form-data",
    }
    assert "201" in install_op["responses"]
    grant = next(p for p in install_op["parameters"] if p["name"] == "grant")
    assert grant["schema"]["enum"] == ["ask", "all", "none"]
    app_schema = spec["components"]["schemas"]["App"]
    assert {"id", "names", "permissions", "state"} <= set(app_schema["properties"])
    assert set(paths["/api/apps/{app_id}/icon"]["get"]["responses"]["200"]["content"]) == {
        "image/svg+xml",
        "image/png",
    }


def test_the_double_keeps_to_the_protocol() -> None:
    assert _conforms(AppsPlatformDouble()) is not None
