/**
 * The cluster's side panels and top line:
 * - `<cm-cluster-energy>` — state of charge and range;
 * - `<cm-cluster-trip>` — trip meter, consumption, average speed and trip time;
 * - `<cm-cluster-top>` — turn signals (and hazard lights), telltales for warnings, the clock
 *   and the outside temperature.
 */

import { CarElement, define, driving, fmt, t } from "./base.js";
import { ALERT_PATHS, alerts } from "../alerts.js";
import { icon } from "../icons.js";

const BATTERY = "Vehicle.Powertrain.TractionBattery";
const LIGHTS = "Vehicle.Body.Lights";

class ClusterEnergy extends CarElement {
  static paths = [`${BATTERY}.StateOfCharge.Displayed`, "Vehicle.Powertrain.Range", `${BATTERY}.Charging.IsCharging`];

  render() {
    return `
      <span class="ce-label" data-i18n="cluster.battery"></span>
      <div class="ce-soc"><span class="ce-soc-value num" data-testid="cluster-soc"></span><span class="ce-soc-unit"></span></div>
      <div class="ce-bar"><span></span></div>
      <div class="ce-range"><span class="ce-range-value num" data-testid="cluster-range"></span><span class="ce-range-unit"></span></div>`;
  }

  update() {
    const soc = this.state[`${BATTERY}.StateOfCharge.Displayed`];
    const p = fmt.percent(soc);
    this.text(".ce-soc-value", p.value);
    this.text(".ce-soc-unit", p.unit);
    const level = Math.max(0, Math.min(100, soc ?? 0));
    this.$(".ce-bar span").style.width = `${level}%`;
    this.$(".ce-bar").classList.toggle("low", level < 15);
    this.$(".ce-bar").classList.toggle("charging", this.state[`${BATTERY}.Charging.IsCharging`] === true);
    const range = fmt.distance(this.state["Vehicle.Powertrain.Range"]);
    this.text(".ce-range-value", range.value);
    this.text(".ce-range-unit", t("cluster.range_unit", { unit: range.unit }));
  }
}

class ClusterTrip extends CarElement {
  static paths = [
    "Vehicle.TripMeterReading",
    "Vehicle.TripDuration",
    "Vehicle.AverageSpeed",
    "Vehicle.Carmesh.Powertrain.TripConsumption",
  ];

  render() {
    const row = (key, testid) => `
      <div class="ct-row"><dt data-i18n="cluster.${key}"></dt><dd class="num" data-testid="${testid}"></dd></div>`;
    return `
      <span class="ce-label" data-i18n="cluster.trip"></span>
      <dl class="ct-list">
        ${row("trip_distance", "trip-distance")}
        ${row("trip_consumption", "trip-consumption")}
        ${row("trip_average_speed", "trip-average-speed")}
        ${row("trip_time", "trip-time")}
      </dl>`;
  }

  update() {
    const s = this.state;
    this.text('[data-testid="trip-distance"]', fmt.distance(s["Vehicle.TripMeterReading"], 1).text);
    this.text('[data-testid="trip-consumption"]', fmt.consumption(s["Vehicle.Carmesh.Powertrain.TripConsumption"]).text);
    this.text('[data-testid="trip-average-speed"]', fmt.speed(s["Vehicle.AverageSpeed"]).text);
    this.text('[data-testid="trip-time"]', fmt.duration(s["Vehicle.TripDuration"]));
  }
}

const TELLTALES = ["battery12v", "door", "tyre", "dtc", "charging"];

class ClusterTop extends CarElement {
  static paths = [
    ...ALERT_PATHS,
    `${LIGHTS}.DirectionIndicator.Left.IsSignaling`,
    `${LIGHTS}.DirectionIndicator.Right.IsSignaling`,
    `${LIGHTS}.Hazard.IsSignaling`,
    "Vehicle.Exterior.AirTemperature",
  ];

  render() {
    const telltales = TELLTALES.map(
      (id) => `<span class="telltale" data-telltale="${id}" data-testid="telltale-${id}" hidden></span>`,
    ).join("");
    return `
      <span class="turn turn-left" data-testid="turn-left">${icon("turn-left-fill")}</span>
      <span class="ctop-clock num"></span>
      <div class="telltales" role="status">${telltales}</div>
      <span class="ctop-outside num"></span>
      <span class="turn turn-right" data-testid="turn-right">${icon("turn-right-fill")}</span>`;
  }

  setup() {
    setInterval(() => this.text(".ctop-clock", fmt.clock()), 1000);
  }

  update() {
    const s = this.state;
    const hazard = s[`${LIGHTS}.Hazard.IsSignaling`] === true;
    const left = hazard || s[`${LIGHTS}.DirectionIndicator.Left.IsSignaling`] === true;
    const right = hazard || s[`${LIGHTS}.DirectionIndicator.Right.IsSignaling`] === true;
    this.$(".turn-left").classList.toggle("on", left);
    this.$(".turn-right").classList.toggle("on", right);
    this.text(".ctop-clock", fmt.clock());
    this.text(".ctop-outside", fmt.temperature(s["Vehicle.Exterior.AirTemperature"], 0).text);
    const active = new Map(alerts(s, driving.moving).map((a) => [a.id, a]));
    for (const el of this.querySelectorAll("[data-telltale]")) {
      const alert = active.get(el.dataset.telltale);
      el.hidden = !alert;
      if (!alert) continue;
      if (el.dataset.icon !== alert.icon) {
        el.innerHTML = icon(alert.icon);
        el.dataset.icon = alert.icon;
      }
      el.className = `telltale level-${alert.level}`;
      el.title = alert.title;
      el.setAttribute("aria-label", `${alert.title}: ${alert.detail}`);
    }
  }
}

define("cm-cluster-energy", ClusterEnergy);
define("cm-cluster-trip", ClusterTrip);
define("cm-cluster-top", ClusterTop);
