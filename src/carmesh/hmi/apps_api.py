"""The HMI's apps API, ``/api/apps…`` (``docs/apps.md``, section "HTTP API"): install,
update, roll back and remove apps, start and stop them, decide their permissions, read their
logs, icons and templates, deliver taps, and manage trusted publishers.

Every route calls :class:`carmesh.apps.control.AppsControl`; with the platform off (no
``apps`` in the :class:`~carmesh.hmi.context.HmiContext`) each answers 503 ``unavailable``
before looking at the request. Inputs are checked here (app ids, action ids, the ``grant``
and ``lines`` parameters, the grants body) so that a bad request is a 400 naming the problem;
the platform's own errors are mapped by :mod:`carmesh.hmi.status` (``PackageRejected`` 400,
``AlreadyExists`` and ``FailedPrecondition`` 409, ``NotFound`` 404, ``Unavailable`` 503).

Packages arrive as the request body: the ``.cmapp`` bytes (``application/octet-stream``), or
a ``multipart/form-data`` form whose ``package`` field is the file, so that a page can upload
one. Bodies above :data:`MAX_PACKAGE_BYTES` are refused with 413 before they are read whole.

A web page elsewhere may not change anything here: an upload form or a body-less ``POST``
needs no CORS preflight, so requests other than ``GET`` that carry an ``Origin`` naming
another host are refused (403). Icons, which come from third-party packages, are served with
a sandboxing ``Content-Security-Policy`` so that an SVG opened on its own runs no script.
"""

from __future__ import annotations

import hashlib
import re
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from carmesh.apps.control import AppsControl
from carmesh.errors import InvalidArgument, Unavailable
from carmesh.hmi.api import Accepted, error_responses
from carmesh.hmi.context import context_of
from carmesh.hmi.routes import service_route

#: What every ``/api/apps…`` route answers while the platform is off.
PLATFORM_OFF = "the apps platform is not running"
#: Largest request body of an install or update (a package, or a form holding one).
MAX_PACKAGE_BYTES = 64 * 1024 * 1024
#: Media types of a request body that is the package itself (none given counts too).
PACKAGE_TYPES = ("application/octet-stream", "application/zip", "application/x-zip-compressed")
FORM_TYPE = "multipart/form-data"
#: The form field holding the package in a ``multipart/form-data`` upload.
PACKAGE_FIELD = "package"
#: What ``?grant=`` accepts at install.
GRANT_MODES = ("ask", "all", "none")
#: ``?lines=`` of the logs: the default and the most.
DEFAULT_LOG_LINES = 200
MAX_LOG_LINES = 10_000
#: Largest public key a publisher may be trusted with (a PEM file is well under 1 KiB).
MAX_KEY_PEM = 16 * 1024

#: App ids and publishers: reverse-DNS, 2+ labels of [a-z0-9_-], at most 128 characters.
APP_ID = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)+")
MAX_APP_ID = 128
#: Action and item ids of templates.
ACTION_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")

#: Served with every icon: no script, no plug-in, nothing loaded, even when opened directly.
ICON_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}


def check_app_id(app_id: Any, what: str = "app id", example: str = "org.example.hello") -> str:
    """*app_id* when it is a well-formed app id (or publisher id), else :class:`InvalidArgument`."""
    if not isinstance(app_id, str) or len(app_id) > MAX_APP_ID or not APP_ID.fullmatch(app_id):
        raise InvalidArgument(
            f"{app_id!r} is not a valid {what}: use a reverse-DNS name such as {example} "
            f"(lowercase letters, digits, '_' and '-', at most {MAX_APP_ID} characters)"
        )
    return app_id


def check_action(action: Any, item: Any) -> tuple[str, str | None]:
    """(*action*, *item*) of a tap when both are template ids (*item* may be None)."""
    if not isinstance(action, str) or ACTION_ID.fullmatch(action) is None:
        raise InvalidArgument(
            f"{action!r} is not an action id: 1 to 64 letters, digits, '_', '.' or '-'"
        )
    if item is not None and (not isinstance(item, str) or ACTION_ID.fullmatch(item) is None):
        raise InvalidArgument(
            f"{item!r} is not an item id: 1 to 64 letters, digits, '_', '.' or '-', or null"
        )
    return action, item


# -- models (for the OpenAPI document) ---------------------------------------------------------


class Permission(BaseModel):
    id: str = Field(
        description="read:PATTERN, actuate:PATTERN, provide:PATTERN, notifications, media, "
        "location or network"
    )
    granted: bool | None = Field(description="true granted, false denied, null not decided yet")


