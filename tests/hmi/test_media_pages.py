"""The media pages in Debian's Chromium (Playwright) against the real ``carmesh run`` with its
media service: a small library of real MP3 files (Chinese and English tags, one with an
embedded cover) is generated, scanned and played to the null audio output.

The centre display's media page browses Library → Artists → an artist → an album, plays a
track (its album follows it in the queue), shows it with its cover art, skips, pauses and
plays, edits the queue, searches while parked and refuses typing while the car moves (cutting
lists to the rules, saying so); the media card on the home screen shows the cover and the
progress; the cluster shows the track and its buttons (and keys) drive it. Every page must log
no console error and fetch nothing from anywhere but the car (requests elsewhere are blocked).
Screenshots go to ``$CARMESH_ARTIFACTS`` (default: the session's temporary directory).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import mutagen.id3
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.hmi.test_pages import Screens, publish, strings, wait_until
from tests.media.audio import encode, sine
from tests.media.netsupport import LoopbackServer
from tests.support.browser import PageFactory, browser, new_page  # noqa: F401
from tests.support.car import RunningCar, running_car
from tests.support.images import png

MEDIA = "Vehicle.Cabin.Infotainment.Media"
#: Low-rate audio encodes quickly; the service resamples it.
RATE = 16_000
#: (title, seconds): long enough that nothing ends by itself during a test.
WANG_FEI = "王菲"
CHANG_YOU = "唱游"
CHANG_YOU_TRACKS = [("红豆", 240.0), ("容易受伤的女人", 240.0), ("暧昧", 240.0)]
ANE_BRUN = "Ane Brun"
COAST = "Songs from the Coast"
#: More tracks than a list shows while driving (6).
COAST_TRACKS = [
    (title, 20.0)
    for title in (
        "Northern Lights",
        "Shine",
        "Halo",
        "Daydream",
        "Rain",
        "Harbour",
        "Lighthouse",
        "Tide",
    )
]
FEED_TITLE = "Fjord Talk"
FEED = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{FEED_TITLE}</title><description>Weekly.</description>
<item><title>Episode 1</title><guid>fjord-1</guid><pubDate>Mon, 06 Jan 2025 08:00:00 GMT</pubDate>
<enclosure url="{{audio}}" length="1000" type="audio/mpeg"/></item>
</channel></rss>
"""


# -- the library and the car ----------------------------------------------------------------------


