"""KUKSA-compatible JWT tokens: minting, verifying, and every way a token can be bad."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from carmesh.api.tokens import AUDIENCE, TokenVerifier, create_token, generate_key_pair
from carmesh.broker import Action
from carmesh.errors import ConfigError, InvalidArgument, Unauthenticated
from tests.support.car import CARMESH


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_key_pair()


def test_round_trip_gives_the_scopes(keys: tuple[bytes, bytes], catalog: object) -> None:
    private, public = keys
    token = create_token(private, "read:Vehicle.Speed actuate:Vehicle.Cabin.**", subject="hmi")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == [AUDIENCE]
    assert {"sub", "iss", "iat", "exp", "scope"} <= set(claims)
    principal = TokenVerifier(public).verify(token)
    assert principal.name == "hmi"
    assert principal.expires_at == claims["exp"]
    speed = catalog["Vehicle.Speed"]  # type: ignore[index]
    seat = catalog["Vehicle.Cabin.Seat.Row1.DriverSide.Position"]  # type: ignore[index]
    assert principal.allows(Action.READ, speed)
    assert not principal.allows(Action.ACTUATE, speed)
    assert principal.allows(Action.ACTUATE, seat)
    assert principal.allows(Action.READ, seat), "actuate implies read"


@pytest.mark.parametrize(
    "make_key",
    [lambda: ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate],
)
def test_ec_and_ed25519_keys(make_key) -> None:  # type: ignore[no-untyped-def]
    key = make_key()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert TokenVerifier(public).verify(create_token(private, "read")).scopes


def test_expired_token(keys: tuple[bytes, bytes]) -> None:
    private, public = keys
    token = create_token(private, "read", now=time.time() - 3600, expires_in=60)
    with pytest.raises(Unauthenticated, match="expired"):
        TokenVerifier(public).verify(token)


def test_cached_token_still_expires(keys: tuple[bytes, bytes]) -> None:
    private, public = keys
    verifier = TokenVerifier(public)
    # Whole-second claims: "exp" lands 1 to 2 s from now, whatever the fraction of now.
    token = create_token(private, "read", now=time.time() - 59, expires_in=61)
    verifier.verify(token)
    time.sleep(2.1)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(token)


def test_wrong_signature(keys: tuple[bytes, bytes]) -> None:
    other_private, _ = generate_key_pair()
    with pytest.raises(Unauthenticated, match="signature"):
        TokenVerifier(keys[1]).verify(create_token(other_private, "read"))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x", "eyJhbGciOiJub25lIn0.e30."])
def test_malformed_tokens(keys: tuple[bytes, bytes], garbage: str) -> None:
    with pytest.raises(Unauthenticated, match="not valid"):
        TokenVerifier(keys[1]).verify(garbage)


def test_missing_claims_and_wrong_audience(keys: tuple[bytes, bytes]) -> None:
    private, public = keys
    key = serialization.load_pem_private_key(private, password=None)
    now = int(time.time())
    base = {"sub": "x", "iss": "y", "aud": [AUDIENCE], "iat": now, "exp": now + 60, "scope": "read"}
    verifier = TokenVerifier(public)
    for drop in ("scope", "exp", "aud", "sub"):
        claims = {k: v for k, v in base.items() if k != drop}
        with pytest.raises(Unauthenticated):
            verifier.verify(jwt.encode(claims, key, algorithm="RS256"))  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated, match=r"(?i)audience"):
        verifier.verify(jwt.encode({**base, "aud": ["other"]}, key, algorithm="RS256"))  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated, match="scope is malformed"):
        verifier.verify(jwt.encode({**base, "scope": "fly:Vehicle"}, key, algorithm="RS256"))  # type: ignore[arg-type]


def test_bad_keys_and_scopes(keys: tuple[bytes, bytes]) -> None:
    with pytest.raises(ConfigError, match="public key"):
        TokenVerifier(b"not a key")
    with pytest.raises(ConfigError, match="private key"):
        create_token(b"not a key", "read")
    with pytest.raises(InvalidArgument, match="unknown action"):
        create_token(keys[0], "write:Vehicle")


def test_token_cli(tmp_path: Path) -> None:
    keygen = subprocess.run(
        [CARMESH, "token", "keygen", str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert "jwt.key" in keygen.stdout
    assert (tmp_path / "jwt.key").stat().st_mode & 0o077 == 0, "the private key is private"
    created = subprocess.run(
        [
            CARMESH,
            "token",
            "create",
            "--scope",
            "read:Vehicle.Speed",
            "--key",
            tmp_path / "jwt.key",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    token = created.stdout.strip()
    principal = TokenVerifier((tmp_path / "jwt.key.pub").read_bytes()).verify(token)
    assert [str(s) for s in principal.scopes] == ["read:Vehicle.Speed"]
    again = subprocess.run(
        [CARMESH, "token", "keygen", str(tmp_path)], capture_output=True, text=True
    )
    assert again.returncode == 1 and "exists already" in again.stderr
    bad = subprocess.run(
        [CARMESH, "token", "create", "--scope", "fly", "--key", tmp_path / "jwt.key"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