class App(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "org.example.hello",
                    "version": "1.2.0",
                    "previous_version": None,
                    "publisher": "org.example",
                    "names": {"en": "Hello", "zh-CN": "你好"},
                    "description": {"en": "Says hello."},
                    "icon": "/api/apps/org.example.hello/icon",
                    "runtime": "python",
                    "templates": ["list"],
                    "permissions": [{"id": "read:Vehicle.Speed", "granted": True}],
                    "enabled": True,
                    "state": "running",
                    "pid": 1234,
                    "restarts": 0,
                    "quarantined": False,
                    "isolation": "network",
                    "installed_at": 1764000000000,
                }
            ]
        },
    )

    id: str = Field(description="Reverse-DNS app id.")
    version: str = Field(description="Semantic version of the installed package.")
    previous_version: str | None = Field(description="What rollback returns to; null: none.")
    publisher: str
    names: dict[str, str] = Field(description='Name per language: {"en": …, "zh-CN": …}.')
    description: dict[str, str] = Field(description="Description per language (may be empty).")
    icon: str | None = Field(description="URL of the icon on this server; null: none.")
    runtime: str = Field(description="python or velocitas")
    templates: list[str] = Field(description="Template types the app shows.")
    permissions: list[Permission]
    enabled: bool = Field(description="Starts with the car.")
    state: Literal["stopped", "starting", "running", "backoff", "quarantined", "exited"]
    pid: int | None
    restarts: int
    quarantined: bool = Field(description="Crashed too often; starts only when asked to.")
    isolation: str | None = Field(description="network or process (see docs/apps.md).")
    installed_at: int = Field(description="ms since the UNIX epoch")


class AppList(BaseModel):
    apps: list[App]


class Grants(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"grants": {"read:Vehicle.Speed": True, "network": False}}]}
    )

    grants: dict[str, StrictBool] = Field(
        description="Permission id → true (grant) or false (deny); ids the app declares."
    )


class Tap(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"action": "select", "item": "a1"}]})

    action: str = Field(
        description='An action id of the current template, or "select" for a tapped item.'
    )
    item: str | None = Field(default=None, description="The tapped item's id; null for actions.")


class Logs(BaseModel):
    lines: list[str] = Field(description="The newest lines of the app's log, oldest first.")


class TemplateState(BaseModel):
    template: dict[str, Any] | None = Field(
        description="The template as the HMI shows it now (docs/apps.md, Templates); null: none."
    )
    trimmed: bool = Field(description="Cut by the driving rules (tell the user).")


class Publisher(BaseModel):
    model_config = ConfigDict(extra="allow")

    publisher: str
    key: str = Field(description="The public key (PEM) or its fingerprint.")


class Publishers(BaseModel):
    publishers: list[Publisher]


class TrustRequest(BaseModel):
    publisher: str = Field(description="Reverse-DNS publisher id, e.g. org.example.")
    public_key_pem: str = Field(description="The publisher's ed25519 public key (PEM).")


#: The request body of an install or update, for the OpenAPI document.
_PACKAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"The .cmapp file (at most {MAX_PACKAGE_BYTES >> 20} MiB).",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            FORM_TYPE: {
                "schema": {
                    "type": "object",
                    "properties": {PACKAGE_FIELD: {"type": "string", "format": "binary"}},
                    "required": [PACKAGE_FIELD],
                }
            },
        },
    }
}


# -- routing -------------------------------------------------------------------------------------


PlatformRoute = service_route("apps", PLATFORM_OFF, "change the car's apps")


def apps_of(request: Request) -> AppsControl:
    apps = context_of(request).apps
    if apps is None:
        raise Unavailable(PLATFORM_OFF)
    return apps


def app_id_of(
    app_id: Annotated[str, Path(description="The app's reverse-DNS id, e.g. org.example.hello")],
) -> str:
    return check_app_id(app_id)


Apps = Annotated[AppsControl, Depends(apps_of)]
AppId = Annotated[str, Depends(app_id_of)]

router = APIRouter(prefix="/api/apps", tags=["apps"], route_class=PlatformRoute)


@router.get(
    "",
    response_model=AppList,
    responses=error_responses(503),
    summary="List the installed apps",
)
async def list_apps(apps: Apps) -> JSONResponse:
    return JSONResponse({"apps": apps.list()})


