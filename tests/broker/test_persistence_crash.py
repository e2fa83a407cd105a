"""Crash safety of the broker's store: a value the broker acknowledged survives SIGKILL.

A child process runs a broker on a file in ``tmp_path`` and writes persistent attributes and
actuator targets as fast as it can, printing each value once the call that wrote it returned.
The parent kills it mid-burst, then checks the file with plain sqlite3 and restores it into a
new broker.
"""

from __future__ import annotations

import inspect
import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from carmesh.broker import Broker, Field, Principal, SignalStore
from carmesh.errors import ConfigError
from carmesh.vss import Catalog

YEAR = "Vehicle.VehicleIdentification.Year"
VIN = "Vehicle.VehicleIdentification.VIN"
EXTRAS = "Vehicle.VehicleIdentification.OptionalExtras"
POSITION = "Vehicle.Cabin.Seat.Row1.DriverSide.Position"
RECLINE = "Vehicle.Cabin.Seat.Row1.DriverSide.Backrest.Recline"
MASSAGE = "Vehicle.Cabin.Seat.Row1.DriverSide.Massage.TypeActive"

#: Written in the burst but not listed in PERSIST (or a sensor): never restored.
BRAND = "Vehicle.VehicleIdentification.Brand"
PASSENGER_POSITION = "Vehicle.Cabin.Seat.Row1.PassengerSide.Position"
SPEED = "Vehicle.Speed"

ATTRIBUTES = (YEAR, VIN, EXTRAS)
ACTUATORS = (POSITION, RECLINE, MASSAGE)
PERSIST = (*ATTRIBUTES, *ACTUATORS)


def encode(path: str, n: int) -> Any:
    """The n-th value the burst writes to *path* (also run by the child process)."""
    name = path.rpartition(".")[2]
    if name in ("Year", "Position"):
        return n
    if name == "Recline":
        return n * 0.5
    if name == "Speed":
        return float(n % 200)
    if name == "OptionalExtras":
        return ["sunroof", f"extra-{n}"]
    return f"{name}-{n:08d}"


CHILD = """
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from carmesh.broker import Broker, Principal, SignalStore
from carmesh.vss import Catalog

ATTRIBUTES = {attributes!r}
ACTUATORS = {actuators!r}
PERSIST = {persist!r}
SPEED = {speed!r}

{encode}

class Seats:
    async def actuate(self, targets):
        await asyncio.sleep(0)


async def publish_burst(broker, system, session):
    n = 0
    while True:
        n += 1
        await broker.publish(system, {{p: encode(p, n) for p in ATTRIBUTES}})
        print("value", n, flush=True)
        await session.publish({{SPEED: encode(SPEED, n)}})


async def actuate_burst(broker, system):
    n = 0
    while True:
        n += 1
        await broker.actuate(system, {{p: encode(p, n) for p in ACTUATORS}})
        print("target", n, flush=True)


async def main():
    broker = Broker(Catalog.load(), store=SignalStore(Path(sys.argv[1])), persist=PERSIST)
    await broker.start()
    system = Principal.system()
    session = broker.connect_provider(system, "seats", Seats())
    session.claim([*ACTUATORS, SPEED])
    print("ready", flush=True)
    await asyncio.gather(publish_burst(broker, system, session), actuate_burst(broker, system))


asyncio.run(main())
"""


def counter_of(path: str, value: Any) -> int:
    """The n whose encoding is *value*; fails the test for a value never written."""
    if isinstance(value, int):
        n = value
    elif isinstance(value, float):
        n = int(value * 2)
    else:
        text = value[-1] if isinstance(value, list) else value
        n = int(text.rpartition("-")[2])
    assert n >= 1
    assert value == encode(path, n), f"{path}: {value!r} was never written"
    return n


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CARMESH_")}


@pytest.fixture
def system() -> Principal:
    return Principal.system()


