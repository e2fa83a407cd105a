/**
 * Line icons drawn for carmesh on a 24×24 grid (stroke 1.75, round joins), inlined so that
 * they take the text colour. `icon(name, className)` returns SVG markup; icons whose name
 * ends in "-fill" are solid shapes (telltales, play, turn signals).
 */

const PATHS = {
  home: '<path d="M3.5 10.5 12 3.5l8.5 7V19a1.5 1.5 0 0 1-1.5 1.5h-4v-6h-6v6H5A1.5 1.5 0 0 1 3.5 19z"/>',
  apps:
    '<rect x="3.5" y="3.5" width="7" height="7" rx="2"/><rect x="13.5" y="3.5" width="7" height="7" rx="2"/>' +
    '<rect x="3.5" y="13.5" width="7" height="7" rx="2"/><rect x="13.5" y="13.5" width="7" height="7" rx="2"/>',
  settings:
    '<path d="M4 7h9M19 7h1M4 17h3M13 17h7"/><circle cx="16" cy="7" r="2.5"/><circle cx="10" cy="17" r="2.5"/>',
  plus: '<path d="M12 5v14M5 12h14"/>',
  minus: '<path d="M5 12h14"/>',
  fan:
    '<circle cx="12" cy="12" r="1.6"/>' +
    '<path d="M12 10.4C10.6 7.4 11 3.6 14.2 3.5c2.9-.1 3.1 3.6-.6 6.2"/>' +
    '<path d="M12 10.4C10.6 7.4 11 3.6 14.2 3.5c2.9-.1 3.1 3.6-.6 6.2" transform="rotate(120 12 12)"/>' +
    '<path d="M12 10.4C10.6 7.4 11 3.6 14.2 3.5c2.9-.1 3.1 3.6-.6 6.2" transform="rotate(240 12 12)"/>',
  seat:
    '<path d="M6.5 3.5c1.2 0 2 .7 2.2 1.8l1.5 8.2h6.3a2 2 0 0 1 2 2v1H9a2 2 0 0 1-2-1.6L5 5.8C4.8 4.6 5.4 3.5 6.5 3.5z"/>' +
    '<path d="M9 16.5 8 20.5M16.5 16.5l1 4"/>' +
    '<path d="M14 3.5c-.8 1 .8 2 0 3s.8 2 0 3M18 3.5c-.8 1 .8 2 0 3s.8 2 0 3"/>',
  "defrost-front":
    '<path d="M3 9.5C6 7.8 9 7 12 7s6 .8 9 2.5l-2 9c-2.3-.9-4.6-1.3-7-1.3s-4.7.4-7 1.3z"/>' +
    '<path d="M8.5 15c-.7-1 .7-2 0-3.2M12 14.7c-.7-1 .7-2 0-3.2M15.5 15c-.7-1 .7-2 0-3.2"/>',
  "defrost-rear":
    '<rect x="3.5" y="5.5" width="17" height="13" rx="3"/>' +
    '<path d="M8.5 15.5c-.7-1.2.7-2.3 0-3.5s.7-2.3 0-3.5M12 15.5c-.7-1.2.7-2.3 0-3.5s.7-2.3 0-3.5M15.5 15.5c-.7-1.2.7-2.3 0-3.5s.7-2.3 0-3.5"/>',
  snowflake:
    '<path d="M12 3v18M4.2 7.5l15.6 9M4.2 16.5l15.6-9"/>' +
    '<path d="M9.5 4.5 12 7l2.5-2.5M9.5 19.5 12 17l2.5 2.5"/>',
  recirculation:
    '<path d="M4 16h11a4 4 0 0 0 0-8H7"/><path d="M9.5 5.5 7 8l2.5 2.5"/><path d="M3.5 19.5h17"/>',
  music:
    '<path d="M9 18V5.5l11-2V16"/><circle cx="6.5" cy="18" r="2.5"/><circle cx="17.5" cy="16" r="2.5"/>',
  "play-fill": '<path d="M7.5 4.8v14.4a.8.8 0 0 0 1.2.7l11.4-7.2a.8.8 0 0 0 0-1.4L8.7 4.1a.8.8 0 0 0-1.2.7z"/>',
  "pause-fill": '<rect x="6" y="4.5" width="4" height="15" rx="1"/><rect x="14" y="4.5" width="4" height="15" rx="1"/>',
  "next-fill": '<path d="M5 5.2v13.6a.7.7 0 0 0 1.1.6l9.4-6.8a.7.7 0 0 0 0-1.2L6.1 4.6a.7.7 0 0 0-1.1.6z"/><rect x="17" y="4.5" width="2.5" height="15" rx="1"/>',
  "prev-fill": '<path d="M19 5.2v13.6a.7.7 0 0 1-1.1.6l-9.4-6.8a.7.7 0 0 1 0-1.2l9.4-6.8a.7.7 0 0 1 1.1.6z"/><rect x="4.5" y="4.5" width="2.5" height="15" rx="1"/>',
  navigation: '<path d="M12 2.8 19.5 20 12 16.2 4.5 20z"/>',
  pin: '<path d="M12 21s7-6.4 7-11.5a7 7 0 0 0-14 0C5 14.6 12 21 12 21z"/><circle cx="12" cy="9.5" r="2.5"/>',
  search: '<circle cx="11" cy="11" r="6.5"/><path d="m20 20-4.3-4.3"/>',
  lock: '<rect x="5" y="10.5" width="14" height="10" rx="2.5"/><path d="M8.5 10.5V7.5a3.5 3.5 0 0 1 7 0v3"/>',
  unlock: '<rect x="5" y="10.5" width="14" height="10" rx="2.5"/><path d="M8.5 10.5V7.5a3.5 3.5 0 0 1 6.8-1.2"/>',
  bell:
    '<path d="M6 9a6 6 0 0 1 12 0c0 6.5 2.5 8 2.5 8h-17S6 15.5 6 9z"/><path d="M10.2 20.5a2 2 0 0 0 3.6 0"/>',
  bolt: '<path d="M13.5 2.5 5 13.5h6.5l-1 8 8.5-11h-6.5z"/>',
  "bolt-fill": '<path d="M13.5 2.5 5 13.5h6.5l-1 8 8.5-11h-6.5z"/>',
  battery: '<rect x="2.5" y="7" width="17" height="10" rx="2.5"/><path d="M22 10.5v3"/>',
  thermometer:
    '<path d="M14 14.6V5.5a2 2 0 0 0-4 0v9.1a4 4 0 1 0 4 0z"/><path d="M12 11v6"/>',
  warning: '<path d="M10.3 4.2 2.6 18a2 2 0 0 0 1.7 3h15.4a2 2 0 0 0 1.7-3L13.7 4.2a2 2 0 0 0-3.4 0z"/><path d="M12 9.5v4.5M12 17.2v.1"/>',
  info: '<circle cx="12" cy="12" r="9"/><path d="M12 11v5.5M12 7.8v.1"/>',
  check: '<path d="m5 12.5 4.5 4.5L19 7.5"/>',
  close: '<path d="M6 6l12 12M18 6 6 18"/>',
  sun:
    '<circle cx="12" cy="12" r="4"/><path d="M12 2.5v2M12 19.5v2M2.5 12h2M19.5 12h2M5.3 5.3l1.4 1.4M17.3 17.3l1.4 1.4M5.3 18.7l1.4-1.4M17.3 6.7l1.4-1.4"/>',
  moon: '<path d="M20 14.5A8 8 0 1 1 9.5 4a6.5 6.5 0 0 0 10.5 10.5z"/>',
  auto: '<circle cx="12" cy="12" r="8.5"/><path d="M12 3.5v17a8.5 8.5 0 0 0 0-17z" fill="currentColor"/>',
  globe:
    '<circle cx="12" cy="12" r="8.5"/><path d="M3.5 12h17M12 3.5c2.8 3 2.8 14 0 17M12 3.5c-2.8 3-2.8 14 0 17"/>',
  ruler: '<path d="M3.5 16.5 16.5 3.5l4 4-13 13z"/><path d="m7.5 12.5 2 2M10.5 9.5l2 2M13.5 6.5l2 2"/>',
  route:
    '<circle cx="6" cy="18.5" r="2"/><circle cx="18" cy="5.5" r="2"/><path d="M8 18.5h8.5a3.5 3.5 0 0 0 0-7h-9a3.5 3.5 0 0 1 0-7H16"/>',
  clock: '<circle cx="12" cy="12" r="8.5"/><path d="M12 7.5V12l3 2"/>',
  steering:
    '<circle cx="12" cy="12" r="8.5"/><circle cx="12" cy="12" r="2"/><path d="M12 14v6.5M3.7 10.5l6.4 1M20.3 10.5l-6.4 1"/>',
  video: '<rect x="3" y="6" width="12.5" height="12" rx="2.5"/><path d="m15.5 10.2 5.5-3v9.6l-5.5-3z"/>',
  briefcase: '<rect x="3.5" y="7.5" width="17" height="12" rx="2.5"/><path d="M9 7.5V6a2 2 0 0 1 2-2h2a2 2 0 0 1 2 2v1.5M3.5 13h17"/>',
  star: '<path d="m12 3.5 2.6 5.3 5.9.9-4.3 4.1 1 5.8-5.2-2.7-5.2 2.7 1-5.8-4.3-4.1 5.9-.9z"/>',
  plane: '<path d="M21 15.5 13.5 11V5a1.5 1.5 0 0 0-3 0v6L3 15.5v2l7.5-2.3V19l-2 1.5v1.5l3.5-1 3.5 1v-1.5l-2-1.5v-3.8l7.5 2.3z"/>',
  plug: '<path d="M8 3.5v4M16 3.5v4M6 7.5h12v3a6 6 0 0 1-12 0zM12 16.5v4"/>',
  car:
    '<path d="M4.5 16.5v-4l1.8-4.4A2 2 0 0 1 8.2 6.8h7.6a2 2 0 0 1 1.9 1.3l1.8 4.4v4"/><path d="M3.5 12.5h17v4h-17z"/>' +
    '<circle cx="7.5" cy="16.5" r="1.8"/><circle cx="16.5" cy="16.5" r="1.8"/>',
  chevron: '<path d="m9 5.5 6.5 6.5L9 18.5"/>',
  // Telltales (solid, ISO 2575 in spirit).
  "tyre-fill":
    '<path d="M6 5.2C4.2 7 3 9.4 3 12.2c0 2.7 1 5 2.6 6.6l1.3-1.2A7.4 7.4 0 0 1 4.8 12.2c0-2.3.9-4.3 2.5-5.8zM18 5.2l-1.3 1.2a7.8 7.8 0 0 1 2.5 5.8c0 2-.8 3.9-2.1 5.4l1.3 1.2c1.6-1.6 2.6-3.9 2.6-6.6C21 9.4 19.8 7 18 5.2z"/>' +
    '<path d="M6 19.5h12v1.6H6zM11 6.5h2v7.5h-2zM11 15.7h2v2h-2z"/>',
  "battery12-fill":
    '<path d="M6 5h3v2H6zM15 5h3v2h-3z"/><path d="M3.5 7.5h17a1 1 0 0 1 1 1V19a1 1 0 0 1-1 1h-17a1 1 0 0 1-1-1V8.5a1 1 0 0 1 1-1zM6 12.8v1.6h4v-1.6zm8 0v1.6h1.7v1.7h1.6v-1.7H19v-1.6h-1.7v-1.7h-1.6v1.7z" fill-rule="evenodd"/>',
  "door-fill":
    '<path d="M8.5 2.5h7a2 2 0 0 1 2 2v15a2 2 0 0 1-2 2h-7a2 2 0 0 1-2-2v-15a2 2 0 0 1 2-2zm0 3v4h7v-4zm0 9v5h7v-5z" fill-rule="evenodd"/>' +
    '<path d="m6.5 10.2-4.4 3.3.9 1.2 3.5-2.6z"/>',
  "check-fill": '<path d="M10.3 4.2 2.6 18a2 2 0 0 0 1.7 3h15.4a2 2 0 0 0 1.7-3L13.7 4.2a2 2 0 0 0-3.4 0zM11 9h2v5.2h-2zm0 7h2v2h-2z" fill-rule="evenodd"/>',
  "turn-left-fill": '<path d="M2 12 11 4v4.8h10.5v6.4H11V20z"/>',
  "turn-right-fill": '<path d="M22 12 13 4v4.8H2.5v6.4H13V20z"/>',
};

/** SVG markup for icon `name` (aria-hidden; label the control, not the icon). */
export function icon(name, className = "") {
  const body = PATHS[name];
  if (!body) throw new Error(`no icon ${name}`);
  const solid = name.endsWith("-fill");
  const paint = solid
    ? 'fill="currentColor" stroke="none"'
    : 'fill="none" stroke="currentColor" stroke-width="1.75" stroke-linecap="round" stroke-linejoin="round"';
  return `<svg class="icon ${className}" viewBox="0 0 24 24" ${paint} aria-hidden="true" focusable="false">${body}</svg>`;
}
