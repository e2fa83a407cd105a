/**
 * `<cm-app-view>`: an open app — its name, state and controls (back, permissions, start or
 * stop) above the template it shows now (docs/apps.md, "Templates"): a list, grid, pane,
 * message, navigation or search. Taps go to the app over the link (`app.action`): an action
 * button as `{action: ID, item: null}`, a list item, grid tile or search result as
 * `{action: "select", item: ID}`; a refusal shows as a toast.
 *
 * It shows what the car's app host hands over. While the car moves the host has trimmed that
 * (`trimmed: true`) and the view says so; it still cuts lists to the rules in force itself and
 * offers the search keyboard only while text entry is allowed, so nothing shows more than the
 * rules allow between a change of the driving state and the host's next template. The search
 * field filters the results the app gave (the template protocol carries no query to the app).
 *
 * `view.open(appId)`; events `close` (back, or the app went away) and `permissions` (detail:
 * the app's id: the user wants to review them).
 */

import { CarElement, define, driving, escape, fmt, link, t } from "./base.js";
import { i18n } from "../i18n.js";
import { icon } from "../icons.js";
import { request } from "../link.js";
import { settings } from "../settings.js";
import { showError } from "./toasts.js";
import { appIcon, appName, localized, undecided } from "./app-launcher.js";

/** The action the host expects when an item itself is tapped. */
export const SELECT = "select";
const FEET_PER_METRE = 3.28084;
/** The states an app may be in (docs/apps.md, "Processes"). */
const STATES = new Set(["running", "starting", "stopped", "exited", "backoff", "quarantined"]);
const METRES_PER_MILE = 1609.344;

/** One of the HMI's icons by the name a template gives, or nothing for an unknown name. */
function iconOf(name, className = "") {
  if (typeof name !== "string") return "";
  try {
    return icon(name, className);
  } catch {
    return "";
  }
}

const text = (value) => escape(localized(value));

function actions(list, primary = false) {
  if (!Array.isArray(list) || !list.length) return "";
  const buttons = list
    .map(
      (a) => `<button type="button" class="btn av-action${primary ? " primary" : ""}"
        data-action="${escape(a.id)}">${text(a.label)}</button>`,
    )
    .join("");
  return `<div class="av-actions">${buttons}</div>`;
}

/** A distance to the next maneuver: metres or km, feet or miles. */
function distance(metres) {
  if (typeof metres !== "number" || !Number.isFinite(metres)) return "–";
  if (settings.get("distance") === "mi") {
    if (metres < 0.1 * METRES_PER_MILE) {
      return t("apps.feet", { n: fmt.number(Math.round((metres * FEET_PER_METRE) / 10) * 10) });
    }
    return fmt.distance(metres, 1).text;
  }
  if (metres < 1000) return t("apps.metres", { n: fmt.number(Math.round(metres / 10) * 10) });
  return fmt.distance(metres, 1).text;
}

class AppView extends CarElement {
  constructor() {
    super();
    this.appId = null;
  }

  render() {
    return `
      <header class="av-head">
        <button type="button" class="btn round ghost av-back" data-testid="app-back"
          data-i18n-attr="aria-label:apps.back">${icon("chevron")}</button>
        <span class="av-icon"></span>
        <div class="av-titles">
          <h1 class="av-name" data-testid="app-name"></h1>
          <span class="av-state" data-testid="app-state"></span>
        </div>
        <div class="av-tools">
          <button type="button" class="btn av-permissions" data-testid="app-permissions">
            ${icon("lock")}<span data-i18n="apps.permissions"></span></button>
          <button type="button" class="btn av-start" data-testid="app-start" hidden>
            ${icon("play-fill")}<span data-i18n="apps.start"></span></button>
          <button type="button" class="btn av-stop" data-testid="app-stop" hidden>
            ${icon("pause-fill")}<span data-i18n="apps.stop"></span></button>
        </div>
      </header>
      <div class="av-trimmed" data-testid="app-trimmed" role="status" hidden>
        <span class="av-trimmed-icon">${icon("steering")}</span>
        <strong data-i18n="apps.trimmed"></strong>
        <span data-i18n="apps.trimmed_detail"></span>
      </div>
      <section class="av-body" data-testid="app-template"></section>`;
  }

