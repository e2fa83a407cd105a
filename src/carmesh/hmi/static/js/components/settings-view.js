/**
 * `<cm-settings-view>`: language, units (distance and temperature) and day/night theme,
 * each a segmented choice; the choice applies at once and is kept in localStorage.
 */

import { CarElement, define, escape, link, t } from "./base.js";
import { settings } from "../settings.js";
import { icon } from "../icons.js";
import { vehicleName } from "./vehicle-card.js";

const GROUPS = [
  { key: "lang", icon: "globe", options: [["en", null], ["zh-CN", null]] },
  { key: "distance", icon: "ruler", options: [["km", null], ["mi", null]] },
  { key: "temperature", icon: "thermometer", options: [["C", null], ["F", null]] },
  { key: "theme", icon: "sun", options: [["auto", "auto"], ["day", "sun"], ["night", "moon"]] },
];

function groupMarkup({ key, icon: groupIcon, options }) {
  const buttons = options
    .map(
      ([value, optionIcon]) => `<button type="button" role="radio" data-value="${escape(value)}"
        data-testid="setting-${key}-${escape(value)}">
        ${optionIcon ? icon(optionIcon) : ""}<span data-i18n="settings.${key}_${value.replace("-", "_")}"></span>
      </button>`,
    )
    .join("");
  return `
    <section class="sv-group" data-setting="${key}">
      <div class="sv-label">
        <span class="sv-icon">${icon(groupIcon)}</span>
        <span class="sv-text"><strong data-i18n="settings.${key}"></strong>
          <span class="muted" data-i18n="settings.${key}_hint"></span></span>
      </div>
      <div class="seg" role="radiogroup" data-i18n-attr="aria-label:settings.${key}">${buttons}</div>
    </section>`;
}

class SettingsView extends CarElement {
  static paths = [
    "Vehicle.VehicleIdentification.Brand",
    "Vehicle.VehicleIdentification.Model",
    "Vehicle.VehicleIdentification.Year",
  ];

  render() {
    return `
      <header class="sv-head">
        <h1 data-i18n="settings.title"></h1>
        <span class="muted sv-about"></span>
      </header>
      <div class="sv-groups">${GROUPS.map(groupMarkup).join("")}</div>`;
  }

  setup() {
    for (const group of this.querySelectorAll(".sv-group")) {
      group.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-value]");
        if (button) settings.set(group.dataset.setting, button.dataset.value);
      });
    }
    settings.addEventListener("change", () => this.update({}));
    link.addEventListener("status", () => this.update({}));
  }

  update() {
    for (const group of this.querySelectorAll(".sv-group")) {
      const value = settings.get(group.dataset.setting);
      for (const button of group.querySelectorAll("button[data-value]")) {
        button.setAttribute("aria-checked", String(button.dataset.value === value));
      }
    }
    const s = this.state;
    const car = [vehicleName(s), s["Vehicle.VehicleIdentification.Year"]]
      .filter((x) => x !== undefined && x !== null && x !== "")
      .join(" ");
    this.text(".sv-about", t("settings.about", { car: car || "–", link: t(`link.${link.status}`) }));
  }
}

define("cm-settings-view", SettingsView);
