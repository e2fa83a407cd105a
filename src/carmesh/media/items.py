"""What a queue holds, and the URIs that name media.

URI schemes (``docs/media.md``): ``library:track/ID``, ``radio:station/ID``,
``podcast:episode/ID``, ``app:APP_ID/ITEM``, and ``http(s)://`` / ``file://`` for direct
playback.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from carmesh.errors import InvalidArgument, Unavailable

#: VSS ``Played.Source`` values carmesh's sources use.
SOURCE_LIBRARY = "USB"
SOURCE_INTERNET = "INTERNET"

SCHEMES = ("library", "radio", "podcast", "app", "http", "https", "file")


class MediaError(Unavailable):
    """Media cannot be played now: not decodable, unsupported, a network failure. The message
    says which, in one sentence."""

    code = "unavailable"


@dataclass(frozen=True)
class MediaItem:
    """One playable thing. *duration* in seconds (None: unknown or live); *art* a URL path on
    the car (``/api/media/art/KEY``) or None; *source* a VSS ``Played.Source`` value."""

    uri: str
    title: str
    artist: str = ""
    album: str = ""
    genre: str = ""
    duration: float | None = None
    art: str | None = None
    source: str = SOURCE_LIBRARY
    live: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MediaItem:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "extra"}
        if not isinstance(known.get("uri"), str) or not isinstance(known.get("title"), str):
            raise InvalidArgument("a media item needs a uri and a title")
        return cls(**known)


def split_uri(uri: str) -> tuple[str, str]:
    """(scheme, rest) of a media URI; InvalidArgument for an unknown scheme."""
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme not in SCHEMES or not rest:
        raise InvalidArgument(
            f"{uri!r} is not a media URI (library:, radio:, podcast:, app:, http(s)://, file://)"
        )
    return scheme, rest
