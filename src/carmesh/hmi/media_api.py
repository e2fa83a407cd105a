"""The HMI's media API, ``/api/media/…`` (``docs/media.md``, "HTTP API"): the state of every
zone, browsing and search, playing, transport, the queue, shuffle/repeat/volume, cover art,
radio stations, podcasts and library scans; sounds played under audio focus (prompts,
calls, chimes) and the focus stack of a zone.

Every route calls :class:`carmesh.media.control.MediaControl`; with the media service off
(no ``media`` in the :class:`~carmesh.hmi.context.HmiContext`) each answers 503
``unavailable`` before looking at the request. The shape of a request is checked here: a body
that does not parse or has a field of the wrong type is 422; values out of their range (a
zone name that is not a name, a volume above 100, an unknown command, a seek without a
position, both or neither of ``uri`` and ``node``) are 400 naming the problem. The service
raises the rest (:mod:`carmesh.hmi.status` maps them): an unknown zone, a bad URI, an index
outside the queue or a seek beyond the end 400, an unknown node, track or art 404, an empty
queue to play or a sound the audio focus refuses 409, an item that cannot be played now 503.

Requests other than ``GET`` that carry an ``Origin`` naming another host are refused (403),
as for the apps API: a page elsewhere could otherwise send a body-less ``POST`` without a
CORS preflight.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from starlette.requests import Request
from starlette.responses import Response

from carmesh.errors import InvalidArgument, Unavailable
from carmesh.hmi.api import error_responses
from carmesh.hmi.context import context_of
from carmesh.hmi.routes import service_route
from carmesh.media.control import COMMANDS, MediaControl
from carmesh.media.focus import Gain, Usage

#: What every ``/api/media…`` route answers while the media service is off.
MEDIA_OFF = "the media service is not running (carmesh run --media)"
#: Zone names: short lowercase words.
ZONE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
#: Longest browse node id (``library/artist/NAME``, ``library/folder/PATH``…).
MAX_NODE = 2048
#: Cover art keys (content hashes).
ART_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
MAX_URI = 4096
MAX_QUERY = 200
REPEATS = ("off", "one", "all")
#: Sound ids (``sound-12``).
SOUND_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Usages a sound may play under (media plays through sessions).
SOUND_USAGES = tuple(u.value for u in Usage if u is not Usage.MEDIA)
#: Gains a sound may ask for (sounds take focus only for a while).
SOUND_GAINS = tuple(g.value for g in Gain if g is not Gain.GAIN)
#: Served with every cover image: cached (the key names the content), never sniffed or run.
ART_HEADERS = {
    "Cache-Control": "public, max-age=86400, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def check_zone(zone: Any) -> str:
    if not isinstance(zone, str) or not ZONE.fullmatch(zone):
        raise InvalidArgument(f"{zone!r} is not a zone name such as driver or rear")
    return zone


def check_node(node: Any) -> str:
    if (
        not isinstance(node, str)
        or not 1 <= len(node) <= MAX_NODE
        or not node.isprintable()
        or node != node.strip()
    ):
        raise InvalidArgument(f"{node!r} is not a browse node id (e.g. library/albums)")
    return node


def check_uri(uri: Any) -> str:
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI or not uri.isprintable():
        raise InvalidArgument(f"a media URI is 1 to {MAX_URI} printable characters")
    return uri


def one_of(uri: str | None, node: str | None) -> dict[str, str | None]:
    """``{"uri": …}`` or ``{"node": …}``: exactly one of them must be given."""
    if (uri is None) == (node is None):
        raise InvalidArgument('give either "uri" (a media URI) or "node" (a browse node id)')
    if uri is not None:
        return {"uri": check_uri(uri), "node": None}
    return {"uri": None, "node": check_node(node)}


# -- models (for the OpenAPI document) ---------------------------------------------------------


class Item(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "uri": "library:track/12",
                    "title": "Northern Lights",
                    "artist": "Ane Brun",
                    "album": "Songs from the Coast",
                    "genre": "Folk",
                    "duration": 243.1,
                    "art": "/api/media/art/5f1c0e",
                    "source": "USB",
                    "live": False,
                }
            ]
        },
    )

    uri: str = Field(description="library:track/ID, radio:station/ID, podcast:episode/ID, …")
    title: str
    artist: str = ""
    album: str = ""
    genre: str = ""
    duration: float | None = Field(default=None, description="s; null: unknown or live")
    art: str | None = Field(default=None, description="URL path of the cover on the car")
    source: str = Field(default="USB", description="VSS Played.Source value")
    live: bool = False


class ZoneState(BaseModel):
    model_config = ConfigDict(extra="allow")

    session: str | None = Field(description="The active session's name; null: none.")
    state: Literal["stopped", "buffering", "playing", "paused", "error"]
    item: Item | None
    position: float = Field(description="s into the item")
    duration: float | None = Field(description="s; null: unknown or live")
    volume: int = Field(description="0–100")
    shuffle: bool
    repeat: Literal["off", "one", "all"]
    queue_index: int | None
    queue_length: int
    focus: str | None = Field(
        description="The session's audio focus: gain, loss_transient, "
        "loss_transient_can_duck; null: none."
    )
    error: str | None = Field(default=None, description="Why the state is error.")


class MediaState(BaseModel):
    zones: dict[str, ZoneState] = Field(description="Zone name (driver, rear) → its state.")


class Node(BaseModel):
    id: str
    title: str
    kind: Literal["folder", "item"]


class Child(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    kind: Literal["folder", "item"]
    subtitle: str | None = None
    art: str | None = None
    uri: str | None = Field(default=None, description="For items: what to play.")


class Browse(BaseModel):
    node: Node
    children: list[Child]


class Items(BaseModel):
    items: list[Item]


class Queue(BaseModel):
    zone: str
    items: list[Item]
    index: int | None = Field(description="The current item's queue index; null: empty.")
    order: list[int] = Field(description="The play order as queue indices (shuffled or not).")


class PlayRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"uri": "library:track/12", "zone": "driver"},
                {"node": "library/albums/3", "zone": "driver"},
            ]
        },
    )

    uri: StrictStr | None = None
    node: StrictStr | None = None
    zone: StrictStr = "driver"


class TransportRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"zone": "driver", "command": "next"},
                {"zone": "driver", "command": "seek", "position": 61.5},
                {"zone": "driver", "command": "play", "index": 2},
            ]
        },
    )

    zone: StrictStr = "driver"
    command: StrictStr = Field(description=", ".join(COMMANDS))
    position: StrictInt | StrictFloat | None = Field(default=None, description="s, for seek")
    index: StrictInt | None = Field(
        default=None, description="For play: the queue index of the item to play from."
    )


class EnqueueRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"uri": "library:track/7", "zone": "driver", "next": True}]
        },
    )

    uri: StrictStr | None = None
    node: StrictStr | None = None
    zone: StrictStr = "driver"
    next: StrictBool = Field(default=False, description="After the current item, not at the end.")


class MoveRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"from": 4, "to": 1, "zone": "driver"}]},
    )

    source: StrictInt = Field(alias="from", description="Queue index of the item to move.")
    target: StrictInt = Field(alias="to", description="Where it goes.")
    zone: StrictStr = "driver"


class ModeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"zone": "driver", "shuffle": True, "volume": 40}]},
    )

    zone: StrictStr = "driver"
    shuffle: StrictBool | None = None
    repeat: StrictStr | None = Field(default=None, description="off, one or all")
    volume: StrictInt | None = Field(default=None, description="0–100")


class PodcastRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"url": "https://example.org/feed.xml"}]}
    )

    url: StrictStr = Field(description="An RSS 2.0 or Atom feed (http or https).")


class Station(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    genre: str = ""
    uri: str


class Stations(BaseModel):
    stations: list[Station]


class Feed(BaseModel):
    model_config = ConfigDict(extra="allow")


class Feeds(BaseModel):
    feeds: list[dict[str, Any]]


class ScanReport(BaseModel):
    model_config = ConfigDict(extra="allow")


class SoundRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"usage": "navigation", "source": "chime:navigation"},
                {"usage": "call", "source": "tone:660:1.5", "zone": "driver"},
                {"usage": "safety", "source": "chime:safety", "volume": 0.8},
            ]
        },
    )

    usage: StrictStr = Field(description=", ".join(SOUND_USAGES))
    source: StrictStr = Field(
        description="chime:safety, chime:notification, chime:navigation, tone:FREQ:SECONDS, "
        "library:track/ID, file:///PATH or an http(s) URL."
    )
    zone: StrictStr = "driver"
    gain: StrictStr | None = Field(
        default=None,
        description=f"{', '.join(SOUND_GAINS)}; none: the usage's default (navigation, "
        "assistant, notification, safety, emergency: transient_may_duck; call, call_ring, "
        "alarm: transient).",
    )
    volume: StrictInt | StrictFloat = Field(
        default=1.0, description="The sound's own level, 0–1 (the zone's volume applies too)."
    )


class SoundModel(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "sound-3",
                    "usage": "navigation",
                    "gain": "transient_may_duck",
                    "zone": "driver",
                    "source": "chime:navigation",
                    "state": "playing",
                    "error": None,
                }
            ]
        },
    )

    id: str
    usage: str
    gain: str
    zone: str
    source: str
    state: Literal["playing", "ducked", "paused", "ended", "stopped", "error"] = Field(
        description="ducked or paused: another sound has the focus; stopped: stopped, or "
        "lost the focus for good."
    )
    error: str | None = None


class Sounds(BaseModel):
    sounds: list[SoundModel] = Field(description="The sounds playing (or paused), oldest first.")


class FocusHolder(BaseModel):
    client_id: str = Field(description="media:SESSION for media sessions, sound:ID for sounds.")
    usage: str
    gain: str
    state: Literal["gain", "loss_transient", "loss_transient_can_duck"]


class FocusStack(BaseModel):
    zone: str
    holders: list[FocusHolder] = Field(description="The focus stack, newest first.")
    delayed: dict[str, Any] | None = Field(
        description="A media request waiting for delayed focus: {client_id, usage, gain}."
    )


# -- routing -------------------------------------------------------------------------------------


MediaRoute = service_route("media", MEDIA_OFF, "control the car's media")


def media_of(request: Request) -> MediaControl:
    media = context_of(request).media
    if media is None:
        raise Unavailable(MEDIA_OFF)
    return media


Media = Annotated[MediaControl, Depends(media_of)]
ZoneQuery = Annotated[str, Query(description="The zone: driver, or rear when configured.")]

router = APIRouter(prefix="/api/media", tags=["media"], route_class=MediaRoute)


@router.get(
    "/state",
    response_model=MediaState,
    responses=error_responses(503),
    summary="What every zone plays",
)
async def media_state(media: Media) -> JSONResponse:
    return JSONResponse(media.state())


@router.get(
    "/browse",
    response_model=Browse,
    responses=error_responses(400, 404, 503),
    summary="Browse the library, radio, podcasts and apps",
)
async def browse(
    media: Media,
    node: Annotated[
        str | None,
        Query(
            description="The node to open; none: the root (library, radio, podcasts, apps). "
            "Library: library/artists, library/albums, library/genres, library/folders."
        ),
    ] = None,
) -> JSONResponse:
    return JSONResponse(await media.browse("" if node in (None, "") else check_node(node)))


@router.get(
    "/search",
    response_model=Items,
    responses=error_responses(400, 503),
    summary="Search tracks, stations and episodes",
)
async def search(
    media: Media,
    q: Annotated[str, Query(description="Words of a title, artist or album.")] = "",
) -> JSONResponse:
    text = q.strip()
    if not text or len(text) > MAX_QUERY:
        raise InvalidArgument(f"q must be 1 to {MAX_QUERY} characters of text to search for")
    return JSONResponse(await media.search(text))


@router.post(
    "/play",
    response_model=MediaState,
    responses=error_responses(400, 403, 404, 409, 422, 503),
    summary="Play a URI or a browse node now",
)
async def play(media: Media, request: PlayRequest) -> JSONResponse:
    """A URI plays alone (a library track plays with the rest of its album after it); a
    node (album, artist, genre, folder, station, feed) becomes the new queue."""
    what = one_of(request.uri, request.node)
    zone = check_zone(request.zone)
    return JSONResponse(await media.play(zone, uri=what["uri"], node=what["node"]))


@router.post(
    "/transport",
    response_model=MediaState,
    responses=error_responses(400, 403, 409, 422, 503),
    summary="Play, pause, skip or seek",
)
async def transport(media: Media, request: TransportRequest) -> JSONResponse:
    zone = check_zone(request.zone)
    if request.command not in COMMANDS:
        raise InvalidArgument(
            f"command must be one of {', '.join(COMMANDS)}, not {request.command!r}"
        )
    position: float | None = None
    if request.command == "seek":
        if request.position is None:
            raise InvalidArgument('a seek needs "position": seconds into the item')
        position = float(request.position)
    elif request.position is not None:
        raise InvalidArgument('"position" goes only with the seek command')
    if request.index is not None and (request.command != "play" or request.index < 0):
        raise InvalidArgument('"index" goes only with the play command: a queue index from 0')
    return JSONResponse(await media.transport(zone, request.command, position, request.index))


@router.get(
    "/queue",
    response_model=Queue,
    responses=error_responses(400, 503),
    summary="The queue of a zone's session",
)
async def queue(media: Media, zone: ZoneQuery = "driver") -> JSONResponse:
    return JSONResponse(media.queue(check_zone(zone)))


@router.post(
    "/queue",
    response_model=Queue,
    responses=error_responses(400, 403, 404, 422, 503),
    summary="Add to the queue",
)
async def enqueue(media: Media, request: EnqueueRequest) -> JSONResponse:
    what = one_of(request.uri, request.node)
    zone = check_zone(request.zone)
    return JSONResponse(
        await media.enqueue(zone, uri=what["uri"], node=what["node"], next=request.next)
    )


@router.delete(
    "/queue/{index}",
    response_model=Queue,
    responses=error_responses(400, 403, 503),
    summary="Remove an item from the queue",
)
async def remove(
    media: Media,
    index: Annotated[str, PathParam(description="Queue index of the item, from 0.")],
    zone: ZoneQuery = "driver",
) -> JSONResponse:
    # Parsed here rather than by FastAPI, so that a bad index is a 400 like every bad value.
    if not (index.isascii() and index.isdigit()) or len(index) > 6:
        raise InvalidArgument(f"{index!r} is not a queue index (a whole number from 0)")
    return JSONResponse(await media.remove(check_zone(zone), int(index)))


@router.post(
    "/queue/move",
    response_model=Queue,
    responses=error_responses(400, 403, 422, 503),
    summary="Move an item in the queue",
)
async def move(media: Media, request: MoveRequest) -> JSONResponse:
    zone = check_zone(request.zone)
    return JSONResponse(await media.move(zone, request.source, request.target))


@router.put(
    "/mode",
    response_model=MediaState,
    responses=error_responses(400, 403, 422, 503),
    summary="Shuffle, repeat and volume of a zone",
)
async def mode(media: Media, request: ModeRequest) -> JSONResponse:
    zone = check_zone(request.zone)
    if request.shuffle is None and request.repeat is None and request.volume is None:
        raise InvalidArgument('give at least one of "shuffle", "repeat" and "volume"')
    if request.repeat is not None and request.repeat not in REPEATS:
        raise InvalidArgument(f"repeat must be one of off, one, all, not {request.repeat!r}")
    if request.volume is not None and not 0 <= request.volume <= 100:
        raise InvalidArgument(f"volume must be a whole number from 0 to 100, not {request.volume}")
    return JSONResponse(
        await media.set_mode(
            zone, shuffle=request.shuffle, repeat=request.repeat, volume=request.volume
        )
    )


@router.get(
    "/art/{key}",
    response_class=Response,
    responses={
        200: {
            "description": "The cover image, cached for a day (the key names its content).",
            "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
        },
        **error_responses(400, 404, 503),
    },
    summary="Cover art",
)
async def art(
    media: Media,
    key: Annotated[str, PathParam(description="The key of an item's art URL.")],
) -> Response:
    if not ART_KEY.fullmatch(key):
        raise InvalidArgument(f"{key!r} is not a cover art key")
    content, media_type = await media.art(key)
    return Response(content, media_type=media_type, headers=ART_HEADERS)


@router.get(
    "/stations",
    response_model=Stations,
    responses=error_responses(503),
    summary="The radio stations",
)
async def stations(media: Media) -> JSONResponse:
    return JSONResponse(media.stations())


@router.post(
    "/podcasts",
    status_code=201,
    response_model=Feed,
    responses=error_responses(400, 403, 422, 503),
    summary="Subscribe to a podcast",
)
async def add_podcast(media: Media, request: PodcastRequest) -> JSONResponse:
    """Fetch the feed and keep it; 503 when it cannot be fetched, 400 when it is no feed."""
    url = request.url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URI:
        raise InvalidArgument(f"{request.url!r} is not an http(s) URL of a podcast feed")
    return JSONResponse(await media.add_podcast(url), status_code=201)


@router.post(
    "/podcasts/refresh",
    response_model=Feeds,
    responses=error_responses(403, 503),
    summary="Fetch every podcast feed again",
)
async def refresh_podcasts(media: Media) -> JSONResponse:
    return JSONResponse(await media.refresh_podcasts())


@router.post(
    "/library/scan",
    response_model=ScanReport,
    responses=error_responses(403, 503),
    summary="Scan the music folders again",
)
async def scan(media: Media) -> JSONResponse:
    """Incremental: only new, changed and removed files are read; answers with the report."""
    return JSONResponse(await media.scan())


@router.post(
    "/sounds",
    status_code=201,
    response_model=SoundModel,
    responses=error_responses(400, 403, 404, 409, 422, 503),
    summary="Play a prompt, call audio or chime under audio focus",
)
async def play_sound(media: Media, request: SoundRequest) -> JSONResponse:
    """The sound asks for the audio focus of its usage: a navigation prompt ducks the music,
    a call pauses it, a safety chime is never refused. 409 when the focus refuses the sound
    (e.g. a notification while the assistant listens); focus is given up when it ends."""
    zone = check_zone(request.zone)
    if request.usage not in SOUND_USAGES:
        raise InvalidArgument(
            f"usage must be one of {', '.join(SOUND_USAGES)}, not {request.usage!r}"
        )
    if request.gain is not None and request.gain not in SOUND_GAINS:
        raise InvalidArgument(f"gain must be one of {', '.join(SOUND_GAINS)}, not {request.gain!r}")
    if not 0 <= request.volume <= 1:
        raise InvalidArgument(f"volume must be from 0 to 1, not {request.volume}")
    sound = await media.play_sound(
        request.usage,
        check_uri(request.source),
        zone=zone,
        gain=request.gain,
        volume=float(request.volume),
    )
    return JSONResponse(sound, status_code=201)


@router.get(
    "/sounds",
    response_model=Sounds,
    responses=error_responses(503),
    summary="The sounds playing",
)
async def sounds(media: Media) -> JSONResponse:
    return JSONResponse(media.sounds())


@router.delete(
    "/sounds/{sound_id}",
    response_model=SoundModel,
    responses=error_responses(400, 403, 404, 503),
    summary="Stop a sound",
)
async def stop_sound(
    media: Media,
    sound_id: Annotated[str, PathParam(description="The id the sound was played with.")],
) -> JSONResponse:
    if not SOUND_ID.fullmatch(sound_id):
        raise InvalidArgument(f"{sound_id!r} is not a sound id")
    return JSONResponse(media.stop_sound(sound_id))


@router.get(
    "/focus",
    response_model=FocusStack,
    responses=error_responses(400, 503),
    summary="Who has the audio focus in a zone",
)
async def focus(media: Media, zone: ZoneQuery = "driver") -> JSONResponse:
    return JSONResponse(media.focus_stack(check_zone(zone)))
