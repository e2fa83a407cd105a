"""Values, timestamps and types between carmesh and the KUKSA protobuf messages.

``kuksa.val.v2.Value`` (oneof ``typed_value``) and ``kuksa.val.v1.Datapoint`` (oneof ``value``)
name their fields alike (``int32``, ``float``, ``string_array``…), so one pair of functions
serves both. Integers travel in the narrowest carrier KUKSA uses for the VSS type (``int8`` in
``int32``, ``uint16`` in ``uint32``…); the broker's validator checks the range.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from carmesh.errors import InvalidValue
from carmesh.vss.model import DataType, Node

_CARRIER: dict[DataType, str] = {
    DataType.STRING: "string",
    DataType.BOOLEAN: "bool",
    DataType.INT8: "int32",
    DataType.INT16: "int32",
    DataType.INT32: "int32",
    DataType.INT64: "int64",
    DataType.UINT8: "uint32",
    DataType.UINT16: "uint32",
    DataType.UINT32: "uint32",
    DataType.UINT64: "uint64",
    DataType.FLOAT: "float",
    DataType.DOUBLE: "double",
}


#: datatype -> (carrier field, is an array); computed once, looked up on every value.
_FIELDS: dict[DataType, tuple[str, bool]] = {
    t: (f"{_CARRIER[t.element]}_array" if t.is_array else _CARRIER[t.element], t.is_array)
    for t in DataType
}


def carrier(datatype: DataType) -> str:
    """The protobuf field that carries *datatype* (``uint8[]`` → ``uint32_array``)."""
    return _FIELDS[datatype][0]


def fill(message: Any, node: Node, value: Any) -> None:
    """Set *value* (already valid for *node*) on a v2 ``Value`` or v1 ``Datapoint``."""
    assert node.datatype is not None
    field, is_array = _FIELDS[node.datatype]
    if is_array:
        getattr(message, field).values.extend(value)
    else:
        setattr(message, field, value)


def extract(message: Any, oneof: str) -> Any:
    """The Python value a v2 ``Value`` (``typed_value``) or v1 ``Datapoint`` (``value``) holds.

    None when no field is set; arrays become lists. Whether it fits a node is for the broker's
    validator to say.
    """
    which = message.WhichOneof(oneof)
    if which is None:
        return None
    held = getattr(message, which)
    return list(held.values) if which.endswith("_array") else held


def checked_extract(message: Any, oneof: str, node: Node) -> Any:
    """Like :func:`extract`, but the field set must be the carrier of *node*'s datatype, as
    the databroker requires; :class:`InvalidValue` names the expected field otherwise. None
    when no field is set."""
    which = message.WhichOneof(oneof)
    if which is None:
        return None
    assert node.datatype is not None
    expected = carrier(node.datatype)
    if which != expected:
        raise InvalidValue(
            f"{node.path} is {node.datatype.value} and takes the "
            f"{message.DESCRIPTOR.name} field '{expected}', got '{which}'",
            path=node.path,
            expected=expected,
            got=which,
        )
    return extract(message, oneof)


def set_timestamp(stamp: Timestamp, ns: int) -> None:
    stamp.seconds, stamp.nanos = divmod(ns, 1_000_000_000)


def timestamp_ns(stamp: Timestamp) -> int:
    return int(stamp.seconds) * 1_000_000_000 + int(stamp.nanos)


def data_type_name(datatype: DataType | None) -> str:
    """The KUKSA ``DataType`` enum name (``DATA_TYPE_UINT8_ARRAY``) for a VSS datatype."""
    if datatype is None:
        return "DATA_TYPE_UNSPECIFIED"
    return "DATA_TYPE_" + datatype.value.upper().replace("[]", "_ARRAY")


def entry_type_name(node: Node) -> str:
    """The KUKSA ``EntryType`` enum name (``ENTRY_TYPE_SENSOR``…)."""
    return "ENTRY_TYPE_UNSPECIFIED" if not node.is_leaf else f"ENTRY_TYPE_{node.type.value.upper()}"