  setup() {
    this.$(".av-back").addEventListener("click", () => this.close());
    this.$(".av-permissions").addEventListener("click", () => {
      this.dispatchEvent(new CustomEvent("permissions", { detail: this.appId, bubbles: true }));
    });
    this.$(".av-start").addEventListener("click", () => this.lifecycle("start"));
    this.$(".av-stop").addEventListener("click", () => this.lifecycle("stop"));
    const body = this.$(".av-body");
    body.addEventListener("click", (event) => {
      const target = event.target.closest("[data-item], [data-action]");
      if (!target || !this.appId) return;
      if (target.dataset.item !== undefined) this.tap(SELECT, target.dataset.item);
      else this.tap(target.dataset.action, null);
    });
    body.addEventListener("input", (event) => {
      if (event.target.matches(".av-search-input")) this.renderResults();
    });
    body.addEventListener("error", (event) => {
      if (event.target.tagName === "IMG") event.target.remove();
    }, true);
    link.addEventListener("apps", () => {
      if (this.appId && !this.app) this.close();
      else this.update({});
    });
    link.addEventListener("app-template", (event) => {
      if (event.detail.app === this.appId) this.update({});
    });
  }

  /** Show `appId` (its template arrives with the link's frames). */
  open(appId) {
    this.appId = appId;
    const body = this.$(".av-body");
    delete body.dataset.key;
    this.update({});
  }

  close() {
    this.appId = null;
    this.dispatchEvent(new CustomEvent("close", { bubbles: true }));
  }

  get app() {
    return link.apps.find((app) => app.id === this.appId) || null;
  }

  async tap(action, item) {
    try {
      await link.appAction(this.appId, action, item);
    } catch (error) {
      showError(error);
    }
  }

  async lifecycle(what) {
    const id = this.appId;
    try {
      await request("POST", `/api/apps/${encodeURIComponent(id)}/${what}`);
    } catch (error) {
      showError(error);
    }
  }

  update() {
    const app = this.app;
    if (!this.appId || !app) return;
    const name = appName(app);
    this.text(".av-name", name);
    const iconEl = this.$(".av-icon");
    const iconKey = `${app.icon}`;
    if (iconEl.dataset.key !== iconKey) {
      iconEl.innerHTML = appIcon(app);
      iconEl.dataset.key = iconKey;
    }
    const stateEl = this.text(".av-state", t(`apps.state_${STATES.has(app.state) ? app.state : "stopped"}`));
    stateEl.dataset.state = app.state;
    const running = app.state === "running" || app.state === "starting" || app.state === "backoff";
    this.$(".av-start").hidden = running;
    this.$(".av-stop").hidden = !running;
    this.$(".av-permissions").classList.toggle("pending", undecided(app).length > 0);
    const shown = link.templates.get(this.appId) || { template: null, trimmed: false };
    this.$(".av-trimmed").hidden = !shown.trimmed;
    this.renderBody(app, shown);
  }

  renderBody(app, shown) {
    const body = this.$(".av-body");
    const rules = driving.rules;
    const key = JSON.stringify([shown, app.state, i18n.version, rules, settings.get("distance")]);
    if (body.dataset.key === key) return;
    body.dataset.key = key;
    const template = shown.template;
    body.dataset.type = template ? template.type : "none";
    body.innerHTML = template ? this.markup(template) : this.placeholder(app);
    if (template && template.type === "search") this.renderResults();
  }

  placeholder(app) {
    const name = appName(app);
    let message = t("apps.nothing_shown", { app: name });
    if (app.state === "quarantined") message = t("apps.quarantined_detail", { app: name });
    else if (app.state !== "running" && app.state !== "starting") message = t("apps.not_running", { app: name });
    return `<div class="empty av-empty">${icon("apps")}<span>${escape(message)}</span></div>`;
  }

  markup(template) {
    const title = `<h2 class="av-title">${text(template.title)}</h2>`;
    switch (template.type) {
      case "list":
        return title + this.list(template.items, "list") + actions(template.actions);
      case "grid":
        return title + this.list(template.items, "grid") + actions(template.actions);
      case "pane":
        return title + this.pane(template) + actions(template.actions, true);
      case "message":
        return `<div class="av-message">
            <span class="av-message-icon">${iconOf(template.icon) || icon("info")}</span>
            ${title}<p class="av-message-text">${text(template.message)}</p>
          </div>${actions(template.actions)}`;
      case "navigation":
        return this.navigation(template);
      case "search":
        return title + this.search(template);
      default:
        return `<div class="empty av-empty">${icon("warning")}<span>${escape(t("apps.unknown_template"))}</span></div>`;
    }
  }

