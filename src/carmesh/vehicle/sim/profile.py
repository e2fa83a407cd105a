"""Vehicle profiles: the published figures of one car, read from a TOML file.

A profile holds what the simulation needs to behave like a real car: masses, dimensions,
aerodynamics, motor and battery figures, the DC charging curve and the published results
the simulation is validated against (WLTP range, 10→80 % DC time). The packaged profile is
a Polestar 2 Long Range Dual Motor; :func:`load_profile` reads it or any other file of the
same shape. Every error names the file and the key at fault.
"""

from __future__ import annotations

import bisect
import itertools
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from carmesh.errors import ConfigError

#: The profile used when none is given.
DEFAULT_PROFILE = "polestar-2-lrdm-2021"


@dataclass(frozen=True)
class Curve:
    """A piecewise-linear function through sorted (x, y) points, flat beyond the ends."""

    points: tuple[tuple[float, float], ...]

    def __call__(self, x: float) -> float:
        xs = [p[0] for p in self.points]
        i = bisect.bisect_right(xs, x)
        if i == 0:
            return self.points[0][1]
        if i == len(self.points):
            return self.points[-1][1]
        (x0, y0), (x1, y1) = self.points[i - 1], self.points[i]
        return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class VehicleSection:
    name: str
    brand: str
    model: str
    model_year: int
    length_mm: int
    width_mm: int
    height_mm: int
    wheelbase_mm: int
    width_with_mirrors_mm: int
    kerb_mass_kg: float
    gross_mass_kg: float
    payload_kg: float
    max_speed_kmh: float


@dataclass(frozen=True)
class BodySection:
    drag_coefficient: float
    frontal_area_m2: float
    rolling_resistance: float
    rotational_mass_factor: float
    wheel_radius_m: float


@dataclass(frozen=True)
class PowertrainSection:
    motor_power_kw: float
    motor_torque_nm: float
    gear_ratio: float
    drivetrain_efficiency: float
    regen_efficiency: float
    regen_power_kw: float
    auxiliary_power_w: float


@dataclass(frozen=True)
class BatterySection:
    gross_capacity_kwh: float
    usable_capacity_kwh: float
    cells_in_series: int
    nominal_voltage_v: float
    cell_ocv: Curve
    internal_resistance_ohm: float
    heat_capacity_j_per_k: float
    cooling_w_per_k: float
    max_temperature_c: float


@dataclass(frozen=True)
class ChargingSection:
    ac_power_kw: float
    ac_efficiency: float
    dc_power_kw: float
    dc_curve: Curve
    dc_efficiency: float


@dataclass(frozen=True)
class PublishedSection:
    wltp_range_km: float
    dc_10_80_minutes: float


@dataclass(frozen=True)
class CabinSection:
    heat_capacity_j_per_k: float
    conductance_w_per_k: float
    max_heating_w: float
    max_cooling_w: float
    heat_pump_cop: float
    cooling_cop: float
    blower_power_w: float


@dataclass(frozen=True)
class ActuatorSection:
    window_travel_s: float
    door_travel_s: float
    trunk_travel_s: float
    mirror_fold_s: float
    seat_speed_mm_s: float
    seat_travel_mm: float
    trunk_max_speed_kmh: float
    door_max_speed_kmh: float


@dataclass(frozen=True)
class VehicleProfile:
    """One car's figures; see the packaged TOML file for units and sources."""

    source: str
    vehicle: VehicleSection
    body: BodySection
    powertrain: PowertrainSection
    battery: BatterySection
    charging: ChargingSection
    published: PublishedSection
    cabin: CabinSection
    actuators: ActuatorSection

    @property
    def title(self) -> str:
        return f"{self.vehicle.name} ({self.vehicle.model_year})"

    @property
    def test_mass_kg(self) -> float:
        return self.vehicle.kerb_mass_kg + self.vehicle.payload_kg


_SECTIONS: dict[str, type[Any]] = {
    "vehicle": VehicleSection,
    "body": BodySection,
    "powertrain": PowertrainSection,
    "battery": BatterySection,
    "charging": ChargingSection,
    "published": PublishedSection,
    "cabin": CabinSection,
    "actuators": ActuatorSection,
}

