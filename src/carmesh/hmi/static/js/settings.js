/**
 * The user's display settings, kept in localStorage and shared by every page of this origin:
 *
 * - `lang`: "en" | "zh-CN"
 * - `distance`: "km" | "mi" (speeds follow: km/h or mph)
 * - `temperature`: "C" | "F"
 * - `theme`: "auto" | "day" | "night" (auto: night from 19:00 to 07:00 local time)
 *
 * `settings.addEventListener("change", …)` fires after any change, here or in another tab.
 */

const KEY = "carmesh.hmi.settings";
const CHOICES = {
  lang: ["en", "zh-CN"],
  distance: ["km", "mi"],
  temperature: ["C", "F"],
  theme: ["auto", "day", "night"],
};

function defaults() {
  const browser = (navigator.language || "en").toLowerCase();
  return {
    lang: browser.startsWith("zh") ? "zh-CN" : "en",
    distance: "km",
    temperature: "C",
    theme: "auto",
  };
}

function read() {
  const out = defaults();
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) || "{}");
    for (const [key, allowed] of Object.entries(CHOICES)) {
      if (allowed.includes(stored[key])) out[key] = stored[key];
    }
  } catch {
    /* a damaged entry falls back to the defaults */
  }
  return out;
}

class Settings extends EventTarget {
  constructor() {
    super();
    this.values = read();
    window.addEventListener("storage", (event) => {
      if (event.key !== KEY) return;
      this.values = read();
      this.dispatchEvent(new CustomEvent("change", { detail: { ...this.values } }));
    });
  }

  get(key) {
    return this.values[key];
  }

  choices(key) {
    return CHOICES[key];
  }

  set(key, value) {
    if (!CHOICES[key] || !CHOICES[key].includes(value)) {
      throw new RangeError(`unknown setting ${key}=${value}`);
    }
    if (this.values[key] === value) return;
    this.values[key] = value;
    try {
      localStorage.setItem(KEY, JSON.stringify(this.values));
    } catch {
      /* private mode or full storage: the setting lasts until the page reloads */
    }
    this.dispatchEvent(new CustomEvent("change", { detail: { ...this.values, changed: key } }));
  }
}

export const settings = new Settings();

/** "day" or "night": the theme in force now. */
export function currentTheme(now = new Date()) {
  const theme = settings.get("theme");
  if (theme !== "auto") return theme;
  const hour = now.getHours();
  return hour >= 7 && hour < 19 ? "day" : "night";
}

/** Keep `<html data-theme>` in step with the setting (and the clock, for auto). */
export function followTheme(root = document.documentElement) {
  const apply = () => {
    root.dataset.theme = currentTheme();
  };
  apply();
  settings.addEventListener("change", apply);
  setInterval(apply, 60_000);
}
