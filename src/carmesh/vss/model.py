"""The shape of a VSS node: its kind, its datatype and its metadata."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NodeType(StrEnum):
    """What a node is, as VSS names it."""

    BRANCH = "branch"
    SENSOR = "sensor"
    ACTUATOR = "actuator"
    ATTRIBUTE = "attribute"

    @property
    def is_leaf(self) -> bool:
        return self is not NodeType.BRANCH


class DataType(StrEnum):
    """VSS datatypes, scalars and their array (``[]``) forms."""

    STRING = "string"
    BOOLEAN = "boolean"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    FLOAT = "float"
    DOUBLE = "double"
    STRING_ARRAY = "string[]"
    BOOLEAN_ARRAY = "boolean[]"
    INT8_ARRAY = "int8[]"
    INT16_ARRAY = "int16[]"
    INT32_ARRAY = "int32[]"
    INT64_ARRAY = "int64[]"
    UINT8_ARRAY = "uint8[]"
    UINT16_ARRAY = "uint16[]"
    UINT32_ARRAY = "uint32[]"
    UINT64_ARRAY = "uint64[]"
    FLOAT_ARRAY = "float[]"
    DOUBLE_ARRAY = "double[]"

    @property
    def is_array(self) -> bool:
        return self.value.endswith("[]")

    @property
    def element(self) -> DataType:
        """The scalar type of an array type (the type itself for scalars)."""
        return DataType(self.value[:-2]) if self.is_array else self

    @property
    def is_integer(self) -> bool:
        return self.element.value in INTEGER_RANGES

    @property
    def is_float(self) -> bool:
        return self.element in (DataType.FLOAT, DataType.DOUBLE)

    @property
    def is_numeric(self) -> bool:
        return self.is_integer or self.is_float


#: Inclusive value range of each integer width.
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}

#: Largest finite IEEE-754 single-precision value.
FLOAT32_MAX = 3.4028234663852886e38


class ChangeType(StrEnum):
    """KUKSA's ``x-kuksa-changetype``: how often a signal is expected to change."""

    CONTINUOUS = "continuous"
    ON_CHANGE = "onchange"
    STATIC = "static"


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One node of the catalog.

    ``id`` is a positive integer unique within a catalog (leaves and branches alike), stable for
    a given catalog file and overlay list: base nodes are numbered in file order, overlay-added
    nodes after them. Nodes compare by identity; a catalog holds exactly one per path.
    """

    id: int
    path: str
    type: NodeType
    description: str
    datatype: DataType | None = None
    unit: str | None = None
    min: int | float | None = None
    max: int | float | None = None
    allowed: tuple[Any, ...] | None = None
    default: Any = None
    comment: str | None = None
    deprecation: str | None = None
    change_type: ChangeType | None = None
    #: Every key of the source that carmesh does not model itself (``x-…`` extensions, uuid…).
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: The node's value checker, built on first use by :func:`carmesh.vss.values.validate`.
    checker: Callable[[Any], Any] | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The last path component."""
        return self.path.rpartition(".")[2]

    @property
    def parent_path(self) -> str:
        return self.path.rpartition(".")[0]

    @property
    def is_leaf(self) -> bool:
        return self.type is not NodeType.BRANCH

    @property
    def is_actuator(self) -> bool:
        return self.type is NodeType.ACTUATOR

    def __repr__(self) -> str:
        kind = self.datatype.value if self.datatype else "branch"
        return f"<Node {self.path} {self.type.value} {kind}>"
