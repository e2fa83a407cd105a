/**
 * The page's link to the car: one WebSocket to `/ws` (docs/hmi-protocol.md).
 *
 * - `subscribe(paths, callback)` — paths or KUKSA patterns; `callback(values)` receives
 *   `{path: value}` for the signals that changed (and, at once, the ones already known).
 *   Returns a function that ends the subscription.
 * - `actuate(targets)` — a Promise that resolves once the providers accepted, and rejects
 *   with a {@link LinkError} carrying the server's code and sentence (an interlock refusal,
 *   a value out of range, no provider, or `offline` while the link is down).
 * - `appAction(app, action, item = null)` — deliver a tap to an app (docs/apps.md); a Promise
 *   like `actuate`'s.
 * - `request(method, path, body)` (a module function) — a call of the car's JSON API that
 *   resolves with the answer's JSON and rejects with a {@link LinkError} (the server's error,
 *   or `offline` when the car cannot be reached).
 * - events: `status` (detail: "connecting" | "open" | "closed") and `driving` (detail: the
 *   driving state with its distraction rules); from the apps platform (none while it is off):
 *   `apps` (detail: the installed apps, as `GET /api/apps` lists them), `app-template`
 *   (detail: `{app, template, trimmed}`; `template` null when the app shows nothing) and
 *   `notification` (detail: `{notification, recent}`; `recent` for the ones the server replays
 *   on connect, which were news before; each id is reported once per page).
 * - `apps`, `templates` (app id → `{template, trimmed}`) and `notifications` (newest first, at
 *   most 50) hold the latest of each.
 * - From the media service (docs/media.md; nothing while it is off): the event `media` (detail:
 *   the media state, `{zones: {ZONE: {session, state, item, position, …}}}` as
 *   `GET /api/media/state` answers); `media` holds the latest (null before the first).
 *
 * The link reconnects by itself with exponential backoff (0.25 s doubling to 5 s, ±20 %
 * jitter, back to 0.25 s once the server sends something) and subscribes again to
 * everything it had; values seen before stay in the cache.
 */

const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 5000;
const ACTUATE_TIMEOUT_MS = 10000;
const MAX_NOTIFICATIONS = 50;

/** An error the server (or the link itself) reported: `code`, `message`, `path`. */
export class LinkError extends Error {
  constructor({ code = "unavailable", message = "", path = null } = {}) {
    super(message || code);
    this.name = "LinkError";
    this.code = code;
    this.path = path;
  }
}

/**
 * Does a KUKSA pattern select `path`? As the broker's `carmesh.vss.glob`: "" selects
 * everything, a plain path that signal or everything below that branch, `*` exactly one
 * component, `**` zero or more (one or more at the end of a pattern).
 */
export function matches(pattern, path) {
  if (pattern === "") return true;
  if (!pattern.includes("*")) {
    return path === pattern || path.startsWith(pattern + ".");
  }
  const want = pattern.split(".");
  const have = path.split(".");
  const walk = (i, j) => {
    if (i === want.length) return j === have.length;
    if (want[i] === "**") {
      const least = i === want.length - 1 ? 1 : 0;
      for (let k = j + least; k <= have.length; k++) if (walk(i + 1, k)) return true;
      return false;
    }
    if (j === have.length) return false;
    return (want[i] === "*" || want[i] === have[j]) && walk(i + 1, j + 1);
  };
  return walk(0, 0);
}

/** Call the car's JSON API: `request("PUT", "/api/apps/ID/grants", {grants})`. */
export async function request(method, path, body = undefined) {
  const init = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new LinkError({ code: "offline" });
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    /* an empty or non-JSON answer */
  }
  if (!response.ok) throw new LinkError((answer && answer.error) || { code: "unavailable" });
  return answer;
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

export class Link extends EventTarget {
  constructor(url = defaultUrl()) {
    super();
    this.url = url;
    this.status = "closed";
    /** Latest value per signal path. */
    this.values = new Map();
    /** The latest driving state, or null before the server sent one. */
    this.driving = null;
    /** The installed apps, app id → what it shows, recent notifications (newest first). */
    this.apps = [];
    this.templates = new Map();
    this.notifications = [];
    /** The media service's latest state, or null (off, or nothing sent yet). */
    this.media = null;
    this._notified = new Set();
    this._socket = null;
    this._subs = new Set();
    this._counts = new Map();
    this._pending = new Map();
    this._nextId = 1;
    this._delay = BACKOFF_FIRST_MS;
    this._timer = null;
    this._stopped = false;
  }

  connect() {
    this._stopped = false;
    if (this._socket) return this;
    this._setStatus("connecting");
    const socket = new WebSocket(this.url);
    this._socket = socket;
    socket.addEventListener("open", () => {
      this._setStatus("open");
      const paths = [...this._counts.keys()];
      if (paths.length) this._send({ type: "subscribe", paths });
    });
    socket.addEventListener("message", (event) => this._receive(event.data));
    socket.addEventListener("close", () => this._closed(socket));
    return this;
  }

  /** Close for good (no reconnect); pending actuations fail. */
  close() {
    this._stopped = true;
    clearTimeout(this._timer);
    if (this._socket) this._socket.close();
  }

