/**
 * `<cm-permission-dialog>`: the user decides what an app may do, one permission at a time.
 * Each is worded for people in the UI language ("See the climate", "Control the seats", "Use
 * the internet") with what exactly it covers underneath (the KUKSA pattern), and has Allow and
 * Deny. Each choice is sent to the car at once (`PUT /api/apps/{id}/grants`), so what the user
 * decided is kept even if the dialog is left before the end.
 *
 * `await dialog.ask(app)` lists the permissions nobody decided yet and resolves, once the user
 * closes the dialog, with the app as the car then describes it — or null when some are still
 * undecided. `dialog.ask(app, {all: true})` lists every permission, to change a decision.
 */

import { CarElement, define, driving, escape, fmt, t } from "./base.js";
import { i18n } from "../i18n.js";
import { icon } from "../icons.js";
import { request } from "../link.js";
import { showError } from "./toasts.js";
import { appIcon, appName, undecided } from "./app-launcher.js";

/** Icons of the kinds of permission. */
const ICONS = {
  read: "search",
  actuate: "steering",
  provide: "plug",
  notifications: "bell",
  media: "music",
  location: "pin",
  network: "globe",
};

/** VSS branches people have a word for, most specific first (`permissions.what.*`). */
const BRANCHES = [
  ["Vehicle.Speed", "speed"],
  ["Vehicle.TraveledDistance", "odometer"],
  ["Vehicle.Powertrain.Range", "range"],
  ["Vehicle.CurrentLocation", "location"],
  ["Vehicle.Cabin.HVAC", "climate"],
  ["Vehicle.Cabin.Seat", "seats"],
  ["Vehicle.Cabin.Door", "doors"],
  ["Vehicle.Cabin.Infotainment.Media", "media"],
  ["Vehicle.Cabin.Infotainment.Navigation", "navigation"],
  ["Vehicle.Cabin.Light", "lights"],
  ["Vehicle.Body.Lights", "lights"],
  ["Vehicle.Powertrain.TractionBattery.Charging", "charging"],
  ["Vehicle.Powertrain.TractionBattery", "battery"],
  ["Vehicle.Powertrain", "powertrain"],
  ["Vehicle.Cabin", "cabin"],
  ["Vehicle.Body", "body"],
  ["Vehicle.Chassis", "chassis"],
];

/** What a KUKSA pattern covers, in words: "the climate", "all of the car's data". */
function subject(pattern) {
  const base = pattern.replace(/(\.\*\*?)+$/, "");
  if (base === "" || base === "Vehicle" || base === "*" || base === "**") {
    return t("permissions.what.vehicle");
  }
  for (const [prefix, key] of BRANCHES) {
    if (base === prefix || base.startsWith(`${prefix}.`)) return t(`permissions.what.${key}`);
  }
  return t("permissions.what.other");
}

/** A permission id in words: `{icon, title, detail}`. */
export function describePermission(id) {
  const [kind, ...rest] = String(id).split(":");
  const pattern = rest.join(":");
  if (pattern && (kind === "read" || kind === "actuate" || kind === "provide")) {
    return { icon: ICONS[kind], title: t(`permissions.${kind}`, { what: subject(pattern) }), detail: pattern };
  }
  if (!pattern && kind in ICONS && kind !== "read" && kind !== "actuate" && kind !== "provide") {
    return { icon: ICONS[kind], title: t(`permissions.${kind}`), detail: t(`permissions.${kind}_detail`) };
  }
  return { icon: "info", title: String(id), detail: "" };
}

class PermissionDialog extends CarElement {
  constructor() {
    super();
    this.app = null;
    this.listed = [];
    this._resolve = null;
  }