@router.post(
    "",
    status_code=201,
    response_model=App,
    responses=error_responses(400, 403, 409, 413, 415, 503),
    summary="Install an app",
    openapi_extra=_PACKAGE_BODY,
)
async def install_app(
    apps: Apps,
    request: Request,
    grant: Annotated[
        str,
        Query(
            description="ask: leave the permissions for the user to decide; all: grant every "
            "one (for integrators); none: deny every one. The car's policy file applies in "
            "any case.",
            json_schema_extra={"enum": list(GRANT_MODES)},
        ),
    ] = "ask",
) -> JSONResponse:
    """Check and install a signed package; answers 201 with the app."""
    if grant not in GRANT_MODES:
        raise InvalidArgument(f"grant must be one of {', '.join(GRANT_MODES)}, not {grant!r}")
    package = await _package_of(request)
    return JSONResponse(await apps.install(package, grant=grant), status_code=201)


@router.get(
    "/publishers",
    response_model=Publishers,
    responses=error_responses(503),
    summary="List the trusted publishers",
    tags=["publishers"],
)
async def list_publishers(apps: Apps) -> JSONResponse:
    return JSONResponse({"publishers": apps.publishers()})


@router.post(
    "/publishers",
    status_code=201,
    response_model=Publisher,
    responses=error_responses(400, 403, 409, 422, 503),
    summary="Trust a publisher's key",
    tags=["publishers"],
)
async def trust_publisher(apps: Apps, request: TrustRequest) -> JSONResponse:
    """Packages signed with this key by this publisher may be installed from now on."""
    publisher = check_app_id(request.publisher, "publisher id", "org.example")
    pem = request.public_key_pem
    if not pem.strip() or len(pem) > MAX_KEY_PEM:
        raise InvalidArgument(
            f"public_key_pem must be the publisher's PEM public key (at most {MAX_KEY_PEM} bytes)"
        )
    return JSONResponse(apps.trust(publisher, pem), status_code=201)


@router.get(
    "/{app_id}",
    response_model=App,
    responses=error_responses(400, 404, 503),
    summary="Describe one app",
)
async def describe_app(apps: Apps, app_id: AppId) -> JSONResponse:
    return JSONResponse(apps.describe(app_id))


@router.post(
    "/{app_id}/update",
    response_model=App,
    responses=error_responses(400, 403, 404, 409, 413, 415, 503),
    summary="Update an app to a newer package",
    openapi_extra=_PACKAGE_BODY,
)
async def update_app(apps: Apps, app_id: AppId, request: Request) -> JSONResponse:
    """Install a newer version of the same publisher's app; the old one stays for rollback."""
    package = await _package_of(request)
    return JSONResponse(await apps.update(app_id, package))


@router.post(
    "/{app_id}/rollback",
    response_model=App,
    responses=error_responses(400, 403, 404, 409, 503),
    summary="Return to the previous version",
)
async def rollback_app(apps: Apps, app_id: AppId) -> JSONResponse:
    """Swap the current and the previous version (409 when there is none)."""
    return JSONResponse(await apps.rollback(app_id))


@router.delete(
    "/{app_id}",
    response_model=Accepted,
    responses=error_responses(400, 403, 404, 503),
    summary="Remove an app and its data",
)
async def remove_app(apps: Apps, app_id: AppId) -> JSONResponse:
    await apps.remove(app_id)
    return JSONResponse({"ok": True})


@router.post(
    "/{app_id}/start",
    response_model=App,
    responses=error_responses(400, 403, 404, 409, 503),
    summary="Start an app (lifting a quarantine)",
)
async def start_app(apps: Apps, app_id: AppId) -> JSONResponse:
    """Start it now and with the car from now on; 409 while permissions are undecided."""
    return JSONResponse(await apps.start(app_id))


@router.post(
    "/{app_id}/stop",
    response_model=App,
    responses=error_responses(400, 403, 404, 503),
    summary="Stop an app",
)
async def stop_app(apps: Apps, app_id: AppId) -> JSONResponse:
    """Stop it now; it no longer starts with the car."""
    return JSONResponse(await apps.stop(app_id))


@router.put(
    "/{app_id}/grants",
    response_model=App,
    responses=error_responses(400, 403, 404, 422, 503),
    summary="Grant or deny permissions",
)
async def set_grants(apps: Apps, app_id: AppId, request: Grants) -> JSONResponse:
    """Decide some of the app's permissions; a revoked one restarts it with a new token."""
    if not request.grants:
        raise InvalidArgument('give the permissions to decide: {"grants": {"ID": true, …}}')
    return JSONResponse(await apps.set_grants(app_id, dict(request.grants)))


