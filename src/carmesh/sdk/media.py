"""An app's media session: a queue of things the app serves over http(s) that the car plays
like any other media (``docs/media.md``), and the user's transport commands as callbacks.

::

    session = car.media_session(await car.register_media_session("My radio"))
    session.on_command(lambda command, event: print(command, event))
    await session.set_queue(
        [QueueItem(id="ep1", title="Episode 1", url="http://127.0.0.1:8000/ep1.mp3")],
        play=True,
    )

The car fetches and decodes the URLs itself, so the app only serves files (or streams); the
session shows in the car's media state and under ``Vehicle.Cabin.Infotainment.Media.*``
while it is the active one, and the user's play, pause, next, previous and seek — from the
screens, the assistant or any KUKSA client — are carried out by the car and then reported to
the app as commands (``{"command", "index", "position"?}``), e.g. to fetch more items.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from carmesh.api.grpc.carmesh_app_v1 import app_pb2
from carmesh.errors import InvalidArgument

if TYPE_CHECKING:
    from carmesh.sdk.car import Car

__all__ = ["MediaCommandCallback", "MediaSession", "QueueItem"]

#: Called with ``(command, event)`` for each transport command the user gave the session:
#: ``command`` is ``play``, ``pause``, ``next``, ``previous`` or ``seek``; ``event`` holds
#: ``index`` (the queue index now current) and, for ``seek``, ``position`` (s).
MediaCommandCallback = Callable[[str, dict[str, Any]], Awaitable[None] | None]


@dataclass(frozen=True)
class QueueItem:
    """One thing to play: *url* (http or https) is fetched by the car; *id* names it in the
    app (1 to 64 of ``A-Z a-z 0-9 _ . -``). *duration* in seconds; *art* an http(s) URL of a
    cover image; *live* for a stream without an end; *source* the VSS ``Played.Source``
    shown for it (``INTERNET`` by default)."""

    id: str
    title: str
    url: str
    artist: str = ""
    album: str = ""
    genre: str = ""
    duration: float | None = None
    art: str | None = None
    live: bool = False
    source: str = "INTERNET"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class MediaSession:
    """A media session the app registered (see the module's description); make it with
    :meth:`Car.media_session`."""

    def __init__(self, car: Car, session_id: str) -> None:
        self.car = car
        self.id = session_id
        self._callbacks: list[MediaCommandCallback] = []

    async def set_queue(
        self,
        items: Sequence[QueueItem | Mapping[str, Any]],
        *,
        start: int = 0,
        play: bool = False,
    ) -> dict[str, Any]:
        """Make *items* the session's queue, *start* the current one, and play it now when
        *play* (the session becomes its zone's active one). Returns the zone's media state.
        ``InvalidArgument`` for bad items, ``Unavailable`` when the car plays no media."""
        data = [item.as_json() if isinstance(item, QueueItem) else dict(item) for item in items]
        try:
            text = json.dumps(data, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"the items cannot be sent as JSON: {exc}") from None
        request = app_pb2.SetMediaQueueRequest(
            session_id=self.id, items_json=text, start=start, play=play
        )
        response = await self.car._unary(self.car._host.SetMediaQueue, request)
        state: dict[str, Any] = json.loads(response.state_json)
        return state

    async def set_state(
        self,
        state: str | None = None,
        *,
        index: int | None = None,
        position: float | None = None,
    ) -> dict[str, Any]:
        """Play (``"playing"``) or pause (``"paused"``) the session, jump to queue *index*,
        seek to *position* seconds; what is None stays. Returns the zone's media state."""
        request = app_pb2.SetMediaStateRequest(session_id=self.id, state=state or "")
        if index is not None:
            request.index = index
        if position is not None:
            request.position = position
        response = await self.car._unary(self.car._host.SetMediaState, request)
        result: dict[str, Any] = json.loads(response.state_json)
        return result

    async def play(self) -> dict[str, Any]:
        return await self.set_state("playing")

    async def pause(self) -> dict[str, Any]:
        return await self.set_state("paused")

    def on_command(self, callback: MediaCommandCallback) -> None:
        """Call *callback(command, event)* for each transport command the user gives this
        session (see :data:`MediaCommandCallback`). Starts reading the event stream."""
        self._callbacks.append(callback)
        self.car._start_events()

    @property
    def callbacks(self) -> list[MediaCommandCallback]:
        return list(self._callbacks)
