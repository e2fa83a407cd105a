"""A simulated electric car: physics-true driving, energy, charging, cabin and body.

:class:`SimulatedVehicle` is the vehicle provider ``carmesh run`` starts by default
(``--vehicle sim``); :class:`SimulatedCar` is the model itself, advanced step by step, and
:class:`ScenarioRunner` drives it through a scenario. See :mod:`carmesh.vehicle.sim.scenario`
for the scenario file format and the packaged profile for the car's figures and sources.
"""

from carmesh.vehicle.sim.profile import VehicleProfile, load_profile
from carmesh.vehicle.sim.provider import SimulatedVehicle
from carmesh.vehicle.sim.runner import ScenarioRunner
from carmesh.vehicle.sim.scenario import Scenario, default_scenario, load_scenario, parse_scenario
from carmesh.vehicle.sim.vehicle import Gear, SimulatedCar

__all__ = [
    "Gear",
    "Scenario",
    "ScenarioRunner",
    "SimulatedCar",
    "SimulatedVehicle",
    "VehicleProfile",
    "default_scenario",
    "load_profile",
    "load_scenario",
    "parse_scenario",
]
