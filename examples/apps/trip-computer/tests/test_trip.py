"""The trip computer's figures, fed signal values and time by hand."""

from __future__ import annotations

import time

import pytest
from tripcomputer.trip import (
    ENERGY,
    MAX_GAP_S,
    ODOMETER,
    RANGE,
    SOC,
    SPEED,
    HistoryEntry,
    TripComputer,
    entry_texts,
    format_consumption,
    format_distance,
    format_duration,
    format_range,
    format_speed,
    pane_rows,
)


def drive(
    trip: TripComputer,
    *,
    seconds: int,
    speed: float,
    start: float,
    odo: float,
    kwh: float,
    wh_per_km: float = 150.0,
) -> tuple[float, float, float, list[HistoryEntry]]:
    """Drive at *speed* for *seconds*, one update per second; returns (now, odo, kwh, entries)."""
    entries: list[HistoryEntry] = []
    now = start
    for _ in range(seconds):
        now += 1.0
        metres = speed / 3.6
        odo += metres
        kwh += metres / 1000.0 * wh_per_km / 1000.0
        values = {SPEED: speed, ODOMETER: round(odo), ENERGY: round(kwh, 3)}
        entries += trip.update(values, now, 1_700_000_000 + now)
    return now, odo, kwh, entries


def started(odo: float = 10_000.0, kwh: float = 500.0) -> TripComputer:
    trip = TripComputer()
    trip.update({SPEED: 0.0, ODOMETER: odo, ENERGY: kwh, SOC: 80.0, RANGE: 400_000}, 0.0, 1e9)
    return trip


def test_a_new_trip_starts_from_the_first_values() -> None:
    summary = started().summary()
    assert summary.distance_km == 0.0
    assert summary.driving_s == 0.0
    assert summary.average_speed is None
    assert summary.consumption is None
    assert summary.range_km == 400.0
    assert summary.soc == 80.0


def test_distance_time_speed_and_consumption_after_a_drive() -> None:
    trip = started()
    drive(trip, seconds=600, speed=72.0, start=0.0, odo=10_000.0, kwh=500.0)
    summary = trip.summary()
    assert summary.distance_km == pytest.approx(12.0, abs=0.01)
    assert summary.driving_s == pytest.approx(600.0, abs=1.0)  # from the first update on
    assert summary.average_speed == pytest.approx(72.0, rel=0.01)
    assert summary.consumption == pytest.approx(15.0, rel=0.02)


def test_standing_still_and_gaps_do_not_count_as_driving_time() -> None:
    trip = started()
    now, _, _, _ = drive(trip, seconds=60, speed=36.0, start=0.0, odo=10_000.0, kwh=500.0)
    trip.update({SPEED: 0.0}, now + 1, 0)
    for second in range(2, 120):
        trip.tick(now + second)  # a red light
    assert trip.summary().driving_s == pytest.approx(60.0, abs=1.0)
    trip.update({SPEED: 30.0}, now + 120, 0)
    trip.tick(now + 120 + MAX_GAP_S + 50)  # the app was not running: not counted
    assert trip.summary().driving_s == pytest.approx(60.0, abs=1.0)
    trip.tick(now + 120 + MAX_GAP_S + 51)
    assert trip.summary().driving_s == pytest.approx(61.0, abs=1.0)


def test_a_history_entry_per_completed_kilometre() -> None:
    trip = started()
    _, _, _, entries = drive(trip, seconds=310, speed=36.0, start=0.0, odo=10_000.0, kwh=500.0)
    assert len(entries) == 3  # 3.1 km
    first = entries[0]
    assert first.distance_km == pytest.approx(1.0, abs=0.01)
    assert first.consumption == pytest.approx(15.0, rel=0.05)
    assert first.average_speed == pytest.approx(36.0, rel=0.02)
    assert first.odometer_km == pytest.approx(11.0, abs=0.01)