def run_burst_and_kill(tmp_path: Path, kill_after: int) -> tuple[Path, dict[str, int]]:
    """Run the child until *kill_after* acknowledgements, SIGKILL it, return the last acks."""
    script = tmp_path / "burst.py"
    script.write_text(
        CHILD.format(
            attributes=(*ATTRIBUTES, BRAND),
            actuators=(*ACTUATORS, PASSENGER_POSITION),
            persist=PERSIST,
            speed=SPEED,
            encode=inspect.getsource(encode),
        ),
        encoding="utf-8",
    )
    db = tmp_path / "signals.db"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=tmp_path,
    )
    watchdog = threading.Timer(20.0, proc.kill)
    watchdog.start()
    last = {"value": 0, "target": 0}
    acks = 0
    killed_while_running = False
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.endswith("\n"):
                break  # cut short by the kill
            kind, _, number = line.strip().partition(" ")
            if kind == "ready":
                continue
            n = int(number)
            assert n == last[kind] + 1, f"acknowledgements out of order: {line!r}"
            last[kind] = n
            acks += 1
            if acks == kill_after:
                killed_while_running = proc.poll() is None
                proc.kill()
        proc.wait(timeout=10)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == -9, f"child ended with {proc.returncode} before the kill:\n{stderr}"
    assert killed_while_running, stderr
    assert acks >= kill_after
    assert last["value"] > 0 and last["target"] > 0, f"burst did not interleave: {last}"
    return db, last


@pytest.mark.parametrize("kill_after", [150, 800, 2500])
async def test_acknowledged_values_survive_sigkill(
    tmp_path: Path, kill_after: int, system: Principal, catalog: Catalog
) -> None:
    db, last = run_burst_and_kill(tmp_path, kill_after)

    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {
            (path, field): json.loads(value)
            for path, field, value in raw.execute("SELECT path, field, value FROM signal_value")
        }
    raw.close()
    expected_rows = {(p, "value") for p in ATTRIBUTES} | {(p, "target") for p in ACTUATORS}
    assert set(stored) == expected_rows

    broker = Broker(catalog, store=SignalStore(db), persist=PERSIST)
    await broker.start()
    try:
        for path in ATTRIBUTES:
            dp = broker.get(system, path)
            assert dp is not None, f"{path} lost"
            n = counter_of(path, dp.value)
            assert last["value"] <= n <= last["value"] + 1, (path, n, last)
            assert dp.value == stored[(path, "value")]
            assert dp.timestamp > 0
        attribute_counters = {counter_of(p, broker.get(system, p).value) for p in ATTRIBUTES}
        assert len(attribute_counters) == 1, "one batch was committed only in part"
        for path in ACTUATORS:
            dp = broker.get(system, path, Field.TARGET)
            assert dp is not None, f"target of {path} lost"
            n = counter_of(path, dp.value)
            assert last["target"] <= n <= last["target"] + 1, (path, n, last)
            assert broker.get(system, path) is None, "a target must not become the value"
        target_counters = {
            counter_of(p, broker.get(system, p, Field.TARGET).value) for p in ACTUATORS
        }
        assert len(target_counters) == 1, "one batch was committed only in part"

        assert broker.get(system, BRAND) is None
        assert broker.get(system, PASSENGER_POSITION, Field.TARGET) is None
        assert broker.get(system, SPEED) is None
    finally:
        await broker.stop()


@pytest.fixture
def persisted_db(tmp_path: Path) -> Path:
    return tmp_path / "signals.db"


