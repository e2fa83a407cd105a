/**
 * `<cm-vehicle-card>`: state of charge and range, charging (state, power, time to the charge
 * limit), the car from above with what is open or unlocked, the odometer, and one button to
 * lock or unlock every door and the trunk.
 */

import { CarElement, define, fmt, t } from "./base.js";
import { DOORS, TRUNKS } from "./car-view.js";
import { icon } from "../icons.js";

const BATTERY = "Vehicle.Powertrain.TractionBattery";
const CHARGING = `${BATTERY}.Charging`;
export const P = {
  soc: `${BATTERY}.StateOfCharge.Displayed`,
  range: "Vehicle.Powertrain.Range",
  charging: `${CHARGING}.IsCharging`,
  timeToComplete: `${CHARGING}.TimeToComplete`,
  limit: `${CHARGING}.ChargeLimit`,
  cable: `${CHARGING}.ChargingPort.AnyPosition.IsChargingCableConnected`,
  batteryPower: `${BATTERY}.CurrentPower`,
  odometer: "Vehicle.TraveledDistance",
  batteryTemperature: `${BATTERY}.Temperature.Average`,
  outside: "Vehicle.Exterior.AirTemperature",
  brand: "Vehicle.VehicleIdentification.Brand",
  model: "Vehicle.VehicleIdentification.Model",
};
/** "Polestar 2" from brand and model, which may already name the brand. */
export function vehicleName(state) {
  const brand = state[P.brand] || "";
  const model = state[P.model] || "";
  return model.startsWith(brand) ? model : [brand, model].filter(Boolean).join(" ");
}

const door = (name, leaf) => `Vehicle.Cabin.Door.${name}.${leaf}`;
const trunk = (name, leaf) => `Vehicle.Body.Trunk.${name}.${leaf}`;
const CLOSURES = [
  ...DOORS.flatMap((d) => [door(d, "IsOpen"), door(d, "IsLocked"), door(d, "Window.IsOpen")]),
  ...TRUNKS.flatMap((n) => [trunk(n, "IsOpen"), trunk(n, "IsLocked")]),
];
/** Door and trunk names as the translation files know them. */
const PART_KEYS = {
  "Row1.DriverSide": "door_front_left",
  "Row1.PassengerSide": "door_front_right",
  "Row2.DriverSide": "door_rear_left",
  "Row2.PassengerSide": "door_rear_right",
  Front: "frunk",
  Rear: "trunk",
};

class VehicleCard extends CarElement {
  static paths = [...Object.values(P), ...CLOSURES];

  render() {
    return `
      <header class="card-head">
        <h2 class="card-title" data-i18n="vehicle.title"></h2>
        <span class="card-aside vc-model"></span>
      </header>
      <div class="vc-body">
        <div class="vc-energy">
          <div class="vc-soc"><span class="vc-soc-value num" data-testid="soc"></span><span class="vc-soc-unit"></span></div>
          <div class="vc-bar"><span class="vc-bar-fill"></span><span class="vc-bar-limit"></span></div>
          <div class="vc-range">
            <span class="vc-range-value num" data-testid="range"></span>
            <span class="vc-range-unit"></span>
            <span class="vc-range-label" data-i18n="vehicle.range"></span>
          </div>
          <dl class="vc-facts">
            <div><dt data-i18n="vehicle.battery_temperature"></dt><dd class="vc-battery-temp num"></dd></div>
            <div><dt data-i18n="vehicle.outside"></dt><dd class="vc-outside num"></dd></div>
            <div><dt data-i18n="vehicle.odometer"></dt><dd class="vc-odometer num" data-testid="odometer"></dd></div>
          </dl>
        </div>
        <cm-car-view class="vc-car" role="img" data-i18n-attr="aria-label:vehicle.car_view"></cm-car-view>
      </div>
      <div class="vc-charge" data-testid="charging">
        <span class="vc-charge-icon">${icon("bolt")}</span>
        <span class="vc-charge-text">
          <strong class="vc-charge-state"></strong>
          <span class="vc-charge-detail num"></span>
        </span>
      </div>
      <footer class="vc-foot">
        <span class="vc-closures" data-testid="closures"></span>
        <button class="btn vc-lock" type="button">${icon("lock", "lock-icon")}${icon("unlock", "unlock-icon")}<span class="vc-lock-label"></span></button>
      </footer>`;
  }

  setup() {
    this.$(".vc-lock").addEventListener("click", () => this.toggleLocks());
  }

