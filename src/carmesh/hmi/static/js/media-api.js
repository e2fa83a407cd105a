/**
 * The media service's HTTP API (docs/media.md, "HTTP API") as small functions, each a
 * Promise of the answer's JSON that rejects with a `LinkError` like `request` does; and the
 * few helpers every media surface shares (times, cover art, the driving rules' text length).
 *
 * Zones are named as the service names them ("driver", "rear"); every call that acts on a
 * session takes one.
 */

import { request } from "./link.js";
import { driving } from "./driving.js";

const q = encodeURIComponent;

export const mediaApi = {
  state: () => request("GET", "/api/media/state"),
  /** A browse node and its children; the root without `node`. */
  browse: (node = null) =>
    request("GET", node ? `/api/media/browse?node=${q(node)}` : "/api/media/browse"),
  search: (text) => request("GET", `/api/media/search?q=${q(text)}`),
  /** Play `{uri}` or `{node}` (a folder: album, artist, station…) in `zone`. */
  play: (what, zone) => request("POST", "/api/media/play", { ...what, zone }),
  /**
   * `command`: play, pause, toggle, next, previous, seek; `options`: `{position}` (s) for a
   * seek, `{index}` for play (that queue item).
   */
  transport: (zone, command, options = {}) =>
    request("POST", "/api/media/transport", { zone, command, ...options }),
  queue: (zone) => request("GET", `/api/media/queue?zone=${q(zone)}`),
  enqueue: (what, zone, next = false) => request("POST", "/api/media/queue", { ...what, zone, next }),
  remove: (zone, index) => request("DELETE", `/api/media/queue/${index}?zone=${q(zone)}`),
  move: (zone, from, to) => request("POST", "/api/media/queue/move", { from, to, zone }),
  /** `changes`: any of `shuffle` (bool), `repeat` ("off" | "one" | "all"), `volume` (0–100). */
  mode: (zone, changes) => request("PUT", "/api/media/mode", { zone, ...changes }),
  subscribe: (url) => request("POST", "/api/media/podcasts", { url }),
};

/** The state of `zone` in a media state (`{zones: {…}}`), or null. */
export function zoneState(state, zone = "driver") {
  const zones = state && typeof state === "object" ? state.zones : null;
  const found = zones && typeof zones === "object" ? zones[zone] : null;
  return found && typeof found === "object" ? found : null;
}

const finite = (v) => typeof v === "number" && Number.isFinite(v);

/** A playback time: "3:07", "1:02:09"; "–:––" when unknown. */
export function clock(seconds) {
  if (!finite(seconds) || seconds < 0) return "–:––";
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** A cover-art URL the page may load: a path on the car only (never another host). */
export function artSrc(url) {
  return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
}

/** `text` cut to the longest text the driving rules let a screen show (ending in "…"). */
export function cut(text) {
  const value = typeof text === "string" ? text : "";
  const max = driving.rules.max_text_length;
  if (typeof max !== "number" || max < 1 || value.length <= max) return value;
  return `${value.slice(0, max - 1).trimEnd()}…`;
}

/**
 * The position of a playing item between the service's updates (once a second): the last
 * one, plus the time since it came while it plays, never past the duration.
 */
export class Playhead {
  constructor() {
    this.position = null;
    this.duration = null;
    this.playing = false;
    this._at = 0;
  }

  set(position, duration, playing) {
    this.position = finite(position) ? position : null;
    this.duration = finite(duration) && duration > 0 ? duration : null;
    this.playing = Boolean(playing);
    this._at = performance.now();
  }

  /** The position now (s), or null when none is known. */
  now() {
    if (this.position === null) return null;
    let at = this.position;
    if (this.playing) at += (performance.now() - this._at) / 1000;
    return this.duration === null ? at : Math.min(at, this.duration);
  }

  /** 0–1 through the item, or null for a live stream or an unknown length. */
  fraction() {
    const at = this.now();
    if (at === null || this.duration === null) return null;
    return Math.max(0, Math.min(1, at / this.duration));
  }
}
