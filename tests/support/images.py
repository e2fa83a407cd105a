"""Small real PNG images for tests (cover art, icons), written without an imaging library."""

from __future__ import annotations

import struct
import zlib


def png(size: int = 16, rgb: tuple[int, int, int] | None = None) -> bytes:
    """A *size*×*size* RGB PNG: one colour *rgb*, or a gradient when None (so that two sizes
    or colours give different bytes)."""

    def pixel(x: int, y: int) -> bytes:
        if rgb is not None:
            return bytes(rgb)
        return bytes((x * 255 // size, y * 255 // size, 128))

    rows = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
