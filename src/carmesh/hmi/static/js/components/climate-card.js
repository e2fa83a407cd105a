/**
 * `<cm-climate-card>`: driver and passenger set points with + and −, the cabin temperature
 * between them, fan speed, seat heating, A/C and front and rear defrost.
 *
 * A tap shows its result at once and actuates the target; the figure then follows what the
 * car reports, and falls back with a toast when the car refuses. Set points step by 0.5 °C
 * (1 °F) within 15–29 °C, the range the climate system accepts.
 */

import { CarElement, define, fmt, t } from "./base.js";
import { icon } from "../icons.js";
import { settings } from "../settings.js";

const HVAC = "Vehicle.Cabin.HVAC";
const STATIONS = ["Driver", "Passenger"];
const SEATS = { Driver: "Row1.DriverSide", Passenger: "Row1.PassengerSide" };
const setpoint = (station) => `${HVAC}.Station.Row1.${station}.Temperature`;
const fan = (station) => `${HVAC}.Station.Row1.${station}.FanSpeed`;
const seat = (station) => `Vehicle.Cabin.Seat.${SEATS[station]}.HeatingCooling`;
const SWITCHES = {
  ac: `${HVAC}.IsAirConditioningActive`,
  front: `${HVAC}.IsFrontDefrosterActive`,
  rear: `${HVAC}.IsRearDefrosterActive`,
};
const CABIN = `${HVAC}.AmbientAirTemperature`;
const MIN_C = 15;
const MAX_C = 29;
const FAN_STEP = 20;
const SEAT_LEVELS = [0, 33, 67, 100];
const PENDING_MS = 3000;

export const CLIMATE_PATHS = {
  setpoint,
  fan,
  seat,
  cabin: CABIN,
};

function stationMarkup(station) {
  const key = station.toLowerCase();
  return `
    <div class="cc-station" data-station="${station}">
      <span class="cc-station-label" data-i18n="climate.${key}"></span>
      <button class="btn round cc-up" type="button" data-testid="${key}-temp-up"
        data-i18n-attr="aria-label:climate.${key}_warmer">${icon("plus")}</button>
      <span class="cc-setpoint" data-testid="${key}-setpoint"><span class="cc-sp-value num"></span><span class="cc-sp-unit"></span></span>
      <button class="btn round cc-down" type="button" data-testid="${key}-temp-down"
        data-i18n-attr="aria-label:climate.${key}_cooler">${icon("minus")}</button>
    </div>`;
}

function seatMarkup(station) {
  return `
    <button class="btn cc-seat" type="button" data-station="${station}"
      data-testid="seat-${station.toLowerCase()}"
      data-i18n-attr="aria-label:climate.seat_${station.toLowerCase()}">
      ${icon("seat")}<span class="cc-levels"><i></i><i></i><i></i></span>
      <span class="cc-btn-label" data-i18n="climate.seat_${station.toLowerCase()}_short"></span>
    </button>`;
}

function switchMarkup(name, iconName) {
  return `
    <button class="btn cc-switch" type="button" data-switch="${name}" aria-pressed="false"
      data-testid="switch-${name}">
      ${icon(iconName)}<span class="cc-btn-label" data-i18n="climate.${name}"></span>
    </button>`;
}

class ClimateCard extends CarElement {
  static paths = [
    ...STATIONS.flatMap((s) => [setpoint(s), fan(s), seat(s)]),
    ...Object.values(SWITCHES),
    CABIN,
  ];

  constructor() {
    super();
    /** Targets sent but not yet reported back, by path. */
    this.pending = {};
  }

  render() {
    return `
      <header class="card-head">
        <h2 class="card-title" data-i18n="climate.title"></h2>
        <span class="card-aside cc-cabin">
          <span class="cc-cabin-label" data-i18n="climate.inside"></span>
          <span class="cc-cabin-value num" data-testid="cabin-temperature"></span>
          <span class="cc-hvac-state"></span>
        </span>
      </header>
      <div class="cc-temps">
        ${stationMarkup("Driver")}
        <span class="cc-divider"></span>
        ${stationMarkup("Passenger")}
      </div>
      <div class="cc-fan">
        <button class="btn round cc-fan-down" type="button" data-i18n-attr="aria-label:climate.fan_lower">${icon("minus")}</button>
        <div class="cc-fan-meter">
          <span class="cc-fan-icon">${icon("fan")}</span>
          <span class="cc-fan-bars"><i></i><i></i><i></i><i></i><i></i></span>
          <span class="cc-fan-label num"></span>
        </div>
        <button class="btn round cc-fan-up" type="button" data-testid="fan-up" data-i18n-attr="aria-label:climate.fan_higher">${icon("plus")}</button>
      </div>
      <div class="cc-switches">
        ${seatMarkup("Driver")}
        ${switchMarkup("ac", "snowflake")}
        ${switchMarkup("front", "defrost-front")}
        ${switchMarkup("rear", "defrost-rear")}
        ${seatMarkup("Passenger")}
      </div>`;
  }

