"""What every request handler of the HMI server shares: the broker, the HMI's principal and
the driving-state watcher."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from carmesh.broker import Broker, Principal
from carmesh.rules.distraction import DrivingWatcher


@dataclass(frozen=True)
class HmiContext:
    broker: Broker
    principal: Principal
    watcher: DrivingWatcher


def context_of(connection: HTTPConnection) -> HmiContext:
    """The context of the app serving *connection* (a request or a WebSocket)."""
    context: HmiContext = connection.app.state.hmi
    return context
