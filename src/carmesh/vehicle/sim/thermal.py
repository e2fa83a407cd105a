"""The cabin's climate: a one-node thermal model heated or cooled by the HVAC.

The cabin (air and interior, one heat capacity) loses heat to the outside through the body
and glass and gains the HVAC's heat flow plus the occupants'. The HVAC runs while a front
fan speed is above 0: it pushes the cabin towards the mean of the front set points with a
heat flow proportional to the error, limited by its heating and cooling capacity and by the
blower speed; cooling needs the A/C on. It knows the losses at the set point and supplies
them too, so the cabin settles on the set point rather than short of it. Its electric power
is the heat flow divided by the heat pump's (or the A/C's) coefficient of performance, plus
the blower; below −10 °C the heat pump gives way to a resistive heater (COP 1). Seat
heating, mirror heating and the rear defroster add their own loads.
"""

from __future__ import annotations

from carmesh.vehicle.sim.profile import VehicleProfile

#: Heat flow the HVAC asks for per kelvin of error, W/K.
HVAC_GAIN_W_PER_K = 800.0
OCCUPANT_HEAT_W = 100.0
HEAT_PUMP_MIN_OUTSIDE_C = -10.0
SEAT_HEATER_W = 75.0
MIRROR_HEATER_W = 30.0
REAR_DEFROSTER_W = 400.0


class CabinClimate:
    """Cabin temperature in °C and the HVAC's settings and electric power."""

    def __init__(self, profile: VehicleProfile, *, temperature_c: float = 20.0) -> None:
        self.profile = profile
        self.temperature_c = temperature_c
        self.setpoints = {"Driver": 21.0, "Passenger": 21.0}
        self.fan_speeds = {"Driver": 40, "Passenger": 40}
        self.air_distribution = {"Driver": "MIDDLE", "Passenger": "MIDDLE"}
        self.ac_active = True
        self.recirculation = False
        self.front_defroster = False
        self.rear_defroster = False
        self.heat_flow_w = 0.0
        self.hvac_power_w = 0.0
        #: Seat heating/cooling levels, −100..100 %, by seat name; mirror heating flags.
        self.seat_levels: dict[str, int] = {}
        self.mirror_heating = 0

    @property
    def is_on(self) -> bool:
        return max(self.fan_speeds.values()) > 0 or self.front_defroster

    @property
    def setpoint_c(self) -> float:
        return sum(self.setpoints.values()) / len(self.setpoints)

    def step(self, dt: float, outside_c: float, *, occupants: int = 1) -> float:
        """Advance *dt* seconds; returns the electric power of climate loads in W."""
        cabin = self.profile.cabin
        heat = 0.0
        power = 0.0
        if self.is_on:
            fan = max(max(self.fan_speeds.values()), 60 if self.front_defroster else 0) / 100
            capacity = 0.3 + 0.7 * fan
            conductance = cabin.conductance_w_per_k * (0.8 if self.recirculation else 1.0)
            losses = conductance * (self.setpoint_c - outside_c) - occupants * OCCUPANT_HEAT_W
            demand = losses + HVAC_GAIN_W_PER_K * (self.setpoint_c - self.temperature_c)
            cooling_max = cabin.max_cooling_w if self.ac_active else 0.0
            heat = min(max(demand, -cooling_max * capacity), cabin.max_heating_w * capacity)
            if heat >= 0.0:
                cop = cabin.heat_pump_cop if outside_c > HEAT_PUMP_MIN_OUTSIDE_C else 1.0
            else:
                cop = cabin.cooling_cop
            power = abs(heat) / cop + cabin.blower_power_w * fan**3
        self.heat_flow_w = heat
        self.hvac_power_w = power
        conductance = cabin.conductance_w_per_k * (0.8 if self.recirculation else 1.0)
        loss = conductance * (self.temperature_c - outside_c)
        gain = heat + occupants * OCCUPANT_HEAT_W - loss
        self.temperature_c += gain * dt / cabin.heat_capacity_j_per_k
        extras = sum(SEAT_HEATER_W * abs(level) / 100 for level in self.seat_levels.values())
        extras += MIRROR_HEATER_W * self.mirror_heating
        extras += REAR_DEFROSTER_W if self.rear_defroster else 0.0
        return power + extras
