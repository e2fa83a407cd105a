"""Podcasts against a loopback server: RSS 2.0 and Atom feeds, episodes, resume positions."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from carmesh.errors import InvalidArgument, NotFound
from carmesh.media.items import SOURCE_INTERNET, MediaError
from carmesh.media.podcasts import Podcasts, parse_duration
from carmesh.media.streams import open_stream
from tests.media.netsupport import (
    LoopbackServer,
    Request,
    Response,
    decode_all,
    dominant_frequency,
    encode_stream,
)

FAST = {"retries": 1, "backoff": (0.05,), "timeout": 1.0}

ITEM = """<item>
  <title>{title}</title><guid isPermaLink="false">{guid}</guid>
  <pubDate>{date}</pubDate>{duration}
  <description>&lt;p&gt;About &lt;b&gt;{title}&lt;/b&gt; &amp;amp; more&lt;/p&gt;</description>
  <enclosure url="{url}" type="audio/mpeg" length="1000"/>
</item>"""


def rss(items: list[str]) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel>
  <title>Loopback Talk</title><link>http://127.0.0.1/</link>
  <itunes:author>Ada Lovelace</itunes:author>
  <itunes:image href="cover.jpg"/>
  <description>Talk.</description>
  {"".join(items)}
  <item><title>No audio</title><guid>text-only</guid></item>
  <item><title>Local file</title><guid>local</guid>
    <enclosure url="file:///etc/passwd" type="audio/mpeg"/></item>
</channel></rss>""".encode()


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom Hour</title><id>urn:atom-hour</id><updated>2024-05-01T08:00:00Z</updated>
  <author><name>Bob</name></author><logo>http://127.0.0.1/logo.png</logo>
  <entry>
    <title>Atom one</title><id>urn:atom-hour:1</id>
    <published>2024-04-30T06:30:00Z</published><updated>2024-05-01T08:00:00Z</updated>
    <link rel="enclosure" href="/a1.mp3" type="audio/mpeg" length="10"/>
    <summary>First.</summary>
  </entry>
  <entry>
    <title>Atom two</title><id>urn:atom-hour:2</id><updated>2024-05-01T08:00:00Z</updated>
    <link rel="alternate" href="/page"/>
    <link rel="enclosure" href="/a2.jpg" type="image/jpeg"/>
    <link rel="enclosure" href="/a2.mp3" type="audio/mpeg"/>
  </entry>
