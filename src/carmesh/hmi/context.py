"""What every request handler of the HMI server shares: the broker, the HMI's principal, the
driving-state watcher and, when they run, the control interfaces of the apps platform and of
the media service."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from carmesh.apps.control import AppsControl
from carmesh.broker import Broker, Principal
from carmesh.media.control import MediaControl
from carmesh.rules.distraction import DrivingWatcher


@dataclass(frozen=True)
class HmiContext:
    broker: Broker
    principal: Principal
    watcher: DrivingWatcher
    #: The apps platform; None when it is off (``/api/apps…`` answers 503, ``/ws`` sends no
    #: app frames).
    apps: AppsControl | None = None
    #: The media service; None when it is off (``/api/media…`` answers 503, ``/ws`` sends
    #: no media frames).
    media: MediaControl | None = None


def context_of(connection: HTTPConnection) -> HmiContext:
    """The context of the app serving *connection* (a request or a WebSocket)."""
    context: HmiContext = connection.app.state.hmi
    return context
