"""Real audio files for tests, written with the bundled ffmpeg and tagged with mutagen."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.ffmpeg import ffmpeg_path
from app.library.encode import SAMPLE_RATE, encode
from app.library.tags import write_tags


def write_tone(
    path: Path,
    seconds: float,
    freq: float = 440,
    *,
    volume_db: float = -20,
    lead_silence: float = 0,
    tail_silence: float = 0,
    tags: dict | None = None,
) -> Path:
    """A stereo sine of `freq` Hz whose peak is `volume_db` dBFS, in the format of the
    extension (mp3, ogg, flac, wav, ...), with optional digital silence around it."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = 10 ** (volume_db / 20) * np.sin(2 * np.pi * freq * t)
    mono = np.concatenate([_silence(lead_silence), tone, _silence(tail_silence)])
    encode(np.stack([mono, mono], axis=1), path, ffmpeg_path())
    if tags:
        write_tags(path, tags)
    return path


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE))