  setup() {
    for (const station of STATIONS) {
      const el = this.$(`.cc-station[data-station="${station}"]`);
      el.querySelector(".cc-up").addEventListener("click", () => this.step(station, +1));
      el.querySelector(".cc-down").addEventListener("click", () => this.step(station, -1));
      this.$(`.cc-seat[data-station="${station}"]`).addEventListener("click", () =>
        this.cycleSeat(station),
      );
    }
    this.$(".cc-fan-up").addEventListener("click", () => this.stepFan(+1));
    this.$(".cc-fan-down").addEventListener("click", () => this.stepFan(-1));
    for (const [name, path] of Object.entries(SWITCHES)) {
      this.$(`[data-switch="${name}"]`).addEventListener("click", () =>
        this.set({ [path]: !(this.value(path) === true) }),
      );
    }
  }

  /** The value to show for `path`: a pending target, else what the car reports. */
  value(path) {
    return path in this.pending ? this.pending[path] : this.state[path];
  }

  /** Show `targets` at once and actuate them; undo the display when the car refuses. */
  async set(targets) {
    Object.assign(this.pending, targets);
    this.update({});
    const ok = await this.actuate(targets);
    const settle = () => {
      for (const [path, value] of Object.entries(targets)) {
        if (this.pending[path] === value) delete this.pending[path];
      }
      this.update({});
    };
    if (!ok) settle();
    // Accepted: the car reports the new value soon; show what it reports after a while anyway.
    else setTimeout(settle, PENDING_MS);
    return ok;
  }

  step(station, direction) {
    const path = setpoint(station);
    const current = this.value(path) ?? 21;
    let next;
    if (settings.get("temperature") === "F") {
      const f = Math.round(fmt.fromCelsius(current)) + direction;
      next = Math.round(fmt.toCelsius(f) * 10) / 10;
    } else {
      next = Math.round((current + 0.5 * direction) * 2) / 2;
    }
    next = Math.min(MAX_C, Math.max(MIN_C, next));
    if (next === current) return Promise.resolve(false);
    return this.set({ [path]: next });
  }

  stepFan(direction) {
    const current = this.value(fan("Driver")) ?? 0;
    const next = Math.min(100, Math.max(0, Math.round(current / FAN_STEP + direction) * FAN_STEP));
    if (next === current) return Promise.resolve(false);
    return this.set({ [fan("Driver")]: next, [fan("Passenger")]: next });
  }

  cycleSeat(station) {
    const current = this.value(seat(station)) ?? 0;
    const index = SEAT_LEVELS.findIndex((level) => current <= level);
    const next = SEAT_LEVELS[(Math.max(index, 0) + 1) % SEAT_LEVELS.length];
    return this.set({ [seat(station)]: next });
  }

  update(changed) {
    for (const path of Object.keys(changed)) {
      if (path in this.pending && changed[path] === this.pending[path]) delete this.pending[path];
    }
    for (const station of STATIONS) {
      const el = this.$(`.cc-station[data-station="${station}"]`);
      const value = this.value(setpoint(station));
      const shown = fmt.temperature(value);
      this.text(el.querySelector(".cc-sp-value"), shown.value);
      this.text(el.querySelector(".cc-sp-unit"), shown.unit);
      el.querySelector(".cc-up").disabled = typeof value === "number" && value >= MAX_C;
      el.querySelector(".cc-down").disabled = typeof value === "number" && value <= MIN_C;
      const level = this.value(seat(station)) ?? 0;
      const seatEl = this.$(`.cc-seat[data-station="${station}"]`);
      const bars = SEAT_LEVELS.filter((l) => l > 0 && level >= l - 1).length;
      seatEl.dataset.level = String(bars);
      seatEl.setAttribute("aria-pressed", String(bars > 0));
    }
    const cabin = fmt.temperature(this.state[CABIN]);
    this.text(".cc-cabin-value", cabin.text);
    const fanValue = this.value(fan("Driver")) ?? 0;
    const bars = Math.round(fanValue / FAN_STEP);
    this.$(".cc-fan-bars").dataset.level = String(bars);
    this.text(".cc-fan-label", fanValue > 0 ? t("climate.fan_level", { n: fmt.number(bars) }) : t("climate.fan_off"));
    this.$(".cc-fan-down").disabled = fanValue <= 0;
    this.$(".cc-fan-up").disabled = fanValue >= 100;
    for (const [name, path] of Object.entries(SWITCHES)) {
      this.$(`[data-switch="${name}"]`).setAttribute("aria-pressed", String(this.value(path) === true));
    }
    const target = this.value(setpoint("Driver"));
    const inside = this.state[CABIN];
    let mode = "";
    if (fanValue > 0 && typeof target === "number" && typeof inside === "number") {
      if (inside < target - 0.4) mode = "heating";
      else if (inside > target + 0.4) mode = "cooling";
      else mode = "holding";
    }
    this.dataset.mode = mode || "off";
    this.text(".cc-hvac-state", mode ? t(`climate.${mode}`) : t("climate.off"));
  }
}

define("cm-climate-card", ClimateCard);
