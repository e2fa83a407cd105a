"""The charging assistant's decisions, fed signal values and time by hand."""

from __future__ import annotations

import pytest
from chargingassistant.assistant import (
    CABLE,
    IS_CHARGING,
    LIMIT,
    RATE,
    SOC,
    START_TIMEOUT_S,
    TIME_TO_COMPLETE,
    ChargingAssistant,
    Status,
    chosen_limit,
    describe_state,
    format_percent,
    format_rate,
    format_time_to_complete,
    limit_choices,
    pane_rows,
    pick,
)

PARKED = {SOC: 60.0, IS_CHARGING: False, LIMIT: 80, TIME_TO_COMPLETE: 0, RATE: 0.0, CABLE: False}


def parked() -> ChargingAssistant:
    assistant = ChargingAssistant()
    assert assistant.update(PARKED, 0.0) == []
    return assistant


def kinds(notices: list) -> list[str]:
    return [notice.kind for notice in notices]


def test_reaching_the_limit_while_charging_notifies_once() -> None:
    assistant = parked()
    assert assistant.update({CABLE: True, IS_CHARGING: True}, 1.0) == []
    assert assistant.update({SOC: 79.5}, 2.0) == []
    notices = assistant.update({SOC: 80.0}, 3.0)
    assert kinds(notices) == ["limit_reached"]
    assert "80 %" in notices[0].body["en"]
    assert set(notices[0].title) == {"en", "zh-CN"}
    assert assistant.update({SOC: 80.01}, 4.0) == []
    assert assistant.update({IS_CHARGING: False}, 5.0) == []


def test_the_car_stopping_at_the_limit_in_the_same_update_still_counts() -> None:
    assistant = parked()
    assistant.update({CABLE: True, IS_CHARGING: True}, 1.0)
    assert kinds(assistant.update({SOC: 80.0, IS_CHARGING: False}, 2.0)) == ["limit_reached"]


def test_a_new_session_rearms_the_notice() -> None:
    assistant = parked()
    assistant.update({CABLE: True, IS_CHARGING: True}, 1.0)
    assert kinds(assistant.update({SOC: 80.0, IS_CHARGING: False}, 2.0)) == ["limit_reached"]
    assistant.update({LIMIT: 90, IS_CHARGING: True}, 3.0)
    assert assistant.update({SOC: 85.0}, 4.0) == []
    assert kinds(assistant.update({SOC: 90.0}, 5.0)) == ["limit_reached"]


def test_stopping_early_does_not_notify_later() -> None:
    assistant = parked()
    assistant.update({CABLE: True, IS_CHARGING: True}, 1.0)
    assistant.update({SOC: 70.0, IS_CHARGING: False}, 2.0)  # unplugged or stopped
    assert assistant.update({SOC: 80.0}, 3.0) == []


def test_a_connected_cable_that_does_not_charge_notifies_after_a_minute() -> None:
    assistant = parked()
    assert assistant.update({CABLE: True}, 10.0) == []
    assert assistant.waiting_for_start
    assert assistant.tick(10.0 + START_TIMEOUT_S - 1) == []
    notices = assistant.tick(10.0 + START_TIMEOUT_S)
    assert kinds(notices) == ["not_charging"]
    assert "has not started" in notices[0].body["en"]
    assert assistant.tick(10.0 + 10 * START_TIMEOUT_S) == []
    assert not assistant.waiting_for_start


def test_charging_that_starts_in_time_does_not_notify() -> None:
    assistant = parked()
    assistant.update({CABLE: True}, 10.0)
    assistant.update({IS_CHARGING: True}, 30.0)
    assert assistant.tick(10.0 + 2 * START_TIMEOUT_S) == []


def test_unplugging_before_the_minute_cancels_the_notice() -> None:
    assistant = parked()
    assistant.update({CABLE: True}, 10.0)
    assistant.update({CABLE: False}, 20.0)
    assert assistant.tick(10.0 + 2 * START_TIMEOUT_S) == []


