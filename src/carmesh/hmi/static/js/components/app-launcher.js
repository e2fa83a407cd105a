/**
 * `<cm-app-launcher>`: the installed apps, as large tiles. Empty until the apps platform
 * fills it: `launcher.apps = [{id, name, icon}]` (`icon`: an image URL on this origin) and
 * listen for `launch` events (detail: the app's id).
 */

import { CarElement, define, driving, escape, fmt, t } from "./base.js";
import { icon } from "../icons.js";

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
    this.$(".al-grid").addEventListener("click", (event) => {
      const tile = event.target.closest("[data-app]");
      if (tile) this.dispatchEvent(new CustomEvent("launch", { detail: tile.dataset.app, bubbles: true }));
    });
  }

  update() {
    const shown = driving.limit(this._apps);
    this.$(".al-grid").innerHTML = shown
      .map(
        (app) => `<li><button type="button" class="al-tile" data-app="${escape(app.id)}">
          ${app.icon ? `<img src="${escape(app.icon)}" alt="">` : icon("apps")}
          <span>${escape(app.name)}</span></button></li>`,
      )
      .join("");
    this.$(".al-empty").hidden = this._apps.length > 0;
    const more = this.$(".al-more");
    more.hidden = shown.length === this._apps.length;
    if (!more.hidden) this.text(more, t("driving.more_when_parked", { n: fmt.number(this._apps.length - shown.length) }));
  }
}

define("cm-app-launcher", AppLauncher);
