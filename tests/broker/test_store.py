"""Persistence across a clean restart (crash-safety is in test_persistence_crash.py)."""

from __future__ import annotations

from pathlib import Path

from carmesh.broker import Broker, Field, Principal, SignalStore
from carmesh.vss import Catalog
from tests.broker.conftest import RecordingActuator

SYSTEM = Principal.system()
HEAT = "Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling"
VIN = "Vehicle.VehicleIdentification.VIN"


async def test_restart_restores_targets_and_attributes(tmp_path: Path, catalog: Catalog) -> None:
    persist = ["Vehicle.Cabin.Seat", "Vehicle.VehicleIdentification"]
    first = Broker(catalog, store=SignalStore(tmp_path / "signals.db"), persist=persist)
    await first.start()
    seats = first.connect_provider(SYSTEM, "seats", RecordingActuator())
    seats.claim(["Vehicle.Cabin.Seat"])
    await first.actuate(SYSTEM, {HEAT: 60})
    await seats.publish({HEAT: 55})
    await first.publish(SYSTEM, {VIN: "YSMED2KA1PL000001"})
    await first.stop()

    second = Broker(catalog, store=SignalStore(tmp_path / "signals.db"), persist=persist)
    await second.start()
    target = second.get(SYSTEM, HEAT, Field.TARGET)
    assert target is not None and target.value == 60
    assert second.get(SYSTEM, VIN).value == "YSMED2KA1PL000001"  # type: ignore[union-attr]
    assert second.get(SYSTEM, HEAT) is None, "an actuator's current value is not stored"
    await second.stop()


async def test_values_that_no_longer_fit_are_skipped(tmp_path: Path, catalog: Catalog) -> None:
    first = Broker(catalog, store=SignalStore(tmp_path / "s.db"), persist=["Vehicle.Cabin.Seat"])
    await first.start()
    first.connect_provider(SYSTEM, "seats", RecordingActuator()).claim(["Vehicle.Cabin.Seat"])
    await first.actuate(SYSTEM, {HEAT: 90})
    await first.stop()

    overlay = tmp_path / "narrow.yaml"
    overlay.write_text(f"{HEAT}:\n  max: 50\n")
    narrower = Catalog.load(overlays=[overlay])
    second = Broker(narrower, store=SignalStore(tmp_path / "s.db"), persist=["Vehicle.Cabin.Seat"])
    await second.start()
    assert second.get(SYSTEM, HEAT, Field.TARGET) is None
    await second.stop()
