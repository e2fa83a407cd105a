"""The local library against real audio files: synthesised with numpy, encoded with PyAV,
tagged with mutagen (ID3 + APIC, Vorbis comments + PICTURE, MP4 atoms + covr)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TALB, TCMP, TCON, TDRC, TIT2, TPE1, TPE2, TPOS, TRCK
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from carmesh.errors import ConfigError, NotFound
from carmesh.media.library import BATCH_FILES, Library, ScanReport
from carmesh.media.library_scan import UNKNOWN_ALBUM, UNKNOWN_ARTIST, VARIOUS_ARTISTS, clean, fold
from tests.media.audio import encode, sine
from tests.support.images import png

# -- audio and images ---------------------------------------------------------------------------

SECONDS = 0.25
#: file suffix → codec of tests.media.audio
_CODECS = {
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "vorbis",
    "opus": "opus",
    "m4a": "aac",
    "wav": "wav",
}


def _jpeg(shade: int) -> bytes:
    codec: Any = av.CodecContext.create("mjpeg", "w")
    codec.width = codec.height = 8
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 25)
    image = np.full((8, 8, 3), shade, np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuvj420p")
    return bytes((codec.encode(frame) + codec.encode(None))[0])


Cover = tuple[bytes, str]


def _tag(path: Path, cover: Cover | None = None, **tags: Any) -> None:
    """Write *tags* (title, artist, album, album_artist, genre, number, disc, date,
    compilation) and *cover* the way the file's format keeps them."""
    kind = path.suffix[1:]
    if kind in ("mp3", "wav"):
        frames = {
            "title": TIT2,
            "artist": TPE1,
            "album_artist": TPE2,
            "album": TALB,
            "genre": TCON,
            "number": TRCK,
            "disc": TPOS,
            "date": TDRC,
        }
        if kind == "wav":
            wave = WAVE(path)
            wave.add_tags()
            id3 = wave.tags
        else:
            id3 = ID3()
        for name, value in tags.items():
            if name == "compilation":
                id3.add(TCMP(encoding=3, text=["1" if value else "0"]))
            else:
                id3.add(frames[name](encoding=3, text=[str(value)]))
        if cover:
            id3.add(APIC(encoding=3, mime=cover[1], type=3, desc="Cover", data=cover[0]))
        if kind == "wav":
            wave.save()
        else:
            id3.save(path)
        return
    if kind == "m4a":
        mp4 = MP4(path)
        atoms = {
            "title": "\xa9nam",
            "artist": "\xa9ART",
            "album_artist": "aART",
            "album": "\xa9alb",
            "genre": "\xa9gen",
            "date": "\xa9day",
        }
        for name, value in tags.items():
            if name == "number":
                mp4["trkn"] = [(int(value), 0)]
            elif name == "disc":
                mp4["disk"] = [(int(value), 0)]
            elif name == "compilation":
                mp4["cpil"] = bool(value)
            else:
                mp4[atoms[name]] = [str(value)]
        if cover:
            fmt = MP4Cover.FORMAT_PNG if cover[1] == "image/png" else MP4Cover.FORMAT_JPEG
            mp4["covr"] = [MP4Cover(cover[0], imageformat=fmt)]
        mp4.save()
        return
    audio: Any = {"flac": FLAC, "ogg": OggVorbis, "opus": OggOpus}[kind](path)
    keys = {"album_artist": "albumartist", "number": "tracknumber", "disc": "discnumber"}
    for name, value in tags.items():
        value = ("1" if value else "0") if name == "compilation" else str(value)
        audio[keys.get(name, name)] = [value]
    if cover:
        picture = Picture()
        picture.type, picture.mime, picture.data = 3, cover[1], cover[0]
        if kind == "flac":
            audio.add_picture(picture)
        else:
            audio["metadata_block_picture"] = [base64.b64encode(picture.write()).decode()]
    audio.save()


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One untagged file per format; tests copy and tag them (encoding is the slow part)."""
    folder = tmp_path_factory.mktemp("templates")
    found = {}
    for kind in _CODECS:
        found[kind] = encode(folder / f"template.{kind}", sine(440.0, SECONDS, 0.3), _CODECS[kind])
    return found


class Music:
    """A music folder that tests fill with tagged copies of the templates."""

    def __init__(self, root: Path, templates: dict[str, Path]) -> None:
        self.root = root
        self.templates = templates

    def add(self, relative: str, cover: Cover | None = None, **tags: Any) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.templates[path.suffix[1:]], path)
        if tags or cover:
            _tag(path, cover, **tags)
        return path


@pytest.fixture
def music(tmp_path: Path, templates: dict[str, Path]) -> Music:
    return Music(tmp_path / "Music", templates)


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    library = Library(tmp_path / "index" / "library.db")
    yield library
    library.close()


def _one(lib: Library, title: str) -> Any:
    found = [item for item in lib.tracks() if item.title == title]
    assert len(found) == 1, (title, [i.title for i in lib.tracks()])
    return found[0]


def _art_key(item: Any) -> str:
    assert item.art is not None and item.art.startswith("/api/media/art/")
    return str(item.art.rsplit("/", 1)[1])


# -- tags, formats, fallbacks -----------------------------------------------------------------


def test_every_format_gives_tags_duration_and_cover_art(lib: Library, music: Music) -> None:
    covers = {kind: (_jpeg(20 * i), "image/jpeg") for i, kind in enumerate(_CODECS)}
    covers["flac"] = (png(4, (1, 2, 3)), "image/png")
    covers["m4a"] = (png(4, (4, 5, 6)), "image/png")
    titles = {"mp3": "晴天", "flac": "以父之名", "ogg": "东风破", "opus": "七里香"}
    titles |= {"m4a": "稻香", "wav": "夜曲"}
    for number, kind in enumerate(_CODECS, start=1):
        music.add(
            f"周杰伦/叶惠美/{number:02d}.{kind}",
            covers[kind],
            title=titles[kind],
            artist="周杰伦",
            album="叶惠美",
            genre="Mandopop",
            number=number,
            disc=1,
            date="2003-07-31",
        )
    report = lib.scan([music.root])
    assert isinstance(report, ScanReport)
    assert (report.added, report.updated, report.removed, report.failed) == (6, 0, 0, [])
    assert lib.count() == 6
    for number, kind in enumerate(_CODECS, start=1):
        item = _one(lib, titles[kind])
        assert item.uri.startswith("library:track/")
        assert (item.artist, item.album, item.genre, item.source) == (
            "周杰伦",
            "叶惠美",
            "Mandopop",
            "USB",
        )
        assert item.extra["number"] == number and item.extra["disc"] == 1
        assert item.extra["year"] == 2003
        assert item.duration is not None and abs(item.duration - SECONDS) < 0.1, kind
        assert lib.art(_art_key(item)) == covers[kind], kind
        track_id = int(item.uri.split("/")[1])
        assert lib.item(track_id) == item
        assert (
            lib.path(track_id).read_bytes()[:4]
            == (music.root / f"周杰伦/叶惠美/{number:02d}.{kind}").read_bytes()[:4]
        )
    assert [a["name"] for a in lib.artists()] == ["周杰伦"]
    [album] = lib.albums()
    assert (album["title"], album["artist"], album["year"], album["tracks"]) == (
        "叶惠美",
        "周杰伦",
        2003,
        6,
    )
    assert album["art"] == _one(lib, "晴天").art
    assert [i.title for i in lib.tracks(album=album["id"])] == list(titles.values())


def test_missing_tags_fall_back_to_file_and_folder_names(lib: Library, music: Music) -> None:
    music.add("Some Band/Best Of/03 - Song Name.flac")
    music.add("Some Band/Best Of/1984.mp3")
    (music.root / "Some Band/Best Of/cover.jpg").write_bytes(_jpeg(90))
    music.add("loose.ogg")
    music.add("Tagged/no album.m4a", title="Titled", artist="Someone")
    music.add("A/CD1/01 first.wav")
    music.add("B/CD1/01 first.wav")
    assert lib.scan([music.root]).failed == []
    song = _one(lib, "Song Name")
    assert (song.artist, song.album, song.extra["number"]) == (UNKNOWN_ARTIST, "Best Of", 3)
    assert lib.art(_art_key(song)) == (_jpeg(90), "image/jpeg")
    assert _one(lib, "1984").extra["number"] is None
    loose = _one(lib, "loose")
    assert (loose.album, loose.art) == (UNKNOWN_ALBUM, None)
    titled = _one(lib, "Titled")
    assert (titled.artist, titled.album) == ("Someone", "Tagged")
    cd1 = [a for a in lib.albums() if a["title"] == "CD1"]
    assert len(cd1) == 2, "two untagged folders of the same name stay two albums"
    assert {a["title"] for a in lib.albums(UNKNOWN_ARTIST)} == {"Best Of", "CD1", UNKNOWN_ALBUM}


def test_the_front_cover_wins_and_bad_images_are_ignored(lib: Library, music: Music) -> None:
    path = music.add("a/1.mp3", title="One")
    id3 = ID3(path)
    id3.add(APIC(encoding=3, mime="image/png", type=4, desc="back", data=png(4, (9, 9, 9))))
    id3.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="front", data=_jpeg(10)))
    id3.save(path)
    broken = music.add("b/2.flac", (b"not an image", "image/jpeg"), title="Two")
    (broken.parent / "folder.png").write_bytes(png(4, (7, 7, 7)))
    (broken.parent / "cover.jpg").write_bytes(b"not a jpeg either")
    music.add("c/3.m4a", (b"\x00" * 64, "image/jpeg"), title="Three")
    assert lib.scan([music.root]).failed == []
    assert lib.art(_art_key(_one(lib, "One"))) == (_jpeg(10), "image/jpeg")
    two = _one(lib, "Two")
    assert lib.art(_art_key(two)) == (png(4, (7, 7, 7)), "image/png"), "cover.jpg is broken"
    assert _one(lib, "Three").art is None


def test_album_artist_and_compilations_group_albums(lib: Library, music: Music) -> None:
    for n, artist in enumerate(["Ann", "Bob", "Cy"], start=1):
        music.add(f"Mix/{n}.mp3", title=f"Mix {n}", artist=artist, album="Mix", compilation=True)
        music.add(
            f"Duets/{n}.flac", title=f"Duet {n}", artist=artist, album="Duets", album_artist="Ann"
        )
    lib.scan([music.root])
    albums = {a["title"]: a for a in lib.albums()}
    assert albums["Mix"]["artist"] == VARIOUS_ARTISTS and albums["Mix"]["tracks"] == 3
    assert albums["Duets"]["artist"] == "Ann" and albums["Duets"]["tracks"] == 3
    assert [a["title"] for a in lib.albums("Bob")] == ["Duets", "Mix"]
    artists = {a["name"]: a for a in lib.artists()}
    assert set(artists) == {"Ann", "Bob", "Cy", VARIOUS_ARTISTS}
    assert (artists["Ann"]["albums"], artists["Ann"]["tracks"]) == (2, 4)
    assert len(lib.tracks(artist="Ann")) == 4


def test_album_order_is_disc_then_number_then_title(lib: Library, music: Music) -> None:
    tags = [("b", 2, 1), ("a", 1, 2), ("c", 1, 1), ("z", 1, None), ("y", 1, None)]
    for title, disc, number in tags:
        extra = {} if number is None else {"number": number}
        music.add(f"x/{title}.flac", title=title, album="Set", artist="P", disc=disc, **extra)
    lib.scan([music.root])
    [album] = lib.albums()
    assert [i.title for i in lib.tracks(album=album["id"])] == ["c", "a", "y", "z", "b"]
    node = lib.browse(f"library/album/{album['id']}")
    assert [c["title"] for c in node["children"]] == ["c", "a", "y", "z", "b"]


# -- incremental scans ------------------------------------------------------------------------


def test_rescans_are_incremental_and_ids_stable(lib: Library, music: Music) -> None:
    paths = [music.add(f"a/{n}.mp3", title=f"T{n}", artist="A", album="Al") for n in range(5)]
    first = lib.scan([music.root])
    assert (first.added, first.unchanged) == (5, 0)
    ids = {i.title: i.uri for i in lib.tracks()}
    again = lib.scan([music.root])
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 5)
    _tag(paths[1], title="Renamed", artist="A", album="Al")
    stat = paths[1].stat()
    os.utime(paths[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    paths[2].unlink()
    music.add("a/new.mp3", title="New", artist="A", album="Al")
    report = lib.scan([music.root])
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 3)
    assert _one(lib, "Renamed").uri == ids["T1"]
    with pytest.raises(NotFound):
        lib.item(int(ids["T2"].split("/")[1]))
    new_id = int(_one(lib, "New").uri.split("/")[1])
    assert new_id > max(int(uri.split("/")[1]) for uri in ids.values()), "ids are never reused"


def test_only_tracks_under_the_scanned_folders_are_removed(
    lib: Library, music: Music, tmp_path: Path
) -> None:
    music.add("A/1.flac", title="in A")
    music.add("B/1.flac", title="in B")
    lib.scan([music.root / "A"])
    lib.scan([music.root / "B"])
    assert lib.count() == 2
    (music.root / "A/1.flac").unlink()
    assert lib.scan([music.root / "B"]).removed == 0
    assert lib.count() == 2
    assert lib.scan(music.root / "A").removed == 1, "a single path is a list of one"
    missing = tmp_path / "unplugged"
    report = lib.scan([music.root / "B", missing])
    assert report.failed == [(str(missing), "the folder does not exist")]
    assert lib.count() == 1
    shutil.rmtree(music.root / "B")
    assert lib.scan([music.root / "B"]).removed == 1
    assert lib.count() == 0 and lib.albums() == [] and lib.artists() == []


def test_unreadable_files_are_reported_and_never_stop_the_scan(lib: Library, music: Music) -> None:
    music.add("ok/good.flac", title="Good")
    broken = music.add("ok/broken.mp3", title="Was fine")
    (music.root / "bad").mkdir()
    (music.root / "bad/garbage.mp3").write_bytes(b"not audio at all " * 200)
    (music.root / "bad/empty.m4a").write_bytes(b"")
    (music.root / "bad/text.ogg").write_text("hello")
    truncated = music.templates["flac"].read_bytes()[:30]
    (music.root / "bad/truncated.flac").write_bytes(truncated)
    (music.root / "bad/notes.txt").write_text("ignored: not an audio file name")
    (music.root / "bad/._hidden.mp3").write_bytes(b"macOS resource fork")
    report = lib.scan([music.root])
    assert report.added == 2
    names = sorted(Path(path).name for path, _ in report.failed)
    assert names == ["empty.m4a", "garbage.mp3", "text.ogg", "truncated.flac"]
    assert all(isinstance(reason, str) and reason for _, reason in report.failed)
    broken.write_bytes(b"\xff\x00" * 10)
    report = lib.scan([music.root])
    assert report.removed == 1 and str(broken) in [path for path, _ in report.failed]
    assert [i.title for i in lib.tracks()] == ["Good"]
    json.dumps(report.as_json())


def test_a_file_name_that_is_not_utf8_is_indexed(
    lib: Library, music: Music, tmp_path: Path
) -> None:
    music.add("x/placeholder.flac")
    name = os.path.join(os.fsencode(music.root / "x"), b"caf\xe9 \xff.flac")
    shutil.move(music.root / "x/placeholder.flac", os.fsdecode(name))
    (music.root / os.fsdecode(b"x/bad \xff.mp3")).write_bytes(b"not audio")
    report = lib.scan([music.root])
    assert [path for path, _ in report.failed] == [str(music.root / "x/bad \ufffd.mp3")]
    json.dumps(report.as_json(), ensure_ascii=False).encode()
    [item] = lib.tracks()
    assert item.title == "caf\ufffd \ufffd"
    assert lib.path(int(item.uri.split("/")[1])).exists()
    node = lib.browse("library/folders")["children"][0]["id"]
    folder = lib.browse(lib.browse(node)["children"][0]["id"])
    assert folder["children"][0]["uri"] == item.uri
    json.dumps(folder, ensure_ascii=False).encode()


def test_cover_art_is_shared_by_content_and_collected(lib: Library, music: Music) -> None:
    cover = (_jpeg(60), "image/jpeg")
    for n in range(3):
        music.add(f"al/{n}.mp3", cover, title=f"t{n}", album="Al", artist="A")
    lib.scan([music.root])
    keys = {_art_key(i) for i in lib.tracks()}
    assert len(keys) == 1 and os.listdir(lib.art_dir) == list(keys)
    for bad in ("../library.db", "", "x" * 32, "A" * 32):
        with pytest.raises(NotFound):
            lib.art(bad)
    shutil.rmtree(music.root / "al")
    lib.scan([music.root])
    assert os.listdir(lib.art_dir) == []
    with pytest.raises(NotFound):
        lib.art(keys.pop())


# -- browse and search ------------------------------------------------------------------------


@pytest.fixture
def shelf(lib: Library, music: Music) -> Library:
    music.add(
        "Taylor/Fearless/1.mp3",
        title="Love Story",
        artist="Taylor",
        album="Fearless",
        genre="Pop",
        number=1,
    )
    music.add(
        "Taylor/Fearless/2.flac",
        title="White Horse",
        artist="Taylor",
        album="Fearless",
        genre="Pop",
        number=2,
    )
    music.add(
        "Beyonce/Dangerously/1.m4a",
        title="Crazy in Love",
        artist="Beyoncé",
        album="Dangerously",
        genre="R&B",
    )
    music.add("Band/Halo.ogg", title="Halo", artist="Love Band", album="Songs", genre="Rock")
    music.add("Band/x.opus", title="Untitled", artist="Nobody", album="Lovely Album")
    music.add(
        "周杰伦/叶惠美/晴天.wav", title="晴天", artist="周杰伦", album="叶惠美", genre="Mandopop"
    )
    lib.scan([music.root])
    return lib


def test_browse_tree(shelf: Library, music: Music) -> None:
    root = shelf.browse("library")
    assert root["node"] == {"id": "library", "title": "Library", "kind": "folder"}
    assert [c["id"] for c in root["children"]] == [
        "library/artists",
        "library/albums",
        "library/genres",
        "library/folders",
    ]
    artists = shelf.browse("library/artists")
    assert artists["node"]["title"] == "Artists"
    assert [c["title"] for c in artists["children"]] == [
        "Beyoncé",
        "Love Band",
        "Nobody",
        "Taylor",
        "周杰伦",
    ]
    taylor = shelf.browse("library/artist/Taylor")
    assert [c["title"] for c in taylor["children"]] == ["Fearless"]
    fearless = shelf.browse(taylor["children"][0]["id"])
    assert fearless["node"]["title"] == "Fearless"
    assert [(c["title"], c["kind"], c["subtitle"]) for c in fearless["children"]] == [
        ("Love Story", "item", "Taylor"),
        ("White Horse", "item", "Taylor"),
    ]
    assert all(
        c["uri"] == c["id"] and c["uri"].startswith("library:track/") for c in fearless["children"]
    )
    albums = shelf.browse("library/albums")["children"]
    assert [a["title"] for a in albums] == [
        "Dangerously",
        "Fearless",
        "Lovely Album",
        "Songs",
        "叶惠美",
    ]
    assert albums[1]["subtitle"] == "Taylor"
    genres = shelf.browse("library/genres")["children"]
    assert [g["id"] for g in genres] == [
        "library/genre/Mandopop",
        "library/genre/Pop",
        "library/genre/R&B",
        "library/genre/Rock",
    ]
    assert [c["title"] for c in shelf.browse("library/genre/Pop")["children"]] == [
        "Love Story",
        "White Horse",
    ]
    [top] = shelf.browse("library/folders")["children"]
    assert (top["title"], top["subtitle"]) == ("Music", str(music.root))
    inside = shelf.browse(top["id"])
    assert [c["title"] for c in inside["children"]] == ["Band", "Beyonce", "Taylor", "周杰伦"]
    band = shelf.browse(inside["children"][0]["id"])
    assert [(c["title"], c["kind"]) for c in band["children"]] == [
        ("Halo", "item"),
        ("Untitled", "item"),
    ]
    assert shelf.folders()[0]["tracks"] == 6
    assert [f["name"] for f in shelf.folders(music.root / "Taylor")] == ["Fearless"]
    assert [i.title for i in shelf.tracks(folder=music.root / "Band")] == ["Halo", "Untitled"]
    for missing in (
        "radio",
        "library/nothing",
        "library/artist/Nobody Else",
        "library/album/999",
        "library/album/x",
        "library/genre/Jazz",
        "library/folder//nowhere",
        "library/artist/",
    ):
        with pytest.raises(NotFound):
            shelf.browse(missing)
    json.dumps([shelf.browse(n) for n in ("library/albums", "library/artists")], ensure_ascii=False)


def test_search_ranks_and_folds_case_accents_and_width(shelf: Library) -> None:
    titles = [i.title for i in shelf.search("love")]
    assert titles == ["Love Story", "Crazy in Love", "Halo", "Untitled"]
    assert [i.title for i in shelf.search("ＬＯＶＥ")] == titles
    assert [i.title for i in shelf.search("BEYONCE")] == ["Crazy in Love"]
    assert [i.title for i in shelf.search("beyoncé crazy")] == ["Crazy in Love"]
    assert [i.title for i in shelf.search("taylor white")] == ["White Horse"]
    assert [i.title for i in shelf.search("晴")] == ["晴天"]
    assert [i.title for i in shelf.search("杰伦")] == ["晴天"]
    assert [i.title for i in shelf.search("惠美")] == ["晴天"]
    assert shelf.search("") == shelf.search("   ") == shelf.search("zzz") == []
    assert len(shelf.search("love", limit=2)) == 2
    assert fold("Beyoncé  ＫＮＯＷＬＥＳ") == "beyonce knowles"


def test_search_random_text_never_raises_and_finds_every_title(lib: Library, music: Music) -> None:
    """Each example indexes one more FLAC whose title is the random text, then searches it."""
    made: list[str] = []

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(title=st.text(min_size=1, max_size=40), probe=st.text(max_size=20))
    def check(title: str, probe: str) -> None:
        assert isinstance(lib.search(probe), list)
        if not fold(title):
            return
        music.add(f"h/{len(made)}.flac", title=title, artist="H", album="H")
        made.append(title)
        assert lib.scan([music.root]).failed == []
        found = lib.search(title)
        assert clean(title) in [i.title for i in found], (title, [i.title for i in found])

    check()


_odd = st.text(
    st.characters(exclude_categories=("Cs",))
    | st.sampled_from("\x00\n\t\u200f\u0301\ufeff\U0001f3b5"),
    max_size=30,
)


def test_odd_unicode_in_tags_never_breaks_the_scan(lib: Library, music: Music) -> None:
    made = []

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        kind=st.sampled_from(["mp3", "flac", "m4a", "opus"]),
        tags=st.fixed_dictionaries(
            {},
            optional={
                "title": _odd,
                "artist": _odd,
                "album": _odd,
                "album_artist": _odd,
                "genre": _odd,
                "number": _odd,
                "date": _odd,
            },
        ),
    )
    def check(kind: str, tags: dict[str, str]) -> None:
        if kind == "m4a":
            tags.pop("number", None)
        try:
            music.add(f"odd/{len(made)}.{kind}", **tags)
        except Exception:
            return  # mutagen refused to write it; nothing to read
        made.append(kind)
        report = lib.scan([music.root])
        assert report.failed == []
        json.dumps(
            [lib.browse("library/artists"), lib.browse("library/albums")], ensure_ascii=False
        ).encode()
        for item in lib.tracks():
            assert item.title and item.artist and item.album

    check()
    assert lib.count() == len(made)


# -- crash safety, persistence, progress ------------------------------------------------------


_KILLED_SCAN = """
import sys, time
from pathlib import Path
from carmesh.media import library
library.BATCH_FILES = int(sys.argv[3])
def progress(done, total):
    print(done, total, flush=True)
    time.sleep(float(sys.argv[4]))  # a slow USB stick: the kill lands mid-scan
