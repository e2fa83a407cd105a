"""Audio focus: who may be heard in a zone, and what everyone else must do about it.

The model is Android Automotive's car audio focus (``CarAudioFocus`` with its
``FocusInteraction`` matrix, behind ``CarAudioManager``); the code and wording here are
carmesh's own. Clients (media sessions, navigation, the assistant, telephony, chimes) ask
for focus with a :class:`FocusRequest`; :class:`AudioFocus` answers
:attr:`Result.GRANTED`, :attr:`Result.FAILED` or :attr:`Result.DELAYED` at once, and tells
every *other* affected client what it must do through listeners (:class:`FocusChange`).

Interaction matrix
------------------
:data:`INTERACTIONS` maps (holder usage, requester usage) to an :class:`Interaction`; every
pair is present. ``R`` = REJECT (the request fails, or is parked), ``X`` = EXCLUSIVE (the
holder must go silent), ``C`` = CONCURRENT (both may be heard)::

    holder \\ requester  MEDIA NAV ASSIST CALL RING ALARM NOTIF EMERG SAFETY
    MEDIA                 X    C    X     X    X    X     C     X     C
    NAVIGATION            C    C    X     X    C    C     C     X     C
    ASSISTANT             C    R    C     X    X    R     R     X     C
    CALL                  R    C    R     C    C    C     C     C     C
    CALL_RING             R    C    C     C    C    R     R     X     C
    ALARM                 C    C    X     X    X    C     C     X     C
    NOTIFICATION          C    C    X     X    X    C     C     X     C
    EMERGENCY             R    R    R     C    R    R     R     C     C
    SAFETY                C    C    C     C    C    C     C     C     C

These are AAOS's default cells for the contexts carmesh keeps (MUSIC → MEDIA,
VOICE_COMMAND → ASSISTANT).

What a holder is told
---------------------
A request is checked against every request in the zone's stack (those holding focus and
those waiting to get it back). Any REJECT cell fails it. Otherwise each other entry is
affected according to its cell and the requester's :class:`Gain`:

===========  =======  ==============  ==================  ===================
cell         GAIN     TRANSIENT       TRANSIENT_MAY_DUCK  TRANSIENT_EXCLUSIVE
===========  =======  ==============  ==================  ===================
EXCLUSIVE    LOSS     LOSS_TRANSIENT  LOSS_TRANSIENT      LOSS_TRANSIENT
CONCURRENT   LOSS     LOSS_TRANSIENT  CAN_DUCK            LOSS_TRANSIENT
===========  =======  ==============  ==================  ===================

``CAN_DUCK`` is :attr:`Change.LOSS_TRANSIENT_CAN_DUCK`, or :attr:`Change.LOSS_TRANSIENT`
for a holder that asked ``pauses_when_ducked``. So a second media source (GAIN) ends the
first for good; navigation (TRANSIENT_MAY_DUCK) ducks media; a call (TRANSIENT) pauses it.
``LOSS`` removes the holder from the stack; a transient loss lasts until every request
that caused it is abandoned (or itself lost), then the holder gets :attr:`Change.GAIN`
back. A holder's state is always the strongest of its current losses, so it can move
between them (LOSS_TRANSIENT → LOSS_TRANSIENT_CAN_DUCK when a call ends while a prompt still
plays). Treat each change as a state to be in, not a step: GAIN = play, CAN_DUCK = play
ducked, LOSS_TRANSIENT = pause and wait, LOSS = stop for good.

Safety and emergency (``CRITICAL``): never rejected (no R in their columns). Their sounds
are short by nature, so a critical request never takes focus for good (its GAIN is treated as
transient) and, in a CONCURRENT cell, always lets the holder duck unless it asks
TRANSIENT_EXCLUSIVE. A critical holder is never ducked, paused or ended by a later request
in a CONCURRENT cell (it keeps GAIN), so a safety chime cannot be cut off by music starting.

Delayed focus: a request with ``accepts_delayed`` and :attr:`Gain.GAIN` that would be
rejected is parked (:attr:`Result.DELAYED`) and retried after every change in its zone;
when it is allowed it is granted as if asked then, and its client gets :attr:`Change.GAIN`
(e.g. media asked for during a call starts when the call ends). One request is parked per
zone; parking another client's request ends the first with :attr:`Change.LOSS`. A parked
request affects nobody until it is granted.

TRANSIENT_EXCLUSIVE also keeps notifications out: a NOTIFICATION request is rejected while
anyone in the zone's stack asked TRANSIENT_EXCLUSIVE.

Typical gains: MEDIA → GAIN; NAVIGATION, NOTIFICATION, SAFETY → TRANSIENT_MAY_DUCK;
ASSISTANT, CALL, CALL_RING, ALARM, EMERGENCY → TRANSIENT (the assistant TRANSIENT_EXCLUSIVE
while it listens).

Where carmesh differs from AAOS, and why
---------------------------------------
- Every affected holder is told, including ducks: carmesh's media service does the ducking
  itself (AAOS leaves ordinary apps unaware and ducks in the audio HAL), and an EXCLUSIVE
  cell pauses the holder even when the requester may duck.
- Critical holders keep focus against CONCURRENT requests, and critical requests are
  transient (above); AAOS would let e.g. a media GAIN end a safety chime for good.
- A parked request affects nobody until granted (AAOS already applies its losses).
- A repeated request by the same client replaces its earlier one whatever the usage (AAOS
  rejects a different usage on the same client); a failed request changes nothing, so the
  earlier one stays.
- The notification rule above is an ordinary rejection (AAOS fails it even when delay is
  accepted), so a parked request is only ever granted or kept parked, never failed later.
- Contexts carmesh has no use for are left out: SYSTEM_SOUND, VEHICLE_STATUS, ANNOUNCEMENT.

Zones are independent stacks: nothing in one zone affects another. The object is not
thread-safe; use it from one thread (the event loop).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from carmesh.errors import InvalidArgument

log = logging.getLogger(__name__)


class Usage(StrEnum):
    """What a sound is for; the rows and columns of the interaction matrix."""

    MEDIA = "media"
    NAVIGATION = "navigation"  # guidance prompts
    ASSISTANT = "assistant"  # voice assistant
    CALL = "call"  # voice communication
    CALL_RING = "call_ring"
    ALARM = "alarm"
    NOTIFICATION = "notification"
    EMERGENCY = "emergency"
    SAFETY = "safety"


class Gain(StrEnum):
    """How long a requester wants focus and whether others may keep playing ducked."""

    GAIN = "gain"  # for good: others affected lose it permanently
    TRANSIENT = "transient"  # for a while: others pause
    TRANSIENT_MAY_DUCK = "transient_may_duck"  # for a while: others may duck
    TRANSIENT_EXCLUSIVE = "transient_exclusive"  # for a while, nobody else, no notifications


class Change(StrEnum):
    """The state a client is in, delivered to it when it changes."""

    GAIN = "gain"
    LOSS = "loss"
    LOSS_TRANSIENT = "loss_transient"
    LOSS_TRANSIENT_CAN_DUCK = "loss_transient_can_duck"


class Interaction(StrEnum):
    """One cell of the matrix: how a request meets a current holder."""

    REJECT = "reject"
    EXCLUSIVE = "exclusive"
    CONCURRENT = "concurrent"


class Result(StrEnum):
    """The answer to a request."""

    GRANTED = "granted"
    FAILED = "failed"
    DELAYED = "delayed"


#: Usages that are never rejected, never end anyone's focus for good, and are never made to
#: lose focus by a request in a CONCURRENT cell.
CRITICAL: frozenset[Usage] = frozenset({Usage.EMERGENCY, Usage.SAFETY})

_R, _X, _C = Interaction.REJECT, Interaction.EXCLUSIVE, Interaction.CONCURRENT
_COLUMNS = tuple(Usage)
# fmt: off
_ROWS: dict[Usage, tuple[Interaction, ...]] = {
    # holder \ requester: MEDIA NAV  ASSIST CALL RING ALARM NOTIF EMERG SAFETY
    Usage.MEDIA:          (_X,  _C,  _X,   _X,  _X,  _X,   _C,   _X,   _C),
    Usage.NAVIGATION:     (_C,  _C,  _X,   _X,  _C,  _C,   _C,   _X,   _C),
    Usage.ASSISTANT:      (_C,  _R,  _C,   _X,  _X,  _R,   _R,   _X,   _C),
    Usage.CALL:           (_R,  _C,  _R,   _C,  _C,  _C,   _C,   _C,   _C),
    Usage.CALL_RING:      (_R,  _C,  _C,   _C,  _C,  _R,   _R,   _X,   _C),
    Usage.ALARM:          (_C,  _C,  _X,   _X,  _X,  _C,   _C,   _X,   _C),
    Usage.NOTIFICATION:   (_C,  _C,  _X,   _X,  _X,  _C,   _C,   _X,   _C),
    Usage.EMERGENCY:      (_R,  _R,  _R,   _C,  _R,  _R,   _R,   _C,   _C),
    Usage.SAFETY:         (_C,  _C,  _C,   _C,  _C,  _C,   _C,   _C,   _C),
}
# fmt: on

#: (holder usage, requester usage) → interaction, for every pair of usages.
INTERACTIONS: Mapping[tuple[Usage, Usage], Interaction] = MappingProxyType(
    {
        (holder, requester): cell
        for holder, row in _ROWS.items()
        for requester, cell in zip(_COLUMNS, row, strict=True)
    }
)

_E = TypeVar("_E", Usage, Gain)


def _member(kind: type[_E], value: str, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidArgument(f"Unknown focus {what} {value!r}; use one of: {allowed}.") from None


@dataclass(frozen=True)
class FocusRequest:
    """A client's wish for audio focus in a zone.

    *client_id* identifies the client: a later request with the same id replaces this one.
    *accepts_delayed* lets a rejected :attr:`Gain.GAIN` request be parked and granted later;
    *pauses_when_ducked* turns a duck into :attr:`Change.LOSS_TRANSIENT` for this client.
    *usage* and *gain* may be given as their string values. Raises
    :class:`~carmesh.errors.InvalidArgument` for an empty id or zone, or an unknown usage or
    gain.
    """

    client_id: str
    usage: Usage
    gain: Gain = Gain.GAIN
    zone: str = "driver"
    accepts_delayed: bool = False
    pauses_when_ducked: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.client_id, str) or not self.client_id:
            raise InvalidArgument("A focus request needs a non-empty client id.")
        if not isinstance(self.zone, str) or not self.zone:
            raise InvalidArgument("A focus request needs a non-empty zone name.")
        object.__setattr__(self, "usage", _member(Usage, self.usage, "usage"))
        object.__setattr__(self, "gain", _member(Gain, self.gain, "gain"))


@dataclass(frozen=True)
class FocusChange:
    """What a listener is told: *client_id* in *zone* is now in state *change*; *request* is
    that client's request (the one parked, for a delayed request granted later)."""

    client_id: str
    zone: str
    change: Change
    request: FocusRequest


