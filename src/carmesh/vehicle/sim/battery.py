"""The traction battery: state of charge, terminal voltage and current, heat, and range.

Electrical model: an open-circuit voltage that depends on the state of charge (the cell
curve of the profile times the cells in series) behind one internal resistance ``R``.
For a terminal power ``P`` (positive when discharging) the current solves
``P = (OCV − I·R)·I``; the cells give or take ``OCV·I``, so ``I²·R`` is lost as heat both
ways. State of charge is the usable energy left, 0–100 %; at 0 % the car can no longer
drive (the cut-off).

Thermal model: one lumped heat capacity, heated by ``I²·R``, losing heat to the outside air
and, above 25 °C, to a chiller whose electric power is added to the car's auxiliary load.
"""

from __future__ import annotations

import math

from carmesh.vehicle.sim.profile import VehicleProfile

#: Passive heat exchange of the pack with the outside air, W/K.
PASSIVE_COOLING_W_PER_K = 15.0
#: The chiller keeps the pack at or below this temperature, °C.
CHILLER_SETPOINT_C = 25.0
CHILLER_COP = 3.0


class TractionBattery:
    """Energy in kWh, SOC in %, voltage in V, current in A (positive: discharging)."""

    def __init__(
        self, profile: VehicleProfile, *, soc: float = 90.0, temperature_c: float = 20.0
    ) -> None:
        self.profile = profile
        self.capacity_kwh = profile.battery.usable_capacity_kwh
        self.energy_kwh = self.capacity_kwh * min(max(soc, 0.0), 100.0) / 100.0
        self.temperature_c = temperature_c
        self.current = 0.0
        self.voltage = self.open_circuit_voltage()
        self.power = 0.0
        self.heat_w = 0.0
        #: Electric power the chiller needs (W), drawn as an auxiliary load next step.
        self.thermal_management_w = 0.0
        self.consumed_kwh = 0.0
        self.charged_kwh = 0.0
        self.consumed_ah = 0.0
        self.charged_ah = 0.0

    @property
    def soc(self) -> float:
        return 100.0 * self.energy_kwh / self.capacity_kwh

    @soc.setter
    def soc(self, value: float) -> None:
        self.energy_kwh = self.capacity_kwh * min(max(value, 0.0), 100.0) / 100.0

    @property
    def is_empty(self) -> bool:
        return self.energy_kwh <= 0.0

    def open_circuit_voltage(self) -> float:
        b = self.profile.battery
        return b.cells_in_series * b.cell_ocv(self.soc)

    def max_discharge_power(self) -> float:
        """Terminal power in W the pack can give now (0 when empty)."""
        if self.is_empty:
            return 0.0
        ocv = self.open_circuit_voltage()
        return 0.9 * ocv * ocv / (4 * self.profile.battery.internal_resistance_ohm)

    def step(self, power_w: float, dt: float, ambient_c: float) -> None:
        """Draw *power_w* at the terminals (negative: charge) for *dt* seconds."""
        r = self.profile.battery.internal_resistance_ohm
        ocv = self.open_circuit_voltage()
        if power_w > 0.0:
            power_w = min(power_w, self.max_discharge_power())
        discriminant = ocv * ocv - 4 * r * power_w
        current = (ocv - math.sqrt(max(discriminant, 0.0))) / (2 * r)
        self.current = current
        self.voltage = ocv - current * r
        self.power = power_w
        chemical_kwh = ocv * current * dt / 3.6e6
        self.energy_kwh = min(max(self.energy_kwh - chemical_kwh, 0.0), self.capacity_kwh)
        terminal_kwh = power_w * dt / 3.6e6
        amp_hours = abs(current) * dt / 3600
        if power_w >= 0.0:
            self.consumed_kwh += terminal_kwh
            self.consumed_ah += amp_hours
        else:
            self.charged_kwh -= terminal_kwh
            self.charged_ah += amp_hours
        self._heat(current * current * r, dt, ambient_c)

    def _heat(self, heat_w: float, dt: float, ambient_c: float) -> None:
        b = self.profile.battery
        self.heat_w = heat_w
        passive = PASSIVE_COOLING_W_PER_K * (self.temperature_c - ambient_c)
        chiller = max(self.temperature_c - CHILLER_SETPOINT_C, 0.0) * b.cooling_w_per_k
        self.thermal_management_w = chiller / CHILLER_COP
        self.temperature_c += (heat_w - passive - chiller) * dt / b.heat_capacity_j_per_k


class RangeEstimator:
    """Remaining range from the energy left and the recent consumption.

    Consumption (Wh/km at the battery terminals, including the HVAC and auxiliary loads and
    net of recuperation) is averaged over the last ~25 km, starting from the profile's WLTP
    figure; the trip average covers everything since the estimator was made.
    """

    WINDOW_KM = 25.0

    def __init__(self, profile: VehicleProfile) -> None:
        published = profile.published
        self.average_wh_per_km = (
            profile.battery.usable_capacity_kwh * 1000.0 / published.wltp_range_km
        )
        self.trip_wh = 0.0
        self.trip_km = 0.0

    def record(self, energy_wh: float, distance_km: float) -> None:
        self.trip_wh += energy_wh
        self.trip_km += distance_km
        if distance_km > 0.0:
            weight = min(distance_km / self.WINDOW_KM, 1.0)
            rate = energy_wh / distance_km
            self.average_wh_per_km += weight * (rate - self.average_wh_per_km)

    @property
    def trip_wh_per_km(self) -> float:
        return self.trip_wh / self.trip_km if self.trip_km > 0.1 else self.average_wh_per_km

    def range_m(self, energy_kwh: float) -> float:
        return energy_kwh * 1000.0 / max(self.average_wh_per_km, 50.0) * 1000.0
