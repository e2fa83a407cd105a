"""Reading VSS sources and applying overlays, on a flat ``path -> raw metadata`` map.

A source is the nested vss-tools JSON export (``{"Vehicle": {"type": "branch", "children":
{...}}}``) or a flat map of dotted paths (``{"Vehicle.Speed": {"max": 250}}``), in JSON or YAML;
both forms may be mixed. An overlay entry for an existing node changes only the keys it names;
an entry for a new node must say its ``type`` and sit under an existing branch;
``delete: true`` removes a node and everything below it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from carmesh.errors import CatalogError

#: path -> node metadata without "children"; insertion order is catalog order.
RawTree = dict[str, dict[str, Any]]


def read_source(file: Path) -> Any:
    """Parse a JSON or YAML file; errors name the file."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read {file}: {exc.strerror}", file=str(file)) from None
    try:
        if file.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CatalogError(f"{file} is not valid JSON/YAML: {exc}", file=str(file)) from None


def flatten(data: Any, file: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(path, metadata)`` pairs, parents before children, from either source form."""
    if not isinstance(data, Mapping):
        raise CatalogError(f"{file}: the top level must be a mapping of node paths", file=file)
    stack: list[tuple[str, Any]] = [(str(k), v) for k, v in reversed(list(data.items()))]
    while stack:
        path, meta = stack.pop()
        if not isinstance(meta, Mapping):
            raise CatalogError(
                f"{file}: node {path}: expected a mapping of metadata, got {type(meta).__name__}",
                file=file,
                path=path,
            )
        fields = {str(k): v for k, v in meta.items() if k != "children"}
        yield path, fields
        children = meta.get("children")
        if children is None:
            continue
        if not isinstance(children, Mapping):
            raise CatalogError(f"{file}: node {path}: 'children' must be a mapping", file=file)
        stack.extend((f"{path}.{k}", v) for k, v in reversed(list(children.items())))


def load_base(file: Path) -> RawTree:
    tree: RawTree = {}
    for path, fields in flatten(read_source(file), str(file)):
        tree[path] = fields
    return tree


def apply_overlay(tree: RawTree, file: Path, origin: dict[str, str]) -> None:
    """Apply one overlay file to *tree* in place, recording in *origin* which file set a node."""
    name = str(file)
    entries = list(flatten(read_source(file), name))
    # Flat files may list children before parents; a stable sort by depth fixes that.
    entries.sort(key=lambda item: item[0].count("."))
    for path, fields in entries:
        if any(not part or part.strip() != part for part in path.split(".")):
            raise CatalogError(f"{name}: node {path!r}: not a valid path", file=name, path=path)
        if "instances" in fields:
            raise CatalogError(
                f"{name}: node {path}: 'instances' is not supported; write the instance "
                "branches out as nodes",
                file=name,
                path=path,
            )
        if fields.get("delete") is True:
            if path not in tree:
                raise CatalogError(
                    f"{name}: node {path}: cannot delete a node that does not exist",
                    file=name,
                    path=path,
                )
            prefix = path + "."
            for doomed in [p for p in tree if p == path or p.startswith(prefix)]:
                del tree[doomed]
                origin.pop(doomed, None)
            continue
        fields.pop("delete", None)
        if path in tree:
            existing = tree[path]
            new_type = fields.get("type", existing.get("type"))
            has_children = any(p.startswith(path + ".") for p in tree)
            if new_type != "branch" and existing.get("type") == "branch" and has_children:
                raise CatalogError(
                    f"{name}: node {path}: cannot turn a branch with children into a {new_type}",
                    file=name,
                    path=path,
                )
            existing.update(fields)
        else:
            if "type" not in fields:
                raise CatalogError(
                    f"{name}: node {path}: a new node needs a 'type' "
                    "(branch, sensor, actuator or attribute)",
                    file=name,
                    path=path,
                )
            parent = path.rpartition(".")[0]
            if parent:
                if parent not in tree:
                    raise CatalogError(
                        f"{name}: node {path}: parent branch {parent} does not exist",
                        file=name,
                        path=path,
                    )
                if tree[parent].get("type") != "branch":
                    raise CatalogError(
                        f"{name}: node {path}: parent {parent} is a "
                        f"{tree[parent].get('type')}, not a branch",
                        file=name,
                        path=path,
                    )
            tree[path] = dict(fields)
        origin[path] = name
