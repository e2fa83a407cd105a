"""Packages: building, signing, and every refusal of docs/apps.md "Checks at install"."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tomllib
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carmesh.apps.archive import MAX_MEMBERS, zip_members
from carmesh.apps.manifest import MANIFEST_NAME, SIGNATURE_NAME
from carmesh.apps.package import (
    Package,
    Signature,
    build_package,
    package_digest,
    sign_package,
)
from carmesh.apps.signing import PublisherKey, TrustStore
from carmesh.errors import PackageRejected

from .support import dev_key, make_app_source, trust_store

APP = "org.example.hello"
ICON = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><circle r="4"/></svg>\n'
README = "# Hello\n\nSays hello.\n" * 20


@pytest.fixture
def key(tmp_path: Path) -> PublisherKey:
    return dev_key(tmp_path)


@pytest.fixture
def trust(tmp_path: Path, key: PublisherKey) -> TrustStore:
    return trust_store(tmp_path, key)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_app_source(
        tmp_path / "hello",
        APP,
        permissions={"read": ["Vehicle.Speed"], "notifications": True},
        files={"lib/helpers.py": "X = 1\n", "README.md": README, "icon.svg": ICON},
    )


@pytest.fixture
def package(source: Path, key: PublisherKey) -> bytes:
    return build_package(source, key).read_bytes()


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def signed(members: Mapping[str, bytes], key: PublisherKey, **fields: str) -> bytes:
    """A zip of *members* with a signature by *key* (*fields* override the signature's)."""
    content = {n: d for n, d in members.items() if n != SIGNATURE_NAME}
    signature = Signature.create(package_digest(content), key)
    signature = Signature(
        fields.get("publisher", signature.publisher),
        fields.get("key", signature.key),
        fields.get("digest", signature.digest),
        signature.signature,
    )
    return zip_members({**content, SIGNATURE_NAME: signature.render()})


def raw_zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    """A zip written entry by entry, duplicates and odd names included."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for info, data in entries:
                archive.writestr(info, data)
    return buffer.getvalue()


def valid_entries(package: bytes) -> list[tuple[zipfile.ZipInfo | str, bytes]]:
    return [(name, data) for name, data in members_of(package).items()]


def rejected(data: bytes | Path, trust: TrustStore, match: str) -> str:
    with pytest.raises(PackageRejected, match=match) as info:
        Package.read(data, trust)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- the good path -------------------------------------------------------------------------


def test_build_then_read(source: Path, key: PublisherKey, trust: TrustStore) -> None:
    path = build_package(source, key)
    assert path == source.parent / "hello-1.0.0.cmapp"
    package = Package.read(path, trust)
    assert package.manifest.id == APP
    assert package.manifest.permissions == ("read:Vehicle.Speed", "notifications")
    assert sorted(package.members) == [
        "README.md",
        "app.py",
        MANIFEST_NAME,
        "icon.svg",
        "lib/helpers.py",
    ]
    assert package.members["lib/helpers.py"] == b"X = 1\n"
    assert package.digest == package_digest(package.members)
    assert package.signature_publisher == "org.example"
    assert package.key_fingerprint == key.fingerprint
    assert Package.read(path.read_bytes(), trust) == package


def test_the_signature_file(package: bytes, key: PublisherKey) -> None:
    fields = tomllib.loads(members_of(package)[SIGNATURE_NAME].decode())
    assert sorted(fields) == ["algorithm", "digest", "key", "publisher", "signature"]
    assert fields["algorithm"] == "ed25519"
    assert fields["publisher"] == "org.example"
    assert fields["key"] == key.fingerprint
    content = {n: d for n, d in members_of(package).items() if n != SIGNATURE_NAME}
    assert fields["digest"] == package_digest(content)


def test_digest_is_over_the_documented_listing() -> None:
    members = {"b.py": b"b", "a/x.py": b"", "é.txt": "é".encode(), SIGNATURE_NAME: b"ignored"}
    content = {n: d for n, d in members.items() if n != SIGNATURE_NAME}
    listing = b"".join(
        b"%s\0%d\0%s\n" % (name.encode(), len(data), hashlib.sha256(data).hexdigest().encode())
        for name, data in sorted(content.items(), key=lambda item: item[0].encode())
    )
    assert package_digest(members) == "sha256:" + hashlib.sha256(listing).hexdigest()
    assert package_digest({}) == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_build_is_deterministic(source: Path, key: PublisherKey, tmp_path: Path) -> None:
    first = build_package(source, key, tmp_path / "one.cmapp").read_bytes()
    os.utime(source / "app.py", (1_000_000, 1_000_000))
    (source / "README.md").chmod(0o600)
    second = build_package(source, key, tmp_path / "two.cmapp").read_bytes()
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {stat.S_IMODE(i.external_attr >> 16) for i in infos} == {0o644}


def test_build_skips_what_is_not_the_app(
    source: Path, key: PublisherKey, trust: TrustStore
) -> None:
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")
    (source / "lib" / "old.pyc").write_bytes(b"x")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref")
    (source / ".env").write_text("SECRET=1")
    (source / "hello-0.9.0.cmapp").write_bytes(b"old")
    (source / SIGNATURE_NAME).write_text("stale")
    package = Package.read(build_package(source, key), trust)
    assert sorted(package.members) == [
        "README.md",
        "app.py",
        MANIFEST_NAME,
        "icon.svg",
        "lib/helpers.py",
    ]


def test_build_refuses_symlinks(source: Path, key: PublisherKey) -> None:
    (source / "link.py").symlink_to(source / "app.py")
    with pytest.raises(PackageRejected, match=r"link.py is a symbolic link"):
        build_package(source, key)
    (source / "link.py").unlink()
    (source / "linked").symlink_to(source / "lib")
    with pytest.raises(PackageRejected, match=r"linked is a symbolic link"):
        build_package(source, key)


def test_build_refusals(tmp_path: Path, source: Path, key: PublisherKey) -> None:
    other = dev_key(tmp_path, "org.other")
    with pytest.raises(
        PackageRejected, match=r"names publisher org.example but the key is org.other's"
    ):
        build_package(source, other)
    with pytest.raises(PackageRejected, match=r"has no carmesh-app.toml"):
        build_package(tmp_path / "nothing", key)
    (source / "app.py").unlink()
    with pytest.raises(PackageRejected, match=r"entry module app is not in the package"):
        build_package(source, key)
    (source / "app.py").write_text("")
    (source / MANIFEST_NAME).write_text("id = 1")
    with pytest.raises(PackageRejected, match=r"the manifest's 'id' must be a string"):
        build_package(source, key)
    assert not list(tmp_path.glob("*.cmapp"))


def test_build_refuses_more_members_than_allowed(source: Path, key: PublisherKey) -> None:
    many = source / "many"
    many.mkdir()
    for i in range(MAX_MEMBERS):
        (many / f"{i}.txt").write_bytes(b"")
    with pytest.raises(PackageRejected, match=r"more than 2000 members"):
        build_package(source, key)


def test_highly_compressible_members_are_stored(
    source: Path, key: PublisherKey, trust: TrustStore
) -> None:
    (source / "zeros.bin").write_bytes(bytes(1024 * 1024))
    path = build_package(source, key)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("zeros.bin").compress_type == zipfile.ZIP_STORED
        assert archive.getinfo("README.md").compress_type == zipfile.ZIP_DEFLATED
    assert Package.read(path, trust).members["zeros.bin"] == bytes(1024 * 1024)


def test_sign_package_replaces_the_signature(
    tmp_path: Path, package: bytes, key: PublisherKey, trust: TrustStore
) -> None:
    path = tmp_path / "p.cmapp"
    path.write_bytes(package)
    new_key = dev_key(tmp_path, "org.example")
    assert sign_package(path, new_key) == path
    rejected(path, trust, "bad signature")
    assert Package.read(path, trust_store(tmp_path / "car2", new_key)).key_fingerprint == (
        new_key.fingerprint
    )
    # An unsigned package can be signed too.
    members = members_of(package)
    del members[SIGNATURE_NAME]
    path.write_bytes(zip_members(members))
    assert Package.read(sign_package(path, key), trust).digest == package_digest(members)
    with pytest.raises(PackageRejected, match=r"sign with a key of org.example"):
        sign_package(path, dev_key(tmp_path, "org.other"))


def test_extract_to(tmp_path: Path, package: bytes, trust: TrustStore) -> None:
    target = tmp_path / "installed" / "1.0.0"
    Package.read(package, trust).extract_to(target)
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["README.md", "app.py", MANIFEST_NAME, "icon.svg", "lib/helpers.py"]
    assert (target / "lib" / "helpers.py").read_bytes() == b"X = 1\n"
    assert stat.S_IMODE((target / "app.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((target / "lib").stat().st_mode) == 0o755
    with pytest.raises(FileExistsError):
        Package.read(package, trust).extract_to(target)


def test_read_unverified(package: bytes, key: PublisherKey) -> None:
    package_info = Package.read_unverified(package)
    assert package_info.manifest.id == APP
    assert package_info.key_fingerprint == key.fingerprint
    members = members_of(package)
    del members[SIGNATURE_NAME]
    unsigned = Package.read_unverified(zip_members(members))
    assert (unsigned.signature_publisher, unsigned.key_fingerprint) == ("", "")
    with pytest.raises(PackageRejected, match=r"not a zip file"):
        Package.read_unverified(b"nope")


# --- refusals: signature and digest --------------------------------------------------------


def test_unsigned(package: bytes, trust: TrustStore) -> None:
    members = members_of(package)
    del members[SIGNATURE_NAME]
    rejected(zip_members(members), trust, r"^the package is unsigned")


def tampered_variants() -> dict[str, Callable[[dict[str, bytes]], None]]:
    def flip(name: str) -> Callable[[dict[str, bytes]], None]:
        def change(members: dict[str, bytes]) -> None:
            data = bytearray(members[name])
            data[len(data) // 2] ^= 0x01
            members[name] = bytes(data)

        return change

    def manifest(members: dict[str, bytes]) -> None:
        members[MANIFEST_NAME] = members[MANIFEST_NAME].replace(b'"1.0.0"', b'"1.0.1"')

    def add(members: dict[str, bytes]) -> None:
        members["extra.py"] = b"import os\n"

    def remove(members: dict[str, bytes]) -> None:
        del members["lib/helpers.py"]

    def rename(members: dict[str, bytes]) -> None:
        members["lib/other.py"] = members.pop("lib/helpers.py")

    def grow(members: dict[str, bytes]) -> None:
        members["README.md"] += b" "

    return {
        "flip app.py": flip("app.py"),
        "flip README.md": flip("README.md"),
        "flip icon.svg": flip("icon.svg"),
        "flip lib/helpers.py": flip("lib/helpers.py"),
        "change the manifest": manifest,
        "add a member": add,
        "remove a member": remove,
        "rename a member": rename,
        "grow a member": grow,
    }


@pytest.mark.parametrize("change", list(tampered_variants()))
def test_tampered(package: bytes, trust: TrustStore, change: str) -> None:
    members = members_of(package)
    before = dict(members)
    tampered_variants()[change](members)
    assert members != before
    message = rejected(zip_members(members), trust, r"^the package was tampered with")
    assert "signed digest" in message


def test_untrusted_publisher(tmp_path: Path, package: bytes) -> None:
    rejected(package, TrustStore(tmp_path / "empty"), r"publisher org.example is untrusted")
    stranger = dev_key(tmp_path, "org.stranger")
    rejected(package, trust_store(tmp_path / "other", stranger), r"untrusted")


def test_signed_by_another_publishers_key(
    tmp_path: Path, package: bytes, trust: TrustStore
) -> None:
    other = dev_key(tmp_path, "org.other")
    trust.add("org.other", other.public_pem())
    forged = signed(members_of(package), other, publisher="org.example")
    rejected(forged, trust, r"bad signature: it was not made by a trusted key of org.example")


def test_signed_by_an_untrusted_key_of_the_publisher(
    tmp_path: Path, package: bytes, trust: TrustStore
) -> None:
    rogue = dev_key(tmp_path, "org.example")
    rejected(signed(members_of(package), rogue), trust, r"bad signature")


def test_forged_signature_bytes(package: bytes, key: PublisherKey, trust: TrustStore) -> None:
    members = members_of(package)
    sig = Signature.parse(members[SIGNATURE_NAME])
    broken = Signature(sig.publisher, sig.key, sig.digest, bytes(64))
    members[SIGNATURE_NAME] = broken.render()
    rejected(zip_members(members), trust, r"bad signature")
    # Re-computing the digest after a change does not help without the key.
    members["app.py"] += b"# more\n"
    content = {n: d for n, d in members.items() if n != SIGNATURE_NAME}
    members[SIGNATURE_NAME] = Signature(
        sig.publisher, sig.key, package_digest(content), sig.signature
    ).render()
    rejected(zip_members(members), trust, r"bad signature")


def test_signature_publisher_differs_from_the_manifest(
    tmp_path: Path, package: bytes, key: PublisherKey, trust: TrustStore
) -> None:
    relabelled = signed(members_of(package), key, publisher="org.other")
    rejected(
        relabelled,
        trust,
        r"signature names publisher 'org.other' but its manifest names org.example",
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"nonsense", "not valid TOML"),
        (b'algorithm = "ed25519"\n', "must hold exactly the strings"),
        (b"\xff", "not valid TOML"),
        (b" " * 5000, "too large"),
    ],
)
def test_malformed_signature_files(
    package: bytes, trust: TrustStore, text: bytes, match: str
) -> None:
    members = members_of(package)
    members[SIGNATURE_NAME] = text
    rejected(zip_members(members), trust, match)


def test_signature_fields_are_checked(package: bytes, trust: TrustStore) -> None:
    members = members_of(package)
    good = members[SIGNATURE_NAME].decode()
    for old, new, match in [
        ('algorithm = "ed25519"', 'algorithm = "rsa"', "unsupported algorithm 'rsa'"),
        ('digest = "sha256:', 'digest = "md5:', "malformed digest"),
        ("signature = ", 'signature = "!!!"\nx = ', "must hold exactly"),
    ]:
        members[SIGNATURE_NAME] = good.replace(old, new).encode()
        rejected(zip_members(members), trust, match)
    members[SIGNATURE_NAME] = (good.rsplit("signature = ", 1)[0] + 'signature = "@@"\n').encode()
    rejected(zip_members(members), trust, "not base64")


# --- refusals: the manifest ----------------------------------------------------------------


def test_no_manifest(package: bytes, key: PublisherKey, trust: TrustStore) -> None:
    members = members_of(package)
    del members[MANIFEST_NAME]
    rejected(signed(members, key), trust, r"has no manifest \(carmesh-app.toml\)")


def test_malformed_manifest(package: bytes, key: PublisherKey, trust: TrustStore) -> None:
    members = members_of(package)
    members[MANIFEST_NAME] = b"id = "
    rejected(signed(members, key), trust, r"^the manifest is not valid TOML")
    members[MANIFEST_NAME] = b"\xff\xfe"
    rejected(signed(members, key), trust, r"^the manifest is not UTF-8 text")


def test_min_platform_above_this_car(tmp_path: Path, key: PublisherKey, trust: TrustStore) -> None:
    source = make_app_source(tmp_path / "future", "org.example.future", min_platform="99.0.0")
    rejected(build_package(source, key), trust, r"needs carmesh 99.0.0 or later; this car runs")


def test_icon_must_be_a_member(package: bytes, key: PublisherKey, trust: TrustStore) -> None:
    members = members_of(package)
    manifest = members[MANIFEST_NAME].decode()
    members[MANIFEST_NAME] = manifest.replace('runtime = "python"', 'icon = "missing.svg"').encode()
    rejected(signed(members, key), trust, r"icon 'missing.svg' is not in the package")
    members[MANIFEST_NAME] = manifest.replace('runtime = "python"', 'icon = "app.png"').encode()
    members["app.png"] = b"<svg/>"
    rejected(signed(members, key), trust, r"not the SVG or PNG image its name says")
    members[MANIFEST_NAME] = manifest.replace('runtime = "python"', 'icon = "big.svg"').encode()
    members["big.svg"] = b"<svg>" + b" " * 300_000
    rejected(signed(members, key), trust, r"larger than 256 KiB")
    members[MANIFEST_NAME] = manifest.replace('runtime = "python"', 'icon = "icon.svg"').encode()
    assert Package.read(signed(members, key), trust).manifest.icon == "icon.svg"


# --- refusals: the zip ---------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"hello", b"PK\x03\x04garbage", b"\x00" * 100])
def test_not_a_zip(data: bytes, trust: TrustStore) -> None:
    rejected(data, trust, r"not a (valid )?zip file")


def test_truncated_zip(package: bytes, trust: TrustStore) -> None:
    rejected(package[: len(package) // 2], trust, r"not a valid zip file")


def test_missing_package_file(tmp_path: Path, trust: TrustStore) -> None:
    rejected(tmp_path / "none.cmapp", trust, r"cannot be read")


@pytest.mark.parametrize(
    "name",
    ["../x", "/abs", "a/../../b", "a\\b", "..\\x", "./a", "a//b", "a/./b", "a/..", "x\x01y",
     "C:\\windows"],
)  # fmt: skip
def test_unsafe_member_names(package: bytes, trust: TrustStore, name: str) -> None:
    data = raw_zip([*valid_entries(package), (name, b"evil")])
    rejected(data, trust, r"unsafe member name")


def test_nul_in_a_member_name(package: bytes, trust: TrustStore) -> None:
    data = raw_zip([*valid_entries(package), ("evil.pyXX", b"x")])
    data = data.replace(b"evil.pyXX", b"evil.py\x00X")  # local header and central directory
    rejected(data, trust, r"unsafe member name")


def test_symlink_member(package: bytes, trust: TrustStore) -> None:
    info = zipfile.ZipInfo("link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    rejected(raw_zip([*valid_entries(package), (info, b"/etc/passwd")]), trust, r"symbolic link")


def test_special_file_member(package: bytes, trust: TrustStore) -> None:
    info = zipfile.ZipInfo("fifo")
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    rejected(raw_zip([*valid_entries(package), (info, b"")]), trust, r"not a regular file")


def test_directory_entry(package: bytes, trust: TrustStore) -> None:
    rejected(raw_zip([*valid_entries(package), ("lib/", b"")]), trust, r"directory entry 'lib/'")


def test_file_and_directory_of_the_same_name(package: bytes, trust: TrustStore) -> None:
    data = raw_zip([*valid_entries(package), ("lib", b"x")])
    rejected(data, trust, r"'lib' is both a file and a directory")


def test_duplicate_members(package: bytes, trust: TrustStore) -> None:
    data = raw_zip([*valid_entries(package), ("app.py", b"import os; os.system('evil')")])
    rejected(data, trust, r"two members named 'app.py'")


def test_encrypted_member(package: bytes, trust: TrustStore) -> None:
    data = raw_zip([*valid_entries(package), ("secret.txt", b"x")])
    flags = int.from_bytes(header_field(data, "secret.txt", 6, 8, 2, None), "little")
    data = header_field(data, "secret.txt", 6, 8, 2, (flags | 0x1).to_bytes(2, "little"))
    rejected(data, trust, r"'secret.txt' is encrypted")


def test_unsupported_compression(package: bytes, trust: TrustStore) -> None:
    info = zipfile.ZipInfo("x.txt")
    info.compress_type = zipfile.ZIP_BZIP2
    rejected(raw_zip([*valid_entries(package), (info, b"x")]), trust, r"compression")


def test_too_many_members(package: bytes, trust: TrustStore) -> None:
    extra = [(f"f/{i}", b"") for i in range(MAX_MEMBERS)]
    rejected(raw_zip([*valid_entries(package), *extra]), trust, r"more than 2000 members")


def test_oversized_central_directory(package: bytes, trust: TrustStore) -> None:
    """Refused from the end record, before zipfile builds an object per entry."""
    data = raw_zip([*valid_entries(package), *((f"{i:06}", b"") for i in range(5))])
    end = data.rfind(b"PK\x05\x06")
    patched = bytearray(data)
    patched[end + 10 : end + 12] = (60_000).to_bytes(2, "little")
    rejected(bytes(patched), trust, r"more than 2000 members")
    patched = bytearray(data)
    patched[end + 12 : end + 16] = (50_000_000).to_bytes(4, "little")
    rejected(bytes(patched), trust, r"central directory is too large")


def test_zip_bomb(package: bytes, trust: TrustStore) -> None:
    data = raw_zip([*valid_entries(package), ("bomb.bin", bytes(10 * 1024 * 1024))])
    assert len(data) < 100_000
    rejected(data, trust, r"'bomb.bin' is compressed more than 200:1")


def test_member_too_large(package: bytes, trust: TrustStore) -> None:
    info = zipfile.ZipInfo("big.bin")
    info.compress_type = zipfile.ZIP_STORED
    data = raw_zip([*valid_entries(package), (info, bytes(16 * 1024 * 1024 + 1))])
    rejected(data, trust, r"'big.bin' is larger than 16 MiB")


def test_members_too_large_in_total(package: bytes, trust: TrustStore) -> None:
    entries = valid_entries(package)
    for i in range(5):
        info = zipfile.ZipInfo(f"part{i}.bin")
        info.compress_type = zipfile.ZIP_STORED
        entries.append((info, bytes(14 * 1024 * 1024)))
    rejected(raw_zip(entries), trust, r"exceed 64 MiB in total")


def test_package_file_too_large(tmp_path: Path, trust: TrustStore) -> None:
    path = tmp_path / "huge.cmapp"
    with path.open("wb") as file:
        file.truncate(80 * 1024 * 1024)
    rejected(path, trust, r"larger than 72 MiB")
    rejected(b"PK\x03\x04" + bytes(80 * 1024 * 1024), trust, r"larger than 72 MiB")


def header_field(
    data: bytes, name: str, local: int, central: int, size: int, value: bytes | None
) -> bytes:
    """Read (*value* None: the local header's bytes) or overwrite a field of member *name*
    at offset *local* of its local header and *central* of its central directory entry."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        start = archive.getinfo(name).header_offset
    if value is None:
        return data[start + local : start + local + size]
    patched = bytearray(data)
    patched[start + local : start + local + size] = value
    entry = patched.find(b"PK\x01\x02")
    while patched[entry + 46 : entry + 46 + len(name)] != name.encode():
        entry = patched.find(b"PK\x01\x02", entry + 1)
    patched[entry + central : entry + central + size] = value
    return bytes(patched)


def test_a_member_larger_than_declared(package: bytes, trust: TrustStore) -> None:
    """A lying size in the local header and the central directory is caught while reading."""
    data = raw_zip([*valid_entries(package), ("liar.txt", b"A" * 5000)])
    assert header_field(data, "liar.txt", 22, 24, 4, None) == (5000).to_bytes(4, "little")
    data = header_field(data, "liar.txt", 22, 24, 4, (50).to_bytes(4, "little"))
    rejected(data, trust, r"not a valid zip file|declared size")


# --- property tests ------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_only_ever_rejected(data: bytes) -> None:
    with pytest.raises(PackageRejected):
        Package.read(data, TrustStore(Path("/nonexistent/trust")))
    with pytest.raises(PackageRejected):
        Package.read(b"PK\x03\x04" + data, TrustStore(Path("/nonexistent/trust")))


@pytest.fixture(scope="module")
def valid_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, TrustStore]:
    tmp = tmp_path_factory.mktemp("prop")
    key = dev_key(tmp)
    source = make_app_source(tmp / "src", APP, files={"README.md": README})
    return build_package(source, key).read_bytes(), trust_store(tmp, key)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_packages_are_read_or_rejected(
    valid_package: tuple[bytes, TrustStore], data: st.DataObject
) -> None:
    """Bytes changed anywhere: the package is refused, or (zip metadata the digest does not
    cover, such as timestamps) read with unchanged content."""
    package, trust = valid_package
    damaged = bytearray(package)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    try:
        read = Package.read(bytes(damaged), trust)
    except PackageRejected:
        return
    assert read.digest == Package.read(package, trust).digest


_NAMES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["app.py", MANIFEST_NAME, SIGNATURE_NAME, "../x", "a/b", "a"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_NAMES, st.binary(max_size=64)), max_size=6))
def test_arbitrary_zips_are_only_ever_rejected(entries: list[tuple[str, bytes]]) -> None:
    try:
        data = raw_zip(list(entries))
    except (ValueError, IndexError, UnicodeEncodeError):
        return  # zipfile refuses to write it
    with pytest.raises(PackageRejected):
        Package.read(data, TrustStore(Path("/nonexistent/trust")))
