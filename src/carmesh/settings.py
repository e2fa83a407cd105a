"""One typed settings object, read from defaults, a TOML file, ``CARMESH_*`` variables and
command-line options, in increasing order of precedence.

The defaults make an embedded car: the packaged VSS 6.0 catalog, a per-user data directory,
everything on loopback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from carmesh.errors import ConfigError

#: Attributes and actuator targets kept across restarts unless configured otherwise.
DEFAULT_PERSIST: tuple[str, ...] = (
    "Vehicle.VehicleIdentification",
    "Vehicle.Cabin.Seat",
    "Vehicle.Cabin.HVAC",
    "Vehicle.Cabin.Light",
    "Vehicle.Cabin.Infotainment",
    "Vehicle.Body.Mirrors",
    "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit",
)


#: Vehicle providers ``--vehicle`` accepts.
VEHICLES = ("sim", "can", "none")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("carmesh", appauthor=False))


def default_media_library() -> list[Path]:
    """``~/Music`` when it exists, else nothing."""
    music = Path.home() / "Music"
    return [music] if music.is_dir() else []


#: Kinds of audio outputs (``docs/media.md``, "Engine"): ``auto``, ``null``, ``wav:PATH``,
#: ``alsa`` or ``alsa:DEVICE``, ``pulse``.
AUDIO_OUTPUTS = ("auto", "null", "wav", "alsa", "pulse")


@dataclass
class Settings:
    """Everything a carmesh process needs to know to start."""

    #: Where the broker's database and other state live.
    data_dir: Path = field(default_factory=default_data_dir)
    #: A packaged VSS release ("6.0", "4.0") or the path of a VSS JSON export.
    vss: str = "6.0"
    #: Overlay files (JSON or YAML) applied in order on top of the catalog.
    overlays: list[Path] = field(default_factory=list)
    #: Patterns of attributes and actuators whose values/targets survive a restart.
    persist: list[str] = field(default_factory=lambda: list(DEFAULT_PERSIST))
    #: Seconds a provider has to answer an actuation request.
    actuation_timeout: float = 5.0
    #: Where the KUKSA/Velocitas gRPC API listens ("HOST:PORT", port 0 picks one; "off").
    grpc: str = "127.0.0.1:55555"
    #: Where the HMI's pages, JSON API and WebSocket listen ("HOST:PORT", port 0 picks one;
    #: "off").
    http: str = "127.0.0.1:8080"
    #: PEM public key that verifies bearer tokens; None accepts every caller.
    jwt_public_key: Path | None = None
    #: Serve gRPC without tokens, or the HMI (which has none), on a non-loopback address
    #: (refused otherwise).
    insecure: bool = False
    #: TLS server certificate and key (PEM); with a client CA, clients must present certificates.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    #: The vehicle provider: "sim" (a simulated EV), "can" (a CAN bus) or "none".
    vehicle: str = "sim"
    #: Simulated seconds per real second (the simulated vehicle).
    time_scale: float = 1.0
    #: Seed that makes a simulated run repeatable; None draws one (shown in the banner).
    seed: int | None = None
    #: Scenario file (YAML or TOML) the simulated vehicle follows; None: the default drive.
    scenario: Path | None = None
    #: CAN databases (DBC…) and the dbc2vss/vss2dbc mapping (``--vehicle can``).
    can_dbc: list[Path] = field(default_factory=list)
    can_mapping: Path | None = None
    #: The python-can bus: interface name, channel, and bitrate where the interface needs it.
    can_interface: str = "socketcan"
    can_channel: str = "can0"
    can_bitrate: int | None = None
    #: Replay a log (candump, ASC…) instead of a bus, at this speed (0: as fast as possible).
    can_replay: Path | None = None
    can_replay_speed: float = 1.0
    can_replay_loop: bool = False
    #: Run installed apps (the apps platform: registry, supervisor, app host).
    apps: bool = True
    #: Publisher public keys (files written by ``carmesh app keygen``) the car trusts at start.
    app_trusted_keys: list[Path] = field(default_factory=list)
    #: Integrator policy (TOML) that pre-grants or denies app permissions at install.
    app_policy: Path | None = None
    #: Ceilings of every app process: address space (MiB), CPU seconds, open files. A manifest
    #: may ask for less, never more.
    app_memory_mb: int = 1024
    app_cpu_seconds: int | None = None
    app_open_files: int = 256
    #: Crash-loop quarantine: this many crashes within the window (seconds) stop restarts.
    app_crash_limit: int = 5
    app_crash_window: float = 600.0
    #: Restart backoff: first delay and ceiling (seconds), doubling in between.
    app_backoff: float = 1.0
    app_backoff_max: float = 60.0
    #: An MQTT broker (Debian's Mosquitto) for Velocitas apps, "HOST:PORT"; "off": none.
    mqtt: str = "off"
    #: The virtualenv holding velocitas-sdk that runs apps with ``runtime = "velocitas"``.
    velocitas_venv: Path | None = None
    #: Run the media service (sessions, audio engine, library, radio, podcasts).
    media: bool = True
    #: Folders of music files the library scans (default ``~/Music`` when it exists).
    media_library: list[Path] = field(default_factory=default_media_library)
    #: Where the driver zone's audio goes: ``auto``, ``null``, ``wav:PATH``, ``alsa[:DEVICE]``,
    #: ``pulse``.
    audio_out: str = "auto"
    #: The rear-seat zone's audio output, as ``audio_out``; ``off``: no rear zone.
    audio_out_rear: str = "off"
    #: Radio stations (TOML, ``[[station]] id, name, url, genre``); None: the packaged list.
    radio_stations: Path | None = None
    #: How far (dB, negative) media is ducked under a navigation prompt or a notification.
    duck_db: float = -12.0
    #: Length (ms) of the gain ramps of volume changes, ducking and pauses.
    audio_ramp_ms: float = 20.0

    @property
    def database(self) -> Path:
        return self.data_dir / "signals.db"

    @classmethod
    def load(
        cls,
        config: Path | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings; *overrides* with value None are ignored (unset CLI options).

        Raises :class:`ConfigError` for an unreadable file, unknown keys or bad values.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        config = config or (Path(env["CARMESH_CONFIG"]) if env.get("CARMESH_CONFIG") else None)
        if config is not None:
            values.update(_read_toml(config))
        values.update(_read_env(env))
        values.update({k: v for k, v in overrides.items() if v is not None and v != []})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
        converted: dict[str, Any] = {}
        for key, value in values.items():
            try:
                converted[key] = _CONVERTERS[key](value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"invalid setting {key} = {value!r}: {exc}") from None
        settings = cls(**converted)
        if settings.actuation_timeout <= 0:
            raise ConfigError("actuation_timeout must be a positive number of seconds")
        if (settings.tls_cert is None) != (settings.tls_key is None):
            raise ConfigError("TLS needs both a certificate and a key (--tls-cert, --tls-key)")
        if settings.tls_client_ca is not None and settings.tls_cert is None:
            raise ConfigError("a TLS client CA needs a server certificate and key too")
        if settings.vehicle not in VEHICLES:
            raise ConfigError(
                f"unknown vehicle {settings.vehicle!r}; choose one of {', '.join(VEHICLES)}"
            )
        if not 0 < settings.time_scale <= 10_000:
            raise ConfigError("time_scale must be a number above 0 and at most 10000")
        if settings.vehicle == "can" and (not settings.can_dbc or settings.can_mapping is None):
            raise ConfigError(
                "the CAN provider needs a CAN database and a mapping: "
                "--can-dbc FILE --can-mapping FILE"
            )
        if settings.can_replay_speed < 0:
            raise ConfigError("can_replay_speed must be 0 (as fast as possible) or more")
        if settings.app_memory_mb < 64 or settings.app_open_files < 16:
            raise ConfigError("app_memory_mb must be at least 64 and app_open_files at least 16")
        if settings.app_cpu_seconds is not None and settings.app_cpu_seconds < 1:
            raise ConfigError("app_cpu_seconds must be a whole number of seconds, 1 or more")
        if settings.app_crash_limit < 1 or settings.app_crash_window <= 0:
            raise ConfigError("app_crash_limit must be 1 or more and app_crash_window positive")
        if not 0 < settings.app_backoff <= settings.app_backoff_max:
            raise ConfigError("app_backoff must be positive and at most app_backoff_max")
        _check_audio_out("audio_out", settings.audio_out, off=False)
        _check_audio_out("audio_out_rear", settings.audio_out_rear, off=True)
        if not -60.0 <= settings.duck_db <= 0.0:
            raise ConfigError("duck_db must be a number of decibels from -60 to 0")
        if not 0.0 <= settings.audio_ramp_ms <= 1000.0:
            raise ConfigError("audio_ramp_ms must be a number of milliseconds from 0 to 1000")
        return settings


def _check_audio_out(name: str, spec: str, *, off: bool) -> None:
    """Raise :class:`ConfigError` unless *spec* names an audio output (or ``off``)."""
    if off and spec == "off":
        return
    kind, colon, rest = spec.partition(":")
    if kind in AUDIO_OUTPUTS and (
        (not colon and kind != "wav") or (colon and rest and kind in ("wav", "alsa"))
    ):
        return
    choices = "auto, null, wav:PATH, alsa, alsa:DEVICE, pulse" + (", off" if off else "")
    raise ConfigError(f"{name} {spec!r} is not an audio output; use one of {choices}")


def _text(value: Any) -> str:
    if not isinstance(value, str | Path):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return str(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return list(value)


def _path(value: Any) -> Path:
    return Path(_text(value)).expanduser()


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
    ):
        return value.lower() in ("1", "true", "yes", "on")
    raise TypeError("expected true or false")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number")
    return float(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError("expected a whole number")
    return int(value)


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number of seconds")
    return float(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "data_dir": _path,
    "vss": _text,
    "overlays": lambda v: [_path(p) for p in _list(v)],
    "persist": lambda v: [_text(p) for p in _list(v)],
    "actuation_timeout": _seconds,
    "grpc": _text,
    "http": _text,
    "jwt_public_key": _path,
    "insecure": _flag,
    "tls_cert": _path,
    "tls_key": _path,
    "tls_client_ca": _path,
    "vehicle": lambda v: _text(v).lower(),
    "time_scale": _number,
    "seed": _whole,
    "scenario": _path,
    "can_dbc": lambda v: [_path(p) for p in _list(v)],
    "can_mapping": _path,
    "can_interface": _text,
    "can_channel": _text,
    "can_bitrate": _whole,
    "can_replay": _path,
    "can_replay_speed": _number,
    "can_replay_loop": _flag,
    "apps": _flag,
    "app_trusted_keys": lambda v: [_path(p) for p in _list(v)],
    "app_policy": _path,
    "app_memory_mb": _whole,
    "app_cpu_seconds": _whole,
    "app_open_files": _whole,
    "app_crash_limit": _whole,
    "app_crash_window": _seconds,
    "app_backoff": _seconds,
    "app_backoff_max": _seconds,
    "mqtt": _text,
    "velocitas_venv": _path,
    "media": _flag,
    "media_library": lambda v: [_path(p) for p in _list(v)],
    "audio_out": _text,
    "audio_out_rear": _text,
    "radio_stations": _path,
    "duck_db": _number,
    "audio_ramp_ms": _number,
}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None
    return {k.replace("-", "_"): v for k, v in data.items()}


def _read_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if env.get("CARMESH_DATA_DIR"):
        values["data_dir"] = env["CARMESH_DATA_DIR"]
    if env.get("CARMESH_VSS"):
        values["vss"] = env["CARMESH_VSS"]
    if env.get("CARMESH_OVERLAYS"):
        values["overlays"] = [p for p in env["CARMESH_OVERLAYS"].split(os.pathsep) if p]
    if env.get("CARMESH_CAN_DBC"):
        values["can_dbc"] = [p for p in env["CARMESH_CAN_DBC"].split(os.pathsep) if p]
    if env.get("CARMESH_APP_TRUSTED_KEYS"):
        values["app_trusted_keys"] = [
            p for p in env["CARMESH_APP_TRUSTED_KEYS"].split(os.pathsep) if p
        ]
    if env.get("CARMESH_MEDIA_LIBRARY"):
        values["media_library"] = [p for p in env["CARMESH_MEDIA_LIBRARY"].split(os.pathsep) if p]
    if env.get("CARMESH_PERSIST"):
        values["persist"] = env["CARMESH_PERSIST"].split()
    for key in (
        "actuation_timeout",
        "grpc",
        "http",
        "jwt_public_key",
        "insecure",
        "tls_cert",
        "tls_key",
        "tls_client_ca",
        "vehicle",
        "time_scale",
        "seed",
        "scenario",
        "can_mapping",
        "can_interface",
        "can_channel",
        "can_bitrate",
        "can_replay",
        "can_replay_speed",
        "can_replay_loop",
        "apps",
        "app_policy",
        "app_memory_mb",
        "app_cpu_seconds",
        "app_open_files",
        "app_crash_limit",
        "app_crash_window",
        "app_backoff",
        "app_backoff_max",
        "mqtt",
        "velocitas_venv",
        "media",
        "audio_out",
        "audio_out_rear",
        "radio_stations",
        "duck_db",
        "audio_ramp_ms",
    ):
        if env.get(f"CARMESH_{key.upper()}"):
            values[key] = env[f"CARMESH_{key.upper()}"]
    return values
