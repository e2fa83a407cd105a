/**
 * `<cm-media-view>`: the media page of the centre display (docs/media.md). On the left what
 * plays in the chosen zone — large cover art, title, artist and album, a seek bar, previous /
 * play-pause / next, shuffle and repeat, the volume — and a switch between the driver and the
 * rear zone when the car has one. On the right three tabs:
 *
 * - **Browse** the service's tree (root: library, radio, podcasts, apps; library: artists,
 *   albums, genres, folders) with breadcrumbs: a folder opens, an item plays (a library
 *   track with the rest of its album after it), "Play all" makes the open folder the queue.
 *   Under podcasts a field subscribes to a feed by its URL.
 * - **Search** the library, stations and episodes.
 * - **Queue**: the current item marked; move up or down, remove, play from here.
 *
 * What plays comes from the link's `media` frames; browse, search, queue and every command
 * go over `/api/media/…` (media-api.js), a refusal showing as a toast. The distraction rules
 * apply while the car moves: no text entry (search and the feed field are disabled, saying
 * so), lists cut to `max_list_items` with a note of how many more show when parked, and
 * texts cut to `max_text_length`.
 *
 * `view.open()` when it is shown; event `close` (the back button).
 */

import { CarElement, define, driving, escape, fmt, link, t } from "./base.js";
import { i18n } from "../i18n.js";
import { icon } from "../icons.js";
import { Playhead, artSrc, clock, cut, mediaApi, zoneState } from "../media-api.js";
import { showError, showToast } from "./toasts.js";

/** Line icons the media page needs beyond icons.js, drawn the same way. */
const PATHS = {
  shuffle:
    '<path d="M3.5 7h3c2 0 3.2.9 4.3 2.6l2.6 4.8c1.1 1.7 2.4 2.6 4.3 2.6h2.8"/>' +
    '<path d="M3.5 17h3c1.6 0 2.7-.6 3.6-1.7M13.4 8.7c.9-1.1 2-1.7 3.6-1.7h3"/>' +
    '<path d="m17.5 4.5 2.5 2.5-2.5 2.5M17.5 14.5l2.5 2.5-2.5 2.5"/>',
  repeat:
    '<path d="M4.5 11.5v-2a3 3 0 0 1 3-3h12"/><path d="m16.5 3.5 3 3-3 3"/>' +
    '<path d="M19.5 12.5v2a3 3 0 0 1-3 3h-12"/><path d="m7.5 20.5-3-3 3-3"/>',
  "repeat-one":
    '<path d="M4.5 11.5v-2a3 3 0 0 1 3-3h12"/><path d="m16.5 3.5 3 3-3 3"/>' +
    '<path d="M19.5 12.5v2a3 3 0 0 1-3 3h-12"/><path d="m7.5 20.5-3-3 3-3"/>' +
    '<path d="M11 10.6 12.6 9.5v5"/>',
  volume: '<path d="M4 9.5h3.5L12 5.5v13l-4.5-4H4z"/><path d="M15.5 9a4 4 0 0 1 0 6M18 6.5a7.5 7.5 0 0 1 0 11"/>',
  radio:
    '<rect x="3.5" y="8.5" width="17" height="12" rx="2.5"/><path d="m7 8.5 10-5"/>' +
    '<circle cx="15.5" cy="14.5" r="2.5"/><path d="M7 12.5h3M7 16.5h3"/>',
  podcast: '<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M5.5 11a6.5 6.5 0 0 0 13 0M12 17.5v3.5"/>',
  artist: '<circle cx="12" cy="8" r="3.5"/><path d="M5 20.5a7 7 0 0 1 14 0"/>',
  album: '<circle cx="12" cy="12" r="8.5"/><circle cx="12" cy="12" r="2.5"/>',
  genre: '<path d="M3.5 12.2V4.5a1 1 0 0 1 1-1h7.7l8.3 8.3-8.7 8.7z"/><circle cx="8" cy="8" r="1.5"/>',
  folder: '<path d="M3.5 7a2 2 0 0 1 2-2h4l2 2.5h7a2 2 0 0 1 2 2V17a2 2 0 0 1-2 2h-13a2 2 0 0 1-2-2z"/>',
  queue: '<path d="M4 6.5h16M4 12h16M4 17.5h9"/><path d="M16.5 15v5l4-2.5z"/>',
  up: '<path d="m5.5 15 6.5-6.5 6.5 6.5"/>',
  down: '<path d="m5.5 9 6.5 6.5L18.5 9"/>',
};

