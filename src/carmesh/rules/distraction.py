"""Driver-distraction rules: is the car being driven, and what may a screen offer meanwhile.

The HMI and the apps platform share this one module, so that every screen in the car applies
the same rules at the same moment.

Pure part
    :func:`next_moving` decides from the previous decision, the speed (km/h) and the selected
    gear whether the car is *moving* (being driven). It has hysteresis so that the state does
    not flicker around one threshold:

    - above :data:`MOVING_ABOVE_KMH` (5 km/h) the car is moving, whatever the gear;
    - below :data:`PARKED_BELOW_KMH` (1 km/h) it is parked when the gear selector is in Park
      (VSS ``SelectedGear`` 126) or no gear is known; standing still in Drive, Reverse or
      Neutral — waiting at a red light — keeps the previous decision, so the restrictions of
      a drive stay in force until the driver selects Park;
    - in between, the previous decision holds.

    An unknown speed (no value yet) keeps the previous decision; the first decision is
    "parked". :func:`rules_for` names the rules in force: while moving, no free text entry,
    no video, lists of at most :data:`MAX_LIST_ITEMS_MOVING` items and texts of at most
    :data:`MAX_TEXT_LENGTH_MOVING` characters; parked, everything.
    :func:`derive` combines both into a :class:`DrivingState`, whose :meth:`~DrivingState.
    as_json` is the wire form of ``docs/hmi-protocol.md``.

Watcher
    :class:`DrivingWatcher` subscribes to ``Vehicle.Speed`` and
    ``Vehicle.Powertrain.Transmission.SelectedGear`` (those the catalog has) as a given
    principal, keeps :attr:`~DrivingWatcher.state` current and calls its listeners when the
    *moving* decision (and so the rules) changes — not on every speed update. Run
    :meth:`~DrivingWatcher.run` in a task; :meth:`~DrivingWatcher.listen` returns a function
    that removes the listener::

        watcher = DrivingWatcher(broker, principal)
        task = asyncio.create_task(watcher.run())
        remove = watcher.listen(lambda state: print(state.moving, state.rules))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carmesh.broker import Broker, Principal

log = logging.getLogger(__name__)

SPEED = "Vehicle.Speed"
SELECTED_GEAR = "Vehicle.Powertrain.Transmission.SelectedGear"
#: VSS ``SelectedGear`` value for Park.
GEAR_PARK = 126

#: Above this speed (km/h) the car is being driven.
MOVING_ABOVE_KMH = 5.0
#: Below this speed (km/h), in Park or without a known gear, the car is parked.
PARKED_BELOW_KMH = 1.0
#: The longest list a screen may show while the car moves.
MAX_LIST_ITEMS_MOVING = 6
#: The longest text (characters) a screen may show while the car moves.
MAX_TEXT_LENGTH_MOVING = 40


@dataclass(frozen=True, slots=True)
class Rules:
    """What a screen may offer: free text entry, video, and caps on the length of lists
    (items) and of texts (characters); None: no cap."""

    text_entry: bool
    video: bool
    max_list_items: int | None
    max_text_length: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "text_entry": self.text_entry,
            "video": self.video,
            "max_list_items": self.max_list_items,
            "max_text_length": self.max_text_length,
        }


PARKED_RULES = Rules(text_entry=True, video=True, max_list_items=None, max_text_length=None)
MOVING_RULES = Rules(
    text_entry=False,
    video=False,
    max_list_items=MAX_LIST_ITEMS_MOVING,
    max_text_length=MAX_TEXT_LENGTH_MOVING,
)


@dataclass(frozen=True, slots=True)
class DrivingState:
    """The driving decision with the inputs it was made from and the rules in force.

    *speed* is km/h (None when unknown), *gear* the VSS ``SelectedGear`` (None when unknown).
    """

    moving: bool
    speed: float | None
    gear: int | None
    rules: Rules

    def as_json(self) -> dict[str, Any]:
        """``{"moving", "speed", "gear", "rules": {...}}`` as in ``docs/hmi-protocol.md``."""
        return {
            "moving": self.moving,
            "speed": None if self.speed is None else round(float(self.speed), 1),
            "gear": self.gear,
            "rules": self.rules.as_json(),
        }


def next_moving(previous: bool, speed: float | None, gear: int | None) -> bool:
    """The new *moving* decision (see the module docstring for the thresholds)."""
    if speed is None:
        return previous
    if speed > MOVING_ABOVE_KMH:
        return True
    if speed < PARKED_BELOW_KMH and (gear is None or gear == GEAR_PARK):
        return False
    return previous


def rules_for(moving: bool) -> Rules:
    """The rules in force while the car is (not) moving."""
    return MOVING_RULES if moving else PARKED_RULES


def derive(previous: DrivingState | None, speed: float | None, gear: int | None) -> DrivingState:
    """The driving state after observing *speed* and *gear*; *previous* None means "parked"."""
    moving = next_moving(previous.moving if previous is not None else False, speed, gear)
    return DrivingState(moving, speed, gear, rules_for(moving))


INITIAL_STATE = derive(None, None, None)

Listener = Callable[[DrivingState], None]


class DrivingWatcher:
    """Follows the broker's speed and gear and keeps the :class:`DrivingState` current.

    *principal* must be allowed to read the speed and the gear. Listeners run on the event
    loop, synchronously, and must not block; an exception in one is logged and ignored.
    """

    def __init__(self, broker: Broker, principal: Principal) -> None:
        self.broker = broker
        self.principal = principal
        self.state = INITIAL_STATE
        self._listeners: list[Listener] = []
        self._speed: float | None = None
        self._gear: int | None = None

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call *listener* with every new state whose *moving* decision changed."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def observe(self, speed: float | None, gear: int | None) -> DrivingState:
        """Take new inputs (None leaves one unchanged); notify listeners on a change."""
        if speed is not None:
            self._speed = speed
        if gear is not None:
            self._gear = gear
        previous = self.state
        self.state = derive(previous, self._speed, self._gear)
        if self.state.moving != previous.moving:
            for listener in list(self._listeners):
                try:
                    listener(self.state)
                except Exception:
                    log.exception("a driving-state listener failed")
        return self.state

    async def run(self) -> None:
        """Follow the signals until cancelled; returns at once when the catalog has neither."""
        paths = [p for p in (SPEED, SELECTED_GEAR) if p in self.broker.catalog]
        if not paths:
            return
        async with self.broker.subscribe(self.principal, paths) as subscription:
            async for batch in subscription:
                speed = batch.get(SPEED)
                gear = batch.get(SELECTED_GEAR)
                self.observe(
                    None if speed is None else float(speed.value),
                    None if gear is None else int(gear.value),
                )
