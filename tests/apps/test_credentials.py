"""The car's app tokens: key file, minting, verification, supersession, revocation."""

from __future__ import annotations

import base64
import json
import stat
import threading
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from carmesh.api.tokens import AUDIENCE, IssuerVerifiers, TokenVerifier, create_token
from carmesh.apps.credentials import ISSUER, AppTokens, app_of
from carmesh.broker.permissions import Action, Principal
from carmesh.errors import ConfigError, InvalidArgument, Unauthenticated
from carmesh.vss import Catalog

APP = "org.example.hello"


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "apps" / "keys" / "token-signing.pem"


@pytest.fixture
def tokens(key_path: Path) -> AppTokens:
    return AppTokens(key_path)


def claims_of(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_key_is_generated_private_and_reused(key_path: Path) -> None:
    first = AppTokens(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert [p.name for p in key_path.parent.iterdir()] == ["token-signing.pem"]
    assert AppTokens(key_path).public_key_pem() == first.public_key_pem()
    assert first.public_key_pem().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_concurrent_first_use_agrees_on_one_key(key_path: Path) -> None:
    found: list[bytes] = []

    def open_tokens() -> None:
        found.append(AppTokens(key_path).public_key_pem())

    threads = [threading.Thread(target=open_tokens) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and len(set(found)) == 1
    assert set(found) == {AppTokens(key_path).public_key_pem()}


@pytest.mark.parametrize("content", [b"garbage", b"rsa"], ids=["garbage", "rsa"])
def test_unusable_key_file_is_a_config_error(key_path: Path, content: bytes) -> None:
    key_path.parent.mkdir(parents=True)
    if content == b"rsa":
        from carmesh.api.tokens import generate_key_pair

        content = generate_key_pair()[0]
    key_path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"token-signing\.pem"):
        AppTokens(key_path)
    assert key_path.read_bytes() == content


def test_minted_token_carries_the_app_identity(tokens: AppTokens, catalog: Catalog) -> None:
    before = int(time.time())
    token = tokens.mint(APP, "read:Vehicle.Speed actuate:Vehicle.Cabin.Seat.**")
    claims = claims_of(token)
    assert claims["sub"] == f"app:{APP}"
    assert claims["iss"] == ISSUER == "carmesh-apps"
    assert claims["aud"] == [AUDIENCE]
    assert claims["scope"] == "read:Vehicle.Speed actuate:Vehicle.Cabin.Seat.**"
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert isinstance(claims["exp"], int) and claims["exp"] - before >= 30 * 24 * 3600 - 1
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"

    principal = tokens.verify(token)
    assert principal.name == f"app:{APP}"
    assert app_of(principal) == APP
    assert [str(s) for s in principal.scopes] == [
        "read:Vehicle.Speed",
        "actuate:Vehicle.Cabin.Seat.**",
    ]
    assert principal.expires_at == claims["exp"]
    assert principal.allows(Action.READ, catalog["Vehicle.Speed"])
    assert not principal.allows(Action.READ, catalog["Vehicle.TraveledDistance"])
    assert tokens.verify(token) is principal, "a verified token is cached"


def test_fresh_jti_per_mint(tokens: AppTokens) -> None:
    jtis = {claims_of(tokens.mint(APP, "read:Vehicle.Speed"))["jti"] for _ in range(5)}
    assert len(jtis) == 5


def test_empty_scope_gives_a_principal_that_reads_nothing(
    tokens: AppTokens, catalog: Catalog
) -> None:
    principal = tokens.verify(tokens.mint(APP, ""))
    assert principal.name == f"app:{APP}"
    assert principal.scopes == ()
    assert not principal.allows(Action.READ, catalog["Vehicle.Speed"])
    assert not principal.unrestricted


def test_minting_supersedes_the_previous_token(tokens: AppTokens) -> None:
    old = tokens.mint(APP, "read:Vehicle.Speed")
    tokens.verify(old)
    new = tokens.mint(APP, "")
    with pytest.raises(Unauthenticated, match=r"^the app's token was revoked$"):
        tokens.verify(old)
    assert tokens.verify(new).scopes == ()
    other = tokens.mint("org.example.other", "read:Vehicle.Speed")
    assert tokens.verify(new).name == f"app:{APP}", "other apps' tokens are independent"
    assert tokens.verify(other).name == "app:org.example.other"


def test_revoke_refuses_every_token_of_the_app(tokens: AppTokens) -> None:
    token = tokens.mint(APP, "read:Vehicle.Speed")
    other = tokens.mint("org.example.other", "")
    tokens.verify(token)
    tokens.revoke(APP)
    with pytest.raises(Unauthenticated, match="revoked"):
        tokens.verify(token)
    assert tokens.verify(other).name == "app:org.example.other"
    tokens.revoke("org.never.minted")  # nothing to do
    renewed = tokens.mint(APP, "read:Vehicle.Speed")
    assert tokens.verify(renewed).name == f"app:{APP}"
    with pytest.raises(Unauthenticated, match="revoked"):
        tokens.verify(token)


def test_token_of_an_unknown_app_is_refused(key_path: Path, tokens: AppTokens) -> None:
    elsewhere = AppTokens(key_path)  # same key, another run of the car
    token = elsewhere.mint(APP, "read:Vehicle.Speed")
    with pytest.raises(Unauthenticated, match="unknown app"):
        tokens.verify(token)


def test_expired_token_is_refused(tokens: AppTokens) -> None:
    token = tokens.mint(APP, "read:Vehicle.Speed", expires_in=10, now=time.time() - 100)
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify(token)


def test_cached_principal_still_expires(tokens: AppTokens, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tokens.mint(APP, "read:Vehicle.Speed", expires_in=60)
    tokens.verify(token)
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify(token)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_tampered_token_is_refused(tokens: AppTokens) -> None:
    token = tokens.mint(APP, "read:Vehicle.Speed")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "read actuate provide"
    forged = ".".join([header, _b64(json.dumps(claims).encode()), signature])
    with pytest.raises(Unauthenticated, match="signature"):
        tokens.verify(forged)
    with pytest.raises(Unauthenticated, match="not valid"):
        tokens.verify("not-a-token")


def test_token_signed_by_another_key_is_refused(tmp_path: Path, tokens: AppTokens) -> None:
    stranger = AppTokens(tmp_path / "other.pem")
    token = stranger.mint(APP, "read:Vehicle.Speed")
    tokens.mint(APP, "read:Vehicle.Speed")
    with pytest.raises(Unauthenticated, match="signature does not match"):
        tokens.verify(token)


def test_wrong_issuer_and_non_app_subjects_are_refused(key_path: Path, tokens: AppTokens) -> None:
    tokens.mint(APP, "")
    private = key_path.read_bytes()
    key = serialization.load_pem_private_key(private, password=None)
    now = int(time.time())
    base = {"aud": [AUDIENCE], "iat": now, "exp": now + 60, "scope": "", "jti": "x"}

    def sign(**claims: object) -> str:
        return jwt.encode({**base, **claims}, key, algorithm="EdDSA")  # type: ignore[arg-type]

    with pytest.raises(Unauthenticated, match="not issued by carmesh-apps"):
        tokens.verify(sign(iss="carmesh token create", sub=f"app:{APP}"))
    with pytest.raises(Unauthenticated, match="not an app's token"):
        tokens.verify(sign(iss=ISSUER, sub="driver"))
    with pytest.raises(Unauthenticated, match="revoked"):
        tokens.verify(sign(iss=ISSUER, sub=f"app:{APP}"))
    developer = create_token(private, "read:Vehicle.Speed", subject=f"app:{APP}", issuer=ISSUER)
    with pytest.raises(Unauthenticated, match="jti"):
        tokens.verify(developer)


def test_malformed_scope_or_app_id_is_refused_at_mint(tokens: AppTokens) -> None:
    with pytest.raises(InvalidArgument, match="unknown action"):
        tokens.mint(APP, "write:Vehicle.Speed")
    with pytest.raises(InvalidArgument, match="not an app id"):
        tokens.mint("", "")


def test_issuer_verifiers_route_app_tokens_here(key_path: Path, tokens: AppTokens) -> None:
    from carmesh.api.tokens import generate_key_pair

    private, public = generate_key_pair()
    verifiers = IssuerVerifiers(TokenVerifier(public), {ISSUER: tokens})
    app_token = tokens.mint(APP, "read:Vehicle.Speed")
    assert verifiers.verify(app_token).name == f"app:{APP}"
    developer = create_token(private, "read", subject="dev")
    assert verifiers.verify(developer).name == "dev"
    tokens.revoke(APP)
    with pytest.raises(Unauthenticated, match="revoked"):
        verifiers.verify(app_token)
    assert isinstance(verifiers.verify(developer), Principal)
