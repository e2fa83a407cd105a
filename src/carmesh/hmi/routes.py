"""Routes of a car service that may be off (the apps platform, the media service): they
answer 503 while it is off and refuse changes from pages of other hosts, both before the
request is read."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from carmesh.errors import Unavailable
from carmesh.hmi.context import context_of
from carmesh.hmi.origin import SAFE_METHODS, refuse_other_hosts


def service_route(attribute: str, off: str, doing: str) -> type[APIRoute]:
    """A route class for the service held in the HMI context's *attribute*; *off* is the
    503 message while it is None, *doing* what a page of another host may not do (e.g.
    ``"change the car's apps"``)."""

    class ServiceRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def checked(request: Request) -> Response:
                if getattr(context_of(request), attribute) is None:
                    raise Unavailable(off)
                if request.method not in SAFE_METHODS:
                    refuse_other_hosts(request, doing)
                return await handler(request)

            return checked

    ServiceRoute.__name__ = ServiceRoute.__qualname__ = f"{attribute.capitalize()}Route"
    return ServiceRoute
