/**
 * `<cm-media-card>`: now playing, from `Vehicle.Cabin.Infotainment.Media.*` — track, artist,
 * album, source, and previous / play-pause / next, which actuate `Media.Action`. Until a
 * media source publishes a track the card says that nothing plays.
 *
 * Video sources (TV, DVD) show a video surface, which the distraction rules hide while the
 * car moves (`rules.video`), saying so.
 */

import { CarElement, define, driving, t } from "./base.js";
import { icon } from "../icons.js";

const MEDIA = "Vehicle.Cabin.Infotainment.Media";
const M = {
  track: `${MEDIA}.Played.Track`,
  artist: `${MEDIA}.Played.Artist`,
  album: `${MEDIA}.Played.Album`,
  source: `${MEDIA}.Played.Source`,
  action: `${MEDIA}.Action`,
};
const VIDEO_SOURCES = new Set(["TV", "DVD"]);

class MediaCard extends CarElement {
  static paths = Object.values(M);

  render() {
    return `
      <header class="card-head">
        <h2 class="card-title" data-i18n="media.title"></h2>
        <span class="card-aside mc-source"></span>
      </header>
      <div class="mc-now">
        <div class="mc-art">${icon("music")}</div>
        <div class="mc-video" hidden>
          <div class="mc-video-surface">${icon("video")}</div>
          <div class="mc-video-blocked" hidden>${icon("steering")}<span data-i18n="media.video_blocked"></span></div>
        </div>
        <div class="mc-meta">
          <span class="mc-track" data-testid="media-track"></span>
          <span class="mc-artist"></span>
        </div>
      </div>
      <div class="mc-controls">
        <button class="btn round ghost mc-prev" type="button" data-action="SKIP_BACKWARD"
          data-i18n-attr="aria-label:media.previous">${icon("prev-fill")}</button>
        <button class="btn round mc-play" type="button"
          data-i18n-attr="aria-label:media.play_pause">${icon("play-fill", "play")}${icon("pause-fill", "pause")}</button>
        <button class="btn round ghost mc-next" type="button" data-action="SKIP_FORWARD"
          data-i18n-attr="aria-label:media.next">${icon("next-fill")}</button>
      </div>`;
  }

  setup() {
    for (const button of this.querySelectorAll("[data-action]")) {
      button.addEventListener("click", () => this.actuate({ [M.action]: button.dataset.action }));
    }
    this.$(".mc-play").addEventListener("click", () =>
      this.actuate({ [M.action]: this.playing ? "STOP" : "PLAY" }),
    );
  }

  get playing() {
    return this.state[M.action] === "PLAY";
  }

  update() {
    const s = this.state;
    const track = typeof s[M.track] === "string" ? s[M.track].trim() : "";
    const hasMedia = track.length > 0;
    this.dataset.empty = String(!hasMedia);
    this.dataset.playing = String(hasMedia && this.playing);
    this.text(".mc-track", hasMedia ? track : t("media.nothing_playing"));
    const by = [s[M.artist], s[M.album]].filter((x) => typeof x === "string" && x.trim());
    this.text(".mc-artist", hasMedia ? by.join(" · ") : t("media.nothing_playing_hint"));
    const source = s[M.source];
    this.text(".mc-source", hasMedia && source && source !== "UNKNOWN" ? t(`media.sources.${source}`) : "");
    for (const button of this.querySelectorAll(".mc-controls button")) button.disabled = !hasMedia;
    const video = hasMedia && VIDEO_SOURCES.has(source);
    this.$(".mc-video").hidden = !video;
    this.$(".mc-art").hidden = video;
    this.$(".mc-video-surface").hidden = !driving.rules.video;
    this.$(".mc-video-blocked").hidden = driving.rules.video;
  }
}

define("cm-media-card", MediaCard);
