"""Reading a music folder for the library: walking it, reading tags and cover art.

Nothing here touches the index; :class:`carmesh.media.library.Library` stores what this
module reads. Paths are ``bytes`` throughout (what the file system holds), so a file whose
name is not UTF-8 is still indexed and played; names shown to people are decoded with
replacement characters.

Tags come from ``mutagen``: ID3 (MP3, WAV, AIFF), Vorbis comments (FLAC, Ogg Vorbis / Opus /
FLAC), MP4 atoms (M4A), ASF (WMA) and APEv2. Missing tags fall back to the file and folder
names: the title to the file name (a leading track number such as ``01 - `` becomes the
track number), the album to the folder name, the artist to :data:`UNKNOWN_ARTIST`. Cover art
is the embedded front cover, else the first embedded picture, else a ``cover``/``folder``/
``front`` image in the track's folder.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import stat
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import mutagen
from mutagen.apev2 import APEv2
from mutagen.asf import ASF
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3, TCON
from mutagen.mp4 import MP4, MP4Cover
from mutagen.ogg import OggFileType

UNKNOWN_ARTIST = "Unknown artist"
UNKNOWN_ALBUM = "Unknown album"
VARIOUS_ARTISTS = "Various artists"

AUDIO_EXTENSIONS = frozenset(
    b".mp3 .flac .ogg .oga .opus .m4a .m4b .aac .wav .aif .aiff .wma".split()
)
#: Folder images used when a track has no embedded art, best first.
COVER_NAMES: tuple[bytes, ...] = tuple(
    stem + ext
    for stem in (b"cover", b"folder", b"front", b"album", b"albumart")
    for ext in (b".jpg", b".jpeg", b".png", b".webp")
)
#: Larger images are ignored (a tag is not a photo album).
MAX_ART_BYTES = 16 * 1024 * 1024
#: Tag values are cut to this many characters.
MAX_TEXT = 1000

_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
# mutagen's constructors are untyped
_Picture: Any = Picture
_TCON: Any = TCON
_DROPPED = frozenset(("Cc", "Cf", "Cs"))
_LEADING_NUMBER = re.compile(r"^\s*(\d{1,3})\s*(?:[-._)]|\s)\s*(\S.*)$")
_NUMBER = re.compile(r"\d+")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def fold(text: str) -> str:
    """*text* as search and sorting compare it: case-folded, compatibility-decomposed, without
    combining marks, control or format characters, white space collapsed to single spaces.
    ``fold("Beyoncé  ＫＮＯＷＬＥＳ") == "beyonce knowles"``; Chinese is kept as it is."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    kept = []
    for c in decomposed:
        if c.isspace():
            kept.append(" ")
        elif not unicodedata.combining(c) and unicodedata.category(c) not in _DROPPED:
            kept.append(c)
    return " ".join("".join(kept).split())


def clean(value: object) -> str:
    """A tag value as shown: control characters and lone surrogates dropped (line breaks and
    tabs become spaces), outer white space stripped, at most :data:`MAX_TEXT` characters."""
    text = value if isinstance(value, str) else str(value)
    out = []
    for c in text:
        category = unicodedata.category(c)
        if category == "Cs":
            continue
        if category == "Cc":
            if c.isspace():
                out.append(" ")
            continue
        out.append(c)
    return "".join(out).strip()[:MAX_TEXT].strip()


def display_name(name: bytes) -> str:
    """A file or folder name as shown (bytes that are not UTF-8 become U+FFFD)."""
    return clean(name.decode("utf-8", "replace"))


@dataclass(frozen=True)
class Art:
    """A cover image; *key* names it by content."""

    data: bytes
    media_type: str

    @property
    def key(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:32]


