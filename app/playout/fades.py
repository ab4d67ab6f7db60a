"""Fade curves. Equal-power, so a crossfade of two unrelated tracks keeps its loudness."""

from __future__ import annotations

import numpy as np

from app.playout.source import Pcm


def fade_in(frames: int) -> Pcm:
    t = (np.arange(frames, dtype=np.float32) + 0.5) / max(frames, 1)
    return np.sin(t * np.float32(np.pi / 2))[:, None]


def fade_out(frames: int) -> Pcm:
    return fade_in(frames)[::-1]
