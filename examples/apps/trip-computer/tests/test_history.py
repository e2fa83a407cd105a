"""The efficiency history file: append, reload, damaged lines, bounded size."""

from __future__ import annotations

from pathlib import Path

from tripcomputer.history import HISTORY_FILE, History, load_json, save_json
from tripcomputer.trip import HistoryEntry


def entry(n: int) -> HistoryEntry:
    return HistoryEntry(1e9 + n, 10.0 + n, 1.0, 0.15, 15.0 + n / 100, 50.0)


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.load()
    history.append([entry(1), entry(2)])
    again = History(tmp_path)
    again.load()
    assert list(again.entries) == [entry(1), entry(2)]
    assert again.newest(1) == [entry(2)]


def test_a_damaged_or_partial_line_is_skipped(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.append([entry(1)])
    with (tmp_path / HISTORY_FILE).open("a") as file:
        file.write('not json\n{"time": 1}\n{"time": 5, "odo')  # a crash mid-line
    again = History(tmp_path)
    again.load()
    assert list(again.entries) == [entry(1)]
    again.append([entry(2)])
    third = History(tmp_path)
    third.load()
    assert list(third.entries) == [entry(1), entry(2)]


def test_the_file_stays_bounded(tmp_path: Path) -> None:
    history = History(tmp_path, max_entries=10)
    for n in range(45):
        history.append([entry(n)])
    lines = (tmp_path / HISTORY_FILE).read_text().splitlines()
    assert len(lines) < 20
    again = History(tmp_path, max_entries=10)
    again.load()
    assert list(again.entries) == [entry(n) for n in range(35, 45)]


def test_a_missing_file_is_an_empty_history(tmp_path: Path) -> None:
    history = History(tmp_path / "new")
    history.load()
    assert history.newest(10) == []


def test_json_state_is_written_atomically_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "trip.json"
    assert load_json(path) is None
    save_json(path, {"a": 1})
    assert load_json(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["trip.json"]
    path.write_text("{broken")
    assert load_json(path) is None
