"""What ``--vehicle can`` needs to know, and the one function that builds the provider from it.

::

    options = CanOptions(
        dbc=("car.dbc",),
        mapping="car-mapping.yaml",
        interface="socketcan",      # any python-can interface: virtual, pcan, kvaser, slcan…
        channel="can0",
        bus_options={"bitrate": 500000},   # passed to can.Bus, only when the interface needs it
    )
    vehicle = create_vehicle(catalog, options)          # file problems: ConfigError, here
    await vehicle.run(InProcessConnector(broker, principal))

With ``replay="drive.log"`` (``candump -L`` log, ``.asc`` or any python-can log format) the
frames come from that file instead of a bus, at ``replay_speed`` times the recorded pace
(``None``: as fast as possible), again and again with ``replay_loop``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carmesh.vehicle.can.bus import BusSource
from carmesh.vehicle.can.mapping import CanMapping
from carmesh.vehicle.can.provider import CanVehicle
from carmesh.vehicle.can.replay import DEFAULT_MAX_GAP, Replay
from carmesh.vehicle.can.source import FrameSource
from carmesh.vss.catalog import Catalog

__all__ = ["CanOptions", "create_vehicle"]


@dataclass(frozen=True)
class CanOptions:
    """Settings of the CAN provider.

    dbc
        CAN database files (``.dbc``; ``.kcd``, ``.sym`` and ``.arxml`` also work).
    mapping
        The ``dbc2vss``/``vss2dbc`` mapping file (see :mod:`carmesh.vehicle.can.mapping`).
    interface, channel, bus_options
        The python-can bus: ``can.Bus(interface=..., channel=..., **bus_options)``.
        Ignored when *replay* is set.
    replay, replay_speed, replay_loop, replay_max_gap
        Replay a log file instead of reading a bus (see :class:`Replay`).
    log_interval
        Least seconds between two log lines about the same kind of bus problem.
    """

    dbc: str | Path | Sequence[str | Path]
    mapping: str | Path
    interface: str = "socketcan"
    channel: str = "can0"
    bus_options: Mapping[str, Any] = field(default_factory=dict)
    replay: str | Path | None = None
    replay_speed: float | None = 1.0
    replay_loop: bool = False
    replay_max_gap: float | None = DEFAULT_MAX_GAP
    log_interval: float = 10.0


def create_source(options: CanOptions) -> FrameSource:
    """The frame source the options describe (nothing is opened yet)."""
    if options.replay is not None:
        return Replay.from_file(
            options.replay,
            speed=options.replay_speed,
            loop=options.replay_loop,
            max_gap=options.replay_max_gap,
        )
    return BusSource(options.interface, options.channel, options=options.bus_options)


def create_vehicle(catalog: Catalog, options: CanOptions) -> CanVehicle:
    """Load the databases and mapping and build the provider.

    Every problem with the files is raised here, before anything runs, as a
    :class:`carmesh.errors.ConfigError` naming the file and what is wrong. The bus itself is
    opened by :meth:`CanVehicle.run` (``Unavailable`` if it cannot be).
    """
    mapping = CanMapping.load(options.mapping, options.dbc, catalog)
    return CanVehicle(mapping, create_source(options), log_interval=options.log_interval)
