"""Addresses the car's servers listen on: ``HOST:PORT`` parsing and the loopback check that
decides whether an open (unauthenticated) server may bind there."""

from __future__ import annotations

import ipaddress

from carmesh.errors import ConfigError


def parse_address(text: str, *, example: str = "127.0.0.1:55555") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:55555`` for IPv6) → (host, port); ConfigError when malformed."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{text!r} is not HOST:PORT (e.g. {example})")
    host = host.removeprefix("[").removesuffix("]")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"{text!r}: the port must be a number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{text!r}: the port must be 0..65535")
    return host, port


def format_address(host: str, port: int) -> str:
    """``HOST:PORT``, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
