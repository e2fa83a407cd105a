"""The VSS signals the simulated car publishes, grouped by how often a real car sends them.

- :func:`fast_values` — driving dynamics and electrical power, every publishing tick
  (10 Hz at real time);
- :func:`slow_values` — state of charge, temperatures, range, odometer, position, charging,
  tyres and diagnostics, once a simulated second;
- :func:`state_values` — actuators' current values and switches, sent when they change;
- :func:`attribute_values` — the car's fixed facts, sent once.

Values are rounded to what the VSS datatype holds (integers for ``uint8`` positions,
``uint32`` metres, …).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from carmesh.vehicle.sim.vehicle import CHARGE_PORTS, CHARGING, HVAC, Gear, SimulatedCar

BATTERY = "Vehicle.Powertrain.TractionBattery"
MOTOR = "Vehicle.Powertrain.ElectricMotor"
CARMESH = "Vehicle.Carmesh"
_M_PER_DEG = 111_320.0


def _uint(value: float, top: int) -> int:
    return min(max(round(value), 0), top)


def _int16(value: float) -> int:
    return min(max(round(value), -32768), 32767)


def fast_values(car: SimulatedCar) -> dict[str, Any]:
    d = car.last
    battery = car.battery
    speed = car.speed_kmh
    wheel_kmh = round(speed, 2)
    out: dict[str, Any] = {
        "Vehicle.Speed": round(speed, 2),
        "Vehicle.IsMoving": speed > 0.0,
        "Vehicle.Acceleration.Longitudinal": round(d.acceleration, 3),
        f"{MOTOR}.Power": _int16(d.drive_power / 1000.0),
        f"{MOTOR}.Torque": _int16(d.motor_torque),
        f"{MOTOR}.Speed": round(d.motor_speed_rpm, 1),
        f"{BATTERY}.CurrentPower": round(battery.power, 1),
        f"{BATTERY}.CurrentCurrent": round(battery.current, 2),
        f"{BATTERY}.CurrentVoltage": round(battery.voltage, 2),
    }
    for axle in ("Row1", "Row2"):
        for side in ("Left", "Right"):
            out[f"Vehicle.Chassis.Axle.{axle}.Wheel.{side}.Speed"] = wheel_kmh
    return out


def slow_values(car: SimulatedCar, *, now: datetime | None = None) -> dict[str, Any]:
    battery = car.battery
    cabin = car.cabin
    soc = battery.soc
    range_m = car.range.range_m(battery.energy_kwh)
    spread = 0.8 + abs(battery.current) / 400.0
    out: dict[str, Any] = {
        f"{BATTERY}.StateOfCharge.Current": round(soc, 2),
        f"{BATTERY}.StateOfCharge.Displayed": round(soc),
        f"{BATTERY}.StateOfCharge.CurrentEnergy": round(battery.energy_kwh, 3),
        f"{BATTERY}.NetCapacity": round(battery.capacity_kwh),
        f"{BATTERY}.StateOfHealth": 97.0,
        f"{BATTERY}.Temperature.Average": round(battery.temperature_c, 1),
        f"{BATTERY}.Temperature.Min": round(battery.temperature_c - spread, 1),
        f"{BATTERY}.Temperature.Max": round(battery.temperature_c + spread, 1),
        f"{BATTERY}.PowerLoss": round(battery.heat_w, 1),
        f"{BATTERY}.AccumulatedConsumedEnergy": round(battery.consumed_kwh, 3),
        f"{BATTERY}.AccumulatedChargedEnergy": round(battery.charged_kwh, 3),
        f"{BATTERY}.AccumulatedConsumedThroughput": round(battery.consumed_ah, 2),
        f"{BATTERY}.AccumulatedChargedThroughput": round(battery.charged_ah, 2),
        f"{BATTERY}.Range": _uint(range_m, 2**32 - 1),
        "Vehicle.Powertrain.Range": _uint(range_m, 2**32 - 1),
        f"{BATTERY}.IsPowerConnected": car.powered,
        f"{MOTOR}.Temperature": round(car.motor_temperature_c, 1),
        "Vehicle.TraveledDistance": _uint(car.odometer_m, 2**32 - 1),
        "Vehicle.TripMeterReading": _uint(car.trip_m, 2**32 - 1),
        "Vehicle.TraveledDistanceSinceStart": _uint(car.distance_since_start_m, 2**32 - 1),
        "Vehicle.TripDuration": round(car.trip_s, 1),
        "Vehicle.AverageSpeed": round(car.trip_m / car.trip_s * 3.6, 1) if car.trip_s else 0.0,
        "Vehicle.Powertrain.Transmission.SelectedGear": int(car.gear),
        "Vehicle.Powertrain.Transmission.CurrentGear": 1 if car.gear is Gear.DRIVE else 0,
        "Vehicle.Powertrain.Transmission.IsParkLockEngaged": car.gear is Gear.PARK,
        "Vehicle.Powertrain.Transmission.TravelledDistance": round(car.odometer_m / 1000.0, 2),
        "Vehicle.LowVoltageSystemState": "ON" if car.powered else "OFF",
        "Vehicle.Exterior.AirTemperature": round(car.outside_c, 1),
        f"{HVAC}.AmbientAirTemperature": round(cabin.temperature_c, 1),
        f"{CARMESH}.Powertrain.AverageConsumption": round(car.range.average_wh_per_km, 1),
        f"{CARMESH}.Powertrain.TripConsumption": round(car.range.trip_wh_per_km, 1),
        f"{CARMESH}.Cabin.HVAC.Power": round(cabin.hvac_power_w, 1),
    }
    out.update(_charging_values(car))
    tyre_c = car.outside_c + 8.0 + car.speed_kmh / 20.0
    out.update(car.faults.values(tyre_temperature_c=tyre_c))
    position = car.position()
    if position is not None:
        north, east, up = car.gnss_error
        lat = position.latitude + north / _M_PER_DEG
        lon = position.longitude + east / (_M_PER_DEG * math.cos(math.radians(lat)))
        at = (now or datetime(2024, 6, 1, 8, 0, tzinfo=UTC)) + timedelta(seconds=car.time)
        loc = "Vehicle.CurrentLocation"
        out.update(
            {
                f"{loc}.Latitude": round(lat, 7),
                f"{loc}.Longitude": round(lon, 7),
                f"{loc}.Altitude": round(position.altitude_m + up, 1),
                f"{loc}.Heading": round(position.heading, 1),
                f"{loc}.HorizontalAccuracy": round(2.5 + abs(north) / 2, 1),
                f"{loc}.VerticalAccuracy": 4.0,
                f"{loc}.GNSSReceiver.FixType": "THREE_D",
                f"{loc}.Timestamp": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            }
        )
    return out


def _charging_values(car: SimulatedCar) -> dict[str, Any]:
    charging = car.charging
    battery = car.battery
    charger = charging.charger
    dc = charger is not None and charger.kind.value == "dc"
    power_w = charging.charger_power_w
    out: dict[str, Any] = {
        f"{CHARGING}.IsCharging": charging.is_charging,
        f"{CHARGING}.IsDischarging": False,
        f"{CHARGING}.ChargeLimit": charging.limit,
        f"{CHARGING}.StartStopCharging": "START" if charging.requested else "STOP",
        f"{CHARGING}.MaxPower": round(charging.car_limit_w(battery.soc) / 1000.0, 1),
        f"{CHARGING}.PowerLoss": round(charging.loss_w, 1),
        f"{CHARGING}.Temperature": round(battery.temperature_c, 1),
        f"{CHARGING}.EvseId": charger.evse_id if charger else "",
    }
    limit = min(charging.limit, 100)
    seconds = charging.time_to(limit, auxiliary_w=car.auxiliary_w) if charging.is_charging else 0
    out[f"{CHARGING}.TimeToComplete"] = _uint(seconds, 2**32 - 1)
    rate = power_w / max(car.range.average_wh_per_km, 50.0) if charging.is_charging else 0.0
    out[f"{CHARGING}.ChargeRate"] = round(rate, 1)
    out[f"{CHARGING}.ChargeCurrent.DC"] = round(power_w / battery.voltage, 1) if dc else 0.0
    out[f"{CHARGING}.ChargeVoltage.DC"] = round(battery.voltage, 1) if dc and power_w else 0.0
    for phase in ("Phase1", "Phase2", "Phase3"):
        ac = power_w / 3 / 230.0 if charger is not None and not dc else 0.0
        out[f"{CHARGING}.ChargeCurrent.{phase}"] = round(ac, 1)
        out[f"{CHARGING}.ChargeVoltage.{phase}"] = 230.0 if ac else 0.0
    for port in CHARGE_PORTS:
        out[f"{port}.IsFlapOpen"] = charging.flap_open
        out[f"{port}.IsChargingCableConnected"] = charging.cable_connected
        out[f"{port}.IsChargingCableLocked"] = charging.cable_locked
    return out


def state_values(car: SimulatedCar) -> dict[str, Any]:
    cabin = car.cabin
    out = car.body.values()
    for station in ("Driver", "Passenger"):
        prefix = f"{HVAC}.Station.Row1.{station}"
        out[f"{prefix}.Temperature"] = cabin.setpoints[station]
        out[f"{prefix}.FanSpeed"] = cabin.fan_speeds[station]
        out[f"{prefix}.AirDistribution"] = cabin.air_distribution[station]
    out[f"{HVAC}.IsAirConditioningActive"] = cabin.ac_active
    out[f"{HVAC}.IsRecirculationActive"] = cabin.recirculation
    out[f"{HVAC}.IsFrontDefrosterActive"] = cabin.front_defroster
    out[f"{HVAC}.IsRearDefrosterActive"] = cabin.rear_defroster
    for seat in ("Row1.DriverSide", "Row1.PassengerSide"):
        out[f"Vehicle.Cabin.Seat.{seat}.HeatingCooling"] = cabin.seat_levels.get(seat, 0)
    return out


def attribute_values(car: SimulatedCar) -> dict[str, Any]:
    p = car.profile
    v = p.vehicle
    return {
        "Vehicle.VehicleIdentification.Brand": v.brand,
        "Vehicle.VehicleIdentification.Model": v.model,
        "Vehicle.VehicleIdentification.VehicleConfiguration": v.name,
        "Vehicle.VehicleIdentification.Year": v.model_year,
        "Vehicle.VehicleIdentification.BodyType": "Fastback",
        "Vehicle.VehicleIdentification.VehicleSeatingCapacity": 5,
        "Vehicle.CurbWeight": round(v.kerb_mass_kg),
        "Vehicle.GrossWeight": round(v.gross_mass_kg),
        "Vehicle.Length": v.length_mm,
        "Vehicle.Height": v.height_mm,
        "Vehicle.WidthExcludingMirrors": v.width_mm,
        "Vehicle.WidthIncludingMirrors": v.width_with_mirrors_mm,
        "Vehicle.Powertrain.Type": "ELECTRIC",
        "Vehicle.Powertrain.Transmission.DriveType": "ALL_WHEEL_DRIVE",
        "Vehicle.Powertrain.Transmission.GearCount": 1,
        f"{MOTOR}.MaxPower": round(p.powertrain.motor_power_kw),
        f"{MOTOR}.MaxTorque": round(p.powertrain.motor_torque_nm),
        f"{MOTOR}.MaxRegenPower": round(p.powertrain.regen_power_kw),
        f"{BATTERY}.GrossCapacity": round(p.battery.gross_capacity_kwh),
        f"{BATTERY}.NominalVoltage": round(p.battery.nominal_voltage_v),
        f"{BATTERY}.MaxVoltage": round(
            p.battery.cells_in_series * p.battery.cell_ocv.points[-1][1]
        ),
        f"{CHARGING}.ChargingPort.RearLeft.SupportedInletTypes": [
            "IEC_TYPE_2_AC",
            "IEC_TYPE_2_CCS_DC",
        ],
        f"{CHARGING}.ChargingPort.AnyPosition.SupportedInletTypes": [
            "IEC_TYPE_2_AC",
            "IEC_TYPE_2_CCS_DC",
        ],
        "Vehicle.LowVoltageBattery.NominalVoltage": 12,
    }
