"""A value with its timestamp, and which of an actuator's two values is meant."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple


class Field(StrEnum):
    """``value`` is the current, reported state; ``target`` is an actuator's requested state."""

    VALUE = "value"
    TARGET = "target"


class Datapoint(NamedTuple):
    """An immutable value and when it was observed (UNIX time, nanoseconds)."""

    value: Any
    timestamp: int