function mediaIcon(name, className = "") {
  if (!(name in PATHS)) return icon(name, className);
  const paint =
    'fill="none" stroke="currentColor" stroke-width="1.75" stroke-linecap="round" stroke-linejoin="round"';
  const attrs = `class="icon ${className}" viewBox="0 0 24 24" ${paint} aria-hidden="true" focusable="false"`;
  return `<svg ${attrs}>${PATHS[name]}</svg>`;
}

/**
 * The nodes the service always has (docs/media.md, "browse"): node id → [the name of its
 * string under `media.nodes`, its icon]. Other nodes show the title the service gives.
 */
const NODES = {
  library: ["library", "music"],
  radio: ["radio", "radio"],
  podcasts: ["podcasts", "podcast"],
  apps: ["apps", "apps"],
  "library/artists": ["artists", "artist"],
  "library/albums": ["albums", "album"],
  "library/genres": ["genres", "genre"],
  "library/folders": ["folders", "folder"],
};
/** Icons of the folders below those, by the kind their id names (`library/album/7`). */
const KINDS = {
  artist: "artist",
  album: "album",
  genre: "genre",
  folder: "folder",
  station: "radio",
  feed: "podcast",
};
const TABS = ["browse", "search", "queue"];
const TAB_ICONS = { browse: "music", search: "search", queue: "queue" };
const REPEATS = ["off", "all", "one"];
const STATES = new Set(["stopped", "buffering", "playing", "paused", "error"]);
const SEARCH_DELAY_MS = 250;
const TICK_MS = 250;
const OFF_AFTER_MS = 500;

const nodeTitle = (node) =>
  node && Object.hasOwn(NODES, node.id) ? t(`media.nodes.${NODES[node.id][0]}`) : String(node?.title ?? "");

/** The name of the service's own sessions in the UI language; an app's as it gives it. */
const SESSIONS = { Library: "library", Radio: "radio", Podcasts: "podcasts" };

function sessionName(session, source) {
  if (typeof session === "string" && session) {
    return Object.hasOwn(SESSIONS, session) ? t(`media.nodes.${SESSIONS[session]}`) : session;
  }
  return source && source !== "UNKNOWN" ? t(`media.sources.${source}`) : "";
}

function nodeIcon(entry) {
  if (Object.hasOwn(NODES, entry.id)) return NODES[entry.id][1];
  if (entry.kind !== "folder") return "music";
  const kind = String(entry.id ?? "").split("/").at(-2);
  return KINDS[kind] || "folder";
}
const finite = (v) => typeof v === "number" && Number.isFinite(v);

class MediaView extends CarElement {
  constructor() {
    super();
    this.zone = "driver";
    this.tab = "browse";
    /** Breadcrumbs below the root: [{id, title}]. */
    this.path = [];
    this.listing = null;
    this.results = null;
    this.queue = null;
    this.available = null;
    this.playhead = new Playhead();
    this._seq = { browse: 0, search: 0, queue: 0 };
    this._queueKey = "";
    this._dragging = { seek: false, volume: false };
    this._ticker = null;
    this._searchTimer = null;
  }

