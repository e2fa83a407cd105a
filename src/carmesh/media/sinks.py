"""Where a zone's rendered blocks go: nowhere, a WAV file, ALSA or PulseAudio.

``open_sink(spec)`` with spec ``null``, ``wav:PATH``, ``alsa`` / ``alsa:DEVICE``, ``pulse``
or ``auto`` (pulse when a server answers, else ALSA when ``/dev/snd`` exists, else null).

:meth:`Sink.write` is called on the event loop once per block and never blocks for long:
the WAV sink writes straight to its file descriptor (one small ``write`` per block); the
device sinks hand blocks to a writer thread through a short queue (:data:`DEVICE_QUEUE`
blocks) and the thread blocks on the device. A device that falls behind loses blocks (they
are counted in ``dropped``); a writer thread that fails makes the next ``write`` raise
:class:`~carmesh.media.items.MediaError`, which the engine answers by switching the zone to
the null sink.

A device gets :data:`DEVICE_PREFILL` blocks of silence first, so the event loop's jitter
does not starve it; after that the renderer and the device run at the same rate and the
device's buffer stays about that full (PulseAudio's target buffer is set to match, instead of
its default of about 2 s). The event loop's clock paces rendering, not the sound card's:
over hours the two drift by parts per million, which shows as an occasional dropped block
or a device underrun.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import struct
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from carmesh.errors import ConfigError
from carmesh.media.items import MediaError
from carmesh.media.pcm import BLOCK, CHANNELS, RATE, Block, silence

log = logging.getLogger(__name__)

#: Blocks (10 ms each) a device sink's writer thread may lag behind the renderer.
DEVICE_QUEUE = 8
#: Blocks of silence a device gets first: headroom against the event loop's jitter (and
#: the least output latency a device sink adds).
DEVICE_PREFILL = 4
#: The WAV header is rewritten at least this often (frames), so a killed car leaves a
#: readable file missing at most the last second.
WAV_HEADER_EVERY = RATE
#: RIFF sizes are 32-bit: a WAV sink stops writing before its data chunk overflows.
WAV_MAX_DATA = 0xFFFFFFFF - 36 - 4096

SPECS = "null, wav:PATH, alsa, alsa:DEVICE, pulse, auto"


def to_s16(block: Block) -> bytes:
    """Interleaved little-endian 16-bit samples of *block* (clipped to [-1, 1])."""
    scaled = np.clip(block, -1.0, 1.0) * 32767.0
    return bytes(np.rint(scaled).astype("<i2").tobytes())


class Sink(ABC):
    """One zone's output. ``write`` takes one block of the engine's PCM."""

    spec: str = ""

    def __init__(self) -> None:
        self.frames_written = 0

    @abstractmethod
    def write(self, block: Block) -> None:
        """Output *block*; raises MediaError when the output failed for good."""

    def close(self) -> None:  # noqa: B027 - most sinks have nothing to release
        """Flush and release the output; idempotent."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec!r}>"


class NullSink(Sink):
    """Discards everything (counting frames): headless cars and fallbacks."""

    spec = "null"

    def write(self, block: Block) -> None:
        self.frames_written += len(block)


