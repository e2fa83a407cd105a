"""What the HMI (and through its HTTP API, the CLI) may ask of the apps platform.

:class:`carmesh.apps.service.AppsService` implements it; the HMI depends only on this
protocol. JSON shapes are those of ``docs/apps.md`` (section "HTTP API").
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

#: What changed: the list or state of apps, an app's template (as shown now), a notification.
EventKind = Literal["apps", "template", "notification"]


@dataclass(frozen=True, slots=True)
class AppEvent:
    """One change for the HMI's clients.

    - ``apps``: *payload* is ``{"apps": [APP, …]}`` (the whole list, as ``GET /api/apps``);
    - ``template``: *app_id* set, *payload* ``{"template": T|None, "trimmed": bool}``;
    - ``notification``: *app_id* set, *payload* the notification JSON.
    """

    kind: EventKind
    app_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[AppEvent], None]


class AppsControl(Protocol):
    """Lifecycle, permissions, UI and notifications of installed apps.

    Raises carmesh errors: ``NotFound`` (unknown app), ``PackageRejected`` (bad package),
    ``AlreadyExists`` (install of an installed id), ``FailedPrecondition`` (no previous version
    to roll back to…), ``InvalidArgument`` (unknown permission id, bad action).
    """

    def list(self) -> list[dict[str, Any]]: ...

    def describe(self, app_id: str) -> dict[str, Any]: ...

    async def install(self, package: bytes, grant: str = "ask") -> dict[str, Any]: ...

    async def update(self, app_id: str, package: bytes) -> dict[str, Any]: ...

    async def rollback(self, app_id: str) -> dict[str, Any]: ...

    async def remove(self, app_id: str) -> None: ...

    async def start(self, app_id: str) -> dict[str, Any]: ...

    async def stop(self, app_id: str) -> dict[str, Any]: ...

    async def set_grants(self, app_id: str, grants: dict[str, bool]) -> dict[str, Any]: ...

    def logs(self, app_id: str, lines: int = 200) -> builtins.list[str]: ...

    def icon(self, app_id: str) -> tuple[bytes, str]:
        """(file content, media type); ``NotFound`` when the app has no icon."""
        ...

    def template(self, app_id: str) -> dict[str, Any]:
        """``{"template": T|None, "trimmed": bool}`` as the HMI should show it now."""
        ...

    async def action(self, app_id: str, action: str, item: str | None = None) -> None:
        """Deliver a user's tap to the app; ``Unavailable`` when the app is not connected."""
        ...

    def notifications(self) -> builtins.list[dict[str, Any]]:
        """Recent notifications, newest first."""
        ...

    def publishers(self) -> builtins.list[dict[str, Any]]: ...

    def trust(self, publisher: str, public_key_pem: str) -> dict[str, Any]: ...

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call *listener* (on the event loop, must not block) with every :class:`AppEvent`;
        returns the function that removes it."""
        ...
