"""kuksa.val.v2 VAL service (scaffold: every method answers UNIMPLEMENTED until written)."""

from __future__ import annotations

import grpc
from kuksa.val.v2 import val_pb2_grpc

from carmesh.api.grpc.auth import GrpcAuth
from carmesh.broker import Broker


class ValV2Servicer(val_pb2_grpc.VALServicer):  # type: ignore[misc]
    def __init__(self, broker: Broker, auth: GrpcAuth) -> None:
        self.broker = broker
        self.auth = auth


def add_to_server(server: grpc.aio.Server, broker: Broker, auth: GrpcAuth) -> None:
    val_pb2_grpc.add_VALServicer_to_server(ValV2Servicer(broker, auth), server)