library.Library(Path(sys.argv[1])).scan([Path(sys.argv[2])], progress)
print("finished", flush=True)
"""


def test_sigkill_mid_scan_leaves_a_consistent_index(tmp_path: Path, music: Music) -> None:
    for n in range(300):
        cover = (png(4, (n % 7, 0, 0)), "image/png") if n % 3 == 0 else None
        music.add(
            f"{n // 20}/{n}.mp3",
            cover,
            title=f"track {n}",
            artist=f"artist {n % 9}",
            album=f"album {n // 20}",
        )
    db = tmp_path / "index" / "library.db"
    seen = []
    # default batches, killed while reading; then a commit per file, killed anywhere
    for kill_at, batch, pause in ((40, BATCH_FILES, 0.002), (170, BATCH_FILES, 0.002), (200, 1, 0)):
        child = subprocess.Popen(
            [sys.executable, "-c", _KILLED_SCAN, str(db), str(music.root), str(batch), str(pause)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        for line in child.stdout:
            if int(line.split()[0]) >= kill_at:
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        check = sqlite3.connect(db)
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert check.execute("PRAGMA foreign_key_check").fetchall() == []
        check.close()
        with Library(db) as lib:
            seen.append(lib.count())
    print(f"\nindex after SIGKILLs: {seen} of 300 tracks")
    assert 0 <= seen[0] <= seen[1] <= seen[2] < 300, seen
    with Library(db) as lib:
        report = lib.scan([music.root])
        assert report.failed == [] and report.added + report.unchanged == 300
        assert report.unchanged == seen[2]
        assert lib.count() == 300
        assert [a["artist"] for a in lib.albums()] == [VARIOUS_ARTISTS] * 15
        for item in lib.tracks():
            if item.art is not None:
                assert lib.art(_art_key(item))[1] == "image/png"
        assert sum(item.art is not None for item in lib.tracks()) == 100
        assert not [name for name in os.listdir(lib.art_dir) if name.endswith(".tmp")]


def test_the_index_persists_and_bad_files_are_handled(tmp_path: Path, music: Music) -> None:
    music.add("a/1.flac", title="Kept")
    db = tmp_path / "library.db"
    with Library(db) as lib:
        lib.scan([music.root])
    with Library(db) as lib:
        assert [i.title for i in lib.tracks()] == ["Kept"]
        assert lib.art_dir == tmp_path / "art"
    newer = sqlite3.connect(db)
    newer.execute("PRAGMA user_version = 99")
    newer.close()
    with pytest.raises(ConfigError, match="newer carmesh"):
        Library(db)
    db.write_bytes(b"this is not a database" * 100)
    with Library(db) as lib:
        assert lib.count() == 0
        assert lib.scan([music.root]).added == 1
    lib.close()
    with pytest.raises(RuntimeError):
        lib.count()


def test_progress_reports_and_an_exception_from_it_stops_the_scan(
    lib: Library, music: Music
) -> None:
    for n in range(BATCH_FILES + 20):
        music.add(f"p/{n:03d}.wav", title=f"p{n}")
    calls: list[tuple[int, int]] = []

    def stop(done: int, total: int) -> None:
        calls.append((done, total))
        if done == BATCH_FILES + 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lib.scan([music.root], stop)
    assert calls[0] == (0, BATCH_FILES + 20)
    assert lib.count() == BATCH_FILES, "the first batch was committed"
    calls.clear()
    report = lib.scan([music.root], lambda done, total: calls.append((done, total)))
    assert (report.added, report.unchanged) == (20, BATCH_FILES)
    assert calls[0] == (BATCH_FILES, BATCH_FILES + 20) and calls[-1] == (BATCH_FILES + 20,) * 2
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_browsing_while_a_scan_runs_in_a_thread(lib: Library, music: Music) -> None:
    for n in range(150):
        music.add(f"t/{n}.mp3", title=f"song {n}", artist="A", album="B")
    reports: list[ScanReport] = []
    worker = threading.Thread(target=lambda: reports.append(lib.scan([music.root])))
    worker.start()
    while worker.is_alive():
        lib.search("song")
        lib.browse("library/albums")
    worker.join()
    assert reports[0].added == 150 and len(lib.search("song", limit=500)) == 150


def test_scan_rate(tmp_path: Path, music: Music) -> None:
    """Scan rate on 200 small tagged MP3/FLAC files, a fifth with cover art."""
    for n in range(200):
        cover = (_jpeg(n % 250), "image/jpeg") if n % 5 == 0 else None
        kind = "mp3" if n % 2 else "flac"
        music.add(
            f"{n // 12}/{n}.{kind}",
            cover,
            title=f"Song {n}",
            artist=f"Artist {n % 13}",
            album=f"Album {n // 12}",
        )
    with Library(tmp_path / "rate.db") as lib:
        first = lib.scan([music.root])
        again = lib.scan([music.root])
    assert first.added == 200 and again.unchanged == 200
    print(
        f"\nlibrary scan: 200 files, first scan {first.seconds * 1000:.0f} ms "
        f"({200 / first.seconds:.0f} files/s), rescan {again.seconds * 1000:.1f} ms "
        f"({200 / again.seconds:.0f} files/s)"
    )
    assert 200 / first.seconds > 50
