"""MediaSession on its own: queue, transport, shuffle, repeat, seek, queue editing, what it asks
of its output, and snapshots — with a recording output instead of the audio engine."""

from __future__ import annotations

import asyncio
import random

import pytest

from carmesh.errors import FailedPrecondition, InvalidArgument
from carmesh.media.items import MediaError, MediaItem
from carmesh.media.session import MediaSession, PlaybackState, Repeat


def track(n: int, duration: float | None = 180.0, *, live: bool = False) -> MediaItem:
    return MediaItem(f"library:track/{n}", f"Track {n}", duration=duration, live=live)


class FakeOutput:
    """Records what the session asks; ``clock`` is the position it reports."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.loaded: MediaItem | None = None
        self.cued: MediaItem | None = None
        self.clock = 0.0
        self.paused = False
        self.fail: str | None = None

    async def load(self, item: MediaItem, position: float) -> None:
        if self.fail is not None:
            raise MediaError(self.fail)
        self.calls.append(("load", (item.uri, position)))
        self.loaded, self.clock, self.paused, self.cued = item, position, False, None

    async def unload(self) -> None:
        self.calls.append(("unload", None))
        self.loaded = self.cued = None

    def pause(self) -> None:
        self.calls.append(("pause", None))
        self.paused = True

    def resume(self) -> None:
        self.calls.append(("resume", None))
        self.paused = False

    def cue(self, item: MediaItem | None) -> None:
        self.calls.append(("cue", item.uri if item else None))
        self.cued = item

    def position(self) -> float:
        return self.clock

    def last(self, kind: str) -> object:
        """The argument of the latest call of *kind*."""
        return next(arg for name, arg in reversed(self.calls) if name == kind)

    def advance(self) -> None:
        """The current item ended: the cued one takes over (as the engine does)."""
        self.loaded, self.cued, self.clock = self.cued, None, 0.0


@pytest.fixture
def output() -> FakeOutput:
    return FakeOutput()


@pytest.fixture
def changes() -> list[str]:
    return []


@pytest.fixture
def session(output: FakeOutput, changes: list[str]) -> MediaSession:
    return MediaSession(
        "library",
        "Library",
        "driver",
        output,
        source="USB",
        on_change=lambda s: changes.append(s.state.value),
        rng=random.Random(4),
    )


def uris(items: list[MediaItem]) -> list[str]:
    return [i.uri for i in items]


async def test_set_queue_plays_the_start_item_and_cues_the_next(
    session: MediaSession, output: FakeOutput, changes: list[str]
) -> None:
    await session.set_queue([track(1), track(2), track(3)], start=1)
    assert session.state is PlaybackState.PLAYING
    assert session.index == 1
    assert output.loaded == track(2)
    assert output.cued == track(3)
    assert changes[-2:] == ["buffering", "playing"]


async def test_an_empty_queue_cannot_play(session: MediaSession) -> None:
    with pytest.raises(FailedPrecondition, match="empty"):
        await session.play()
    with pytest.raises(InvalidArgument):
        await session.set_queue([])
    with pytest.raises(InvalidArgument, match="start must be a queue index"):
        await session.set_queue([track(1)], start=3)


async def test_pause_resume_toggle(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(1), track(2)])
    output.clock = 42.5
    await session.pause()
    assert session.state is PlaybackState.PAUSED
    assert output.paused
    assert session.position == 42.5
    await session.toggle()
    assert session.state is PlaybackState.PLAYING
    assert ("resume", None) in output.calls
    await session.toggle()
    assert session.state is PlaybackState.PAUSED
    await session.pause()  # nothing happens
    assert session.state is PlaybackState.PAUSED


async def test_next_and_previous(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(1), track(2), track(3)])
    await session.next()
    assert session.index == 1 and output.loaded == track(2)
    output.clock = 10.0
    await session.previous()  # more than 3 s in: back to the start of the same item
    assert session.index == 1
    assert output.calls[-2:] == [("load", ("library:track/2", 0.0)), ("cue", "library:track/3")]
    output.clock = 1.0
    await session.previous()
    assert session.index == 0
    output.clock = 1.0
    await session.previous()  # the first item: to its start
    assert session.index == 0 and output.calls[-2][0] == "load"


async def test_next_past_the_end_stops_and_rewinds(
    session: MediaSession, output: FakeOutput
) -> None:
    await session.set_queue([track(1), track(2)], start=1)
    await session.next()
    assert session.state is PlaybackState.STOPPED
    assert session.index == 0
    assert output.loaded is None
    await session.play()
    assert output.loaded == track(1)


async def test_skipping_while_paused_selects_without_playing(
    session: MediaSession, output: FakeOutput
) -> None:
    await session.set_queue([track(1), track(2)])
    await session.pause()
    await session.next()
    assert session.index == 1
    assert session.state is PlaybackState.PAUSED
    assert output.loaded is None
    await session.play()
    assert output.last("load") == ("library:track/2", 0.0)


async def test_gapless_advance_follows_the_cue(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(1), track(2), track(3)])
    output.advance()
    session.advanced()
    assert session.index == 1
    assert output.cued == track(3)
    output.advance()
    session.advanced()
    assert session.index == 2
    assert output.cued is None  # repeat off: nothing after the last
    session.ended()
    assert session.state is PlaybackState.STOPPED
    assert session.index == 0


async def test_what_could_not_be_cued_starts_when_the_item_ends(
    session: MediaSession, output: FakeOutput
) -> None:
    station = track(2, None, live=True)
    await session.set_queue([track(1), station])
    assert output.cued is None  # a stream is never cued: it would never end
    output.advance()
    session.ended()  # the channel ran dry
    assert session.state is PlaybackState.BUFFERING
    await until_state(session, PlaybackState.PLAYING)
    assert output.loaded == station
    assert session.index == 1


async def until_state(session: MediaSession, state: PlaybackState) -> None:
    for _ in range(100):
        if session.state is state:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the session is {session.state}, not {state}")


async def test_repeat_one_and_all(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(1), track(2)], start=1)
    await session.set_repeat("one")
    assert output.cued == track(2)  # the same item again
    output.advance()
    session.advanced()
    assert session.index == 1
    await session.next()  # a skip by the user goes on (wrapping)
    assert session.index == 0
    await session.set_repeat(Repeat.ALL)
    await session.next()
    assert output.cued == track(1)  # after the last comes the first
    output.advance()
    session.advanced()
    assert session.index == 0
    with pytest.raises(InvalidArgument, match="repeat must be one of"):
        await session.set_repeat("twice")


async def test_shuffle_keeps_the_current_item_and_plays_each_once(
    session: MediaSession, output: FakeOutput
) -> None:
    items = [track(n) for n in range(20)]
    await session.set_queue(items, start=7)
    await session.set_shuffle(True)
    assert session.index == 7
    assert session.order[0] == 7
    assert sorted(session.order) == list(range(20))
    assert session.order != list(range(20))
    played = [session.index]
    for _ in range(19):
        await session.next()
        played.append(session.index)
    assert sorted(played) == list(range(20))
    await session.next()
    assert session.state is PlaybackState.STOPPED
    # Off again: queue order, the current item staying current.
    await session.set_queue(items, start=3)
    await session.set_shuffle(True)
    await session.next()
    current = session.index
    await session.set_shuffle(False)
    assert session.index == current
    assert session.order == list(range(20))
    assert session.items == items  # the queue itself never changes order


async def test_set_queue_with_shuffle_on_starts_with_the_chosen_item(
    session: MediaSession,
) -> None:
    await session.set_shuffle(True)
    await session.set_queue([track(n) for n in range(10)], start=4)
    assert session.index == 4
    assert session.order[0] == 4


async def test_seek(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(1, 100.0), track(2, None, live=True)])
    await session.seek(60.0)
    assert output.last("load") == ("library:track/1", 60.0)
    with pytest.raises(InvalidArgument, match="beyond the end"):
        await session.seek(100.5)
    with pytest.raises(InvalidArgument, match="negative"):
        await session.seek(-1)
    with pytest.raises(InvalidArgument, match="number of seconds"):
        await session.seek("ten")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        await session.seek(float("nan"))
    await session.pause()
    await session.seek(30.0)  # paused: remembered, played from there
    assert session.position == 30.0
    assert session.state is PlaybackState.PAUSED
    await session.play()
    assert output.last("load") == ("library:track/1", 30.0)
    await session.next()
    with pytest.raises(InvalidArgument, match="live stream"):
        await session.seek(5.0)


async def test_skip_seconds(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(1, 100.0), track(2, 100.0)])
    output.clock = 50.0
    await session.skip(10.0)
    assert output.last("load") == ("library:track/1", 60.0)
    await session.skip(-100.0)
    assert output.clock == 0.0
    output.clock = 95.0
    await session.skip(10.0)
    assert session.index == 1


async def test_enqueue_at_the_end_and_next(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(1), track(2)])
    await session.enqueue([track(3)])
    await session.enqueue([track(9)], next=True)
    assert uris(session.items) == [
        "library:track/1",
        "library:track/9",
        "library:track/2",
        "library:track/3",
    ]
    assert output.cued == track(9)
    await session.set_shuffle(True)
    await session.enqueue([track(10)], next=True)
    await session.next()
    assert session.item == track(10)


async def test_enqueue_into_an_empty_queue_waits_paused(
    session: MediaSession, output: FakeOutput
) -> None:
    await session.enqueue([track(1), track(2)])
    assert session.state is PlaybackState.PAUSED
    assert session.index == 0
    assert output.loaded is None
    with pytest.raises(InvalidArgument):
        await session.enqueue([])


async def test_remove(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(1), track(2), track(3), track(4)], start=1)
    await session.remove(3)  # after the current one
    assert uris(session.items) == ["library:track/1", "library:track/2", "library:track/3"]
    assert session.index == 1
    await session.remove(0)  # before it: the current item keeps playing
    assert session.index == 0 and session.item == track(2)
    assert output.loaded == track(2)
    await session.remove(0)  # the current one: the next plays
    assert session.item == track(3)
    assert output.loaded == track(3)
    assert session.state is PlaybackState.PLAYING
    await session.remove(0)  # the only one: stopped, empty
    assert session.state is PlaybackState.STOPPED
    assert session.index is None
    with pytest.raises(InvalidArgument, match="the queue is empty"):
        await session.remove(0)


async def test_remove_the_last_current_item_with_repeat_off_stops(
    session: MediaSession,
) -> None:
    await session.set_queue([track(1), track(2)], start=1)
    await session.remove(1)
    assert session.state is PlaybackState.PAUSED
    assert session.item == track(1)


async def test_move_keeps_the_current_item(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(n) for n in range(5)], start=2)
    await session.move(2, 0)
    assert uris(session.items)[0] == "library:track/2"
    assert session.index == 0
    assert session.item == track(2)
    assert output.cued == track(0)
    await session.move(4, 1)
    assert uris(session.items) == [f"library:track/{n}" for n in (2, 4, 0, 1, 3)]
    assert output.cued == track(4)
    with pytest.raises(InvalidArgument, match="to must be a queue index"):
        await session.move(0, 5)
    with pytest.raises(InvalidArgument, match="from must be"):
        await session.move(True, 0)  # type: ignore[arg-type]
    await session.set_shuffle(True)
    current = session.item
    await session.move(0, 4)
    assert session.item == current


async def test_clear(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(1), track(2)])
    await session.clear()
    assert session.state is PlaybackState.STOPPED
    assert len(session) == 0
    assert output.loaded is None


async def test_a_failed_load_is_an_error_state(session: MediaSession, output: FakeOutput) -> None:
    output.fail = "track 1 is not an audio file"
    with pytest.raises(MediaError):
        await session.set_queue([track(1), track(2)])
    assert session.state is PlaybackState.ERROR
    assert session.error == "track 1 is not an audio file"
    output.fail = None
    await session.next()  # an error does not block going on
    assert session.state is PlaybackState.PLAYING
    assert session.error is None
    session.failed("the station went away")
    assert session.state is PlaybackState.ERROR


async def test_snapshot_and_restore(session: MediaSession, output: FakeOutput) -> None:
    await session.set_queue([track(n, 100.0) for n in range(6)], start=2)
    await session.set_shuffle(True)
    await session.set_repeat("all")
    await session.next()
    output.clock = 33.0
    snapshot = session.snapshot()
    assert snapshot["playing"] is True
    assert snapshot["position"] == 33.0

    other = FakeOutput()
    again = MediaSession("library", "Library", "driver", other)
    assert again.restore(snapshot) is True
    assert again.state is PlaybackState.PAUSED
    assert again.item == session.item
    assert again.order == session.order
    assert again.shuffle and again.repeat is Repeat.ALL
    assert again.position == 33.0
    await again.play()
    assert other.calls[0] == ("load", (session.item.uri, 33.0))  # type: ignore[union-attr]


def test_restore_drops_what_does_not_fit() -> None:
    again = MediaSession("library", "Library", "driver", FakeOutput())
    playing = again.restore(
        {
            "items": [track(1, 10.0).as_json(), track(2).as_json()],
            "order": [0, 0],
            "cursor": 9,
            "position": 50.0,
            "repeat": "sometimes",
            "playing": True,
        }
    )
    assert playing
    assert again.order == [0, 1]
    assert again.index == 0
    assert again.position == 0.0  # beyond the end of track 1
    assert again.repeat is Repeat.OFF
    with pytest.raises(InvalidArgument):
        again.restore({"items": [{"uri": 3}]})
