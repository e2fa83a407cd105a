"""Validation against the real car, in simulated time (no sleeping): the WLTP range and the
10→80 % DC charging time of the profile."""

from __future__ import annotations

import pytest

from carmesh.vehicle.sim import Gear, SimulatedCar, VehicleProfile
from carmesh.vehicle.sim.charging import Charger, ChargerKind
from carmesh.vehicle.sim.cycle import wltc_class3b


def test_wltc_from_full_to_cut_off_matches_the_published_wltp_range(
    profile: VehicleProfile,
) -> None:
    """WLTP conditions: 23 °C, climate control off, the test mass (kerb + 100 kg)."""
    car = SimulatedCar(profile, soc=100.0, outside_c=23.0)
    car.cabin.fan_speeds = {"Driver": 0, "Passenger": 0}
    car.shift(Gear.DRIVE)
    wltc = wltc_class3b()
    cycles = 0
    while not car.battery.is_empty:
        for t in range(1, int(wltc.duration) + 1):
            car.step(1.0, wltc.speed_at(t) / 3.6)
            if car.battery.is_empty:
                break
        cycles += 1
    simulated_km = car.trip_m / 1000
    published_km = profile.published.wltp_range_km
    print(
        f"WLTP range: simulated {simulated_km:.0f} km over {cycles} cycles, "
        f"published {published_km:.0f} km"
    )
    assert simulated_km == pytest.approx(published_km, rel=0.10)


def test_dc_charging_from_10_to_80_percent_matches_the_published_time(
    profile: VehicleProfile,
) -> None:
    car = SimulatedCar(profile, soc=10.0, outside_c=20.0)
    car.charging.limit = 100
    car.charging.plug(Charger(ChargerKind.DC, 350.0))
    seconds = 0.0
    while car.battery.soc < 80.0:
        car.step(1.0)
        seconds += 1.0
    published = profile.published.dc_10_80_minutes
    print(f"10→80 % DC: simulated {seconds / 60:.1f} min, published {published:g} min")
    assert seconds / 60 == pytest.approx(published, rel=0.15)
