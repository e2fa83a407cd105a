"""The app log: timestamped lines, cutting, rotation into .1 … .3, and tail across the files."""

from __future__ import annotations

import re
from pathlib import Path

from carmesh.apps.logs import (
    CUT_MARK,
    LineSplitter,
    RotatingLog,
    tail,
    timestamp,
)

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (out|err|car) (.*)$")


def test_timestamp_is_utc_with_milliseconds() -> None:
    assert timestamp(1_795_600_800.1234) == "2026-11-25T10:00:00.123Z"
    assert timestamp(0) == "1970-01-01T00:00:00.000Z"


def test_lines_are_stamped_and_visible_at_once(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "org.example.a" / "app.log"
    log = RotatingLog(path)
    log.write("out", [b"hello", "w\u00f6rld"], when=1_795_600_800.5)
    # No close or flush: a reader sees the lines as soon as write returns.
    assert path.read_text().splitlines() == [
        "2026-11-25T10:00:00.500Z out hello",
        "2026-11-25T10:00:00.500Z out w\u00f6rld",
    ]
    log.write("car", ["started pid 7"])
    last = path.read_text().splitlines()[-1]
    match = LINE.match(last)
    assert match is not None and match.groups() == ("car", "started pid 7")
    log.close()


def test_long_lines_are_cut(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "app.log", max_line=10)
    log.write("err", [b"0123456789", b"0123456789abc"])
    log.close()
    texts = [LINE.match(line).group(2) for line in tail(tmp_path / "app.log", 10)]  # type: ignore[union-attr]
    assert texts == ["0123456789", "0123456789" + CUT_MARK.decode()]


def test_splitter_bounds_partial_lines() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"ab") == []
    assert splitter.feed(b"c\nde") == [b"abc"]
    assert splitter.feed(b"fghijklmnop") == []  # "defghijk" kept, the rest dropped
    assert len(splitter._partial) == 8
    assert splitter.feed(b"qrs" * 1000 + b"\nlast") == [b"defghijk" + CUT_MARK]
    assert splitter.feed(b"\n\n") == [b"last", b""]
    assert splitter.feed(b"tail") == []
    assert splitter.flush() == [b"tail"]
    assert splitter.flush() == []


def test_rotation_keeps_three_old_files(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    log = RotatingLog(path, max_bytes=1000)
    for n in range(400):
        log.write("out", [f"line {n:04d}"])
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["app.log", "app.log.1", "app.log.2", "app.log.3"]
    for file in tmp_path.iterdir():
        assert 0 < file.stat().st_size <= 1000
    # Each file continues where the older one ends.
    numbers = [
        int(line.rsplit(" ", 1)[1])
        for name in ("app.log.3", "app.log.2", "app.log.1", "app.log")
        for line in (tmp_path / name).read_text().splitlines()
    ]
    assert numbers == list(range(numbers[0], 400))
    assert numbers[0] > 0  # the oldest lines were dropped


def test_tail_reads_across_rotated_files(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    log = RotatingLog(path, max_bytes=1000)
    for n in range(120):
        log.write("out", [f"line {n:04d}"])
    log.close()
    assert (tmp_path / "app.log.2").exists()
    current = len(path.read_text().splitlines())
    wanted = current + 30  # reaches into app.log.1 (and maybe .2)
    lines = tail(path, wanted)
    assert [line.rsplit(" ", 1)[1] for line in lines] == [
        f"{n:04d}" for n in range(120 - wanted, 120)
    ]
    assert tail(path, 1)[0].endswith("out line 0119")
    assert tail(path, 0) == []
    assert len(tail(path, 10_000)) == sum(
        len(p.read_text().splitlines()) for p in tmp_path.iterdir()
    )


def test_tail_reads_a_big_file_backwards(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"".join(b"x" * 100 + b" %d\n" % n for n in range(20_000)))
    lines = tail(path, 3)
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["19997", "19998", "19999"]
    path.write_bytes(b"no newline at the end")
    assert tail(path, 5) == ["no newline at the end"]


def test_tail_of_missing_log_is_empty(tmp_path: Path) -> None:
    assert tail(tmp_path / "nothing.log", 10) == []


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "app.log")
    log.write("out", [b"caf\xe9"])
    log.close()
    assert tail(tmp_path / "app.log", 1)[0].endswith("out caf\ufffd")


def test_write_failure_does_not_raise(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    log = RotatingLog(blocker / "app.log")  # its directory cannot be created
    log.write("out", ["lost"])
    log.write("out", ["lost again"])
    log.close()