  list(items, kind) {
    const all = Array.isArray(items) ? items : [];
    const shown = driving.limit(all);
    const entries = shown
      .map((item) =>
        kind === "grid"
          ? `<li><button type="button" class="av-tile" data-item="${escape(item.id)}">
              <span class="av-tile-icon">${iconOf(item.icon) || icon("apps")}</span>
              <span class="av-tile-title">${text(item.title)}</span></button></li>`
          : `<li><button type="button" class="av-item" data-item="${escape(item.id)}">
              ${item.icon ? `<span class="av-item-icon">${iconOf(item.icon)}</span>` : ""}
              <span class="av-item-text"><strong>${text(item.title)}</strong>
                ${item.text ? `<span>${text(item.text)}</span>` : ""}</span>
              <span class="av-item-go">${icon("chevron")}</span></button></li>`,
      )
      .join("");
    const empty = all.length ? "" : `<li class="av-none faint">${escape(t("apps.no_items"))}</li>`;
    return `<ul class="av-${kind}" data-testid="app-items">${entries}${empty}</ul>${this.more(all.length - shown.length)}`;
  }

  more(hidden) {
    if (hidden <= 0) return "";
    return `<p class="av-more faint">${escape(t("driving.more_when_parked", { n: fmt.number(hidden) }))}</p>`;
  }

  pane(template) {
    const rows = (Array.isArray(template.rows) ? template.rows : [])
      .map((row) => `<div class="av-row"><dt>${text(row.label)}</dt><dd>${text(row.value)}</dd></div>`)
      .join("");
    return `<dl class="av-rows">${rows}</dl>`;
  }

  navigation(template) {
    const road = template.road ? `<span class="av-road">${text(template.road)}</span>` : "";
    const eta = template.eta
      ? `<span class="av-eta">${escape(t("apps.arrive", { eta: localized(template.eta) }))}</span>`
      : "";
    return `<div class="av-nav">
        <div class="av-map" aria-hidden="true">${icon("navigation")}</div>
        <div class="av-guidance">
          <span class="av-nav-title muted">${text(template.title)}</span>
          <span class="av-distance num" data-testid="app-distance">${escape(distance(template.distance_m))}</span>
          <strong class="av-maneuver">${text(template.maneuver)}</strong>
          ${road}${eta}
        </div>
      </div>`;
  }

  search(template) {
    const allowed = driving.rules.text_entry !== false;
    const placeholder = allowed ? localized(template.placeholder) : t("apps.search_parked");
    return `<label class="av-search${allowed ? "" : " locked"}">${icon("search")}
        <input type="search" class="av-search-input" data-testid="app-search" autocomplete="off"
          spellcheck="false" placeholder="${escape(placeholder)}" aria-label="${escape(placeholder)}"
          ${allowed ? "" : "disabled"}>
      </label>
      <ul class="av-list av-results" data-testid="app-items"></ul><div class="av-results-more"></div>`;
  }

  renderResults() {
    const template = (link.templates.get(this.appId) || {}).template;
    const list = this.$(".av-results");
    if (!template || template.type !== "search" || !list) return;
    const input = this.$(".av-search-input");
    const query = input && !input.disabled ? input.value.trim().toLocaleLowerCase() : "";
    const results = (Array.isArray(template.results) ? template.results : []).filter(
      (r) =>
        !query ||
        localized(r.title).toLocaleLowerCase().includes(query) ||
        localized(r.text).toLocaleLowerCase().includes(query),
    );
    const shown = driving.limit(results);
    list.innerHTML = shown.length
      ? shown
          .map(
            (r) => `<li><button type="button" class="av-item" data-item="${escape(r.id)}">
              <span class="av-item-text"><strong>${text(r.title)}</strong>
                ${r.text ? `<span>${text(r.text)}</span>` : ""}</span>
              <span class="av-item-go">${icon("chevron")}</span></button></li>`,
          )
          .join("")
      : `<li class="av-none faint">${escape(t("apps.no_results"))}</li>`;
    this.$(".av-results-more").innerHTML = this.more(results.length - shown.length);
  }
}

define("cm-app-view", AppView);
