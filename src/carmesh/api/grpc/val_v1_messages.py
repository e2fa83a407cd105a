"""Entries, fields, values and errors as ``kuksa.val.v1`` messages.

A ``Datapoint`` must carry its value in the field KUKSA uses for the signal's VSS type
(:func:`carmesh.api.grpc.convert.carrier`: ``int8`` in ``int32``, ``uint16`` in ``uint32``…);
a value in another field is refused as the databroker refuses it (``UpdateError::WrongType``,
400). Range, ``min``/``max`` and ``allowed`` are left to the broker's validator. Metadata follows
the databroker's ``proto_entry_from_entry_and_fields``: a ``ValueRestriction`` of the kind the
datatype calls for (signed, unsigned, floating point, string), only when the node has one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kuksa.val.v1 import types_pb2

from carmesh.api.grpc import convert
from carmesh.api.grpc.status import http_code
from carmesh.broker import Datapoint
from carmesh.errors import CarmeshError, InvalidArgument
from carmesh.vss.model import DataType, Node

#: Longest path or pattern accepted, as in the databroker.
MAX_PATH_LENGTH = 1000

PATH = types_pb2.FIELD_PATH
VALUE = types_pb2.FIELD_VALUE
TARGET = types_pb2.FIELD_ACTUATOR_TARGET
METADATA = types_pb2.FIELD_METADATA
METADATA_FIELDS = frozenset(
    {
        types_pb2.FIELD_METADATA,
        types_pb2.FIELD_METADATA_DATA_TYPE,
        types_pb2.FIELD_METADATA_DESCRIPTION,
        types_pb2.FIELD_METADATA_ENTRY_TYPE,
        types_pb2.FIELD_METADATA_COMMENT,
        types_pb2.FIELD_METADATA_DEPRECATION,
        types_pb2.FIELD_METADATA_UNIT,
        types_pb2.FIELD_METADATA_VALUE_RESTRICTION,
        types_pb2.FIELD_METADATA_ACTUATOR,
        types_pb2.FIELD_METADATA_SENSOR,
        types_pb2.FIELD_METADATA_ATTRIBUTE,
    }
)
KNOWN_FIELDS = frozenset(types_pb2.Field.values())
_EVERYTHING = frozenset({PATH, VALUE, TARGET, METADATA})

#: Fields each view adds to the ones asked for explicitly.
VIEWS: dict[int, frozenset[int]] = {
    types_pb2.VIEW_UNSPECIFIED: frozenset(),
    types_pb2.VIEW_CURRENT_VALUE: frozenset({PATH, VALUE}),
    types_pb2.VIEW_TARGET_VALUE: frozenset({PATH, TARGET}),
    types_pb2.VIEW_METADATA: frozenset({PATH, METADATA}),
    types_pb2.VIEW_FIELDS: frozenset(),
    types_pb2.VIEW_ALL: _EVERYTHING,
}


def requested_fields(view: int, fields: Iterable[int]) -> frozenset[int]:
    """The fields a view and an explicit field list ask for together.

    ``VIEW_UNSPECIFIED`` without fields means the current value; ``FIELD_UNSPECIFIED`` means
    everything. Raises :class:`InvalidArgument` for numbers the protocol does not define.
    """
    try:
        implied = VIEWS[view]
    except KeyError:
        raise InvalidArgument(f"unknown view {view}") from None
    asked = set(fields)
    unknown = sorted(asked - KNOWN_FIELDS)
    if unknown:
        raise InvalidArgument(f"unknown field {', '.join(map(str, unknown))}")
    if types_pb2.FIELD_UNSPECIFIED in asked:
        asked |= _EVERYTHING
    if view == types_pb2.VIEW_UNSPECIFIED and not asked:
        asked = {PATH, VALUE}
    return frozenset(asked | implied)


def check_length(path: str) -> None:
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidArgument(f"the path is longer than {MAX_PATH_LENGTH} characters")


def entry_error(path: str, exc: CarmeshError) -> types_pb2.DataEntryError:
    code, reason = http_code(exc)
    return types_pb2.DataEntryError(
        path=path, error=types_pb2.Error(code=code, reason=reason, message=str(exc))
    )


def fill_datapoint(message: Any, node: Node, dp: Datapoint) -> None:
    convert.fill(message, node, dp.value)
    convert.set_timestamp(message.timestamp, dp.timestamp)


def _fill_restriction(message: Any, node: Node) -> None:
    datatype = node.datatype
    if datatype is None or (node.min is None and node.max is None and not node.allowed):
        return
    allowed = node.allowed or ()
    if datatype.is_integer:
        unsigned = datatype.element.value.startswith("u")
        kind = message.unsigned if unsigned else message.signed

        def integer(v: Any) -> int:
            return max(0, int(v)) if unsigned else int(v)

        if node.min is not None:
            kind.min = integer(node.min)
        if node.max is not None:
            kind.max = integer(node.max)
        kind.allowed_values.extend(integer(v) for v in allowed)
    elif datatype.is_float:
        kind = message.floating_point
        if node.min is not None:
            kind.min = float(node.min)
        if node.max is not None:
            kind.max = float(node.max)
        kind.allowed_values.extend(float(v) for v in allowed)
    elif datatype.element is DataType.STRING and allowed:
        message.string.allowed_values.extend(str(v) for v in allowed)


def fill_metadata(message: Any, node: Node, fields: frozenset[int]) -> None:
    """Fill a v1 ``Metadata`` with the parts of *node* that *fields* ask for."""
    message.SetInParent()
    everything = METADATA in fields

    def wanted(field: int) -> bool:
        return everything or field in fields

    if wanted(types_pb2.FIELD_METADATA_DATA_TYPE):
        message.data_type = types_pb2.DataType.Value(convert.data_type_name(node.datatype))
    if wanted(types_pb2.FIELD_METADATA_ENTRY_TYPE):
        message.entry_type = types_pb2.EntryType.Value(convert.entry_type_name(node))
    if wanted(types_pb2.FIELD_METADATA_DESCRIPTION):
        message.description = node.description
    if wanted(types_pb2.FIELD_METADATA_COMMENT) and node.comment is not None:
        message.comment = node.comment
    if wanted(types_pb2.FIELD_METADATA_DEPRECATION) and node.deprecation is not None:
        message.deprecation = node.deprecation
    if wanted(types_pb2.FIELD_METADATA_UNIT) and node.unit is not None:
        message.unit = node.unit
    if wanted(types_pb2.FIELD_METADATA_VALUE_RESTRICTION):
        _fill_restriction(message.value_restriction, node)
    kind = node.type.value
    if wanted(getattr(types_pb2, f"FIELD_METADATA_{kind.upper()}")):
        getattr(message, kind).SetInParent()


def data_entry(
    node: Node,
    *,
    value: Datapoint | None = None,
    target: Datapoint | None = None,
    metadata: frozenset[int] = frozenset(),
) -> types_pb2.DataEntry:
    entry = types_pb2.DataEntry(path=node.path)
    if value is not None:
        fill_datapoint(entry.value, node, value)
    if target is not None:
        fill_datapoint(entry.actuator_target, node, target)
    if metadata:
        fill_metadata(entry.metadata, node, metadata)
    return entry


def value_of(node: Node, datapoint: Any, what: str = "value") -> Any:
    """The Python value a v1 ``Datapoint`` carries for *node* (not yet range-checked)."""
    value = convert.checked_extract(datapoint, "value", node)
    if value is None:
        raise InvalidArgument(f"the {what} for {node.path} is empty: set one of the value fields")
    return value
