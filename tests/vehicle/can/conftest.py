"""Fixtures of the CAN provider tests: the project's own test EV bus and its mapping."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import can
import pytest

from carmesh.vehicle.can import CanDatabase, CanMapping
from carmesh.vehicle.can.encoder import initial_value
from carmesh.vss import Catalog

DATA = Path(__file__).parent / "data"
DBC = DATA / "carmesh_ev.dbc"
MAPPING = DATA / "carmesh_ev_mapping.yaml"

_channels = itertools.count()


def unique_channel(prefix: str = "carmesh-test") -> str:
    """A virtual bus channel no other test uses (virtual channels are process-wide)."""
    return f"{prefix}-{next(_channels)}"


@pytest.fixture(scope="session")
def database() -> CanDatabase:
    return CanDatabase.load([DBC])


@pytest.fixture(scope="session")
def mapping(database: CanDatabase, catalog: Catalog) -> CanMapping:
    return CanMapping.load(MAPPING, database, catalog)


class Frames:
    """Builds frames of the test EV bus from physical signal values."""

    def __init__(self, database: CanDatabase) -> None:
        self.database = database

    def __call__(self, message: str, timestamp: float = 0.0, **signals: Any) -> can.Message:
        msg = self.database.by_name[message]
        values = {s.name: initial_value(s) for s in msg.signals if s.multiplexer_ids is None}
        values.update(signals)
        data = msg.encode(values, scaling=True, strict=False)
        return can.Message(
            arbitration_id=msg.frame_id,
            is_extended_id=msg.is_extended_frame,
            data=data,
            timestamp=timestamp,
        )


@pytest.fixture(scope="session")
def frames(database: CanDatabase) -> Frames:
    return Frames(database)
