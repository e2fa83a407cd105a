"""The carmesh app SDK: what an app's ``main(car)`` works with.

::

    from carmesh.sdk import Car, Item, ListTemplate

    async def main(car: Car) -> None:
        speed = await car.get("Vehicle.Speed")
        await car.show(ListTemplate(title="Speed", items=[Item(id="v", title=f"{speed} km/h")]))

:class:`Car` talks to the car over gRPC (``kuksa.val.v2`` for signals, ``carmesh.app.v1`` for
the UI); the template models are the car's own (``docs/apps.md``, "Templates"); errors are
carmesh's exceptions, re-exported here.
"""

from carmesh.apps.templates import (
    Action,
    GridItem,
    GridTemplate,
    Item,
    ListTemplate,
    MessageTemplate,
    NavigationTemplate,
    PaneTemplate,
    Row,
    SearchResult,
    SearchTemplate,
    Template,
)
from carmesh.errors import (
    AlreadyClaimed,
    CarmeshError,
    InvalidArgument,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from carmesh.sdk.car import Car, Subscription
from carmesh.sdk.media import MediaSession, QueueItem
from carmesh.sdk.provider import Provider
from carmesh.sdk.signals import Signal

__all__ = [
    "Action",
    "AlreadyClaimed",
    "Car",
    "CarmeshError",
    "GridItem",
    "GridTemplate",
    "InvalidArgument",
    "InvalidValue",
    "Item",
    "ListTemplate",
    "MediaSession",
    "MessageTemplate",
    "NavigationTemplate",
    "NotFound",
    "PaneTemplate",
    "PermissionDenied",
    "Provider",
    "QueueItem",
    "Row",
    "SearchResult",
    "SearchTemplate",
    "Signal",
    "Subscription",
    "Template",
    "Unauthenticated",
    "Unavailable",
]
