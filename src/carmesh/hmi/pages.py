"""The HMI's pages and assets, served from the package: ``/`` (the centre display,
``static/index.html``), ``/cluster`` (``static/cluster.html``), ``/static/…`` and
``/i18n/{lang}.json``.

Everything is revalidated on each load (``Cache-Control: no-cache`` with ETags), so a car
that was updated shows the new screens at once.
"""

from __future__ import annotations

import mimetypes
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from carmesh.errors import NotFound

#: Route → (file under the static folder, what it is).
PAGES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "centre display"),
    "/cluster": ("cluster.html", "driver cluster"),
}

#: Types browsers insist on (ES modules) or that older mimetypes tables lack.
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".webp": "image/webp",
}

NO_CACHE = {"Cache-Control": "no-cache"}


def packaged(folder: str) -> Path:
    """A folder of the installed ``carmesh.hmi`` package (``static``, ``i18n``)."""
    return Path(str(resources.files("carmesh.hmi") / folder))


class Assets(StaticFiles):
    """Static files revalidated on every load."""

    def file_response(
        self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(NO_CACHE)
        return response


def _page(file: Path, what: str) -> Any:
    async def page(request: Request) -> Response:
        if not file.is_file():
            raise NotFound(f"the {what} page is not installed ({file.name} is missing)")
        return FileResponse(file, media_type="text/html; charset=utf-8", headers=NO_CACHE)

    page.__name__ = f"{file.stem}_page"
    return page


def install(app: FastAPI, static_dir: Path | None = None, i18n_dir: Path | None = None) -> None:
    """Add the pages, ``/static`` and ``/i18n`` to *app* (the packaged folders by default)."""
    for suffix, kind in _TYPES.items():
        mimetypes.add_type(kind, suffix)
    static_dir = static_dir or packaged("static")
    i18n_dir = i18n_dir or packaged("i18n")
    for route, (name, what) in PAGES.items():
        app.add_api_route(route, _page(static_dir / name, what), include_in_schema=False)
    app.mount("/static", Assets(directory=static_dir, check_dir=False), name="static")
    app.mount("/i18n", Assets(directory=i18n_dir, check_dir=False), name="i18n")
