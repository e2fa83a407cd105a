"""Driver profiles: storing, the file, following the driver, when seats may move."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from seatmemory.profiles import (
    FILE_NAME,
    MAX_DRIVERS,
    MIRRORS,
    PROFILE_ITEM,
    SEAT,
    USE_ACTION,
    ProfileStore,
    describe,
    may_move,
    profile_actions,
    profile_entries,
    profile_of,
    valid_positions,
)

SAVED = {
    SEAT: 350,
    f"{MIRRORS}.DriverSide.Pan": -5,
    f"{MIRRORS}.DriverSide.Tilt": 10,
    f"{MIRRORS}.PassengerSide.Pan": 5,
    f"{MIRRORS}.PassengerSide.Tilt": 10,
}


def test_store_save_and_load(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.load()
    assert store.current == 1
    assert store.store(2, {**SAVED, "Vehicle.Speed": 0.0}) == SAVED
    store.select(2)
    store.save()
    again = ProfileStore(tmp_path)
    again.load()
    assert again.current == 2
    assert again.targets(2) == SAVED
    assert again.targets(1) == {}
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]  # no temporary file left


def test_only_valid_positions_are_kept() -> None:
    values = {
        SEAT: 350.4,
        f"{MIRRORS}.DriverSide.Pan": 150,  # out of range
        f"{MIRRORS}.DriverSide.Tilt": None,  # not reported
        f"{MIRRORS}.PassengerSide.Pan": True,  # not a number
        f"{MIRRORS}.PassengerSide.Tilt": float("nan"),
    }
    assert valid_positions(values) == {SEAT: 350}
    assert valid_positions(None) == {}


def test_storing_nothing_valid_keeps_the_profile(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.store(1, SAVED)
    assert store.store(1, dict.fromkeys(SAVED)) == {}
    assert store.targets(1) == SAVED


def test_a_damaged_file_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("{not json")
    store = ProfileStore(tmp_path)
    store.load()
    assert store.targets(1) == {}
    assert (tmp_path / (FILE_NAME + ".damaged")).exists()
    store.save()
    assert json.loads((tmp_path / FILE_NAME).read_text())["version"] == 1


def test_wrong_entries_in_the_file_are_ignored(tmp_path: Path) -> None:
    data = {
        "version": 1,
        "current": 7,
        "profiles": {"1": {SEAT: "far"}, "2": SAVED, "9": SAVED},
        "drivers": {"alice": 2, "bob": 5, "": 1},
    }
    (tmp_path / FILE_NAME).write_text(json.dumps(data))
    store = ProfileStore(tmp_path)
    store.load()
    assert store.current == 1
    assert store.targets(1) == {}
    assert store.targets(2) == SAVED
    assert store.drivers == {"alice": 2}


def test_following_the_driver(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    assert not store.follow_driver("alice")  # unknown: linked to the profile in use
    assert store.drivers == {"alice": 1}
    store.select(3)  # alice chooses 3
    assert store.drivers == {"alice": 3}
    assert not store.follow_driver(None)
    store.select(2)  # nobody identified: nobody linked
    assert store.drivers == {"alice": 3}
    assert store.follow_driver("alice")
    assert store.current == 3
    assert not store.follow_driver("")
    assert store.driver is None


def test_drivers_are_bounded(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    for n in range(MAX_DRIVERS + 5):
        store.follow_driver(f"driver-{n}")
    assert len(store.drivers) == MAX_DRIVERS
    assert "driver-0" not in store.drivers
    assert f"driver-{MAX_DRIVERS + 4}" in store.drivers


def test_no_such_profile(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no profile 4"):
        ProfileStore(tmp_path).select(4)


@pytest.mark.parametrize(
    ("driving", "speed", "allowed"),
    [
        ({"moving": False}, 0.0, True),
        ({"moving": False}, None, True),
        (None, 0.0, True),
        ({"moving": True}, 0.0, False),
        ({"moving": False}, 3.0, False),  # creeping, below the "moving" threshold
        ({}, 0.0, False),
        (None, None, False),  # nothing is known
    ],
)
def test_when_seats_may_move(driving: dict | None, speed: float | None, allowed: bool) -> None:
    assert may_move(driving, speed) is allowed


def test_descriptions() -> None:
    assert describe({})["en"] == "Nothing saved yet"
    text = describe(SAVED)
    assert text["en"] == "Seat 350 mm · L -5/+10 · R +5/+10"
    assert len(text["en"]) <= 40  # whole while driving
    assert text["zh-CN"] == "座椅 350 mm · 左镜 -5/+10 · 右镜 +5/+10"
    assert describe({f"{MIRRORS}.DriverSide.Tilt": 3})["en"] == "L ?/+3"
    assert describe({SEAT: 10})["en"] == "Seat 10 mm"


def test_list_entries_and_actions(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.store(2, SAVED)
    store.select(2)
    entries = profile_entries(store)
    assert [ident for ident, _, _ in entries] == ["profile-1", "profile-2", "profile-3"]
    assert entries[1][1]["en"] == "Profile 2 (in use)"
    assert entries[0][2]["en"] == "Nothing saved yet"
    actions = profile_actions(store)
    assert [ident for ident, _ in actions] == ["save", "use-1", "use-3"]
    assert actions[0][1]["en"] == "Save to 2"


@pytest.mark.parametrize(
    ("ident", "prefix", "profile"),
    [
        ("profile-2", PROFILE_ITEM, 2),
        ("use-3", USE_ACTION, 3),
        ("use-4", USE_ACTION, None),
        ("profile-x", PROFILE_ITEM, None),
        (None, PROFILE_ITEM, None),
    ],
)
def test_profile_of(ident: str | None, prefix: str, profile: int | None) -> None:
    assert profile_of(ident, prefix) == profile
