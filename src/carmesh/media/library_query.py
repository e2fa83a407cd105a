"""Reading the library index: one track, the browse tree, listings and search.

:class:`LibraryQueries` is the read side of :class:`~carmesh.media.library.Library` (which
opens the index and scans into it): a track as a :class:`MediaItem` (uri
``library:track/ID``) or a file, cover art, the artists, albums, genres and folders, tracks
filtered by any of them, the browse nodes of ``docs/media.md`` (``library``,
``library/artists``, ``library/artist/NAME``, ``library/album/ID``, ``library/genre/NAME``,
``library/folder/PATH``…) and search. Names sort and match as
:func:`~carmesh.media.library_scan.fold` compares them: ignoring case, accents and width.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from carmesh.errors import InvalidArgument, NotFound
from carmesh.media.items import SOURCE_LIBRARY, MediaItem
from carmesh.media.library_scan import display_name, fold

ART_URL = "/api/media/art/"
#: Cover art keys and file names: a content hash (:attr:`~carmesh.media.library_scan.Art.key`).
ART_KEY = re.compile(r"[0-9a-f]{32}")
_FIXED = {
    "library": "Library",
    "library/artists": "Artists",
    "library/albums": "Albums",
    "library/genres": "Genres",
    "library/folders": "Folders",
}
_COLUMNS = (
    "t.id, t.title, t.artist, a.title, t.genre, t.duration, t.art, t.number, t.disc, t.year, "
    "t.album_id, a.artist, t.path, t.title_key, t.album_key"
)
_FROM = "track t JOIN album a ON a.id = t.album_id"


def under(folder: bytes) -> tuple[bytes, bytes]:
    """(low, high): every path strictly below *folder* sorts in [low, high)."""
    prefix = folder.rstrip(b"/") + b"/"
    return prefix, prefix[:-1] + b"0"


Row = Sequence[Any]


def _album_order(row: Row) -> tuple[Any, ...]:
    """Disc, track number (unnumbered last), title, id of a row of ``_COLUMNS``."""
    number, disc = row[7], row[8]
    return (1 if disc is None else disc, number is None, number or 0, row[13], row[0])


def _file_name(row: Row) -> str:
    return display_name(os.path.basename(bytes(row[12])))


def _track_order(row: Row) -> tuple[Any, ...]:
    """Album (folded title, title, id), then the album order."""
    return (row[14], row[3], row[10], *_album_order(row))


def _text_order(text: str) -> tuple[str, str]:
    return fold(text), text


def _child(item: MediaItem, subtitle: str | None = None) -> dict[str, Any]:
    child: dict[str, Any] = {"id": item.uri, "title": item.title, "kind": "item"}
    child["subtitle"] = item.artist if subtitle is None else subtitle
    if item.art:
        child["art"] = item.art
    child["uri"] = item.uri
    return child


def folder_node(path: bytes | str) -> str:
    """The browse node of a folder (its path percent-encoded, so any file name fits)."""
    return "library/folder/" + quote(os.fsencode(path), safe="/")


class LibraryQueries:
    """Lookups, browsing and search over the index. The class that mixes this in (the
    :class:`~carmesh.media.library.Library`) provides :meth:`_read`, the open connection
    held under its lock, and ``art_dir``, the cover art folder."""

    art_dir: Path

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    # -- items ------------------------------------------------------------------------------

    @staticmethod
    def _item(row: Row) -> MediaItem:
        (track_id, title, artist, album, genre, duration, art, number, disc, year) = row[:10]
        album_id, album_artist = row[10:12]
        return MediaItem(
            uri=f"library:track/{track_id}",
            title=title,
            artist=artist,
            album=album,
            genre=genre,
            duration=duration,
            art=None if art is None else ART_URL + art,
            source=SOURCE_LIBRARY,
            extra={
                "id": track_id,
                "album_id": album_id,
                "album_artist": album_artist,
                "number": number,
                "disc": disc,
                "year": year,
                "file": _file_name(row),
            },
        )

    def _row(self, track_id: int) -> Sequence[Any]:
        if isinstance(track_id, bool) or not isinstance(track_id, int):
            raise InvalidArgument(f"{track_id!r} is not a track id")
        with self._read() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM {_FROM} WHERE t.id = ?", (track_id,))
            found: Sequence[Any] | None = row.fetchone()
        if found is None:
            raise NotFound(f"the library has no track {track_id}; scan the library again")
        return found

    def item(self, track_id: int) -> MediaItem:
        """The track as a :class:`MediaItem` (uri ``library:track/ID``); NotFound."""
        return self._item(self._row(track_id))

    def path(self, track_id: int) -> Path:
        """The file of the track; NotFound when the index does not hold it."""
        return Path(os.fsdecode(bytes(self._row(track_id)[12])))

    def art(self, key: str) -> tuple[bytes, str]:
        """(image bytes, media type) of cover art *key*; NotFound."""
        if not isinstance(key, str) or not ART_KEY.fullmatch(key):
            raise NotFound(f"there is no cover art {key!r}")
        with self._read() as db:
            row = db.execute("SELECT media_type FROM art WHERE key = ?", (key,)).fetchone()
        try:
            if row is None:
                raise FileNotFoundError(key)
            return (self.art_dir / key).read_bytes(), str(row[0])
        except OSError:
            raise NotFound(f"there is no cover art {key}") from None

    def count(self) -> int:
        """How many tracks the index holds."""
        with self._read() as db:
            return int(db.execute("SELECT count(*) FROM track").fetchone()[0])

    # -- browsing ---------------------------------------------------------------------------

    def artists(self) -> list[dict[str, Any]]:
        """Every artist (of a track or of an album) as {name, albums, tracks}, by name."""
        with self._read() as db:
            rows = db.execute(
                "WITH credit (name, album_id, track_id) AS ("
                " SELECT artist, album_id, id FROM track"
                " UNION SELECT a.artist, t.album_id, t.id FROM track t"
                " JOIN album a ON a.id = t.album_id) "
                "SELECT name, count(DISTINCT album_id), count(DISTINCT track_id) FROM credit "
                "GROUP BY name"
            ).fetchall()
        found = [{"name": n, "albums": albums, "tracks": tracks} for n, albums, tracks in rows]
        return sorted(found, key=lambda a: _text_order(a["name"]))

    def albums(self, artist: str | None = None) -> list[dict[str, Any]]:
        """Albums as {id, title, artist, year, tracks, art}, by title; with *artist*, the
        albums that artist made or plays on, by year then title."""
        where, args = "", []
        if artist is not None:
            where = (
                "WHERE a.artist = ? OR EXISTS "
                "(SELECT 1 FROM track x WHERE x.album_id = a.id AND x.artist = ?)"
            )
            args = [artist, artist]
        with self._read() as db:
            rows = db.execute(
                "SELECT a.id, a.title, a.artist, min(t.year), count(*), "
                " (SELECT x.art FROM track x WHERE x.album_id = a.id AND x.art IS NOT NULL"
                "  ORDER BY coalesce(x.disc, 1), coalesce(x.number, 1000000), x.id LIMIT 1) "
                f"FROM album a JOIN track t ON t.album_id = a.id {where} GROUP BY a.id",
                args,
            ).fetchall()
        found = [
            {
                "id": album_id,
                "title": title,
                "artist": album_artist,
                "year": year,
                "tracks": tracks,
                "art": None if art is None else ART_URL + art,
            }
            for album_id, title, album_artist, year, tracks, art in rows
        ]
        if artist is None:
            return sorted(found, key=lambda a: (*_text_order(a["title"]), a["id"]))
        return sorted(found, key=lambda a: (a["year"] or 9999, *_text_order(a["title"]), a["id"]))

    def genres(self) -> list[dict[str, Any]]:
        """Genres as {name, tracks}, by name (tracks without a genre are in none)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT genre, count(*) FROM track WHERE genre != '' GROUP BY genre"
            ).fetchall()
        return sorted(
            ({"name": name, "tracks": tracks} for name, tracks in rows),
            key=lambda g: _text_order(g["name"]),
        )

    def tracks(
        self,
        *,
        artist: str | None = None,
        album: int | str | None = None,
        genre: str | None = None,
        folder: Path | str | None = None,
    ) -> list[MediaItem]:
        """Tracks matching every filter given: *artist* (of the track or its album), *album*
        (an album id, or a title), *genre*, *folder* (tracks directly in it). Ordered by
        album then disc, track number, title; with *folder*, by file name."""
        where: list[str] = []
        args: list[Any] = []
        if artist is not None:
            where.append("(t.artist = ? OR a.artist = ?)")
            args += [artist, artist]
        if isinstance(album, int) and not isinstance(album, bool):
            where.append("a.id = ?")
            args.append(album)
        elif album is not None:
            where.append("a.title = ?")
            args.append(str(album))
        if genre is not None:
            where.append("t.genre = ?")
            args.append(genre)
        if folder is not None:
            where.append("t.folder = ?")
            args.append(os.path.abspath(os.fsencode(folder)))
        sql = f"SELECT {_COLUMNS} FROM {_FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._read() as db:
            rows = db.execute(sql, args).fetchall()
        if folder is None:
            rows.sort(key=_track_order)
        else:
            rows.sort(key=lambda row: (*_text_order(_file_name(row)), row[0]))
        return [self._item(row) for row in rows]

    def folders(self, parent: Path | str | None = None) -> list[dict[str, Any]]:
        """Folders holding tracks (directly or below) as {path, name, node, tracks}, by name:
        the scanned folders when *parent* is None, else the folders directly in *parent*."""
        counts: dict[bytes, int] = {}
        with self._read() as db:
            if parent is None:
                for root, n in db.execute("SELECT root, count(*) FROM track GROUP BY root"):
                    counts[bytes(root)] = n
            else:
                low, high = under(os.path.abspath(os.fsencode(parent)))
                rows = db.execute(
                    "SELECT folder, count(*) FROM track WHERE folder >= ? AND folder < ? "
                    "GROUP BY folder",
                    (low, high),
                )
                for folder, n in rows:
                    child = low + bytes(folder)[len(low) :].split(b"/")[0]
                    counts[child] = counts.get(child, 0) + n
        found = [
            {
                "path": os.fsdecode(path),
                "name": display_name(os.path.basename(path) or path),
                "node": folder_node(path),
                "tracks": n,
            }
            for path, n in counts.items()
        ]
        return sorted(found, key=lambda f: (*_text_order(f["name"]), f["path"]))

    def search(self, text: str, limit: int = 50) -> list[MediaItem]:
        """Tracks whose title, artist or album holds every word of *text*, ignoring case
        and accents (Chinese and other scripts match by substring). Ranked: title starts
        with *text*, title holds it, artist holds it, album holds it, words spread."""
        query = fold(text)
        words = query.split()[:8]
        if not words or limit <= 0:
            return []
        match = " AND ".join(
            "(instr(t.title_key, ?) OR instr(t.artist_key, ?) OR instr(t.album_key, ?))"
            for _ in words
        )
        rank = (
            "CASE WHEN substr(t.title_key, 1, ?) = ? THEN 0 WHEN instr(t.title_key, ?) THEN 1 "
            "WHEN instr(t.artist_key, ?) THEN 2 WHEN instr(t.album_key, ?) THEN 3 ELSE 4 END"
        )
        args: list[Any] = [len(query), query, query, query, query]
        for word in words:
            args += [word, word, word]
        args.append(limit)
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS}, {rank} AS rank FROM {_FROM} WHERE {match} "
                "ORDER BY rank, t.title_key, t.id LIMIT ?",
                args,
            ).fetchall()
        return [self._item(row) for row in rows]

    def browse(self, node: str) -> dict[str, Any]:
        """One node of the browse tree of ``docs/media.md``: {"node": {id, title, kind},
        "children": [...]}. NotFound for a node that does not exist (or holds no tracks)."""
        if node in _FIXED:
            children = self._fixed_children(node)
            return {
                "node": {"id": node, "title": _FIXED[node], "kind": "folder"},
                "children": children,
            }
        kind, _, name = node.removeprefix("library/").partition("/")
        if not node.startswith("library/") or not name:
            raise NotFound(f"there is no library node {node!r}")
        if kind == "artist":
            albums = self.albums(name)
            if not albums:
                raise NotFound(f"the library has no artist {name!r}")
            children = [
                self._album_child(album, "" if album["year"] is None else str(album["year"]))
                for album in albums
            ]
            return self._node(node, name, children)
        if kind == "album":
            if not name.isdigit():
                raise NotFound(f"there is no library node {node!r}")
            items = self.tracks(album=int(name))
            if not items:
                raise NotFound(f"the library has no album {name}")
            return self._node(node, items[0].album, [_child(i) for i in items])
        if kind == "genre":
            items = self.tracks(genre=name)
            if not items:
                raise NotFound(f"the library has no genre {name!r}")
            return self._node(node, name, [_child(i) for i in items])
        if kind == "folder":
            path = unquote_to_bytes(name)
            subfolders = self.folders(os.fsdecode(path))
            items = self.tracks(folder=os.fsdecode(path))
            if not subfolders and not items:
                raise NotFound(f"the library has no folder {display_name(path)!r}")
            children = [
                {"id": f["node"], "title": f["name"], "kind": "folder"} for f in subfolders
            ] + [_child(i) for i in items]
            return self._node(node, display_name(os.path.basename(path) or path), children)
        raise NotFound(f"there is no library node {node!r}")

    @staticmethod
    def _node(node: str, title: str, children: list[dict[str, Any]]) -> dict[str, Any]:
        return {"node": {"id": node, "title": title, "kind": "folder"}, "children": children}

    @staticmethod
    def _album_child(album: dict[str, Any], subtitle: str) -> dict[str, Any]:
        child = {"id": f"library/album/{album['id']}", "title": album["title"], "kind": "folder"}
        if subtitle:
            child["subtitle"] = subtitle
        if album["art"]:
            child["art"] = album["art"]
        return child

    def _fixed_children(self, node: str) -> list[dict[str, Any]]:
        if node == "library":
            return [
                {"id": child, "title": _FIXED[child], "kind": "folder"}
                for child in (
                    "library/artists",
                    "library/albums",
                    "library/genres",
                    "library/folders",
                )
            ]
        if node == "library/artists":
            return [
                {"id": f"library/artist/{a['name']}", "title": a["name"], "kind": "folder"}
                for a in self.artists()
            ]
        if node == "library/albums":
            return [self._album_child(album, album["artist"]) for album in self.albums()]
        if node == "library/genres":
            return [
                {"id": f"library/genre/{g['name']}", "title": g["name"], "kind": "folder"}
                for g in self.genres()
            ]
        return [
            {
                "id": f["node"],
                "title": f["name"],
                "kind": "folder",
                "subtitle": display_name(os.fsencode(f["path"])),
            }
            for f in self.folders()
        ]
