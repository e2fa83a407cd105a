"""carmesh.mqtt: Debian's Mosquitto as the car's MQTT broker for Velocitas apps.

MQTT clients are paho-mqtt from ``.venv-velocitas`` (velocitas-sdk's own dependency), run as
a subprocess: carmesh's virtualenv has no MQTT client of its own.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from carmesh.errors import ConfigError, Unavailable
from carmesh.mqtt import MOSQUITTO, MosquittoService, mosquitto_available

ROOT = Path(__file__).resolve().parents[1]
VELOCITAS_PYTHON = ROOT / ".venv-velocitas" / "bin" / "python"

ROUND_TRIP = textwrap.dedent(
    """
    import sys, threading
    import paho.mqtt.client as mqtt

    host, port = sys.argv[1], int(sys.argv[2])
    received = threading.Event()
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_subscribe = lambda *args: subscribed.set()
    def on_message(client, userdata, message):
        print(message.topic, message.payload.decode(), flush=True)
        received.set()
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    client.subscribe("carmesh/test/#")
    assert subscribed.wait(5), "no SUBACK"
    client.publish("carmesh/test/hello", "from paho", qos=1).wait_for_publish(5)
    assert received.wait(5), "the message did not come back"
    client.loop_stop()
    client.disconnect()
    """
)


def require_mosquitto() -> None:
    """Skip (fail under CI, where it is installed) when Mosquitto is missing."""
    if mosquitto_available():
        return
    message = f"{MOSQUITTO} is missing: apt-get install mosquitto (make unit does it as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def paho_python() -> Path:
    if not VELOCITAS_PYTHON.exists():
        pytest.fail(f"{VELOCITAS_PYTHON} is missing: run `make unit`, which builds it")
    return VELOCITAS_PYTHON


def listening_hosts(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp shows them) with a listener on *port*."""
    hosts = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        host, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            hosts.add(host)
    return hosts


async def test_mosquitto_serves_on_loopback_on_a_free_port(tmp_path: Path) -> None:
    require_mosquitto()
    python = paho_python()
    service = MosquittoService("127.0.0.1:0", tmp_path / "mqtt")
    await service.start()
    try:
        host, _, port_text = service.address.rpartition(":")
        port = int(port_text)
        assert host == "127.0.0.1" and port > 0
        assert listening_hosts(port) == {"0100007F"}  # 127.0.0.1 only
        config = (tmp_path / "mqtt" / "mosquitto.conf").read_text()
        assert f"listener {port} 127.0.0.1" in config
        assert "persistence false" in config
        result = await asyncio.to_thread(
            subprocess.run,
            [str(python), "-c", ROUND_TRIP, host, str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "carmesh/test/hello from paho"
        assert "mosquitto version" in (tmp_path / "mqtt" / "mosquitto.log").read_text()
    finally:
        await service.stop()


async def test_stop_leaves_no_process(tmp_path: Path) -> None:
    require_mosquitto()
    service = MosquittoService("127.0.0.1:0", tmp_path)
    await service.start()
    pid = service.pid
    assert pid is not None
    serving = asyncio.create_task(service.serve())
    await service.stop()
    await asyncio.wait_for(serving, 5)  # a requested stop is not a failure
    assert not Path(f"/proc/{pid}").exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(service.address.rpartition(":")[2])), 1)
    await service.stop()  # twice is fine


async def test_an_unexpected_exit_fails_serve(tmp_path: Path) -> None:
    require_mosquitto()
    service = MosquittoService("127.0.0.1:0", tmp_path)
    await service.start()
    try:
        assert service.pid is not None
        os.kill(service.pid, 9)
        with pytest.raises(Unavailable, match="mosquitto exited unexpectedly"):
            await asyncio.wait_for(service.serve(), 5)
    finally:
        await service.stop()


async def test_missing_mosquitto_is_a_config_error(tmp_path: Path) -> None:
    service = MosquittoService("127.0.0.1:0", tmp_path, str(tmp_path / "no-mosquitto"))
    with pytest.raises(ConfigError, match="sudo apt-get install mosquitto"):
        await service.start()
    assert not mosquitto_available(str(tmp_path / "no-mosquitto"))


async def test_a_busy_port_is_a_config_error(tmp_path: Path) -> None:
    require_mosquitto()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        service = MosquittoService(f"127.0.0.1:{port}", tmp_path)
        with pytest.raises(ConfigError, match="the port is in use"):
            await service.start()
        assert service.pid is None


def test_only_loopback_without_insecure(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="without authentication"):
        MosquittoService("0.0.0.0:1883", tmp_path)
    assert MosquittoService("0.0.0.0:1883", tmp_path, insecure=True).address == "0.0.0.0:1883"
    with pytest.raises(ConfigError, match="HOST:PORT"):
        MosquittoService("1883", tmp_path)
