"""Keep web pages from elsewhere out of the car's HMI.

The HMI has no authorization of its own: on loopback, whoever can reach the port may read and
actuate. A browser on the same machine must therefore not become a way in for a web page
from another site:

- **Host check** (on a loopback address): a request whose ``Host`` names anything but a
  loopback host is refused with 403, so a DNS-rebinding page (``evil.example`` resolving to
  127.0.0.1) gets nothing.
- **Origin check** (WebSocket): a browser sends ``Origin``; a WebSocket handshake from a
  page whose origin is on another host than the one it connects to is refused (HTTP 403).
  Clients that are not browsers send no ``Origin`` and are unaffected. Cross-site HTTP
  requests are already kept out by the browser: actuation needs a JSON body, which a page
  from elsewhere cannot send without a CORS preflight that this server never grants.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from carmesh.api.address import is_loopback
from carmesh.errors import PermissionDenied
from carmesh.hmi.status import error_response

#: Methods that change nothing, which pages of any origin may use.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def refuse_other_hosts(connection: HTTPConnection, doing: str) -> None:
    """Raise PermissionDenied when a browser page of another host than the one it talks to
    sent the request (clients that are not browsers send no ``Origin``)."""
    origin = connection.headers.get("origin")
    if origin is None:
        return
    host = connection.headers.get("host")
    if host is None or (urlsplit(origin).hostname or "").lower() != host_of(host):
        raise PermissionDenied(f"pages from {origin} may not {doing}")


def host_of(authority: str) -> str:
    """The host of ``host[:port]`` (IPv6 in brackets), lowercased, without brackets."""
    return (urlsplit(f"//{authority}").hostname or "").lower()


class SameHostOnly:
    """ASGI middleware applying the checks above; *loopback* enables the Host check."""

    def __init__(self, app: ASGIApp, *, loopback: bool) -> None:
        self.app = app
        self.loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {name: value.decode("latin-1") for name, value in scope["headers"]}
        host = host_of(headers.get(b"host", "")) if b"host" in headers else None
        refusal = None
        if self.loopback and host is not None and not is_loopback(host):
            refusal = f"the HMI answers only for loopback host names, not {host!r}"
        elif scope["type"] == "websocket" and b"origin" in headers:
            origin = (urlsplit(headers[b"origin"]).hostname or "").lower()
            if host is None or origin != host:
                refusal = f"pages from {headers[b'origin']} may not open the HMI's WebSocket"
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": refusal[:120]})
        else:
            await error_response(PermissionDenied(refusal))(scope, receive, send)
