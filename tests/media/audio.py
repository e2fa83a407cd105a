"""Real audio for media tests: synthesize with numpy, encode with PyAV, analyse output.

There is no ffmpeg or sox binary on the test machines; PyAV's wheel carries the encoders
(libmp3lame, flac, FFmpeg's native vorbis, libopus, aac, pcm).

- :func:`sine` / :func:`chirp`: PCM as the engine uses it, ``(frames, 2)`` float32.
- :func:`encode`: a real file in one of :data:`CODECS`, with tags mutagen reads back.
- :func:`read_wav`: what a ``wav:`` sink wrote.
- :func:`tone_level`, :func:`longest_silence`, :func:`rms_db`, :func:`max_step`: measures.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

RATE = 48_000
PCM = npt.NDArray[np.float32]

#: codec name → (FFmpeg container, FFmpeg encoder, encoder options, usual suffix)
CODECS: dict[str, tuple[str, str, dict[str, str], str]] = {
    "mp3": ("mp3", "libmp3lame", {}, ".mp3"),
    "flac": ("flac", "flac", {}, ".flac"),
    "vorbis": ("ogg", "vorbis", {"strict": "experimental"}, ".ogg"),
    "opus": ("ogg", "libopus", {}, ".opus"),
    "aac": ("ipod", "aac", {}, ".m4a"),
    "wav": ("wav", "pcm_s16le", {}, ".wav"),
}

#: tag name → ID3 frame, for WAV files (FFmpeg's WAV muxer writes no tags mutagen reads).
_ID3_FRAMES = {
    "title": "TIT2",
    "artist": "TPE1",
    "album": "TALB",
    "genre": "TCON",
    "track": "TRCK",
    "date": "TDRC",
    "album_artist": "TPE2",
}


def sine(
    freq: float,
    seconds: float,
    amplitude: float = 0.5,
    rate: int = RATE,
    *,
    offset: int = 0,
) -> PCM:
    """A stereo sine, ``(frames, 2)`` float32; *offset* (frames) continues a longer tone, so
    ``sine(f, 1, offset=rate)`` follows ``sine(f, 1)`` without a phase jump."""
    n = round(seconds * rate)
    t = (np.arange(n, dtype=np.float64) + offset) / rate
    mono = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(mono[:, None], 2, axis=1)


def chirp(f0: float, f1: float, seconds: float, amplitude: float = 0.5, rate: int = RATE) -> PCM:
    """A linear sweep from *f0* to *f1* Hz: no two stretches alike, good for alignment."""
    n = round(seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
    mono = (amplitude * np.sin(phase)).astype(np.float32)
    return np.repeat(mono[:, None], 2, axis=1)


def encode(
    path: str | Path,
    pcm: PCM,
    codec: str = "mp3",
    bitrate: int | None = None,
    tags: dict[str, Any] | None = None,
    rate: int = RATE,
) -> Path:
    """Write *pcm* (``(frames, 2)`` float32 at *rate*) to *path* as *codec* (see
    :data:`CODECS`) with PyAV; *bitrate* in bit/s (e.g. 320_000); *tags* (title, artist,
    album, genre, track, date, album_artist) as container metadata, so mutagen reads them
    back (for WAV as an ID3 chunk). MP3s carry the LAME/Xing tag (gapless trimming)."""
    path = Path(path)
    container_format, encoder, options, _ = CODECS[codec]
    pcm = np.asarray(pcm, dtype=np.float32)
    if pcm.ndim == 1:
        pcm = np.repeat(pcm[:, None], 2, axis=1)
    out: Any = av.open(str(path), "w", format=container_format)
    try:
        if tags and codec != "wav":
            for key, value in tags.items():
                out.metadata[key] = str(value)
        stream = out.add_stream(encoder, rate=rate, layout="stereo")
        if options:
            stream.codec_context.options = dict(options)
        if bitrate:
            stream.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm.T), format="fltp", layout="stereo"
        )
        frame.rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    finally:
        out.close()
    if tags and codec == "wav":
        _tag_wav(path, tags)
    return path


def _tag_wav(path: Path, tags: dict[str, Any]) -> None:
    import mutagen.id3
    import mutagen.wave

    wave_file: Any = mutagen.wave.WAVE  # mutagen is untyped
    wav = wave_file(path)
    if wav.tags is None:
        wav.add_tags()
    assert wav.tags is not None
    for key, value in tags.items():
        frame_id = _ID3_FRAMES.get(key)
        if frame_id is not None:
            frame_type = getattr(mutagen.id3, frame_id)
            wav.tags.add(frame_type(encoding=3, text=[str(value)]))
    wav.save()


def read_wav(path: str | Path) -> tuple[PCM, int]:
    """The 16-bit stereo WAV at *path* as ``(frames, 2)`` float32 in [-1, 1], and its rate.
    Reads only as many frames as the header says (a killed writer's file is valid)."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2, "read_wav reads 16-bit WAV"
        channels = wav.getnchannels()
        rate = wav.getframerate()
        data = wav.readframes(wav.getnframes())
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    return samples.reshape(-1, channels), rate


def tone_level(pcm: PCM, freq: float, start: int, frames: int, rate: int = RATE) -> float:
    """Amplitude (peak, linear) of *freq* in ``pcm[start:start+frames]`` (both channels
    averaged): a Hann-windowed single-bin DFT, so other tones an octave away barely leak."""
    window = np.asarray(pcm[start : start + frames], dtype=np.float64)
    if window.ndim == 2:
        window = window.mean(axis=1)
    n = len(window)
    if n == 0:
        return 0.0
    hann = np.hanning(n)
    phase = np.exp(-2j * np.pi * freq * np.arange(n) / rate)
    return float(2 * abs(np.sum(window * hann * phase)) / np.sum(hann))


def level_db(amplitude: float) -> float:
    return -math.inf if amplitude <= 0 else 20 * math.log10(amplitude)


def longest_silence(pcm: PCM, threshold: float = 1e-3) -> int:
    """The longest run of frames whose samples are all below *threshold* in magnitude."""
    quiet = np.all(np.abs(pcm.reshape(len(pcm), -1)) < threshold, axis=1)
    if not quiet.any():
        return 0
    padded = np.concatenate(([0], quiet.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return int(np.max(edges[1::2] - edges[::2]))


def rms_db(pcm: PCM) -> float:
    """RMS level in dBFS (−inf for digital silence)."""
    if len(pcm) == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64))))
    return level_db(rms)


def max_step(pcm: PCM) -> float:
    """The largest sample-to-sample change in any channel: a click shows up here."""
    if len(pcm) < 2:
        return 0.0
    return float(np.max(np.abs(np.diff(pcm.astype(np.float64), axis=0))))


def audible_span(pcm: PCM, threshold: float = 1e-3) -> tuple[int, int]:
    """(first, last + 1) frame that is not silent; (0, 0) when everything is."""
    loud = np.flatnonzero(np.any(np.abs(pcm.reshape(len(pcm), -1)) >= threshold, axis=1))
    if len(loud) == 0:
        return 0, 0
    return int(loud[0]), int(loud[-1]) + 1
