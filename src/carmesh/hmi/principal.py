"""The principal the HMI acts as: it reads every signal and actuates what a driver controls
from the screens, never sensors, the odometer, the powertrain or the simulator's faults."""

from __future__ import annotations

from carmesh.broker import Principal

#: Branches (KUKSA patterns) whose actuators the HMI may set.
ACTUATED_BY_HMI: tuple[str, ...] = (
    "Vehicle.Cabin.HVAC",  # climate
    "Vehicle.Cabin.Seat",  # seat position, heating, ventilation, massage
    "Vehicle.Cabin.Door",  # doors, locks, windows, window shades
    "Vehicle.Cabin.IsWindowChildLockEngaged",
    "Vehicle.Cabin.Sunroof",
    "Vehicle.Cabin.RearShade",
    "Vehicle.Cabin.Light",
    "Vehicle.Cabin.RearviewMirror",
    "Vehicle.Cabin.Infotainment.Media",
    "Vehicle.Cabin.Infotainment.Navigation",
    "Vehicle.Cabin.Infotainment.HMI",  # the screens' own settings: units, language, theme
    "Vehicle.Body.Trunk",
    "Vehicle.Body.Lights",
    "Vehicle.Body.Mirrors",
    "Vehicle.Body.Windshield",  # wipers, washer, heating
    "Vehicle.Powertrain.TractionBattery.Charging",  # charge limit, port flap, start/stop, timer
)

#: The HMI's scopes in KUKSA syntax.
HMI_SCOPES = " ".join(["read", *(f"actuate:{pattern}" for pattern in ACTUATED_BY_HMI)])


def hmi_principal(name: str = "hmi") -> Principal:
    """A fresh principal with :data:`HMI_SCOPES`."""
    return Principal.from_scopes(name, HMI_SCOPES)
