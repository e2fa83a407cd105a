"""A loopback HTTP server for the network media tests, and audio that streams well.

:class:`LoopbackServer` runs in its own threads (independent of the test's event loop) on
127.0.0.1 and a free port. Routes are set per path and may be changed while it runs:

- :meth:`~LoopbackServer.file`: a body with a content type (byte ranges answered);
- :meth:`~LoopbackServer.status`: an error status (404, 500…);
- :meth:`~LoopbackServer.icy`: an endless Icecast stream (ICY metadata every *metaint* bytes
  when the client asks with ``Icy-MetaData: 1``);
- :meth:`~LoopbackServer.dynamic`: a function of the request (live playlists);
- :meth:`~LoopbackServer.hang`: headers, then silence (a stalled stream);
- any route can be delayed before its headers.

:meth:`~LoopbackServer.kill` drops every connection and stops listening (clients get
"connection refused"); :meth:`~LoopbackServer.revive` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av
import numpy as np

Handler = Callable[["Request"], "Response"]


@dataclass
class Request:
    path: str
    headers: dict[str, str]


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Route:
    kind: str  # "response", "icy", "hang"
    handler: Handler | None = None
    delay: float = 0.0
    audio: bytes = b""
    metaint: int = 0
    titles: tuple[str, ...] = ()
    content_type: str = "audio/mpeg"
    chunk: int = 4096
    icy_headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.owner._lock:
            self.owner._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.owner._lock:
            self.owner._connections.discard(request)
        super().shutdown_request(request)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?")[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        with owner._lock:
            owner.hits[path] += 1
            owner.requests.append(Request(path, headers))
            route = owner._routes.get(path)
        if route is None:
            self._send(Response(b"not found", 404, "text/plain"))
            return
        if route.delay and owner._killed.wait(route.delay):
            return
        try:
            if route.kind == "icy":
                self._icy(route, headers.get("icy-metadata") == "1")
            elif route.kind == "hang":
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                self.end_headers()
                self.wfile.flush()
                owner._killed.wait(60)
            else:
                assert route.handler is not None
                self._send(route.handler(Request(path, headers)), headers.get("range"))
        except OSError:
            pass

    def _send(self, response: Response, range_header: str | None = None) -> None:
        body, status = response.body, response.status
        extra = dict(response.headers)
        if status == 200 and range_header and range_header.startswith("bytes="):
            first, _, last = range_header[6:].partition("-")
            start = int(first)
            end = int(last) if last else len(body) - 1
            extra["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            body, status = body[start : end + 1], 206
        self.send_response(status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _icy(self, route: _Route, with_metadata: bool) -> None:
        owner = self.server.owner
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Connection", "close")
        for key, value in route.icy_headers.items():
            self.send_header(key, value)
        if with_metadata and route.metaint:
            self.send_header("icy-metaint", str(route.metaint))
        self.end_headers()
        self.close_connection = True
        audio = _Loop(route.audio)
        block = 0
        while not owner._killed.is_set():
            if with_metadata and route.metaint:
                payload = audio.take(route.metaint)
                title = route.titles[block % len(route.titles)] if route.titles else None
                payload += icy_block(f"StreamTitle='{title}';" if title is not None else "")
                block += 1
            else:
                payload = audio.take(route.chunk)
            self.wfile.write(payload)
            with owner._lock:
                owner.streamed[self.path] += len(payload)


class _Loop:
    """*data* repeated forever, taken *n* bytes at a time."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            piece = self.data[self.at : self.at + n - len(out)]
            out += piece
            self.at = (self.at + len(piece)) % len(self.data)
        return bytes(out)


