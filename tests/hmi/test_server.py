"""The HMI server as a service: pages and assets, binding and refusal, settings, stopping
within a second, isolation from slow clients, and Ctrl-C of the real ``carmesh run``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from carmesh.broker import Broker, Principal
from carmesh.errors import ConfigError
from carmesh.hmi import HmiServer
from carmesh.runtime import Runtime
from carmesh.settings import Settings
from carmesh.vss import Catalog
from tests.hmi.support import hmi_client, ws_url
from tests.support.car import CARMESH, running_car

SYSTEM = Principal.system()
FAN = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed"


class StuckActuator:
    """Accepts actuation requests and never answers them."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        self.requests.append(dict(targets))
        await asyncio.sleep(3600)


@pytest.fixture
async def broker(catalog: Catalog) -> AsyncIterator[Broker]:
    b = Broker(catalog, actuation_timeout=30)
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A static folder and an i18n folder as the pages ship them."""
    static = tmp_path / "static"
    (static / "js").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>centre</title>")
    (static / "cluster.html").write_text("<!doctype html><title>cluster</title>")
    (static / "js" / "app.js").write_text("export const ok = true;\n")
    (static / "js" / "util.mjs").write_text("export const ok = true;\n")
    (tmp_path / "i18n").mkdir()
    (tmp_path / "i18n" / "zh-CN.json").write_text(json.dumps({"speed": "车速"}, ensure_ascii=False))
    (tmp_path / "secret.txt").write_text("not served")
    return tmp_path


@pytest.fixture
async def hmi(broker: Broker, site: Path) -> AsyncIterator[HmiServer]:
    server = HmiServer(broker, "127.0.0.1:0", static_dir=site / "static", i18n_dir=site / "i18n")
    await server.start()
    yield server
    await server.stop()


async def test_pages_and_assets(hmi: HmiServer) -> None:
    async with httpx.AsyncClient(base_url=hmi.url) as client:
        centre = await client.get("/")
        assert centre.text.endswith("<title>centre</title>")
        assert centre.headers["content-type"].startswith("text/html")
        assert (await client.get("/cluster")).text.endswith("<title>cluster</title>")
        for module in ("/static/js/app.js", "/static/js/util.mjs"):
            response = await client.get(module)
            assert response.headers["content-type"].startswith("text/javascript"), module
            assert response.headers["cache-control"] == "no-cache"
            again = await client.get(module, headers={"if-none-match": response.headers["etag"]})
            assert again.status_code == 304
        strings = await client.get("/i18n/zh-CN.json")
        assert strings.json() == {"speed": "车速"}
        assert strings.headers["content-type"].startswith("application/json")
        for missing in ("/static/../secret.txt", "/static/%2e%2e/secret.txt", "/i18n/xx.json"):
            response = await client.get(missing)
            assert response.status_code == 404 and "not served" not in response.text, missing


async def test_a_missing_page_is_a_clear_404(broker: Broker, tmp_path: Path) -> None:
    server = HmiServer(broker, "127.0.0.1:0", static_dir=tmp_path, i18n_dir=tmp_path)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.get("/cluster")
        assert response.status_code == 404
        assert response.json()["error"]["message"] == (
            "the driver cluster page is not installed (cluster.html is missing)"
        )
    finally:
        await server.stop()


async def test_stops_within_a_second_with_clients_connected(hmi: HmiServer, broker: Broker) -> None:
    broker.connect_provider(SYSTEM, "stuck", StuckActuator()).claim([FAN])
    async with httpx.AsyncClient(base_url=hmi.url, timeout=10) as http:
        await http.get("/api/driving-state")  # a kept-alive connection
        pending = asyncio.create_task(http.post("/api/actuate", json={"targets": {FAN: 10}}))
        async with connect(ws_url(hmi.url)) as websocket:
            await websocket.send(json.dumps({"type": "subscribe", "paths": ["Vehicle"]}))
            await websocket.recv()
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await hmi.stop()
            assert time.monotonic() - started < 1.0
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(websocket.recv(), 2)
            assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
        with contextlib.suppress(httpx.HTTPError):  # cut off, or answered with an error
            assert (await asyncio.wait_for(pending, 1)).status_code >= 500
        with pytest.raises(httpx.ConnectError):
            await http.get("/api/driving-state")


async def test_a_stalled_client_never_slows_the_broker_or_other_clients(
    hmi: HmiServer, broker: Broker, catalog: Catalog
) -> None:
    """A client that stops reading fills its socket; publishing and a second client go on."""
    texts = [
        n.path
        for n in catalog.match("Vehicle.**")
        if n.type.value == "sensor"
        and n.datatype is not None
        and n.datatype.value == "string"
        and n.allowed is None
    ][:8]
    assert len(texts) == 8
    marker = "Vehicle.Exterior.AirTemperature"
    async with (
        connect(ws_url(hmi.url), max_queue=1, max_size=None, close_timeout=0.5) as stalled,
        hmi_client(hmi.url) as healthy,
    ):
        await stalled.send(json.dumps({"type": "subscribe", "paths": texts}))
        await healthy.subscribe(marker)
        slowest = 0.0
        started = time.monotonic()
        count = 0
        while time.monotonic() - started < 2.0:
            chunk = chr(0x4E00 + count % 100) * 60_000  # ~180 kB of UTF-8 per signal
            before = time.perf_counter()
            await broker.publish(SYSTEM, {path: chunk for path in texts})
            await broker.publish(SYSTEM, {marker: float(count)})
            slowest = max(slowest, time.perf_counter() - before)
            count += 1
            await asyncio.sleep(0.01)
        final = float(count)
        await broker.publish(SYSTEM, {marker: final})
        while (await healthy.next("values", timeout=1.0))["values"][marker]["value"] != final:
            pass
    assert count > 50 and slowest < 0.05


async def test_pages_from_elsewhere_are_kept_out(hmi: HmiServer) -> None:
    """DNS rebinding (a foreign Host) and cross-site WebSockets (a foreign Origin)."""
    async with httpx.AsyncClient(base_url=hmi.url) as client:
        rebound = await client.get("/api/driving-state", headers={"host": "evil.example"})
        assert rebound.status_code == 403
        assert rebound.json()["error"]["code"] == "permission_denied"
        for host in ("localhost", f"localhost:{hmi.port}", "127.0.0.1", "[::1]:8080"):
            response = await client.get("/api/driving-state", headers={"host": host})
            assert response.status_code == 200, host
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(hmi.url), origin=Origin("http://evil.example")):
            pass
    assert refused.value.response.status_code == 403
    local = Origin("http://127.0.0.1:5173")  # a page on another port of this machine
    async with connect(ws_url(hmi.url), origin=local) as websocket:
        await websocket.send(json.dumps({"type": "subscribe", "paths": ["Vehicle.Speed"]}))
        assert json.loads(await websocket.recv())["type"] in ("driving", "values")


def test_address_checks(catalog: Catalog) -> None:
    broker = Broker(catalog)
    with pytest.raises(ConfigError, match=r"refusing to serve the HMI on 0\.0\.0\.0:8080"):
        HmiServer(broker, "0.0.0.0:8080")
    with pytest.raises(ConfigError, match="refusing"):
        HmiServer(broker, "[::]:8080")
    HmiServer(broker, "0.0.0.0:8080", insecure=True)  # allowed; nothing is bound here
    HmiServer(broker, "localhost:0")
    for bad in ("8080", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(ConfigError):
            HmiServer(broker, bad)


async def test_a_busy_port_is_a_clear_error(broker: Broker) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        server = HmiServer(broker, f"127.0.0.1:{port}")
        with pytest.raises(ConfigError, match=f"cannot serve the HMI on 127.0.0.1:{port}"):
            await server.start()
        await server.stop()


def test_settings(tmp_path: Path) -> None:
    assert Settings.load(env={}).http == "127.0.0.1:8080"
    assert Settings.load(env={"CARMESH_HTTP": "127.0.0.1:9000"}).http == "127.0.0.1:9000"
    config = tmp_path / "carmesh.toml"
    config.write_text('http = "off"\n')
    settings = Settings.load(config, env={}, data_dir=tmp_path, vehicle="none", grpc="off")
    assert settings.http == "off" and Runtime(settings).hmi is None
    on = Settings.load(env={}, data_dir=tmp_path, vehicle="none", grpc="off", http="[::1]:0")
    hmi = Runtime(on).hmi
    assert hmi is not None and hmi.url == "http://[::1]:0"


def test_a_non_loopback_address_is_refused_by_carmesh_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [CARMESH, "run", "--data-dir", str(tmp_path), "--grpc", "off", "--http", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: refusing to serve the HMI on 0.0.0.0:0")
    assert "--insecure" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_stops_the_car_cleanly_with_a_page_connected(tmp_path: Path) -> None:
    with running_car(tmp_path / "car") as car:
        assert car.http_url.startswith("http://127.0.0.1:") and not car.http_url.endswith(":0")
        banner = [line for line in car.output if line.startswith("  http ")]
        assert banner == [f"  http      {car.http_url}"]

        async def connected_then_interrupted() -> None:
            async with hmi_client(car.http_url) as client:
                await client.subscribe("Vehicle.Speed")
                started = time.monotonic()
                car.process.send_signal(signal.SIGINT)
                with pytest.raises(ConnectionClosed):
                    while True:
                        await client.recv(timeout=3)
                assert time.monotonic() - started < 1.5

        asyncio.run(connected_then_interrupted())
        assert car.process.wait(5) == 0
        time.sleep(0.1)
    output = "\n".join(car.output)
    assert car.output[-1] == "carmesh stopped."
    assert "Traceback" not in output and "ERROR" not in output, output
