"""Subscriptions: a bounded, conflating stream of update batches for one subscriber.

Overflow policy: a subscription holds at most ``max_batches`` undelivered batches. When a new
batch arrives and the queue is full, it is folded into the newest queued batch, the latest value
of each signal winning. A subscriber that keeps up sees every update in order; a slow one sees
the latest value of every signal that changed, never a stale one. The publisher never waits,
and memory per subscription is bounded by ``(max_batches + 1) × subscribed signals``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from types import TracebackType

from carmesh.broker.datapoint import Datapoint, Field
from carmesh.vss.model import Node

#: One delivery: signal path -> its newest datapoint.
Batch = dict[str, Datapoint]

DEFAULT_MAX_BATCHES = 256


class Subscription:
    """An async iterator of :data:`Batch` es. Close it (or use ``async with``) when done."""

    __slots__ = (
        "_batches",
        "_on_close",
        "_waiter",
        "closed",
        "conflated",
        "field",
        "max_batches",
        "name",
        "nodes",
    )

    def __init__(
        self,
        name: str,
        nodes: tuple[Node, ...],
        field: Field,
        max_batches: int,
        on_close: Callable[[Subscription], None],
    ) -> None:
        if max_batches < 1:
            raise ValueError("max_batches must be at least 1")
        self.name = name
        self.nodes = nodes
        self.field = field
        self.max_batches = max_batches
        #: How many batches were folded into another because the queue was full.
        self.conflated = 0
        self.closed = False
        self._batches: deque[Batch] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._on_close = on_close

    def push(self, batch: Batch) -> None:
        """Queue *batch* (called by the broker; never blocks). *batch* becomes ours."""
        if self.closed:
            return
        if len(self._batches) >= self.max_batches:
            self._batches[-1].update(batch)
            self.conflated += 1
        else:
            self._batches.append(batch)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def pending(self) -> int:
        """Number of queued, undelivered batches."""
        return len(self._batches)

    def get_nowait(self) -> Batch | None:
        return self._batches.popleft() if self._batches else None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Batch:
        while not self._batches:
            if self.closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._batches.popleft()

    def close(self) -> None:
        """Stop receiving; queued batches can still be drained, then iteration ends."""
        if self.closed:
            return
        self.closed = True
        self._on_close(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
