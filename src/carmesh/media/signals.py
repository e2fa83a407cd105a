"""The media service's VSS side: which signals it provides, what their values are, and what an
actuation of each asks for.

Driver zone: ``Vehicle.Cabin.Infotainment.Media.*`` (VSS) and ``Vehicle.Carmesh.Media.*`` (the
carmesh overlay); rear zone: ``Vehicle.Carmesh.Media.Rear.*``. Values come from a zone's state
(``docs/media.md``, "HTTP API"): ``Played.*`` of the current item (a radio stream's title as
``Track``), ``Played.PlaybackRate`` 1.0 playing / 0 otherwise, ``Action`` ``PLAY`` while
playing or buffering, ``STOP`` otherwise, ``Volume``, ``SelectedURI`` the current item's URI,
and the overlay's ``Position``, ``Duration`` (0: unknown or live), ``State``, ``Shuffle``,
``Repeat`` (``OFF``/``ONE``/``ALL``), ``Seek`` (the last position sought to), ``ArtURI``,
``Session``, ``QueueLength``, ``QueueIndex``.

:class:`SignalLink` publishes only what changed since the last publish of a zone.
:func:`target_of` turns an actuation (already checked against the catalog by the broker) into
a :class:`Target` the service carries out, refusing what the catalog allows but carmesh does
not do (``Action`` ``UNKNOWN``, a playback rate other than 0 and 1).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from carmesh.errors import CarmeshError, InvalidArgument
from carmesh.vehicle.provider import Actuator, Connector, ProviderLink

__all__ = [
    "DRIVER",
    "MEDIA_SCOPES",
    "PATHS",
    "REAR",
    "SignalLink",
    "Target",
    "signal_values",
    "target_of",
]

log = logging.getLogger(__name__)

DRIVER = "driver"
REAR = "rear"
#: What the service's principal may do: provide the media signals, nothing else.
MEDIA_SCOPES = "provide:Vehicle.Cabin.Infotainment.Media provide:Vehicle.Carmesh.Media"

_VSS = "Vehicle.Cabin.Infotainment.Media"
_CARMESH = "Vehicle.Carmesh.Media"
_REAR = "Vehicle.Carmesh.Media.Rear"
_EXTRA = {
    "position": "Position",
    "duration": "Duration",
    "state": "State",
    "shuffle": "Shuffle",
    "repeat": "Repeat",
    "seek": "Seek",
    "art": "ArtURI",
    "session": "Session",
    "queue_length": "QueueLength",
    "queue_index": "QueueIndex",
}
#: Zone → logical signal → path.
PATHS: dict[str, dict[str, str]] = {
    DRIVER: {
        "track": f"{_VSS}.Played.Track",
        "artist": f"{_VSS}.Played.Artist",
        "album": f"{_VSS}.Played.Album",
        "genre": f"{_VSS}.Played.Genre",
        "uri": f"{_VSS}.Played.URI",
        "source": f"{_VSS}.Played.Source",
        "rate": f"{_VSS}.Played.PlaybackRate",
        "action": f"{_VSS}.Action",
        "volume": f"{_VSS}.Volume",
        "selected": f"{_VSS}.SelectedURI",
        **{name: f"{_CARMESH}.{leaf}" for name, leaf in _EXTRA.items()},
    },
    REAR: {
        "track": f"{_REAR}.Track",
        "artist": f"{_REAR}.Artist",
        "album": f"{_REAR}.Album",
        "genre": f"{_REAR}.Genre",
        "uri": f"{_REAR}.URI",
        "source": f"{_REAR}.Source",
        "rate": f"{_REAR}.PlaybackRate",
        "action": f"{_REAR}.Action",
        "volume": f"{_REAR}.Volume",
        "selected": f"{_REAR}.SelectedURI",
        **{name: f"{_REAR}.{leaf}" for name, leaf in _EXTRA.items()},
    },
}
#: What each zone claims (patterns): the rear's only when that zone exists.
CLAIMS: dict[str, tuple[str, ...]] = {DRIVER: (_VSS, f"{_CARMESH}.*"), REAR: (_REAR,)}
#: Published (driver zone) when a selected URI was accepted but could not be played.
DECLINED_URI = f"{_VSS}.DeclinedURI"
#: The logical signals that are actuators (the rear's ``rate`` is a sensor).
ACTUATED = frozenset(
    {"action", "volume", "selected", "source", "rate", "shuffle", "repeat", "seek"}
)
#: VSS ``Action`` values → transport commands (``forward``/``backward``: ±10 s).
ACTIONS = {
    "PLAY": "play",
    "STOP": "pause",
    "SKIP_FORWARD": "next",
    "SKIP_BACKWARD": "previous",
    "FAST_FORWARD": "forward",
    "FAST_BACKWARD": "backward",
}


def signal_values(
    paths: Mapping[str, str], state: Mapping[str, Any], *, source: str, seek: float
) -> dict[str, Any]:
    """The signals of a zone whose state (``MediaControl`` ZONE_STATE) is *state*; *source*
    is the ``Played.Source`` when the item names none, *seek* the last position sought to."""
    item: Mapping[str, Any] = state.get("item") or {}
    playing = state["state"] in ("playing", "buffering")
    return {
        paths["track"]: item.get("stream_title") or item.get("title", ""),
        paths["artist"]: item.get("artist", ""),
        paths["album"]: item.get("album", ""),
        paths["genre"]: item.get("genre", ""),
        paths["uri"]: item.get("uri", ""),
        paths["source"]: item.get("source") or source,
        paths["rate"]: 1.0 if state["state"] == "playing" else 0.0,
        paths["action"]: "PLAY" if playing else "STOP",
        paths["volume"]: state["volume"],
        paths["selected"]: item.get("uri", ""),
        paths["position"]: float(state["position"]),
        paths["duration"]: float(state["duration"] or 0.0),
        paths["state"]: state["state"],
        paths["shuffle"]: state["shuffle"],
        paths["repeat"]: str(state["repeat"]).upper(),
        paths["seek"]: seek,
        paths["art"]: item.get("art") or "",
        paths["session"]: state["session"] or "",
        paths["queue_length"]: state["queue_length"],
        paths["queue_index"]: state["queue_index"] or 0,
    }


@dataclass(frozen=True)
class Target:
    """What an actuation asks for: *kind* is ``command`` (*value* a transport command, with
    *position* for ``seek``), ``volume``, ``select`` (a URI), ``source`` (a VSS source),
    ``shuffle`` or ``repeat``."""

    zone: str
    kind: str
    value: Any
    position: float | None = None


def actuators(zones: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Path → (zone, logical signal) of the actuators of *zones*."""
    return {
        path: (zone, name)
        for zone in zones
        for name, path in PATHS[zone].items()
        if name in ACTUATED
    }


