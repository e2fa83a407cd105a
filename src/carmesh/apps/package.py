"""Signed app packages (``.cmapp``): build and sign them, read and check them, extract them.

A package is a zip of regular files plus ``carmesh-app.sig``, which signs the *package
digest*: SHA-256 over the listing ``NAME\\0SIZE\\0SHA256HEX\\n`` of every other member, sorted
by name. :meth:`Package.read` performs every check of ``docs/apps.md`` ("Checks at install")
that does not depend on what the car has installed; each refusal is one
:class:`~carmesh.errors.PackageRejected` sentence naming the cause.

The zip itself is read and written by :mod:`carmesh.apps.archive`, which never trusts the
zip's own bookkeeping (limits, unsafe names, bombs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from carmesh.apps.archive import (
    check_member_name,
    check_sizes,
    load_archive,
    name_bytes,
    unzip,
    zip_members,
)
from carmesh.apps.manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    Manifest,
    compare_versions,
    platform_version,
    toml_string,
)
from carmesh.apps.signing import (
    PublisherKey,
    TrustStore,
    fsync_directory,
    key_fingerprint,
    verify,
    write_atomically,
)
from carmesh.errors import PackageRejected

MAX_ICON = 256 * 1024
MAX_SIGNATURE_BYTES = 4096
PACKAGE_SUFFIX = ".cmapp"

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_SIGNATURE_KEYS = ("algorithm", "publisher", "key", "digest", "signature")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def package_digest(members: Mapping[str, bytes]) -> str:
    """``sha256:`` + hex SHA-256 over the sorted listing of *members* (the signature excluded)."""
    listing = hashlib.sha256()
    names = sorted((name for name in members if name != SIGNATURE_NAME), key=name_bytes)
    for name in names:
        content = members[name]
        line = f"{name}\0{len(content)}\0{hashlib.sha256(content).hexdigest()}\n"
        listing.update(line.encode("utf-8", "surrogatepass"))
    return "sha256:" + listing.hexdigest()


@dataclass(frozen=True)
class Signature:
    """The content of ``carmesh-app.sig``: who signed which digest with which key."""

    publisher: str
    key: str
    digest: str
    signature: bytes
    algorithm: str = "ed25519"

    @classmethod
    def create(cls, digest: str, key: PublisherKey) -> Signature:
        """*key*'s signature over the UTF-8 bytes of *digest*."""
        return cls(key.publisher, key.fingerprint, digest, key.sign(digest.encode("utf-8")))

    @classmethod
    def parse(cls, data: bytes) -> Signature:
        """Read a signature file; :class:`PackageRejected` when it is malformed."""
        if len(data) > MAX_SIGNATURE_BYTES:
            raise PackageRejected("the package's signature file is too large to be one")
        try:
            fields = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            raise PackageRejected("the package's signature file is not valid TOML") from None
        if sorted(fields) != sorted(_SIGNATURE_KEYS) or not all(
            isinstance(value, str) for value in fields.values()
        ):
            raise PackageRejected(
                "the package's signature file must hold exactly the strings "
                + ", ".join(_SIGNATURE_KEYS)
            )
        if fields["algorithm"] != "ed25519":
            raise PackageRejected(
                f"the package is signed with the unsupported algorithm {fields['algorithm']!r}"
            )
        if not _DIGEST.fullmatch(fields["digest"]):
            raise PackageRejected("the package's signature file holds a malformed digest")
        try:
            signature = base64.b64decode(fields["signature"], validate=True)
        except (binascii.Error, ValueError):
            raise PackageRejected("the package's signature is not base64") from None
        return cls(fields["publisher"], fields["key"], fields["digest"], signature)

    def render(self) -> bytes:
        """The signature file's TOML text."""
        lines = [
            f"algorithm = {toml_string(self.algorithm)}",
            f"publisher = {toml_string(self.publisher)}",
            f"key = {toml_string(self.key)}",
            f"digest = {toml_string(self.digest)}",
            f"signature = {toml_string(base64.b64encode(self.signature).decode('ascii'))}",
        ]
        return ("\n".join(lines) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Package:
    """A package that passed the checks: its manifest, digest and members (signature excluded).

    ``signature_publisher`` and ``key_fingerprint`` come from the signature file (``""`` for a
    package read with :meth:`read_unverified` that has none).
    """

    manifest: Manifest
    digest: str
    members: dict[str, bytes]
    signature_publisher: str
    key_fingerprint: str

    @classmethod
    def read(cls, data: bytes | Path, trust: TrustStore) -> Package:
        """Check a package as the car does before installing it.

        In this order: a safe zip within the limits; a valid manifest whose icon and entry
        module are members; a signature ("unsigned"); the digest ("tampered"); a trusted key
        of the manifest's publisher ("untrusted publisher"); the signature made by that key
        ("bad signature"); the signature's publisher equal to the manifest's; ``min_platform``
        not above this carmesh. Raises :class:`PackageRejected` naming the first failure.
        """
        members = unzip(load_archive(data))
        signature_data = members.pop(SIGNATURE_NAME, None)
        manifest = _manifest(members)
        if signature_data is None:
            raise PackageRejected(f"the package is unsigned (it has no {SIGNATURE_NAME})")
        signature = Signature.parse(signature_data)
        digest = package_digest(members)
        if digest != signature.digest:
            raise PackageRejected(
                "the package was tampered with: its content does not match its signed digest"
            )
        publisher = manifest.publisher
        keys = trust.keys_for(publisher)
        if not keys:
            raise PackageRejected(
                f"the package's publisher {publisher} is untrusted on this car "
                "(trust the publisher's key first: carmesh app trust KEY.pub)"
            )
        key = next((k for k in keys if key_fingerprint(k) == signature.key), None)
        if key is None or not verify(key, signature.signature, signature.digest.encode()):
            raise PackageRejected(
                f"the package has a bad signature: it was not made by a trusted key of {publisher}"
            )
        if signature.publisher != publisher:
            raise PackageRejected(
                f"the package's signature names publisher {signature.publisher!r} "
                f"but its manifest names {publisher}"
            )
        running = platform_version()
        if compare_versions(manifest.min_platform, running) > 0:
            raise PackageRejected(
                f"the app needs carmesh {manifest.min_platform} or later; this car runs {running}"
            )
        return cls(manifest, digest, members, signature.publisher, signature.key)

    @classmethod
    def read_unverified(cls, data: bytes | Path) -> Package:
        """Check the zip and the manifest only, for tools that inspect a package.

        The signature is neither required nor verified: never install what this returns.
        """
        members = unzip(load_archive(data))
        signature_data = members.pop(SIGNATURE_NAME, None)
        manifest = _manifest(members)
        publisher = fingerprint = ""
        if signature_data is not None:
            signature = Signature.parse(signature_data)
            publisher, fingerprint = signature.publisher, signature.key
        return cls(manifest, package_digest(members), members, publisher, fingerprint)

    def extract_to(self, directory: Path) -> None:
        """Write the members under *directory* (created when missing).

        Directories are created 0755, files 0644 and fsynced; nothing is a symlink and no
        existing file is followed or replaced: :class:`FileExistsError` when *directory*
        holds anything already.
        """
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise FileExistsError(f"{directory} is not empty")
        touched = {directory}
        for name in sorted(self.members):
            check_member_name(name)
            target = directory.joinpath(*name.split("/"))
            for parent in reversed(target.relative_to(directory).parents[:-1]):
                folder = directory / parent
                if folder not in touched:
                    folder.mkdir(mode=0o755)
                    os.chmod(folder, 0o755)
                    touched.add(folder)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(target, flags, 0o644)
            with os.fdopen(fd, "wb") as file:
                os.fchmod(file.fileno(), 0o644)
                file.write(self.members[name])
                file.flush()
                os.fsync(file.fileno())
        for folder in touched:
            fsync_directory(folder)


def build_package(source: Path, key: PublisherKey, out: Path | None = None) -> Path:
    """Package and sign the app in *source*; returns the ``.cmapp`` path.

    Reads and validates ``source/carmesh-app.toml`` and refuses when its publisher is not the
    key's. Collects every regular file except ``__pycache__``, ``*.pyc``, ``*.cmapp``, an old
    ``carmesh-app.sig`` and dot-files (symbolic links are refused). The zip is deterministic:
    the same source and key give the same bytes. *out* defaults to
    ``source.parent / "LAST-ID-LABEL-VERSION.cmapp"``; it is written atomically.
    """
    manifest = _source_manifest(source)
    _check_signer(manifest, key)
    members = _collect(source)
    data = _zip(members, key)
    Package.read_unverified(data)  # what the car would refuse for its shape is refused here
    if out is None:
        out = source.parent / f"{manifest.id.rsplit('.', 1)[-1]}-{manifest.version}.cmapp"
    write_atomically(out, data, 0o644)
    return out


def sign_package(path: Path, key: PublisherKey) -> Path:
    """Replace the signature of the package at *path* with one by *key*; returns *path*.

    The package must be well-formed and its manifest's publisher must be *key*'s.
    """
    package = Package.read_unverified(path)
    _check_signer(package.manifest, key)
    write_atomically(path, _zip(package.members, key), 0o644)
    return path


def _zip(members: Mapping[str, bytes], key: PublisherKey) -> bytes:
    signed = {name: data for name, data in members.items() if name != SIGNATURE_NAME}
    signed[SIGNATURE_NAME] = Signature.create(package_digest(signed), key).render()
    return zip_members(signed)


def _check_signer(manifest: Manifest, key: PublisherKey) -> None:
    if manifest.publisher != key.publisher:
        raise PackageRejected(
            f"the manifest names publisher {manifest.publisher} but the key is "
            f"{key.publisher}'s; sign with a key of {manifest.publisher}"
        )


def _source_manifest(source: Path) -> Manifest:
    path = source / MANIFEST_NAME
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise PackageRejected(f"{source} has no {MANIFEST_NAME}; is it an app?") from None
    except UnicodeDecodeError:
        raise PackageRejected("the manifest is not UTF-8 text") from None
    except OSError as exc:
        raise PackageRejected(f"the manifest {path} cannot be read: {exc.strerror}") from None
    return Manifest.parse(text)


def _collect(source: Path) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    for folder, dirs, files in os.walk(source):
        root = Path(folder)
        for name in list(dirs):
            if name.startswith(".") or name == "__pycache__":
                dirs.remove(name)
            elif (root / name).is_symlink():
                raise PackageRejected(
                    f"{root / name} is a symbolic link; packages hold regular files only"
                )
        for name in files:
            if name.startswith(".") or name.endswith((".pyc", PACKAGE_SUFFIX)):
                continue
            path = root / name
            relative = path.relative_to(source).as_posix()
            if relative == SIGNATURE_NAME:
                continue
            mode = path.lstat().st_mode
            if not stat.S_ISREG(mode):
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                raise PackageRejected(f"{path} is {kind}; packages hold regular files only")
            check_member_name(relative)
            members[relative] = path.read_bytes()
    check_sizes(members)
    return members


def _manifest(members: Mapping[str, bytes]) -> Manifest:
    """The package's manifest, checked against the members it names."""
    data = members.get(MANIFEST_NAME)
    if data is None:
        raise PackageRejected(f"the package has no manifest ({MANIFEST_NAME})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PackageRejected("the manifest is not UTF-8 text") from None
    manifest = Manifest.parse(text)
    module = manifest.entry_module.replace(".", "/")
    if f"{module}.py" not in members and f"{module}/__init__.py" not in members:
        raise PackageRejected(
            f"the manifest's entry module {manifest.entry_module} is not in the package "
            f"(expected {module}.py or {module}/__init__.py)"
        )
    if manifest.icon is not None:
        _check_icon(manifest.icon, members.get(manifest.icon))
    return manifest


def _check_icon(name: str, data: bytes | None) -> None:
    if data is None:
        raise PackageRejected(f"the manifest's icon {name!r} is not in the package")
    if len(data) > MAX_ICON:
        raise PackageRejected(f"the icon {name!r} is larger than {MAX_ICON // 1024} KiB")
    if name.lower().endswith(".png"):
        valid = data.startswith(_PNG_MAGIC)
    else:
        valid = b"<svg" in data and _is_utf8(data)
    if not valid:
        raise PackageRejected(f"the icon {name!r} is not the SVG or PNG image its name says")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
