"""carmesh errors as HTTP statuses and JSON bodies, in one place.

Every error the HMI server answers — from the JSON API, from FastAPI's request validation,
from routing, and inside WebSocket ``error`` and ``result`` frames — has the body
``{"error": {"code", "message", "path"}}`` of ``docs/hmi-protocol.md``: not found → 404,
invalid argument or value → 400 (422 for a body that does not parse or lacks a field),
permission denied → 403, unauthenticated → 401, unavailable → 503, already claimed or
existing → 409, failed precondition → 409.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from carmesh.errors import (
    AlreadyClaimed,
    AlreadyExists,
    CarmeshError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[CarmeshError], int]] = [
    (NotFound, 404),
    (InvalidArgument, 400),
    (PermissionDenied, 403),
    (Unauthenticated, 401),
    (Unavailable, 503),
    (AlreadyClaimed, 409),
    (AlreadyExists, 409),
    (FailedPrecondition, 409),
]

#: Codes for HTTP errors raised by routing rather than by carmesh.
_HTTP_CODES = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "invalid_argument",
    409: "already_exists",
    413: "invalid_argument",
    415: "invalid_argument",
    503: "unavailable",
}

#: Status of a request body that does not parse or lacks a field.
MALFORMED_BODY = 422


def http_status(exc: CarmeshError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_json(code: str, message: str, path: str | None = None) -> dict[str, Any]:
    """The ``error`` object: ``{"code", "message", "path"}``."""
    return {"code": code, "message": message, "path": path}


def carmesh_error_json(exc: CarmeshError) -> dict[str, Any]:
    return error_json(exc.code, exc.message, exc.path)


def error_response(exc: CarmeshError) -> JSONResponse:
    return JSONResponse({"error": carmesh_error_json(exc)}, status_code=http_status(exc))


def describe_validation(exc: RequestValidationError) -> str:
    """One sentence for the first problem FastAPI found in a request."""
    errors = exc.errors()
    if not errors:
        return "the request is malformed"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    what = str(first.get("msg", "is malformed")).rstrip(".")
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON: {first.get('ctx', {}).get('error', what)}"
    return f"the request is malformed: {where or 'body'}: {what}"


def install(app: FastAPI) -> None:
    """Make every error the app answers take the carmesh JSON form."""

    async def on_carmesh_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CarmeshError)
        return error_response(exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(
            {"error": error_json("invalid_argument", describe_validation(exc))},
            status_code=MALFORMED_BODY,
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = _HTTP_CODES.get(exc.status_code, "internal")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing is served at {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return JSONResponse(
            {"error": error_json(code, message)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("the HMI failed to answer %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            {"error": error_json("internal", "the car could not answer; see its log")},
            status_code=500,
        )

    app.add_exception_handler(CarmeshError, on_carmesh_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
