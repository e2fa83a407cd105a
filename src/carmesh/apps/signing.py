"""Publisher keys and the car's trust store.

A publisher signs its packages with an Ed25519 key. The private key is a PKCS#8 PEM file;
the public key a SubjectPublicKeyInfo PEM file preceded by the comment line
``# carmesh publisher: ID``, so that trusting a key also says whose it is. A key is named by
its fingerprint: ``SHA256:`` + unpadded base64 of SHA-256 over the raw 32-byte public key
(``docs/apps.md``, section "Package").

The car trusts a publisher by holding at least one of its public keys in a
:class:`TrustStore` (``DATA_DIR/apps/trusted/``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carmesh.apps.manifest import is_reverse_dns
from carmesh.errors import AlreadyExists, ConfigError, InvalidArgument, NotFound

log = logging.getLogger(__name__)

PUBLISHER_COMMENT = "# carmesh publisher:"
PUBLIC_SUFFIX = ".pub"
_PEM_BEGIN = "-----BEGIN"
_MAX_KEY_TEXT = 16 * 1024


def fingerprint(public_key_raw: bytes) -> str:
    """``SHA256:`` + unpadded base64 of SHA-256 over the raw 32-byte Ed25519 public key."""
    digest = hashlib.sha256(public_key_raw).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of *key*, as fingerprints are computed over them."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """The fingerprint of *key* (see :func:`fingerprint`)."""
    return fingerprint(raw_public_key(key))


def verify(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """True when *signature* is *key*'s Ed25519 signature over *data*."""
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def public_key_file(publisher: str, key: Ed25519PublicKey) -> str:
    """The public key file text: the publisher comment line, then the PEM block."""
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return f"{PUBLISHER_COMMENT} {publisher}\n{pem}"


def _check_publisher(publisher: str) -> None:
    if not is_reverse_dns(publisher):
        raise InvalidArgument(
            f"{publisher!r} is not a publisher id (reverse-DNS, e.g. org.example: 2 or more "
            "dot-separated labels of a-z, 0-9, '_' and '-')"
        )


def _split_key_text(text: str) -> tuple[str | None, str]:
    """(publisher named by the comment line or None, the text from the PEM block on)."""
    publisher = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(PUBLISHER_COMMENT):
            publisher = stripped[len(PUBLISHER_COMMENT) :].strip()
            break
        if stripped.startswith(_PEM_BEGIN):
            break
    start = text.find(_PEM_BEGIN)
    return publisher, text[start:] if start >= 0 else ""


