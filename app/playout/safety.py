"""The safety source: what plays when nothing else can, so the station never goes silent.

A soft, slowly changing chord: clearly not dead air, clearly not programme.
"""

from __future__ import annotations

import numpy as np

from app.core.item import safety_item
from app.playout.source import Pcm

# A calm I-vi-IV-V in C, one chord every four seconds (fundamentals in Hz).
CHORDS = ((261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63),
          (196.00, 246.94, 293.66))  # fmt: skip
CHORD_SECONDS = 4.0
LEVEL = 0.06  # about -24 dBFS: audible, well below programme loudness


class SafetySource:
    def __init__(self, sample_rate: int, station_name: str) -> None:
        self.item = safety_item(station_name)
        self._rate = sample_rate
        self._position = 0

    def read(self, frames: int) -> Pcm:
        t = (self._position + np.arange(frames)) / self._rate
        self._position += frames
        chord_index = (t // CHORD_SECONDS).astype(np.int64) % len(CHORDS)
        within = (t % CHORD_SECONDS) / CHORD_SECONDS
        envelope = 0.6 + 0.4 * np.sin(np.pi * within)  # breathes, never reaches zero
        chords = np.asarray(CHORDS)[chord_index]  # (frames, 3)
        tone = np.sin(2 * np.pi * chords * t[:, None]).sum(axis=1) / 3
        mono = (LEVEL * envelope * tone).astype(np.float32)
        return np.repeat(mono[:, None], 2, axis=1)

    def close(self) -> None:
        pass
