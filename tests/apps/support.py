"""Helpers for tests of the apps platform: app sources, publisher keys, trust stores, packages.

key = dev_key(tmp_path)                                   # publisher org.example
source = make_app_source(tmp_path / "src", "org.example.hello",
                         permissions={"read": ["Vehicle.Speed"], "notifications": True})
package = build_package(source, key)                      # tmp_path / "hello-1.0.0.cmapp"
Package.read(package, trust_store(tmp_path, key))
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from carmesh.apps.manifest import MANIFEST_NAME, toml_string
from carmesh.apps.package import build_package
from carmesh.apps.signing import PublisherKey, TrustStore
from carmesh.errors import AlreadyExists

#: The default app module: it does nothing until the car stops it.
IDLE_APP = '''"""A test app that waits until it is stopped."""

import asyncio


async def main(car):
    await asyncio.Event().wait()
'''


def toml_value(value: Any) -> str:
    """*value* (str, bool, int or a list of them) as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def manifest_toml(fields: Mapping[str, Any]) -> str:
    """A manifest's TOML text: top-level keys first, then one ``[table]`` per dict value."""
    lines = [f"{key} = {toml_value(v)}" for key, v in fields.items() if not isinstance(v, dict)]
    for table, content in fields.items():
        if isinstance(content, dict):
            lines.append(f"\n[{table}]")
            lines.extend(f"{toml_string(k)} = {toml_value(v)}" for k, v in content.items())
    return "\n".join(lines) + "\n"


def default_publisher(app_id: str) -> str:
    """The id without its last label, or the id itself when it has only two labels."""
    head = app_id.rsplit(".", 1)[0]
    return head if "." in head else app_id


def manifest_fields(
    app_id: str,
    *,
    version: str = "1.0.0",
    publisher: str | None = None,
    permissions: Mapping[str, Any] | None = None,
    templates: Sequence[str] = ("pane",),
    entry: str = "app:main",
    min_platform: str = "0.0.0",
    limits: Mapping[str, int] | None = None,
    icon: str | None = None,
) -> dict[str, Any]:
    """The fields of a valid manifest, as :func:`manifest_toml` writes them."""
    last = app_id.rsplit(".", 1)[-1]
    fields: dict[str, Any] = {
        "id": app_id,
        "version": version,
        "publisher": publisher or default_publisher(app_id),
        "entry": entry,
        "min_platform": min_platform,
        "runtime": "python",
    }
    if icon is not None:
        fields["icon"] = icon
    fields["names"] = {"en": last.title(), "zh-CN": f"{last}（测试）"}
    fields["permissions"] = dict(permissions or {})
    fields["ui"] = {"templates": list(templates)}
    if limits:
        fields["limits"] = dict(limits)
    return fields


def make_app_source(
    directory: Path,
    app_id: str,
    *,
    version: str = "1.0.0",
    permissions: Mapping[str, Any] | None = None,
    code: str = IDLE_APP,
    templates: Sequence[str] = ("pane",),
    publisher: str | None = None,
    min_platform: str = "0.0.0",
    limits: Mapping[str, int] | None = None,
    files: Mapping[str, bytes | str] | None = None,
) -> Path:
    """Write an app's source into *directory* (created) and return *directory*.

    The manifest has entry ``app:main`` and *permissions* as its ``[permissions]`` table
    (e.g. ``{"read": ["Vehicle.Speed"], "notifications": True}``); ``app.py`` is *code*, a
    whole module defining ``async def main(car)``. The publisher defaults to the id without
    its last label. *files* adds more files (relative POSIX path → content).
    """
    directory.mkdir(parents=True, exist_ok=True)
    fields = manifest_fields(
        app_id,
        version=version,
        publisher=publisher,
        permissions=permissions,
        templates=templates,
        min_platform=min_platform,
        limits=limits,
    )
    (directory / MANIFEST_NAME).write_text(manifest_toml(fields), "utf-8")
    (directory / "app.py").write_text(code, "utf-8")
    for name, content in (files or {}).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, "utf-8")
        else:
            path.write_bytes(content)
    return directory


def dev_key(tmp_path: Path, publisher: str = "org.example") -> PublisherKey:
    """A new key for *publisher*, also saved as ``tmp_path/keys/PUBLISHER.key`` (+ ``.pub``;
    ``PUBLISHER-2.key``… for further keys of the same publisher)."""
    key = PublisherKey.generate(publisher)
    folder = tmp_path / "keys"
    path = folder / f"{publisher}.key"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{publisher}-{n}.key"
    key.save(path)
    return key


def trust_store(tmp_path: Path, *keys: PublisherKey) -> TrustStore:
    """The trust store ``tmp_path/trusted``, trusting *keys* (each for its own publisher)."""
    store = TrustStore(tmp_path / "trusted")
    for key in keys:
        with contextlib.suppress(AlreadyExists):
            store.add(key.publisher, key.public_pem())
    return store


def make_package(tmp_path: Path, app_id: str, key: PublisherKey, **source: Any) -> bytes:
    """The bytes of a signed package of :func:`make_app_source` (*source*: its options)."""
    version = source.get("version", "1.0.0")
    folder = tmp_path / "sources" / f"{app_id}-{version}"
    make_app_source(folder, app_id, **source)
    out = tmp_path / "packages" / f"{app_id}-{version}.cmapp"
    out.parent.mkdir(parents=True, exist_ok=True)
    return build_package(folder, key, out).read_bytes()