def test_reset_starts_a_new_trip_and_keeps_counting() -> None:
    trip = started()
    now, odo, kwh, _ = drive(trip, seconds=100, speed=36.0, start=0.0, odo=10_000.0, kwh=500.0)
    trip.reset(wall=5.0)
    assert trip.summary().distance_km == 0.0
    assert trip.summary().driving_s == 0.0
    assert trip.started_at == 5.0
    drive(trip, seconds=100, speed=36.0, start=now, odo=odo, kwh=kwh)
    assert trip.summary().distance_km == pytest.approx(1.0, abs=0.01)


def test_a_counter_going_backwards_starts_a_new_trip() -> None:
    trip = started(odo=50_000.0)
    drive(trip, seconds=100, speed=36.0, start=0.0, odo=50_000.0, kwh=500.0)
    trip.update({ODOMETER: 1_000, ENERGY: 2.0}, 200.0, 0)  # another car, or a reset simulator
    summary = trip.summary()
    assert summary.distance_km == 0.0
    assert summary.consumption is None


def test_missing_values_are_tolerated() -> None:
    trip = TripComputer()
    trip.update({SPEED: None, ODOMETER: None, ENERGY: None, SOC: None, RANGE: None}, 0.0, 0.0)
    trip.tick(1.0)
    summary = trip.summary()
    assert summary.distance_km == 0.0
    assert summary.range_km is None
    assert [value for _, value in pane_rows(summary)] == ["0.0 km", "0:00", "—", "—", "—"]


def test_the_trip_survives_a_restart() -> None:
    trip = started()
    now, odo, kwh, _ = drive(trip, seconds=150, speed=36.0, start=0.0, odo=10_000.0, kwh=500.0)
    again = TripComputer()
    assert again.restore(trip.state_json())
    drive(again, seconds=100, speed=36.0, start=now + 1000, odo=odo, kwh=kwh)
    assert again.summary().distance_km == pytest.approx(2.5, abs=0.01)
    assert again.summary().driving_s == pytest.approx(250.0, abs=2.0)


@pytest.mark.parametrize(
    "state",
    [None, [], {"version": 2}, {"version": 1, "trip": {}, "segment": {}, "driving_s": "x"}],
)
def test_a_damaged_state_is_not_restored(state: object) -> None:
    trip = TripComputer()
    assert not trip.restore(state)
    assert trip.summary().driving_s == 0.0


def test_formatting() -> None:
    assert format_distance(12.345) == "12.3 km"
    assert format_duration(0) == "0:00"
    assert format_duration(59) == "0:00"
    assert format_duration(3 * 3600 + 5 * 60 + 59) == "3:05"
    assert format_speed(54.4) == "54 km/h"
    assert format_speed(None) == "—"
    assert format_consumption(16.44) == "16.4 kWh/100 km"
    assert format_range(312.4, 78.2) == "312 km · 78 %"
    assert format_range(None, 78.0) == "78 %"
    assert format_range(None, None) == "—"


def test_pane_rows_have_both_languages() -> None:
    rows = pane_rows(started().summary())
    assert len(rows) == 5
    assert all(set(label) == {"en", "zh-CN"} for label, _ in rows)


def test_history_entry_texts_fit_a_screen_while_driving() -> None:
    entry = HistoryEntry(1e9, 12_345.0, 1.0, 0.164, 16.4, 68.0)
    title, text = entry_texts(entry, time.gmtime(0))
    assert title == "16.4 kWh/100 km"
    assert text == "km 12,345.0 · 68 km/h · 01-01 00:00"
    assert len(text) <= 40


def test_history_entries_round_trip_through_json() -> None:
    entry = HistoryEntry(1e9, 12.0, 1.0, 0.15, 15.0, None)
    assert HistoryEntry.from_json(entry.as_json()) == entry
    assert HistoryEntry.from_json({"time": "yesterday"}) is None
    assert HistoryEntry.from_json([1, 2]) is None
