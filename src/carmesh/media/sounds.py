"""Sounds: non-media audio (navigation prompts, the assistant, calls, chimes) played under an
audio focus usage, so that they compete with media and with each other as ``docs/media.md``
("Audio focus") says.

:meth:`Sounds.play` opens the source first (a bad one fails with nothing taken), then asks
for focus with the usage's default gain (:data:`DEFAULT_GAINS`) unless one is given, then
plays the source on a channel of its own in the zone. A request the focus refuses is
:class:`~carmesh.errors.FailedPrecondition`; sounds never wait for delayed focus and never
take it for good (:attr:`Gain.GAIN` is refused). What the sound does to media follows from
the focus changes the zones already apply (a prompt ducks the music, a call pauses it). The
sound itself is treated like media when it loses focus: ducked by ``duck_db``, paused until
focus comes back, or stopped for good. Focus is abandoned when the sound ends, fails or is
stopped.

Sources: what :mod:`carmesh.media.resolve` opens for ``library:track/ID``, ``file://`` and
``http(s)://`` URIs, and sounds synthesized here, so that tests and integrators need no
files: ``chime:safety``, ``chime:notification``, ``chime:navigation`` and
``tone:FREQ:SECONDS`` (a sine of FREQ Hz, 20–20000, at half of full scale, for 0–30 s). A
synthesized sound is written as a short 16-bit WAV in memory and decoded by an ordinary
:class:`~carmesh.media.decode.Decoder`, so the mixer's channel plays it like any file.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import math
import re
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from carmesh.errors import FailedPrecondition, InvalidArgument, NotFound
from carmesh.media.decode import Decoder
from carmesh.media.engine import AudioEngine
from carmesh.media.focus import AudioFocus, Change, FocusChange, FocusRequest, Gain, Result, Usage
from carmesh.media.items import MediaError, split_uri
from carmesh.media.mixer import Channel
from carmesh.media.pcm import BLOCK, CHANNELS, RATE
from carmesh.media.resolve import Resolver

__all__ = ["CHIMES", "DEFAULT_GAINS", "Sound", "Sounds", "synthesize"]

log = logging.getLogger("carmesh.media.service")

#: The gain a sound asks for when none is given.
DEFAULT_GAINS: dict[Usage, Gain] = {
    Usage.NAVIGATION: Gain.TRANSIENT_MAY_DUCK,
    Usage.ASSISTANT: Gain.TRANSIENT_MAY_DUCK,
    Usage.NOTIFICATION: Gain.TRANSIENT_MAY_DUCK,
    Usage.CALL: Gain.TRANSIENT,
    Usage.CALL_RING: Gain.TRANSIENT,
    Usage.ALARM: Gain.TRANSIENT,
    Usage.SAFETY: Gain.TRANSIENT_MAY_DUCK,
    Usage.EMERGENCY: Gain.TRANSIENT_MAY_DUCK,
}
#: Schemes of sources opened through the resolver.
RESOLVED_SCHEMES = ("library", "file", "http", "https")
#: Seconds a source may take to start before the sound counts as failed.
START_TIMEOUT = 10.0
MAX_TONE_SECONDS = 30.0
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

_TONE = re.compile(r"tone:(\d{1,5}(?:\.\d+)?):(\d{1,2}(?:\.\d+)?)")
_ids = itertools.count(1)

Mono = npt.NDArray[np.float64]
_E = TypeVar("_E", Usage, Gain)


def _note(freq: float, seconds: float, amplitude: float, decay: float | None = None) -> Mono:
    """A sine with 5 ms fades at both ends (no clicks); *decay*: an exponential fall (s)."""
    n = round(seconds * RATE)
    t = np.arange(n, dtype=np.float64) / RATE
    mono = amplitude * np.sin(2 * np.pi * freq * t)
    fade = min(n // 2, round(0.005 * RATE))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
        mono[:fade] *= ramp
        mono[n - fade :] *= ramp[::-1]
    if decay is not None:
        mono *= np.exp(-t / decay)
    return mono


def _gap(seconds: float) -> Mono:
    return np.zeros(round(seconds * RATE))


def _safety() -> Mono:
    beep = _note(1200.0, 0.15, 0.6)
    return np.concatenate([beep, _gap(0.1), beep, _gap(0.1), beep])


def _notification() -> Mono:
    return _note(1318.5, 0.4, 0.4, decay=0.15)


def _navigation() -> Mono:
    return np.concatenate([_note(659.25, 0.25, 0.4), _gap(0.05), _note(880.0, 0.3, 0.4)])


#: Built-in chimes: name → what makes its samples.
CHIMES: dict[str, Callable[[], Mono]] = {
    "safety": _safety,
    "notification": _notification,
    "navigation": _navigation,
}


def synthesize(source: str) -> Mono | None:
    """The mono samples (48 kHz, [-1, 1]) of a ``chime:NAME`` or ``tone:FREQ:SECONDS``
    source; None for any other source; InvalidArgument for a malformed one."""
    if source.startswith("chime:"):
        make = CHIMES.get(source.removeprefix("chime:"))
        if make is None:
            raise InvalidArgument(
                f"{source!r} is not a chime; there are chime:{', chime:'.join(CHIMES)}"
            )
        return make()
    if source.startswith("tone:"):
        match = _TONE.fullmatch(source)
        freq, seconds = (float(match[1]), float(match[2])) if match else (math.nan, math.nan)
        if not (20.0 <= freq <= 20_000.0 and 0.0 < seconds <= MAX_TONE_SECONDS):
            raise InvalidArgument(
                f"{source!r} is not a tone: tone:FREQ:SECONDS with 20–20000 Hz and up to "
                f"{MAX_TONE_SECONDS:g} s, such as tone:880:0.5"
            )
        return _note(freq, seconds, 0.5)
    return None


def _wav(mono: Mono) -> io.BytesIO:
    """*mono* as a 16-bit stereo WAV file in memory: what a decoder opens like any file."""
    samples = np.round(np.clip(mono, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(CHANNELS)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.repeat(samples[:, None], CHANNELS, axis=1).tobytes())
    buffer.seek(0)
    return buffer


@dataclass
class Sound:
    """One sound: playing (``playing``, ``ducked``, ``paused`` by focus) until it ends
    (``ended``), is stopped (``stopped``, also when it lost focus for good) or fails
    (``error``)."""

    id: str
    usage: Usage
    gain: Gain
    zone: str
    source: str
    client_id: str
    channel: Channel
    state: str = "playing"
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """SOUND: ``{"id", "usage", "gain", "zone", "source", "state", "error"}``."""
        return {
            "id": self.id,
            "usage": self.usage.value,
            "gain": self.gain.value,
            "zone": self.zone,
            "source": self.source,
            "state": self.state,
            "error": self.error,
        }


class Sounds:
    """The sounds playing in the zones *zones* of *engine*, under *focus*; sources opened
    through *resolver*; a sound that may duck is lowered by *duck_db*."""

    def __init__(
        self,
        engine: AudioEngine,
        focus: AudioFocus,
        resolver: Resolver,
        zones: Iterable[str],
        *,
        duck_db: float = -12.0,
    ) -> None:
        self.engine = engine
        self.focus = focus
        self.resolver = resolver
        self.zones = tuple(zones)
        self.duck_db = duck_db
        self._sounds: dict[str, Sound] = {}
        self._clients: dict[tuple[str, str], Sound] = {}

    async def play(
        self,
        usage: Usage | str,
        source: str,
        *,
        zone: str = "driver",
        gain: Gain | str | None = None,
        volume: float = 1.0,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """Play *source* in *zone* under *usage* (see the module's description); SOUND.

        *volume* is the sound's own linear gain, 0–1 (the zone's volume applies too);
        *client_id* names the focus client (a later sound of the same client replaces this
        one), by default one of its own. InvalidArgument for an unknown usage, gain or zone,
        MEDIA (media plays through sessions), GAIN, a volume outside 0–1 or a source that is
        not one; NotFound for a track or file that is not there; MediaError (unavailable)
        for one that does not play; FailedPrecondition when the focus refuses the sound."""
        usage = _member(Usage, usage, "usage")
        if usage is Usage.MEDIA:
            raise InvalidArgument(
                "media plays through sessions (POST /api/media/play), not as a sound"
            )
        gain = DEFAULT_GAINS[usage] if gain is None else _member(Gain, gain, "gain")
        if gain is Gain.GAIN:
            raise InvalidArgument(
                "a sound takes the audio focus for a while: gain must be transient, "
                "transient_may_duck or transient_exclusive"
            )
        if zone not in self.zones:
            raise InvalidArgument(
                f"{zone!r} is not an audio zone of this car; it has {', '.join(self.zones)}"
            )
        if isinstance(volume, bool) or not isinstance(volume, int | float) or not 0 <= volume <= 1:
            raise InvalidArgument(f"a sound's volume is from 0 to 1, not {volume!r}")
        if client_id is not None and (
            not CLIENT_ID.fullmatch(client_id) or client_id.startswith("media:")
        ):
            raise InvalidArgument(f"{client_id!r} is not a sound's focus client id")
        ident = f"sound-{next(_ids)}"
        client = client_id or f"sound:{ident}"

        decoder = await self._open(source)
        request = FocusRequest(client, usage, gain, zone)
        if self.focus.request(request) is not Result.GRANTED:
            decoder.close()
            holders = ", ".join(
                f"{h['usage']} ({h['gain']})" for h in self.focus.as_json(zone)["holders"]
            )
            raise FailedPrecondition(
                f"a {usage.value} sound cannot play in the {zone} zone now: the audio focus "
                f"refuses it while {holders or 'another sound'} holds it"
            )
        replaced = self._clients.get((zone, client))
        if replaced is not None:  # the same client's earlier sound: its focus was replaced
            self._finish(replaced, "stopped", abandon=False)
        channel = Channel(decoder, gain=float(volume), name=f"{usage.value} {source}")
        sound = Sound(ident, usage, gain, zone, source, client, channel)
        channel.on_end = lambda: self._finish(sound, "ended")
        channel.on_error = lambda exc: self._finish(sound, "error", exc.message)
        self._sounds[ident] = sound
        self._clients[(zone, client)] = sound
        self.engine.play(zone, channel)
        log.debug("sound %s: %s %s in %s", ident, usage.value, source, zone)
        return sound.as_json()

    def stop(self, sound_id: str) -> dict[str, Any]:
        """Stop sound *sound_id* (ramped) and give up its focus; its SOUND. NotFound when
        no such sound plays (any more)."""
        sound = self._sounds.get(sound_id)
        if sound is None:
            raise NotFound(f"there is no sound {sound_id!r} playing")
        self._finish(sound, "stopped")
        return sound.as_json()

    def list(self) -> list[dict[str, Any]]:
        """SOUND of every sound playing or waiting for focus, oldest first."""
        return [sound.as_json() for sound in self._sounds.values()]

    def get(self, sound_id: str) -> Sound | None:
        return self._sounds.get(sound_id)

    def close(self) -> None:
        """Stop every sound (the service stops)."""
        for sound in list(self._sounds.values()):
            self._finish(sound, "stopped")

    def on_focus(self, change: FocusChange) -> None:
        """Apply a focus change to the sound it is about, the way the zones apply it to
        media."""
        sound = self._clients.get((change.zone, change.client_id))
        if sound is None:
            return
        channel = sound.channel
        if change.change is Change.LOSS:
            log.debug("sound %s lost the audio focus for good", sound.id)
            self._finish(sound, "stopped", abandon=False)
        elif change.change is Change.LOSS_TRANSIENT:
            channel.pause()
            sound.state = "paused"
        elif change.change is Change.LOSS_TRANSIENT_CAN_DUCK:
            channel.duck(self.duck_db)
            channel.resume()
            sound.state = "ducked"
        else:
            channel.duck(0.0)
            channel.resume()
            sound.state = "playing"

    # -- internals --------------------------------------------------------------------------

    async def _open(self, source: str) -> Decoder:
        """A decoder of *source* with audio ready to play."""
        if not isinstance(source, str) or not source or len(source) > 4096:
            raise InvalidArgument("a sound's source is 1 to 4096 characters")
        mono = synthesize(source)
        if mono is not None:
            decoder = Decoder(_wav(mono), format="wav", name=source)
        else:
            scheme, _ = split_uri(source)
            if scheme not in RESOLVED_SCHEMES:
                raise InvalidArgument(
                    f"{source!r} is not a sound source: use chime:NAME, tone:FREQ:SECONDS, "
                    "library:track/ID, file:// or http(s)://"
                )
            item = await self.resolver.item(source)
            opened = await self.resolver.open(item)
            decoder = Decoder(opened.source, format=opened.format, name=item.title)
        try:
            await asyncio.wait_for(decoder.wait_buffered(BLOCK), START_TIMEOUT)
            if decoder.buffered == 0:
                if decoder.error is not None:
                    raise decoder.error
                raise MediaError(f"{source} holds no audio to play")
        except TimeoutError:
            decoder.close()
            raise MediaError(f"{source} did not start within {START_TIMEOUT:g} s") from None
        except BaseException:
            decoder.close()
            raise
        return decoder

    def _finish(
        self, sound: Sound, state: str, error: str | None = None, *, abandon: bool = True
    ) -> None:
        if self._sounds.get(sound.id) is not sound:
            return
        del self._sounds[sound.id]
        if self._clients.get((sound.zone, sound.client_id)) is sound:
            del self._clients[(sound.zone, sound.client_id)]
            if abandon:
                self.focus.abandon(sound.client_id, sound.zone)
        sound.channel.stop()
        sound.state, sound.error = state, error
        if error is not None:
            log.info("sound %s (%s) failed: %s", sound.id, sound.source, error)


def _member(kind: type[_E], value: str, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidArgument(f"{value!r} is not a focus {what}; use one of: {allowed}") from None
