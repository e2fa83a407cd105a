"""Rate-limited problem reports."""

from __future__ import annotations

import logging

import pytest

from carmesh.vehicle.can import CanCounters, ProblemLog


def test_each_kind_is_logged_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    problems = ProblemLog(10.0, logging.getLogger("carmesh.test"), clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "carmesh.test"):
        for i in range(1000):
            problems.report("unknown-id", "frame %d is unknown", i)
        problems.report("malformed", "frame is short")
        now[0] = 10.5
        problems.report("unknown-id", "frame %d is unknown", 1000)
    assert [r.getMessage() for r in caplog.records] == [
        "frame 0 is unknown",
        "frame is short",
        "frame 1000 is unknown (and 999 more like it in the last 10 s)",
    ]


def test_counters_as_a_dict() -> None:
    counters = CanCounters(frames_received=3)
    assert counters.as_dict()["frames_received"] == 3
    assert set(counters.as_dict()) >= {"frames_malformed", "values_out_of_range", "frames_sent"}
