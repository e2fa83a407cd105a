"""Internet radio stations: the station list (TOML) and ``.pls``/``.m3u`` station playlists.

A :class:`Station` names a stream URL; nothing is fetched until it plays
(:func:`carmesh.media.streams.open_stream`, which resolves a station playlist with
:func:`parse_station_playlist` to its first entry that connects).
"""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from carmesh.errors import ConfigError
from carmesh.media.items import SOURCE_INTERNET, MediaItem


@dataclass(frozen=True)
class Station:
    """An internet radio station: *url* is an Icecast/HTTP stream, an HLS playlist or a
    ``.pls``/``.m3u`` station playlist; nothing is fetched until it plays."""

    id: str
    name: str
    url: str
    genre: str = ""

    @property
    def uri(self) -> str:
        return f"radio:station/{self.id}"

    def item(self) -> MediaItem:
        return MediaItem(
            uri=self.uri,
            title=self.name,
            genre=self.genre,
            source=SOURCE_INTERNET,
            live=True,
            extra={"url": self.url},
        )


_STATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def load_stations(path: Path | None = None) -> list[Station]:
    """Stations of a TOML file (``[[station]]`` tables with ``id``, ``name``, ``url`` and an
    optional ``genre``), in file order; the packaged default list when *path* is None.
    ConfigError naming the file and the station for anything unusable."""
    if path is None:
        resource = importlib.resources.files("carmesh.media").joinpath("data/stations.toml")
        text, where = resource.read_text(encoding="utf-8"), "the packaged station list"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read the station list {where}: {e}") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"the station list {where} is not valid TOML: {e}") from e
    tables = data.get("station", [])
    if not isinstance(tables, list):
        raise ConfigError(f"the station list {where} needs [[station]] tables")
    stations: list[Station] = []
    seen: set[str] = set()
    for n, table in enumerate(tables, 1):
        if not isinstance(table, dict):
            raise ConfigError(f"station {n} in {where} is not a table")
        unknown = set(table) - {"id", "name", "url", "genre"}
        if unknown:
            raise ConfigError(f"station {n} in {where} has unknown keys: {sorted(unknown)}")
        values = {k: table.get(k, "") for k in ("id", "name", "url", "genre")}
        for key, value in values.items():
            if not isinstance(value, str):
                raise ConfigError(f"station {n} in {where}: {key} must be a string")
        sid, name, url = values["id"], values["name"], values["url"]
        if not _STATION_ID.fullmatch(sid):
            raise ConfigError(
                f"station {n} in {where} needs an id of letters, digits, '_', '.' or '-'"
            )
        if sid in seen:
            raise ConfigError(f"station id {sid!r} appears twice in {where}")
        if not name:
            raise ConfigError(f"station {sid!r} in {where} needs a name")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ConfigError(f"station {sid!r} in {where} needs an http(s) url")
        seen.add(sid)
        stations.append(Station(sid, name, url, values["genre"]))
    return stations


def parse_station_playlist(text: str, base: str) -> list[str]:
    """Stream URLs of a ``.pls`` or plain ``.m3u`` station playlist, in order."""
    urls: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"File\d+", key.strip(), re.I):
            line = value.strip()
        elif sep and "://" not in key:
            continue
        url = urljoin(base, line)
        if urlsplit(url).scheme in ("http", "https"):
            urls.append(url)
    return urls
