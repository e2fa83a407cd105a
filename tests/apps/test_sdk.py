"""The app SDK against a real car core: a broker with the VSS catalog, the gRPC server with the
app host adapter, app tokens signed with an Ed25519 key and checked per call."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from carmesh.api.grpc.app_host import adapter_for
from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.carmesh_app_v1 import app_pb2, app_pb2_grpc
from carmesh.api.grpc.server import GrpcServer
from carmesh.api.tokens import TokenVerifier, create_token
from carmesh.apps.host import AppAccess, AppHost
from carmesh.broker import Broker, Principal
from carmesh.errors import (
    AlreadyClaimed,
    InvalidArgument,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from carmesh.rules.distraction import INITIAL_STATE, derive
from carmesh.sdk import Car, Item, ListTemplate, PaneTemplate, Row
from carmesh.vss import Catalog

APP = "org.example.a"
SPEED = "Vehicle.Speed"  # float sensor
RANGE = "Vehicle.Powertrain.Range"  # uint32 sensor
SEAT = "Vehicle.Cabin.Seat.Row1.DriverSide.Position"  # uint16 actuator, min 0
HVAC = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"  # float actuator
WIPER = "Vehicle.Body.Windshield.Front.Wiping.Mode"  # string actuator with allowed values
MOVING = derive(None, 50.0, 127)
TIMEOUT = 5.0
SYSTEM = Principal.system()


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@dataclass
class TheCar:
    broker: Broker
    host: AppHost
    server: GrpcServer
    private_key: bytes
    apps: dict[str, AppAccess] = field(default_factory=dict)

    def token(self, scope: str = "", app: str = APP, **kwargs: Any) -> str:
        kwargs.setdefault("subject", f"app:{app}")
        return create_token(self.private_key, scope, issuer="carmesh-apps", **kwargs)

    def install(
        self,
        scope: str = "",
        *extra: str,
        app: str = APP,
        templates: tuple[str, ...] = ("list",),
    ) -> str:
        """Install *app* with the VSS permissions of *scope* and the *extra* permission
        ids granted; its token."""
        permissions = frozenset(scope.split()) | frozenset(extra)
        self.apps[app] = AppAccess(app, "1.2.0", permissions, frozenset(templates))
        return self.token(scope, app)

    def connect(self, token: str) -> Any:
        return Car.connect(self.server.address, token)

    def value(self, path: str) -> Any:
        point = self.broker.get(SYSTEM, path)
        return None if point is None else point.value


async def serve(
    catalog: Catalog, keys: tuple[bytes, bytes], address: str
) -> tuple[Broker, AppHost, GrpcServer, dict[str, AppAccess]]:
    broker = Broker(catalog, actuation_timeout=2.0)
    await broker.start()
    apps: dict[str, AppAccess] = {}
    host = AppHost(apps.get, locale=lambda: "zh-CN")
    server = GrpcServer(
        broker,
        address,
        auth=GrpcAuth(TokenVerifier(keys[1])),
        extra=[adapter_for(host)],
    )
    await server.start()
    return broker, host, server, apps


@pytest.fixture
async def car(catalog: Catalog, keys: tuple[bytes, bytes]) -> AsyncIterator[TheCar]:
    broker, host, server, apps = await serve(catalog, keys, "127.0.0.1:0")
    try:
        yield TheCar(broker, host, server, keys[0], apps)
    finally:
        await server.stop()
        await broker.stop()


async def settle(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


def listing(n: int) -> ListTemplate:
    return ListTemplate(
        title="Stations", items=[Item(id=f"i{i}", title=f"Station {i}") for i in range(n)]
    )


# -- signals -----------------------------------------------------------------------------------


async def test_get_and_subscribe(car: TheCar) -> None:
    token = car.install(f"read:{SPEED} read:{RANGE}")
    await car.broker.publish(SYSTEM, {SPEED: 42.5})
    async with car.connect(token) as app:
        assert await app.get(SPEED) == 42.5
        assert await app.get(RANGE) is None
        assert await app.get_many([SPEED, RANGE]) == {SPEED: 42.5, RANGE: None}
        async with app.subscribe([SPEED, RANGE]) as updates:
            first = await asyncio.wait_for(anext(updates), TIMEOUT)
            assert first == {SPEED: 42.5, RANGE: None}
            await car.broker.publish(SYSTEM, {RANGE: 300_000})
            assert await asyncio.wait_for(anext(updates), TIMEOUT) == {SPEED: 42.5, RANGE: 300_000}
            await car.broker.publish(SYSTEM, {SPEED: 50.0})
            assert await asyncio.wait_for(anext(updates), TIMEOUT) == {SPEED: 50.0, RANGE: 300_000}
        await settle(lambda: car.broker.subscription_count == 0)


async def test_actuate_reaches_the_providing_app(car: TheCar) -> None:
    provider_token = car.install(f"provide:{SEAT}", app="org.example.seat")
    driver_token = car.install(f"actuate:{SEAT}")
    requests: list[dict[str, Any]] = []

    async def move(targets: dict[str, Any]) -> None:
        requests.append(targets)
        if targets[SEAT] > 900:
            raise InvalidArgument("the seat cannot go that far back")

    async with car.connect(driver_token) as driver:
        with pytest.raises(Unavailable):
            await driver.actuate({SEAT: 100})  # nobody serves the seat yet
        async with car.connect(provider_token) as seat, seat.provide([SEAT], actuate=move):
            await driver.actuate({SEAT: 400})
            assert requests == [{SEAT: 400}]
            with pytest.raises(InvalidValue, match="cannot go that far back"):
                await driver.actuate({SEAT: 950})
            with pytest.raises(InvalidValue, match="uint16"):
                await driver.actuate({SEAT: "far"})
            with pytest.raises(InvalidValue):
                await driver.actuate({SEAT: -5})
            assert len(requests) == 2, "bad values never reach the provider"
        with pytest.raises(Unavailable):
            await driver.actuate({SEAT: 100})  # the provider is gone


async def test_provide_and_publish(car: TheCar) -> None:
    token = car.install(f"provide:{RANGE} provide:{WIPER}")
    async with car.connect(token) as app:
        async with app.provide([RANGE, WIPER]) as provider:
            await provider.publish({RANGE: 420_000, WIPER: "SLOW"})
            await settle(lambda: car.value(RANGE) == 420_000 and car.value(WIPER) == "SLOW")
            with pytest.raises(InvalidValue, match="0 to 4294967295"):
                await provider.publish({RANGE: -1})
            with pytest.raises(InvalidValue, match="takes one of"):
                await provider.publish({WIPER: "WILD"})
            with pytest.raises(PermissionDenied, match="not provided here"):
                await provider.publish({SPEED: 1.0})
            with pytest.raises(PermissionDenied):
                await car.broker.publish(SYSTEM, {RANGE: 1})  # the app holds the claim
            other = app.provide([RANGE])
            with pytest.raises(AlreadyClaimed):
                await other.open()
        # Leaving the block releases the claim.
        await settle(lambda: car.broker.provider_of(RANGE) is None)
        await app.publish({RANGE: 7})
        assert car.value(RANGE) == 7


async def test_permission_denials(car: TheCar) -> None:
    token = car.install(f"read:{SPEED}")
    async with car.connect(token) as app:
        assert await app.get(SPEED) is None
        with pytest.raises(PermissionDenied, match=HVAC):
            await app.get(HVAC)
        with pytest.raises(PermissionDenied, match=HVAC):
            await app.actuate({HVAC: 21.5})
        with pytest.raises(PermissionDenied):
            await app.get_many([SPEED, HVAC])
        with pytest.raises(PermissionDenied):
            async with app.subscribe([HVAC]) as updates:
                await asyncio.wait_for(anext(updates), TIMEOUT)
        with pytest.raises(PermissionDenied):
            async with app.provide([SPEED]):
                pass
        with pytest.raises(PermissionDenied):
            await app.publish({SPEED: 3.0})
        with pytest.raises(NotFound):
            await app.get("Vehicle.NoSuchSignal")
    assert car.value(SPEED) is None


async def test_bad_tokens_are_unauthenticated(car: TheCar, keys: tuple[bytes, bytes]) -> None:
    car.install(f"read:{SPEED}")
    expired = car.token(f"read:{SPEED}", expires_in=-60)
    with pytest.raises(Unauthenticated, match="expired"):
        await car.connect(expired)
    other_key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    forged = create_token(other_key, f"read:{SPEED}", subject=f"app:{APP}", issuer="carmesh-apps")
    with pytest.raises(Unauthenticated):
        await car.connect(forged)
    with pytest.raises(Unauthenticated, match="no bearer token"):
        await Car.connect(car.server.address, "")  # no token at all


# -- the app host ------------------------------------------------------------------------------


async def test_hello_show_and_notify(car: TheCar) -> None:
    token = car.install(f"read:{SPEED}")
    async with car.connect(token) as app:
        assert (app.app_id, app.version, app.locale) == (APP, "1.2.0", "zh-CN")
        assert app.permissions == {f"read:{SPEED}"}
        assert app.driving == INITIAL_STATE.as_json()
        assert await app.show(listing(3)) is False
        assert car.host.current(APP) == {
            "template": {
                "type": "list",
                "title": "Stations",
                "items": [{"id": f"i{i}", "title": f"Station {i}"} for i in range(3)],
                "actions": [],
            },
            "trimmed": False,
        }
        with pytest.raises(InvalidArgument, match="items is missing"):
            await app.show({"type": "list", "title": "No items"})
        with pytest.raises(InvalidArgument, match="does not declare the pane template"):
            await app.show(PaneTemplate(title="Trip", rows=[Row(label="km", value="12")]))
        with pytest.raises(InvalidArgument, match="JSON"):
            await app.show({"type": "list", "title": object()})
        assert car.host.current(APP)["template"]["items"][2]["id"] == "i2", "still the last good"
        with pytest.raises(PermissionDenied, match="'notifications' permission"):
            await app.notify("Hi", "there")
        with pytest.raises(PermissionDenied, match="'media' permission"):
            await app.register_media_session("Radio")
    assert car.host.notifications() == []


async def test_notify_and_media_with_permission(car: TheCar) -> None:
    token = car.install("", "notifications", "media")
    async with car.connect(token) as app:
        ident = await app.notify("Charged", "80 % reached", priority="high")
        (posted,) = car.host.notifications()
        assert posted["id"] == ident
        assert (posted["app"], posted["title"], posted["priority"]) == (APP, "Charged", "high")
        with pytest.raises(InvalidArgument, match="priority"):
            await app.notify("Charged", "again", priority="loud")
        session = await app.register_media_session("Radio")
        assert car.host.media_sessions() == [{"session_id": session, "app": APP, "name": "Radio"}]


async def test_actions_and_driving_reach_the_app(car: TheCar) -> None:
    token = car.install(f"read:{SPEED}")
    async with car.connect(token) as app:
        await app.show(listing(20))
        taps: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        states: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def tapped(action: str, item: str | None) -> None:
            await taps.put((action, item))

        app.on_action(tapped)
        app.on_driving(states.put_nowait)
        await asyncio.wait_for(app.events_open(), TIMEOUT)
        assert car.host.connected(APP)
        assert await asyncio.wait_for(states.get(), TIMEOUT) == INITIAL_STATE.as_json()

        await car.host.action(APP, "select", "i13")
        assert await asyncio.wait_for(taps.get(), TIMEOUT) == ("select", "i13")

        car.host.set_driving(MOVING)
        assert await asyncio.wait_for(states.get(), TIMEOUT) == MOVING.as_json()
        assert app.driving == MOVING.as_json()
        shown = car.host.current(APP)
        assert shown["trimmed"] is True and len(shown["template"]["items"]) == 6
        with pytest.raises(InvalidArgument):
            await car.host.action(APP, "select", "i13")  # no longer shown
        await car.host.action(APP, "select", "i5")
        assert await asyncio.wait_for(taps.get(), TIMEOUT) == ("select", "i5")
        assert await app.show(listing(3)) is False
        assert await app.show(listing(7)) is True
    await settle(lambda: not car.host.connected(APP))
    with pytest.raises(Unavailable, match="not running"):
        await car.host.action(APP, "select", "i1")


async def test_only_installed_apps_may_use_the_app_host(car: TheCar) -> None:
    async with grpc.aio.insecure_channel(car.server.address) as channel:
        stub = app_pb2_grpc.AppHostStub(channel)
        integrator = create_token(car.private_key, f"read:{SPEED}", issuer="someone")
        for call in (
            stub.Hello(app_pb2.HelloRequest(), metadata=_bearer(integrator)),
            stub.ShowTemplate(
                app_pb2.ShowTemplateRequest(template_json="{}"), metadata=_bearer(integrator)
            ),
            stub.Notify(app_pb2.NotifyRequest(title="x"), metadata=_bearer(integrator)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
            assert refused.value.details() == "only apps may use the app host"
        stranger = car.token(f"read:{SPEED}", app="org.example.stranger")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Hello(app_pb2.HelloRequest(), metadata=_bearer(stranger))
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "not installed" in (refused.value.details() or "")
        events = stub.Events(app_pb2.EventsRequest(), metadata=_bearer(stranger))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await events.read()
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Hello(app_pb2.HelloRequest())
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    # Through the SDK: a non-app token still reads signals, but has no app host.
    async with car.connect(integrator) as tool:
        assert tool.app_id is None and tool.driving is None
        assert await tool.get(SPEED) is None
        with pytest.raises(PermissionDenied, match="only apps"):
            await tool.show(listing(1))


async def test_stopping_the_server_ends_the_event_streams(car: TheCar) -> None:
    token = car.install(f"read:{SPEED}")
    async with grpc.aio.insecure_channel(car.server.address) as channel:
        stub = app_pb2_grpc.AppHostStub(channel)
        events = stub.Events(app_pb2.EventsRequest(), metadata=_bearer(token))
        first = await asyncio.wait_for(events.read(), TIMEOUT)
        assert first.kind == "driving"
        started = time.monotonic()
        await car.server.stop()
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await asyncio.wait_for(events.read(), TIMEOUT)
        assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 2.0
    assert not car.host.connected(APP)


# -- connecting --------------------------------------------------------------------------------


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # Unix socket paths are short (~107 bytes): not under pytest's long tmp_path.
    with tempfile.TemporaryDirectory(prefix="cm-", dir="/tmp") as path:
        yield Path(path)


async def test_connect_from_the_environment_over_a_unix_socket(
    catalog: Catalog,
    keys: tuple[bytes, bytes],
    socket_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker, host, server, apps = await serve(catalog, keys, f"unix:{socket_dir}/apps.sock")
    try:
        the_car = TheCar(broker, host, server, keys[0], apps)
        token = the_car.install(f"read:{SPEED}")
        await broker.publish(SYSTEM, {SPEED: 12.0})
        monkeypatch.setenv("CARMESH_BROKER", server.address)
        monkeypatch.setenv("CARMESH_APP_TOKEN", token)
        monkeypatch.setenv("CARMESH_APP_DATA", str(tmp_path))
        async with Car.connect() as app:
            assert app.app_id == APP
            assert app.data_dir == tmp_path
            assert await app.get(SPEED) == 12.0
            await app.show(listing(1))
        assert host.current(APP)["template"] is not None
        monkeypatch.delenv("CARMESH_APP_DATA")
        app = await Car.connect()
        try:
            assert app.data_dir.is_dir() and app.data_dir != tmp_path
            assert app.data_dir == app.data_dir
        finally:
            await app.close()
            app.data_dir.rmdir()
    finally:
        await server.stop()
        await broker.stop()


async def test_an_unreachable_car_is_unavailable(socket_dir: Path) -> None:
    with pytest.raises(Unavailable):
        await Car.connect(f"unix:{socket_dir}/nobody.sock", "token")


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)