</feed>"""


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    s = LoopbackServer()
    yield s
    s.kill()


@pytest.fixture
async def podcasts(tmp_path: Path) -> AsyncIterator[Podcasts]:
    p = Podcasts(tmp_path / "podcasts.db", **FAST)  # type: ignore[arg-type]
    yield p
    p.close()


def item(server: LoopbackServer, n: int, date: str, duration: str | None = None) -> str:
    tag = f"<itunes:duration>{duration}</itunes:duration>" if duration else ""
    return ITEM.format(
        title=f"Episode {n}",
        guid=f"ep-{n}",
        date=date,
        duration=tag,
        url=server.url(f"/ep{n}.mp3"),
    )


async def test_an_rss_feed_and_its_episodes(server: LoopbackServer, podcasts: Podcasts) -> None:
    items = [
        item(server, 1, "Tue, 05 Mar 2024 10:00:00 +0100", "1:02:03"),
        item(server, 2, "Wed, 06 Mar 2024 10:00:00 GMT", "45:30"),
        item(server, 3, "not a date", "3600"),
    ]
    url = server.file("/feed.xml", rss(items), "application/rss+xml")
    feed = await podcasts.subscribe(url)
    assert (feed.title, feed.author, feed.url) == ("Loopback Talk", "Ada Lovelace", url)
    assert feed.image == server.url("/cover.jpg")  # relative to the feed
    assert [e.title for e in feed.episodes] == ["Episode 2", "Episode 1", "Episode 3"]
    two, one, three = feed.episodes
    assert one.published == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
    assert two.published == datetime(2024, 3, 6, 10, 0, tzinfo=UTC)
    assert three.published is None
    assert (one.duration, two.duration, three.duration) == (3723.0, 2730.0, 3600.0)
    assert one.url == server.url("/ep1.mp3") and one.mime == "audio/mpeg"
    assert one.description == "About Episode 1 & more"
    assert one.image == feed.image
    media = one.item()
    assert media.uri == f"podcast:episode/{one.id}"
    assert (media.source, media.live, media.duration) == (SOURCE_INTERNET, False, 3723.0)
    assert (media.album, media.artist, media.art) == ("Loopback Talk", "Ada Lovelace", feed.image)
    assert media.extra["url"] == one.url
    assert podcasts.feeds() == [feed]
    assert podcasts.episode(one.id) == one


async def test_an_atom_feed(server: LoopbackServer, podcasts: Podcasts) -> None:
    url = server.file("/atom", ATOM, "application/atom+xml")
    feed = await podcasts.subscribe(url)
    assert (feed.title, feed.author, feed.image) == (
        "Atom Hour",
        "Bob",
        "http://127.0.0.1/logo.png",
    )
    one, two = sorted(feed.episodes, key=lambda e: e.title)
    assert one.published == datetime(2024, 4, 30, 6, 30, tzinfo=UTC)
    assert one.url == server.url("/a1.mp3") and one.duration is None
    assert two.url == server.url("/a2.mp3")  # the audio enclosure, not the image
    assert one.description == "First."


async def test_an_episode_enclosure_plays(server: LoopbackServer, podcasts: Podcasts) -> None:
    server.file("/ep1.mp3", encode_stream(523, 2.0, "mp3"), "audio/mpeg")
    url = server.file("/feed.xml", rss([item(server, 1, "Tue, 05 Mar 2024 10:00:00 GMT")]))
    episode = (await podcasts.subscribe(url)).episodes[0]
    reader = await open_stream(episode.url, **FAST)  # type: ignore[arg-type]
    try:
        pcm = await asyncio.to_thread(decode_all, reader, reader.format)
    finally:
        await reader.aclose()
    assert len(pcm) >= 1.9 * 44_100
    assert dominant_frequency(pcm) == pytest.approx(523, abs=3)


async def test_resume_positions_survive_a_reopen(server: LoopbackServer, tmp_path: Path) -> None:
    items = [
        item(server, 1, "Tue, 05 Mar 2024 10:00:00 GMT", "10:00"),
        item(server, 2, "Wed, 06 Mar 2024 10:00:00 GMT"),
    ]
    url = server.file("/feed.xml", rss(items))
    db = tmp_path / "p.db"
    podcasts = Podcasts(db, **FAST)  # type: ignore[arg-type]
    feed = await podcasts.subscribe(url)
    two, one = feed.episodes
    assert podcasts.position(one.id) == 0.0
    podcasts.save_position(one.id, 123.5)
    podcasts.save_position(two.id, 200.0)
    podcasts.close()

    again = Podcasts(db, **FAST)  # type: ignore[arg-type]
    try:
        assert again.position(one.id) == 123.5
        assert again.position(two.id) == 200.0
        again.save_position(one.id, 600 - 29)  # within 30 s of the end: finished
        assert again.position(one.id) == 0.0 and again.finished(one.id)
        again.save_position(two.id, 250.0, duration=270.0)  # the decoder knows its length
        assert again.position(two.id) == 0.0
        again.save_position(two.id, 100.0)
        assert again.position(two.id) == 100.0
        with pytest.raises(NotFound):
            again.save_position("nope", 1.0)
        mode = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        again.close()


async def test_refresh_adds_new_episodes_and_keeps_positions(
    server: LoopbackServer, podcasts: Podcasts
) -> None:
    items = [item(server, 1, "Tue, 05 Mar 2024 10:00:00 GMT")]
    etag = '"v1"'

    def serve(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(rss(items), content_type="application/rss+xml", headers={"ETag": etag})

    url = server.dynamic("/feed.xml", serve)
    feed = await podcasts.subscribe(url)
    first = feed.episodes[0]
    podcasts.save_position(first.id, 42.0)

    assert [e.id for e in (await podcasts.refresh(feed.id))[0].episodes] == [first.id]
    assert server.requests[-1].headers["if-none-match"] == etag  # unchanged: 304

    items.insert(0, item(server, 2, "Thu, 07 Mar 2024 10:00:00 GMT"))
    etag = '"v2"'
    (refreshed,) = await podcasts.refresh()
    assert [e.title for e in refreshed.episodes] == ["Episode 2", "Episode 1"]
    assert refreshed.episodes[1].id == first.id
    assert podcasts.position(first.id) == 42.0

    items[:] = [item(server, 3, "Fri, 08 Mar 2024 10:00:00 GMT")]  # old ones drop out
    etag = '"v3"'
    (refreshed,) = await podcasts.refresh(feed.id)
    assert [e.title for e in refreshed.episodes] == ["Episode 3", "Episode 2", "Episode 1"]

    again = await podcasts.subscribe(url)  # subscribing again is a refresh
    assert again.id == feed.id and len(podcasts.feeds()) == 1


async def test_a_document_that_is_not_a_feed(server: LoopbackServer, podcasts: Podcasts) -> None:
    url = server.file("/page", b"<!doctype html><html><body>Hi</body></html>", "text/html")
    with pytest.raises(InvalidArgument, match="not an RSS or Atom feed"):
        await podcasts.subscribe(url)
    url = server.file("/bin", bytes(range(256)) * 10)
    with pytest.raises(InvalidArgument, match="not an RSS or Atom feed"):
        await podcasts.subscribe(url)
    with pytest.raises(InvalidArgument, match="not an http"):
        await podcasts.subscribe("file:///etc/hosts")
    assert podcasts.feeds() == []


async def test_network_failures_are_media_errors(
    server: LoopbackServer, podcasts: Podcasts
) -> None:
    with pytest.raises(MediaError, match="answered HTTP 404"):
        await podcasts.subscribe(server.status("/gone.xml", 404))
    url = server.file("/feed.xml", rss([item(server, 1, "Tue, 05 Mar 2024 10:00:00 GMT")]))
    feed = await podcasts.subscribe(url)
    server.kill()
    with pytest.raises(MediaError, match="connection refused"):
        await podcasts.refresh(feed.id)
    with pytest.raises(MediaError, match="connection refused"):
        await podcasts.refresh()
    assert podcasts.feed(feed.id) == feed  # nothing lost


async def test_a_slow_feed_times_out(server: LoopbackServer, tmp_path: Path) -> None:
    url = server.file("/slow.xml", rss([]), delay=3.0)
    podcasts = Podcasts(tmp_path / "p.db", retries=0, timeout=0.3)
    try:
        with pytest.raises(MediaError, match="timed out"):
            await podcasts.subscribe(url)
    finally:
        podcasts.close()


async def test_a_client_factory_is_used(server: LoopbackServer, tmp_path: Path) -> None:
    made: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        made.append(httpx.AsyncClient(headers={"X-Car": "yes"}, timeout=2.0))
        return made[-1]

    podcasts = Podcasts(tmp_path / "p.db", client_factory=factory)
    try:
        await podcasts.subscribe(server.file("/atom", ATOM, "application/atom+xml"))
    finally:
        podcasts.close()
    assert len(made) == 1 and made[0].is_closed
    assert server.requests[-1].headers["x-car"] == "yes"


async def test_browse_and_unsubscribe(server: LoopbackServer, podcasts: Podcasts) -> None:
    url = server.file("/feed.xml", rss([item(server, 1, "Tue, 05 Mar 2024 10:00:00 GMT", "600")]))
    feed = await podcasts.subscribe(url)
    episode = feed.episodes[0]
    podcasts.save_position(episode.id, 120)
    root = podcasts.browse("podcasts")
    assert root["node"] == {"id": "podcasts", "title": "Podcasts", "kind": "folder"}
    assert root["children"] == [
        {
            "id": f"podcasts/feed/{feed.id}",
            "title": "Loopback Talk",
            "kind": "folder",
            "subtitle": "Ada Lovelace",
            "art": feed.image,
        }
    ]
    node = podcasts.browse(f"podcasts/feed/{feed.id}")
    assert node["node"]["title"] == "Loopback Talk"
    assert node["children"] == [
        {
            "id": f"podcasts/episode/{episode.id}",
            "title": "Episode 1",
            "kind": "item",
            "subtitle": "2024-03-05 · 10 min · 8 min left",
            "art": feed.image,
            "uri": f"podcast:episode/{episode.id}",
        }
    ]
    assert podcasts.search("EPISODE 1") == [episode]
    assert podcasts.search("loopback talk") == [episode]
    with pytest.raises(NotFound):
        podcasts.browse("podcasts/feed/nope")
    podcasts.unsubscribe(feed.id)
    assert podcasts.feeds() == []
    with pytest.raises(NotFound):
        podcasts.episode(episode.id)
    with pytest.raises(NotFound):
        podcasts.unsubscribe(feed.id)
    with pytest.raises(NotFound):
        await podcasts.refresh(feed.id)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1:02:03", 3723.0),
        ("62:03", 3723.0),
        ("3723", 3723.0),
        ("3723.5", 3723.5),
        (" 0:45 ", 45.0),
        ("", None),
        ("1h 2m", None),
        ("-5", None),
        ("1:2:3:4", None),
        (None, None),
        (True, None),
    ],
)
def test_itunes_durations(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == seconds