@dataclass(frozen=True)
class TrackInfo:
    """What the library stores about one file (after fallbacks).

    An album is (*album*, *album_artist*, *album_scope*). *album_artist* is the album artist
    tag (:data:`VARIOUS_ARTISTS` for a compilation without one), or ``""``. *album_scope* is
    ``b""`` when both the album and its artist are tagged, else the track's folder: an album
    without an album artist tag is the tracks of that title in one folder (so a compilation
    is one album, and two untagged folders called ``CD1`` stay two albums)."""

    title: str
    artist: str
    album: str
    album_artist: str
    album_scope: bytes
    genre: str
    number: int | None
    disc: int | None
    year: int | None
    duration: float | None
    art: Art | None


@dataclass
class FolderWalk:
    """What walking one scanned folder found: audio files as (path, mtime_ns, size), the
    cover images of each folder (best first), what could not be read, and the folders that could
    not be listed (their indexed tracks are kept, not removed)."""

    files: list[tuple[bytes, int, int]] = field(default_factory=list)
    covers: dict[bytes, list[bytes]] = field(default_factory=dict)
    failed: list[tuple[bytes, str]] = field(default_factory=list)
    unlisted: list[bytes] = field(default_factory=list)


class NotAudio(Exception):
    """mutagen does not recognise the file as audio."""


def failure_reason(exc: BaseException) -> str:
    """One short phrase saying why a file or folder could not be read."""
    if isinstance(exc, FileNotFoundError):
        return "the file or folder does not exist"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, NotADirectoryError):
        return "not a folder"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, NotAudio):
        return str(exc)
    text = clean(str(exc))
    return f"damaged or not audio ({text or type(exc).__name__})"


