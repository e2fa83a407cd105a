/**
 * `<cm-toasts>`: short messages at the top of the screen. `showError(error)` shows what
 * the car answered when it refused an action (the server's own sentence, e.g. an interlock's
 * reason) under a translated heading; errors of the link itself (offline, timeout) are
 * translated. Each toast leaves after 6 s or when tapped.
 */

import { t } from "../i18n.js";
import { icon } from "../icons.js";

const LIFETIME_MS = 6000;
const MAX_TOASTS = 3;

function host() {
  let el = document.querySelector("cm-toasts");
  if (!el) {
    el = document.createElement("cm-toasts");
    document.body.append(el);
  }
  return el;
}

/** Show a message; `kind` is "error" or "info". */
export function showToast(title, message = "", kind = "info") {
  const toast = document.createElement("div");
  toast.className = `toast toast-${kind}`;
  toast.setAttribute("role", kind === "error" ? "alert" : "status");
  toast.innerHTML = `<span class="toast-icon">${icon(kind === "error" ? "warning" : "info")}</span>
    <span class="toast-body"><strong class="toast-title"></strong><span class="toast-message"></span></span>`;
  toast.querySelector(".toast-title").textContent = title;
  toast.querySelector(".toast-message").textContent = message;
  const el = host();
  el.append(toast);
  while (el.children.length > MAX_TOASTS) el.firstElementChild.remove();
  const dismiss = () => {
    toast.classList.add("leaving");
    setTimeout(() => toast.remove(), 250);
  };
  toast.addEventListener("click", dismiss);
  setTimeout(dismiss, LIFETIME_MS);
  return toast;
}

/** Show a refused action: the server's message, or a translated one for link errors. */
export function showError(error) {
  const code = error && error.code;
  let message = (error && error.message) || "";
  if (code === "offline" || code === "timeout") message = t(`errors.${code}`);
  // "Vehicle.Cabin.Door….IsLocked: the door … is open; …": the path means nothing to a driver.
  const path = error && error.path;
  if (path && message.startsWith(`${path}: `)) message = message.slice(path.length + 2);
  return showToast(t("errors.refused"), message, "error");
}

class Toasts extends HTMLElement {
  connectedCallback() {
    this.setAttribute("aria-live", "assertive");
  }
}

if (!customElements.get("cm-toasts")) customElements.define("cm-toasts", Toasts);