  render() {
    const tab = (id) => `<button type="button" role="radio" data-tab="${id}" data-testid="media-tab-${id}"
        aria-checked="false">${mediaIcon(TAB_ICONS[id])}<span data-i18n="media.tab_${id}"></span></button>`;
    return `
      <section class="mv-now">
        <div class="mv-top">
          <button type="button" class="btn round ghost mv-back" data-testid="media-back"
            data-i18n-attr="aria-label:media.back">${icon("chevron")}</button>
          <h1 class="mv-heading card-title" data-i18n="media.page_title"></h1>
          <div class="seg mv-zones" role="radiogroup" data-testid="media-zones" hidden>
            <button type="button" role="radio" data-zone="driver" data-testid="media-zone-driver"
              aria-checked="true" data-i18n="media.zone_driver"></button>
            <button type="button" role="radio" data-zone="rear" data-testid="media-zone-rear"
              aria-checked="false" data-i18n="media.zone_rear"></button>
          </div>
          <span class="mv-status" data-testid="media-status"></span>
        </div>
        <div class="mv-hero">
          <div class="mv-art" data-testid="media-art">${icon("music")}<img alt="" draggable="false" hidden></div>
          <div class="mv-meta">
            <span class="mv-source" data-testid="media-source"></span>
            <h2 class="mv-title" data-testid="media-title"></h2>
            <span class="mv-artist" data-testid="media-artist-line"></span>
            <span class="mv-album" data-testid="media-album"></span>
          </div>
        </div>
        <div class="mv-seek">
          <span class="mv-time mv-elapsed num" data-testid="media-elapsed"></span>
          <input type="range" class="mv-range mv-seek-input" data-testid="media-seek" min="0" max="1"
            step="1" value="0" data-i18n-attr="aria-label:media.seek">
          <span class="mv-time mv-total num" data-testid="media-duration"></span>
        </div>
        <div class="mv-transport">
          <button type="button" class="btn round ghost mv-shuffle" data-testid="media-shuffle"
            aria-pressed="false" data-i18n-attr="aria-label:media.shuffle">${mediaIcon("shuffle")}</button>
          <button type="button" class="btn round ghost" data-command="previous" data-testid="media-view-prev"
            data-i18n-attr="aria-label:media.previous">${icon("prev-fill")}</button>
          <button type="button" class="btn round mv-play" data-command="toggle" data-testid="media-view-play"
            data-i18n-attr="aria-label:media.play_pause">${icon("play-fill", "play")}${icon("pause-fill", "pause")}</button>
          <button type="button" class="btn round ghost" data-command="next" data-testid="media-view-next"
            data-i18n-attr="aria-label:media.next">${icon("next-fill")}</button>
          <button type="button" class="btn round ghost mv-repeat" data-testid="media-repeat"
            aria-pressed="false">${mediaIcon("repeat", "repeat")}${mediaIcon("repeat-one", "repeat-one")}</button>
        </div>
        <div class="mv-volume">
          <button type="button" class="btn round ghost" data-volume="-5" data-testid="media-volume-down"
            data-i18n-attr="aria-label:media.volume_down">${icon("minus")}</button>
          <span class="mv-volume-icon">${mediaIcon("volume")}</span>
          <input type="range" class="mv-range mv-volume-input" data-testid="media-volume" min="0" max="100"
            step="1" value="0" data-i18n-attr="aria-label:media.volume">
          <span class="mv-volume-value num" data-testid="media-volume-value"></span>
          <button type="button" class="btn round ghost" data-volume="5" data-testid="media-volume-up"
            data-i18n-attr="aria-label:media.volume_up">${icon("plus")}</button>
        </div>
      </section>
      <section class="mv-pane">
        <div class="mv-tabs seg" role="radiogroup">${TABS.map(tab).join("")}</div>
        <div class="mv-tab mv-browse" data-tab-panel="browse">
          <div class="mv-browse-head">
            <nav class="mv-crumbs" data-testid="media-crumbs" data-i18n-attr="aria-label:media.tab_browse"></nav>
            <button type="button" class="btn mv-play-all" data-testid="media-play-all" hidden>
              ${icon("play-fill")}<span data-i18n="media.play_all"></span></button>
          </div>
          <form class="mv-subscribe" data-testid="media-subscribe" hidden>
            <label class="mv-field">${mediaIcon("podcast")}
              <input type="url" class="mv-subscribe-input" data-testid="media-feed-url" autocomplete="off"
                spellcheck="false" inputmode="url">
            </label>
            <button type="submit" class="btn primary mv-subscribe-go" data-testid="media-subscribe-go"
              data-i18n="media.subscribe"></button>
          </form>
          <ul class="mv-list" data-testid="media-browse"></ul>
          <p class="mv-more faint" hidden></p>
        </div>
        <div class="mv-tab mv-search" data-tab-panel="search" hidden>
          <label class="mv-field mv-search-field">${icon("search")}
            <input type="search" class="mv-search-input" data-testid="media-search" autocomplete="off"
              spellcheck="false">
          </label>
          <ul class="mv-list" data-testid="media-results"></ul>
          <p class="mv-more faint" hidden></p>
        </div>
        <div class="mv-tab mv-queue" data-tab-panel="queue" hidden>
          <ul class="mv-list" data-testid="media-queue"></ul>
          <p class="mv-more faint" hidden></p>
        </div>
        <div class="empty mv-off" data-testid="media-off" hidden>${icon("music")}<span data-i18n="media.unavailable"></span></div>
      </section>`;
  }

