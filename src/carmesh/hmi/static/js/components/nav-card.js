/**
 * `<cm-nav-card>`: the navigation destination (`Vehicle.Cabin.Infotainment.Navigation.
 * DestinationSet.*`) with its straight-line distance from the car, a destination search
 * field, and saved places to choose from; choosing one actuates the destination.
 *
 * While the car moves the distraction rules apply: no free text entry (the field is
 * disabled and says why) and at most `max_list_items` places.
 */

import { CarElement, define, driving, escape, fmt, t } from "./base.js";
import { i18n } from "../i18n.js";
import { icon } from "../icons.js";

const NAV = "Vehicle.Cabin.Infotainment.Navigation.DestinationSet";
const N = {
  lat: `${NAV}.Latitude`,
  lon: `${NAV}.Longitude`,
  carLat: "Vehicle.CurrentLocation.Latitude",
  carLon: "Vehicle.CurrentLocation.Longitude",
};

/** Saved places around Gothenburg, where the simulated car drives; names are translated. */
export const PLACES = [
  { id: "home", icon: "home", lat: 57.6969, lon: 12.0031 },
  { id: "work", icon: "briefcase", lat: 57.7068, lon: 11.9386 },
  { id: "central_station", icon: "pin", lat: 57.7089, lon: 11.9733 },
  { id: "liseberg", icon: "star", lat: 57.6953, lon: 11.9925 },
  { id: "universeum", icon: "pin", lat: 57.6958, lon: 11.9889 },
  { id: "world_of_volvo", icon: "car", lat: 57.6925, lon: 11.9967 },
  { id: "slottsskogen", icon: "pin", lat: 57.685, lon: 11.942 },
  { id: "haga", icon: "pin", lat: 57.6985, lon: 11.956 },
  { id: "charger_molndal", icon: "bolt", lat: 57.6554, lon: 12.0158 },
  { id: "landvetter", icon: "plane", lat: 57.6628, lon: 12.2798 },
];

/** Great-circle distance in metres. */
function distance(lat1, lon1, lat2, lon2) {
  const rad = Math.PI / 180;
  const a =
    Math.sin(((lat2 - lat1) * rad) / 2) ** 2 +
    Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(a)));
}

class NavCard extends CarElement {
  static paths = Object.values(N);

  render() {
    return `
      <header class="card-head">
        <h2 class="card-title" data-i18n="nav.title"></h2>
      </header>
      <div class="nc-destination">
        <span class="nc-dest-icon">${icon("navigation")}</span>
        <span class="nc-dest-text">
          <strong class="nc-dest-name" data-testid="nav-destination"></strong>
          <span class="nc-dest-detail num"></span>
        </span>
      </div>
      <label class="nc-search">
        ${icon("search")}
        <input type="search" class="nc-input" data-testid="nav-search" autocomplete="off"
          spellcheck="false" data-i18n-attr="aria-label:nav.search_label">
      </label>
      <ul class="nc-places" data-testid="nav-places"></ul>
      <p class="nc-more faint" hidden></p>`;
  }

  setup() {
    this.$(".nc-input").addEventListener("input", () => this.update({}));
    this.$(".nc-places").addEventListener("click", (event) => {
      const item = event.target.closest("[data-place]");
      if (!item) return;
      const place = PLACES.find((p) => p.id === item.dataset.place);
      if (place) this.actuate({ [N.lat]: place.lat, [N.lon]: place.lon });
    });
  }

  update() {
    const s = this.state;
    const input = this.$(".nc-input");
    const textEntry = driving.rules.text_entry !== false;
    input.disabled = !textEntry;
    this.$(".nc-search").classList.toggle("locked", !textEntry);
    input.placeholder = t(textEntry ? "nav.search" : "nav.search_parked");
    if (!textEntry && input.value) input.value = "";
    this.updateDestination(s);
    this.updatePlaces(input.value.trim().toLocaleLowerCase());
  }

  updateDestination(s) {
    const lat = s[N.lat];
    const lon = s[N.lon];
    const set = typeof lat === "number" && typeof lon === "number";
    this.$(".nc-destination").classList.toggle("set", set);
    if (!set) {
      this.text(".nc-dest-name", t("nav.no_destination"));
      this.text(".nc-dest-detail", t("nav.no_destination_hint"));
      return;
    }
    const place = PLACES.find((p) => distance(p.lat, p.lon, lat, lon) < 50);
    const name = place
      ? t(`places.${place.id}`)
      : t("nav.coordinates", { lat: fmt.number(lat, 4), lon: fmt.number(lon, 4) });
    this.text(".nc-dest-name", name);
    const carLat = s[N.carLat];
    const carLon = s[N.carLon];
    const away =
      typeof carLat === "number" && typeof carLon === "number"
        ? t("nav.away", { distance: fmt.distance(distance(carLat, carLon, lat, lon), 1).text })
        : t("nav.destination_set");
    this.text(".nc-dest-detail", away);
  }

  updatePlaces(query) {
    const s = this.state;
    const carKnown = typeof s[N.carLat] === "number" && typeof s[N.carLon] === "number";
    const matching = PLACES.filter(
      (p) => !query || t(`places.${p.id}`).toLocaleLowerCase().includes(query),
    );
    const shown = driving.limit(matching);
    const list = this.$(".nc-places");
    // Rebuild only when the items change, so that a tap never lands on a replaced button.
    const key = `${i18n.version}|${shown.map((p) => p.id).join(",")}`;
    if (list.dataset.key !== key) {
      list.dataset.key = key;
      list.innerHTML = shown.length
        ? shown
            .map(
              (p) => `<li><button type="button" class="nc-place" data-place="${p.id}">
                <span class="nc-place-icon">${icon(p.icon)}</span>
                <span class="nc-place-name">${escape(t(`places.${p.id}`))}</span>
                <span class="nc-place-distance num"></span>
              </button></li>`,
            )
            .join("")
        : `<li class="nc-none faint">${escape(t("nav.no_match"))}</li>`;
    }
    const dest = [s[N.lat], s[N.lon]];
    for (const button of list.querySelectorAll("[data-place]")) {
      const p = PLACES.find((place) => place.id === button.dataset.place);
      const away = carKnown ? fmt.distance(distance(s[N.carLat], s[N.carLon], p.lat, p.lon), 1).text : "";
      this.text(button.querySelector(".nc-place-distance"), away);
      const chosen = typeof dest[0] === "number" && distance(p.lat, p.lon, dest[0], dest[1]) < 50;
      button.classList.toggle("chosen", chosen);
    }
    const hidden = matching.length - shown.length;
    const more = this.$(".nc-more");
    more.hidden = hidden <= 0;
    if (hidden > 0) this.text(more, t("driving.more_when_parked", { n: fmt.number(hidden) }));
  }
}

define("cm-nav-card", NavCard);