async def test_only_persistent_attributes_and_targets_are_stored(
    persisted_db: Path, system: Principal, catalog: Catalog
) -> None:
    broker = Broker(catalog, store=SignalStore(persisted_db), persist=[YEAR, POSITION, SPEED])
    await broker.start()
    assert not broker.is_persistent(SPEED), "sensors are never persistent"
    assert not broker.is_persistent(BRAND)

    class Accept:
        async def actuate(self, targets: dict[str, Any]) -> None:
            return None

    session = broker.connect_provider(system, "seats", Accept())
    session.claim([POSITION, PASSENGER_POSITION, SPEED])
    await broker.publish(system, {YEAR: 2024, BRAND: "Carmesh"})
    await session.publish({SPEED: 88.0, POSITION: 10})
    await broker.actuate(system, {POSITION: 500, PASSENGER_POSITION: 300})
    await broker.stop()

    with sqlite3.connect(persisted_db) as raw:
        rows = sorted(raw.execute("SELECT path, field, value FROM signal_value"))
    raw.close()
    assert rows == [(POSITION, "target", "500"), (YEAR, "value", "2024")]

    restored = Broker(catalog, store=SignalStore(persisted_db), persist=[YEAR, POSITION, SPEED])
    await restored.start()
    try:
        assert restored.get(system, YEAR).value == 2024
        assert restored.get(system, POSITION, Field.TARGET).value == 500
        assert restored.get(system, POSITION) is None, "the reported value is not persisted"
        assert restored.get(system, BRAND) is None
        assert restored.get(system, SPEED) is None
        assert restored.get(system, PASSENGER_POSITION, Field.TARGET) is None
    finally:
        await restored.stop()


async def test_rows_of_signals_no_longer_persistent_are_not_restored(
    persisted_db: Path, system: Principal, catalog: Catalog
) -> None:
    store = SignalStore(persisted_db)
    store.open()
    await store.write(
        [
            (YEAR, "value", 2020, 1),
            (VIN, "value", "VIN-OLD", 2),
            (SPEED, "value", 120.0, 3),
            (POSITION, "target", 42, 4),
            (POSITION, "value", 41, 5),
            (YEAR, "target", 1999, 6),
            ("Vehicle.NoLongerInTheCatalog", "value", 1, 7),
        ]
    )
    store.close()

    broker = Broker(catalog, store=SignalStore(persisted_db), persist=[YEAR, POSITION, SPEED])
    await broker.start()
    try:
        assert tuple(broker.get(system, YEAR)) == (2020, 1)
        assert tuple(broker.get(system, POSITION, Field.TARGET)) == (42, 4)
        assert broker.get(system, VIN) is None, "VIN is no longer listed in persist"
        assert broker.get(system, SPEED) is None, "a stored sensor value is ignored"
        assert broker.get(system, POSITION) is None, "an actuator's value is not restored"
    finally:
        await broker.stop()


async def test_stored_value_that_no_longer_fits_is_skipped(
    persisted_db: Path, system: Principal, catalog: Catalog
) -> None:
    store = SignalStore(persisted_db)
    store.open()
    await store.write([(YEAR, "value", "not a year", 1), (POSITION, "target", 7, 2)])
    store.close()

    broker = Broker(catalog, store=SignalStore(persisted_db), persist=[YEAR, POSITION])
    await broker.start()
    try:
        assert broker.get(system, YEAR) is None
        assert broker.get(system, POSITION, Field.TARGET).value == 7
    finally:
        await broker.stop()


@pytest.mark.parametrize(
    "garbage",
    [
        b"this is not a database, just some text that happens to be here\n" * 20,
        bytes(range(256)) * 16,
        b"SQLite format 3\x00" + b"\xff" * 4080,
    ],
    ids=["text", "binary", "bad-header"],
)
async def test_corrupt_database_is_refused_and_kept(
    tmp_path: Path, garbage: bytes, catalog: Catalog
) -> None:
    db = tmp_path / "signals.db"
    db.write_bytes(garbage)

    with pytest.raises(ConfigError) as caught:
        SignalStore(db).open()
    message = str(caught.value)
    assert str(db) in message
    assert "not a usable carmesh database" in message
    assert "\n" not in message

    broker = Broker(catalog, store=SignalStore(db), persist=[YEAR])
    with pytest.raises(ConfigError):
        await broker.start()
    await broker.stop()

    assert db.read_bytes() == garbage, "the unusable file must be left as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signals.db"]


async def test_database_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "signals.db"
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA user_version=99")
    raw.close()

    with pytest.raises(ConfigError, match="newer carmesh"):
        SignalStore(db).open()
