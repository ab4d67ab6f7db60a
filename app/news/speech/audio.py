"""Speaking a text into an MP3 in the station's format and loudness.

Heavy: it loads the speech engine (eSpeak NG's C library, or runs Piper) and numpy. The
station runs it in a child process (`app.news.speech.worker`) so that the serving process
never loads any of it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from app.config import Settings
from app.files import atomic_path
from app.library.analysis import analyse
from app.news.speech import RenderedSpeech, SpeechEngine, SpeechError

BITRATE = "128k"
PEAK_DB = -1.5  # a limiter holds peaks here when the gain would push them over
TIMEOUT_SECONDS = 600.0
TOLERANCE_LU = 0.3  # off by more than this after encoding: adjust the gain and encode again
CORRECTIONS = 2
# Decoded MP3 of our speech measures this much quieter than the PCM it was made from: a
# first guess that usually saves the correction pass.
MP3_LOSS_LU = 0.4
SILENT_LUFS = -69.5  # ebur128 reports its absolute gate for silence
_LOUDNESS = re.compile(r"^\s*I:\s+(-?[\d.]+|-inf)\s+LUFS", re.MULTILINE)


def render_speech(
    text: str, engine: SpeechEngine, settings: Settings, ffmpeg: str, path: Path
) -> RenderedSpeech:
    """Speak `text` into an MP3 at `path` (station rate, stereo, at the loudness target)."""
    samples, rate = engine.synthesize(text)
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if samples.size < rate * 0.2 or not np.any(np.abs(samples) > 1e-4):
        raise SpeechError(f"{engine.name} produced no audio")
    raw = samples.tobytes()
    target = settings.loudness_target_lufs
    gain = target - _measure(raw, rate, settings, ffmpeg) + MP3_LOSS_LU
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed over: a bulletin never opens a half-written file.
    with atomic_path(path) as partial:
        for _ in range(1 + CORRECTIONS):
            _encode(raw, rate, gain, settings, ffmpeg, partial)
            analysis = analyse(partial, ffmpeg)
            # The peak limiter and the MP3 codec take a little loudness: make it up.
            miss = target - analysis.loudness_lufs
            if abs(miss) <= TOLERANCE_LU:
                break
            gain += miss
    return RenderedSpeech(analysis.decoded_duration, analysis.loudness_lufs)


def _station_format(settings: Settings) -> str:
    # Mono speech on both channels: measured as stereo, as listeners hear it (3 LU louder).
    return f"aresample={settings.sample_rate},pan=stereo|c0=c0|c1=c0"


def _input(rate: int) -> list[str]:
    return ["-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0"]


def _measure(raw: bytes, rate: int, settings: Settings, ffmpeg: str) -> float:
    """Integrated loudness (EBU R128) of the speech in the station's format."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", *_input(rate),
               "-af", f"{_station_format(settings)},ebur128=framelog=quiet",
               "-f", "null", "-"]  # fmt: skip
    found = _LOUDNESS.findall(_run(command, raw))
    if not found or found[-1] == "-inf" or float(found[-1]) <= SILENT_LUFS:
        raise SpeechError("the synthesized speech is silent")
    return float(found[-1])


def _encode(
    raw: bytes, rate: int, gain_db: float, settings: Settings, ffmpeg: str, path: Path
) -> None:
    filters = (
        f"{_station_format(settings)},volume={gain_db:.2f}dB,"
        f"alimiter=limit={10 ** (PEAK_DB / 20):.3f}:level=disabled"
    )
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *_input(rate),
        "-af", filters, "-c:a", "libmp3lame", "-b:a", BITRATE, "-map_metadata", "-1",
        "-f", "mp3", str(path),
    ]  # fmt: skip
    _run(command, raw)


def _run(command: list[str], raw: bytes) -> str:
    try:
        result = subprocess.run(command, input=raw, capture_output=True,
                                timeout=TIMEOUT_SECONDS, check=False)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise SpeechError(f"ffmpeg took longer than {TIMEOUT_SECONDS:.0f} s") from exc
    stderr = result.stderr.decode(errors="replace")
    if result.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()]
        raise SpeechError(f"ffmpeg failed: {lines[-1] if lines else result.returncode}")
    return stderr
