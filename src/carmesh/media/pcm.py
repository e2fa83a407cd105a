"""The one PCM format inside the media engine, and gain arithmetic.

Blocks are numpy arrays of shape ``(frames, CHANNELS)``, dtype float32, samples in [-1, 1],
at :data:`RATE` frames per second; the engine renders :data:`BLOCK` frames at a time.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

RATE = 48_000
CHANNELS = 2
#: Frames per rendered block: 10 ms.
BLOCK = 480
DTYPE = np.float32

Block = npt.NDArray[np.float32]


def silence(frames: int = BLOCK) -> Block:
    """*frames* frames of silence."""
    return np.zeros((frames, CHANNELS), dtype=DTYPE)


def db_to_gain(db: float) -> float:
    """Linear gain of *db* decibels (−inf → 0)."""
    return 0.0 if db == -math.inf else float(10.0 ** (db / 20.0))


def gain_to_db(gain: float) -> float:
    """Decibels of a linear gain (0 → −inf)."""
    return -math.inf if gain <= 0.0 else 20.0 * math.log10(gain)


def seconds(frames: int) -> float:
    return frames / RATE


def frames(seconds_: float) -> int:
    return round(seconds_ * RATE)
