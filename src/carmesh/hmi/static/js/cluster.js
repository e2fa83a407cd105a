/**
 * The driver cluster (`/cluster`, designed for 1280×480): speed and power, gear, energy,
 * trip, turn signals and telltales, and what plays with previous / play-pause / next (also on
 * the keyboard: ArrowLeft, Space, ArrowRight, as the steering wheel's buttons). It follows
 * the same settings as the centre display (language, units, theme).
 */

import { load } from "./i18n.js";
import { link } from "./link.js";
import { followTheme } from "./settings.js";
import "./driving.js";
import "./components/cluster-speed.js";
import "./components/cluster-panels.js";
import "./components/cluster-media.js";

followTheme();
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
