"""The simulated clock: fixed steps, scaled real time, bounded catch-up."""

from __future__ import annotations

import pytest

from carmesh.vehicle.sim.clock import SimClock


def test_steps_follow_the_time_scale_and_carry_fractions() -> None:
    clock = SimClock(20, step=0.1)
    assert clock.steps_for(0.1) == 20
    real_time = SimClock(1, step=0.1)
    assert [real_time.steps_for(0.05) for _ in range(4)] == [0, 1, 0, 1]


def test_a_late_tick_catches_up_at_most_one_second() -> None:
    clock = SimClock(10, step=0.1)
    assert clock.steps_for(30.0) == 100


def test_the_time_scale_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SimClock(0)


async def test_ticks_pace_against_the_wall_clock() -> None:
    clock = SimClock(100, step=0.1, tick=0.01)
    total = 0
    ticks = 0
    async for steps in clock.ticks():
        total += steps
        ticks += 1
        if ticks == 10:
            break
    assert 80 <= total <= 200  # ~0.1 s of real time at 100×: ~100 steps of 0.1 s
