"""Podcasts: feeds subscribed by URL, their episodes, and where each episode was left.

Feeds are RSS 2.0 (with the iTunes extensions) or Atom, parsed by ``feedparser`` off the event
loop; an episode is an entry with an http(s) enclosure (audio preferred). Everything lives in
one SQLite database (WAL, ``synchronous=FULL``): feeds, episodes (kept when they drop out of
the feed, so a half-heard episode can be finished) and resume positions.

Ids are stable hashes: a feed's of its URL, an episode's of its feed and its ``guid`` (or its
enclosure URL when it has none), so refreshing never renames anything.

The synchronous methods (:meth:`Podcasts.feeds`, :meth:`Podcasts.save_position`…) are short
SQLite transactions safe to call on the event loop; :meth:`Podcasts.subscribe` and
:meth:`Podcasts.refresh` fetch with ``httpx`` (timeouts, retries) and parse and store in a
worker thread.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import html
import io
import logging
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser  # type: ignore[import-untyped]
import httpx

from carmesh.errors import ConfigError, InvalidArgument, NotFound
from carmesh.media.fetch import USER_AGENT, Http, RetryPolicy, read_body, with_retries
from carmesh.media.items import SOURCE_INTERNET, MediaError, MediaItem

log = logging.getLogger(__name__)

#: Largest feed document read.
MAX_FEED = 20 * 1024 * 1024
#: A position this close to the end (s) counts as finished: the episode starts over.
FINISHED_WITHIN = 30.0
MAX_DESCRIPTION = 4000
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"


@dataclass(frozen=True)
class Episode:
    """One episode. *published* in UTC or None; *duration* in seconds from the feed (None when
    it does not say); *url* the enclosure; *image* the episode's or else the feed's artwork."""

    id: str
    feed_id: str
    title: str
    published: datetime | None
    duration: float | None
    url: str
    mime: str
    description: str
    image: str | None = None
    feed_title: str = ""
    author: str = ""

    @property
    def uri(self) -> str:
        return f"podcast:episode/{self.id}"

    def item(self) -> MediaItem:
        """The queue item: the feed as album, its author as artist, the enclosure URL in
        ``extra["url"]``. *art* is the artwork's URL as the feed gives it (remote)."""
        return MediaItem(
            uri=self.uri,
            title=self.title,
            artist=self.author,
            album=self.feed_title,
            duration=self.duration,
            art=self.image,
            source=SOURCE_INTERNET,
            live=False,
            extra={"url": self.url, "mime": self.mime, "feed_id": self.feed_id},
        )


@dataclass(frozen=True)
class Feed:
    """A subscribed feed; *episodes* newest first."""

    id: str
    url: str
    title: str
    author: str
    image: str | None
    episodes: list[Episode] = field(default_factory=list)


def feed_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def episode_id(feed: str, guid: str) -> str:
    return hashlib.sha256(f"{feed}\n{guid}".encode()).hexdigest()[:16]


