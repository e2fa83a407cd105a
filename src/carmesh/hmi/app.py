"""The HMI's ASGI application: JSON API, WebSocket, pages, and offline API documentation.

``/docs`` is Swagger UI from the ``fastapi-offline`` package's bundled assets, served by the
car itself under ``/docs/assets``; nothing is loaded from the internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from carmesh import __version__
from carmesh.hmi import api, apps_api, media_api, pages, status, ws
from carmesh.hmi.context import HmiContext
from carmesh.hmi.origin import SameHostOnly

DESCRIPTION = """\
The car's HMI API: read signals, request actuations and follow the driving state. Values and
errors are those of the broker; the HMI acts under its own principal `hmi`, which reads every
signal and actuates the driver-facing actuators. Live updates stream over the WebSocket `/ws`
(see docs/hmi-protocol.md).

The apps platform's routes (`/api/apps…`: install, permissions, lifecycle, templates) answer
503 while the platform is off (see docs/apps.md). The media service's routes (`/api/media…`:
state, browse, search, play, transport, queue, modes, art, stations, podcasts, library scans)
answer 503 while it is off (see docs/media.md).
"""


def create_app(
    context: HmiContext,
    *,
    loopback: bool = True,
    static_dir: Path | None = None,
    i18n_dir: Path | None = None,
) -> FastAPI:
    """The app serving *context*; *loopback* when it listens on a loopback address (see
    :mod:`carmesh.hmi.origin`); *static_dir* and *i18n_dir* default to the packaged ones."""
    app = FastAPIOffline(
        title="carmesh HMI",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        static_url="/docs/assets",
        swagger_ui_parameters={"validatorUrl": None, "defaultModelsExpandDepth": 0},
    )
    app.state.hmi = context
    status.install(app)
    app.add_middleware(SameHostOnly, loopback=loopback)
    app.include_router(api.router)
    app.include_router(apps_api.router)
    app.include_router(media_api.router)
    app.add_api_websocket_route("/ws", ws.endpoint)
    pages.install(app, static_dir, i18n_dir)
    return app
