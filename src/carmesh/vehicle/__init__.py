"""Vehicle providers: the sources of the car's signals (a simulated EV, a CAN bus).

Each implements :class:`VehicleProvider` (see :mod:`carmesh.vehicle.provider`) and talks to
the broker only through a :class:`ProviderLink`.
"""

from carmesh.vehicle.provider import (
    Actuator,
    Connector,
    InProcessConnector,
    ProviderLink,
    VehicleProvider,
)

__all__ = ["Actuator", "Connector", "InProcessConnector", "ProviderLink", "VehicleProvider"]
