"""Loudness (EBU R128) and silence analysis of one file, in a single ffmpeg decode pass."""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from app.library.errors import AnalysisError

MIN_AUDIO_SECONDS = 0.5
MIN_SILENCE_SECONDS = 0.3
# Less than this share of the length the headers promise means the file was cut short.
MIN_DECODED_SHARE = 0.9
# ebur128 reports its absolute gate (-70 LUFS) for digital silence.
SILENT_LUFS = -69.5
# Slack for "silence starts at 0 / runs to the end": codec delay and frame rounding.
EDGE_SLACK_SECONDS = 0.15
TIMEOUT_SECONDS = 600.0

_LOUDNESS = re.compile(r"^\s*I:\s+(-?[\d.]+|-inf)\s+LUFS", re.MULTILINE)
_SILENCE_START = re.compile(r"silence_start:\s*(-?[\d.]+)")
_SILENCE_END = re.compile(r"silence_end:\s*(-?[\d.]+)")
_OUT_TIME = re.compile(r"^out_time_us=(\d+)\s*$", re.MULTILINE)
_DECODE_ERROR = re.compile(r"(Decoding error|Error while decoding|Invalid data found).*$", re.I)
_LOG_PREFIX = re.compile(r"^(\[[^\]]+\]\s*)+")


@dataclass(frozen=True, slots=True)
class Analysis:
    loudness_lufs: float  # integrated loudness, EBU R128
    cue_in: float  # seconds of leading silence to skip
    cue_out: float  # where trailing silence starts
    decoded_duration: float  # seconds of audio ffmpeg actually decoded


def analyse(
    path: Path,
    ffmpeg: str,
    silence_threshold_db: float = -50.0,
    expected_duration: float | None = None,
) -> Analysis:
    """Decode the whole file once; raise AnalysisError when it should not go on air."""
    stdout, stderr = _run_ffmpeg(path, ffmpeg, silence_threshold_db)
    duration = _decoded_duration(stdout)
    decode_errors = [
        m.group(0) for line in stderr.splitlines() if (m := _DECODE_ERROR.search(line))
    ]
    _check_length(duration, expected_duration, decode_errors)
    loudness = _loudness(stderr)
    cue_in, cue_out = _cues(_silences(stderr), duration)
    if loudness <= SILENT_LUFS or cue_out - cue_in < MIN_AUDIO_SECONDS:
        raise AnalysisError("silent")
    return Analysis(loudness, cue_in, cue_out, duration)


def gain_db(loudness_lufs: float, target_lufs: float, max_gain_db: float = 12.0) -> float:
    """Gain that brings a track to the target; boosts are capped so noise is not blown up."""
    return min(target_lufs - loudness_lufs, max_gain_db)


def _run_ffmpeg(path: Path, ffmpeg: str, silence_threshold_db: float) -> tuple[str, str]:
    filters = (
        f"silencedetect=noise={silence_threshold_db}dB:d={MIN_SILENCE_SECONDS},"
        "ebur128=framelog=quiet"
    )
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-progress", "pipe:1",
        "-i", str(path), "-vn", "-af", filters, "-f", "null", "-",
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AnalysisError(f"ffmpeg took longer than {TIMEOUT_SECONDS:.0f} s") from exc
    stdout = result.stdout.decode(errors="replace")
    stderr = result.stderr.decode(errors="replace")
    if result.returncode != 0:
        raise AnalysisError(_failure_reason(stderr))
    return stdout, stderr


def _failure_reason(stderr: str) -> str:
    if "does not contain any stream" in stderr or "matches no streams" in stderr:
        return "no audio stream"
    lines = [_LOG_PREFIX.sub("", line).strip() for line in stderr.splitlines()]
    detail = next((line for line in reversed(lines) if line), "unknown error")
    return f"ffmpeg cannot decode it: {detail}"


def _decoded_duration(progress: str) -> float:
    # -progress prints one block per update; the last holds the total ("N/A" when nothing).
    times = _OUT_TIME.findall(progress)
    return int(times[-1]) / 1e6 if times else 0.0


def _check_length(duration: float, expected: float | None, decode_errors: list[str]) -> None:
    why = f" ({decode_errors[0]})" if decode_errors else ""
    if duration < MIN_AUDIO_SECONDS:
        raise AnalysisError(f"no playable audio: decoded {duration:.1f} s{why}")
    if expected and duration < MIN_DECODED_SHARE * expected:
        raise AnalysisError(f"truncated: decoded {duration:.1f} s of {expected:.1f} s{why}")
    # A few damaged frames are inaudible; more than one per second is a broken file.
    if len(decode_errors) > max(3.0, duration):
        raise AnalysisError(f"corrupt: {len(decode_errors)} decoding errors{why}")


def _loudness(stderr: str) -> float:
    # The filter prints its summary once, at the end; take the last one to be safe.
    found = _LOUDNESS.findall(stderr)
    if not found:
        raise AnalysisError("no loudness measurement (is there an audio stream?)")
    value = float(found[-1])
    return value if math.isfinite(value) else -math.inf


def _silences(stderr: str) -> list[tuple[float, float | None]]:
    """(start, end) of each silence; end is None when the file ended inside it."""
    silences: list[tuple[float, float | None]] = []
    for line in stderr.splitlines():
        if start := _SILENCE_START.search(line):
            silences.append((max(0.0, float(start.group(1))), None))
        elif (end := _SILENCE_END.search(line)) and silences and silences[-1][1] is None:
            silences[-1] = (silences[-1][0], float(end.group(1)))
    return silences


def _cues(silences: list[tuple[float, float | None]], duration: float) -> tuple[float, float]:
    cue_in, cue_out = 0.0, duration
    if not silences:
        return cue_in, cue_out
    first_start, first_end = silences[0]
    if first_start <= EDGE_SLACK_SECONDS:
        cue_in = duration if first_end is None else min(first_end, duration)
    last_start, last_end = silences[-1]
    if last_end is None or last_end >= duration - EDGE_SLACK_SECONDS:
        cue_out = min(last_start, duration)
    return cue_in, cue_out
