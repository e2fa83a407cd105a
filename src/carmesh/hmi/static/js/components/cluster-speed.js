/**
 * `<cm-cluster-speed>`: the cluster's centre — speed in big figures inside a power/regen
 * ring, the selected gear, and motor power in kW. The ring's zero sits where regeneration
 * (green, to the left) meets drive power (to the right), scaled by the motor's published
 * maximum drive and regen power.
 */

import { CarElement, define, fmt, t } from "./base.js";

const MOTOR = "Vehicle.Powertrain.ElectricMotor";
const S = {
  speed: "Vehicle.Speed",
  power: `${MOTOR}.Power`,
  maxPower: `${MOTOR}.MaxPower`,
  maxRegen: `${MOTOR}.MaxRegenPower`,
  gear: "Vehicle.Powertrain.Transmission.SelectedGear",
};
const GEARS = [
  ["P", 126],
  ["R", -1],
  ["N", 0],
  ["D", 127],
];
const CX = 260;
const CY = 250;
const R = 226;
const SPAN = 240;
/** The largest share of the ring regeneration takes, however strong it is. */
const REGEN_SHARE = 0.22;

/** A point on the ring at `deg` (0 = 12 o'clock, clockwise). */
function point(deg, r = R) {
  const rad = ((deg - 90) * Math.PI) / 180;
  return [CX + r * Math.cos(rad), CY + r * Math.sin(rad)];
}

function arc(from, to, r = R) {
  if (Math.abs(to - from) < 0.01) return "";
  const [a, b] = from < to ? [from, to] : [to, from];
  const [x1, y1] = point(a, r);
  const [x2, y2] = point(b, r);
  const large = b - a > 180 ? 1 : 0;
  return `M${x1.toFixed(2)} ${y1.toFixed(2)} A${r} ${r} 0 ${large} 1 ${x2.toFixed(2)} ${y2.toFixed(2)}`;
}

class ClusterSpeed extends CarElement {
  static paths = Object.values(S);

  render() {
    const gears = GEARS.map(([label]) => `<span data-gear="${label}" data-i18n="cluster.gear_${label}"></span>`).join("");
    return `
      <svg class="ring" viewBox="0 0 520 500" aria-hidden="true">
        <path class="ring-track" d="${arc(-SPAN / 2, SPAN / 2)}"/>
        <path class="ring-regen-zone" d=""/>
        <path class="ring-value" d=""/>
        <g class="ring-ticks"></g>
        <circle class="ring-dot" r="9" cx="-99" cy="-99"/>
      </svg>
      <div class="cs-centre">
        <span class="cs-speed num" data-testid="cluster-speed"></span>
        <span class="cs-unit"></span>
        <div class="cs-gears" data-testid="cluster-gear">${gears}</div>
      </div>
      <div class="cs-power"><span class="cs-power-value num" data-testid="cluster-power"></span>
        <span class="cs-power-label" data-i18n="cluster.power"></span></div>`;
  }

  scale() {
    const max = this.state[S.maxPower] || 300;
    const regen = this.state[S.maxRegen] || Math.round(max / 4);
    const zero = -SPAN / 2 + SPAN * Math.min(REGEN_SHARE, regen / (regen + max));
    return { max, regen, zero };
  }

  angle(kw) {
    const { max, regen, zero } = this.scale();
    if (kw >= 0) return zero + ((SPAN / 2 - zero) * Math.min(kw, max)) / max;
    return zero - ((zero + SPAN / 2) * Math.min(-kw, regen)) / regen;
  }

  drawTicks() {
    const { max, regen, zero } = this.scale();
    const key = `${max}/${regen}`;
    const g = this.$(".ring-ticks");
    if (g.dataset.key === key) return;
    g.dataset.key = key;
    const ticks = [];
    for (let kw = 0; kw <= max; kw += 50) ticks.push([kw, kw % 100 === 0]);
    for (let kw = -25; kw >= -regen; kw -= 25) ticks.push([kw, false]);
    g.innerHTML = ticks
      .map(([kw, major]) => {
        const deg = this.angle(kw);
        const [x1, y1] = point(deg, R - 20);
        const [x2, y2] = point(deg, R - (major ? 34 : 28));
        return `<line class="${major ? "major" : ""} ${kw < 0 ? "regen" : ""}" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}"/>`;
      })
      .join("");
    this.$(".ring-regen-zone").setAttribute("d", arc(-SPAN / 2, zero - 1.5, R));
  }

  update() {
    const s = this.state;
    this.drawTicks();
    const speed = fmt.speed(s[S.speed]);
    this.text(".cs-speed", typeof s[S.speed] === "number" ? speed.value : "–");
    this.text(".cs-unit", speed.unit || fmt.speed(0).unit);
    const kw = typeof s[S.power] === "number" ? s[S.power] : 0;
    const { zero } = this.scale();
    const to = this.angle(kw);
    const value = this.$(".ring-value");
    value.setAttribute("d", arc(zero, to));
    value.classList.toggle("regen", kw < 0);
    const [dx, dy] = point(to);
    const dot = this.$(".ring-dot");
    dot.setAttribute("cx", dx.toFixed(2));
    dot.setAttribute("cy", dy.toFixed(2));
    dot.classList.toggle("regen", kw < 0);
    const power = fmt.power(Math.abs(kw));
    this.text(".cs-power-value", kw < 0 ? t("cluster.regen_value", { value: power.text }) : power.text);
    this.$(".cs-power").classList.toggle("regen", kw < 0);
    const gear = s[S.gear];
    for (const el of this.querySelectorAll("[data-gear]")) {
      const code = GEARS.find(([label]) => label === el.dataset.gear)[1];
      el.classList.toggle("active", gear === code || (el.dataset.gear === "D" && gear > 0 && gear < 126));
    }
  }
}

define("cm-cluster-speed", ClusterSpeed);
