"""Rules the car's screens and apps obey; :mod:`carmesh.rules.distraction` holds the
driver-distraction rules shared by the HMI and the apps platform."""

from carmesh.rules.distraction import (
    MOVING_RULES,
    PARKED_RULES,
    DrivingState,
    DrivingWatcher,
    Rules,
    derive,
    next_moving,
    rules_for,
)

__all__ = [
    "MOVING_RULES",
    "PARKED_RULES",
    "DrivingState",
    "DrivingWatcher",
    "Rules",
    "derive",
    "next_moving",
    "rules_for",
]
