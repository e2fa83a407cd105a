/**
 * `<cm-car-view>`: the car seen from above, front up (left-hand drive: the driver's side is
 * on the left). Open doors swing out and glow amber, as do an open frunk, trunk or window;
 * unlocked doors and lids are outlined in the accent colour; the badge on the roof shows
 * whether the car is locked.
 *
 * `view.show({doors: {"Row1.DriverSide": {open, locked, window}}, trunks: {Front: {open,
 * locked}, Rear: {…}}})` — missing parts are drawn closed and locked.
 */

import { icon } from "../icons.js";

export const DOORS = ["Row1.DriverSide", "Row1.PassengerSide", "Row2.DriverSide", "Row2.PassengerSide"];
export const TRUNKS = ["Front", "Rear"];

// Door panels: [x, y top, height, side] in the 220×420 drawing; hinges at the top.
const DOOR_GEOMETRY = {
  "Row1.DriverSide": [27, 150, 86, -1],
  "Row1.PassengerSide": [181, 150, 86, 1],
  "Row2.DriverSide": [27, 242, 76, -1],
  "Row2.PassengerSide": [181, 242, 76, 1],
};
const WINDOW_GEOMETRY = {
  "Row1.DriverSide": [47, 188, 52],
  "Row1.PassengerSide": [165, 188, 52],
  "Row2.DriverSide": [47, 246, 34],
  "Row2.PassengerSide": [165, 246, 34],
};

function doorMarkup(name) {
  const [x, y, h, side] = DOOR_GEOMETRY[name];
  const hx = side < 0 ? x + 6 : x + 6;
  return `<g class="part door" data-part="door:${name}" style="transform-origin:${hx}px ${y}px">
      <rect x="${x}" y="${y}" width="12" height="${h}" rx="6"/>
    </g>`;
}

function windowMarkup(name) {
  const [x, y, h] = WINDOW_GEOMETRY[name];
  return `<rect class="part window" data-part="window:${name}" x="${x}" y="${y}" width="8" height="${h}" rx="4"/>`;
}

const SVG = `
<svg viewBox="0 0 220 420" class="car-svg" aria-hidden="true">
  <defs>
    <linearGradient id="car-sheen" x1="0" y1="0" x2="1" y2="0">
      <stop offset="0" stop-color="#fff" stop-opacity="0"/>
      <stop offset="0.5" stop-color="#fff" stop-opacity="0.07"/>
      <stop offset="1" stop-color="#fff" stop-opacity="0"/>
    </linearGradient>
  </defs>
  <ellipse class="car-shadow" cx="110" cy="212" rx="96" ry="204"/>
  <g class="wheels">
    <rect x="24" y="66" width="16" height="54" rx="7"/><rect x="180" y="66" width="16" height="54" rx="7"/>
    <rect x="24" y="292" width="16" height="54" rx="7"/><rect x="180" y="292" width="16" height="54" rx="7"/>
  </g>
  <path class="mirror" d="M34 146 C 22 142, 14 146, 14 154 C 18 158, 28 158, 34 156 Z"/>
  <path class="mirror" d="M186 146 C 198 142, 206 146, 206 154 C 202 158, 192 158, 186 156 Z"/>
  <path class="body" d="M110 18 C 152 18, 176 26, 182 60 L 187 140 L 187 322 C 187 372, 176 400, 110 403 C 44 400, 33 372, 33 322 L 33 140 L 38 60 C 44 26, 68 18, 110 18 Z"/>
  <path class="sheen" d="M110 18 C 152 18, 176 26, 182 60 L 187 140 L 187 322 C 187 372, 176 400, 110 403 C 44 400, 33 372, 33 322 L 33 140 L 38 60 C 44 26, 68 18, 110 18 Z" fill="url(#car-sheen)"/>
  <path class="part lid" data-part="trunk:Front" d="M54 40 C 74 30, 146 30, 166 40 L 169 110 C 140 102, 80 102, 51 110 Z"/>
  <path class="glass" d="M50 120 C 80 109, 140 109, 170 120 L 161 178 C 130 171, 90 171, 59 178 Z"/>
  <path class="glass roof" d="M60 186 C 92 180, 128 180, 160 186 L 160 282 C 128 287, 92 287, 60 282 Z"/>
  <path class="glass" d="M60 290 C 92 296, 128 296, 160 290 L 165 320 C 130 329, 90 329, 55 320 Z"/>
  <path class="part lid" data-part="trunk:Rear" d="M53 330 C 90 339, 130 339, 167 330 L 169 366 C 152 392, 68 392, 51 366 Z"/>
  <path class="lamp front" d="M46 34 C 52 28, 62 25, 70 24 M174 34 C 168 28, 158 25, 150 24"/>
  <path class="lamp rear" d="M52 384 C 80 396, 140 396, 168 384"/>
  ${DOORS.map(windowMarkup).join("")}
  ${DOORS.map(doorMarkup).join("")}
  <g class="lock-badge" transform="translate(86 210)">
    <circle cx="24" cy="24" r="26"/>
    <g class="lock-glyph" transform="translate(10 10) scale(1.17)">${icon("lock").replace(/<\/?svg[^>]*>/g, "")}</g>
    <g class="unlock-glyph" transform="translate(10 10) scale(1.17)">${icon("unlock").replace(/<\/?svg[^>]*>/g, "")}</g>
  </g>
</svg>`;

class CarView extends HTMLElement {
  connectedCallback() {
    if (!this.firstChild) this.innerHTML = SVG;
  }

  show({ doors = {}, trunks = {} } = {}) {
    if (!this.firstChild) this.innerHTML = SVG;
    let unlocked = false;
    for (const name of DOORS) {
      const state = doors[name] || {};
      this._mark(`door:${name}`, state.open, state.locked === false);
      this._mark(`window:${name}`, state.window, false);
      unlocked ||= state.locked === false;
    }
    for (const name of TRUNKS) {
      const state = trunks[name] || {};
      this._mark(`trunk:${name}`, state.open, state.locked === false);
    }
    this.querySelector(".lock-badge").classList.toggle("unlocked", unlocked);
  }

  _mark(part, open, unlocked) {
    const el = this.querySelector(`[data-part="${part}"]`);
    if (!el) return;
    el.classList.toggle("open", Boolean(open));
    el.classList.toggle("unlocked", Boolean(unlocked) && !open);
  }
}

if (!customElements.get("cm-car-view")) customElements.define("cm-car-view", CarView);