def parse_duration(value: object) -> float | None:
    """Seconds of an iTunes duration: ``"1:02:03"``, ``"62:03"``, ``"3723"``, ``"3723.5"``;
    None for anything else."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not re.fullmatch(r"\d{1,9}(\.\d+)?(:\d{1,2}(\.\d+)?){0,2}", text):
        return None
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _text(value: object, limit: int = 500) -> str:
    """Plain text of a feed field that may hold HTML."""
    if not isinstance(value, str):
        return ""
    text = re.sub(r"<(br|/p|/div|/li)\b[^>]*>", "\n", value, flags=re.I)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\n\s*\n+", "\n\n", text).strip()
    return text[:limit]


def _http_url(value: object, base: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    url = urljoin(base, value.strip())
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _when(entry: Any) -> float | None:
    for key in ("published_parsed", "updated_parsed"):
        parsed = dict.get(entry, key)  # not entry.get: feedparser's deprecated key aliases
        if parsed:
            try:
                return float(calendar.timegm(parsed))
            except (TypeError, ValueError, OverflowError):
                continue
    return None


@dataclass
class _Parsed:
    title: str
    author: str
    image: str | None
    episodes: list[dict[str, Any]]


def parse_feed(body: bytes, url: str) -> _Parsed:
    """The feed in *body* (fetched from *url*); InvalidArgument when it is not RSS or Atom."""
    try:
        doc = feedparser.parse(io.BytesIO(body), response_headers={"content-location": url})
    except Exception as e:  # feedparser is lenient; anything it raises means "not a feed"
        raise InvalidArgument(f"{url} is not an RSS or Atom feed ({e})") from e
    if not doc.get("version"):
        raise InvalidArgument(f"{url} is not an RSS or Atom feed")
    meta = doc.feed
    image = meta.get("image")
    image_url = _http_url(image.get("href") if isinstance(image, dict) else None, url)
    image_url = image_url or _http_url(meta.get("logo"), url) or _http_url(meta.get("icon"), url)
    author = _text(meta.get("author") or meta.get("itunes_author") or "", 200)
    title = _text(meta.get("title") or "", 300) or urlsplit(url).netloc
    episodes: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in doc.entries:
        enclosures = [(e, _http_url(e.get("href"), url)) for e in entry.get("enclosures", []) or []]
        playable = [(e, href) for e, href in enclosures if href]
        if not playable:
            continue
        audio = [p for p in playable if str(p[0].get("type", "")).startswith("audio/")]
        enclosure, href = (audio or playable)[0]
        assert href is not None
        guid = str(entry.get("id") or href)
        if guid in seen:
            continue
        seen.add(guid)
        entry_image = entry.get("image")
        episodes.append(
            {
                "guid": guid,
                "title": _text(entry.get("title"), 300) or Path(urlsplit(href).path).name,
                "published": _when(entry),
                "duration": parse_duration(entry.get("itunes_duration")),
                "url": href,
                "mime": str(enclosure.get("type") or ""),
                "description": _text(
                    entry.get("summary") or entry.get("description"), MAX_DESCRIPTION
                ),
                "image": _http_url(
                    entry_image.get("href") if isinstance(entry_image, dict) else None, url
                ),
            }
        )
    return _Parsed(title, author, image_url, episodes)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    author TEXT NOT NULL,
    image TEXT,
    etag TEXT,
    modified TEXT,
    subscribed REAL NOT NULL,
    refreshed REAL
);
CREATE TABLE IF NOT EXISTS episodes (
    id TEXT PRIMARY KEY,
    feed_id TEXT NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    title TEXT NOT NULL,
    published REAL,
    duration REAL,
    url TEXT NOT NULL,
    mime TEXT NOT NULL,
    description TEXT NOT NULL,
    image TEXT,
    seen REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS episodes_by_feed ON episodes(feed_id, published);
CREATE TABLE IF NOT EXISTS positions (
    episode_id TEXT PRIMARY KEY REFERENCES episodes(id) ON DELETE CASCADE,
    seconds REAL NOT NULL,
    duration REAL,
    updated REAL NOT NULL
);
"""


