"""Who is calling: the principal of a gRPC call, from its ``authorization`` metadata."""

from __future__ import annotations

from typing import Any

import grpc

from carmesh.api.tokens import Verifier
from carmesh.broker.permissions import Principal
from carmesh.errors import Unauthenticated


class GrpcAuth:
    """Resolves ``authorization: Bearer <JWT>`` to a principal.

    Without a verifier (no public key configured, loopback or ``--insecure`` only) every caller
    is the anonymous principal with every scope, as the KUKSA databroker does without a key.
    """

    def __init__(self, verifier: Verifier | None) -> None:
        self.verifier = verifier
        self.anonymous = Principal.system("anonymous")

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    def principal(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        """The caller's principal; raises :class:`Unauthenticated` for missing/bad tokens."""
        if self.verifier is None:
            return self.anonymous
        header = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                header = value if isinstance(value, str) else value.decode()
                break
        if header is None:
            raise Unauthenticated("no bearer token: send 'authorization: Bearer <token>'")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the authorization header must be 'Bearer <token>'")
        return self.verifier.verify(token.strip())
