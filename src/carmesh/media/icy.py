"""Icecast/SHOUTcast (ICY) metadata: separating it from the audio and reading its fields.

A client that sends ``Icy-MetaData: 1`` gets, when the server answers ``icy-metaint: N``, a
metadata block after every N audio bytes; :class:`IcyDemuxer` splits the body into audio and
those blocks, :func:`parse_icy_metadata` reads a block's fields (``StreamTitle``…).
"""

from __future__ import annotations

import re


class IcyDemuxer:
    """Splits an Icecast body into audio and metadata blocks. With ``icy-metaint: N`` the
    server sends N audio bytes, one length byte L, L × 16 bytes of metadata, and again.
    *metaint* None or 0: everything is audio."""

    def __init__(self, metaint: int | None) -> None:
        self.metaint = metaint or 0
        self._audio_left = self.metaint
        self._meta_left: int | None = None  # None: expecting audio or the length byte
        self._meta = bytearray()

    def feed(self, data: bytes) -> tuple[bytes, list[bytes]]:
        """(audio bytes, non-empty metadata blocks) found in *data*."""
        if not self.metaint:
            return data, []
        audio = bytearray()
        blocks: list[bytes] = []
        view = memoryview(data)
        i, n = 0, len(data)
        while i < n:
            if self._meta_left is not None:
                take = min(self._meta_left, n - i)
                self._meta += view[i : i + take]
                i += take
                self._meta_left -= take
                if self._meta_left == 0:
                    blocks.append(bytes(self._meta))
                    self._meta.clear()
                    self._meta_left = None
                    self._audio_left = self.metaint
            elif self._audio_left > 0:
                take = min(self._audio_left, n - i)
                audio += view[i : i + take]
                i += take
                self._audio_left -= take
            else:
                length = data[i] * 16
                i += 1
                if length:
                    self._meta_left = length
                else:
                    self._audio_left = self.metaint
        return bytes(audio), blocks


_ICY_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9_]*)='(.*?)';(?=[A-Za-z][A-Za-z0-9_]*='|\s*$)", re.S)


def parse_icy_metadata(block: bytes) -> dict[str, str]:
    """Fields of one ICY metadata block (``StreamTitle='…';StreamUrl='…';`` padded with NULs).
    Titles may contain quotes and semicolons; text that is not UTF-8 is read as Latin-1."""
    raw = block.rstrip(b"\x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return {m.group(1): m.group(2) for m in _ICY_FIELD.finditer(text.strip())}
