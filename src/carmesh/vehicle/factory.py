"""The vehicle provider the settings name, for ``carmesh run`` and ``carmesh provider`` alike."""

from __future__ import annotations

from carmesh.errors import ConfigError
from carmesh.settings import Settings
from carmesh.vehicle.provider import VehicleProvider
from carmesh.vss import Catalog


def make_vehicle(settings: Settings, catalog: Catalog) -> VehicleProvider | None:
    """The vehicle provider ``settings.vehicle`` names, or None for ``none``."""
    if settings.vehicle == "sim":
        from carmesh.vehicle.sim import SimulatedVehicle

        return SimulatedVehicle(
            scenario=settings.scenario,
            time_scale=settings.time_scale,
            seed=settings.seed,
            catalog=catalog,
        )
    if settings.vehicle == "can":
        from carmesh.vehicle.can import CanOptions, create_vehicle

        assert settings.can_mapping is not None  # Settings.load checks it
        return create_vehicle(
            catalog,
            CanOptions(
                dbc=settings.can_dbc,
                mapping=settings.can_mapping,
                interface=settings.can_interface,
                channel=settings.can_channel,
                bus_options={"bitrate": settings.can_bitrate} if settings.can_bitrate else {},
                replay=settings.can_replay,
                replay_speed=settings.can_replay_speed or None,
                replay_loop=settings.can_replay_loop,
            ),
        )
    if settings.vehicle == "none":
        return None
    raise ConfigError(f"unknown vehicle provider {settings.vehicle!r}")
