"""``carmesh app keygen|new|sign`` on local files, as an app developer uses them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from carmesh.apps.package import Package
from carmesh.apps.signing import TrustStore
from tests.support.car import CARMESH


def carmesh(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARMESH, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_keygen_new_sign_make_a_package_the_car_accepts(tmp_path: Path) -> None:
    keygen = carmesh("app", "keygen", "--publisher", "org.example", "-o", "dev.key", cwd=tmp_path)
    assert keygen.returncode == 0, keygen.stderr
    assert (tmp_path / "dev.key").stat().st_mode & 0o077 == 0
    again = carmesh("app", "keygen", "--publisher", "org.example", "-o", "dev.key", cwd=tmp_path)
    assert again.returncode == 1 and "exists" in again.stderr

    new = carmesh("app", "new", "org.example.hello", cwd=tmp_path)
    assert new.returncode == 0, new.stderr
    source = tmp_path / "hello"
    assert (source / "carmesh-app.toml").exists()
    # The scaffold's own test passes as generated.
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr

    signed = carmesh("app", "sign", "hello", "--key", "dev.key", cwd=tmp_path)
    assert signed.returncode == 0, signed.stderr
    packages = list(tmp_path.glob("*.cmapp"))
    assert len(packages) == 1
    trust = TrustStore(tmp_path / "trusted")
    trust.add("org.example", (tmp_path / "dev.key.pub").read_text())
    package = Package.read(packages[0], trust)
    assert package.manifest.id == "org.example.hello"
    assert "carmesh-app.toml" in package.members


def test_signing_with_another_publishers_key_is_refused(tmp_path: Path) -> None:
    assert (
        carmesh("app", "keygen", "--publisher", "com.other", "-o", "o.key", cwd=tmp_path).returncode
        == 0
    )
    assert carmesh("app", "new", "org.example.hello", cwd=tmp_path).returncode == 0
    signed = carmesh("app", "sign", "hello", "--key", "o.key", cwd=tmp_path)
    assert signed.returncode == 1
    assert "publisher" in signed.stderr
    assert "Traceback" not in signed.stderr
    assert not list(tmp_path.glob("*.cmapp"))
