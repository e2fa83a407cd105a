"""A media session: one source's queue, where it is in it, and its transport.

A :class:`MediaSession` belongs to a source (the library, radio, podcasts, an app) and a zone.
It holds the queue of :class:`~carmesh.media.items.MediaItem`, the play order (the queue's
order, or a shuffled order that starts with the item playing when shuffle was switched on),
the current item, its position, the playback state, shuffle and repeat. It decides what
plays; an :class:`Output` (the media service's bridge to the audio engine) plays it.

Transport follows common car and phone players:

- ``next`` goes to the next item of the play order (with repeat ``all`` or ``one``, from the
  last back to the first); past the last item with repeat ``off`` the session stops and
  rewinds to the first item.
- ``previous`` returns to the start of the current item when more than
  :data:`RESTART_AFTER` seconds of it have played, else goes to the previous item (wrapping
  with repeat ``all``/``one``; at the first item, to its start).
- When an item ends by itself, the next one follows without a gap (the output was told
  which with :meth:`Output.cue`): the same item again with repeat ``one``, the first after
  the last with repeat ``all``; with repeat ``off`` the queue ends: stopped, rewound.
- Skipping while paused or stopped selects the item without playing it.

Errors are carmesh's: ``InvalidArgument`` for a bad index, a seek outside the item or into a
live stream, ``FailedPrecondition`` for playing an empty queue; :class:`MediaError` from the
output (not decodable, network) sets the state ``error`` with its message and is raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, Protocol

from carmesh.errors import FailedPrecondition, InvalidArgument
from carmesh.media.items import MediaError, MediaItem

__all__ = [
    "RESTART_AFTER",
    "MediaSession",
    "Output",
    "PlaybackState",
    "Repeat",
]

log = logging.getLogger(__name__)

#: Seconds into an item after which ``previous`` restarts it instead of going back.
RESTART_AFTER = 3.0
#: Most items a queue holds.
MAX_QUEUE = 10_000


class PlaybackState(StrEnum):
    STOPPED = "stopped"
    BUFFERING = "buffering"
    PLAYING = "playing"
    PAUSED = "paused"
    ERROR = "error"


class Repeat(StrEnum):
    OFF = "off"
    ONE = "one"
    ALL = "all"


class Output(Protocol):
    """What a session plays through: the engine side of one session in one zone.

    The output reports back with :meth:`MediaSession.advanced` (the cued item took over
    without a gap), :meth:`MediaSession.ended` (the item ended and nothing was cued) and
    :meth:`MediaSession.failed` (playback broke off).
    """

    async def load(self, item: MediaItem, position: float) -> None:
        """Open *item* at *position* (s) and play it, replacing whatever played; returns
        once audio flows. Raises :class:`MediaError` when it cannot be played."""

    async def unload(self) -> None:
        """Stop playing (with a short fade) and release the decoder."""

    def pause(self) -> None:
        """Fade out and hold the position."""

    def resume(self) -> None:
        """Fade back in where it paused."""

    def cue(self, item: MediaItem | None) -> None:
        """Play *item* right after the current one ends, without a gap (None: nothing)."""

    def position(self) -> float:
        """Seconds into the item that plays (or is paused)."""


Listener = Callable[["MediaSession"], None]


class MediaSession:
    """A queue with transport (see the module's description).

    *name* is what the user sees ("Library", "Radio", an app's session name); *source* the
    VSS ``Played.Source`` of its items when they do not say; *key* a stable identifier
    (``library``, ``radio``, ``podcasts``, ``app:ID/SESSION``). *on_change* is called (on
    the event loop, must not block) after every change of state, item, queue or mode — not
    for the position advancing while playing.
    """

    def __init__(
        self,
        key: str,
        name: str,
        zone: str,
        output: Output,
        *,
        source: str = "UNKNOWN",
        on_change: Listener | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.key = key
        self.name = name
        self.zone = zone
        self.source = source
        self.output = output
        self.on_change = on_change
        self._rng = rng or random.Random()
        self._items: list[MediaItem] = []
        #: The play order: queue indices; ``_cursor`` points into it.
        self._order: list[int] = []
        self._cursor = 0
        self._position = 0.0
        self._state = PlaybackState.STOPPED
        self._shuffle = False
        self._repeat = Repeat.OFF
        self._loaded = False
        self._cued: MediaItem | None = None
        self.error: str | None = None
        self._lock = asyncio.Lock()
        self._following: asyncio.Task[None] | None = None

    # -- what it holds --------------------------------------------------------------------

    @property
    def items(self) -> list[MediaItem]:
        """The queue, in queue order (a copy)."""
        return list(self._items)

    @property
    def index(self) -> int | None:
        """Queue index of the current item; None when the queue is empty."""
        return self._order[self._cursor] if self._order else None

    @property
    def item(self) -> MediaItem | None:
        index = self.index
        return None if index is None else self._items[index]

    @property
    def order(self) -> list[int]:
        """The play order as queue indices (a copy)."""
        return list(self._order)

    @property
    def state(self) -> PlaybackState:
        return self._state

    @property
    def playing(self) -> bool:
        return self._state in (PlaybackState.PLAYING, PlaybackState.BUFFERING)

    @property
    def shuffle(self) -> bool:
        return self._shuffle

    @property
    def repeat(self) -> Repeat:
        return self._repeat

    @property
    def position(self) -> float:
        """Seconds into the current item."""
        if self._loaded and self._state in (PlaybackState.PLAYING, PlaybackState.PAUSED):
            return max(0.0, self.output.position())
        return self._position

    @property
    def duration(self) -> float | None:
        item = self.item
        return None if item is None else item.duration

    def __len__(self) -> int:
        return len(self._items)

    # -- transport ------------------------------------------------------------------------

    async def play(self) -> None:
        """Play the current item from where it is (FailedPrecondition: the queue is empty)."""
        async with self._lock:
            await self._play()

    async def _play(self) -> None:
        if not self._order:
            raise FailedPrecondition(f"the queue of {self.name} is empty; choose something first")
        if self._state is PlaybackState.PLAYING or self._state is PlaybackState.BUFFERING:
            return
        if self._loaded and self._state is PlaybackState.PAUSED:
            self.output.resume()
            self._set_state(PlaybackState.PLAYING)
            return
        await self._load(self._position)

    async def pause(self) -> None:
        """Pause, holding the position (nothing happens unless playing)."""
        async with self._lock:
            self._pause()

    def _pause(self) -> None:
        if self._state is not PlaybackState.PLAYING:
            return
        if self._loaded:
            self._position = self.output.position()
            self.output.pause()
        self._set_state(PlaybackState.PAUSED)

    async def toggle(self) -> None:
        """Pause while playing, else play."""
        async with self._lock:
            if self._state is PlaybackState.PLAYING:
                self._pause()
            else:
                await self._play()

    async def stop(self) -> None:
        """Stop and release the output; the position is kept (``play`` goes on from it)."""
        async with self._lock:
            if self._loaded:
                self._position = self.position
            await self._unload()
            if self._order:
                self._set_state(PlaybackState.PAUSED)
            else:
                self._set_state(PlaybackState.STOPPED)

    async def next(self) -> None:
        """Skip to the next item (see the module's description)."""
        async with self._lock:
            cursor = self._step(+1, by_user=True)
            if cursor is None:
                await self._end_of_queue()
            else:
                await self._go(cursor)

    async def previous(self) -> None:
        """Restart the item when more than :data:`RESTART_AFTER` s played, else go back."""
        async with self._lock:
            if not self._order:
                return
            cursor = self._step(-1, by_user=True)
            if self.position > RESTART_AFTER or cursor is None:
                await self._seek(0.0)
            else:
                await self._go(cursor)

    async def go_to(self, index: int) -> None:
        """Make queue item *index* current from its start (playing if the session plays)."""
        async with self._lock:
            check_index(index, len(self._items), "index")
            await self._go(self._order.index(index))

    async def seek(self, position: float) -> None:
        """Jump to *position* seconds into the current item (InvalidArgument outside it,
        or for a live stream)."""
        async with self._lock:
            item = self.item
            if item is None:
                raise FailedPrecondition(f"the queue of {self.name} is empty; nothing to seek in")
            check_seek(item, position)
            await self._seek(position)

    async def skip(self, seconds: float) -> None:
        """Move *seconds* forward (or back, when negative) in the current item, clamped to
        it; past the end goes to the next item."""
        async with self._lock:
            item = self.item
            if item is None or item.live:
                return
            target = max(0.0, self.position + seconds)
        if item.duration is not None and target >= item.duration:
            await self.next()
            return
        async with self._lock:
            await self._seek(target)

    async def _seek(self, position: float) -> None:
        if self._state is PlaybackState.PLAYING or self._state is PlaybackState.BUFFERING:
            await self._load(position)
        else:
            if self._loaded:
                await self._unload()
            self._position = position
            self._changed()

    # -- the queue ------------------------------------------------------------------------

    async def set_queue(
        self,
        items: Sequence[MediaItem],
        start: int = 0,
        *,
        play: bool = True,
        position: float = 0.0,
    ) -> None:
        """Replace the queue with *items* and make *items[start]* current, at *position* s
        (e.g. where an episode was left); play it unless *play* is false. With shuffle on,
        the new order starts with *start*."""
        items = list(items)
        if not items:
            raise InvalidArgument("a queue needs at least one item")
        if len(items) > MAX_QUEUE:
            raise InvalidArgument(f"a queue holds at most {MAX_QUEUE} items, not {len(items)}")
        check_index(start, len(items), "start")
        async with self._lock:
            await self._unload()
            self._items = items
            self._order, self._cursor = self._new_order(start)
            item = items[start]
            fits = item.duration is None or position < item.duration
            self._position = position if position > 0 and fits and not item.live else 0.0
            self.error = None
            if play:
                await self._load(self._position)
            else:
                self._set_state(PlaybackState.PAUSED)

    async def enqueue(self, items: Sequence[MediaItem], *, next: bool = False) -> None:
        """Add *items* at the end of the queue, or right after the current item (*next*);
        they play in that order, shuffle or not. An empty queue takes them paused."""
        items = list(items)
        if not items:
            raise InvalidArgument("nothing to add to the queue")
        if len(self._items) + len(items) > MAX_QUEUE:
            raise InvalidArgument(f"a queue holds at most {MAX_QUEUE} items")
        async with self._lock:
            if not self._order:
                self._items = items
                self._order = list(range(len(items)))
                self._cursor = 0
                self._position = 0.0
                self._set_state(PlaybackState.PAUSED)
                return
            current = self.index
            assert current is not None
            at = current + 1 if next else len(self._items)
            count = len(items)
            self._items[at:at] = items
            self._order = [i + count if i >= at else i for i in self._order]
            added = list(range(at, at + count))
            place = self._cursor + 1 if next else len(self._order)
            self._order[place:place] = added
            self._recue()
            self._changed()

    async def remove(self, index: int) -> None:
        """Remove the item at queue *index*; removing the current one goes on with the next
        (playing if it played), removing the only or last one (repeat off) stops."""
        async with self._lock:
            check_index(index, len(self._items), "index")
            if index != self.index:
                self._delete(index)
                self._recue()
                self._changed()
                return
            playing = self.playing
            following = self._step(+1, by_user=True)
            follow = None if following is None else self._order[following]
            await self._unload()
            self._delete(index)
            self._position = 0.0
            if follow is None or follow == index:
                self._cursor = 0
                self._set_state(
                    PlaybackState.PAUSED if self._order else PlaybackState.STOPPED, force=True
                )
                return
            self._cursor = self._order.index(follow - 1 if follow > index else follow)
            if playing:
                await self._load(0.0)
            else:
                self._changed()

    def _delete(self, index: int) -> None:
        del self._items[index]
        place = self._order.index(index)
        del self._order[place]
        if place < self._cursor:
            self._cursor -= 1
        self._order = [i - 1 if i > index else i for i in self._order]
        if self._order:
            self._cursor = min(self._cursor, len(self._order) - 1)
        else:
            self._cursor = 0

    async def move(self, source: int, target: int) -> None:
        """Move the item at queue index *source* to *target*; the current item stays
        current (and keeps playing)."""
        async with self._lock:
            count = len(self._items)
            check_index(source, count, "from")
            check_index(target, count, "to")
            if source == target:
                return
            permutation = list(range(count))
            permutation.insert(target, permutation.pop(source))
            new_index = {old: new for new, old in enumerate(permutation)}
            self._items = [self._items[old] for old in permutation]
            if self._shuffle:
                self._order = [new_index[i] for i in self._order]
            else:
                current = new_index[self._order[self._cursor]]
                self._order = list(range(count))
                self._cursor = current
            self._recue()
            self._changed()

    async def clear(self) -> None:
        """Empty the queue and stop."""
        async with self._lock:
            await self._unload()
            self._items, self._order, self._cursor, self._position = [], [], 0, 0.0
            self.error = None
            self._set_state(PlaybackState.STOPPED, force=True)

    # -- modes ----------------------------------------------------------------------------

    async def set_shuffle(self, on: bool) -> None:
        """Shuffle on: a new random order that starts with the current item; off: queue
        order, the current item staying current."""
        async with self._lock:
            if on == self._shuffle:
                return
            self._shuffle = on
            current = self.index
            if current is not None:
                self._order, self._cursor = self._new_order(current)
            self._recue()
            self._changed()

    async def set_repeat(self, repeat: Repeat | str) -> None:
        async with self._lock:
            try:
                value = Repeat(repeat.lower() if isinstance(repeat, str) else repeat)
            except ValueError:
                raise InvalidArgument(
                    f"repeat must be one of off, one, all, not {repeat!r}"
                ) from None
            if value is self._repeat:
                return
            self._repeat = value
            self._recue()
            self._changed()

    # -- what the output reports ----------------------------------------------------------

    def advanced(self) -> None:
        """The cued item took over from the current one (gapless)."""
        cursor = self._step(+1, by_user=False)
        if cursor is None or self._cued is None:
            log.debug("%s: the output advanced with nothing cued", self.key)
            return
        self._cursor = cursor
        self._position = 0.0
        self._cued = None
        self._recue()
        self._changed()

    def ended(self) -> None:
        """The current item ended and the output had nothing to follow it: the queue is
        over, or what comes next could not be prepared ahead (a live stream, a file that
        would not open) and is started now."""
        self._loaded = False
        self._cued = None
        following = self._step(+1, by_user=False)
        self._position = 0.0
        if following is None:
            self._cursor = 0
            self._set_state(PlaybackState.STOPPED, force=True)
            return
        self._cursor = following
        self._set_state(PlaybackState.BUFFERING, force=True)
        task = asyncio.get_running_loop().create_task(self._start_following())
        self._following = task
        task.add_done_callback(self._following_done)

    async def _start_following(self) -> None:
        async with self._lock:
            if self._state is PlaybackState.BUFFERING and not self._loaded:
                await self._load(0.0)

    def _following_done(self, task: asyncio.Task[None]) -> None:
        if self._following is task:
            self._following = None
        if not task.cancelled() and task.exception() is not None:
            log.info("%s: the next item did not start: %s", self.key, task.exception())

    def failed(self, reason: str) -> None:
        """Playback broke off (network gone, undecodable data): state ``error``."""
        self._loaded = False
        self._cued = None
        self.error = reason
        self._set_state(PlaybackState.ERROR, force=True)

    # -- persistence ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What :meth:`restore` needs to bring the session back (JSON-serialisable)."""
        return {
            "key": self.key,
            "name": self.name,
            "source": self.source,
            "items": [item.as_json() for item in self._items],
            "order": list(self._order),
            "cursor": self._cursor,
            "position": round(self.position, 3),
            "shuffle": self._shuffle,
            "repeat": self._repeat.value,
            "playing": self.playing,
        }

    def restore(self, snapshot: dict[str, Any]) -> bool:
        """Take the queue, order, position and modes of *snapshot* (paused, not loaded);
        True when it was playing. Parts that do not fit are dropped (``InvalidArgument``
        when the items do not parse)."""
        items = [MediaItem.from_json(data) for data in snapshot.get("items", [])][:MAX_QUEUE]
        order = snapshot.get("order")
        if not isinstance(order, list) or sorted(order) != list(range(len(items))):
            order = list(range(len(items)))
        cursor = snapshot.get("cursor", 0)
        if not isinstance(cursor, int) or not 0 <= cursor < max(1, len(order)):
            cursor = 0
        position = snapshot.get("position", 0.0)
        if not isinstance(position, int | float) or position < 0:
            position = 0.0
        self._items, self._order, self._cursor = items, order, cursor
        self._shuffle = bool(snapshot.get("shuffle", False))
        try:
            self._repeat = Repeat(snapshot.get("repeat", "off"))
        except ValueError:
            self._repeat = Repeat.OFF
        item = self.item
        if item is not None and item.duration is not None and position > item.duration:
            position = 0.0
        self._position = 0.0 if item is None or item.live else float(position)
        self._state = PlaybackState.PAUSED if items else PlaybackState.STOPPED
        return bool(snapshot.get("playing", False)) and bool(items)

    # -- internals ------------------------------------------------------------------------

    def _new_order(self, current: int) -> tuple[list[int], int]:
        """A play order for the queue and the cursor of queue index *current* in it: queue
        order, or shuffled starting with *current*."""
        indices = list(range(len(self._items)))
        if not self._shuffle:
            return indices, current
        rest = [i for i in indices if i != current]
        self._rng.shuffle(rest)
        return [current, *rest], 0

    def _step(self, direction: int, *, by_user: bool) -> int | None:
        """The cursor of the item before/after the current one; None: there is none."""
        if not self._order:
            return None
        if not by_user and self._repeat is Repeat.ONE:
            return self._cursor
        cursor = self._cursor + direction
        if 0 <= cursor < len(self._order):
            return cursor
        if self._repeat is Repeat.OFF:
            return None
        return cursor % len(self._order)

    async def _go(self, cursor: int) -> None:
        self._cursor = cursor
        self._position = 0.0
        self.error = None
        if self.playing or self._state is PlaybackState.ERROR:
            await self._load(0.0)
        else:
            await self._unload()
            self._changed()

    async def _end_of_queue(self) -> None:
        await self._unload()
        self._cursor = 0
        self._position = 0.0
        self._set_state(PlaybackState.STOPPED, force=True)

    async def _load(self, position: float) -> None:
        item = self.item
        assert item is not None
        self._position = position
        self.error = None
        self._cued = None
        self._set_state(PlaybackState.BUFFERING, force=True)
        try:
            await self.output.load(item, position)
        except MediaError as exc:
            self._loaded = False
            self.error = exc.message
            self._set_state(PlaybackState.ERROR, force=True)
            raise
        except BaseException:
            self._loaded = False
            self._set_state(PlaybackState.PAUSED, force=True)
            raise
        self._loaded = True
        self._recue()
        self._set_state(PlaybackState.PLAYING, force=True)

    async def _unload(self) -> None:
        self._cued = None
        if self._loaded:
            self._loaded = False
            await self.output.unload()

    def _recue(self) -> None:
        """Tell the output what follows the current item now."""
        if not self._loaded:
            return
        cursor = self._step(+1, by_user=False)
        item = None if cursor is None else self._items[self._order[cursor]]
        if item is not None and item.live:
            item = None  # a stream never ends on its own
        if item is not self._cued:
            self._cued = item
            self.output.cue(item)

    def _set_state(self, state: PlaybackState, *, force: bool = False) -> None:
        if state is self._state and not force:
            return
        self._state = state
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self)
            except Exception:
                log.exception("a listener of media session %s failed", self.key)


def check_index(index: Any, count: int, what: str) -> int:
    """*index* when it is a whole number in ``0..count-1``, else InvalidArgument."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        span = f"0 to {count - 1}" if count else "none: the queue is empty"
        raise InvalidArgument(f"{what} must be a queue index ({span}), not {index!r}")
    return index


def check_seek(item: MediaItem, position: Any) -> float:
    """*position* (s) when the item can be sought to it, else InvalidArgument."""
    if item.live:
        raise InvalidArgument(f"{item.title} is a live stream; it cannot be sought")
    if isinstance(position, bool) or not isinstance(position, int | float):
        raise InvalidArgument(f"a seek position is a number of seconds, not {position!r}")
    value = float(position)
    if not value >= 0.0:  # also refuses NaN
        raise InvalidArgument(f"a seek position cannot be negative ({value:g} s)")
    if item.duration is not None and value > item.duration:
        raise InvalidArgument(
            f"{value:g} s is beyond the end of {item.title} ({item.duration:g} s long)"
        )
    return value
