/**
 * `<cm-cluster-media>`: the cluster's now-playing line — track and artist — with previous,
 * play-pause and next as large targets that actuate `Vehicle.Cabin.Infotainment.Media.Action`
 * (`STOP` pauses), like the card on the centre display.
 *
 * On a cluster they stand for the steering wheel's media buttons, so the keyboard reaches
 * them wherever the focus is: ArrowLeft is previous, Space play-pause, ArrowRight next (a
 * focused button keeps its own Space and Enter). The button that acted lights up briefly.
 */

import { CarElement, define, t } from "./base.js";
import { icon } from "../icons.js";
import { cut } from "../media-api.js";

const MEDIA = "Vehicle.Cabin.Infotainment.Media";
const M = {
  track: `${MEDIA}.Played.Track`,
  artist: `${MEDIA}.Played.Artist`,
  source: `${MEDIA}.Played.Source`,
  action: `${MEDIA}.Action`,
};
const KEYS = { ArrowLeft: "prev", " ": "play", ArrowRight: "next" };
const FLASH_MS = 250;

class ClusterMedia extends CarElement {
  static paths = Object.values(M);

  render() {
    return `
      <span class="cm-note">${icon("music")}</span>
      <div class="cm-line" data-testid="cluster-media-line">
        <span class="cm-track" data-testid="cluster-media-track"></span>
        <span class="cm-artist" data-testid="cluster-media-artist"></span>
      </div>
      <div class="cm-controls">
        <button class="btn round ghost" type="button" data-key="prev" data-testid="cluster-media-prev"
          data-i18n-attr="aria-label:media.previous">${icon("prev-fill")}</button>
        <button class="btn round cm-play" type="button" data-key="play" data-testid="cluster-media-play"
          data-i18n-attr="aria-label:media.play_pause">${icon("play-fill", "play")}${icon("pause-fill", "pause")}</button>
        <button class="btn round ghost" type="button" data-key="next" data-testid="cluster-media-next"
          data-i18n-attr="aria-label:media.next">${icon("next-fill")}</button>
      </div>`;
  }

  setup() {
    for (const button of this.querySelectorAll("[data-key]")) {
      button.addEventListener("click", () => this.press(button.dataset.key));
    }
    document.addEventListener("keydown", (event) => {
      const key = KEYS[event.key];
      if (!key || event.altKey || event.ctrlKey || event.metaKey || event.repeat) return;
      // A focused control answers Space itself (as a click).
      if (key === "play" && event.target.closest?.("button, input, select, textarea")) return;
      event.preventDefault();
      this.press(key);
    });
  }

  get playing() {
    return this.state[M.action] === "PLAY";
  }

  get hasMedia() {
    const track = this.state[M.track];
    return typeof track === "string" && track.trim().length > 0;
  }

  press(key) {
    if (!this.hasMedia) return;
    const button = this.$(`[data-key="${key}"]`);
    button.classList.add("pressed");
    setTimeout(() => button.classList.remove("pressed"), FLASH_MS);
    const action = { prev: "SKIP_BACKWARD", next: "SKIP_FORWARD" }[key] ?? (this.playing ? "STOP" : "PLAY");
    this.actuate({ [M.action]: action });
  }

  update() {
    const s = this.state;
    const media = this.hasMedia;
    this.dataset.empty = String(!media);
    this.dataset.playing = String(media && this.playing);
    this.text(".cm-track", media ? cut(s[M.track].trim()) : t("media.nothing_playing"));
    const artist = typeof s[M.artist] === "string" ? s[M.artist].trim() : "";
    this.text(".cm-artist", media ? cut(artist) : "");
    for (const button of this.querySelectorAll("[data-key]")) button.disabled = !media;
  }
}

define("cm-cluster-media", ClusterMedia);
