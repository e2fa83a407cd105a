"""The VSS catalog: every node of a release (plus overlays), indexed for fast lookup.

Lookups by path or id are dict hits; branch listings are precomputed; pattern matches are
narrowed to the branch named by the pattern's literal prefix and cached per pattern.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from carmesh.errors import CatalogError, InvalidValue, NotFound
from carmesh.vss import glob
from carmesh.vss.model import ChangeType, DataType, Node, NodeType
from carmesh.vss.overlay import RawTree, apply_overlay, load_base
from carmesh.vss.values import make_validator

#: VSS releases shipped inside the package, by version.
RELEASES = {"6.0": "vss_release_6.0.json", "4.0": "vss_release_4.0.json"}
DEFAULT_RELEASE = "6.0"

_MODELLED = {
    "type",
    "description",
    "datatype",
    "unit",
    "min",
    "max",
    "allowed",
    "default",
    "comment",
    "deprecation",
    "x-kuksa-changetype",
}
_MATCH_CACHE_SIZE = 4096


def release_file(version: str) -> Path:
    """Path of a packaged VSS release JSON (``"6.0"`` or ``"4.0"``)."""
    try:
        name = RELEASES[version]
    except KeyError:
        known = ", ".join(sorted(RELEASES))
        raise CatalogError(f"no packaged VSS release {version!r}; choose one of {known}") from None
    return Path(str(resources.files("carmesh.vss") / "data" / name))


def _build_node(node_id: int, path: str, raw: dict[str, Any], file: str) -> Node:
    def bad(message: str) -> CatalogError:
        return CatalogError(f"{file}: node {path}: {message}", file=file, path=path)

    try:
        node_type = NodeType(str(raw.get("type")))
    except ValueError:
        raise bad(f"unknown type {raw.get('type')!r}") from None
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise bad("'description' must be text")
    for key in ("unit", "comment", "deprecation"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise bad(f"{key!r} must be text")
    datatype: DataType | None = None
    if node_type is NodeType.BRANCH:
        leaf_keys = sorted(k for k in ("datatype", "min", "max", "allowed", "default") if k in raw)
        if leaf_keys:
            raise bad(f"a branch cannot have {', '.join(leaf_keys)}")
    else:
        if "datatype" not in raw:
            raise bad(f"a {node_type.value} needs a 'datatype'")
        try:
            datatype = DataType(raw["datatype"])
        except ValueError:
            raise bad(f"unknown datatype {raw['datatype']!r}") from None
    bounds: dict[str, int | float] = {}
    for key in ("min", "max"):
        value = raw.get(key)
        if value is None:
            continue
        if datatype is None or not datatype.is_numeric:
            raise bad(f"{key!r} only applies to numeric datatypes")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"{key!r} must be a number, got {value!r}")
        bounds[key] = value
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise bad(f"min {bounds['min']} is greater than max {bounds['max']}")
    change_type = None
    if raw.get("x-kuksa-changetype") is not None:
        try:
            change_type = ChangeType(raw["x-kuksa-changetype"])
        except ValueError:
            raise bad(f"unknown x-kuksa-changetype {raw['x-kuksa-changetype']!r}") from None
    node = Node(
        id=node_id,
        path=path,
        type=node_type,
        description=description,
        datatype=datatype,
        unit=raw.get("unit"),
        min=bounds.get("min"),
        max=bounds.get("max"),
        comment=raw.get("comment"),
        deprecation=raw.get("deprecation"),
        change_type=change_type,
        extra={k: v for k, v in raw.items() if k not in _MODELLED},
    )
    allowed = raw.get("allowed")
    if allowed is not None:
        if not isinstance(allowed, list) or not allowed:
            raise bad("'allowed' must be a non-empty list")
        scalar = dataclasses.replace(node, datatype=datatype.element if datatype else None)
        check = make_validator(scalar)
        try:
            node = dataclasses.replace(node, allowed=tuple(check(v) for v in allowed))
        except InvalidValue as exc:
            raise bad(f"'allowed' holds a value that does not fit: {exc}") from None
    if raw.get("default") is not None:
        try:
            default = make_validator(node)(raw["default"])
        except InvalidValue as exc:
            raise bad(f"'default' does not fit: {exc}") from None
        node = dataclasses.replace(node, default=default)
    return node


class Catalog:
    """An immutable set of VSS nodes with fast path, id, branch and pattern lookups."""

    def __init__(self, nodes: Iterable[Node], *, name: str = "custom") -> None:
        self.name = name
        self._nodes: dict[str, Node] = {}
        self._by_id: dict[int, Node] = {}
        self._children: dict[str, list[Node]] = {}
        for node in nodes:
            self._nodes[node.path] = node
            self._by_id[node.id] = node
            self._children.setdefault(node.parent_path, []).append(node)
        self.leaves: tuple[Node, ...] = tuple(n for n in self._nodes.values() if n.is_leaf)
        self._below: dict[str, tuple[Node, ...]] = {}
        self._match_cache: dict[str, tuple[Node, ...]] = {}

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        source: str | Path | None = None,
        overlays: Sequence[str | Path] = (),
    ) -> Catalog:
        """Load a VSS JSON export and apply overlays in order.

        *source* is a packaged release version (``"6.0"``, ``"4.0"``), a file path, or None for
        the default release. Raises :class:`CatalogError` naming the file and node at fault.
        """
        looks_like_version = re.fullmatch(r"\d+\.\d+", str(source or "")) is not None
        if source is None or (looks_like_version and not Path(str(source)).exists()):
            version = DEFAULT_RELEASE if source is None else str(source)
            file = release_file(version)
            name = f"VSS {version}"
        else:
            file = Path(source)
            match = re.search(r"(\d+\.\d+(?:\.\d+)?)", file.stem)
            name = f"VSS {match.group(1)}" if match else file.stem
        tree: RawTree = load_base(file)
        origin: dict[str, str] = dict.fromkeys(tree, str(file))
        for overlay in overlays:
            apply_overlay(tree, Path(overlay), origin)
        if overlays:
            name += f" + {len(overlays)} overlay{'s' if len(overlays) > 1 else ''}"
        nodes = []
        for node_id, (path, raw) in enumerate(tree.items(), start=1):
            nodes.append(_build_node(node_id, path, raw, origin.get(path, str(file))))
        for node in nodes:
            parent = node.parent_path
            if parent and tree[parent].get("type") != "branch":
                bad = origin.get(node.path, str(file))
                raise CatalogError(
                    f"{bad}: node {node.path}: parent {parent} is not a branch",
                    file=bad,
                    path=node.path,
                )
        return cls(nodes, name=name)

    # -- lookup -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __contains__(self, path: object) -> bool:
        return path in self._nodes

    def __getitem__(self, path: str) -> Node:
        try:
            return self._nodes[path]
        except KeyError:
            raise NotFound(f"{path} is not a signal of {self.name}", path=path) from None

    def get(self, path: str) -> Node | None:
        return self._nodes.get(path)

    def by_id(self, node_id: int) -> Node:
        try:
            return self._by_id[node_id]
        except KeyError:
            raise NotFound(f"no signal has id {node_id}") from None

    def leaf(self, path: str) -> Node:
        """The leaf at *path*; :class:`NotFound` for unknown paths and for branches."""
        node = self[path]
        if not node.is_leaf:
            raise NotFound(f"{path} is a branch, not a signal", path=path)
        return node

    def children(self, path: str) -> list[Node]:
        """Direct children of the branch at *path* (``""`` lists the roots)."""
        if path and path not in self._nodes:
            raise NotFound(f"{path} is not a branch of {self.name}", path=path)
        return list(self._children.get(path, ()))

    def below(self, path: str) -> tuple[Node, ...]:
        """Every leaf at or below *path*, in catalog order."""
        found = self._below.get(path)
        if found is None:
            node = self[path]
            leaves: list[Node] = []
            stack = [node]
            while stack:
                current = stack.pop()
                if current.is_leaf:
                    leaves.append(current)
                else:
                    stack.extend(reversed(self._children.get(current.path, ())))
            found = self._below[path] = tuple(leaves)
        return found

    def match(self, pattern: str) -> tuple[Node, ...]:
        """Leaves selected by a KUKSA-style pattern (see :mod:`carmesh.vss.glob`).

        Returns an empty tuple when nothing matches; raises :class:`InvalidArgument` for a
        malformed pattern.
        """
        found = self._match_cache.get(pattern)
        if found is not None:
            return found
        regex = glob.compile_pattern(pattern)
        if not glob.has_wildcard(pattern):
            found = self.below(pattern) if pattern in self._nodes else ()
            if pattern == "":
                found = self.leaves
        else:
            prefix = glob.literal_prefix(pattern)
            if prefix and prefix not in self._nodes:
                found = ()
            else:
                pool = self.below(prefix) if prefix else self.leaves
                found = tuple(n for n in pool if regex.fullmatch("." + n.path))
        if len(self._match_cache) >= _MATCH_CACHE_SIZE:
            self._match_cache.clear()
        self._match_cache[pattern] = found
        return found

    def resolve(self, pattern: str) -> tuple[Node, ...]:
        """Like :meth:`match`, but raises :class:`NotFound` when nothing matches."""
        found = self.match(pattern)
        if not found:
            raise NotFound(
                f"{pattern or '(everything)'} matches no signal of {self.name}", path=pattern
            )
        return found

    def counts(self) -> Counter[str]:
        """Number of nodes of each type (``branch``, ``sensor``, ``actuator``, ``attribute``)."""
        return Counter(node.type.value for node in self._nodes.values())
