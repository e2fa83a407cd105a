"""What an app knows of a signal, and its values as ``kuksa.val.v2`` messages.

The broker reports each signal's VSS datatype in ``ListMetadata``; a value travels in the
``Value`` field KUKSA uses for that datatype (``int8`` in ``int32``, ``uint16`` in ``uint32``,
arrays in ``*_array``). :func:`to_value` checks the Python value's kind, and for published
values the range and allowed values the broker reported, so that a mistake is an
:class:`~carmesh.errors.InvalidValue` naming the signal before anything is sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kuksa.val.v2 import types_pb2

from carmesh.errors import InvalidValue

__all__ = ["Signal", "from_value", "to_value"]

#: KUKSA DataType name (without ``DATA_TYPE_``) → the Value field of one element.
_CARRIERS = {
    "STRING": "string",
    "BOOLEAN": "bool",
    "INT8": "int32",
    "INT16": "int32",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint32",
    "UINT16": "uint32",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "FLOAT": "float",
    "DOUBLE": "double",
}
_INTEGER_RANGES = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
#: The largest finite 32-bit float.
_FLOAT_MAX = 3.4028234663852886e38
_ENTRY_TYPES = {
    types_pb2.ENTRY_TYPE_SENSOR: "sensor",
    types_pb2.ENTRY_TYPE_ACTUATOR: "actuator",
    types_pb2.ENTRY_TYPE_ATTRIBUTE: "attribute",
}


@dataclass(frozen=True)
class Signal:
    """A signal as the broker describes it: *datatype* is the VSS name (``uint8``,
    ``string[]``), *kind* ``sensor``, ``actuator`` or ``attribute``."""

    path: str
    id: int
    datatype: str
    kind: str
    min: Any = None
    max: Any = None
    allowed: tuple[Any, ...] | None = None

    @classmethod
    def of(cls, metadata: Any) -> Signal:
        """From a ``kuksa.val.v2.Metadata``."""
        name = types_pb2.DataType.Name(metadata.data_type).removeprefix("DATA_TYPE_")
        datatype = name.removesuffix("_ARRAY").lower() + ("[]" if name.endswith("_ARRAY") else "")

        def held(field: str) -> Any:
            return from_value(getattr(metadata, field)) if metadata.HasField(field) else None

        allowed = held("allowed_values")
        return cls(
            path=metadata.path,
            id=metadata.id,
            datatype=datatype,
            kind=_ENTRY_TYPES.get(metadata.entry_type, "unknown"),
            min=held("min"),
            max=held("max"),
            allowed=tuple(allowed) if allowed else None,
        )

    @property
    def is_actuator(self) -> bool:
        return self.kind == "actuator"


def from_value(message: Any) -> Any:
    """The Python value a ``Value`` holds (None when it holds none; arrays as lists)."""
    which = message.WhichOneof("typed_value")
    if which is None:
        return None
    held = getattr(message, which)
    return list(held.values) if which.endswith("_array") else held


def to_value(signal: Signal, value: Any, *, check_range: bool = False) -> Any:
    """A ``Value`` carrying *value* for *signal*; :class:`InvalidValue` when it does not fit
    the datatype (and, with *check_range*, the reported min, max and allowed values)."""
    is_array = signal.datatype.endswith("[]")
    element = signal.datatype.removesuffix("[]").upper()
    field = _CARRIERS.get(element)
    if field is None:
        raise InvalidValue(
            f"{signal.path} is {signal.datatype}; the carmesh SDK cannot write that type",
            path=signal.path,
        )
    message = types_pb2.Value()
    if is_array:
        if not isinstance(value, list | tuple):
            raise _wrong(signal, value, f"a list of {element.lower()}")
        items = [_element(signal, element, item, check_range) for item in value]
        getattr(message, f"{field}_array").values.extend(items)
    else:
        setattr(message, field, _element(signal, element, value, check_range))
    return message


def _element(signal: Signal, element: str, value: Any, check_range: bool) -> Any:
    if element == "STRING":
        if not isinstance(value, str):
            raise _wrong(signal, value, "a string")
    elif element == "BOOLEAN":
        if not isinstance(value, bool):
            raise _wrong(signal, value, "true or false")
    elif element in _INTEGER_RANGES:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _wrong(signal, value, "an integer")
        low, high = _INTEGER_RANGES[element]
        if not low <= value <= high:
            raise InvalidValue(
                f"{signal.path} is {signal.datatype} and takes {low} to {high}, got {value}",
                path=signal.path,
                expected=signal.datatype,
                got=repr(value),
            )
    else:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _wrong(signal, value, "a number")
        value = float(value)
        if not math.isfinite(value) or (element == "FLOAT" and abs(value) > _FLOAT_MAX):
            raise _wrong(signal, value, f"a finite number that fits a {element.lower()}")
    if check_range:
        _check_range(signal, value)
    return value


def _check_range(signal: Signal, value: Any) -> None:
    if signal.allowed is not None and value not in signal.allowed:
        choices = ", ".join(repr(a) for a in signal.allowed)
        raise InvalidValue(
            f"{signal.path} takes one of {choices}, got {value!r}",
            path=signal.path,
            expected=choices,
            got=repr(value),
        )
    if signal.min is not None and value < signal.min:
        raise InvalidValue(
            f"{signal.path} takes at least {signal.min}, got {value!r}",
            path=signal.path,
            expected=f">= {signal.min}",
            got=repr(value),
        )
    if signal.max is not None and value > signal.max:
        raise InvalidValue(
            f"{signal.path} takes at most {signal.max}, got {value!r}",
            path=signal.path,
            expected=f"<= {signal.max}",
            got=repr(value),
        )


def _wrong(signal: Signal, value: Any, expected: str) -> InvalidValue:
    return InvalidValue(
        f"{signal.path} is {signal.datatype} and takes {expected}, got {value!r}",
        path=signal.path,
        expected=signal.datatype,
        got=type(value).__name__,
    )
