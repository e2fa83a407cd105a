"""Longitudinal dynamics: the forces on the car and the power its motors give or take.

The car follows a target speed as a driver would, limited by what the motors can deliver
(torque at low speed, power above) and what recuperation can take back (a power limit that
fades out at walking pace; the friction brakes take the rest). Road loads:

- aerodynamic drag ``½ ρ Cd A v²`` (ρ from the outside temperature),
- rolling resistance ``Crr m g cos θ``,
- grade ``m g sin θ``,
- inertia ``k m a`` with ``k`` the rotating-mass factor.

Within a step the acceleration is constant, so a trace that is linear between its points
(the WLTC, sampled at 1 Hz) is followed exactly at any step length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from carmesh.vehicle.sim.profile import VehicleProfile

GRAVITY = 9.81  # m/s²
#: Speed in km/h below which recuperation has faded out completely, and where it is full.
REGEN_FADE_KMH = (3.0, 12.0)


def air_density(temperature_c: float, pressure_pa: float = 101_325.0) -> float:
    """Density of dry air in kg/m³."""
    return pressure_pa / (287.05 * (temperature_c + 273.15))


@dataclass(frozen=True)
class DriveStep:
    """What happened in one step; powers in W, positive when drawn from the battery."""

    speed: float  # m/s at the end of the step
    acceleration: float  # m/s²
    distance: float  # m travelled in the step
    wheel_power: float  # W at the wheels: positive driving, negative braking
    drive_power: float  # W at the battery terminals for traction (negative: recuperating)
    friction_brake_power: float  # W turned into heat by the friction brakes
    motor_torque: float  # Nm, sum of both motors, negative when recuperating
    motor_speed_rpm: float
    braking: bool


class Longitudinal:
    """The car's speed and the energy it takes to change it."""

    def __init__(self, profile: VehicleProfile, *, payload_kg: float | None = None) -> None:
        self.profile = profile
        payload = profile.vehicle.payload_kg if payload_kg is None else payload_kg
        self.mass = profile.vehicle.kerb_mass_kg + payload
        self.inertial_mass = self.mass * profile.body.rotational_mass_factor
        self.speed = 0.0  # m/s

    def road_load(self, speed: float, grade: float, temperature_c: float = 20.0) -> float:
        """Force in N the car must overcome at constant *speed* (m/s) on *grade* (rise/run)."""
        body = self.profile.body
        theta = math.atan(grade)
        aero = 0.5 * air_density(temperature_c) * body.drag_coefficient * body.frontal_area_m2
        rolling = body.rolling_resistance * self.mass * GRAVITY * math.cos(theta)
        if speed <= 0.0:
            rolling = 0.0
        return aero * speed * speed + rolling + self.mass * GRAVITY * math.sin(theta)

    def max_drive_force(self, speed: float, power_w: float) -> float:
        pt = self.profile.powertrain
        by_torque = pt.motor_torque_nm * pt.gear_ratio / self.profile.body.wheel_radius_m
        return min(by_torque, power_w / max(speed, 0.5))

    def step(
        self,
        target_speed: float,
        dt: float,
        *,
        grade: float = 0.0,
        temperature_c: float = 20.0,
        available_power_w: float | None = None,
    ) -> DriveStep:
        """Advance *dt* seconds towards *target_speed* (m/s).

        *available_power_w* caps the battery power for traction (e.g. an empty battery);
        None means the motors' own limit.
        """
        profile = self.profile
        pt = profile.powertrain
        v0 = self.speed
        v_max = profile.vehicle.max_speed_kmh / 3.6
        v1 = min(max(target_speed, 0.0), v_max)
        if v0 <= 0.0 and v1 <= 0.0:
            return DriveStep(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, True)
        accel = (v1 - v0) / dt
        v_avg = (v0 + v1) / 2
        load = self.road_load(v_avg, grade, temperature_c)
        force = self.inertial_mass * accel + load
        motor_power = pt.motor_power_kw * 1000.0
        if available_power_w is not None:
            motor_power = min(motor_power, max(available_power_w, 0.0) * pt.drivetrain_efficiency)
        if force > self.max_drive_force(v_avg, motor_power):
            # Limited by the motors: the speed reached depends on the force, and the force
            # (power limit) on the speed; a few rounds of fixed-point iteration settle it.
            v_avg = v0
            for _ in range(4):
                force = self.max_drive_force(v_avg, motor_power)
                load = self.road_load(v_avg, grade, temperature_c)
                v1 = min(max(v0 + (force - load) / self.inertial_mass * dt, 0.0), v_max)
                v_avg = (v0 + v1) / 2
            accel = (v1 - v0) / dt
        wheel_power = force * v_avg
        friction = 0.0
        if wheel_power >= 0.0:
            drive_power = wheel_power / pt.drivetrain_efficiency
            traction = wheel_power
        else:
            low, high = REGEN_FADE_KMH
            fade = min(max((v_avg * 3.6 - low) / (high - low), 0.0), 1.0)
            recovered = min(-wheel_power, pt.regen_power_kw * 1000.0) * fade
            friction = -wheel_power - recovered
            drive_power = -recovered * pt.regen_efficiency
            traction = -recovered
        omega = v_avg / profile.body.wheel_radius_m * pt.gear_ratio
        torque = traction / omega if omega > 1.0 else 0.0
        self.speed = v1
        return DriveStep(
            speed=v1,
            acceleration=accel,
            distance=v_avg * dt,
            wheel_power=wheel_power,
            drive_power=drive_power,
            friction_brake_power=friction,
            motor_torque=torque,
            motor_speed_rpm=omega * 60.0 / (2 * math.pi),
            braking=force < 0.0,
        )
