"""``carmesh.app.v1.AppHost`` over gRPC: the app host's adapter for app processes.

An adapter only: each method authenticates the caller with the server's :class:`GrpcAuth`,
requires an app (principal ``app:ID``) that is installed, calls the in-process
:class:`~carmesh.apps.host.AppHost` and maps :mod:`carmesh.errors` to gRPC codes with
:mod:`carmesh.api.grpc.status`. Templates and events travel as JSON text
(``docs/apps.md``, "App host"). ``Events`` streams until the app cancels it or the server
stops (then UNAVAILABLE, like the broker's subscriptions).

Add it to a server with ``GrpcServer(..., extra=[adapter_for(host)])``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.carmesh_app_v1 import app_pb2, app_pb2_grpc
from carmesh.api.grpc.server import Adapter
from carmesh.api.grpc.status import abort, unary
from carmesh.apps.host import AppHost, EventStream
from carmesh.broker import Broker
from carmesh.errors import CarmeshError, InvalidArgument, PermissionDenied, Unavailable

__all__ = ["AppHostServicer", "adapter_for"]

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

#: Principals of apps are named ``app:ID`` (the ``sub`` of the car's app tokens).
APP_PREFIX = "app:"
STOPPING = "carmesh is stopping; reconnect when it is back"


class AppHostServicer(app_pb2_grpc.AppHostServicer):  # type: ignore[misc]
    def __init__(self, host: AppHost, auth: GrpcAuth) -> None:
        self.host = host
        self.auth = auth
        self._streams: set[EventStream] = set()
        self._stopping = False

    async def close(self) -> None:
        """End every open ``Events`` call with UNAVAILABLE, so that the server can stop."""
        self._stopping = True
        for stream in list(self._streams):
            stream.close()

    def _app(self, context: Context) -> str:
        """The calling app's id: PERMISSION_DENIED for a caller that is not an installed
        app, UNAUTHENTICATED for a missing or bad token."""
        if self._stopping:
            raise Unavailable(STOPPING)
        principal = self.auth.principal(context)
        if not principal.name.startswith(APP_PREFIX):
            raise PermissionDenied("only apps may use the app host")
        principal.check_live()
        app_id = principal.name.removeprefix(APP_PREFIX)
        self.host.app(app_id)
        return app_id

    @unary
    async def Hello(self, request: Any, context: Context) -> Any:
        hello = self.host.hello(self._app(context))
        return app_pb2.HelloResponse(
            app_id=hello["app_id"],
            version=hello["version"],
            permissions=hello["permissions"],
            locale=hello["locale"],
            driving_json=_json(hello["driving"]),
        )

    @unary
    async def ShowTemplate(self, request: Any, context: Context) -> Any:
        app_id = self._app(context)
        try:
            template = json.loads(request.template_json)
        except ValueError as exc:
            raise InvalidArgument(f"template_json is not JSON: {exc}") from None
        return app_pb2.ShowTemplateResponse(trimmed=self.host.show(app_id, template))

    @unary
    async def Notify(self, request: Any, context: Context) -> Any:
        app_id = self._app(context)
        notification = self.host.notify(
            app_id, request.title, request.body, request.priority or "normal"
        )
        return app_pb2.NotifyResponse(id=notification["id"])

    @unary
    async def RegisterMediaSession(self, request: Any, context: Context) -> Any:
        session_id = self.host.register_media_session(
            self._app(context), request.name, request.zone or "driver"
        )
        return app_pb2.RegisterMediaSessionResponse(session_id=session_id)

    @unary
    async def SetMediaQueue(self, request: Any, context: Context) -> Any:
        app_id = self._app(context)
        try:
            items = json.loads(request.items_json)
        except ValueError as exc:
            raise InvalidArgument(f"items_json is not JSON: {exc}") from None
        state = await self.host.set_media_queue(
            app_id, request.session_id, items, request.start, request.play
        )
        return app_pb2.SetMediaQueueResponse(state_json=_json(state))

    @unary
    async def SetMediaState(self, request: Any, context: Context) -> Any:
        app_id = self._app(context)
        state = await self.host.set_media_state(
            app_id,
            request.session_id,
            request.state or None,
            request.index if request.HasField("index") else None,
            request.position if request.HasField("position") else None,
        )
        return app_pb2.SetMediaStateResponse(state_json=_json(state))

    async def Events(self, request: Any, context: Context) -> None:
        try:
            app_id = self._app(context)
        except CarmeshError as exc:
            await abort(context, exc)
        stream = self.host.events(app_id)
        self._streams.add(stream)
        try:
            async for kind, payload in stream:
                await context.write(app_pb2.Event(kind=kind, json=_json(payload)))
        finally:
            stream.close()
            self._streams.discard(stream)
        await context.abort(grpc.StatusCode.UNAVAILABLE, STOPPING)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def adapter_for(host: AppHost) -> Adapter:
    """An extra adapter for :class:`~carmesh.api.grpc.server.GrpcServer` serving *host*; its
    closer ends the ``Events`` calls of that server."""

    def add_to_server(
        server: grpc.aio.Server, broker: Broker, auth: GrpcAuth
    ) -> Callable[[], Awaitable[None]]:
        servicer = AppHostServicer(host, auth)
        app_pb2_grpc.add_AppHostServicer_to_server(servicer, server)
        return servicer.close

    return add_to_server
