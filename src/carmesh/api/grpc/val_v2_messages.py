"""Signals, values, datapoints and metadata as ``kuksa.val.v2`` messages.

A ``SignalID`` names a leaf by path or by id (the catalog's :attr:`Node.id`). A ``Value`` must
use the field KUKSA uses for the signal's VSS type (:func:`carmesh.api.grpc.convert.carrier`:
``int8`` in ``int32``, ``uint16`` in ``uint32``…); a value in another field is refused as the
databroker refuses it (``WrongType``), and range, ``min``/``max`` and ``allowed`` are left to
the broker's validator. Every failure is a :mod:`carmesh.errors` exception naming the signal.
"""

from __future__ import annotations

from typing import Any

from kuksa.val.v2 import types_pb2

from carmesh.api.grpc import convert
from carmesh.broker.datapoint import Datapoint
from carmesh.errors import (
    CarmeshError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from carmesh.vss.catalog import Catalog
from carmesh.vss.model import DataType, Node, NodeType

#: The databroker refuses longer paths (``MAX_REQUEST_PATH_LENGTH``).
MAX_PATH_LENGTH = 1000


def node_by_path(catalog: Catalog, path: str) -> Node:
    """The leaf at *path*: InvalidArgument when empty or too long, NotFound otherwise."""
    if not path:
        raise InvalidArgument("the signal path is empty; give a path such as Vehicle.Speed")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidArgument(f"the signal path is longer than {MAX_PATH_LENGTH} characters")
    node = catalog.get(path)
    if node is None:
        raise NotFound(f"{path} is not a signal of {catalog.name}", path=path)
    if not node.is_leaf:
        raise NotFound(f"{path} is a branch, not a signal", path=path)
    return node


def node_by_id(catalog: Catalog, node_id: int) -> Node:
    """The leaf with *node_id*; NotFound for unknown ids and for branches."""
    node = catalog.by_id(node_id)
    if not node.is_leaf:
        raise NotFound(f"id {node_id} is the branch {node.path}, not a signal", path=node.path)
    return node


def node_of(catalog: Catalog, signal: Any) -> Node:
    """The leaf a ``SignalID`` names; InvalidArgument when it names nothing."""
    which = signal.WhichOneof("signal")
    if which == "path":
        return node_by_path(catalog, signal.path)
    if which == "id":
        return node_by_id(catalog, signal.id)
    raise InvalidArgument("the SignalID is empty: set its path or its id")


def value_of(node: Node, value: Any) -> Any:
    """The Python value a ``Value`` carries for *node* (not yet range-checked)."""
    held = convert.checked_extract(value, "typed_value", node)
    if held is None:
        raise InvalidArgument(f"no value was given for {node.path}", path=node.path)
    return held


def fill_datapoint(message: Any, node: Node, datapoint: Datapoint | None) -> None:
    """Set a ``Datapoint``; without a datapoint it stays empty, as the databroker answers
    for a signal that has no value yet."""
    if datapoint is None:
        message.SetInParent()
        return
    convert.set_timestamp(message.timestamp, datapoint.timestamp)
    convert.fill(message.value, node, datapoint.value)


class DatapointCache:
    """Datapoint messages converted once per broker datapoint and shared by every subscriber
    that receives it (the broker hands the same Datapoint object to each). Entries hold the
    datapoint itself, so its id cannot be reused while cached; the cache is bounded."""

    def __init__(self, size: int = 16_384) -> None:
        self.size = size
        self._items: dict[int, tuple[Datapoint, Any]] = {}

    def message(self, node: Node, datapoint: Datapoint) -> Any:
        hit = self._items.get(id(datapoint))
        if hit is not None and hit[0] is datapoint:
            return hit[1]
        message = types_pb2.Datapoint()
        fill_datapoint(message, node, datapoint)
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[id(datapoint)] = (datapoint, message)
        return message


def _fill_typed(message: Any, datatype: DataType, value: Any) -> None:
    field = convert.carrier(datatype)
    if datatype.is_array:
        items = [int(v) for v in value] if datatype.is_integer else list(value)
        getattr(message, field).values.extend(items)
    else:
        setattr(message, field, int(value) if datatype.is_integer else value)


def fill_metadata(message: Any, node: Node) -> None:
    """Set a ``Metadata`` from *node*: ``min``/``max`` as scalar Values of the element type,
    ``allowed`` as an array Value, as the databroker sends them."""
    message.id = node.id
    message.path = node.path
    message.data_type = types_pb2.DataType.Value(convert.data_type_name(node.datatype))
    message.entry_type = types_pb2.EntryType.Value(convert.entry_type_name(node))
    message.description = node.description
    message.comment = node.comment or ""
    message.deprecation = node.deprecation or ""
    message.unit = node.unit or ""
    if node.datatype is None:
        return
    element = node.datatype.element
    if node.min is not None:
        _fill_typed(message.min, element, node.min)
    if node.max is not None:
        _fill_typed(message.max, element, node.max)
    if node.allowed is not None:
        _fill_typed(message.allowed_values, DataType(f"{element.value}[]"), node.allowed)


_NODE_TYPES = {
    types_pb2.ENTRY_TYPE_SENSOR: NodeType.SENSOR,
    types_pb2.ENTRY_TYPE_ACTUATOR: NodeType.ACTUATOR,
    types_pb2.ENTRY_TYPE_ATTRIBUTE: NodeType.ATTRIBUTE,
}
_DATA_TYPES = {datatype.value: datatype for datatype in DataType}


def node_of_metadata(message: Any) -> Node | None:
    """The leaf a ``Metadata`` describes (the inverse of :func:`fill_metadata`), with the
    sender's id; None for what carmesh cannot carry (timestamps, no type or path)."""
    name = types_pb2.DataType.Name(message.data_type).removeprefix("DATA_TYPE_").lower()
    name = name.removesuffix("_array") + ("[]" if name.endswith("_array") else "")
    node_type = _NODE_TYPES.get(message.entry_type)
    datatype = _DATA_TYPES.get(name)
    if node_type is None or datatype is None or not message.path:
        return None

    def held(field: str) -> Any:
        return (
            convert.extract(getattr(message, field), "typed_value")
            if message.HasField(field)
            else None
        )

    allowed = held("allowed_values")
    return Node(
        id=message.id,
        path=message.path,
        type=node_type,
        description=message.description,
        datatype=datatype,
        unit=message.unit or None,
        min=held("min"),
        max=held("max"),
        allowed=tuple(allowed) if allowed else None,
        comment=message.comment or None,
        deprecation=message.deprecation or None,
    )


def error_of(exc: CarmeshError) -> Any:
    """A ``kuksa.val.v2.Error`` for *exc* (its codes: invalid argument, not found, permission
    denied; an expired token counts as denied, as in the databroker's conversions)."""
    if isinstance(exc, NotFound):
        code = types_pb2.ERROR_CODE_NOT_FOUND
    elif isinstance(exc, InvalidArgument):
        code = types_pb2.ERROR_CODE_INVALID_ARGUMENT
    elif isinstance(exc, PermissionDenied | Unauthenticated):
        code = types_pb2.ERROR_CODE_PERMISSION_DENIED
    else:
        code = types_pb2.ERROR_CODE_UNSPECIFIED
    return types_pb2.Error(code=code, message=str(exc))


def exception_of(error: Any, path: str, provider: str) -> CarmeshError | None:
    """The refusal a provider's ``Error`` stands for; None when it accepted.

    No error, ``ERROR_CODE_OK``, or an unspecified code without a message mean accepted.
    """
    code = error.code
    if code == types_pb2.ERROR_CODE_OK or (
        code == types_pb2.ERROR_CODE_UNSPECIFIED and not error.message
    ):
        return None
    message = f"provider {provider} refused {path}: {error.message or 'no reason given'}"
    if code == types_pb2.ERROR_CODE_NOT_FOUND:
        return NotFound(message, path=path)
    if code == types_pb2.ERROR_CODE_PERMISSION_DENIED:
        return PermissionDenied(message, path=path)
    return InvalidArgument(message, path=path)