  render() {
    return `
      <dialog class="pd" data-testid="permission-dialog">
        <header class="pd-head">
          <span class="pd-icon"></span>
          <div class="pd-titles">
            <h2 class="pd-title"></h2>
            <p class="pd-hint muted" data-i18n="permissions.hint"></p>
          </div>
        </header>
        <ul class="pd-list"></ul>
        <p class="pd-more faint" hidden></p>
        <footer class="pd-foot">
          <button type="button" class="btn primary pd-done" data-testid="permission-done"></button>
        </footer>
      </dialog>`;
  }

  setup() {
    const dialog = this.$("dialog");
    this.$(".pd-list").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-grant]");
      const row = button && button.closest("[data-permission]");
      if (row) this.decide(row.dataset.permission, button.dataset.grant === "true");
    });
    this.$(".pd-done").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => this.finish());
  }

  /** Ask the user about `app`'s undecided permissions (every one with `{all: true}`). */
  ask(app, { all = false } = {}) {
    this.finish();
    this.app = app;
    const permissions = Array.isArray(app.permissions) ? app.permissions : [];
    this.listed = all ? permissions.map((p) => p.id) : undecided(app);
    this.$(".pd-list").dataset.key = "";
    this.update({});
    const dialog = this.$("dialog");
    if (!dialog.open) dialog.showModal();
    return new Promise((resolve) => {
      this._resolve = resolve;
    });
  }

  finish() {
    const resolve = this._resolve;
    this._resolve = null;
    if (resolve) resolve(this.app && !undecided(this.app).length ? this.app : null);
  }

  async decide(permission, granted) {
    const app = this.app;
    if (!app) return;
    try {
      this.app = await request("PUT", `/api/apps/${encodeURIComponent(app.id)}/grants`, {
        grants: { [permission]: granted },
      });
    } catch (error) {
      showError(error);
    }
    this.update({});
  }

  update() {
    const app = this.app;
    if (!app) return;
    this.text(".pd-title", t("permissions.title", { app: appName(app) }));
    const iconEl = this.$(".pd-icon");
    if (iconEl.dataset.key !== `${app.icon}`) {
      iconEl.innerHTML = appIcon(app);
      iconEl.dataset.key = `${app.icon}`;
    }
    const granted = new Map((app.permissions || []).map((p) => [p.id, p.granted]));
    const shown = driving.limit(this.listed);
    const list = this.$(".pd-list");
    const key = `${shown.join("\n")}|${i18n.version}`;
    if (list.dataset.key !== key) {
      list.dataset.key = key;
      list.innerHTML = shown.map((id) => this.row(id)).join("");
    }
    for (const row of list.querySelectorAll("[data-permission]")) {
      const state = granted.get(row.dataset.permission);
      row.dataset.granted = String(state ?? "undecided");
      for (const button of row.querySelectorAll("button[data-grant]")) {
        button.setAttribute("aria-checked", String(button.dataset.grant === String(state)));
      }
    }
    const more = this.$(".pd-more");
    more.hidden = shown.length === this.listed.length;
    if (!more.hidden) this.text(more, t("driving.more_when_parked", { n: fmt.number(this.listed.length - shown.length) }));
    const open = this.listed.some((id) => granted.get(id) === null || granted.get(id) === undefined);
    this.text(".pd-done", t(open ? "permissions.later" : "permissions.done"));
  }

  row(id) {
    const { icon: kind, title, detail } = describePermission(id);
    return `<li class="pd-row" data-permission="${escape(id)}">
        <span class="pd-row-icon">${icon(kind)}</span>
        <span class="pd-text"><strong>${escape(title)}</strong>
          ${detail ? `<span class="pd-detail">${escape(detail)}</span>` : ""}</span>
        <div class="seg" role="radiogroup" aria-label="${escape(title)}">
          <button type="button" role="radio" data-grant="true" data-testid="permission-allow">
            ${icon("check")}<span>${escape(t("permissions.allow"))}</span></button>
          <button type="button" role="radio" data-grant="false" data-testid="permission-deny">
            ${icon("close")}<span>${escape(t("permissions.deny"))}</span></button>
        </div>
      </li>`;
  }
}

define("cm-permission-dialog", PermissionDialog);
