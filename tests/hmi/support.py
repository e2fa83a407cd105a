"""A small client of the HMI's WebSocket for tests: JSON frames in, frames of one type out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TIMEOUT = 5.0


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/ws"


class HmiClient:
    """Sends frames and reads them, keeping every frame it read in :attr:`frames`."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | list[Any] | str | bytes) -> None:
        if isinstance(frame, dict | list):
            frame = json.dumps(frame)
        await self.connection.send(frame)

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def next(self, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame of type *kind*, skipping others."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no {kind!r} frame within {timeout} s")
            frame = await self.recv(remaining)
            if frame["type"] == kind:
                return frame

    async def subscribe(self, *paths: str) -> dict[str, Any]:
        """Subscribe; the ``values`` frame with the current values."""
        await self.send({"type": "subscribe", "paths": list(paths)})
        return (await self.next("values"))["values"]  # type: ignore[no-any-return]

    async def actuate(self, ident: int, targets: dict[str, Any]) -> dict[str, Any]:
        await self.send({"type": "actuate", "id": ident, "targets": targets})
        while True:
            frame = await self.next("result")
            if frame["id"] == ident:
                return frame


@asynccontextmanager
async def hmi_client(http_url: str, **options: Any) -> AsyncIterator[HmiClient]:
    async with connect(ws_url(http_url), open_timeout=TIMEOUT, **options) as connection:
        yield HmiClient(connection)
