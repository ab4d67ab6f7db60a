"""The news stings: a short chime before and after a bulletin, synthesized when missing so
that a fresh station's bulletins sound like news. Hosts may replace the files.

The station makes them in a child (`ensure_stings_in_child`: `python -m app.news.stings`),
so the serving process never loads numpy for them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.files import atomic_path
from app.library.encode import SAMPLE_RATE, encode, synthesize_in_child
from app.news.bulletins import STINGS_DIR

if TYPE_CHECKING:
    import numpy as np

# (frequencies in Hz, one after another) for a rising intro and a falling outro.
CHIMES = {"intro.mp3": (523.25, 659.25, 783.99, 1046.5), "outro.mp3": (783.99, 659.25, 523.25)}
NOTE_SECONDS = 0.45
TAIL_SECONDS = 1.2


def sting_paths(media_dir: Path) -> tuple[Path, Path]:
    return media_dir / STINGS_DIR / "intro.mp3", media_dir / STINGS_DIR / "outro.mp3"


def ensure_stings_in_child(media_dir: Path, ffmpeg: str) -> int:
    """ensure_stings in a child process, when a sting is missing; how many files it made."""
    if all(path.exists() for path in sting_paths(media_dir)):
        return 0
    return synthesize_in_child(__name__, media_dir, ffmpeg)


def ensure_stings(media_dir: Path, ffmpeg: str) -> list[Path]:
    made = []
    for name, notes in CHIMES.items():
        path = media_dir / STINGS_DIR / name
        if not path.exists():
            with atomic_path(path) as temp:  # a crash never leaves a half sting for good
                encode(_chime(notes), temp, ffmpeg)
            made.append(path)
    return made


def _chime(notes: tuple[float, ...]) -> np.ndarray:
    import numpy as np

    length = int((NOTE_SECONDS * len(notes) + TAIL_SECONDS) * SAMPLE_RATE)
    out = np.zeros(length)
    for index, freq in enumerate(notes):
        start = int(index * NOTE_SECONDS * SAMPLE_RATE)
        t = np.arange(length - start) / SAMPLE_RATE
        bell = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(2 * np.pi * 2.01 * freq * t)
        out[start:] += 0.25 * bell * np.exp(-3.0 * t) * np.minimum(t / 0.005, 1.0)
    out *= 0.5 / max(np.abs(out).max(), 1e-9)
    fade = np.minimum(np.arange(length)[::-1] / (0.05 * SAMPLE_RATE), 1.0)
    mono = out * fade
    return np.stack([mono, mono], axis=1)


if __name__ == "__main__":
    print(len(ensure_stings(Path(sys.argv[1]), sys.argv[2])))
