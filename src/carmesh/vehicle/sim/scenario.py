"""Scenario files: a scripted day of the simulated car, in YAML or TOML.

Example (YAML; TOML has the same keys, with ``[start]`` and ``[[steps]]``)::

    name: Commute and fast charge
    start:
      soc: 35                  # % of the usable battery
      outside_temperature: 8   # °C
      odometer: 12000          # km
    route: default             # or a list of [latitude, longitude, speed limit km/h, altitude m]
    loop: false                # start again after the last step
    steps:
      - drive: wltc            # the WLTC class 3b cycle …
        repeat: 2              # … twice (0: for ever)
      - drive: constant        # a constant-speed run
        speed: 100             # km/h
        duration: 600          # s
      - drive: route           # the route, keeping to its speed limits
      - charge: dc             # or ac
        power: 150             # kW the charger can give
        until: 80              # % state of charge
      - park: 600              # s, switched off
      - fault: tyre-pressure   # or 12v-low, dtc (with code: P0A80)
        wheel: FL
      - set:                   # actuator targets, as an app would set them
          Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature: 22

Errors name the file and, for YAML, the line: ``trip.yaml, line 9: step 3 (charge): …``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from carmesh.errors import CarmeshError, ConfigError
from carmesh.vehicle.sim.charging import ChargerKind
from carmesh.vehicle.sim.faults import check_dtc, check_wheels
from carmesh.vehicle.sim.route import Route, Waypoint, default_route

FAULT_KINDS = ("tyre-pressure", "12v-low", "dtc")
DRIVE_KINDS = ("wltc", "constant", "route")


@dataclass(frozen=True)
class Start:
    soc: float = 80.0
    outside_temperature: float = 12.0
    odometer: float = 12_000.0


@dataclass(frozen=True)
class Drive:
    cycle: str
    repeat: int = 1
    speed: float = 0.0
    duration: float = 0.0


@dataclass(frozen=True)
class Charge:
    kind: ChargerKind
    power: float
    until: float


@dataclass(frozen=True)
class Park:
    duration: float


@dataclass(frozen=True)
class Fault:
    kind: str
    wheel: str = "FL"
    code: str = ""


@dataclass(frozen=True)
class SetTargets:
    targets: dict[str, Any]


Step = Drive | Charge | Park | Fault | SetTargets


@dataclass(frozen=True)
class Scenario:
    name: str
    start: Start = field(default_factory=Start)
    steps: tuple[Step, ...] = ()
    route: Route = field(default_factory=default_route)
    loop: bool = False
    source: str = ""


class _Located(dict[str, Any]):
    """A YAML mapping that remembers its line and the line of each key."""

    line: int | None = None
    lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Located:
    mapping = _Located({str(k): v for k, v in loader.construct_mapping(node, deep=True).items()})
    mapping.line = node.start_mark.line + 1
    mapping.lines = {
        str(k.value): k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.Node)
    }
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Errors:
    """Builds error messages that name the file and, when known, the line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __call__(self, message: str, where: Any = None, key: str | None = None) -> ConfigError:
        line = None
        if isinstance(where, _Located):
            line = where.lines.get(key, where.line) if key else where.line
        place = f"{self.source}, line {line}" if line else self.source
        return ConfigError(f"{place}: {message}")


def default_scenario() -> Scenario:
    """The car a new user sees: WLTC cycles around Gothenburg, a fast charge, a short park,
    and again."""
    text = (resources.files("carmesh.vehicle.sim") / "data" / "default-scenario.yaml").read_text(
        encoding="utf-8"
    )
    return parse_scenario(text, "default-scenario.yaml")