@router.get(
    "/{app_id}/logs",
    response_model=Logs,
    responses=error_responses(400, 404, 503),
    summary="The newest lines of an app's log",
)
async def app_logs(
    apps: Apps,
    app_id: AppId,
    lines: Annotated[
        str,
        Query(
            description=f"How many lines: a whole number from 1 to {MAX_LOG_LINES}.",
            json_schema_extra={"pattern": "^[0-9]+$"},
        ),
    ] = str(DEFAULT_LOG_LINES),
) -> JSONResponse:
    # Parsed here rather than by FastAPI, so that a bad value is a 400 like every bad input.
    count = int(lines) if lines.isascii() and lines.isdigit() else 0
    if not 1 <= count <= MAX_LOG_LINES:
        raise InvalidArgument(f"lines must be a whole number from 1 to {MAX_LOG_LINES}")
    return JSONResponse({"lines": apps.logs(app_id, count)})


@router.get(
    "/{app_id}/icon",
    response_class=Response,
    responses={
        200: {
            "description": "The icon file (SVG or PNG), revalidated on each load.",
            "content": {"image/svg+xml": {}, "image/png": {}},
        },
        304: {"description": "Unchanged since the ETag the client holds."},
        **error_responses(400, 404, 503),
    },
    summary="An app's icon",
)
async def app_icon(apps: Apps, app_id: AppId, request: Request) -> Response:
    content, media_type = apps.icon(app_id)
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    headers = {**ICON_HEADERS, "ETag": etag}
    wanted = request.headers.get("if-none-match", "")
    if etag in (tag.strip() for tag in wanted.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


@router.get(
    "/{app_id}/template",
    response_model=TemplateState,
    responses=error_responses(400, 404, 503),
    summary="What the app shows now",
)
async def app_template(apps: Apps, app_id: AppId) -> JSONResponse:
    """The app's current template, already trimmed by the driving rules in force."""
    return JSONResponse(apps.template(app_id))


@router.post(
    "/{app_id}/action",
    response_model=Accepted,
    responses=error_responses(400, 403, 404, 422, 503),
    summary="Deliver a user's tap to the app",
)
async def app_action(apps: Apps, app_id: AppId, request: Tap) -> JSONResponse:
    """An action button (``item`` null) or an item (``"select"`` with its id) was tapped;
    503 when the app is not connected."""
    action, item = check_action(request.action, request.item)
    await apps.action(app_id, action, item)
    return JSONResponse({"ok": True})


# -- package bodies -----------------------------------------------------------------------------


async def _package_of(request: Request) -> bytes:
    """The package a request carries: its body, or the ``package`` field of a form."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.partition(";")[0].strip().lower()
    if kind and kind not in PACKAGE_TYPES and kind != FORM_TYPE:
        raise HTTPException(
            415,
            f"send the package as application/octet-stream (its bytes) or as {FORM_TYPE} "
            f"with a {PACKAGE_FIELD!r} file field, not {kind}",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_PACKAGE_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PACKAGE_BYTES:
            raise _too_large()
    package = form_file(bytes(body), content_type, PACKAGE_FIELD) if kind == FORM_TYPE else body
    if not package:
        raise InvalidArgument("the request holds no package: send the .cmapp file's bytes")
    return bytes(package)


def _too_large() -> HTTPException:
    return HTTPException(
        413, f"the package is larger than {MAX_PACKAGE_BYTES >> 20} MiB, the most the car takes"
    )


def form_file(body: bytes, content_type: str, field: str) -> bytes:
    """The content of the one *field* of a ``multipart/form-data`` *body* (RFC 7578).

    Raises :class:`InvalidArgument` for a body that does not follow the format, has no such
    field, or has it more than once.
    """
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70:
        raise InvalidArgument(f"the {FORM_TYPE} body names no boundary in its Content-Type")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    parts = (b"\r\n" + body).split(delimiter)
    if len(parts) < 2 or not parts[-1].startswith(b"--"):
        raise InvalidArgument(f"the {FORM_TYPE} body does not end with its closing boundary")
    found: list[bytes] = []
    for part in parts[1:-1]:
        head, blank, content = part.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        if not blank or lines[0].strip(b" \t"):
            raise InvalidArgument(f"a part of the {FORM_TYPE} body is malformed")
        headers = Message()
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise InvalidArgument(f"a part of the {FORM_TYPE} body has a malformed header")
            headers[name.decode("latin-1").strip()] = value.decode("utf-8", "replace").strip()
        name_param = headers.get_param("name", header="content-disposition")
        if name_param is not None and collapse_rfc2231_value(name_param) == field:
            found.append(content)
    if len(found) != 1:
        raise InvalidArgument(
            f"the form must hold one {field!r} file field, not {len(found)}"
            if found
            else f"the form has no {field!r} file field: attach the .cmapp file as {field!r}"
        )
    return found[0]
