"""gRPC status codes back into carmesh errors, in one place for the SDK.

The car maps its errors to codes as Eclipse KUKSA's databroker does
(``carmesh.api.grpc.status``); this is the inverse, keeping the car's message, so that an app
catches the same exceptions in the car as in a test against an in-process broker.
"""

from __future__ import annotations

import grpc

from carmesh.errors import (
    AlreadyClaimed,
    CarmeshError,
    FailedPrecondition,
    InvalidArgument,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

__all__ = ["error_of"]


def error_of(
    exc: grpc.aio.AioRpcError, address: str, *, path: str | None = None, value: bool = False
) -> CarmeshError:
    """The carmesh error for a call to the car at *address* that ended with *exc*.

    INVALID_ARGUMENT becomes :class:`InvalidValue` when the call carried values (*value*),
    else :class:`InvalidArgument`. The message is the car's; for codes that say the car is
    out of reach it names the address.
    """
    code = exc.code()
    details = exc.details() or code.name.lower().replace("_", " ")
    if code is grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(details, path=path)
    if code is grpc.StatusCode.NOT_FOUND:
        return NotFound(details, path=path)
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidValue(details, path=path) if value else InvalidArgument(details, path=path)
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return Unauthenticated(details)
    if code is grpc.StatusCode.ALREADY_EXISTS:
        return AlreadyClaimed(details, path=path)
    if code is grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(details, path=path)
    if code is grpc.StatusCode.UNAVAILABLE:
        if "connect" in details.lower():
            return Unavailable(f"cannot reach the car at {address} ({details})")
        return Unavailable(details, path=path)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return Unavailable(f"the car at {address} did not answer in time")
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return Unavailable(f"the broker at {address} does not offer this call ({details})")
    return CarmeshError(f"the call to {address} failed: {code.name}: {details}")
