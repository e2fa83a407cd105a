"""Secure by default: no open API off loopback, optional TLS with client certificates."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest

from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.server import GrpcServer, is_loopback, parse_address
from carmesh.api.tokens import TokenVerifier, generate_key_pair
from carmesh.broker import Broker
from carmesh.errors import ConfigError
from carmesh.vss import Catalog
from tests.support.car import CARMESH, running_car
from tests.support.certs import TestCA


def ready(channel: grpc.Channel, timeout: float = 3.0) -> bool:
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        return False
    return True


def test_address_parsing() -> None:
    assert parse_address("127.0.0.1:55555") == ("127.0.0.1", 55555)
    assert parse_address("[::1]:0") == ("::1", 0)
    for bad in ("55555", "host:port", "127.0.0.1:70000", ":1"):
        with pytest.raises(ConfigError):
            parse_address(bad)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1") and not is_loopback("car")


def test_open_api_off_loopback_is_refused(tmp_path: Path, catalog: Catalog) -> None:
    broker = Broker(catalog)
    with pytest.raises(ConfigError, match="without authorization"):
        GrpcServer(broker, "0.0.0.0:55555", auth=GrpcAuth(None))
    # Either a key or an explicit --insecure lifts the refusal (nothing is bound here).
    verifier = TokenVerifier(generate_key_pair()[1])
    GrpcServer(broker, "0.0.0.0:55555", auth=GrpcAuth(verifier))
    GrpcServer(broker, "0.0.0.0:55555", auth=GrpcAuth(None), insecure=True)

    result = subprocess.run(
        [CARMESH, "run", "--data-dir", str(tmp_path), "--grpc", "192.0.2.1:55555"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: refusing to serve gRPC on 192.0.2.1:55555")
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with running_car(tmp_path / "a") as car:
        result = subprocess.run(
            [CARMESH, "run", "--data-dir", str(tmp_path / "b"), "--grpc", car.grpc_address],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot serve gRPC on {car.grpc_address}" in result.stderr
    assert "Traceback" not in result.stderr


def test_tls(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    server = ca.issue("car", server=True)
    args = ("--tls-cert", str(server.cert), "--tls-key", str(server.key))
    with running_car(tmp_path / "car", *args) as car:
        assert "TLS" in "\n".join(car.output)
        trusted = grpc.ssl_channel_credentials(ca.cert_path.read_bytes())
        with grpc.secure_channel(car.grpc_address, trusted) as channel:
            assert ready(channel)
        stranger = TestCA(tmp_path, "other CA")
        untrusted = grpc.ssl_channel_credentials(stranger.cert_path.read_bytes())
        with grpc.secure_channel(car.grpc_address, untrusted) as channel:
            assert not ready(channel, 1.0), "a certificate from another CA is not trusted"
        with grpc.insecure_channel(car.grpc_address) as channel:
            assert not ready(channel, 1.0), "plaintext is not served next to TLS"


def test_tls_with_client_certificates(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    server = ca.issue("car", server=True)
    client = ca.issue("phone", server=False)
    args = (
        "--tls-cert",
        str(server.cert),
        "--tls-key",
        str(server.key),
        "--tls-client-ca",
        str(ca.cert_path),
    )
    with running_car(tmp_path / "car", *args) as car:
        with_cert = grpc.ssl_channel_credentials(
            ca.cert_path.read_bytes(), client.key.read_bytes(), client.cert.read_bytes()
        )
        with grpc.secure_channel(car.grpc_address, with_cert) as channel:
            assert ready(channel)
        without = grpc.ssl_channel_credentials(ca.cert_path.read_bytes())
        with grpc.secure_channel(car.grpc_address, without) as channel:
            assert not ready(channel, 1.0), "no client certificate, no connection"


def test_tls_settings_are_checked(tmp_path: Path) -> None:
    for args, message in [
        (["--tls-cert", str(tmp_path / "x.pem")], "both a certificate and a key"),
        (["--tls-client-ca", str(tmp_path / "ca.pem")], "needs a server certificate"),
        (
            ["--tls-cert", str(tmp_path / "none.crt"), "--tls-key", str(tmp_path / "none.key")],
            "cannot read the TLS",
        ),
        (["--jwt-public-key", str(tmp_path / "none.pub")], "cannot read the public key"),
    ]:
        result = subprocess.run(
            [CARMESH, "run", "--data-dir", str(tmp_path), "--grpc", "127.0.0.1:0", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 1, args
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