def read_public_key(text: str) -> tuple[str | None, Ed25519PublicKey]:
    """Parse a public key file (the comment line is optional).

    Returns the publisher the comment names (``None`` without one) and the key. Raises
    :class:`InvalidArgument` when the text is not an Ed25519 public key in PEM form, or the
    comment names an invalid publisher id.
    """
    if len(text) > _MAX_KEY_TEXT:
        raise InvalidArgument("the public key text is too long to be an Ed25519 PEM key")
    publisher, pem = _split_key_text(text)
    if "PRIVATE KEY" in pem:
        raise InvalidArgument(
            "this is a private key; give the public key file (the .pub file) instead"
        )
    if publisher is not None:
        _check_publisher(publisher)
    try:
        key = serialization.load_pem_public_key(pem.encode("utf-8", "replace"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidArgument("the text is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidArgument("the public key is not an Ed25519 key")
    return publisher, key


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Replace *path* with *data* so that a crash leaves the old or the new file, never a part.

    The temporary file is created next to *path* (a dot-file), given *mode*, fsynced, renamed
    over *path*, and the directory is fsynced.
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in *directory* durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PublisherKey:
    """A publisher's Ed25519 signing key, and the publisher id it signs for."""

    def __init__(self, publisher: str, private_key: Ed25519PrivateKey) -> None:
        _check_publisher(publisher)
        self.publisher = publisher
        self._private = private_key
        self.public_key = private_key.public_key()

    def __repr__(self) -> str:
        return f"PublisherKey({self.publisher!r}, {self.fingerprint!r})"

    @classmethod
    def generate(cls, publisher: str) -> PublisherKey:
        """A new random key for *publisher* (:class:`InvalidArgument` for a bad id)."""
        return cls(publisher, Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> PublisherKey:
        """Read a private key file written by :meth:`save`.

        The publisher comes from the file's comment line, else from the ``.pub`` file next to
        it. Raises :class:`ConfigError` when the file is unreadable, encrypted, not an Ed25519
        private key, or names no valid publisher.
        """
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the key file {path}: {exc}") from None
        publisher, pem = _split_key_text(text)
        try:
            key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
        except TypeError:
            raise ConfigError(f"the key file {path} is encrypted; carmesh keys are not") from None
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigError(f"the key file {path} is not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"the key file {path} does not hold an Ed25519 key")
        if publisher is None:
            public = path.with_name(path.name + PUBLIC_SUFFIX)
            with contextlib.suppress(OSError, UnicodeDecodeError):
                publisher = _split_key_text(public.read_text("utf-8"))[0]
        if publisher is None or not is_reverse_dns(publisher):
            raise ConfigError(
                f"the key file {path} names no valid publisher "
                f"(expected a line '{PUBLISHER_COMMENT} ID')"
            )
        return cls(publisher, key)

    def save(self, path: Path, *, overwrite: bool = False) -> Path:
        """Write the private key to *path* (mode 0600) and the public key to *path* + ``.pub``.

        Both files start with the ``# carmesh publisher: ID`` comment line. Refuses with
        :class:`AlreadyExists` to replace an existing key file unless *overwrite* (a lost
        publisher key cannot sign updates of the apps it published). Returns the public
        file's path.
        """
        public = path.with_name(path.name + PUBLIC_SUFFIX)
        if not overwrite and path.exists():
            raise AlreadyExists(f"the key file {path} exists already; choose another name")
        private_pem = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(
            path, f"{PUBLISHER_COMMENT} {self.publisher}\n{private_pem}".encode(), 0o600
        )
        write_atomically(public, self.public_pem().encode("ascii"), 0o644)
        return public

    def public_pem(self) -> str:
        """The public key file text: ``# carmesh publisher: ID``, then the PEM block."""
        return public_key_file(self.publisher, self.public_key)

    @property
    def fingerprint(self) -> str:
        """The public key's fingerprint, ``SHA256:…``."""
        return key_fingerprint(self.public_key)

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature over *data*."""
        return self._private.sign(data)


class TrustStore:
    """The publisher keys a car trusts: ``DIRECTORY/PUBLISHER/HEX.pub``, one file per key.

    Files are written atomically (temporary file, fsync, rename). A damaged key file is
    skipped with a warning, which can only make the car trust less.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def add(self, publisher: str, public_key_pem: str) -> dict[str, Any]:
        """Trust *public_key_pem* (the ``.pub`` file text, comment line optional) for *publisher*.

        Returns ``{"publisher", "fingerprint", "key"}`` (*key*: the bare PEM block). Raises
        :class:`InvalidArgument` for a bad publisher id, a text that is not an Ed25519 public
        key, or a comment naming another publisher; :class:`AlreadyExists` when that key is
        trusted for *publisher* already.
        """
        _check_publisher(publisher)
        named, key = read_public_key(public_key_pem)
        if named is not None and named != publisher:
            raise InvalidArgument(
                f"the key file says it belongs to publisher {named!r}, not {publisher!r}"
            )
        path = self._path(publisher, key)
        if path.exists():
            raise AlreadyExists(
                f"the key {key_fingerprint(key)} is already trusted for publisher {publisher}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, public_key_file(publisher, key).encode("ascii"), 0o644)
        return self._entry(publisher, key)

    def keys_for(self, publisher: str) -> list[Ed25519PublicKey]:
        """The trusted keys of *publisher* (empty for an unknown or invalid id)."""
        if not is_reverse_dns(publisher):
            return []
        return [key for _path, key in self._read(publisher)]

    def find(self, publisher: str, fingerprint: str) -> Ed25519PublicKey | None:
        """The trusted key of *publisher* with that fingerprint, if any."""
        for key in self.keys_for(publisher):
            if key_fingerprint(key) == fingerprint:
                return key
        return None

    def remove(self, publisher: str, fingerprint: str) -> None:
        """Stop trusting one key; :class:`NotFound` when it is not trusted."""
        trusted = self._read(publisher) if is_reverse_dns(publisher) else []
        for path, key in trusted:
            if key_fingerprint(key) == fingerprint:
                path.unlink()
                fsync_directory(path.parent)
                with contextlib.suppress(OSError):
                    path.parent.rmdir()  # only when it held the last key
                return
        raise NotFound(f"no key {fingerprint} is trusted for publisher {publisher}")

    def _path(self, publisher: str, key: Ed25519PublicKey) -> Path:
        name = hashlib.sha256(raw_public_key(key)).hexdigest() + PUBLIC_SUFFIX
        return self.directory / publisher / name

    def _read(self, publisher: str) -> list[tuple[Path, Ed25519PublicKey]]:
        folder = self.directory / publisher
        if not folder.is_dir():
            return []
        keys = []
        for path in sorted(folder.glob("*" + PUBLIC_SUFFIX)):
            if path.name.startswith("."):
                continue
            try:
                named, key = read_public_key(path.read_text("utf-8"))
            except (OSError, UnicodeDecodeError, InvalidArgument) as exc:
                log.warning("ignoring the unusable trusted key file %s: %s", path, exc)
                continue
            if named != publisher or path != self._path(publisher, key):
                log.warning("ignoring the trusted key file %s: it does not match its name", path)
                continue
            keys.append((path, key))
        return keys

    @staticmethod
    def _entry(publisher: str, key: Ed25519PublicKey) -> dict[str, Any]:
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")
        return {"publisher": publisher, "fingerprint": key_fingerprint(key), "key": pem}

    # Last in the class body: from here on, ``list`` names this method.
    def list(self) -> list[dict[str, Any]]:
        """Every trusted key as ``{"publisher", "fingerprint", "key"}`` (bare PEM), sorted."""
        if not self.directory.is_dir():
            return []
        entries = [
            self._entry(child.name, key)
            for child in sorted(self.directory.iterdir())
            if child.is_dir() and is_reverse_dns(child.name)
            for _path, key in self._read(child.name)
        ]
        return sorted(entries, key=lambda e: (e["publisher"], e["fingerprint"]))
