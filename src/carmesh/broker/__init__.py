"""The signal broker core (asyncio, no wire protocol inside)."""

from carmesh.broker.broker import Broker
from carmesh.broker.datapoint import Datapoint, Field
from carmesh.broker.permissions import Action, Principal, Scope, parse_scopes
from carmesh.broker.provider import Actuator, ProviderSession
from carmesh.broker.store import SignalStore
from carmesh.broker.subscription import Batch, Subscription

__all__ = [
    "Action",
    "Actuator",
    "Batch",
    "Broker",
    "Datapoint",
    "Field",
    "Principal",
    "ProviderSession",
    "Scope",
    "SignalStore",
    "Subscription",
    "parse_scopes",
]
