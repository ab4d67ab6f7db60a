"""Writing synthesized PCM to an audio file with ffmpeg (demo library, stings, test fixtures).

The station synthesizes its demo library and its news stings in a child process
(`synthesize_in_child`): synthesis needs numpy and briefly a few hundred MB, which the
serving process would otherwise keep for as long as it runs. numpy is imported only when
something is encoded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 44100

# The codec is chosen by the file extension, like ffmpeg's own muxer choice.
_CODECS: dict[str, list[str]] = {
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "160k"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "4"],
    ".oga": ["-c:a", "libvorbis", "-q:a", "4", "-f", "ogg"],
    ".opus": ["-c:a", "libopus", "-b:a", "96k"],
    ".flac": ["-c:a", "flac"],
    ".wav": ["-c:a", "pcm_s16le"],
    ".m4a": ["-c:a", "aac", "-b:a", "128k"],
    ".aac": ["-c:a", "aac", "-b:a", "128k", "-f", "adts"],
}


def to_s16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1], shape (frames, 2), as interleaved s16le bytes."""
    import numpy as np

    clipped = np.clip(samples, -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2").tobytes()


def encode(samples: np.ndarray, path: Path, ffmpeg: str, sample_rate: int = SAMPLE_RATE) -> Path:
    """Encode stereo float samples to `path`, format by extension; returns `path`."""
    codec = _CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"no encoder for {path.suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "s16le", "-ar", str(sample_rate), "-ac", "2", "-i", "pipe:0",
        *codec, "-map_metadata", "-1", str(path),
    ]  # fmt: skip
    result = subprocess.run(command, input=to_s16(samples), capture_output=True, check=False)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"ffmpeg could not encode {path.name}: {message}")
    return path


def synthesize_in_child(module: str, media_dir: Path, ffmpeg: str) -> int:
    """Run `python -m module MEDIA_DIR FFMPEG`, which synthesizes what is missing and prints
    how many files it made; returns that number."""
    result = subprocess.run(
        [sys.executable, "-m", module, str(media_dir), ffmpeg],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return int(result.stdout.strip() or 0)
