"""What there is to play: the browse tree and search over every source, and the queue that
playing a URI or a browse node makes.

The browse tree (``docs/media.md``, "HTTP API"): the root holds ``library``, ``radio``,
``podcasts`` and ``apps``; the library's and the podcasts' nodes are theirs
(:meth:`Library.browse`, :meth:`Podcasts.browse`); ``radio`` lists the stations as items;
``apps`` lists the apps' media sessions (``apps/APP_ID/SESSION_ID``), each holding its queue.

Each source plays in a session of its own (:data:`SESSIONS`): playing a library track makes a
queue of its album starting with it; an episode starts where it was left; a node's items
(an album, an artist's tracks, a genre, a folder's tracks, the stations, a feed's episodes)
become the queue. SQLite look-ups run in threads.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from carmesh.errors import InvalidArgument, NotFound, Unavailable
from carmesh.media.items import SOURCE_INTERNET, SOURCE_LIBRARY, MediaItem, split_uri
from carmesh.media.library import Library
from carmesh.media.podcasts import Feed, Podcasts
from carmesh.media.resolve import Resolver
from carmesh.media.session import MediaSession
from carmesh.media.stations import Station

__all__ = ["SCHEMES", "SESSIONS", "Selection", "Sources", "feed_json"]

#: Session key → (name shown, VSS ``Played.Source``) of the sources' sessions.
SESSIONS: dict[str, tuple[str, str]] = {
    "library": ("Library", SOURCE_LIBRARY),
    "radio": ("Radio", SOURCE_INTERNET),
    "podcasts": ("Podcasts", SOURCE_INTERNET),
    "web": ("Web", SOURCE_INTERNET),
    "files": ("Files", SOURCE_LIBRARY),
}
#: URI scheme → the session its items play in (``app:`` items play in their app's session).
SCHEMES = {
    "library": "library",
    "radio": "radio",
    "podcast": "podcasts",
    "http": "web",
    "https": "web",
    "file": "files",
}
#: The root's children: (id, title).
ROOT = (("library", "Library"), ("radio", "Radio"), ("podcasts", "Podcasts"), ("apps", "Apps"))


@dataclass(frozen=True)
class Selection:
    """What to play: the session *key*, its new queue, the index to start at and where in
    that item (s)."""

    key: str
    items: list[MediaItem]
    start: int = 0
    position: float = 0.0


class Sources:
    """Browsing, search and selections over the sources the callables return (looked up on
    each call: they open while the service starts). *app_sessions* maps the browse node of
    each app media session (``apps/APP_ID/SESSION_ID``) to it."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        library: Callable[[], Library | None],
        podcasts: Callable[[], Podcasts | None],
        stations: Callable[[], Mapping[str, Station]],
        app_sessions: Callable[[], Mapping[str, MediaSession]],
    ) -> None:
        self.resolver = resolver
        self._library = library
        self._podcasts = podcasts
        self._stations = stations
        self._app_sessions = app_sessions

    def library(self) -> Library:
        library = self._library()
        if library is None:
            raise Unavailable("the music library is not open")
        return library

    def podcasts(self) -> Podcasts:
        podcasts = self._podcasts()
        if podcasts is None:
            raise Unavailable("the podcasts are not open")
        return podcasts

    # -- browsing and search --------------------------------------------------------------

    async def browse(self, node: str) -> dict[str, Any]:
        """The node and its children; ``""`` is the root. NotFound for an unknown node."""
        if node in ("", "root"):
            return {
                "node": {"id": "", "title": "Media", "kind": "folder"},
                "children": [{"id": i, "title": t, "kind": "folder"} for i, t in ROOT],
            }
        if node == "library" or node.startswith("library/"):
            return await asyncio.to_thread(self.library().browse, node)
        if node == "radio":
            return {
                "node": {"id": "radio", "title": "Radio", "kind": "folder"},
                "children": [item_child(s.item(), s.genre) for s in self._stations().values()],
            }
        if node == "podcasts" or node.startswith("podcasts/"):
            return await asyncio.to_thread(self.podcasts().browse, node)
        sessions = self._app_sessions()
        if node == "apps":
            children = [
                {
                    "id": ident,
                    "title": session.name,
                    "kind": "folder",
                    "subtitle": ident.split("/")[1],
                }
                for ident, session in sessions.items()
            ]
            return {"node": {"id": "apps", "title": "Apps", "kind": "folder"}, "children": children}
        session = sessions.get(node)
        if session is not None:
            return {
                "node": {"id": node, "title": session.name, "kind": "folder"},
                "children": [item_child(item) for item in session.items],
            }
        raise NotFound(f"there is no browse node {node!r}")

    async def search(self, text: str) -> list[MediaItem]:
        """Library tracks, stations and episodes matching *text*."""
        found: list[MediaItem] = []
        library = self._library()
        if library is not None:
            found += await asyncio.to_thread(library.search, text)
        needle = text.casefold()
        found += [
            station.item()
            for station in self._stations().values()
            if needle in station.name.casefold() or needle in station.genre.casefold()
        ]
        podcasts = self._podcasts()
        if podcasts is not None:
            episodes = await asyncio.to_thread(podcasts.search, text)
            found += [episode.item() for episode in episodes]
        return found

    # -- selections -----------------------------------------------------------------------

    async def for_uri(self, uri: str) -> Selection:
        """What playing *uri* makes (InvalidArgument for a bad URI or an app's item,
        NotFound when it names nothing)."""
        item = await self.resolver.item(uri)
        scheme, _ = split_uri(uri)
        if scheme == "app":
            raise InvalidArgument(f"{uri} belongs to its app's queue; play the app's session")
        key = SCHEMES[scheme]
        library = self._library()
        if scheme == "library" and library is not None:
            tracks = await asyncio.to_thread(library.tracks, album=item.extra.get("album_id"))
            uris = [track.uri for track in tracks]
            if item.uri in uris:
                return Selection(key, tracks, uris.index(item.uri))
        podcasts = self._podcasts()
        if scheme == "podcast" and podcasts is not None:
            position = await asyncio.to_thread(podcasts.position, uri.rpartition("/")[2])
            return Selection(key, [item], 0, position)
        return Selection(key, [item])

    async def for_node(self, node: str) -> Selection:
        """What playing browse *node* makes (NotFound for an unknown node)."""
        if node == "library" or node.startswith("library/"):
            library = self.library()
            await asyncio.to_thread(library.browse, node)  # NotFound for a bad node
            kind, _, name = node.removeprefix("library").removeprefix("/").partition("/")
            filters: dict[str, Any] = {}
            if kind == "artist":
                filters["artist"] = name
            elif kind == "album":
                filters["album"] = int(name)
            elif kind == "genre":
                filters["genre"] = name
            elif kind == "folder":
                filters["folder"] = os.fsdecode(unquote_to_bytes(name))
            return Selection("library", await asyncio.to_thread(lambda: library.tracks(**filters)))
        if node == "radio":
            return Selection("radio", [station.item() for station in self._stations().values()])
        if node == "podcasts" or node.startswith("podcasts/feed/"):
            podcasts = self.podcasts()
            if node == "podcasts":
                feeds = await asyncio.to_thread(podcasts.feeds)
            else:
                feeds = [await asyncio.to_thread(podcasts.feed, node.rpartition("/")[2])]
            return Selection("podcasts", [e.item() for feed in feeds for e in feed.episodes])
        session = self._app_sessions().get(node)
        if session is not None:
            return Selection(session.key, session.items, session.index or 0)
        raise NotFound(f"there is no browse node {node!r} to play")


def item_child(item: MediaItem, subtitle: str | None = None) -> dict[str, Any]:
    """A browse child for *item*."""
    child: dict[str, Any] = {"id": item.uri, "title": item.title, "kind": "item"}
    text = item.artist if subtitle is None else subtitle
    if text:
        child["subtitle"] = text
    if item.art:
        child["art"] = item.art
    child["uri"] = item.uri
    return child


def feed_json(feed: Feed) -> dict[str, Any]:
    """A podcast feed as the HTTP API answers it, with its node to browse and its episodes."""
    return {
        "id": feed.id,
        "url": feed.url,
        "title": feed.title,
        "author": feed.author,
        "image": feed.image,
        "node": f"podcasts/feed/{feed.id}",
        "episodes": [
            {
                **episode.item().as_json(),
                "id": episode.id,
                "published": None if episode.published is None else episode.published.isoformat(),
            }
            for episode in feed.episodes
        ],
    }