def load_scenario(path: Path) -> Scenario:
    """Read a scenario file (``.toml``, else YAML); ConfigError names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the scenario file {path}: {exc.strerror}") from None
    return parse_scenario(text, str(path), toml=path.suffix.lower() == ".toml")


def parse_scenario(text: str, source: str = "<scenario>", *, toml: bool = False) -> Scenario:
    error = _Errors(source)
    data: Any
    if toml:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    else:
        try:
            data = yaml.load(text, Loader=_LineLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "cannot be parsed"
            raise ConfigError(f"{source}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise error("a scenario must be a mapping with 'steps' (and optionally 'start')")
    _no_unknown(data, ("name", "start", "steps", "route", "loop"), "the scenario", error)
    start = _start(data.get("start", {}), error)
    route = _route(data, error)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise error("'steps' must be a non-empty list", data, "steps")
    steps = tuple(_step(i, raw, error) for i, raw in enumerate(raw_steps, start=1))
    loop = data.get("loop", False)
    if not isinstance(loop, bool):
        raise error("'loop' must be true or false", data, "loop")
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str):
        raise error("'name' must be text", data, "name")
    return Scenario(name, start, steps, route, loop, source)


def _no_unknown(raw: dict[str, Any], known: tuple[str, ...], what: str, error: _Errors) -> None:
    for key in raw:
        if key not in known:
            raise error(f"unknown key {key!r} in {what}; known: {', '.join(known)}", raw, key)


def _number(
    raw: dict[str, Any], key: str, what: str, error: _Errors, low: float, high: float
) -> float:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise error(f"{what}: '{key}' must be a number, got {value!r}", raw, key)
    if not low <= value <= high:
        raise error(f"{what}: '{key}' must be between {low:g} and {high:g}, got {value}", raw, key)
    return float(value)


def _start(raw: Any, error: _Errors) -> Start:
    if not isinstance(raw, dict):
        raise error("'start' must be a mapping")
    _no_unknown(raw, ("soc", "outside_temperature", "odometer"), "'start'", error)
    limits = {"soc": (0, 100), "outside_temperature": (-40, 50), "odometer": (0, 2_000_000)}
    values = {k: _number(raw, k, "start", error, *limits[k]) for k in raw}
    return Start(**values)


def _route(data: dict[str, Any], error: _Errors) -> Route:
    raw = data.get("route", "default")
    if raw == "default":
        return default_route()
    if not isinstance(raw, list) or len(raw) < 2:
        raise error("'route' must be 'default' or a list of at least two waypoints", data, "route")
    points = []
    for item in raw:
        ok = (
            isinstance(item, list)
            and len(item) in (3, 4)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item)
        )
        if not ok or not (-90 <= item[0] <= 90 and -180 <= item[1] <= 180 and item[2] > 0):
            raise error(
                "each route waypoint must be [latitude, longitude, speed limit km/h] or "
                f"[latitude, longitude, speed limit km/h, altitude m], got {item!r}",
                data,
                "route",
            )
        points.append(Waypoint(*(float(v) for v in item)))
    try:
        return Route("scenario route", points, loop=bool(data.get("loop", False)))
    except ValueError as exc:
        raise error(str(exc), data, "route") from None


def _step(index: int, raw: Any, error: _Errors) -> Step:
    if not isinstance(raw, dict) or not raw:
        raise error(f"step {index} must be a mapping such as 'drive: wltc'")
    kinds = [k for k in ("drive", "charge", "park", "fault", "set") if k in raw]
    if len(kinds) != 1:
        raise error(f"step {index} must have exactly one of drive, charge, park, fault, set", raw)
    kind = kinds[0]
    what = f"step {index} ({kind})"
    if kind == "drive":
        _no_unknown(raw, ("drive", "repeat", "speed", "duration"), what, error)
        cycle = raw["drive"]
        if cycle not in DRIVE_KINDS:
            raise error(f"{what}: unknown drive {cycle!r}; use {', '.join(DRIVE_KINDS)}", raw, kind)
        repeat = raw.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
            raise error(f"{what}: 'repeat' must be a whole number ≥ 0", raw, "repeat")
        if cycle == "constant":
            for key in ("speed", "duration"):
                if key not in raw:
                    raise error(f"{what}: a constant drive needs '{key}'", raw)
            speed = _number(raw, "speed", what, error, 1, 250)
            duration = _number(raw, "duration", what, error, 1, 86_400)
            needed = 2 * speed / 3.6 / 1.5
            if duration < needed:
                raise error(
                    f"{what}: {duration:g} s is too short to reach {speed:g} km/h and stop "
                    f"again (needs at least {needed:.0f} s)",
                    raw,
                    "duration",
                )
            return Drive(cycle, repeat, speed, duration)
        return Drive(cycle, repeat)
    if kind == "charge":
        _no_unknown(raw, ("charge", "power", "until"), what, error)
        try:
            charger = ChargerKind(str(raw["charge"]).lower())
        except ValueError:
            raise error(
                f"{what}: unknown charger {raw['charge']!r}; use ac or dc", raw, kind
            ) from None
        power = _number(raw, "power", what, error, 1, 1000) if "power" in raw else None
        until = _number(raw, "until", what, error, 1, 100) if "until" in raw else 80.0
        default_power = 150.0 if charger is ChargerKind.DC else 11.0
        return Charge(charger, power or default_power, until)
    if kind == "park":
        _no_unknown(raw, ("park",), what, error)
        return Park(_number(raw, "park", what, error, 0, 7 * 86_400))
    if kind == "fault":
        _no_unknown(raw, ("fault", "wheel", "code"), what, error)
        fault = raw["fault"]
        if fault not in FAULT_KINDS:
            raise error(f"{what}: unknown fault {fault!r}; use {', '.join(FAULT_KINDS)}", raw, kind)
        try:
            wheel = check_wheels([str(raw.get("wheel", "FL"))])[0]
            code = check_dtc(str(raw["code"])) if fault == "dtc" and "code" in raw else ""
        except CarmeshError as exc:
            raise error(f"{what}: {exc}", raw) from None
        if fault == "dtc" and not code:
            raise error(f"{what}: a dtc fault needs 'code', e.g. code: P0A80", raw)
        return Fault(fault, wheel, code)
    targets = raw["set"]
    _no_unknown(raw, ("set",), what, error)
    if not isinstance(targets, dict) or not targets:
        raise error(f"{what}: 'set' must map actuator paths to target values", raw, kind)
    return SetTargets(dict(targets))
