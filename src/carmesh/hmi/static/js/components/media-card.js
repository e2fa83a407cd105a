/**
 * `<cm-media-card>`: now playing, from `Vehicle.Cabin.Infotainment.Media.*` — track, artist,
 * album, source, and previous / play-pause / next, which actuate `Media.Action` (`STOP`
 * pauses) — with what the carmesh overlay adds when the media service runs
 * (`Vehicle.Carmesh.Media.*`): the cover art (`ArtURI`, a path on the car) and a progress bar
 * from `Position` and `Duration` (none for a live stream). Until a media source publishes a
 * track the card says that nothing plays.
 *
 * A tap on the cover or the titles, or on the card's open button, fires `open-media`
 * (bubbling): the centre display shows the media page.
 *
 * Video sources (TV, DVD) show a video surface, which the distraction rules hide while the
 * car moves (`rules.video`), saying so.
 */

import { CarElement, define, driving, t } from "./base.js";
import { icon } from "../icons.js";
import { Playhead, artSrc, clock, cut } from "../media-api.js";

const MEDIA = "Vehicle.Cabin.Infotainment.Media";
const CARMESH = "Vehicle.Carmesh.Media";
const M = {
  track: `${MEDIA}.Played.Track`,
  artist: `${MEDIA}.Played.Artist`,
  album: `${MEDIA}.Played.Album`,
  source: `${MEDIA}.Played.Source`,
  action: `${MEDIA}.Action`,
  art: `${CARMESH}.ArtURI`,
  position: `${CARMESH}.Position`,
  duration: `${CARMESH}.Duration`,
  state: `${CARMESH}.State`,
};
const VIDEO_SOURCES = new Set(["TV", "DVD"]);
const TICK_MS = 250;

class MediaCard extends CarElement {
  static paths = Object.values(M);

  constructor() {
    super();
    this.playhead = new Playhead();
    this._ticker = null;
  }

  render() {
    return `
      <header class="card-head">
        <h2 class="card-title" data-i18n="media.title"></h2>
        <span class="card-aside mc-source"></span>
        <button class="btn round ghost mc-open" type="button" data-testid="media-open"
          data-i18n-attr="aria-label:media.open">${icon("chevron")}</button>
      </header>
      <div class="mc-now">
        <button class="mc-art" type="button" data-testid="media-card-art" tabindex="-1"
          aria-hidden="true">${icon("music")}<img alt="" draggable="false" hidden></button>
        <div class="mc-video" hidden>
          <div class="mc-video-surface">${icon("video")}</div>
          <div class="mc-video-blocked" hidden>${icon("steering")}<span data-i18n="media.video_blocked"></span></div>
        </div>
        <button class="mc-meta" type="button" data-i18n-attr="aria-label:media.open">
          <span class="mc-track" data-testid="media-track"></span>
          <span class="mc-artist" data-testid="media-artist"></span>
        </button>
      </div>
      <div class="mc-progress" data-testid="media-progress" hidden>
        <span class="mc-time mc-elapsed num"></span>
        <span class="mc-bar"><span class="mc-fill"></span></span>
        <span class="mc-time mc-total num"></span>
      </div>
      <div class="mc-controls">
        <button class="btn round ghost mc-prev" type="button" data-action="SKIP_BACKWARD"
          data-testid="media-prev" data-i18n-attr="aria-label:media.previous">${icon("prev-fill")}</button>
        <button class="btn round mc-play" type="button" data-testid="media-play"
          data-i18n-attr="aria-label:media.play_pause">${icon("play-fill", "play")}${icon("pause-fill", "pause")}</button>
        <button class="btn round ghost mc-next" type="button" data-action="SKIP_FORWARD"
          data-testid="media-next" data-i18n-attr="aria-label:media.next">${icon("next-fill")}</button>
      </div>`;
  }

  setup() {
    for (const button of this.querySelectorAll("[data-action]")) {
      button.addEventListener("click", () => this.actuate({ [M.action]: button.dataset.action }));
    }
    this.$(".mc-play").addEventListener("click", () =>
      this.actuate({ [M.action]: this.playing ? "STOP" : "PLAY" }),
    );
    const open = () => this.dispatchEvent(new CustomEvent("open-media", { bubbles: true }));
    for (const el of this.querySelectorAll(".mc-open, .mc-art, .mc-meta")) {
      el.addEventListener("click", open);
    }
    const img = this.$(".mc-art img");
    img.addEventListener("load", () => {
      img.hidden = false;
      this.$(".mc-art").classList.add("has-art");
    });
    img.addEventListener("error", () => {
      img.hidden = true;
      this.$(".mc-art").classList.remove("has-art");
    });
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.tick(false);
  }

  get playing() {
    return this.state[M.action] === "PLAY";
  }

  update(changed) {
    const s = this.state;
    const track = typeof s[M.track] === "string" ? s[M.track].trim() : "";
    const hasMedia = track.length > 0;
    this.dataset.empty = String(!hasMedia);
    this.dataset.playing = String(hasMedia && this.playing);
    this.text(".mc-track", hasMedia ? cut(track) : t("media.nothing_playing"));
    const by = [s[M.artist], s[M.album]].filter((x) => typeof x === "string" && x.trim());
    this.text(".mc-artist", hasMedia ? cut(by.join(" · ")) : t("media.nothing_playing_hint"));
    const source = s[M.source];
    this.text(".mc-source", hasMedia && source && source !== "UNKNOWN" ? t(`media.sources.${source}`) : "");
    for (const button of this.querySelectorAll(".mc-controls button")) button.disabled = !hasMedia;
    const video = hasMedia && VIDEO_SOURCES.has(source);
    this.$(".mc-video").hidden = !video;
    this.$(".mc-art").hidden = video;
    this.$(".mc-video-surface").hidden = !driving.rules.video;
    this.$(".mc-video-blocked").hidden = driving.rules.video;
    this.showArt(hasMedia ? artSrc(s[M.art]) : null);
    if ([M.position, M.duration, M.action, M.state].some((path) => path in changed)) {
      // The overlay's State tells buffering from playing; without it, Action says enough.
      const playing = typeof s[M.state] === "string" ? s[M.state] === "playing" : this.playing;
      this.playhead.set(s[M.position], s[M.duration], playing);
    }
    this.progress(hasMedia && !video);
  }

  showArt(src) {
    const img = this.$(".mc-art img");
    const art = this.$(".mc-art");
    if (!src) {
      img.removeAttribute("src");
      img.hidden = true;
      art.classList.remove("has-art");
      return;
    }
    if (img.getAttribute("src") !== src) img.setAttribute("src", src);
  }

  progress(shown) {
    const bar = this.$(".mc-progress");
    const fraction = this.playhead.fraction();
    bar.hidden = !shown || fraction === null;
    this.tick(!bar.hidden && this.playhead.playing);
    if (bar.hidden) return;
    this.$(".mc-fill").style.width = `${(fraction * 100).toFixed(2)}%`;
    this.text(".mc-elapsed", clock(this.playhead.now()));
    this.text(".mc-total", clock(this.playhead.duration));
  }

  tick(on) {
    if (on && !this._ticker) {
      this._ticker = setInterval(() => this.progress(true), TICK_MS);
    } else if (!on && this._ticker) {
      clearInterval(this._ticker);
      this._ticker = null;
    }
  }
}

define("cm-media-card", MediaCard);
