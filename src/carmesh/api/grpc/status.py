"""carmesh errors as gRPC status codes, in one place.

The codes are those of Eclipse KUKSA's databroker (``kuksa.val.v2``): unknown path or id →
NOT_FOUND; wrong type, out of range, not allowed, actuating a sensor → INVALID_ARGUMENT; no
provider → UNAVAILABLE; already claimed → ALREADY_EXISTS; missing scope → PERMISSION_DENIED;
missing, bad or expired token → UNAUTHENTICATED.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

from carmesh.errors import (
    AlreadyClaimed,
    AlreadyExists,
    CarmeshError,
    FailedPrecondition,
    InvalidArgument,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

_CODES: list[tuple[type[CarmeshError], grpc.StatusCode]] = [
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (AlreadyClaimed, grpc.StatusCode.ALREADY_EXISTS),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
]

#: v1 answers OK and reports errors inside the response with HTTP-like codes.
_HTTP_CODES: list[tuple[type[CarmeshError], tuple[int, str]]] = [
    (NotFound, (404, "not_found")),
    (InvalidArgument, (400, "bad_request")),
    (PermissionDenied, (403, "forbidden")),
    (Unauthenticated, (401, "unauthorized")),
    (Unavailable, (503, "unavailable")),
    (AlreadyClaimed, (409, "conflict")),
]

#: sdv.databroker.v1 reports errors per signal with its ``DatapointError`` enum (the names).
_DATAPOINT_ERRORS: list[tuple[type[CarmeshError], str]] = [
    (NotFound, "UNKNOWN_DATAPOINT"),
    (InvalidValue, "OUT_OF_BOUNDS"),
    (PermissionDenied, "ACCESS_DENIED"),
    (Unauthenticated, "ACCESS_DENIED"),
    (AlreadyClaimed, "ACCESS_DENIED"),
]


def grpc_code(exc: CarmeshError) -> grpc.StatusCode:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


def http_code(exc: CarmeshError) -> tuple[int, str]:
    """(code, reason) of a v1 ``Error`` for *exc*."""
    for kind, code in _HTTP_CODES:
        if isinstance(exc, kind):
            return code
    return (500, "internal_error")


def datapoint_error(exc: CarmeshError) -> str:
    """The sdv.databroker.v1 ``DatapointError`` name for *exc* (``INTERNAL_ERROR`` for errors
    that enum has no word for, such as an actuator without a provider)."""
    for kind, name in _DATAPOINT_ERRORS:
        if isinstance(exc, kind):
            return name
    return "INTERNAL_ERROR"


async def abort(context: grpc.aio.ServicerContext[Any, Any], exc: CarmeshError) -> NoReturn:
    await context.abort(grpc_code(exc), str(exc))
    raise AssertionError("unreachable")  # context.abort raises


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def unary(method: F) -> F:
    """Decorate a unary servicer method: a CarmeshError it raises becomes the call's status."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await method(self, request, context)
        except CarmeshError as exc:
            await abort(context, exc)

    return wrapper  # type: ignore[return-value]