  setup() {
    this.$(".mv-back").addEventListener("click", () => {
      this.dispatchEvent(new CustomEvent("close", { bubbles: true }));
    });
    for (const button of this.querySelectorAll("[data-zone]")) {
      button.addEventListener("click", () => this.switchZone(button.dataset.zone));
    }
    for (const button of this.querySelectorAll("[data-tab]")) {
      button.addEventListener("click", () => this.showTab(button.dataset.tab));
    }
    for (const button of this.querySelectorAll("[data-command]")) {
      const command = button.dataset.command;
      button.addEventListener("click", () => this.command(() => mediaApi.transport(this.zone, command)));
    }
    this.$(".mv-shuffle").addEventListener("click", () => {
      const z = this.now;
      this.command(() => mediaApi.mode(this.zone, { shuffle: !(z && z.shuffle) }));
    });
    this.$(".mv-repeat").addEventListener("click", () => {
      const at = REPEATS.indexOf(this.repeat);
      this.command(() => mediaApi.mode(this.zone, { repeat: REPEATS[(at + 1) % REPEATS.length] }));
    });
    for (const button of this.querySelectorAll("[data-volume]")) {
      button.addEventListener("click", () => {
        const now = finite(this.now?.volume) ? this.now.volume : 0;
        const volume = Math.max(0, Math.min(100, now + Number(button.dataset.volume)));
        this.command(() => mediaApi.mode(this.zone, { volume }));
      });
    }
    this.slider(".mv-seek-input", "seek", (position) =>
      mediaApi.transport(this.zone, "seek", { position }),
    );
    this.slider(".mv-volume-input", "volume", (value) => mediaApi.mode(this.zone, { volume: value }));
    this.$(".mv-seek-input").addEventListener("input", (event) => {
      const input = event.target;
      this.text(".mv-elapsed", clock(Number(input.value)));
      input.style.setProperty("--fill", `${(100 * Number(input.value)) / Number(input.max || 1)}%`);
    });
    this.$(".mv-volume-input").addEventListener("input", (event) => {
      this.text(".mv-volume-value", fmt.number(Number(event.target.value)));
      event.target.style.setProperty("--fill", `${event.target.value}%`);
    });
    const img = this.$(".mv-art img");
    img.addEventListener("load", () => {
      img.hidden = false;
      this.$(".mv-art").classList.add("has-art");
    });
    img.addEventListener("error", () => {
      img.hidden = true;
      this.$(".mv-art").classList.remove("has-art");
    });
    // Lists: one handler each, rows found by their index in what was shown.
    this.$('[data-testid="media-browse"]').addEventListener("click", (event) => this.browseTap(event));
    this.$('[data-testid="media-results"]').addEventListener("click", (event) => this.resultTap(event));
    this.$('[data-testid="media-queue"]').addEventListener("click", (event) => this.queueTap(event));
    this.$(".mv-crumbs").addEventListener("click", (event) => {
      const crumb = event.target.closest("[data-depth]");
      if (crumb) this.browse(this.path.slice(0, Number(crumb.dataset.depth)));
    });
    this.$(".mv-play-all").addEventListener("click", () => {
      const node = this.path.at(-1);
      if (node) this.command(() => mediaApi.play({ node: node.id }, this.zone));
    });
    this.$(".mv-search-input").addEventListener("input", () => {
      clearTimeout(this._searchTimer);
      this._searchTimer = setTimeout(() => this.search(), SEARCH_DELAY_MS);
    });
    this.$(".mv-subscribe").addEventListener("submit", (event) => {
      event.preventDefault();
      this.subscribeFeed();
    });
    for (const list of this.querySelectorAll(".mv-list")) {
      list.addEventListener("error", (event) => {
        if (event.target.tagName === "IMG") event.target.remove();
      }, true);
    }
    link.addEventListener("media", () => this.media());
    link.addEventListener("driving", () => {
      if (!link.media && this.shown) this.refresh();
    });
  }

  // -- opening and the state --------------------------------------------------------------

  /** Called when the page is shown: what plays, and the open tab's list, afresh. */
  open() {
    this.refresh();
  }

  get shown() {
    return this.isConnected && this.offsetParent !== null;
  }

  /**
   * The service sends its state right after the driving state on every connection: a link
   * that brought the one and, a moment later, still not the other has no media service.
   * (Asking `/api/media/state` instead would log the 503 in the console of every car without.)
   */
  refresh() {
    clearTimeout(this._offTimer);
    if (link.media) {
      this.available = true;
    } else if (link.status === "open" && link.driving) {
      this._offTimer = setTimeout(() => {
        if (!link.media) this.available = false;
        this.update({});
      }, OFF_AFTER_MS);
    }
    this.update({});
    if (!this.available) return;
    if (this.tab === "browse" && !this.listing) this.browse(this.path);
    if (this.tab === "queue") this.loadQueue();
  }

  get stateNow() {
    return link.media;
  }