class Podcasts:
    """The subscribed podcasts, stored in *db_path*.

    *client_factory* makes the ``httpx.AsyncClient`` for each fetch (default: one with
    *timeout*, redirects followed); fetches retry network failures *retries* times, waiting
    *backoff* seconds.
    """

    def __init__(
        self,
        db_path: Path,
        *,
        client_factory: Callable[[], httpx.AsyncClient] | None = None,
        timeout: float = 15.0,
        retries: int = 2,
        backoff: Sequence[float] = (1.0, 2.0),
    ) -> None:
        self.db_path = Path(db_path)
        self._client_factory = client_factory
        self._policy = RetryPolicy(retries, tuple(backoff), timeout)
        self._lock = threading.Lock()
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.db_path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._db:
                self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"the podcast database {self.db_path} cannot be opened: {e}") from e

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- fetching --

    async def subscribe(self, url: str) -> Feed:
        """Fetch and store the feed at *url* (again, if subscribed already) and return it.
        InvalidArgument for a URL that is not http(s) or a document that is not a feed;
        MediaError when it cannot be fetched."""
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgument(f"{url!r} is not an http(s) feed URL")
        fid = feed_id(url)
        with self._lock:
            row = self._db.execute("SELECT id FROM feeds WHERE url = ?", (url,)).fetchone()
        if row is not None:
            return await self._refresh_one(row[0], conditional=False)
        body, headers = await self._fetch(url, None, None)
        assert body is not None
        parsed = await asyncio.to_thread(parse_feed, body, url)
        await asyncio.to_thread(self._store, fid, url, parsed, headers, True)
        log.info("subscribed to %s (%d episodes)", url, len(parsed.episodes))
        return self._feed(fid)

    async def refresh(self, feed_id: str | None = None) -> list[Feed]:
        """Fetch one feed (NotFound if not subscribed; its failure raised) or all of them
        (failures logged and left out; MediaError only when every one failed). New episodes
        are added; known ones updated; positions kept."""
        if feed_id is not None:
            self._feed_row(feed_id)
            return [await self._refresh_one(feed_id)]
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM feeds ORDER BY title")]
        if not ids:
            return []
        limit = asyncio.Semaphore(4)

        async def one(fid: str) -> Feed | BaseException:
            async with limit:
                try:
                    return await self._refresh_one(fid)
                except (MediaError, InvalidArgument) as e:
                    log.warning("refreshing podcast %s failed: %s", fid, e)
                    return e

        results = await asyncio.gather(*(one(fid) for fid in ids))
        feeds = [r for r in results if isinstance(r, Feed)]
        if not feeds:
            first = results[0]
            assert isinstance(first, BaseException)
            raise first
        return feeds

    async def _refresh_one(self, fid: str, *, conditional: bool = True) -> Feed:
        url, etag, modified = self._feed_row(fid)
        body, headers = await self._fetch(url, etag if conditional else None, modified)
        if body is None:
            await asyncio.to_thread(self._touch, fid)
        else:
            parsed = await asyncio.to_thread(parse_feed, body, url)
            await asyncio.to_thread(self._store, fid, url, parsed, headers, False)
        return self._feed(fid)

    async def _fetch(
        self, url: str, etag: str | None, modified: str | None
    ) -> tuple[bytes | None, dict[str, str]]:
        """The feed's body (None: unchanged since *etag*/*modified*) and response headers."""
        headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        client = self._client_factory() if self._client_factory else None
        http = Http(client, self._policy.timeout)
        http.owned = True  # a factory's client is ours to close, too

        async def attempt() -> tuple[bytes | None, dict[str, str]]:
            response = await http.open(url, headers)
            try:
                got = {
                    "etag": response.headers.get("etag", ""),
                    "modified": response.headers.get("last-modified", ""),
                }
                if response.status_code == 304:
                    return None, got
                return await read_body(response, MAX_FEED), got
            finally:
                await response.aclose()

        try:
            return await with_retries(self._policy, attempt, what=f"the feed {url}")
        finally:
            await http.aclose()

    # -- storing --

    def _store(
        self, fid: str, url: str, parsed: _Parsed, headers: dict[str, str], new: bool
    ) -> None:
        now = time.time()
        with self._lock, self._db:
            if new:
                self._db.execute(
                    "INSERT INTO feeds (id, url, title, author, image, etag, modified,"
                    " subscribed, refreshed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(id) DO NOTHING",
                    (fid, url, parsed.title, parsed.author, parsed.image, None, None, now, now),
                )
            self._db.execute(
                "UPDATE feeds SET title = ?, author = ?, image = ?, etag = ?, modified = ?,"
                " refreshed = ? WHERE id = ?",
                (
                    parsed.title,
                    parsed.author,
                    parsed.image,
                    headers.get("etag") or None,
                    headers.get("modified") or None,
                    now,
                    fid,
                ),
            )
            for e in parsed.episodes:
                self._db.execute(
                    "INSERT INTO episodes (id, feed_id, guid, title, published, duration, url,"
                    " mime, description, image, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET title = excluded.title,"
                    " published = excluded.published, duration = excluded.duration,"
                    " url = excluded.url, mime = excluded.mime,"
                    " description = excluded.description, image = excluded.image",
                    (
                        episode_id(fid, e["guid"]),
                        fid,
                        e["guid"],
                        e["title"],
                        e["published"],
                        e["duration"],
                        e["url"],
                        e["mime"],
                        e["description"],
                        e["image"],
                        now,
                    ),
                )

    def _touch(self, fid: str) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE feeds SET refreshed = ? WHERE id = ?", (time.time(), fid))

    # -- reading --

    def _feed_row(self, fid: str) -> tuple[str, str | None, str | None]:
        with self._lock:
            row = self._db.execute(
                "SELECT url, etag, modified FROM feeds WHERE id = ?", (fid,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no podcast {fid!r} is subscribed")
        return row[0], row[1], row[2]

    _EPISODE_COLUMNS = (
        "e.id, e.feed_id, e.title, e.published, e.duration, e.url, e.mime, e.description,"
        " COALESCE(e.image, f.image), f.title, f.author"
    )

    def _episodes(self, where: str, args: tuple[Any, ...]) -> list[Episode]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._EPISODE_COLUMNS} FROM episodes e JOIN feeds f"
                f" ON f.id = e.feed_id WHERE {where}"
                " ORDER BY e.published IS NULL, e.published DESC, e.seen DESC, e.rowid",
                args,
            ).fetchall()
        return [
            Episode(
                id=r[0],
                feed_id=r[1],
                title=r[2],
                published=None if r[3] is None else datetime.fromtimestamp(r[3], UTC),
                duration=r[4],
                url=r[5],
                mime=r[6],
                description=r[7],
                image=r[8],
                feed_title=r[9],
                author=r[10],
            )
            for r in rows
        ]

    def _feed(self, fid: str) -> Feed:
        with self._lock:
            row = self._db.execute(
                "SELECT id, url, title, author, image FROM feeds WHERE id = ?", (fid,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no podcast {fid!r} is subscribed")
        return Feed(
            id=row[0],
            url=row[1],
            title=row[2],
            author=row[3],
            image=row[4],
            episodes=self._episodes("e.feed_id = ?", (fid,)),
        )

    def feeds(self) -> list[Feed]:
        """Every subscribed feed with its episodes, by title."""
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM feeds ORDER BY title, id")]
        return [self._feed(fid) for fid in ids]

    def feed(self, feed_id: str) -> Feed:
        """One feed; NotFound if it is not subscribed."""
        return self._feed(feed_id)

    def episode(self, episode_id: str) -> Episode:
        """One episode; NotFound when unknown."""
        found = self._episodes("e.id = ?", (episode_id,))
        if not found:
            raise NotFound(f"no podcast episode {episode_id!r}")
        return found[0]

    def search(self, text: str, limit: int = 50) -> list[Episode]:
        """Episodes whose title or feed title contains *text* (case- and accent-insensitive)."""
        needle = _fold(text)
        if not needle:
            return []
        found = [
            e
            for e in self._episodes("1", ())
            if needle in _fold(e.title) or needle in _fold(e.feed_title)
        ]
        return found[:limit]

    def unsubscribe(self, feed_id: str) -> None:
        """Forget a feed, its episodes and their positions; NotFound if not subscribed."""
        with self._lock, self._db:
            gone = self._db.execute("DELETE FROM feeds WHERE id = ?", (feed_id,)).rowcount
        if not gone:
            raise NotFound(f"no podcast {feed_id!r} is subscribed")

    # -- resume positions --

    def save_position(self, episode_id: str, seconds: float, duration: float | None = None) -> None:
        """Remember where *episode_id* was left (s). *duration* (s), e.g. the decoder's, is
        kept for telling a finished episode when the feed gives none. NotFound when unknown."""
        seconds = max(0.0, float(seconds))
        with self._lock, self._db:
            known = self._db.execute(
                "SELECT 1 FROM episodes WHERE id = ?", (episode_id,)
            ).fetchone()
            if known is None:
                raise NotFound(f"no podcast episode {episode_id!r}")
            self._db.execute(
                "INSERT INTO positions (episode_id, seconds, duration, updated)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(episode_id) DO UPDATE SET"
                " seconds = excluded.seconds,"
                " duration = COALESCE(excluded.duration, positions.duration),"
                " updated = excluded.updated",
                (episode_id, seconds, duration, time.time()),
            )

    def _progress(self, episode_id: str) -> tuple[float, float | None] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT p.seconds, COALESCE(p.duration, e.duration) FROM positions p"
                " JOIN episodes e ON e.id = p.episode_id WHERE p.episode_id = ?",
                (episode_id,),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def position(self, episode_id: str) -> float:
        """Where to resume *episode_id* (s): 0 when never played or finished (within 30 s of
        its end)."""
        progress = self._progress(episode_id)
        if progress is None:
            return 0.0
        seconds, duration = progress
        if duration is not None and seconds >= duration - FINISHED_WITHIN:
            return 0.0
        return float(seconds)

    def finished(self, episode_id: str) -> bool:
        progress = self._progress(episode_id)
        if progress is None or progress[1] is None:
            return False
        return progress[0] >= progress[1] - FINISHED_WITHIN

    # -- browsing --

    def browse(self, node: str) -> dict[str, Any]:
        """``podcasts`` (the feeds) or ``podcasts/feed/ID`` (its episodes, newest first), as
        ``{"node": {id, title, kind}, "children": [...]}`` (docs/media.md); NotFound else."""
        if node == "podcasts":
            return {
                "node": {"id": "podcasts", "title": "Podcasts", "kind": "folder"},
                "children": [
                    _child(
                        id=f"podcasts/feed/{f.id}",
                        title=f.title,
                        kind="folder",
                        subtitle=f.author,
                        art=f.image,
                    )
                    for f in self.feeds()
                ],
            }
        prefix = "podcasts/feed/"
        if node.startswith(prefix):
            feed = self._feed(node[len(prefix) :])
            return {
                "node": {"id": node, "title": feed.title, "kind": "folder"},
                "children": [
                    _child(
                        id=f"podcasts/episode/{e.id}",
                        title=e.title,
                        kind="item",
                        subtitle=self._subtitle(e),
                        art=e.image,
                        uri=e.uri,
                    )
                    for e in feed.episodes
                ],
            }
        raise NotFound(f"no podcast node {node!r}")

    def _subtitle(self, episode: Episode) -> str:
        parts = []
        if episode.published is not None:
            parts.append(episode.published.date().isoformat())
        if episode.duration:
            parts.append(f"{max(1, round(episode.duration / 60))} min")
        if self.finished(episode.id):
            parts.append("played")
        else:
            left = self.position(episode.id)
            if left and episode.duration:
                parts.append(f"{max(1, round((episode.duration - left) / 60))} min left")
        return " · ".join(parts)


def _child(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "")}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