class WavSink(Sink):
    """16-bit PCM WAV at the engine's rate. The header's sizes are rewritten every second and
    on close, so the file is valid (short of at most the last second) even after SIGKILL."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        self.spec = f"wav:{self.path}"
        self._since_header = 0
        self._full = False
        try:
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(self._fd, self._header(0))
        except OSError as exc:
            raise MediaError(f"cannot write the WAV file {self.path}: {exc.strerror}") from exc

    @staticmethod
    def _header(data_bytes: int) -> bytes:
        block_align = CHANNELS * 2
        return b"".join(
            (
                b"RIFF",
                struct.pack("<I", 36 + data_bytes),
                b"WAVEfmt ",
                struct.pack("<IHHIIHH", 16, 1, CHANNELS, RATE, RATE * block_align, block_align, 16),
                b"data",
                struct.pack("<I", data_bytes),
            )
        )

    def _data_bytes(self) -> int:
        return self.frames_written * CHANNELS * 2

    def _write_sizes(self) -> None:
        assert self._fd is not None
        size = self._data_bytes()
        os.pwrite(self._fd, struct.pack("<I", 36 + size), 4)
        os.pwrite(self._fd, struct.pack("<I", size), 40)
        self._since_header = 0

    def write(self, block: Block) -> None:
        if self._fd is None:
            raise MediaError(f"the WAV file {self.path} is closed")
        if self._data_bytes() + len(block) * CHANNELS * 2 > WAV_MAX_DATA:
            if not self._full:
                self._full = True
                log.warning("%s reached the 4 GiB limit of WAV; not writing more", self.path)
            return
        try:
            data = to_s16(block)
            written = os.write(self._fd, data)
            while written < len(data):
                written += os.write(self._fd, data[written:])
            self.frames_written += len(block)
            self._since_header += len(block)
            if self._since_header >= WAV_HEADER_EVERY:
                self._write_sizes()
        except OSError as exc:
            raise MediaError(f"cannot write the WAV file {self.path}: {exc.strerror}") from exc

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            self._write_sizes()
        except OSError as exc:
            log.warning("cannot finish the WAV file %s: %s", self.path, exc.strerror)
        finally:
            os.close(self._fd)
            self._fd = None


class DeviceSink(Sink):
    """A sink whose device blocks: a writer thread takes blocks from a short queue."""

    def __init__(self, spec: str) -> None:
        super().__init__()
        self.spec = spec
        self.dropped = 0
        self._queue: queue.Queue[Block | None] = queue.Queue(DEVICE_QUEUE)
        self._error: MediaError | None = None
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        for _ in range(DEVICE_PREFILL):
            self._queue.put_nowait(silence())
        self._thread = threading.Thread(
            target=self._run, name=f"carmesh-sink {self.spec}", daemon=True
        )
        self._thread.start()

    @abstractmethod
    def _open(self) -> None:
        """Open the device (in the caller's thread, so errors reach open_sink)."""

    @abstractmethod
    def _play(self, block: Block) -> None:
        """Hand *block* to the device, blocking while its buffer is full."""

    @abstractmethod
    def _release(self) -> None:
        """Drain and close the device (in the writer thread)."""

    def _run(self) -> None:
        try:
            while (block := self._queue.get()) is not None:
                self._play(block)
        except Exception as exc:
            self._error = MediaError(f"audio output {self.spec} failed: {exc}")
        finally:
            try:
                self._release()
            except Exception:
                log.debug("closing %s failed", self.spec, exc_info=True)

    def write(self, block: Block) -> None:
        if self._error is not None:
            raise self._error
        try:
            self._queue.put_nowait(block)
            self.frames_written += len(block)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        if self._thread is None:
            return
        thread, self._thread = self._thread, None
        while True:
            try:
                self._queue.put(None, timeout=0.5)
                break
            except queue.Full:
                if not thread.is_alive():
                    break
        thread.join(2.0)


class AlsaSink(DeviceSink):
    """ALSA through FFmpeg's ``alsa`` output device (PyAV); *device* as in ``aplay -D``."""

    def __init__(self, device: str = "default") -> None:
        super().__init__(f"alsa:{device}")
        self.device = device
        self._open()
        self._start()

    def _open(self) -> None:
        import av

        self._container: Any = None
        try:
            self._container = av.open(self.device, "w", format="alsa")
            self._stream: Any = self._container.add_stream("pcm_s16le", rate=RATE, layout="stereo")
            self._container.start_encoding()
        except Exception as exc:
            if self._container is not None:
                with contextlib.suppress(Exception):
                    self._container.close()
            raise MediaError(f"cannot open the ALSA device {self.device!r}: {exc}") from exc
        self._pts = 0

    def _play(self, block: Block) -> None:
        import av

        samples = np.frombuffer(to_s16(block), dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
        frame.rate = RATE
        frame.pts = self._pts
        self._pts += len(block)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _release(self) -> None:
        self._container.close()


class PulseSink(DeviceSink):
    """PulseAudio or PipeWire through ``pasimple`` (``pip install 'carmesh[pulse]'``)."""

    def __init__(self, stream_name: str = "carmesh") -> None:
        super().__init__("pulse")
        self.stream_name = stream_name
        self._open()
        self._start()

    def _open(self) -> None:
        try:
            import pasimple  # type: ignore[import-not-found]
        except ImportError as exc:
            raise MediaError(
                "PulseAudio output needs the pasimple package: pip install 'carmesh[pulse]'"
            ) from exc
        try:
            frame_bytes = CHANNELS * 4
            self._pa: Any = pasimple.PaSimple(
                pasimple.PA_STREAM_PLAYBACK,
                pasimple.PA_SAMPLE_FLOAT32LE,
                CHANNELS,
                RATE,
                app_name="carmesh",
                stream_name=self.stream_name,
                # PulseAudio's default buffer is ~2 s: a duck would be heard 2 s late
                tlength=DEVICE_PREFILL * BLOCK * frame_bytes,
                minreq=BLOCK * frame_bytes,
            )
        except Exception as exc:
            raise MediaError(f"cannot connect to PulseAudio: {exc}") from exc

    def _play(self, block: Block) -> None:
        self._pa.write(np.ascontiguousarray(block, dtype="<f4").tobytes())

    def _release(self) -> None:
        try:
            self._pa.drain()
        finally:
            self._pa.close()


def parse_spec(spec: str) -> tuple[str, str]:
    """(kind, argument) of a sink spec; ConfigError for anything else."""
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind in ("null", "pulse", "auto") and not arg:
        return kind, ""
    if kind == "alsa":
        return kind, arg or "default"
    if kind == "wav" and arg:
        return kind, arg
    raise ConfigError(f"{spec!r} is not an audio output; use one of: {SPECS}")


def pulse_server_present() -> bool:
    """A PulseAudio (or PipeWire-Pulse) server socket is there to talk to."""
    if os.environ.get("PULSE_SERVER"):
        return True
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return Path(runtime, "pulse", "native").exists()


def open_sink(spec: str, *, name: str = "carmesh") -> Sink:
    """The sink *spec* names, opened. ConfigError for a malformed spec, MediaError when the
    output cannot be opened (``auto`` never fails: it falls back to null). *name* labels the
    stream where the output shows one (PulseAudio)."""
    kind, arg = parse_spec(spec)
    if kind == "null":
        return NullSink()
    if kind == "wav":
        return WavSink(Path(arg).expanduser())
    if kind == "alsa":
        return AlsaSink(arg)
    if kind == "pulse":
        return PulseSink(name)
    if pulse_server_present():
        try:
            return PulseSink(name)
        except MediaError as exc:
            log.info("auto audio output: %s", exc)
    if Path("/dev/snd").is_dir():
        try:
            return AlsaSink()
        except MediaError as exc:
            log.info("auto audio output: %s", exc)
    log.info("auto audio output: no sound server or device; audio goes nowhere")
    return NullSink()
