"""sdv.databroker.v1 Broker and Collector (scaffold: UNIMPLEMENTED until written)."""

from __future__ import annotations

import grpc

from carmesh.api.grpc.auth import GrpcAuth
from carmesh.broker import Broker


def add_to_server(server: grpc.aio.Server, broker: Broker, auth: GrpcAuth) -> None:
    return None