@dataclass
class _Entry:
    """A request in a zone's stack. *blockers*: client id of each newer request that keeps
    this one from full focus → whether that one lets it duck."""

    request: FocusRequest
    blockers: dict[str, bool] = field(default_factory=dict)

    @property
    def state(self) -> Change:
        if not self.blockers:
            return Change.GAIN
        if self.request.pauses_when_ducked or not all(self.blockers.values()):
            return Change.LOSS_TRANSIENT
        return Change.LOSS_TRANSIENT_CAN_DUCK


@dataclass
class _Zone:
    name: str
    entries: dict[str, _Entry] = field(default_factory=dict)  # oldest first
    parked: FocusRequest | None = None


def _effect(holder: FocusRequest, requester: FocusRequest) -> Change | None:
    """What granting *requester* does to *holder* (assumed not rejected): a loss, or None."""
    cell = INTERACTIONS[(holder.usage, requester.usage)]
    critical = requester.usage in CRITICAL
    if cell is Interaction.CONCURRENT:
        if holder.usage in CRITICAL:
            return None
        if requester.gain is Gain.TRANSIENT_EXCLUSIVE:
            return Change.LOSS_TRANSIENT
        if requester.gain is Gain.TRANSIENT_MAY_DUCK or critical:
            return Change.LOSS_TRANSIENT_CAN_DUCK
    if requester.gain is Gain.GAIN and not critical:
        return Change.LOSS
    return Change.LOSS_TRANSIENT


