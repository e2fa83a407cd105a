"""Running a CAN provider against a real in-process broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from carmesh.broker import Broker, Principal, Subscription
from carmesh.vehicle.can import CanVehicle
from carmesh.vehicle.provider import InProcessConnector

PROVIDER = Principal.from_scopes("can-provider", "provide")
READER = Principal.from_scopes("app", "read actuate")


@contextlib.asynccontextmanager
async def running(vehicle: CanVehicle, broker: Broker) -> AsyncIterator[asyncio.Task[None]]:
    """Run *vehicle* as a task until the block ends; fail the test if it crashed."""
    task = asyncio.create_task(vehicle.run(InProcessConnector(broker, PROVIDER)))
    ready = asyncio.create_task(vehicle.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()  # raises what stopped it
    assert ready in done, "the CAN provider did not get ready"
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def collect(sub: Subscription, path: str, count: int, timeout: float = 5.0) -> list[Any]:
    """The next *count* values of *path* that *sub* delivers."""
    seen: list[Any] = []

    async def gather() -> None:
        async for batch in sub:
            if path in batch:
                seen.append(batch[path].value)
                if len(seen) >= count:
                    return

    try:
        await asyncio.wait_for(gather(), timeout)
    except TimeoutError:
        raise AssertionError(f"only {seen} of {count} values of {path} arrived") from None
    return seen


async def until(condition: Any, timeout: float = 5.0) -> None:
    """Wait until ``condition()`` is true."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