  get locked() {
    return DOORS.every((d) => this.state[door(d, "IsLocked")] !== false);
  }

  toggleLocks() {
    const lock = !this.locked;
    const targets = {};
    for (const d of DOORS) targets[door(d, "IsLocked")] = lock;
    targets[trunk("Rear", "IsLocked")] = lock;
    return this.actuate(targets);
  }

  update() {
    const s = this.state;
    this.text(".vc-model", vehicleName(s));
    const soc = fmt.percent(s[P.soc]);
    this.text(".vc-soc-value", soc.value);
    this.text(".vc-soc-unit", soc.unit);
    const level = Math.max(0, Math.min(100, s[P.soc] ?? 0));
    this.$(".vc-bar-fill").style.width = `${level}%`;
    this.$(".vc-bar").classList.toggle("low", level < 15);
    const limit = s[P.limit];
    const limitEl = this.$(".vc-bar-limit");
    limitEl.hidden = typeof limit !== "number" || limit >= 100;
    limitEl.style.left = `${limit ?? 100}%`;
    const range = fmt.distance(s[P.range]);
    this.text(".vc-range-value", range.value);
    this.text(".vc-range-unit", range.unit);
    this.text(".vc-odometer", fmt.distance(s[P.odometer]).text);
    this.text(".vc-battery-temp", fmt.temperature(s[P.batteryTemperature], 0).text);
    this.text(".vc-outside", fmt.temperature(s[P.outside], 0).text);
    this.updateCharging();
    this.updateClosures();
  }

  updateCharging() {
    const s = this.state;
    const el = this.$(".vc-charge");
    const charging = s[P.charging] === true;
    const plugged = s[P.cable] === true;
    el.dataset.state = charging ? "charging" : plugged ? "plugged" : "idle";
    if (charging) {
      const power = typeof s[P.batteryPower] === "number" ? -s[P.batteryPower] / 1000 : null;
      this.text(".vc-charge-state", t("vehicle.charging"));
      const target = fmt.percent(s[P.limit]).text;
      const parts = [t("vehicle.charging_to", { limit: target, time: fmt.duration(s[P.timeToComplete]) })];
      if (power !== null && power > 0) parts.push(fmt.power(power).text);
      this.text(".vc-charge-detail", parts.join(" · "));
    } else if (plugged) {
      this.text(".vc-charge-state", t("vehicle.plugged_in"));
      this.text(".vc-charge-detail", t("vehicle.limit", { limit: fmt.percent(s[P.limit]).text }));
    } else {
      this.text(".vc-charge-state", t("vehicle.not_charging"));
      this.text(".vc-charge-detail", t("vehicle.limit", { limit: fmt.percent(s[P.limit]).text }));
    }
  }

  updateClosures() {
    const s = this.state;
    const doors = {};
    const open = [];
    for (const d of DOORS) {
      doors[d] = {
        open: s[door(d, "IsOpen")] === true,
        locked: s[door(d, "IsLocked")],
        window: s[door(d, "Window.IsOpen")] === true,
      };
      if (doors[d].open) open.push(t(`vehicle.${PART_KEYS[d]}`));
    }
    const trunks = {};
    for (const n of TRUNKS) {
      trunks[n] = { open: s[trunk(n, "IsOpen")] === true, locked: s[trunk(n, "IsLocked")] };
      if (trunks[n].open) open.push(t(`vehicle.${PART_KEYS[n]}`));
    }
    const windows = DOORS.filter((d) => doors[d].window).length;
    this.$(".vc-car").show({ doors, trunks });
    const locked = this.locked;
    const known = DOORS.some((d) => typeof s[door(d, "IsLocked")] === "boolean");
    let summary;
    if (!known) summary = "";
    else if (open.length) summary = t("vehicle.open", { parts: open.join(t("list.separator")) });
    else if (windows) summary = t("vehicle.windows_open", { n: fmt.number(windows) });
    else summary = t(locked ? "vehicle.all_locked" : "vehicle.all_closed_unlocked");
    const closures = this.text(".vc-closures", summary);
    closures.classList.toggle("alert", open.length > 0 || windows > 0);
    const button = this.$(".vc-lock");
    button.classList.toggle("is-locked", locked);
    this.text(".vc-lock-label", t(locked ? "vehicle.unlock" : "vehicle.lock"));
  }
}

define("cm-vehicle-card", VehicleCard);