def album(
    folder: Path, artist: str, name: str, tracks: list[tuple[str, float]], freq: float
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, (title, seconds) in enumerate(tracks, 1):
        tags = {"title": title, "artist": artist, "album": name, "track": number, "genre": "Pop"}
        pcm = sine(freq * (1 + number / 10), seconds, 0.2, rate=RATE)
        paths.append(encode(folder / f"{number:02} {title}.mp3", pcm, "mp3", tags=tags, rate=RATE))
    return paths


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("music")
    # 唱游 has its cover embedded in every file (ID3 APIC); the Coast has none.
    cover = png(96)
    for path in album(root / WANG_FEI / CHANG_YOU, WANG_FEI, CHANG_YOU, CHANG_YOU_TRACKS, 330):
        tags = mutagen.id3.ID3(path)
        tags.add(mutagen.id3.APIC(encoding=3, mime="image/png", type=3, desc="Cover", data=cover))
        tags.save(path)
    album(root / ANE_BRUN / COAST, ANE_BRUN, COAST, COAST_TRACKS, 440)
    return root


def api(car: RunningCar, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, car.http_url + path, timeout=10, **kwargs)
    assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def driver(car: RunningCar) -> dict[str, Any]:
    return api(car, "GET", "/api/media/state")["zones"]["driver"]  # type: ignore[no-any-return]


def playing_title(car: RunningCar) -> str | None:
    item = driver(car)["item"]
    return None if item is None else item["title"]  # type: ignore[no-any-return]


def node_of(car: RunningCar, parent: str, title: str) -> str:
    """The id of the child of browse node *parent* titled *title*."""
    children = api(car, "GET", f"/api/media/browse?node={quote(parent, safe='')}")["children"]
    return next(c["id"] for c in children if c["title"] == title)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def media_car(tmp_path_factory: pytest.TempPathFactory, library: Path) -> Iterator[RunningCar]:
    home = tmp_path_factory.mktemp("media-car")
    args = ("--media", "--audio-out", "null", "--audio-out-rear", "null")
    with running_car(home / "car", *args, "--media-library", str(library)) as car:
        assert car.http_url, "carmesh run printed no http address:\n" + "\n".join(car.output)

        def scanned() -> bool:
            artists = api(car, "GET", "/api/media/browse?node=library/artists")["children"]
            return {a["title"] for a in artists} == {WANG_FEI, ANE_BRUN}

        wait_until(scanned, what="the library was scanned")
        yield car


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("CARMESH_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def screens(new_page: PageFactory, artifacts: Path) -> Iterator[Screens]:  # noqa: F811
    """Pages watched for console errors and requests leaving the car (test_pages.py)."""
    s = Screens(new_page, artifacts)
    yield s
    for screen in s.opened:
        screen.check()


@pytest.fixture
def parked(media_car: RunningCar) -> Iterator[RunningCar]:
    """The media car, parked again after the test whatever it did."""
    yield media_car
    publish(media_car, {"Vehicle.Speed": 0.0})


def until(page: Page, check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Wait until *check* holds, letting Playwright work meanwhile: it passes the page's
    requests on (every request goes through the route that keeps them on the car), so a
    plain sleep would hold up the very fetches the test waits for."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        page.wait_for_timeout(50)


def rows(page: Page, testid: str) -> Locator:
    return page.locator(f"[data-testid={testid}] .mv-row")


def open_media(screens: Screens, car: RunningCar, **settings: str) -> Page:
    page = screens.open(car, **settings)
    page.get_by_test_id("nav-media").click()
    expect(page.locator("cm-media-view")).to_be_visible()
    expect(page.get_by_test_id("media-off")).to_be_hidden()
    return page


def loaded(page: Page, image: Locator) -> None:
    """Wait until *image* shows a picture the car served."""
    expect(image).to_have_attribute("src", re.compile(r"^/api/media/art/\w+"))
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=10_000
    )


# -- the media page -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_browse_play_queue_and_transport(parked: RunningCar, screens: Screens, lang: str) -> None:
    car = parked
    words = strings(lang)["media"]
    page = open_media(screens, car, lang=lang)
    expect(page.get_by_test_id("media-tab-queue")).to_have_text(words["tab_queue"])
    browse = rows(page, "media-browse")
    expect(browse).to_have_count(4)  # library, radio, podcasts, apps
    browse.filter(has_text=words["nodes"]["library"]).click()
    browse.filter(has_text=words["nodes"]["artists"]).click()
    browse.filter(has_text=WANG_FEI).click()
    browse.filter(has_text=CHANG_YOU).click()
    expect(browse).to_have_count(len(CHANG_YOU_TRACKS))
    crumbs = page.get_by_test_id("media-crumbs")
    expect(crumbs.locator("[aria-current=page]")).to_have_text(CHANG_YOU)
    expect(crumbs).to_contain_text(words["nodes"]["artists"])
    # A track plays, with the rest of its album after it.
    browse.filter(has_text="红豆").click()
    expect(page.get_by_test_id("media-title")).to_have_text("红豆")
    expect(page.get_by_test_id("media-artist-line")).to_have_text(WANG_FEI)
    expect(page.get_by_test_id("media-album")).to_have_text(CHANG_YOU)
    until(page, lambda: driver(car)["state"] == "playing", what="the track plays")
    view = page.locator("cm-media-view")
    expect(view).to_have_attribute("data-playing", "true")
    loaded(page, page.locator("[data-testid=media-art] img"))
    expect(page.get_by_test_id("media-duration")).to_have_text("4:00")
    expect(page.get_by_test_id("media-seek")).to_be_enabled()
    page.get_by_test_id("media-tab-queue").click()
    queue = page.get_by_test_id("media-queue-item")
    expect(queue).to_have_count(len(CHANG_YOU_TRACKS))
    for row, (title, _) in zip(queue.all(), CHANG_YOU_TRACKS, strict=True):
        expect(row).to_contain_text(title)
    expect(queue.nth(0)).to_have_attribute("aria-current", "true")
    screens.snap(page, f"media-queue-night-{lang}")
    # Next moves on; play-pause pauses and plays.
    page.get_by_test_id("media-view-next").click()
    expect(page.get_by_test_id("media-title")).to_have_text("容易受伤的女人")
    expect(queue.nth(1)).to_have_attribute("aria-current", "true")
    expect(queue.nth(0)).not_to_have_attribute("aria-current", "true")
    page.get_by_test_id("media-view-play").click()
    until(page, lambda: driver(car)["state"] == "paused", what="paused")
    expect(view).to_have_attribute("data-playing", "false")
    expect(page.get_by_test_id("media-status")).to_have_text(words["state_paused"])
    page.get_by_test_id("media-view-play").click()
    until(page, lambda: driver(car)["state"] == "playing", what="playing again")
    expect(view).to_have_attribute("data-playing", "true")
    assert playing_title(car) == "容易受伤的女人"
    # The page shows the playing position, and it moves.
    elapsed = page.get_by_test_id("media-elapsed")
    shown = elapsed.inner_text()
    page.wait_for_function(
        "t => document.querySelector('[data-testid=media-elapsed]').textContent !== t", arg=shown
    )
    screens.snap(page, f"media-playing-night-{lang}")
    # Home: the card shows the track, its cover and its progress, and opens the page again.
    page.get_by_test_id("media-back").click()
    expect(view).to_be_hidden()
    expect(page.get_by_test_id("media-track")).to_have_text("容易受伤的女人")
    expect(page.get_by_test_id("media-artist")).to_contain_text(WANG_FEI)
    loaded(page, page.locator("cm-media-card .mc-art img"))
    expect(page.get_by_test_id("media-progress")).to_be_visible()
    expect(page.locator("cm-media-card .mc-total")).to_have_text("4:00")
    screens.snap(page, f"centre-media-card-night-{lang}")
    page.get_by_test_id("media-next").click()  # the card's next actuates Media.Action
    expect(page.get_by_test_id("media-track")).to_have_text("暧昧")
    page.get_by_test_id("media-play").click()
    until(page, lambda: driver(car)["state"] == "paused", what="the card paused it")
    expect(page.locator("cm-media-card")).to_have_attribute("data-playing", "false")
    page.get_by_test_id("media-open").click()
    expect(view).to_be_visible()
    expect(page.get_by_test_id("media-title")).to_have_text("暧昧")


def test_seek_shuffle_repeat_and_volume(parked: RunningCar, screens: Screens) -> None:
    car = parked
    album_node = node_of(car, node_of(car, "library/artists", ANE_BRUN), COAST)
    api(car, "POST", "/api/media/play", json={"node": album_node, "zone": "driver"})
    page = open_media(screens, car)
    expect(page.get_by_test_id("media-title")).to_have_text(COAST_TRACKS[0][0])
    expect(page.get_by_test_id("media-duration")).to_have_text("0:20")
    seek = page.get_by_test_id("media-seek")
    seek.fill("15")  # a let-go of the slider at 0:15
    until(page, lambda: driver(car)["position"] >= 14.5, what="the seek reached the car")
    shuffle = page.get_by_test_id("media-shuffle")
    expect(shuffle).to_have_attribute("aria-pressed", "false")
    shuffle.click()
    until(page, lambda: driver(car)["shuffle"] is True, what="shuffle on")
    expect(shuffle).to_have_attribute("aria-pressed", "true")
    shuffle.click()
    until(page, lambda: driver(car)["shuffle"] is False, what="shuffle off")
    repeat = page.get_by_test_id("media-repeat")
    for mode in ("all", "one", "off"):
        repeat.click()
        until(page, lambda m=mode: driver(car)["repeat"] == m, what=f"repeat {mode}")
        expect(repeat).to_have_attribute("data-repeat", mode)
    before = driver(car)["volume"]
    target = 30 if before != 30 else 40
    page.get_by_test_id("media-volume").fill(str(target))
    until(page, lambda: driver(car)["volume"] == target, what="the volume was set")
    page.get_by_test_id("media-volume-up").click()
    until(page, lambda: driver(car)["volume"] == target + 5, what="louder")
    expect(page.get_by_test_id("media-volume-value")).to_have_text(str(target + 5))


def test_the_queue_moves_removes_and_plays_from_an_item(
    parked: RunningCar, screens: Screens
) -> None:
    car = parked
    chang_you = node_of(car, node_of(car, "library/artists", WANG_FEI), CHANG_YOU)
    api(car, "POST", "/api/media/play", json={"node": chang_you, "zone": "driver"})
    page = open_media(screens, car)
    page.get_by_test_id("media-tab-queue").click()
    queue = page.get_by_test_id("media-queue-item")
    expect(queue).to_have_count(3)
    expect(queue.nth(0)).to_have_attribute("aria-current", "true")
    expect(queue.nth(0).get_by_test_id("media-queue-up")).to_be_disabled()
    expect(queue.nth(2).get_by_test_id("media-queue-down")).to_be_disabled()

    def titles() -> list[str]:
        return [i["title"] for i in api(car, "GET", "/api/media/queue?zone=driver")["items"]]

    queue.nth(2).get_by_test_id("media-queue-up").click()
    until(page, lambda: titles() == ["红豆", "暧昧", "容易受伤的女人"], what="moved up")
    expect(queue.nth(1)).to_contain_text("暧昧")
    queue.nth(1).get_by_test_id("media-queue-down").click()
    until(page, lambda: titles() == ["红豆", "容易受伤的女人", "暧昧"], what="moved down")
    expect(queue.nth(2)).to_contain_text("暧昧")
    # Play from here: the third item becomes current and plays.
    queue.nth(2).locator("[data-do=play]").click()
    until(page, lambda: playing_title(car) == "暧昧", what="played from the third item")
    until(page, lambda: driver(car)["state"] == "playing", what="it plays")
    expect(queue.nth(2)).to_have_attribute("aria-current", "true")
    expect(page.get_by_test_id("media-title")).to_have_text("暧昧")
    # ... and back to the first.
    queue.nth(0).locator("[data-do=play]").click()
    until(page, lambda: playing_title(car) == "红豆", what="played from the first item")
    queue.nth(1).get_by_test_id("media-queue-remove").click()
    until(page, lambda: titles() == ["红豆", "暧昧"], what="removed")
    expect(queue).to_have_count(2)


def test_search_while_parked_and_the_rules_while_moving(
    parked: RunningCar, screens: Screens
) -> None:
    car = parked
    en = strings("en")
    page = open_media(screens, car)
    page.get_by_test_id("media-tab-search").click()
    field = page.get_by_test_id("media-search")
    expect(field).to_be_enabled()
    expect(field).to_have_attribute("placeholder", en["media"]["search_placeholder"])
    field.fill("红豆")
    found = rows(page, "media-results")
    expect(found).to_have_count(1)
    expect(found.first).to_contain_text(WANG_FEI)
    found.first.click()
    until(page, lambda: playing_title(car) == "红豆", what="the search result plays")
    field.fill("lighthouse")
    expect(found).to_have_count(1)
    field.fill("ane")  # Ane Brun: the Coast's eight tracks
    expect(found).to_have_count(len(COAST_TRACKS))
    # The album with eight tracks: all while parked.
    page.get_by_test_id("media-tab-browse").click()
    browse = rows(page, "media-browse")
    page.locator("[data-testid=media-crumbs] [data-depth='0']").click()
    browse.filter(has_text=en["media"]["nodes"]["library"]).click()
    browse.filter(has_text=en["media"]["nodes"]["albums"]).click()
    browse.filter(has_text=COAST).click()
    expect(browse).to_have_count(len(COAST_TRACKS))
    # Driving: no typing, lists cut to six, saying how many more show when parked.
    publish(car, {"Vehicle.Speed": 50.0})
    expect(page.locator("html")).to_have_attribute("data-moving", "true")
    expect(browse).to_have_count(6)
    more = page.locator("[data-tab-panel=browse] .mv-more")
    expect(more).to_have_text("2 more when parked")
    screens.snap(page, "media-driving-night-en")
    page.get_by_test_id("media-tab-search").click()
    expect(field).to_be_disabled()
    expect(field).to_have_attribute("placeholder", en["media"]["search_parked"])
    expect(found).to_have_count(6)
    expect(page.locator("[data-tab-panel=search] .mv-more")).to_be_visible()
    publish(car, {"Vehicle.Speed": 0.0})
    expect(page.locator("html")).to_have_attribute("data-moving", "false")
    expect(field).to_be_enabled()
    expect(found).to_have_count(len(COAST_TRACKS))
    page.get_by_test_id("media-tab-browse").click()
    expect(browse).to_have_count(len(COAST_TRACKS))
    expect(more).to_be_hidden()


def test_a_podcast_is_subscribed_by_its_address_when_parked(
    parked: RunningCar, screens: Screens
) -> None:
    car = parked
    en = strings("en")["media"]
    server = LoopbackServer()
    try:
        audio = server.file("/ep1.mp3", b"", "audio/mpeg")
        url = server.file("/feed.xml", FEED.format(audio=audio).encode(), "application/rss+xml")
        page = open_media(screens, car)
        browse = rows(page, "media-browse")
        browse.filter(has_text=en["nodes"]["podcasts"]).click()
        form = page.get_by_test_id("media-subscribe")
        expect(form).to_be_visible()
        address = page.get_by_test_id("media-feed-url")
        expect(address).to_be_enabled()
        publish(car, {"Vehicle.Speed": 50.0})
        expect(address).to_be_disabled()
        expect(address).to_have_attribute("placeholder", en["typing_parked"])
        publish(car, {"Vehicle.Speed": 0.0})
        expect(address).to_be_enabled()
        address.fill(url)
        page.get_by_test_id("media-subscribe-go").click()
        expect(browse.filter(has_text=FEED_TITLE)).to_have_count(1)
        expect(address).to_have_value("")
    finally:
        server.close()


def test_the_rear_zone_has_its_own_player(parked: RunningCar, screens: Screens) -> None:
    car = parked
    api(car, "POST", "/api/media/play", json={"uri": first_uri(car), "zone": "driver"})
    zh = strings("zh-CN")["media"]
    page = open_media(screens, car, lang="zh-CN")
    zones = page.get_by_test_id("media-zones")
    expect(zones).to_be_visible()
    expect(page.get_by_test_id("media-zone-rear")).to_have_text(zh["zone_rear"])
    expect(page.get_by_test_id("media-title")).to_have_text("红豆")
    page.get_by_test_id("media-zone-rear").click()
    expect(page.get_by_test_id("media-zone-rear")).to_have_attribute("aria-checked", "true")
    rear = api(car, "GET", "/api/media/state")["zones"]["rear"]
    if rear["item"] is None:
        expect(page.get_by_test_id("media-title")).to_have_text(zh["nothing_playing"])
    browse = rows(page, "media-browse")
    browse.filter(has_text=zh["nodes"]["library"]).click()
    browse.filter(has_text=zh["nodes"]["albums"]).click()
    browse.filter(has_text=COAST).click()
    browse.filter(has_text="Halo").click()
    until(
        page,
        lambda: (
            (api(car, "GET", "/api/media/state")["zones"]["rear"]["item"] or {}).get("title")
            == "Halo"
        ),
        what="the rear zone plays",
    )
    expect(page.get_by_test_id("media-title")).to_have_text("Halo")
    assert playing_title(car) == "红豆"  # the driver's zone plays on
    page.get_by_test_id("media-zone-driver").click()
    expect(page.get_by_test_id("media-title")).to_have_text("红豆")
    api(car, "POST", "/api/media/transport", json={"zone": "rear", "command": "pause"})


def first_uri(car: RunningCar) -> str:
    chang_you = node_of(car, node_of(car, "library/artists", WANG_FEI), CHANG_YOU)
    children = api(car, "GET", f"/api/media/browse?node={quote(chang_you, safe='')}")["children"]
    return children[0]["uri"]  # type: ignore[no-any-return]


# -- the cluster ----------------------------------------------------------------------------------


def test_the_cluster_shows_the_track_and_its_buttons_drive_it(
    parked: RunningCar, screens: Screens
) -> None:
    car = parked
    api(car, "POST", "/api/media/play", json={"uri": first_uri(car), "zone": "driver"})
    wait_until(lambda: driver(car)["state"] == "playing", what="playing")
    page = screens.open(car, "/cluster", lang="zh-CN")
    track = page.get_by_test_id("cluster-media-track")
    expect(track).to_have_text("红豆")
    expect(page.get_by_test_id("cluster-media-artist")).to_have_text(WANG_FEI)
    expect(page.locator("cm-cluster-media")).to_have_attribute("data-playing", "true")
    screens.snap(page, "cluster-media-night-zh-CN")
    # The steering wheel's buttons, as keys: next, play-pause, previous.
    page.keyboard.press("ArrowRight")
    expect(track).to_have_text("容易受伤的女人")
    until(page, lambda: playing_title(car) == "容易受伤的女人", what="skipped forward")
    page.keyboard.press("Space")
    until(page, lambda: driver(car)["state"] == "paused", what="paused by Space")
    expect(page.locator("cm-cluster-media")).to_have_attribute("data-playing", "false")
    page.keyboard.press("Space")
    until(page, lambda: driver(car)["state"] == "playing", what="playing by Space")
    before = driver(car)
    page.keyboard.press("ArrowLeft")
    # Previous: the item before, or this one from its start when more than 3 s played.
    until(
        page,
        lambda: driver(car)["queue_index"] < before["queue_index"] or driver(car)["position"] < 2.5,
        what="skipped backward",
    )
    # And the same by touch.
    page.get_by_test_id("cluster-media-next").click()
    until(
        page,
        lambda: (
            driver(car)["queue_index"] == before["queue_index"] + 1
            or driver(car)["queue_index"] == before["queue_index"]
        ),
        what="skipped forward by touch",
    )
    page.get_by_test_id("cluster-media-play").click()
    until(page, lambda: driver(car)["state"] == "paused", what="paused by touch")


# -- without the media service -------------------------------------------------------------------


def test_without_the_media_service_the_page_says_so(tmp_path: Path, screens: Screens) -> None:
    with running_car(tmp_path / "car", "--no-media") as car:
        page = screens.open(car)
        page.get_by_test_id("nav-media").click()
        expect(page.get_by_test_id("media-off")).to_be_visible()
        expect(page.get_by_test_id("media-off")).to_have_text(strings("en")["media"]["unavailable"])
        expect(page.get_by_test_id("media-view-play")).to_be_disabled()
        page.get_by_test_id("media-back").click()
        expect(page.get_by_test_id("media-track")).to_have_text(
            strings("en")["media"]["nothing_playing"]
        )
        publish(car, {f"{MEDIA}.Played.Track": "Evening news", f"{MEDIA}.Action": "PLAY"})
        expect(page.get_by_test_id("media-track")).to_have_text("Evening news")
        expect(page.get_by_test_id("media-progress")).to_be_hidden()
