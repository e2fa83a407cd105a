"""The car's credentials for its apps: one Ed25519 key, one live token per app.

Each start of an app gets a fresh JWT (``iss = carmesh-apps``, ``sub = app:ID``, ``aud =
kuksa.val``, ``scope`` = its granted scopes, a new ``jti``). Minting a token supersedes the
app's previous one, and :meth:`AppTokens.revoke` refuses every token of the app from then on,
so revoking a permission takes effect on the next call even though the old token has not
expired. Which ``jti`` is live is kept in memory only: after a restart of carmesh, which
restarts the apps with new tokens, every earlier token is refused.

:class:`AppTokens` is a :class:`carmesh.api.tokens.Verifier`; register it with
:class:`carmesh.api.tokens.IssuerVerifiers` under :data:`ISSUER`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from carmesh.api.tokens import AUDIENCE
from carmesh.broker.permissions import Principal, parse_scopes
from carmesh.errors import ConfigError, InvalidArgument, Unauthenticated

ISSUER = "carmesh-apps"
#: The prefix of an app principal's name (``app:org.example.hello``).
SUBJECT_PREFIX = "app:"
_REQUIRED = ["sub", "iss", "aud", "iat", "exp", "scope", "jti"]
_CACHE_SIZE = 1024


def app_of(principal: Principal) -> str | None:
    """The app id of an app principal, None for any other principal."""
    name = principal.name
    return name[len(SUBJECT_PREFIX) :] if name.startswith(SUBJECT_PREFIX) else None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_or_create_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The key in *path*; a new one written there (mode 0600, atomically) when missing.

    The new file appears whole or not at all: it is written and synced under a temporary name
    and then linked into place, which fails if another process created the key meanwhile (its
    key then wins).
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_dir(path.parent)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the app token key {path}: {exc.strerror}") from None
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not a usable PEM private key: {exc}") from None
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{path} must hold an Ed25519 private key")
    return loaded


class AppTokens:
    """Mints, verifies and revokes app tokens; safe to share between threads."""

    def __init__(self, key_path: Path) -> None:
        """Use the Ed25519 private key (PEM) at *key_path*, generating it when missing.

        :class:`ConfigError` when the file exists but is not an Ed25519 private key.
        """
        self.key_path = key_path
        self._key = _load_or_create_key(key_path)
        self._public = self._key.public_key()
        self._lock = threading.Lock()
        #: app id → the jti of its one live token (None: revoked)
        self._live: dict[str, str | None] = {}
        #: live token → (app id, principal), filled on first verify
        self._verified: dict[str, tuple[str, Principal]] = {}

    def public_key_pem(self) -> bytes:
        """The public half, SubjectPublicKeyInfo PEM (for verifiers outside this process)."""
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def mint(
        self,
        app_id: str,
        scope: str,
        *,
        expires_in: float = 30 * 24 * 3600,
        now: float | None = None,
    ) -> str:
        """A new token for *app_id* with *scope* (KUKSA syntax; ``""`` for none), which becomes
        the app's only valid token. :class:`InvalidArgument` for a malformed scope.
        *expires_in* is in seconds from *now* (UNIX seconds, default the current time).
        """
        parse_scopes(scope)
        if not app_id or any(c.isspace() for c in app_id):
            raise InvalidArgument(f"{app_id!r} is not an app id")
        issued = int(time.time() if now is None else now)
        jti = secrets.token_urlsafe(16)
        claims = {
            "sub": SUBJECT_PREFIX + app_id,
            "iss": ISSUER,
            "aud": [AUDIENCE],
            "iat": issued,
            "exp": issued + int(expires_in),
            "scope": scope,
            "jti": jti,
        }
        token = jwt.encode(claims, self._key, algorithm="EdDSA")
        with self._lock:
            self._live[app_id] = jti
            self._forget(app_id)
        return token

    def revoke(self, app_id: str) -> None:
        """Refuse every token of *app_id* from now on (until the next :meth:`mint`)."""
        with self._lock:
            if app_id in self._live:
                self._live[app_id] = None
                self._forget(app_id)

    def _forget(self, app_id: str) -> None:
        for token in [t for t, (a, _) in self._verified.items() if a == app_id]:
            del self._verified[token]

    def verify(self, token: str) -> Principal:
        """The principal ``app:ID`` with the token's scopes (none for ``""``).

        :class:`Unauthenticated` for a token that is malformed, not signed by this car's key,
        expired, from another issuer, not for an app, or not the app's live token (revoked or
        superseded).
        """
        with self._lock:
            cached = self._verified.get(token)
        if cached is not None:
            cached[1].check_live()
            return cached[1]
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the app's token has expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated(
                "the token's signature does not match the car's app key"
            ) from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated(f"the token was not issued by {ISSUER}") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"the token is not valid: {exc}") from None
        subject, scope, jti = claims["sub"], claims["scope"], claims["jti"]
        if not isinstance(subject, str) or not subject.startswith(SUBJECT_PREFIX):
            raise Unauthenticated("the token is not an app's token")
        if not isinstance(scope, str):
            raise Unauthenticated("the token's scope claim must be a string")
        try:
            scopes = parse_scopes(scope)
        except InvalidArgument as exc:
            raise Unauthenticated(f"the token's scope is malformed: {exc}") from None
        app_id = subject[len(SUBJECT_PREFIX) :]
        principal = Principal(subject, scopes, float(claims["exp"]))
        with self._lock:
            if app_id not in self._live:
                raise Unauthenticated(f"the car issued no token to app {app_id} (unknown app)")
            if jti != self._live[app_id]:
                raise Unauthenticated("the app's token was revoked")
            if len(self._verified) >= _CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = (app_id, principal)
        return principal
