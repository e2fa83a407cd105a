"""The HMI service: the car's screens (centre display, driver cluster) served over HTTP and a
WebSocket from the broker's own process and event loop (``docs/hmi-protocol.md``)."""

from carmesh.hmi.principal import HMI_SCOPES, hmi_principal
from carmesh.hmi.server import DEFAULT_ADDRESS, HmiServer

__all__ = ["DEFAULT_ADDRESS", "HMI_SCOPES", "HmiServer", "hmi_principal"]
