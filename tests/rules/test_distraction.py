"""Driver-distraction rules: hysteresis of the moving decision, the rules in force, and the
watcher that follows the broker."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from carmesh.broker import Broker, Principal
from carmesh.rules import MOVING_RULES, PARKED_RULES, DrivingWatcher, derive, next_moving
from carmesh.rules.distraction import (
    GEAR_PARK,
    INITIAL_STATE,
    MAX_LIST_ITEMS_MOVING,
    MAX_TEXT_LENGTH_MOVING,
    MOVING_ABOVE_KMH,
    PARKED_BELOW_KMH,
    SELECTED_GEAR,
    SPEED,
    DrivingState,
)
from carmesh.vss import Catalog

DRIVE = 127
speeds = st.floats(min_value=0.0, max_value=250.0, allow_nan=False)
gears = st.one_of(st.none(), st.sampled_from([GEAR_PARK, DRIVE, 0, -1, 1, 2]))
in_between = st.floats(min_value=PARKED_BELOW_KMH, max_value=MOVING_ABOVE_KMH)


def test_thresholds() -> None:
    assert next_moving(False, 5.1, DRIVE) is True
    assert next_moving(False, 5.0, DRIVE) is False  # not above 5 km/h yet
    assert next_moving(True, 0.5, GEAR_PARK) is False
    assert next_moving(True, 0.5, None) is False
    assert next_moving(True, 0.0, DRIVE) is True  # waiting at a red light in Drive
    assert next_moving(True, 3.0, GEAR_PARK) is True  # rolling: still the drive's rules
    assert next_moving(True, None, GEAR_PARK) is True  # no speed known: keep the decision


def test_rules_in_force() -> None:
    assert MOVING_RULES.as_json() == {
        "text_entry": False,
        "video": False,
        "max_list_items": MAX_LIST_ITEMS_MOVING,
        "max_text_length": MAX_TEXT_LENGTH_MOVING,
    }
    assert PARKED_RULES.as_json() == {
        "text_entry": True,
        "video": True,
        "max_list_items": None,
        "max_text_length": None,
    }
    assert DrivingState(False, None, None, PARKED_RULES) == INITIAL_STATE
    assert derive(None, 42.04, DRIVE).as_json() == {
        "moving": True,
        "speed": 42.0,
        "gear": DRIVE,
        "rules": MOVING_RULES.as_json(),
    }


@given(st.booleans(), speeds, gears)
def test_fast_is_moving_and_slow_in_park_is_parked(
    previous: bool, speed: float, gear: int | None
) -> None:
    moving = next_moving(previous, speed, gear)
    if speed > MOVING_ABOVE_KMH:
        assert moving
    elif speed < PARKED_BELOW_KMH and gear in (None, GEAR_PARK):
        assert not moving
    else:
        assert moving == previous


@given(st.booleans(), st.lists(st.tuples(in_between, gears), max_size=50))
def test_no_flapping_between_the_thresholds(
    start: bool, samples: list[tuple[float, int | None]]
) -> None:
    state = DrivingState(start, None, None, PARKED_RULES)
    for speed, gear in samples:
        state = derive(state, speed, gear)
        assert state.moving == start


@given(st.lists(st.tuples(st.one_of(st.none(), speeds), gears), max_size=60))
def test_the_last_decisive_sample_decides(samples: list[tuple[float | None, int | None]]) -> None:
    state: DrivingState | None = None
    expected = False
    for speed, gear in samples:
        state = derive(state, speed, gear)
        if speed is not None and speed > MOVING_ABOVE_KMH:
            expected = True
        elif speed is not None and speed < PARKED_BELOW_KMH and gear in (None, GEAR_PARK):
            expected = False
        assert state.moving == expected
        assert state.rules == (MOVING_RULES if expected else PARKED_RULES)
        assert state.speed == speed and state.gear == gear


async def test_watcher_follows_the_broker_and_notifies_changes_only(catalog: Catalog) -> None:
    broker = Broker(catalog)
    await broker.start()
    system = Principal.system()
    watcher = DrivingWatcher(broker, Principal.from_scopes("hmi", "read"))
    seen: list[bool] = []
    remove = watcher.listen(lambda state: seen.append(state.moving))
    task = asyncio.create_task(watcher.run())

    async def publish_and_settle(values: dict[str, object]) -> None:
        await broker.publish(system, values)
        for _ in range(5):
            await asyncio.sleep(0)

    try:
        await publish_and_settle({SPEED: 0.0, SELECTED_GEAR: GEAR_PARK})
        assert watcher.state.moving is False and watcher.state.gear == GEAR_PARK
        await publish_and_settle({SELECTED_GEAR: DRIVE})
        for speed in (3.0, 12.0, 40.0, 30.0, 0.0):
            await publish_and_settle({SPEED: speed})
        assert watcher.state.moving is True and watcher.state.speed == 0.0
        await publish_and_settle({SELECTED_GEAR: GEAR_PARK})
        assert watcher.state.moving is False
        assert seen == [True, False]
        remove()
        await publish_and_settle({SPEED: 20.0})
        assert watcher.state.moving is True and seen == [True, False]
    finally:
        task.cancel()
        await broker.stop()
