"""KUKSA-compatible JWT access tokens.

A token is a JWT signed with RS256 (RSA), ES256 (P-256) or EdDSA (Ed25519) carrying the claims
Eclipse KUKSA's databroker requires: ``sub``, ``iss``, ``aud`` (containing ``kuksa.val``), ``iat``,
``exp`` and ``scope`` — KUKSA scope syntax, e.g. ``read:Vehicle.Speed provide:Vehicle.Body.*``.
The car holds only the public key; :func:`create_token` is for development and tests.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from carmesh.broker.permissions import Principal, parse_scopes
from carmesh.errors import ConfigError, InvalidArgument, Unauthenticated

AUDIENCE = "kuksa.val"
_REQUIRED = ["sub", "iss", "aud", "iat", "exp", "scope"]
_CACHE_SIZE = 1024


def _algorithm_for(key: Any) -> list[str]:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return ["RS256", "RS384", "RS512"]
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return ["ES256", "ES384"]
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return ["EdDSA"]
    raise ConfigError("the key must be RSA, EC (P-256) or Ed25519")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None


def generate_key_pair() -> tuple[bytes, bytes]:
    """A new RSA-2048 key pair as (private PEM, public PEM), for development."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def create_token(
    private_key_pem: bytes,
    scope: str,
    *,
    subject: str = "carmesh development",
    issuer: str = "carmesh token create",
    expires_in: float = 365 * 24 * 3600,
    now: float | None = None,
) -> str:
    """Sign a token for *scope* (validated first; :class:`InvalidArgument` when malformed)."""
    parse_scopes(scope)
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"not a usable PEM private key: {exc}") from None
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": subject,
        "iss": issuer,
        "aud": [AUDIENCE],
        "iat": issued,
        "exp": issued + int(expires_in),
        "scope": scope,
    }
    return jwt.encode(claims, key, algorithm=_algorithm_for(key)[0])  # type: ignore[arg-type]


class TokenVerifier:
    """Checks bearer tokens against the car's public key and turns them into principals.

    Verified tokens are cached (bounded) so that a client re-sending the same token on every
    call costs one dict lookup; expiry is still enforced on every use by the principal.
    """

    def __init__(self, public_key_pem: bytes) -> None:
        try:
            self._key = serialization.load_pem_public_key(public_key_pem)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"not a usable PEM public key: {exc}") from None
        self._algorithms = _algorithm_for(self._key)
        self._cache: dict[str, Principal] = {}

    @classmethod
    def from_file(cls, path: Path) -> TokenVerifier:
        return cls(_read(path, "public key"))

    def verify(self, token: str) -> Principal:
        """The principal a token grants; :class:`Unauthenticated` when it is not valid."""
        principal = self._cache.get(token)
        if principal is not None:
            principal.check_live()
            return principal
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=self._algorithms,
                audience=AUDIENCE,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not match the car's key") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"the token is not valid: {exc}") from None
        scope = claims["scope"]
        if not isinstance(scope, str):
            raise Unauthenticated("the token's scope claim must be a string")
        try:
            scopes = parse_scopes(scope)
        except InvalidArgument as exc:
            raise Unauthenticated(f"the token's scope is malformed: {exc}") from None
        principal = Principal(str(claims["sub"]), scopes, float(claims["exp"]))
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[token] = principal
        return principal


class Verifier(Protocol):
    """Anything that turns a bearer token into a principal (or raises Unauthenticated)."""

    def verify(self, token: str) -> Principal: ...


class IssuerVerifiers:
    """Chooses the verifier by the token's (not yet verified) ``iss`` claim, falling back to
    *default*: so the car's own app tokens and an integrator's tokens are both accepted, each
    checked against its own key only."""

    def __init__(self, default: Verifier | None, by_issuer: dict[str, Verifier]) -> None:
        self.default = default
        self.by_issuer = dict(by_issuer)

    def verify(self, token: str) -> Principal:
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"the token is not valid: {exc}") from None
        verifier = self.by_issuer.get(issuer) if isinstance(issuer, str) else None
        verifier = verifier or self.default
        if verifier is None:
            raise Unauthenticated(f"tokens from issuer {issuer!r} are not accepted here")
        return verifier.verify(token)
