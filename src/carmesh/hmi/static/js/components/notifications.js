/**
 * `<cm-notifications>`: what the car wants the driver to know — warnings (tyre pressure,
 * 12 V battery, a door open while moving, trouble codes), charging notices, a lost link to
 * the car, and the apps' recent notifications (after the car's own, newest first). While the
 * car moves the list is cut to `max_list_items`.
 */

import { CarElement, define, driving, escape, fmt, link, t } from "./base.js";
import { ALERT_PATHS, alerts } from "../alerts.js";
import { icon } from "../icons.js";
import { appName } from "./app-launcher.js";

const APP_LEVELS = { high: "warning", normal: "info", low: "info" };

class Notifications extends CarElement {
  static paths = ALERT_PATHS;

  render() {
    return `
      <header class="card-head">
        <h2 class="card-title" data-i18n="notifications.title"></h2>
        <span class="card-aside nt-count num"></span>
      </header>
      <ul class="nt-list" data-testid="notifications"></ul>
      <div class="empty nt-empty">${icon("bell")}<span data-i18n="notifications.empty"></span></div>
      <p class="nt-more faint" hidden></p>`;
  }

  setup() {
    for (const kind of ["status", "notification", "apps"]) {
      link.addEventListener(kind, () => this.update({}));
    }
  }

  appItems() {
    return link.notifications.map((n) => ({
      id: `app-${n.id}`,
      level: APP_LEVELS[n.priority] ?? "info",
      icon: "bell",
      title: n.title,
      detail: [appName(link.apps.find((a) => a.id === n.app)) || n.app, n.body]
        .filter(Boolean)
        .join(" · "),
    }));
  }

  update() {
    const items = [...alerts(this.state, driving.moving), ...this.appItems()];
    if (link.status === "closed") {
      items.unshift({
        id: "link",
        level: "warning",
        icon: "warning",
        title: t("notifications.link_lost"),
        detail: t("notifications.link_lost_detail"),
      });
    }
    const shown = driving.limit(items);
    const html = shown
      .map(
        (a) => `<li class="nt-item level-${a.level}" data-alert="${a.id}">
          <span class="nt-icon">${icon(a.icon)}</span>
          <span class="nt-text"><strong>${escape(a.title)}</strong><span>${escape(a.detail)}</span></span>
        </li>`,
      )
      .join("");
    const list = this.$(".nt-list");
    if (list.dataset.html !== html) {
      list.innerHTML = html;
      list.dataset.html = html;
    }
    this.$(".nt-empty").hidden = items.length > 0;
    this.text(".nt-count", items.length ? fmt.number(items.length) : "");
    const more = this.$(".nt-more");
    more.hidden = shown.length === items.length;
    if (!more.hidden) this.text(more, t("driving.more_when_parked", { n: fmt.number(items.length - shown.length) }));
  }
}

define("cm-notifications", Notifications);