def _rejects(holder: FocusRequest, requester: FocusRequest) -> bool:
    if INTERACTIONS[(holder.usage, requester.usage)] is Interaction.REJECT:
        return True
    return requester.usage is Usage.NOTIFICATION and holder.gain is Gain.TRANSIENT_EXCLUSIVE


class AudioFocus:
    """The focus stacks of the car's audio zones.

    *zones* names the zones (at least one); any other zone name given to a method raises
    :class:`~carmesh.errors.InvalidArgument`. All methods are synchronous. Listeners are
    called after the state is fully updated, before the method returns, once per client
    whose state changed; the client that called :meth:`request` or :meth:`abandon` is not
    told about its own call (the result says it), except when that call ends its focus for
    good as a side effect. A change caused by a listener calling back in is delivered after
    the changes already being delivered. A listener that raises is logged and does not stop
    the others or undo anything.
    """

    def __init__(self, zones: Iterable[str] = ("driver",)) -> None:
        self._zones: dict[str, _Zone] = {}
        for name in zones:
            if not isinstance(name, str) or not name:
                raise InvalidArgument("Audio zone names must be non-empty strings.")
            self._zones.setdefault(name, _Zone(name))
        if not self._zones:
            raise InvalidArgument("Audio focus needs at least one zone.")
        self._listeners: dict[int, Callable[[FocusChange], None]] = {}
        self._next_listener = 0
        self._pending: deque[FocusChange] = deque()
        self._dispatching = False

    @property
    def zones(self) -> list[str]:
        """The zone names, in the order given."""
        return list(self._zones)

    # -- queries ------------------------------------------------------------------------

    def holders(self, zone: str = "driver") -> list[FocusRequest]:
        """The requests holding focus (state GAIN) in *zone*, newest first. Those ducked,
        paused or parked are not holders (see :meth:`state`, :meth:`as_json`)."""
        entries = self._zone(zone).entries.values()
        return [e.request for e in reversed(entries) if e.state is Change.GAIN]

    def state(self, client_id: str, zone: str = "driver") -> Change | None:
        """*client_id*'s state in *zone*: GAIN while it holds focus, the transient loss it is
        in, LOSS_TRANSIENT while its request is parked, None when it has no request there
        (never asked, abandoned, failed, or lost focus for good)."""
        z = self._zone(zone)
        entry = z.entries.get(client_id)
        if entry is not None:
            return entry.state
        if z.parked is not None and z.parked.client_id == client_id:
            return Change.LOSS_TRANSIENT
        return None

    def delayed(self, zone: str = "driver") -> FocusRequest | None:
        """The request parked in *zone* waiting for delayed focus, or None."""
        return self._zone(zone).parked

    def as_json(self, zone: str = "driver") -> dict[str, Any]:
        """*zone*'s focus for the HTTP API: ``{"zone", "holders": [{"client_id", "usage",
        "gain", "state"}], "delayed": {"client_id", "usage", "gain"} | null}``. ``holders``
        lists the whole stack newest first: those holding focus (state ``gain``) and those
        waiting to get it back (``loss_transient``, ``loss_transient_can_duck``)."""
        z = self._zone(zone)
        holders = [
            {
                "client_id": e.request.client_id,
                "usage": e.request.usage.value,
                "gain": e.request.gain.value,
                "state": e.state.value,
            }
            for e in reversed(z.entries.values())
        ]
        parked = z.parked
        delayed = (
            None
            if parked is None
            else {
                "client_id": parked.client_id,
                "usage": parked.usage.value,
                "gain": parked.gain.value,
            }
        )
        return {"zone": z.name, "holders": holders, "delayed": delayed}

    # -- changes ------------------------------------------------------------------------

    def request(self, request: FocusRequest) -> Result:
        """Ask for focus in ``request.zone``; see the module docstring for the rules.

        GRANTED: the client holds focus now, and every other client affected has been told
        its loss. FAILED: nothing changed (an earlier request by the same client stays).
        DELAYED: parked; the client's earlier request, if any, is withdrawn, and a
        :class:`FocusChange` with GAIN follows when focus is granted. Raises
        :class:`~carmesh.errors.InvalidArgument` for an unknown zone.
        """
        z = self._zone(request.zone)
        before = self._snapshot(z)
        lost: list[FocusRequest] = []
        result = self._apply(z, request, lost)
        if result is Result.FAILED:
            return result
        self._retry_parked(z, lost)
        self._publish(z, before, lost, caller=request.client_id)
        return result

    def abandon(self, client_id: str, zone: str = "driver") -> None:
        """Give up focus (or a parked request) in *zone*. Those who lost focus transiently
        because of it get GAIN back when nothing else keeps them out, and a parked request
        is granted when now allowed. An unknown client is ignored; an unknown zone raises
        :class:`~carmesh.errors.InvalidArgument`."""
        z = self._zone(zone)
        before = self._snapshot(z)
        if z.parked is not None and z.parked.client_id == client_id:
            z.parked = None
        elif client_id in z.entries:
            self._remove(z, client_id)
        else:
            return
        lost: list[FocusRequest] = []
        self._retry_parked(z, lost)
        self._publish(z, before, lost, caller=client_id)

    def listen(self, listener: Callable[[FocusChange], None]) -> Callable[[], None]:
        """Call *listener* with every :class:`FocusChange` in every zone until the returned
        function is called (calling it again does nothing)."""
        token = self._next_listener
        self._next_listener += 1
        self._listeners[token] = listener

        def stop() -> None:
            self._listeners.pop(token, None)

        return stop

    # -- internals ----------------------------------------------------------------------

    def _zone(self, name: str) -> _Zone:
        zone = self._zones.get(name)
        if zone is None:
            known = ", ".join(self._zones)
            raise InvalidArgument(f"Unknown audio zone {name!r}; this car has: {known}.")
        return zone

    def _apply(self, z: _Zone, request: FocusRequest, lost: list[FocusRequest]) -> Result:
        """Evaluate *request* against *z* and update *z*; requests ended for good are
        appended to *lost*."""
        others = [e for cid, e in reversed(z.entries.items()) if cid != request.client_id]
        if any(_rejects(e.request, request) for e in others):
            if not (request.accepts_delayed and request.gain is Gain.GAIN):
                return Result.FAILED
            parked = z.parked
            if parked is not None and parked.client_id != request.client_id:
                lost.append(parked)
            z.parked = request
            self._remove(z, request.client_id)
            return Result.DELAYED
        self._remove(z, request.client_id)
        if z.parked is not None and z.parked.client_id == request.client_id:
            z.parked = None
        for entry in others:
            change = _effect(entry.request, request)
            if change is Change.LOSS:
                self._remove(z, entry.request.client_id)
                lost.append(entry.request)
            elif change is not None:
                entry.blockers[request.client_id] = change is Change.LOSS_TRANSIENT_CAN_DUCK
        z.entries[request.client_id] = _Entry(request)
        return Result.GRANTED

    def _retry_parked(self, z: _Zone, lost: list[FocusRequest]) -> None:
        parked = z.parked
        if parked is None:
            return
        z.parked = None
        result = self._apply(z, parked, lost)
        assert result is not Result.FAILED, "a parked request is granted or stays parked"

    @staticmethod
    def _remove(z: _Zone, client_id: str) -> None:
        """Take *client_id*'s entry out of the stack and lift what it imposed on others."""
        if z.entries.pop(client_id, None) is None:
            return
        for entry in z.entries.values():
            entry.blockers.pop(client_id, None)

    @staticmethod
    def _snapshot(z: _Zone) -> dict[str, Change]:
        states = {cid: e.state for cid, e in z.entries.items()}
        if z.parked is not None:
            states[z.parked.client_id] = Change.LOSS_TRANSIENT
        return states

    def _publish(
        self, z: _Zone, before: dict[str, Change], lost: list[FocusRequest], *, caller: str
    ) -> None:
        changes = [FocusChange(r.client_id, z.name, Change.LOSS, r) for r in lost]
        for cid, entry in reversed(z.entries.items()):
            if cid != caller and before.get(cid) is not entry.state:
                changes.append(FocusChange(cid, z.name, entry.state, entry.request))
        self._emit(changes)

    def _emit(self, changes: list[FocusChange]) -> None:
        self._pending.extend(changes)
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._pending:
                change = self._pending.popleft()
                for listener in list(self._listeners.values()):
                    try:
                        listener(change)
                    except Exception:
                        log.exception("Audio focus listener failed on %s", change)
        finally:
            self._dispatching = False
