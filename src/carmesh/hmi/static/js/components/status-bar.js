/**
 * `<cm-status-bar>`: the top line of the centre display — clock and date, the driving
 * restrictions banner (while the car moves), the link state, outside temperature and charge.
 */

import { CarElement, define, driving, fmt, link, t } from "./base.js";
import { icon } from "../icons.js";

const SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed";
const OUTSIDE = "Vehicle.Exterior.AirTemperature";
const CHARGING = "Vehicle.Powertrain.TractionBattery.Charging.IsCharging";

class StatusBar extends CarElement {
  static paths = [SOC, OUTSIDE, CHARGING];

  render() {
    return `
      <div class="sb-time"><span class="sb-clock num"></span><span class="sb-date"></span></div>
      <div class="sb-centre">
        <div class="restriction" id="restriction-banner" role="status" hidden>
          <span class="restriction-icon">${icon("steering")}</span>
          <span class="restriction-text">
            <strong data-i18n="driving.banner_title"></strong>
            <span data-i18n="driving.banner_detail"></span>
          </span>
        </div>
      </div>
      <div class="sb-right">
        <span class="sb-link" hidden><span class="dot"></span><span class="sb-link-text"></span></span>
        <span class="sb-item sb-outside">${icon("thermometer")}<span class="num"></span></span>
        <span class="sb-item sb-soc"><span class="sb-battery"><span class="sb-battery-fill"></span></span><span class="num"></span></span>
      </div>`;
  }

  setup() {
    const tick = () => {
      this.text(".sb-clock", fmt.clock());
      this.text(".sb-date", fmt.date());
    };
    tick();
    setInterval(tick, 1000);
    link.addEventListener("status", () => this.update({}));
  }

  update() {
    this.text(".sb-clock", fmt.clock());
    this.text(".sb-date", fmt.date());
    const banner = this.$("#restriction-banner");
    banner.hidden = !driving.moving;
    const linkEl = this.$(".sb-link");
    linkEl.hidden = link.status === "open";
    linkEl.dataset.status = link.status;
    this.text(".sb-link-text", t(`link.${link.status}`));
    this.text(".sb-outside .num", fmt.temperature(this.state[OUTSIDE], 0).text);
    const soc = this.state[SOC];
    this.text(".sb-soc .num", fmt.percent(soc).text);
    const fill = this.$(".sb-battery-fill");
    fill.style.width = `${Math.max(0, Math.min(100, soc ?? 0))}%`;
    this.$(".sb-soc").classList.toggle("charging", this.state[CHARGING] === true);
    this.$(".sb-soc").classList.toggle("low", typeof soc === "number" && soc < 15);
  }
}

define("cm-status-bar", StatusBar);
