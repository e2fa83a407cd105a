"""Broker fixtures and a small recording provider."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from carmesh.broker import Broker
from carmesh.errors import CarmeshError
from carmesh.vss import Catalog


class RecordingActuator:
    """Accepts (or refuses, or stalls on) actuation requests and remembers them."""

    def __init__(self, refuse: CarmeshError | Exception | None = None, delay: float = 0.0):
        self.requests: list[dict[str, Any]] = []
        self.refuse = refuse
        self.delay = delay

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        self.requests.append(dict(targets))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse is not None:
            raise self.refuse


@pytest.fixture
async def broker(catalog: Catalog) -> AsyncIterator[Broker]:
    b = Broker(catalog, actuation_timeout=0.5)
    await b.start()
    yield b
    await b.stop()
