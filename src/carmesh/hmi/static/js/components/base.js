/**
 * The base of every HMI component: a custom element that renders its markup once, keeps
 * the signals it declares in `static paths` up to date in `this.state`, and calls
 * `update()` whenever one of them changes, the language or units change, or the driving
 * rules change. Components render into the light DOM so that one stylesheet themes them all.
 */

import { fmt, i18n, t, translate } from "../i18n.js";
import { link } from "../link.js";
import { driving } from "../driving.js";
import { showError } from "./toasts.js";

export class CarElement extends HTMLElement {
  /** Signal paths or patterns this component shows. */
  static paths = [];

  constructor() {
    super();
    this.state = {};
    this._offs = [];
  }

  connectedCallback() {
    if (!this._built) {
      this.innerHTML = this.render();
      this._built = true;
      this.setup();
    }
    translate(this);
    const paths = this.constructor.paths;
    if (paths.length) {
      this._offs.push(
        link.subscribe(paths, (changed) => {
          Object.assign(this.state, changed);
          this.update(changed);
        }),
      );
    }
    this._offs.push(
      i18n.onChange(() => {
        translate(this);
        this.update({});
      }),
    );
    const onDriving = () => this.update({});
    driving.addEventListener("change", onDriving);
    this._offs.push(() => driving.removeEventListener("change", onDriving));
    this.update({});
  }

  disconnectedCallback() {
    for (const off of this._offs.splice(0)) off();
  }

  /** Markup, rendered once; strings come from `data-i18n` keys. */
  render() {
    return "";
  }

  /** Wire event handlers (once, after the first render). */
  setup() {}

  /** Show `this.state`; `changed` holds the paths that just changed ({} for a refresh). */
  update(_changed) {}

  $(selector) {
    return this.querySelector(selector);
  }

  /** Set the text of the element `selector` names, touching the DOM only on change. */
  text(selector, value) {
    const el = typeof selector === "string" ? this.querySelector(selector) : selector;
    if (el && el.textContent !== value) el.textContent = value;
    return el;
  }

  /** Actuate, showing a refusal as a toast; resolves to true when the car accepted. */
  async actuate(targets) {
    try {
      await link.actuate(targets);
      return true;
    } catch (error) {
      showError(error);
      return false;
    }
  }
}

export { fmt, t, link, driving };

/** Register `name` once (modules may be imported by more than one page). */
export function define(name, cls) {
  if (!customElements.get(name)) customElements.define(name, cls);
}

/** Escape text for markup built from strings. */
export function escape(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}