_S = TypeVar("_S")


def packaged_profiles() -> list[str]:
    """Names of the profiles shipped with carmesh."""
    folder = resources.files("carmesh.vehicle.sim") / "profiles"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_profile(source: str | Path | None = None) -> VehicleProfile:
    """Load a packaged profile by name (default :data:`DEFAULT_PROFILE`) or a TOML file.

    Raises :class:`ConfigError` naming the file and key for a missing file, bad TOML, a
    missing or unknown key, a value of the wrong kind or a curve that is not sorted.
    """
    name = str(source) if source is not None else DEFAULT_PROFILE
    if source is not None and (Path(name).suffix == ".toml" or Path(name).exists()):
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the vehicle profile {path}: {exc.strerror}") from None
        where = str(path)
    else:
        if name not in packaged_profiles():
            known = ", ".join(packaged_profiles())
            raise ConfigError(f"no packaged vehicle profile {name!r}; choose one of {known}")
        resource = resources.files("carmesh.vehicle.sim") / "profiles" / f"{name}.toml"
        text = resource.read_text(encoding="utf-8")
        where = f"{name}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the vehicle profile {where} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"{where}: unknown section [{unknown[0]}]")
    sections = {key: _section(where, key, data.get(key), cls) for key, cls in _SECTIONS.items()}
    profile = VehicleProfile(source=where, **sections)
    _check(where, profile)
    return profile


def _section(where: str, key: str, raw: Any, cls: type[_S]) -> _S:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: missing section [{key}]")
    values: dict[str, Any] = {}
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    extra = sorted(set(raw) - names)
    if extra:
        raise ConfigError(f"{where}: unknown key {key}.{extra[0]}")
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in raw:
            raise ConfigError(f"{where}: missing key {key}.{f.name}")
        value = raw[f.name]
        label = f"{key}.{f.name}"
        if f.type == "str":
            if not isinstance(value, str):
                raise ConfigError(f"{where}: {label} must be text")
        elif f.type == "Curve":
            value = _curve(where, label, value)
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where}: {label} must be a number, got {value!r}")
            if f.type == "int":
                if not isinstance(value, int):
                    raise ConfigError(f"{where}: {label} must be a whole number")
            elif value < 0:
                raise ConfigError(f"{where}: {label} must not be negative")
            value = int(value) if f.type == "int" else float(value)
        values[f.name] = value
    return cls(**values)


def _curve(where: str, label: str, raw: Any) -> Curve:
    if not isinstance(raw, list) or len(raw) < 2:
        raise ConfigError(f"{where}: {label} must be a list of at least two [x, y] points")
    points: list[tuple[float, float]] = []
    for item in raw:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in item)
        ):
            raise ConfigError(f"{where}: {label}: each point must be [x, y], got {item!r}")
        points.append((float(item[0]), float(item[1])))
    if any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
        raise ConfigError(f"{where}: {label}: points must be sorted by x without repeats")
    return Curve(tuple(points))


def _check(where: str, profile: VehicleProfile) -> None:
    b = profile.battery
    if not 0 < b.usable_capacity_kwh <= b.gross_capacity_kwh:
        raise ConfigError(f"{where}: battery.usable_capacity_kwh must be in 0..gross capacity")
    for label, value in (
        ("powertrain.drivetrain_efficiency", profile.powertrain.drivetrain_efficiency),
        ("powertrain.regen_efficiency", profile.powertrain.regen_efficiency),
        ("charging.ac_efficiency", profile.charging.ac_efficiency),
        ("charging.dc_efficiency", profile.charging.dc_efficiency),
    ):
        if not 0 < value <= 1:
            raise ConfigError(f"{where}: {label} must be in (0, 1]")
    for label, curve in (
        ("battery.cell_ocv", b.cell_ocv),
        ("charging.dc_curve", profile.charging.dc_curve),
    ):
        if curve.points[0][0] > 0 or curve.points[-1][0] < 100:
            raise ConfigError(f"{where}: {label} must cover SOC 0 to 100 %")
