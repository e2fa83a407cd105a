"""What the HMI's media API (``/api/media/…``) and WebSocket may ask of the media service.

:class:`carmesh.media.service.MediaService` implements it; the HMI depends only on this
protocol. JSON shapes are those of ``docs/media.md`` ("HTTP API"):

- STATE: ``{"zones": {ZONE: ZONE_STATE}}``, ZONE_STATE ``{"session", "state", "item",
  "position", "duration", "volume", "shuffle", "repeat", "queue_index", "queue_length",
  "focus", "error"}``;
- ITEM: a :meth:`MediaItem.as_json` (``uri``, ``title``, ``artist``, ``album``, ``genre``,
  ``duration``, ``art``, ``source``, ``live``);
- QUEUE: ``{"zone", "items": [ITEM…], "index": N|null, "order": [N…]}``;
- SOUND: ``{"id", "usage", "gain", "zone", "source", "state", "error"}``
  (:mod:`carmesh.media.sounds`); FOCUS: :meth:`AudioFocus.as_json
  <carmesh.media.focus.AudioFocus.as_json>`.

Errors are carmesh's: ``InvalidArgument`` (bad URI, zone, index, command, volume, seek
position), ``NotFound`` (no such browse node, track, station, episode, art),
``FailedPrecondition`` (an empty queue to play, a sound the audio focus refuses),
``Unavailable`` (an item that cannot be played now, e.g. a station that does not answer:
:class:`~carmesh.media.items.MediaError`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

#: Transport commands of ``POST /api/media/transport``.
COMMANDS = ("play", "pause", "toggle", "next", "previous", "seek")
Command = Literal["play", "pause", "toggle", "next", "previous", "seek"]


@dataclass(frozen=True, slots=True)
class MediaEvent:
    """The media state changed: *state* is the whole STATE; *position_only* when nothing
    but the positions advanced (the WebSocket sends those at most 4 times a second)."""

    state: dict[str, Any]
    position_only: bool = False


MediaListener = Callable[[MediaEvent], None]


class MediaControl(Protocol):
    """Sessions, queues, browsing and sources of the car's media, per zone."""

    @property
    def zones(self) -> list[str]:
        """The audio zones (``driver``, and ``rear`` when configured)."""
        ...

    def state(self) -> dict[str, Any]:
        """STATE of every zone."""
        ...

    async def browse(self, node: str = "") -> dict[str, Any]:
        """``{"node": {id, title, kind}, "children": [{id, title, kind, subtitle?, art?,
        uri?}]}``; ``""`` is the root. ``NotFound`` for an unknown node."""
        ...

    async def search(self, text: str) -> dict[str, Any]:
        """``{"items": [ITEM…]}``: library tracks, stations and episodes matching *text*."""
        ...

    async def play(
        self, zone: str, *, uri: str | None = None, node: str | None = None
    ) -> dict[str, Any]:
        """Play *uri* now, or the items of browse *node* (an album, an artist, a station…)
        as a new queue; STATE."""
        ...

    async def transport(
        self, zone: str, command: str, position: float | None = None, index: int | None = None
    ) -> dict[str, Any]:
        """One of :data:`COMMANDS` on the zone's active session (``seek`` needs
        *position*, s; ``play`` with *index* plays that queue item); the zone's STATE."""
        ...

    def queue(self, zone: str) -> dict[str, Any]:
        """QUEUE of the zone's active session."""
        ...

    async def enqueue(
        self, zone: str, *, uri: str | None = None, node: str | None = None, next: bool = False
    ) -> dict[str, Any]:
        """Add *uri* (or *node*'s items) to the end of the queue, or after the current item
        (*next*); QUEUE."""
        ...

    async def remove(self, zone: str, index: int) -> dict[str, Any]:
        """Remove queue item *index*; QUEUE."""
        ...

    async def move(self, zone: str, source: int, target: int) -> dict[str, Any]:
        """Move queue item *source* to *target*; QUEUE."""
        ...

    async def set_mode(
        self,
        zone: str,
        *,
        shuffle: bool | None = None,
        repeat: str | None = None,
        volume: int | None = None,
    ) -> dict[str, Any]:
        """Set what is given (``repeat``: ``off``, ``one``, ``all``; ``volume`` 0–100);
        STATE."""
        ...

    async def art(self, key: str) -> tuple[bytes, str]:
        """(image bytes, media type) of cover art *key*; ``NotFound`` when unknown."""
        ...

    def stations(self) -> dict[str, Any]:
        """``{"stations": [{id, name, genre, uri}]}``."""
        ...

    async def add_podcast(self, url: str) -> dict[str, Any]:
        """Subscribe to the feed at *url* and fetch it; the feed JSON."""
        ...

    async def refresh_podcasts(self) -> dict[str, Any]:
        """Fetch every subscribed feed again; ``{"feeds": [FEED…]}``."""
        ...

    async def scan(self) -> dict[str, Any]:
        """Scan the library folders again (incremental); the scan report."""
        ...

    async def play_sound(
        self,
        usage: str,
        source: str,
        *,
        zone: str = "driver",
        gain: str | None = None,
        volume: float = 1.0,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """Play *source* (``chime:NAME``, ``tone:FREQ:SECONDS``, ``library:track/ID``,
        ``file://``, ``http(s)://``) under focus *usage* (``navigation``, ``call``,
        ``safety``…) with *gain* (the usage's default when None) at *volume* 0–1; SOUND.
        ``FailedPrecondition`` when the audio focus refuses it."""
        ...

    def stop_sound(self, sound_id: str) -> dict[str, Any]:
        """Stop a sound and give up its focus; SOUND. ``NotFound`` when it is not playing."""
        ...

    def sounds(self) -> dict[str, Any]:
        """``{"sounds": [SOUND…]}``: those playing (or paused by focus)."""
        ...

    def focus_stack(self, zone: str) -> dict[str, Any]:
        """FOCUS of *zone*: ``{"zone", "holders": [{client_id, usage, gain, state}],
        "delayed"}``, newest first."""
        ...

    def listen(self, listener: MediaListener) -> Callable[[], None]:
        """Call *listener* (on the event loop, must not block) with every
        :class:`MediaEvent`; returns the function that removes it."""
        ...