  get now() {
    return zoneState(this.stateNow, this.zone);
  }

  get repeat() {
    const r = String(this.now?.repeat ?? "off").toLowerCase();
    return REPEATS.includes(r) ? r : "off";
  }

  media() {
    const was = this.available;
    this.available = true;
    const z = this.now;
    if (z) {
      const playing = z.state === "playing";
      this.playhead.set(z.position, z.duration ?? z.item?.duration, playing);
    }
    this.update({});
    if (was !== true && this.shown && this.tab === "browse" && !this.listing) this.browse(this.path);
    const key = this.queueKeyOf(z);
    if (key !== this._queueKey) {
      this._queueKey = key;
      if (this.tab === "queue" && this.shown) this.loadQueue();
      else this.queue = null;
    }
  }

  queueKeyOf(z) {
    if (!z) return "";
    return JSON.stringify([this.zone, z.session, z.queue_length, z.queue_index, z.item?.uri, z.shuffle]);
  }

  switchZone(zone) {
    if (zone === this.zone) return;
    this.zone = zone;
    this.queue = null;
    this._queueKey = this.queueKeyOf(this.now);
    this.media();
    if (this.tab === "queue") this.loadQueue();
  }

  showTab(tab) {
    this.tab = tab;
    this.update({});
    if (tab === "browse" && !this.listing) this.browse(this.path);
    if (tab === "queue") this.loadQueue();
    if (tab === "search") {
      const input = this.$(".mv-search-input");
      if (!input.disabled) input.focus();
    }
  }

  /** Run a command of the media API; a refusal shows as a toast. */
  async command(call) {
    try {
      return await call();
    } catch (error) {
      showError(error);
      return null;
    }
  }

  /** A range input that sends its value once let go, and ignores updates while held. */
  slider(selector, name, send) {
    const input = this.$(selector);
    const hold = () => {
      this._dragging[name] = true;
    };
    input.addEventListener("pointerdown", hold);
    input.addEventListener("input", hold);
    input.addEventListener("change", async () => {
      const value = Number(input.value);
      await this.command(() => send(value));
      this._dragging[name] = false;
      if (name === "seek") this.playhead.set(value, this.playhead.duration, this.playhead.playing);
      this.update({});
    });
  }

  // -- showing ----------------------------------------------------------------------------

  update() {
    if (!this._built) return;
    const off = this.available === false;
    this.dataset.available = String(!off);
    this.$(".mv-off").hidden = !off;
    this.$(".mv-tabs").hidden = off;
    const zones = this.stateNow?.zones;
    const rear = Boolean(zones && typeof zones === "object" && zones.rear);
    if (!rear && this.zone !== "driver") this.zone = "driver";
    this.$(".mv-zones").hidden = !rear;
    for (const button of this.querySelectorAll("[data-zone]")) {
      button.setAttribute("aria-checked", String(button.dataset.zone === this.zone));
    }
    for (const button of this.querySelectorAll("[data-tab]")) {
      button.setAttribute("aria-checked", String(button.dataset.tab === this.tab));
    }
    for (const panel of this.querySelectorAll("[data-tab-panel]")) {
      panel.hidden = off || panel.dataset.tabPanel !== this.tab;
    }
    this.nowPlaying();
    this.renderCrumbs();
    this.renderBrowse();
    this.renderSearchField();
    this.renderResults();
    this.renderQueue();
  }

  nowPlaying() {
    const z = this.now;
    const item = z && z.item && typeof z.item === "object" ? z.item : null;
    const state = STATES.has(z?.state) ? z.state : "stopped";
    this.dataset.state = item ? state : "empty";
    this.dataset.playing = String(Boolean(item) && (state === "playing" || state === "buffering"));
    // A stream that names what it plays (ICY metadata) shows that, under the station's name.
    const streamTitle = item && typeof item.stream_title === "string" ? item.stream_title : "";
    const title = streamTitle || String(item?.title ?? "");
    const artist = streamTitle ? String(item.title ?? "") : String(item?.artist ?? "");
    this.text(".mv-title", item ? cut(title) : t("media.nothing_playing"));
    this.text(".mv-artist", item ? cut(artist) : t("media.nothing_playing_hint"));
    this.text(".mv-album", item ? cut(String(item.album ?? "")) : "");
    this.text(".mv-source", item ? sessionName(z.session, item.source) : "");
    const status = item && state !== "playing" ? t(`media.state_${state}`) : "";
    const statusEl = this.text(".mv-status", status);
    statusEl.dataset.state = state;
    this.showArt(item ? artSrc(item.art) : null);
    // Nothing to skip, play or shuffle without an item; the volume is the zone's.
    for (const button of this.querySelectorAll(".mv-transport button")) button.disabled = !item;
    for (const button of this.querySelectorAll(".mv-volume button")) button.disabled = !z;
    this.$(".mv-volume-input").disabled = !z;
    const shuffle = this.$(".mv-shuffle");
    shuffle.setAttribute("aria-pressed", String(Boolean(z?.shuffle)));
    const repeat = this.$(".mv-repeat");
    repeat.dataset.repeat = this.repeat;
    repeat.setAttribute("aria-pressed", String(this.repeat !== "off"));
    repeat.setAttribute("aria-label", t(`media.repeat_${this.repeat}`));
    if (!this._dragging.volume) {
      const volume = finite(z?.volume) ? z.volume : 0;
      const input = this.$(".mv-volume-input");
      input.value = String(volume);
      input.style.setProperty("--fill", `${volume}%`);
      this.text(".mv-volume-value", finite(z?.volume) ? fmt.number(volume) : "–");
    }
    this.seekBar(item);
  }