def icy_block(text: str | bytes) -> bytes:
    """One ICY metadata block: the length byte (× 16) and the padded text."""
    raw = text.encode() if isinstance(text, str) else text
    padded = raw + b"\x00" * (-len(raw) % 16)
    return bytes([len(padded) // 16]) + padded


class LoopbackServer:
    """See the module docstring. ``hits[path]`` counts requests; ``requests`` keeps them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self._connections: set[socket.socket] = set()
        self._killed = threading.Event()
        self.hits: Counter[str] = Counter()
        self.streamed: Counter[str] = Counter()
        self.requests: list[Request] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.revive()

    # -- lifecycle --

    def revive(self) -> None:
        """Listen (again, on the same port)."""
        self._killed.clear()
        self._server = _Server(self.port, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def kill(self) -> None:
        """Drop every connection and stop listening: new connections are refused."""
        self._killed.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    close = kill

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- routes --

    def file(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        *,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> str:
        response = Response(body, 200, content_type, headers or {})
        return self._set(path, _Route("response", lambda _: response, delay=delay))

    def status(self, path: str, status: int, *, delay: float = 0.0) -> str:
        response = Response(f"error {status}".encode(), status, "text/plain")
        return self._set(path, _Route("response", lambda _: response, delay=delay))

    def dynamic(self, path: str, handler: Handler, *, delay: float = 0.0) -> str:
        return self._set(path, _Route("response", handler, delay=delay))

    def hang(self, path: str, content_type: str = "audio/mpeg") -> str:
        return self._set(path, _Route("hang", content_type=content_type))

    def icy(
        self,
        path: str,
        audio: bytes,
        *,
        metaint: int = 0,
        titles: tuple[str, ...] = (),
        content_type: str = "audio/mpeg",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> str:
        route = _Route(
            "icy",
            delay=delay,
            audio=audio,
            metaint=metaint,
            titles=titles,
            content_type=content_type,
            icy_headers=headers or {},
        )
        return self._set(path, route)

    def _set(self, path: str, route: _Route) -> str:
        with self._lock:
            self._routes[path] = route
        return self.url(path)


# --- audio for streams ---------------------------------------------------------------------

#: The rate the stream tests encode at (MP3 and AAC both support it).
STREAM_RATE = 44_100


def encode_stream(
    freq: float, seconds: float, fmt: str = "mp3", *, rate: int = STREAM_RATE
) -> bytes:
    """A tone as raw stream bytes, no tags or headers a stream would not carry: ``mp3``
    (MPEG audio frames), ``adts`` (AAC in ADTS) or ``mpegts`` (AAC in MPEG-TS)."""
    codec = {"mp3": "libmp3lame", "adts": "aac", "mpegts": "aac"}[fmt]
    options = {"write_xing": "0", "id3v2_version": "0"} if fmt == "mp3" else {}
    buffer = io.BytesIO()
    out: Any = av.open(buffer, "w", format=fmt, options=options)
    stream = out.add_stream(codec, rate=rate, layout="stereo")
    stream.bit_rate = 128_000
    t = np.arange(round(seconds * rate)) / rate
    mono = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    pcm = np.repeat(mono[:, None], 2, axis=1)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.T), format="fltp", layout="stereo")
    frame.rate = rate
    frame.pts = 0
    for packet in stream.encode(frame):
        out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    return buffer.getvalue()


def decode_all(source: Any, fmt: str | None, *, limit_seconds: float = 30.0) -> np.ndarray:
    """Decode a file-like with PyAV to mono float32 at the source's rate (blocking: run it in
    a thread); stops after *limit_seconds* of audio."""
    container: Any = av.open(source, "r", format=fmt)
    chunks: list[np.ndarray] = []
    frames = 0
    try:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            data = frame.to_ndarray().astype(np.float32)
            if data.ndim == 2 and frame.format.is_planar:
                mono = data.mean(axis=0)
            else:
                mono = data.reshape(-1, len(frame.layout.channels)).mean(axis=1)
            chunks.append(mono)
            frames += len(mono)
            if frames >= limit_seconds * frame.sample_rate:
                break
    finally:
        container.close()
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def dominant_frequency(pcm: np.ndarray, rate: int = STREAM_RATE) -> float:
    """The strongest frequency (Hz) in mono *pcm*."""
    window = pcm * np.hanning(len(pcm))
    spectrum = np.abs(np.fft.rfft(window))
    spectrum[:5] = 0
    return float(np.argmax(spectrum) * rate / len(pcm))
