"""The JSON shapes of signals on the HMI's wire: datapoints and metadata.

Timestamps are whole milliseconds since the UNIX epoch, comparable with JavaScript's
``Date.now()``. Values are JSON as they are: booleans, numbers, strings, arrays of them.
"""

from __future__ import annotations

from typing import Any

from carmesh.broker import Datapoint
from carmesh.vss.model import Node


def timestamp_ms(timestamp_ns: int) -> int:
    return timestamp_ns // 1_000_000


def datapoint_json(dp: Datapoint) -> dict[str, Any]:
    """``{"value": V, "timestamp": MS}``."""
    return {"value": dp.value, "timestamp": dp.timestamp // 1_000_000}


def values_json(batch: dict[str, Datapoint | None]) -> dict[str, dict[str, Any] | None]:
    """Path → datapoint JSON, None for signals without a value yet."""
    return {path: None if dp is None else datapoint_json(dp) for path, dp in batch.items()}


def metadata_json(node: Node) -> dict[str, Any]:
    """``{"type", "datatype", "unit", "min", "max", "allowed", "description"}``."""
    return {
        "type": node.type.value,
        "datatype": node.datatype.value if node.datatype is not None else None,
        "unit": node.unit,
        "min": node.min,
        "max": node.max,
        "allowed": list(node.allowed) if node.allowed is not None else None,
        "description": node.description,
    }
