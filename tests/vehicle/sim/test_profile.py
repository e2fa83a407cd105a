"""Vehicle profiles: the packaged Polestar 2 and refusals of bad files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from carmesh.errors import ConfigError
from carmesh.vehicle.sim import VehicleProfile, load_profile
from carmesh.vehicle.sim.profile import DEFAULT_PROFILE, packaged_profiles

GOOD = Path(str(resources.files("carmesh.vehicle.sim") / "profiles" / f"{DEFAULT_PROFILE}.toml"))


def test_the_packaged_profile_holds_the_published_figures(profile: VehicleProfile) -> None:
    assert DEFAULT_PROFILE in packaged_profiles()
    assert profile.title == "Polestar 2 Long Range Dual Motor (2021)"
    assert profile.battery.usable_capacity_kwh == 75
    assert profile.battery.gross_capacity_kwh == 78
    assert profile.powertrain.motor_power_kw == 300
    assert profile.charging.dc_power_kw == 150
    assert profile.charging.ac_power_kw == 11
    assert profile.published.wltp_range_km == 470
    assert profile.published.dc_10_80_minutes == 32
    assert max(kw for _, kw in profile.charging.dc_curve.points) == 150


def test_every_figure_has_a_comment_naming_its_source_or_calling_it_an_estimate() -> None:
    lines = GOOD.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        key, sep, value = line.partition("=")
        if not sep or line.startswith(("#", " ")) or value.strip().startswith('"'):
            continue
        j = i - 1
        while j >= 0 and not lines[j].startswith(("#", "[")):
            j -= 1
        assert j >= 0 and lines[j].startswith("#"), f"{key.strip()} has no source comment"


def test_curves_interpolate_and_stay_flat_beyond_their_ends(profile: VehicleProfile) -> None:
    curve = profile.charging.dc_curve
    assert curve(10) == 146
    assert curve(13.5) == pytest.approx(148)
    assert curve(-5) == curve(0)
    assert curve(120) == curve(100)


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (("usable_capacity_kwh = 75", ""), ["missing key battery.usable_capacity_kwh"]),
        (("usable_capacity_kwh = 75", "usable_capacity_kwh = 'lots'"), ["must be a number"]),
        (("usable_capacity_kwh = 75", "usable_capacity_kwh = 90"), ["usable_capacity_kwh"]),
        (("[cabin]", "[cabin]\nwings = 2"), ["unknown key cabin.wings"]),
        (("[cabin]", "[boat]\nx = 1\n[cabin]"), ["unknown section [boat]"]),
        (("dc_curve = [[0, 50]", "dc_curve = [[5, 50], [0, 40]"), ["sorted"]),
        (("regen_efficiency = 0.80", "regen_efficiency = 1.5"), ["regen_efficiency"]),
        (("[body]", "[body"), ["not valid TOML"]),
    ],
    ids=[
        "missing",
        "not-a-number",
        "usable>gross",
        "unknown-key",
        "unknown-section",
        "unsorted-curve",
        "efficiency>1",
        "bad-toml",
    ],
)
def test_bad_profiles_are_refused_naming_file_and_key(
    tmp_path: Path, change: tuple[str, str], fragments: list[str]
) -> None:
    text = GOOD.read_text(encoding="utf-8")
    assert change[0] in text
    bad = tmp_path / "bad-car.toml"
    bad.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_profile(bad)
    message = str(raised.value)
    assert str(bad) in message
    for fragment in fragments:
        assert fragment in message


def test_unknown_packaged_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=DEFAULT_PROFILE):
        load_profile("tesla-roadster-1923")