  subscribe(paths, callback) {
    const sub = { paths: [...paths], callback };
    this._subs.add(sub);
    const fresh = [];
    for (const path of sub.paths) {
      const n = this._counts.get(path) || 0;
      this._counts.set(path, n + 1);
      if (n === 0) fresh.push(path);
    }
    if (fresh.length && this.status === "open") this._send({ type: "subscribe", paths: fresh });
    const known = {};
    for (const [path, value] of this.values) {
      if (sub.paths.some((p) => matches(p, path))) known[path] = value;
    }
    if (Object.keys(known).length) queueMicrotask(() => this._subs.has(sub) && callback(known));
    return () => this._unsubscribe(sub);
  }

  /** The cached value of one signal path (undefined when none was seen). */
  get(path) {
    return this.values.get(path);
  }

  actuate(targets) {
    return this._request({ type: "actuate", targets });
  }

  appAction(app, action, item = null) {
    return this._request({ type: "app.action", app, action, item });
  }

  _request(frame) {
    if (this.status !== "open") {
      return Promise.reject(new LinkError({ code: "offline" }));
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new LinkError({ code: "timeout" }));
      }, ACTUATE_TIMEOUT_MS);
      this._pending.set(id, { resolve, reject, timer });
      this._send({ ...frame, id });
    });
  }

  _unsubscribe(sub) {
    if (!this._subs.delete(sub)) return;
    const gone = [];
    for (const path of sub.paths) {
      const n = (this._counts.get(path) || 1) - 1;
      if (n <= 0) {
        this._counts.delete(path);
        gone.push(path);
      } else {
        this._counts.set(path, n);
      }
    }
    if (gone.length && this.status === "open") this._send({ type: "unsubscribe", paths: gone });
  }

  _send(message) {
    if (this._socket && this._socket.readyState === WebSocket.OPEN) {
      this._socket.send(JSON.stringify(message));
    }
  }

  _receive(text) {
    // A server that answers is healthy: the next outage starts the backoff afresh. (Not on
    // "open": one that accepts and drops every connection must not be hammered.)
    this._delay = BACKOFF_FIRST_MS;
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "values") {
      this._deliver(frame.values || {});
    } else if (frame.type === "driving") {
      this.driving = frame.state;
      this.dispatchEvent(new CustomEvent("driving", { detail: frame.state }));
    } else if (frame.type === "result") {
      const pending = this._pending.get(frame.id);
      if (!pending) return;
      this._pending.delete(frame.id);
      clearTimeout(pending.timer);
      if (frame.ok) pending.resolve();
      else pending.reject(new LinkError(frame.error));
    } else if (frame.type === "error") {
      this.dispatchEvent(new CustomEvent("error", { detail: new LinkError(frame.error) }));
    } else if (frame.type === "apps") {
      this._apps(Array.isArray(frame.apps) ? frame.apps : []);
    } else if (frame.type === "app.template") {
      this._template(frame);
    } else if (frame.type === "notification") {
      this._notification(frame);
    } else if (frame.type === "media") {
      this._media(frame.state);
    }
  }

  _apps(apps) {
    this.apps = apps;
    const ids = new Set(apps.map((app) => app.id));
    for (const app of [...this.templates.keys()]) {
      if (!ids.has(app)) this._template({ app, template: null, trimmed: false });
    }
    this.dispatchEvent(new CustomEvent("apps", { detail: apps }));
  }

  _template({ app, template = null, trimmed = false }) {
    if (typeof app !== "string") return;
    const shown = { app, template: template ?? null, trimmed: Boolean(trimmed) };
    if (shown.template === null) this.templates.delete(app);
    else this.templates.set(app, shown);
    this.dispatchEvent(new CustomEvent("app-template", { detail: shown }));
  }

  _media(state) {
    if (!state || typeof state !== "object") return;
    this.media = state;
    this.dispatchEvent(new CustomEvent("media", { detail: state }));
  }

  _notification({ notification, recent = false }) {
    if (!notification || typeof notification !== "object") return;
    const key = notification.id ?? JSON.stringify(notification);
    if (this._notified.has(key)) return;
    this._notified.add(key);
    if (this._notified.size > 10 * MAX_NOTIFICATIONS) {
      this._notified.delete(this._notified.values().next().value);
    }
    this.notifications.unshift(notification);
    this.notifications.length = Math.min(this.notifications.length, MAX_NOTIFICATIONS);
    const detail = { notification, recent: Boolean(recent) };
    this.dispatchEvent(new CustomEvent("notification", { detail }));
  }

  _deliver(raw) {
    const changed = {};
    for (const [path, datapoint] of Object.entries(raw)) {
      const value = datapoint === null ? null : datapoint.value;
      this.values.set(path, value);
      changed[path] = value;
    }
    const paths = Object.keys(changed);
    for (const sub of this._subs) {
      let mine = null;
      for (const path of paths) {
        if (sub.paths.some((p) => matches(p, path))) (mine ||= {})[path] = changed[path];
      }
      if (mine) {
        try {
          sub.callback(mine);
        } catch (error) {
          reportError(error);
        }
      }
    }
  }

  _closed(socket) {
    if (this._socket !== socket) return;
    this._socket = null;
    this._setStatus("closed");
    for (const { reject, timer } of this._pending.values()) {
      clearTimeout(timer);
      reject(new LinkError({ code: "offline" }));
    }
    this._pending.clear();
    if (this._stopped) return;
    const wait = this._delay * (0.8 + Math.random() * 0.4);
    this._delay = Math.min(this._delay * 2, BACKOFF_MAX_MS);
    this._timer = setTimeout(() => this.connect(), wait);
  }

  _setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: status }));
  }
}

/** The one link every component of a page shares. */
export const link = new Link();