def test_the_notice_says_when_the_battery_is_already_at_the_limit() -> None:
    assistant = ChargingAssistant()
    assistant.update({**PARKED, SOC: 80.0}, 0.0)
    assistant.update({CABLE: True}, 1.0)
    notices = assistant.tick(1.0 + START_TIMEOUT_S)
    assert kinds(notices) == ["not_charging"]
    assert "already at its 80 % limit" in notices[0].body["en"]


def test_a_cable_connected_before_the_app_started_raises_no_alarm() -> None:
    assistant = ChargingAssistant()
    assistant.update({**PARKED, CABLE: True}, 0.0)
    assert assistant.tick(10 * START_TIMEOUT_S) == []


def test_reconnecting_rearms_the_not_charging_notice() -> None:
    assistant = parked()
    assistant.update({CABLE: True}, 0.0)
    assert kinds(assistant.tick(START_TIMEOUT_S)) == ["not_charging"]
    assistant.update({CABLE: False}, 100.0)
    assistant.update({CABLE: True}, 110.0)
    assert kinds(assistant.tick(110.0 + START_TIMEOUT_S)) == ["not_charging"]


def test_status_and_missing_values() -> None:
    assistant = ChargingAssistant()
    assistant.update({SOC: None, LIMIT: None, IS_CHARGING: None, CABLE: None}, 0.0)
    status = assistant.status()
    assert status == Status(None, None, False, False, None, None)
    assert [value for _, value in pane_rows(status, False)][1:] == ["—", "—", "—", "—"]


def test_formatting() -> None:
    assert format_percent(79.6) == "80 %"
    assert format_percent(None) == "—"
    assert format_time_to_complete(20, charging=True) == "0:01"
    assert format_time_to_complete(3600 + 5 * 60, charging=True) == "1:05"
    assert format_time_to_complete(3600 + 5 * 60 + 1, charging=True) == "1:06"
    assert format_time_to_complete(0, charging=True) == "—"
    assert format_time_to_complete(600, charging=False) == "—"
    assert format_rate(44.6, charging=True) == "+45 km/h"
    assert format_rate(44.6, charging=False) == "—"


@pytest.mark.parametrize(
    ("status", "waiting", "expected"),
    [
        (Status(60.0, 80, True, True, 600, 40.0), False, "Charging"),
        (Status(60.0, 80, False, True, 0, 0.0), True, "Cable connected, waiting"),
        (Status(80.0, 80, False, True, 0, 0.0), False, "Done: at the limit"),
        (Status(60.0, 80, False, True, 0, 0.0), False, "Connected, not charging"),
        (Status(60.0, 80, False, False, 0, 0.0), False, "Not plugged in"),
    ],
)
def test_the_state_in_words(status: Status, waiting: bool, expected: str) -> None:
    words = describe_state(status, waiting)
    assert words["en"] == expected
    assert words["zh-CN"]


def test_limit_choices_mark_the_current_limit() -> None:
    choices = limit_choices(90)
    assert [ident for ident, _, _ in choices] == ["limit-80", "limit-90", "limit-100"]
    assert [title for _, title, _ in choices] == ["80 %", "90 %", "100 %"]
    assert choices[1][2]["en"].startswith("Current")
    assert not choices[0][2]["en"].startswith("Current")


@pytest.mark.parametrize(
    ("item", "limit"),
    [
        ("limit-80", 80),
        ("limit-100", 100),
        ("limit-85", None),
        ("limit-", None),
        (None, None),
        ("other", None),
    ],
)
def test_chosen_limit(item: str | None, limit: int | None) -> None:
    assert chosen_limit(item) == limit


def test_pick_a_language() -> None:
    text = {"en": "Charged", "zh-CN": "已充满"}
    assert pick(text, "zh-CN") == "已充满"
    assert pick(text, "zh_CN.UTF-8") == "已充满"
    assert pick(text, "de") == "Charged"