  /** The seek bar of `item`: its position and length; a live stream only counts up. */
  seekBar(item) {
    const input = this.$(".mv-seek-input");
    const live = Boolean(item && item.live);
    const duration = this.playhead.duration;
    const at = item ? this.playhead.now() : null;
    const can = Boolean(item) && !live && duration !== null;
    input.disabled = !can;
    this.tick(Boolean(item) && this.playhead.playing && this.shown);
    this.$(".mv-seek").dataset.live = String(live);
    this.text(".mv-total", can ? clock(duration) : live ? t("media.live") : clock(null));
    if (this._dragging.seek) return; // the thumb's own time shows meanwhile
    this.text(".mv-elapsed", clock(at));
    const fraction = can ? (this.playhead.fraction() ?? 0) : 0;
    if (can) {
      const max = String(Math.max(1, Math.round(duration)));
      if (input.max !== max) input.max = max;
    }
    input.value = String(can ? Math.round(at ?? 0) : 0);
    input.style.setProperty("--fill", `${(fraction * 100).toFixed(2)}%`);
  }

  tick(on) {
    if (on && !this._ticker) {
      this._ticker = setInterval(() => {
        if (!this.shown) return this.tick(false);
        this.seekBar(this.now?.item ?? null);
      }, TICK_MS);
    } else if (!on && this._ticker) {
      clearInterval(this._ticker);
      this._ticker = null;
    }
  }

  showArt(src) {
    const img = this.$(".mv-art img");
    const art = this.$(".mv-art");
    if (!src) {
      img.removeAttribute("src");
      img.hidden = true;
      art.classList.remove("has-art");
    } else if (img.getAttribute("src") !== src) {
      img.setAttribute("src", src);
    }
  }

  /** Rows for a list: art or an icon, title, subtitle, and what a tap does. */
  rows(entries, go) {
    return entries
      .map((entry, i) => {
        const art = artSrc(entry.art);
        const thumb = art
          ? `<img src="${escape(art)}" alt="" draggable="false" loading="lazy">`
          : mediaIcon(nodeIcon(entry));
        const subtitle = entry.subtitle ?? [entry.artist, entry.album].filter(Boolean).join(" · ");
        const title = entry.kind === "folder" ? nodeTitle(entry) : String(entry.title ?? "");
        return `<li><button type="button" class="mv-row" data-index="${i}" data-kind="${escape(entry.kind || "item")}">
            <span class="mv-thumb">${thumb}</span>
            <span class="mv-row-text"><strong>${escape(cut(title))}</strong>
              ${subtitle ? `<span>${escape(cut(String(subtitle)))}</span>` : ""}</span>
            <span class="mv-row-go">${go(entry)}</span></button></li>`;
      })
      .join("");
  }

  /** Fill `list` (only when its markup changed: a tap never lands on a replaced row). */
  fill(list, html, hidden) {
    if (list.dataset.html !== html) {
      list.innerHTML = html;
      list.dataset.html = html;
      list.scrollTop = 0;
    }
    const more = list.nextElementSibling;
    more.hidden = hidden <= 0;
    if (hidden > 0) this.text(more, t("driving.more_when_parked", { n: fmt.number(hidden) }));
  }

  none(key) {
    return `<li class="mv-none faint">${escape(t(key))}</li>`;
  }

  // -- browse -----------------------------------------------------------------------------

