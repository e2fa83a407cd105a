"""Channels (playing streams) and the per-zone mixer: gains, ducking, pause, volume, clipping.

Every gain change — a channel's volume, a duck, a pause, a resume, a stop, the zone volume —
is a linear ramp applied sample by sample over ``ramp_ms`` (no steps, so no clicks). A new
change during a ramp starts a new ramp from the gain reached so far.

Callbacks (``on_track_change``, ``on_end``, ``on_error``) are scheduled on the running event
loop with ``call_soon`` (called directly when there is none, e.g. in a plain unit test), so
a listener can never break rendering. ``on_needs_next`` is called synchronously while
rendering and must return quickly (creating a :class:`~carmesh.media.decode.Decoder` does).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import numpy as np

from carmesh.media.decode import Decoder
from carmesh.media.items import MediaError
from carmesh.media.pcm import BLOCK, DTYPE, RATE, Block, db_to_gain, silence

log = logging.getLogger(__name__)

DEFAULT_RAMP_MS = 20.0
#: Ask for the next track this many seconds before the current one ends (or when its
#: decoder has decoded everything, whichever comes first).
PREFETCH_SECONDS = 10.0
#: Soft clip: samples below the knee pass unchanged; above, tanh bends them towards ±1.
CLIP_KNEE = 0.9

_ids = itertools.count(1)


def volume_to_gain(volume: float) -> float:
    """The zone volume 0–100 as a linear gain on a cubic curve: ``(v/100)³``, i.e.
    ``60·log10(v/100)`` dB: 100 → 0 dB, 50 → −18 dB, 25 → −36 dB, 10 → −60 dB, 0 → silence.
    A cubic curve sounds evenly spaced to the ear (PulseAudio uses the same)."""
    v = min(100.0, max(0.0, volume)) / 100.0
    return v * v * v


def soft_clip(block: Block, knee: float = CLIP_KNEE) -> Block:
    """*block* with every sample above *knee* in magnitude bent by ``tanh`` towards ±1,
    continuous in value and slope at the knee; in place, returned for convenience."""
    peak = float(np.max(np.abs(block))) if len(block) else 0.0
    if peak <= knee:
        return block
    over = np.abs(block) > knee
    room = 1.0 - knee
    values = block[over]
    bent = knee + room * np.tanh((np.abs(values) - knee) / room)
    block[over] = np.copysign(bent, values).astype(DTYPE)
    return block


class Ramp:
    """A gain that moves linearly from where it is to a new target over *ramp_frames*."""

    def __init__(self, value: float, ramp_frames: int) -> None:
        self.value = value
        self.target = value
        self.ramp_frames = max(1, ramp_frames)
        self._step = 0.0
        self._left = 0

    @property
    def settled(self) -> bool:
        return self._left == 0

    def set(self, target: float) -> None:
        """Start a ramp to *target* from the current value."""
        if target == self.target and self.settled:
            return
        self.target = target
        self._left = self.ramp_frames
        self._step = (target - self.value) / self.ramp_frames

    def next(self, frames: int) -> float | np.ndarray[Any, np.dtype[np.float32]]:
        """Gains for the next *frames* frames: a float when constant, else a column."""
        if self._left == 0:
            return self.value
        moving = min(frames, self._left)
        gains = np.full((frames, 1), self.target, dtype=DTYPE)
        gains[:moving, 0] = self.value + self._step * np.arange(1, moving + 1, dtype=np.float64)
        self._left -= moving
        self.value = self.target if self._left == 0 else self.value + self._step * moving
        return gains


class State(StrEnum):
    """Where a channel is in its life; only PLAYING and PAUSED can change again."""

    PLAYING = "playing"
    PAUSED = "paused"  # also while ramping down to the pause
    STOPPED = "stopped"  # stop() was called; gone after its ramp
    ENDED = "ended"  # the last track ended
    ERROR = "error"  # a decoder failed


class Channel:
    """One playing stream in a zone: a chain of decoders played back to back, gaplessly.

    *gain* is linear (the stream's own volume, 0–1+). The next track's decoder comes from
    :meth:`set_next` or, when none was set, from *on_needs_next* — asked once per track,
    :data:`PREFETCH_SECONDS` before its end — so it is open and buffered before the current
    track runs out. *ramp_ms* None takes the engine's.

    Events: ``on_track_change(index)`` when the chain moves to its next decoder (the first
    is 0), ``on_end()`` when the last one ends, ``on_error(exc)`` when one fails (the channel
    then ends too, without ``on_end``).
    """

    def __init__(
        self,
        decoder: Decoder | None = None,
        *,
        gain: float = 1.0,
        ramp_ms: float | None = None,
        name: str | None = None,
        on_needs_next: Callable[[], Decoder | None] | None = None,
        on_track_change: Callable[[int], None] | None = None,
        on_end: Callable[[], None] | None = None,
        on_error: Callable[[MediaError], None] | None = None,
    ) -> None:
        self.id = next(_ids)
        self.name = name or (decoder.name if decoder else f"channel {self.id}")
        self.on_needs_next = on_needs_next
        self.on_track_change = on_track_change
        self.on_end = on_end
        self.on_error = on_error
        self._current = decoder
        self._next: Decoder | None = None
        self._asked_next = False
        self._index = 0
        self._gain = gain
        self._duck_db = 0.0
        self._state = State.PLAYING if decoder else State.ENDED
        self._ramp_ms = ramp_ms
        self._ramp = Ramp(gain, _frames(ramp_ms or DEFAULT_RAMP_MS))

    # -- control ------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def gain(self) -> float:
        return self._gain

    @gain.setter
    def gain(self, value: float) -> None:
        self._gain = max(0.0, value)
        self._retarget()

    @property
    def duck_db(self) -> float:
        return self._duck_db

    def duck(self, db: float) -> None:
        """Lower the stream by *db* (≤ 0) decibels, ramped; 0 undoes it."""
        self._duck_db = min(0.0, db)
        self._retarget()

    def unduck(self) -> None:
        self.duck(0.0)

    @property
    def paused(self) -> bool:
        return self._state is State.PAUSED

    def pause(self) -> None:
        """Ramp down, then stop pulling frames (the position stops)."""
        if self._state is State.PLAYING:
            self._state = State.PAUSED
            self._retarget()

    def resume(self) -> None:
        """Pull frames again and ramp up."""
        if self._state is State.PAUSED:
            self._state = State.PLAYING
            self._retarget()

    def stop(self) -> None:
        """Ramp down, then leave the mixer and close the decoders (no event)."""
        if self._state in (State.PLAYING, State.PAUSED):
            self._state = State.STOPPED
            self._retarget()
        elif self._state is not State.STOPPED:
            self.close()

    def set_next(self, decoder: Decoder | None) -> None:
        """Play *decoder* right after the current track, replacing one set before; None:
        nothing follows (and *on_needs_next* is not asked for this track)."""
        if self._next is not None and self._next is not decoder:
            self._next.close()
        self._next = decoder
        self._asked_next = True

    def close(self) -> None:
        """Close the decoders at once (no ramp)."""
        for decoder in (self._current, self._next):
            if decoder is not None:
                decoder.close()
        self._next = None
        if self._state in (State.PLAYING, State.PAUSED, State.STOPPED):
            self._state = State.STOPPED

    def set_ramp_ms(self, ramp_ms: float) -> None:
        """The ramp length, unless the channel was created with its own."""
        if self._ramp_ms is None:
            self._ramp.ramp_frames = _frames(ramp_ms)

    # -- what is playing ----------------------------------------------------------------------

    @property
    def decoder(self) -> Decoder | None:
        return self._current

    @property
    def track_index(self) -> int:
        return self._index

    @property
    def position(self) -> float:
        """Seconds into the current track (of the audio pulled so far)."""
        return self._current.position if self._current else 0.0

    @property
    def duration(self) -> float | None:
        return self._current.duration if self._current else None

    @property
    def pulling(self) -> bool:
        """Frames are being taken from the decoders: playing, or ramping down."""
        if self._state is State.PLAYING:
            return self._current is not None
        return self._state in (State.PAUSED, State.STOPPED) and not self._ramp_done()

    @property
    def done(self) -> bool:
        """Nothing more will come from this channel: the mixer drops it."""
        if self._state is State.STOPPED:
            return self._ramp_done()
        return self._state in (State.ENDED, State.ERROR)

    def _ramp_done(self) -> bool:
        return self._ramp.settled and self._ramp.value == 0.0

    def _retarget(self) -> None:
        audible = self._state is State.PLAYING
        self._ramp.set(self._gain * db_to_gain(self._duck_db) if audible else 0.0)

    # -- rendering ----------------------------------------------------------------------------

    def _prefetch(self) -> None:
        current = self._current
        if self._asked_next or current is None or self.on_needs_next is None:
            return
        duration = current.duration
        near_end = duration is not None and duration - current.position <= PREFETCH_SECONDS
        if not (near_end or current.finished):
            return
        self._asked_next = True
        try:
            self._next = self.on_needs_next()
        except Exception:
            log.exception("on_needs_next of %s failed", self.name)

    async def wait_ready(self, frames: int = BLOCK) -> None:
        """Return once :meth:`mix_into` can fill *frames* frames without a buffering gap."""
        while self.pulling and self._current is not None:
            self._prefetch()
            current = self._current
            if current.buffered >= frames:
                return
            if not current.finished:
                await current.wait_buffered(frames)
                continue
            # the current track is finishing: the rest must come from the next one
            if self._next is not None:
                await self._next.wait_buffered(frames - current.buffered)
            return

    def mix_into(self, out: Block) -> None:
        """Add this channel's next ``len(out)`` frames, gain applied, to *out*."""
        if not self.pulling:
            return
        frames = len(out)
        pcm = self._pull(frames)
        gains = self._ramp.next(frames)
        if pcm is None:
            return
        if isinstance(gains, float):
            if gains == 1.0:
                out += pcm
            elif gains != 0.0:
                out += pcm * np.float32(gains)
        else:
            out += pcm * gains
        if self._state is State.STOPPED and self._ramp_done():
            self.close()

    def _pull(self, frames: int) -> Block | None:
        """The next *frames* frames of the chain, zero-filled where there are none (yet)."""
        self._prefetch()
        got = 0
        parts: list[Block] = []
        while got < frames and self._current is not None:
            try:
                chunk = self._current.read_nowait(frames - got)
            except MediaError as exc:
                self._fail(exc)
                break
            if chunk is None:
                self._advance()
                continue
            if len(chunk) == 0:
                break  # buffering: the decoder is behind
            parts.append(chunk)
            got += len(chunk)
        if not parts:
            return None
        if len(parts) == 1 and got == frames:
            return parts[0]
        pcm = silence(frames)
        at = 0
        for part in parts:
            pcm[at : at + len(part)] = part
            at += len(part)
        return pcm

    def _advance(self) -> None:
        """The current track ended: on to the next, or the end of the channel."""
        finished = self._current
        if finished is not None:
            finished.close()
        following, self._next = self._next, None
        self._asked_next = False
        if self._state is State.STOPPED:  # fading out: nothing more is wanted
            self._current = None
            if following is not None:
                following.close()
            return
        self._current = following
        if following is not None:
            self._index += 1
            _emit(self.on_track_change, self._index)
        else:  # also when it ran out while ramping down to a pause
            self._state = State.ENDED
            _emit(self.on_end)

    def _fail(self, exc: MediaError) -> None:
        log.warning("%s: %s", self.name, exc)
        self.close()
        self._current = None
        self._state = State.ERROR
        _emit(self.on_error, exc)

    def __repr__(self) -> str:
        return f"<Channel {self.id} {self.name!r} {self._state}>"


class Mixer:
    """One zone's mix: the sum of its channels, the zone volume (ramped), a soft clip."""

    def __init__(self, *, ramp_ms: float = DEFAULT_RAMP_MS, volume: float = 100.0) -> None:
        self.ramp_ms = ramp_ms
        self.channels: list[Channel] = []
        self._volume = min(100.0, max(0.0, volume))
        self._level = Ramp(volume_to_gain(self._volume), _frames(ramp_ms))

    @property
    def volume(self) -> float:
        return self._volume

    @volume.setter
    def volume(self, value: float) -> None:
        """Zone volume 0–100 (see :func:`volume_to_gain`), ramped."""
        self._volume = min(100.0, max(0.0, float(value)))
        self._level.set(volume_to_gain(self._volume))

    def add(self, channel: Channel) -> None:
        channel.set_ramp_ms(self.ramp_ms)
        if channel not in self.channels:
            self.channels.append(channel)

    def discard(self, channel: Channel) -> None:
        if channel in self.channels:
            self.channels.remove(channel)

    @property
    def busy(self) -> bool:
        """Some channel is pulling audio (playing, or ramping towards a pause or stop)."""
        return any(channel.pulling for channel in self.channels)

    async def wait_ready(self, frames: int = BLOCK) -> None:
        """Return once every pulling channel has *frames* frames ready (see
        :meth:`Channel.wait_ready`)."""
        for channel in list(self.channels):
            await channel.wait_ready(frames)

    def render(self, frames: int = BLOCK) -> Block:
        """The next *frames* frames of the zone."""
        out = silence(frames)
        for channel in list(self.channels):
            channel.mix_into(out)
            if channel.done:
                channel.close()
                self.channels.remove(channel)
        level = self._level.next(frames)
        if isinstance(level, float):
            if level != 1.0:
                out *= np.float32(level)
        else:
            out *= level
        return soft_clip(out)


def _frames(ms: float) -> int:
    return max(1, round(ms * RATE / 1000.0))


def _emit(callback: Callable[..., None] | None, *args: Any) -> None:
    if callback is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback(*args)
        return
    loop.call_soon(callback, *args)
