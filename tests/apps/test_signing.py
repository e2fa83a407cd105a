"""Publisher keys (files, fingerprints, signatures) and the car's trust store."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carmesh.apps.signing import (
    PublisherKey,
    TrustStore,
    fingerprint,
    key_fingerprint,
    raw_public_key,
    read_public_key,
    verify,
)
from carmesh.errors import AlreadyExists, ConfigError, InvalidArgument, NotFound


def test_save_and_load(tmp_path: Path) -> None:
    key = PublisherKey.generate("org.example")
    public = key.save(tmp_path / "keys" / "dev.key")
    assert public == tmp_path / "keys" / "dev.key.pub"
    private = tmp_path / "keys" / "dev.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("# carmesh publisher: org.example\n-----BEGIN PRIVATE")
    assert public.read_text() == key.public_pem()
    assert key.public_pem().startswith("# carmesh publisher: org.example\n-----BEGIN PUBLIC KEY")
    loaded = PublisherKey.load(private)
    assert loaded.publisher == "org.example"
    assert loaded.fingerprint == key.fingerprint
    assert verify(key.public_key, loaded.sign(b"data"), b"data")
    assert sorted(p.name for p in private.parent.iterdir()) == ["dev.key", "dev.key.pub"]


def test_save_does_not_replace_a_key(tmp_path: Path) -> None:
    first = PublisherKey.generate("org.example")
    first.save(tmp_path / "dev.key")
    with pytest.raises(AlreadyExists, match=r"exists already"):
        PublisherKey.generate("org.example").save(tmp_path / "dev.key")
    assert PublisherKey.load(tmp_path / "dev.key").fingerprint == first.fingerprint
    second = PublisherKey.generate("org.example")
    second.save(tmp_path / "dev.key", overwrite=True)
    assert PublisherKey.load(tmp_path / "dev.key").fingerprint == second.fingerprint


def test_load_takes_the_publisher_from_the_public_file(tmp_path: Path) -> None:
    key = PublisherKey.generate("org.example")
    key.save(tmp_path / "dev.key")
    bare = (tmp_path / "dev.key").read_text().split("\n", 1)[1]
    (tmp_path / "dev.key").write_text(bare)
    assert PublisherKey.load(tmp_path / "dev.key").publisher == "org.example"
    (tmp_path / "dev.key.pub").unlink()
    with pytest.raises(ConfigError, match=r"names no valid publisher"):
        PublisherKey.load(tmp_path / "dev.key")


def test_unusable_key_files(tmp_path: Path) -> None:
    path = tmp_path / "x.key"
    with pytest.raises(ConfigError, match=r"cannot read the key file"):
        PublisherKey.load(path)
    path.write_text("# carmesh publisher: org.example\nnot a key\n")
    with pytest.raises(ConfigError, match=r"is not a PEM private key"):
        PublisherKey.load(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"cannot read the key file"):
        PublisherKey.load(path)
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    path.write_text("# carmesh publisher: org.example\n" + rsa_pem)
    with pytest.raises(ConfigError, match=r"does not hold an Ed25519 key"):
        PublisherKey.load(path)
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    path.write_text("# carmesh publisher: org.example\n" + encrypted.decode())
    with pytest.raises(ConfigError, match=r"is encrypted"):
        PublisherKey.load(path)
    PublisherKey.generate("org.example").save(tmp_path / "ok.key")
    text = (tmp_path / "ok.key").read_text().replace("org.example", "Not Valid")
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"names no valid publisher"):
        PublisherKey.load(path)


def test_bad_publisher_ids_are_refused() -> None:
    for bad in ("example", "Org.Example", "org..x", ""):
        with pytest.raises(InvalidArgument, match=r"is not a publisher id"):
            PublisherKey.generate(bad)


def test_fingerprint_format() -> None:
    key = PublisherKey.generate("org.example")
    raw = raw_public_key(key.public_key)
    assert len(raw) == 32
    expected = base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
    assert key.fingerprint == fingerprint(raw) == f"SHA256:{expected}"
    assert len(key.fingerprint) == len("SHA256:") + 43
    assert "=" not in key.fingerprint


def test_signatures() -> None:
    key = PublisherKey.generate("org.example")
    other = PublisherKey.generate("org.example")
    signature = key.sign(b"sha256:abc")
    assert len(signature) == 64
    assert verify(key.public_key, signature, b"sha256:abc")
    assert not verify(key.public_key, signature, b"sha256:abd")
    assert not verify(other.public_key, signature, b"sha256:abc")


def test_read_public_key() -> None:
    key = PublisherKey.generate("org.example")
    publisher, public = read_public_key(key.public_pem())
    assert publisher == "org.example"
    assert key_fingerprint(public) == key.fingerprint
    bare = key.public_pem().split("\n", 1)[1]
    assert read_public_key(bare)[0] is None
    assert read_public_key("# a note\n# carmesh publisher: org.x\n" + bare)[0] == "org.x"


def test_read_public_key_refusals() -> None:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(InvalidArgument, match=r"this is a private key"):
        read_public_key(private)
    with pytest.raises(InvalidArgument, match=r"not a PEM public key"):
        read_public_key("hello")
    rsa_public = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(InvalidArgument, match=r"not an Ed25519 key"):
        read_public_key(rsa_public)
    good = PublisherKey.generate("org.example").public_pem()
    with pytest.raises(InvalidArgument, match=r"is not a publisher id"):
        read_public_key(good.replace("org.example", "EXAMPLE"))
    with pytest.raises(InvalidArgument, match=r"too long"):
        read_public_key(good + "#" * 20_000)


# --- trust store ---------------------------------------------------------------------------


def test_trust_add_list_remove(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "trusted")
    assert store.list() == []
    assert store.keys_for("org.example") == []
    a = PublisherKey.generate("org.example")
    b = PublisherKey.generate("org.example")
    c = PublisherKey.generate("org.other")
    entry = store.add("org.example", a.public_pem())
    assert entry["publisher"] == "org.example"
    assert entry["fingerprint"] == a.fingerprint
    assert entry["key"].startswith("-----BEGIN PUBLIC KEY-----")
    store.add("org.example", b.public_pem().split("\n", 1)[1])  # no comment line
    store.add("org.other", c.public_pem())
    listed = store.list()
    assert [(e["publisher"], e["fingerprint"]) for e in listed] == sorted(
        [
            ("org.example", a.fingerprint),
            ("org.example", b.fingerprint),
            ("org.other", c.fingerprint),
        ]
    )
    assert all(read_public_key(e["key"])[1] for e in listed)
    assert {key_fingerprint(k) for k in store.keys_for("org.example")} == {
        a.fingerprint,
        b.fingerprint,
    }
    assert store.find("org.example", a.fingerprint) is not None
    assert store.find("org.other", a.fingerprint) is None

    again = TrustStore(tmp_path / "trusted")  # it is all on disk
    assert again.list() == listed
    again.remove("org.example", a.fingerprint)
    assert [key_fingerprint(k) for k in store.keys_for("org.example")] == [b.fingerprint]
    with pytest.raises(NotFound, match=r"no key .* is trusted for publisher org.example"):
        store.remove("org.example", a.fingerprint)
    store.remove("org.other", c.fingerprint)
    assert not (tmp_path / "trusted" / "org.other").exists()
    with pytest.raises(NotFound):
        store.remove("../etc", c.fingerprint)


def test_trust_files(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "trusted")
    key = PublisherKey.generate("org.example")
    store.add("org.example", key.public_pem())
    files = list((tmp_path / "trusted").rglob("*"))
    assert [f.relative_to(tmp_path / "trusted").parts[0] for f in files if f.is_file()] == [
        "org.example"
    ]
    (path,) = (f for f in files if f.is_file())
    assert path.suffix == ".pub"
    assert path.read_text() == key.public_pem()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_trust_refusals(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "trusted")
    key = PublisherKey.generate("org.example")
    store.add("org.example", key.public_pem())
    with pytest.raises(AlreadyExists, match=r"already trusted for publisher org.example"):
        store.add("org.example", key.public_pem())
    with pytest.raises(InvalidArgument, match=r"belongs to publisher 'org.example', not 'org.x'"):
        store.add("org.x", key.public_pem())
    with pytest.raises(InvalidArgument, match=r"is not a publisher id"):
        store.add("../evil", key.public_pem().split("\n", 1)[1])
    with pytest.raises(InvalidArgument, match=r"not a PEM public key"):
        store.add("org.example", "nonsense")
    # The same key may be trusted for another publisher when its file does not say otherwise.
    store.add("org.y", key.public_pem().split("\n", 1)[1])
    assert len(store.list()) == 2


def test_damaged_trust_files_are_ignored(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "trusted")
    good = PublisherKey.generate("org.example")
    store.add("org.example", good.public_pem())
    folder = tmp_path / "trusted" / "org.example"
    (folder / "junk.pub").write_text("not a key")
    moved = PublisherKey.generate("org.other")  # a file whose name does not match its key
    (folder / "0000.pub").write_text(moved.public_pem().replace("org.other", "org.example"))
    (folder / ".tmp.pub").write_text(good.public_pem())
    (tmp_path / "trusted" / "Not A Publisher").mkdir()
    assert [e["fingerprint"] for e in store.list()] == [good.fingerprint]
    assert len(store.keys_for("org.example")) == 1
    assert store.keys_for("../trusted") == []
