/**
 * `<cm-app-launcher>`: the installed apps, as large tiles — the name in the UI language, the
 * icon, a badge for the state (running, starting, stopped, exited, restarting after a crash,
 * quarantined) and a marker while the app waits for the user to decide its permissions. Set
 * `launcher.apps = [APP, …]` (apps as `GET /api/apps` lists them; the centre display feeds
 * the link's `apps`) and listen for `launch` events (detail: the app's id). While the car moves
 * at most `max_list_items` tiles show.
 *
 * For every surface that shows apps: `localized(text)` picks the UI language of a text that
 * is a string or `{"en": …, "zh-CN": …}`; `appName(app)`; `undecided(app)` lists the ids of
 * the permissions nobody decided yet; `appIcon(app)` is the icon's markup.
 */

import { CarElement, define, driving, escape, fmt, t } from "./base.js";
import { i18n } from "../i18n.js";
import { icon } from "../icons.js";

/** How each state looks: the badge's tone. */
const TONES = {
  running: "ok",
  starting: "ok",
  stopped: "idle",
  exited: "idle",
  backoff: "warn",
  quarantined: "bad",
};

export function localized(text) {
  if (typeof text === "string") return text;
  if (!text || typeof text !== "object") return "";
  const value = text[i18n.lang] ?? text.en ?? Object.values(text).find((v) => typeof v === "string");
  return typeof value === "string" ? value : "";
}

export function appName(app) {
  if (!app) return "";
  return localized(app.names) || localized(app.name) || String(app.id ?? "");
}

export function undecided(app) {
  const permissions = Array.isArray(app?.permissions) ? app.permissions : [];
  return permissions.filter((p) => p.granted === null || p.granted === undefined).map((p) => p.id);
}

/** The icon of `app` (an image on this origin) or the generic one. */
export function appIcon(app) {
  const url = app && app.icon;
  if (typeof url === "string" && url.startsWith("/") && !url.startsWith("//")) {
    return `<img src="${escape(url)}" alt="" draggable="false">`;
  }
  return icon("apps");
}

class AppLauncher extends CarElement {
  constructor() {
    super();
    this._apps = [];
  }

  get apps() {
    return this._apps;
  }

  set apps(list) {
    this._apps = Array.isArray(list) ? list : [];
    if (this._built) this.update({});
  }

  render() {
    return `
      <header class="card-head">
        <h2 class="card-title" data-i18n="apps.title"></h2>
      </header>
      <ul class="al-grid" data-testid="apps"></ul>
      <div class="empty al-empty">${icon("apps")}<span data-i18n="apps.empty"></span></div>
      <p class="al-more faint" hidden></p>`;
  }

  setup() {
    const grid = this.$(".al-grid");
    grid.addEventListener("click", (event) => {
      const tile = event.target.closest("[data-app]");
      if (tile) this.dispatchEvent(new CustomEvent("launch", { detail: tile.dataset.app, bubbles: true }));
    });
    // An icon that does not load gives way to the generic one.
    grid.addEventListener("error", (event) => {
      if (event.target.tagName === "IMG") event.target.outerHTML = icon("apps");
    }, true);
  }

  update() {
    const shown = driving.limit(this._apps);
    const tiles = shown.map((app) => this.tile(app));
    const grid = this.$(".al-grid");
    // Rebuild only on change, so that a tap never lands on a replaced button.
    const html = tiles.join("");
    if (grid.dataset.html !== html) {
      grid.innerHTML = html;
      grid.dataset.html = html;
    }
    this.$(".al-empty").hidden = this._apps.length > 0;
    const more = this.$(".al-more");
    more.hidden = shown.length === this._apps.length;
    if (!more.hidden) this.text(more, t("driving.more_when_parked", { n: fmt.number(this._apps.length - shown.length) }));
  }

  tile(app) {
    const name = appName(app);
    const state = typeof app.state === "string" && app.state in TONES ? app.state : null;
    const pending = undecided(app).length > 0;
    const label = [name, state && t(`apps.state_${state}`), pending && t("apps.needs_permission")]
      .filter(Boolean)
      .join(t("list.separator"));
    return `<li><button type="button" class="al-tile" data-app="${escape(app.id)}"
        data-testid="app-tile" ${state ? `data-state="${state}"` : ""} aria-label="${escape(label)}">
        <span class="al-icon">${appIcon(app)}</span>
        <span class="al-name">${escape(name)}</span>
        ${state ? `<span class="al-state tone-${TONES[state]}">${escape(t(`apps.state_${state}`))}</span>` : ""}
        ${pending ? `<span class="al-pending" data-testid="app-pending" title="${escape(t("apps.needs_permission"))}">${icon("lock")}</span>` : ""}
      </button></li>`;
  }
}

define("cm-app-launcher", AppLauncher);