def walk(root: bytes) -> FolderWalk:
    """Every audio file under *root* (an absolute path). Hidden files and folders (a leading
    dot, e.g. macOS ``._`` files on USB sticks) are skipped; symbolic links to folders are not
    followed (no loops), links to files are."""
    found = FolderWalk()
    rank = {name: i for i, name in enumerate(COVER_NAMES)}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            found.failed.append((folder, failure_reason(exc)))
            found.unlisted.append(folder)
            continue
        cover_images: list[tuple[int, bytes]] = []
        for entry in entries:
            name = entry.name
            if name.startswith(b"."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                lower = name.lower()
                extension = os.path.splitext(lower)[1]
                if extension in AUDIO_EXTENSIONS:
                    st = entry.stat()
                    if stat.S_ISREG(st.st_mode):
                        found.files.append((entry.path, st.st_mtime_ns, st.st_size))
                elif lower in rank and entry.is_file():
                    cover_images.append((rank[lower], entry.path))
            except OSError as exc:
                found.failed.append((entry.path, failure_reason(exc)))
        if cover_images:
            found.covers[folder] = [path for _, path in sorted(cover_images)]
    found.files.sort()
    return found


# -- tags -------------------------------------------------------------------------------------


@dataclass
class _Raw:
    """Tag values as read, before fallbacks; lists keep every value a tag holds."""

    title: list[str] = field(default_factory=list)
    artist: list[str] = field(default_factory=list)
    album_artist: list[str] = field(default_factory=list)
    album: list[str] = field(default_factory=list)
    genre: list[str] = field(default_factory=list)
    number: list[str] = field(default_factory=list)
    disc: list[str] = field(default_factory=list)
    date: list[str] = field(default_factory=list)
    compilation: bool = False
    #: (picture type, declared media type, data); type 3 is the front cover
    pictures: list[tuple[int, str, bytes]] = field(default_factory=list)


def _texts(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        values = [values]
    out = []
    for value in values:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        out.append(str(value))
    return out


def _from_id3(tags: Any, raw: _Raw) -> None:
    def text(frame_id: str) -> list[str]:
        frame = tags.get(frame_id)
        return _texts(getattr(frame, "text", None))

    raw.title = text("TIT2")
    raw.artist = text("TPE1")
    raw.album_artist = text("TPE2")
    raw.album = text("TALB")
    tcon = tags.get("TCON")
    raw.genre = list(getattr(tcon, "genres", [])) if tcon is not None else []
    raw.number = text("TRCK")
    raw.disc = text("TPOS")
    raw.date = text("TDRC") or text("TYER") or text("TDOR")
    raw.compilation = any(v.strip() == "1" for v in text("TCMP"))
    for apic in tags.getall("APIC"):
        raw.pictures.append((int(apic.type), str(apic.mime), bytes(apic.data)))


def _from_vorbis(tags: Any, raw: _Raw) -> None:
    def text(*keys: str) -> list[str]:
        for key in keys:
            if key in tags:
                values = _texts(tags[key])
                if any(v.strip() for v in values):
                    return values
        return []

    raw.title = text("title")
    raw.artist = text("artist")
    raw.album_artist = text("albumartist", "album artist", "album_artist")
    raw.album = text("album")
    raw.genre = text("genre")
    raw.number = text("tracknumber", "track")
    raw.disc = text("discnumber", "disc")
    raw.date = text("date", "year", "originaldate")
    raw.compilation = any(v.strip() == "1" for v in text("compilation"))
    for encoded in text("metadata_block_picture"):
        try:
            picture = _Picture(base64.b64decode(encoded))
        except Exception:
            continue
        raw.pictures.append((int(picture.type), str(picture.mime), bytes(picture.data)))


def _from_mp4(tags: Any, raw: _Raw) -> None:
    def text(key: str) -> list[str]:
        return _texts(tags.get(key))

    raw.title = text("\xa9nam")
    raw.artist = text("\xa9ART")
    raw.album_artist = text("aART")
    raw.album = text("\xa9alb")
    raw.genre = text("\xa9gen")
    if not raw.genre:
        for index in tags.get("gnre", []):
            raw.genre.extend(_TCON(text=[str(int(index) - 1)]).genres)
    raw.number = [str(pair[0]) for pair in tags.get("trkn", []) if pair]
    raw.disc = [str(pair[0]) for pair in tags.get("disk", []) if pair]
    raw.date = text("\xa9day")
    raw.compilation = bool(tags.get("cpil"))
    for cover in tags.get("covr", []):
        declared = "image/png" if cover.imageformat == MP4Cover.FORMAT_PNG else "image/jpeg"
        raw.pictures.append((3, declared, bytes(cover)))


def _from_asf(tags: Any, raw: _Raw) -> None:
    def text(key: str) -> list[str]:
        return _texts([getattr(v, "value", v) for v in tags.get(key, [])])

    raw.title = text("Title")
    raw.artist = text("Author")
    raw.album_artist = text("WM/AlbumArtist")
    raw.album = text("WM/AlbumTitle")
    raw.genre = text("WM/Genre")
    raw.number = text("WM/TrackNumber")
    raw.disc = text("WM/PartOfSet")
    raw.date = text("WM/Year")


def _from_ape(tags: Any, raw: _Raw) -> None:
    def text(*keys: str) -> list[str]:
        for key in keys:
            if key in tags:
                return str(tags[key]).split("\x00")
        return []

    raw.title = text("Title")
    raw.artist = text("Artist")
    raw.album_artist = text("Album Artist", "AlbumArtist")
    raw.album = text("Album")
    raw.genre = text("Genre")
    raw.number = text("Track")
    raw.disc = text("Disc")
    raw.date = text("Year", "Date")


def _read_raw(path: bytes) -> tuple[_Raw, float | None]:
    audio = mutagen.File(os.fsdecode(path))
    if audio is None:
        raise NotAudio("not a recognised audio file")
    raw = _Raw()
    tags = audio.tags
    if isinstance(audio, MP4):
        if tags is not None:
            _from_mp4(tags, raw)
    elif isinstance(audio, ASF):
        if tags is not None:
            _from_asf(tags, raw)
    elif isinstance(audio, FLAC | OggFileType):
        if tags is not None:
            _from_vorbis(tags, raw)
        for picture in getattr(audio, "pictures", []):
            raw.pictures.append((int(picture.type), str(picture.mime), bytes(picture.data)))
    elif isinstance(tags, ID3):
        _from_id3(tags, raw)
    elif isinstance(tags, APEv2):
        _from_ape(tags, raw)
    length = getattr(audio.info, "length", None)
    duration = float(length) if isinstance(length, int | float) else None
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        duration = None
    return raw, duration


def _first(values: Sequence[str]) -> str:
    for value in values:
        text = clean(value)
        if text:
            return text
    return ""


def _joined(values: Sequence[str]) -> str:
    seen: list[str] = []
    for value in values:
        text = clean(value)
        if text and text not in seen:
            seen.append(text)
    return "; ".join(seen)[:MAX_TEXT]


def _number(values: Sequence[str]) -> int | None:
    for value in values:
        match = _NUMBER.search(value)
        if match and len(match.group()) <= 6:
            return int(match.group())
    return None


def _year(values: Sequence[str]) -> int | None:
    for value in values:
        match = _YEAR.search(value)
        if match and 0 < int(match.group(1)) < 10000:
            return int(match.group(1))
    return None


def image_type(data: bytes, declared: str = "") -> str | None:
    """The media type of image *data* by its first bytes; else *declared* (from the tag) when
    it names an image type this function cannot recognise (e.g. ``image/avif``); else None
    (e.g. bytes declared ``image/jpeg`` that are not a JPEG)."""
    for magic, media_type in _IMAGE_MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    declared = declared.strip().lower()
    sniffed = {media_type for _, media_type in _IMAGE_MAGIC} | {"image/webp", "image/jpg"}
    if declared not in sniffed and re.fullmatch(r"image/[a-z0-9.+-]{1,40}", declared):
        return declared
    return None


def _pick_art(pictures: Sequence[tuple[int, str, bytes]]) -> Art | None:
    ordered = sorted(pictures, key=lambda p: p[0] != 3)
    for _type, declared, data in ordered:
        if 0 < len(data) <= MAX_ART_BYTES:
            media_type = image_type(data, declared)
            if media_type is not None:
                return Art(data, media_type)
    return None


def read_cover(paths: Sequence[bytes]) -> Art | None:
    """The first of the folder images *paths* that can be read and is an image."""
    for path in paths:
        try:
            with open(path, "rb") as image:
                data = image.read(MAX_ART_BYTES + 1)
        except OSError:
            continue
        art = _pick_art([(3, "", data)])
        if art is not None:
            return art
    return None


def read_track(path: bytes, root: bytes, folder_art: Art | None = None) -> TrackInfo:
    """The tags of *path* (found under the scanned folder *root*) with every fallback applied.
    Raises (any exception) when the file cannot be read; the caller reports it."""
    raw, duration = _read_raw(path)
    folder, name = os.path.split(path)
    title = _first(raw.title)
    number = _number(raw.number)
    if not title:
        stem = display_name(os.path.splitext(name)[0])
        match = _LEADING_NUMBER.match(stem)
        if match:
            stem = match.group(2).strip()
            number = number if number is not None else int(match.group(1))
        title = stem or display_name(name)
    artist = _joined(raw.artist) or UNKNOWN_ARTIST
    album = _first(raw.album)
    album_artist = _joined(raw.album_artist) or (VARIOUS_ARTISTS if raw.compilation else "")
    album_scope = b"" if album and album_artist else folder
    if not album:
        album = display_name(os.path.basename(folder)) if folder != root else ""
        album = album or UNKNOWN_ALBUM
    return TrackInfo(
        title=title,
        artist=artist,
        album=album,
        album_artist=album_artist,
        album_scope=album_scope,
        genre=_first(raw.genre),
        number=number,
        disc=_number(raw.disc),
        year=_year(raw.date),
        duration=duration,
        art=_pick_art(raw.pictures) or folder_art,
    )
