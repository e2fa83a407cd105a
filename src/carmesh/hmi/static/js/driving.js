/**
 * The driving state and the distraction rules in force, as the server names them
 * (`carmesh.rules.distraction`, sent on the WebSocket as `driving` frames).
 *
 * `driving.moving`, `driving.rules` ({text_entry, video, max_list_items}); a `change` event
 * fires when either changes. `<html data-moving>` mirrors `moving` for the stylesheet.
 * Until the server says otherwise the car is treated as parked with every rule relaxed;
 * the link reports the state on connect.
 */

import { link } from "./link.js";

const RELAXED = { text_entry: true, video: true, max_list_items: null };

class Driving extends EventTarget {
  constructor() {
    super();
    this.moving = false;
    this.speed = 0;
    this.rules = { ...RELAXED };
    link.addEventListener("driving", (event) => this.apply(event.detail || {}));
  }

  apply(state) {
    const rules = { ...RELAXED, ...(state.rules || {}) };
    const moving = Boolean(state.moving);
    const same =
      moving === this.moving &&
      rules.text_entry === this.rules.text_entry &&
      rules.video === this.rules.video &&
      rules.max_list_items === this.rules.max_list_items;
    this.speed = state.speed ?? this.speed;
    if (same) return;
    this.moving = moving;
    this.rules = rules;
    document.documentElement.dataset.moving = String(moving);
    this.dispatchEvent(new CustomEvent("change", { detail: { moving, rules } }));
  }

  /** The first `max_list_items` of `items` (all of them when no limit is in force). */
  limit(items) {
    const max = this.rules.max_list_items;
    return typeof max === "number" && max >= 0 ? items.slice(0, max) : items;
  }
}

export const driving = new Driving();
