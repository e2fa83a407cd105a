"""From media URIs to items, and from items to what a decoder opens.

:class:`Resolver` knows the sources (the library, the stations, the podcasts and the items
apps queued) and answers two questions:

- :meth:`Resolver.item`: which :class:`MediaItem` a URI names (for ``SelectedURI``, the
  HTTP API's ``uri``): ``library:track/ID`` a library track, ``radio:station/ID`` a station,
  ``podcast:episode/ID`` an episode, ``app:APP_ID/ITEM`` an item an app queued,
  ``file:///PATH`` a local file, ``http(s)://…`` a direct URL. ``InvalidArgument`` for a URI
  that is not one, ``NotFound`` for one that names nothing.
- :meth:`Resolver.open`: what a :class:`~carmesh.media.decode.Decoder` opens for an item: the
  library file's path, a station's :class:`~carmesh.media.reader.StreamReader` (connected
  here, with retries), an episode's enclosure URL, an app item's URL, a file path, the URL.
  :meth:`Resolver.open_now` does the same without waiting, for the items that need no
  network round trip first (all but stations and playlists): the engine asks for the next
  item's decoder while rendering, where nothing may wait.

Library and podcast look-ups hit SQLite; :meth:`item` and :meth:`open` run them in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from carmesh.errors import InvalidArgument, NotFound
from carmesh.media.items import SOURCE_INTERNET, SOURCE_LIBRARY, MediaError, MediaItem, split_uri
from carmesh.media.library import Library
from carmesh.media.podcasts import Podcasts
from carmesh.media.reader import StreamReader
from carmesh.media.stations import Station
from carmesh.media.streams import open_stream

__all__ = ["Opened", "Resolver"]

log = logging.getLogger(__name__)

#: Suffixes of URLs that are playlists or streams the stream module opens (HLS, station
#: playlists), not files FFmpeg reads directly.
STREAM_SUFFIXES = (".m3u8", ".m3u", ".pls")


@dataclass
class Opened:
    """What a decoder opens: a path or URL (``str``) or a stream reader; *format* a hint for
    FFmpeg; *reader* the stream reader (to follow its metadata and state), if any."""

    source: str | StreamReader
    format: str | None = None
    reader: StreamReader | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Resolver:
    """See the module's description. *stations* and *app_items* are looked up on each call
    (``{station id: Station}``; ``(app id, item id) → item or None``)."""

    def __init__(
        self,
        *,
        library: Callable[[], Library | None],
        stations: Callable[[], Mapping[str, Station]],
        podcasts: Callable[[], Podcasts | None] = lambda: None,
        app_items: Callable[[str, str], MediaItem | None] = lambda app, item: None,
        on_metadata: Callable[[MediaItem, dict[str, str]], None] | None = None,
    ) -> None:
        self._library = library
        self._stations = stations
        self._podcasts = podcasts
        self._app_items = app_items
        self.on_metadata = on_metadata

    # -- URIs to items --------------------------------------------------------------------

    async def item(self, uri: str) -> MediaItem:
        """The item *uri* names (see the module's description)."""
        scheme, rest = split_uri(uri)
        if scheme == "library":
            track = _numeric_id(rest, "track", uri)
            library = self._require_library()
            return await asyncio.to_thread(library.item, track)
        if scheme == "radio":
            kind, _, ident = rest.partition("/")
            station = self._stations().get(ident) if kind == "station" else None
            if station is None:
                if kind != "station" or not ident:
                    raise InvalidArgument(f"{uri!r} is not a station URI (radio:station/ID)")
                raise NotFound(f"there is no radio station {ident!r}")
            return station.item()
        if scheme == "podcast":
            kind, _, ident = rest.partition("/")
            if kind != "episode" or not ident:
                raise InvalidArgument(f"{uri!r} is not an episode URI (podcast:episode/ID)")
            podcasts = self._podcasts()
            if podcasts is None:
                raise NotFound("there are no podcasts on this car")
            episode = await asyncio.to_thread(podcasts.episode, ident)
            return episode.item()
        if scheme == "app":
            app_id, _, ident = rest.partition("/")
            if not app_id or not ident:
                raise InvalidArgument(f"{uri!r} is not an app item URI (app:APP_ID/ITEM)")
            found = self._app_items(app_id, ident)
            if found is None:
                raise NotFound(f"app {app_id} has queued no item {ident!r}")
            return found
        if scheme == "file":
            path = file_path(uri)
            if not await asyncio.to_thread(path.is_file):
                raise NotFound(f"there is no file {path}")
            return MediaItem(uri=uri, title=path.stem or path.name, source=SOURCE_LIBRARY)
        return url_item(uri)

    def _require_library(self) -> Library:
        library = self._library()
        if library is None:
            raise NotFound("the music library is not open yet; try again in a moment")
        return library

    # -- items to decoder inputs ----------------------------------------------------------

    def open_now(self, item: MediaItem) -> Opened | None:
        """What to decode for *item* without waiting; None when it needs :meth:`open`
        (stations, playlists). Raises like :meth:`open`."""
        scheme, rest = split_uri(item.uri)
        if scheme == "library":
            library = self._require_library()
            return Opened(str(library.path(_numeric_id(rest, "track", item.uri))))
        if scheme == "file":
            return Opened(str(file_path(item.uri)))
        url = self._url_of(item, scheme)
        if url is None or item.live or _is_stream_url(url):
            return None
        return Opened(url)

    async def open(self, item: MediaItem) -> Opened:
        """What to decode for *item*, connecting to a station first (``MediaError`` when it
        does not answer after its retries)."""
        scheme, rest = split_uri(item.uri)
        if scheme == "library":
            library = self._require_library()
            track = _numeric_id(rest, "track", item.uri)
            path = await asyncio.to_thread(library.path, track)
            if not await asyncio.to_thread(path.is_file):
                raise MediaError(f"the file of {item.title} is gone ({path}); scan the library")
            return Opened(str(path))
        if scheme == "file":
            path = file_path(item.uri)
            if not await asyncio.to_thread(path.is_file):
                raise MediaError(f"there is no file {path}")
            return Opened(str(path))
        url = self._url_of(item, scheme)
        if url is None:
            raise MediaError(f"{item.title} has no address to play")
        if scheme == "radio" or item.live or _is_stream_url(url):
            reader = await open_stream(url, on_metadata=self._metadata_of(item))
            return Opened(reader, format=reader.format, reader=reader, info=dict(reader.info))
        return Opened(url)

    def _url_of(self, item: MediaItem, scheme: str) -> str | None:
        url = item.extra.get("url")
        if isinstance(url, str):
            return url
        if scheme in ("http", "https"):
            return item.uri
        if scheme == "radio":
            station = self._stations().get(item.uri.rpartition("/")[2])
            return None if station is None else station.url
        if scheme == "app":
            app_id, _, ident = item.uri.removeprefix("app:").partition("/")
            found = self._app_items(app_id, ident)
            url = None if found is None else found.extra.get("url")
            return url if isinstance(url, str) else None
        if scheme == "podcast":
            podcasts = self._podcasts()
            if podcasts is not None:
                try:
                    return podcasts.episode(item.uri.rpartition("/")[2]).url
                except NotFound:
                    return None
        return None

    def _metadata_of(self, item: MediaItem) -> Callable[[dict[str, str]], None] | None:
        on_metadata = self.on_metadata
        if on_metadata is None:
            return None
        return lambda values: on_metadata(item, values)


def _numeric_id(rest: str, kind: str, uri: str) -> int:
    found, _, ident = rest.partition("/")
    if found != kind or not ident.isascii() or not ident.isdigit() or len(ident) > 18:
        raise InvalidArgument(f"{uri!r} is not a library track URI (library:track/NUMBER)")
    return int(ident)


def file_path(uri: str) -> Path:
    """The local path of a ``file://`` URI (``file:///music/a.mp3``); InvalidArgument for a
    relative one or one naming another host."""
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise InvalidArgument(f"{uri!r} is not a local file URI (file:///ABSOLUTE/PATH)")
    return Path(os.path.normpath(unquote(parts.path)))


def url_item(uri: str) -> MediaItem:
    """The item of a direct ``http(s)://`` URL (its title: the last part of the path)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"{uri!r} is not an http(s) URL")
    name = unquote(parts.path.rstrip("/").rpartition("/")[2]) or parts.hostname
    return MediaItem(uri=uri, title=name, source=SOURCE_INTERNET, live=_is_stream_url(uri))


def _is_stream_url(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(STREAM_SUFFIXES)
