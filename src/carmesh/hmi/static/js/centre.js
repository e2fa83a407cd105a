/**
 * The centre display (`/`, designed for 1920×720): loads the user's language, connects to
 * the car and switches between the home cards and the settings view.
 */

import { load } from "./i18n.js";
import { link } from "./link.js";
import { followTheme } from "./settings.js";
import { icon } from "./icons.js";
import "./driving.js";
import "./components/toasts.js";
import "./components/car-view.js";
import "./components/status-bar.js";
import "./components/vehicle-card.js";
import "./components/climate-card.js";
import "./components/media-card.js";
import "./components/nav-card.js";
import "./components/notifications.js";
import "./components/app-launcher.js";
import "./components/settings-view.js";

function show(view) {
  document.body.dataset.view = view;
  for (const section of document.querySelectorAll("main > .view")) {
    section.hidden = section.dataset.view !== view;
  }
  for (const button of document.querySelectorAll(".rail-btn")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
}

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
