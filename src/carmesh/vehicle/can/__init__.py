"""The CAN vehicle provider: CAN frames to VSS signals and actuator targets back to frames.

A DBC (read with cantools) says how frames are laid out; a mapping file in the Eclipse KUKSA
``dbc2vss``/``vss2dbc`` format (:mod:`carmesh.vehicle.can.mapping`) says which DBC signal is
which VSS signal, with transforms and update intervals; a :class:`FrameSource` delivers frames
from a python-can bus (:class:`BusSource`) or a recording (:class:`Replay`).

Build one with :func:`create_vehicle` from :class:`CanOptions`, or from the parts::

    mapping = CanMapping.load("mapping.yaml", ["car.dbc"], catalog)
    vehicle = CanVehicle(mapping, BusSource("socketcan", "can0"))
"""

from carmesh.vehicle.can.bus import BusSource
from carmesh.vehicle.can.counters import CanCounters, ProblemLog
from carmesh.vehicle.can.dbc import CanDatabase
from carmesh.vehicle.can.decoder import FrameDecoder
from carmesh.vehicle.can.encoder import FrameEncoder
from carmesh.vehicle.can.mapping import CanMapping
from carmesh.vehicle.can.options import CanOptions, create_source, create_vehicle
from carmesh.vehicle.can.provider import CanVehicle
from carmesh.vehicle.can.replay import Replay
from carmesh.vehicle.can.source import FrameSource

__all__ = [
    "BusSource",
    "CanCounters",
    "CanDatabase",
    "CanMapping",
    "CanOptions",
    "CanVehicle",
    "FrameDecoder",
    "FrameEncoder",
    "FrameSource",
    "ProblemLog",
    "Replay",
    "create_source",
    "create_vehicle",
]