  async browse(path) {
    const seq = ++this._seq.browse;
    const node = path.at(-1);
    this.path = path;
    this.renderCrumbs();
    try {
      const listing = await mediaApi.browse(node ? node.id : null);
      if (seq !== this._seq.browse) return;
      this.listing = listing;
      this.available = true;
    } catch (error) {
      if (seq !== this._seq.browse) return;
      if (error.code === "unavailable" && !link.media) this.available = false;
      else showError(error);
      this.listing = { node: node || null, children: [] };
    }
    this.update({});
  }

  renderCrumbs() {
    const crumbs = [{ title: t("media.root") }, ...this.path];
    const html = crumbs
      .map((crumb, depth) => {
        const last = depth === crumbs.length - 1;
        const title = depth === 0 ? crumb.title : nodeTitle(crumb);
        return `${depth ? `<span class="mv-crumb-sep">${icon("chevron")}</span>` : ""}<button type="button"
          class="mv-crumb" data-depth="${depth}" ${last ? 'aria-current="page"' : ""}>${escape(cut(title))}</button>`;
      })
      .join("");
    const nav = this.$(".mv-crumbs");
    if (nav.dataset.html !== `${html}${i18n.version}`) {
      nav.innerHTML = html;
      nav.dataset.html = `${html}${i18n.version}`;
      nav.scrollLeft = nav.scrollWidth;
    }
  }

  renderBrowse() {
    const list = this.$('[data-testid="media-browse"]');
    const children = Array.isArray(this.listing?.children) ? this.listing.children : [];
    const shown = driving.limit(children);
    this.shownChildren = shown;
    const html = !this.listing
      ? ""
      : shown.length
        ? this.rows(shown, (c) => (c.kind === "folder" ? icon("chevron") : icon("play-fill")))
        : this.none("media.empty_folder");
    this.fill(list, html, children.length - shown.length);
    const node = this.path.at(-1);
    this.$(".mv-play-all").hidden = !node || !children.some((c) => c.kind !== "folder");
    const podcasts = node?.id === "podcasts";
    const form = this.$(".mv-subscribe");
    form.hidden = !podcasts;
    const allowed = driving.rules.text_entry !== false;
    const input = this.$(".mv-subscribe-input");
    input.disabled = !allowed;
    this.$(".mv-subscribe-go").disabled = !allowed;
    form.classList.toggle("locked", !allowed);
    const placeholder = t(allowed ? "media.feed_url" : "media.typing_parked");
    if (input.placeholder !== placeholder) {
      input.placeholder = placeholder;
      input.setAttribute("aria-label", placeholder);
    }
  }

  browseTap(event) {
    const row = event.target.closest("[data-index]");
    if (!row) return;
    const entry = this.shownChildren?.[Number(row.dataset.index)];
    if (!entry) return;
    if (entry.kind === "folder") {
      this.browse([...this.path, { id: entry.id, title: entry.title }]);
      return;
    }
    this.playEntry(entry);
  }

  /** Play what a list shows: its URI (a library track brings the rest of its album). */
  playEntry(entry) {
    const what = entry.uri ? { uri: entry.uri } : { node: entry.id };
    this.command(() => mediaApi.play(what, this.zone));
  }

  async subscribeFeed() {
    const input = this.$(".mv-subscribe-input");
    const url = input.value.trim();
    if (!url || input.disabled) return;
    const feed = await this.command(() => mediaApi.subscribe(url));
    if (!feed) return;
    input.value = "";
    const title = feed.title ?? feed.feed?.title ?? url;
    showToast(t("media.subscribed", { title: String(title) }));
    this.browse(this.path);
  }

  // -- search -----------------------------------------------------------------------------

  renderSearchField() {
    const input = this.$(".mv-search-input");
    const allowed = driving.rules.text_entry !== false;
    input.disabled = !allowed;
    this.$(".mv-search-field").classList.toggle("locked", !allowed);
    const placeholder = t(allowed ? "media.search_placeholder" : "media.search_parked");
    if (input.placeholder !== placeholder) {
      input.placeholder = placeholder;
      input.setAttribute("aria-label", placeholder);
    }
  }

  async search() {
    const text = this.$(".mv-search-input").value.trim();
    const seq = ++this._seq.search;
    if (!text) {
      this.results = null;
      this.renderResults();
      return;
    }
    try {
      const answer = await mediaApi.search(text);
      if (seq !== this._seq.search) return;
      this.results = Array.isArray(answer?.items) ? answer.items : [];
    } catch (error) {
      if (seq !== this._seq.search) return;
      showError(error);
      this.results = [];
    }
    this.renderResults();
  }

