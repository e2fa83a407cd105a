/**
 * The centre display (`/`, designed for 1920×720): loads the user's language, connects to
 * the car and switches between the home cards, the media page, the settings view and an open
 * app.
 *
 * Media: the rail's media button and the media card (its cover, titles or open button) show
 * the media page; its back button returns home.
 *
 * Apps: the launcher shows the link's app list; a tap on a tile first asks for permissions
 * nobody decided yet, then opens the app (starting it when it is stopped). Notifications that
 * apps post while the page is open pop up as toasts.
 */

import { load, t } from "./i18n.js";
import { link, request } from "./link.js";
import { followTheme } from "./settings.js";
import { icon } from "./icons.js";
import "./driving.js";
import "./components/toasts.js";
import "./components/car-view.js";
import "./components/status-bar.js";
import "./components/vehicle-card.js";
import "./components/climate-card.js";
import "./components/media-card.js";
import "./components/media-view.js";
import "./components/nav-card.js";
import "./components/notifications.js";
import { appIcon, appName, localized, undecided } from "./components/app-launcher.js";
import "./components/app-view.js";
import "./components/permission-dialog.js";
import "./components/settings-view.js";
import { showError, showToast } from "./components/toasts.js";

function show(view) {
  document.body.dataset.view = view;
  for (const section of document.querySelectorAll("main > .view")) {
    section.hidden = section.dataset.view !== view;
  }
  for (const button of document.querySelectorAll(".rail-btn")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  if (view === "media") mediaView.open();
}

const launcher = document.querySelector("cm-app-launcher");
const appView = document.querySelector("cm-app-view");
const permissionDialog = document.querySelector("cm-permission-dialog");
const mediaView = document.querySelector("cm-media-view");

/** Open app `id`: decide its permissions first, start it if it is stopped. */
async function launch(id) {
  let app = link.apps.find((a) => a.id === id);
  if (!app) return;
  if (undecided(app).length) {
    app = await permissionDialog.ask(app);
    if (!app) return; // decided later
  }
  appView.open(id);
  show("app");
  if (app.state === "stopped" || app.state === "exited") {
    try {
      await request("POST", `/api/apps/${encodeURIComponent(id)}/start`);
    } catch (error) {
      showError(error);
    }
  }
}

/** A notification an app posted, as a toast naming the app. */
function notify({ notification, recent }) {
  if (recent) return; // news before this page opened
  const app = link.apps.find((a) => a.id === notification.app);
  const toast = showToast(localized(notification.title), localized(notification.body), "info");
  toast.classList.add("toast-app");
  toast.dataset.testid = "app-notification";
  toast.dataset.priority = String(notification.priority ?? "normal");
  if (app) toast.querySelector(".toast-icon").innerHTML = appIcon(app);
  const from = document.createElement("span");
  from.className = "toast-app-name";
  from.textContent = t("apps.from", { app: appName(app) || String(notification.app ?? "") });
  toast.querySelector(".toast-body").prepend(from);
}

launcher.apps = link.apps;
link.addEventListener("apps", (event) => {
  launcher.apps = event.detail;
});
launcher.addEventListener("launch", (event) => launch(event.detail));
appView.addEventListener("close", () => {
  if (document.body.dataset.view === "app") show("home");
});
appView.addEventListener("permissions", (event) => {
  const app = link.apps.find((a) => a.id === event.detail);
  if (app) permissionDialog.ask(app, { all: true });
});
link.addEventListener("notification", (event) => notify(event.detail));
document.addEventListener("open-media", () => show("media"));
mediaView.addEventListener("close", () => {
  if (document.body.dataset.view === "media") show("home");
});

followTheme();
for (const el of document.querySelectorAll("[data-icon]")) el.innerHTML = icon(el.dataset.icon);
for (const button of document.querySelectorAll(".rail-btn")) {
  button.addEventListener("click", () => show(button.dataset.view));
}
link.addEventListener("status", (event) => {
  document.documentElement.dataset.link = event.detail;
});
try {
  await load();
} catch (error) {
  reportError(error); // the keys show instead of the strings, but the car stays usable
}
link.connect();
document.body.dataset.ready = "true";
