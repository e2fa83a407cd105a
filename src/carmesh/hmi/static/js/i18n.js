/**
 * Every string a user reads comes from `/i18n/{lang}.json` (en, zh-CN); every number is
 * formatted for the language and converted to the user's units here, in the page: the car
 * speaks SI (km/h, m, °C, Wh/km) and the page shows km or mi, °C or °F.
 *
 * - `t("climate.title")`, `t("vehicle.charging_to", {limit: "80%", time: "1 h"})` — nested keys,
 *   `{name}` placeholders; a missing key shows the key itself.
 * - `translate(root)` fills `[data-i18n]` elements' text and `[data-i18n-attr]` attributes
 *   ("placeholder:nav.search;aria-label:nav.search_label").
 * - `fmt.*` — numbers, temperatures, distances, speeds, consumption, durations, clock time.
 * - `i18n` fires `change` once a language is loaded (and the settings it formats for change).
 */

import { settings } from "./settings.js";

let strings = {};
let lang = "en";
let version = 0;
const bus = new EventTarget();

function lookup(key) {
  let node = strings;
  for (const part of key.split(".")) {
    if (node === null || typeof node !== "object" || !(part in node)) return undefined;
    node = node[part];
  }
  return typeof node === "string" ? node : undefined;
}

/** The translation of `key` with `{placeholders}` filled from `params`. */
export function t(key, params = {}) {
  const text = lookup(key);
  if (text === undefined) return key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? params[name] : whole));
}

/** Fill `[data-i18n]` text and `[data-i18n-attr]` attributes under `root`. */
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

/** Load the language the settings name; resolves once its strings are in force. */
export async function load(wanted = settings.get("lang")) {
  const response = await fetch(`/i18n/${encodeURIComponent(wanted)}.json`);
  if (!response.ok) throw new Error(`no translations for ${wanted} (HTTP ${response.status})`);
  strings = await response.json();
  lang = wanted;
  version += 1;
  document.documentElement.lang = wanted;
  translate(document);
  bus.dispatchEvent(new CustomEvent("change", { detail: lang }));
}

export const i18n = {
  get lang() {
    return lang;
  },
  /** Grows with every load: markup cached per language can key on it. */
  get version() {
    return version;
  },
  /** Call `listener` whenever the language or the units change (not at once). */
  onChange(listener) {
    bus.addEventListener("change", listener);
    return () => bus.removeEventListener("change", listener);
  },
};

settings.addEventListener("change", (event) => {
  if (event.detail.changed === "lang" || event.detail.lang !== lang) {
    load(event.detail.lang).catch((error) => reportError(error));
  } else {
    bus.dispatchEvent(new CustomEvent("change", { detail: lang }));
  }
});

const KM_PER_MI = 1.609344;

function number(value, digits = 0, minDigits = digits) {
  return new Intl.NumberFormat(lang, {
    minimumFractionDigits: minDigits,
    maximumFractionDigits: digits,
  }).format(value);
}

/**
 * A value with its unit, ready for a big figure (`value`, `unit`) or a line (`text`). Unit
 * strings carry their own spacing ("62%", "312 km" in English).
 */
function quantity(value, unitKey) {
  const unit = t(unitKey);
  return { value, unit: unit.trim(), text: `${value}${unit}` };
}

const missing = () => ({ value: "–", unit: "", text: "–" });
const known = (v) => typeof v === "number" && Number.isFinite(v);

export const fmt = {
  number(value, digits = 0) {
    return known(value) ? number(value, digits) : "–";
  },
  percent(value, digits = 0) {
    return known(value) ? quantity(number(value, digits), "units.percent") : missing();
  },
  /** Celsius → the user's unit; °F has no decimals, °C `digits` (default 1). */
  temperature(celsius, digits = 1) {
    if (!known(celsius)) return missing();
    if (settings.get("temperature") === "F") {
      return quantity(number(celsius * 1.8 + 32, 0), "units.fahrenheit");
    }
    return quantity(number(celsius, digits, digits), "units.celsius");
  },
  /** Metres → km or mi. */
  distance(metres, digits = 0) {
    if (!known(metres)) return missing();
    const km = metres / 1000;
    if (settings.get("distance") === "mi") {
      return quantity(number(km / KM_PER_MI, digits, digits), "units.mi");
    }
    return quantity(number(km, digits, digits), "units.km");
  },
  /** km/h → km/h or mph, whole numbers. */
  speed(kmh) {
    if (!known(kmh)) return missing();
    if (settings.get("distance") === "mi") return quantity(number(kmh / KM_PER_MI), "units.mph");
    return quantity(number(kmh), "units.kmh");
  },
  /** Wh/km → kWh/100 km or kWh/100 mi. */
  consumption(whPerKm) {
    if (!known(whPerKm)) return missing();
    if (settings.get("distance") === "mi") {
      return quantity(number((whPerKm * KM_PER_MI) / 10, 1, 1), "units.kwh_per_100mi");
    }
    return quantity(number(whPerKm / 10, 1, 1), "units.kwh_per_100km");
  },
  power(kw) {
    return known(kw) ? quantity(number(kw), "units.kw") : missing();
  },
  voltage(v) {
    return known(v) ? quantity(number(v, 1, 1), "units.volt") : missing();
  },
  pressure(kpa) {
    return known(kpa) ? quantity(number(kpa / 100, 1, 1), "units.bar") : missing();
  },
  /** Seconds → "1 h 05 min" / "12 min" / "< 1 min". */
  duration(seconds) {
    if (!known(seconds)) return "–";
    const minutes = Math.round(seconds / 60);
    if (minutes < 1) return t("units.under_minute");
    const h = Math.floor(minutes / 60);
    const m = minutes % 60;
    if (!h) return t("units.minutes", { m: number(m) });
    return t("units.hours_minutes", { h: number(h), m: String(m).padStart(2, "0") });
  },
  /** The clock, "14:05". */
  clock(date = new Date()) {
    return new Intl.DateTimeFormat(lang, {
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).format(date);
  },
  date(date = new Date()) {
    return new Intl.DateTimeFormat(lang, { weekday: "short", month: "short", day: "numeric" })
      .format(date);
  },
  /** Convert a temperature in the user's unit back to °C. */
  toCelsius(value) {
    return settings.get("temperature") === "F" ? (value - 32) / 1.8 : value;
  },
  fromCelsius(celsius) {
    return settings.get("temperature") === "F" ? celsius * 1.8 + 32 : celsius;
  },
};