  renderResults() {
    const list = this.$('[data-testid="media-results"]');
    const results = this.results || [];
    const shown = driving.limit(results);
    this.shownResults = shown;
    const html = this.results === null
      ? ""
      : shown.length
        ? this.rows(shown, (r) => (r.kind === "folder" ? icon("chevron") : icon("play-fill")))
        : this.none("media.no_results");
    this.fill(list, html, results.length - shown.length);
  }

  resultTap(event) {
    const row = event.target.closest("[data-index]");
    const entry = row && this.shownResults?.[Number(row.dataset.index)];
    if (!entry) return;
    if (entry.kind === "folder") {
      this.showTab("browse");
      this.browse([{ id: entry.id, title: entry.title }]);
    } else {
      this.playEntry(entry);
    }
  }

  // -- queue ------------------------------------------------------------------------------

  async loadQueue() {
    const seq = ++this._seq.queue;
    const zone = this.zone;
    try {
      const answer = await mediaApi.queue(zone);
      if (seq !== this._seq.queue || zone !== this.zone) return;
      this.queue = {
        items: Array.isArray(answer?.items) ? answer.items : [],
        index: finite(answer?.index) ? answer.index : null,
      };
    } catch (error) {
      if (seq !== this._seq.queue) return;
      if (!(error.code === "unavailable" && !link.media)) showError(error);
      this.queue = { items: [], index: null };
    }
    this.renderQueue();
  }

  renderQueue() {
    const list = this.$('[data-testid="media-queue"]');
    if (!this.queue) {
      this.fill(list, "", 0);
      return;
    }
    const { items, index } = this.queue;
    // While moving, the rows around the current item (it is the one the driver looks for).
    const max = driving.rules.max_list_items;
    let first = 0;
    if (typeof max === "number" && max >= 0 && items.length > max && index !== null) {
      first = Math.max(0, Math.min(index, items.length - max));
    }
    const shown = driving.limit(items.slice(first));
    const last = items.length - 1;
    const html = shown.length
      ? shown
          .map((item, k) => {
            const i = first + k;
            const current = i === index;
            const by = [item.artist, item.album].filter(Boolean).join(" · ");
            return `<li class="mv-qrow" data-testid="media-queue-item" data-index="${i}" ${current ? 'aria-current="true"' : ""}>
              <button type="button" class="mv-row mv-qplay" data-do="play"
                aria-label="${escape(t("media.play_from_here"))}">
                <span class="mv-qmark num">${current ? icon("play-fill") : fmt.number(i + 1)}</span>
                <span class="mv-row-text"><strong>${escape(cut(String(item.title ?? "")))}</strong>
                  ${by ? `<span>${escape(cut(by))}</span>` : ""}</span>
                <span class="mv-time num">${finite(item.duration) ? clock(item.duration) : ""}</span>
              </button>
              <button type="button" class="btn round ghost" data-do="up" data-testid="media-queue-up"
                aria-label="${escape(t("media.move_up"))}" ${i === 0 ? "disabled" : ""}>${mediaIcon("up")}</button>
              <button type="button" class="btn round ghost" data-do="down" data-testid="media-queue-down"
                aria-label="${escape(t("media.move_down"))}" ${i === last ? "disabled" : ""}>${mediaIcon("down")}</button>
              <button type="button" class="btn round ghost" data-do="remove" data-testid="media-queue-remove"
                aria-label="${escape(t("media.remove"))}">${icon("close")}</button>
            </li>`;
          })
          .join("")
      : this.none("media.queue_empty");
    this.fill(list, html, items.length - shown.length);
  }

  async queueTap(event) {
    const button = event.target.closest("[data-do]");
    const row = event.target.closest("[data-index]");
    if (!button || !row || !this.queue) return;
    const i = Number(row.dataset.index);
    const zone = this.zone;
    const action = button.dataset.do;
    let done = null;
    if (action === "remove") done = await this.command(() => mediaApi.remove(zone, i));
    else if (action === "up") done = await this.command(() => mediaApi.move(zone, i, i - 1));
    else if (action === "down") done = await this.command(() => mediaApi.move(zone, i, i + 1));
    else if (action === "play") done = await this.playFrom(zone, i);
    if (done !== null) this.loadQueue();
  }

  /** Make queue item `i` current and play it. */
  playFrom(zone, i) {
    return this.command(() => mediaApi.transport(zone, "play", { index: i }));
  }
}

define("cm-media-view", MediaView);