def target_of(zone: str, name: str, path: str, value: Any) -> Target:
    """The :class:`Target` of setting actuator *name* of *zone* (at *path*) to *value*;
    ``InvalidArgument`` for values carmesh does not act on."""
    if name == "action":
        command = ACTIONS.get(value)
        if command is None:
            raise InvalidArgument(
                f"{path} cannot be set to {value!r}; use PLAY, STOP, SKIP_FORWARD, "
                "SKIP_BACKWARD, FAST_FORWARD or FAST_BACKWARD",
                path=path,
            )
        return Target(zone, "command", command)
    if name == "rate":
        rate = float(value)
        if rate not in (0.0, 1.0):
            raise InvalidArgument(
                f"{path}: carmesh plays at rate 1.0 or pauses at 0, not {rate:g}", path=path
            )
        return Target(zone, "command", "play" if rate else "pause")
    if name == "seek":
        return Target(zone, "command", "seek", float(value))
    if name == "volume":
        return Target(zone, "volume", int(value))
    if name == "selected":
        return Target(zone, "select", str(value))
    if name == "repeat":
        return Target(zone, "repeat", str(value).lower())
    if name == "shuffle":
        return Target(zone, "shuffle", bool(value))
    return Target(zone, "source", str(value))


class SignalLink:
    """The service's provider link: claims the zones' signals and publishes what changed."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self._link: ProviderLink | None = None
        self._published: dict[str, dict[str, Any]] = {}

    async def open(self, handler: Actuator, zones: Iterable[str]) -> None:
        link = await self.connector.connect("media", handler)
        self._link = link
        for zone in zones:
            await link.claim(CLAIMS[zone])

    async def publish(self, zone: str, values: Mapping[str, Any]) -> None:
        """Publish those of *values* that differ from what was published for *zone*; a
        refusal is logged (the values are the service's own, so it is a bug)."""
        link = self._link
        if link is None:
            return
        published = self._published.setdefault(zone, {})
        changed = {path: v for path, v in values.items() if published.get(path) != v}
        if not changed:
            return
        try:
            await link.publish(changed)
        except CarmeshError as exc:
            log.warning("could not publish the media signals of zone %s: %s", zone, exc)
            return
        published.update(changed)

    async def declined(self, uri: str) -> None:
        """Publish ``DeclinedURI``: a selected URI that could not be played."""
        if self._link is not None:
            try:
                await self._link.publish({DECLINED_URI: uri})
            except CarmeshError as exc:
                log.warning("could not publish %s: %s", DECLINED_URI, exc)

    async def close(self) -> None:
        if self._link is not None:
            link, self._link = self._link, None
            try:
                await link.close()
            except CarmeshError as exc:
                log.debug("closing the media provider link: %s", exc)
