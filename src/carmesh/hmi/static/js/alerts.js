/**
 * Warnings and notices derived from the car's signals, shared by the centre display's
 * notifications and the cluster's telltales:
 *
 * - `tyre` — a tyre's pressure is low (`Vehicle.Chassis.Axle.RowN.Wheel.*.Tire.IsPressureLow`);
 * - `battery12v` — the 12 V battery is below 11.8 V (or the car reports DTC P0562);
 * - `door` — a door, the frunk or the trunk is open while the car moves;
 * - `dtc` — other diagnostic trouble codes (`Vehicle.Diagnostics.DTCList`);
 * - `charging` / `charged` — charging, or charged to the limit with the cable in.
 *
 * `alerts(state, moving)` returns them most severe first: `{id, level, icon, title, detail}`,
 * level "critical", "warning" or "info"; title and detail are translated.
 */

import { fmt, t } from "./i18n.js";

const WHEELS = {
  FL: "Vehicle.Chassis.Axle.Row1.Wheel.Left",
  FR: "Vehicle.Chassis.Axle.Row1.Wheel.Right",
  RL: "Vehicle.Chassis.Axle.Row2.Wheel.Left",
  RR: "Vehicle.Chassis.Axle.Row2.Wheel.Right",
};
const DOORS = ["Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide"];
const BATTERY = "Vehicle.Powertrain.TractionBattery";
const LV = "Vehicle.LowVoltageBattery.CurrentVoltage";
const DTC_LIST = "Vehicle.Diagnostics.DTCList";
const LV_DTC = "P0562";
export const LOW_VOLTAGE = 11.8;

const C = {
  charging: `${BATTERY}.Charging.IsCharging`,
  cable: `${BATTERY}.Charging.ChargingPort.AnyPosition.IsChargingCableConnected`,
  limit: `${BATTERY}.Charging.ChargeLimit`,
  soc: `${BATTERY}.StateOfCharge.Displayed`,
  time: `${BATTERY}.Charging.TimeToComplete`,
};

export const ALERT_PATHS = [
  ...Object.values(WHEELS).flatMap((w) => [`${w}.Tire.IsPressureLow`, `${w}.Tire.Pressure`]),
  ...DOORS.map((d) => `Vehicle.Cabin.Door.${d}.IsOpen`),
  "Vehicle.Body.Trunk.Front.IsOpen",
  "Vehicle.Body.Trunk.Rear.IsOpen",
  LV,
  DTC_LIST,
  ...Object.values(C),
];

const LEVELS = { critical: 0, warning: 1, info: 2 };

export function alerts(state, moving) {
  const out = [];
  const low = Object.entries(WHEELS).filter(([, w]) => state[`${w}.Tire.IsPressureLow`] === true);
  if (low.length) {
    const detail = low
      .map(([code, w]) =>
        t("alerts.tyre_wheel", { wheel: t(`wheels.${code}`), pressure: fmt.pressure(state[`${w}.Tire.Pressure`]).text }),
      )
      .join(t("list.separator"));
    out.push({ id: "tyre", level: "warning", icon: "tyre-fill", title: t("alerts.tyre"), detail });
  }
  const dtcs = Array.isArray(state[DTC_LIST]) ? state[DTC_LIST] : [];
  const volts = state[LV];
  if ((typeof volts === "number" && volts < LOW_VOLTAGE) || dtcs.includes(LV_DTC)) {
    out.push({
      id: "battery12v",
      level: "critical",
      icon: "battery12-fill",
      title: t("alerts.battery12v"),
      detail: t("alerts.battery12v_detail", { voltage: fmt.voltage(volts).text }),
    });
  }
  const open =
    DOORS.some((d) => state[`Vehicle.Cabin.Door.${d}.IsOpen`] === true) ||
    state["Vehicle.Body.Trunk.Front.IsOpen"] === true ||
    state["Vehicle.Body.Trunk.Rear.IsOpen"] === true;
  if (open && moving) {
    out.push({
      id: "door",
      level: "critical",
      icon: "door-fill",
      title: t("alerts.door"),
      detail: t("alerts.door_detail"),
    });
  }
  const other = dtcs.filter((code) => code !== LV_DTC);
  if (other.length) {
    out.push({
      id: "dtc",
      level: "warning",
      icon: "check-fill",
      title: t("alerts.dtc"),
      detail: t("alerts.dtc_detail", { codes: other.join(t("list.separator")) }),
    });
  }
  if (state[C.charging] === true) {
    out.push({
      id: "charging",
      level: "info",
      icon: "bolt-fill",
      title: t("alerts.charging"),
      detail: t("vehicle.charging_to", { limit: fmt.percent(state[C.limit]).text, time: fmt.duration(state[C.time]) }),
    });
  } else if (
    state[C.cable] === true &&
    typeof state[C.soc] === "number" &&
    typeof state[C.limit] === "number" &&
    state[C.soc] >= state[C.limit]
  ) {
    out.push({
      id: "charged",
      level: "info",
      icon: "bolt-fill",
      title: t("alerts.charged"),
      detail: t("alerts.charged_detail", { limit: fmt.percent(state[C.limit]).text }),
    });
  }
  return out.sort((a, b) => LEVELS[a.level] - LEVELS[b.level]);
}
