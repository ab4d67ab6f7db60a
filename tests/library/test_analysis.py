from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.library import AnalysisError, analyse, gain_db
from tests.audio import write_tone


def test_loudness_follows_level_and_gain_reaches_target(tmp_path: Path, ffmpeg: str) -> None:
    loud = analyse(write_tone(tmp_path / "loud.flac", 3.0, volume_db=-12), ffmpeg)
    quiet = analyse(write_tone(tmp_path / "quiet.flac", 3.0, volume_db=-18), ffmpeg)

    assert loud.loudness_lufs - quiet.loudness_lufs == pytest.approx(6.0, abs=0.5)
    # A stereo 440 Hz sine peaking at -12 dBFS: -12 - 3 (RMS) + 3 (two channels) LUFS.
    assert loud.loudness_lufs == pytest.approx(-12.0, abs=1.0)
    for measured in (loud, quiet):
        gain = gain_db(measured.loudness_lufs, -16.0)
        assert measured.loudness_lufs + gain == pytest.approx(-16.0)


def test_gain_boost_is_capped() -> None:
    assert gain_db(-40.0, -16.0, max_gain_db=12.0) == 12.0
    assert gain_db(-8.0, -16.0) == -8.0


@pytest.mark.parametrize("suffix", [".flac", ".mp3", ".ogg"])
def test_cue_points_skip_lead_and_tail_silence(tmp_path: Path, ffmpeg: str, suffix: str) -> None:
    path = write_tone(tmp_path / f"x{suffix}", 2.0, lead_silence=1.2, tail_silence=1.5)

    analysis = analyse(path, ffmpeg)

    assert analysis.cue_in == pytest.approx(1.2, abs=0.1)
    assert analysis.cue_out == pytest.approx(3.2, abs=0.1)
    assert analysis.decoded_duration == pytest.approx(4.7, abs=0.1)


def test_no_silence_means_whole_file(tmp_path: Path, ffmpeg: str) -> None:
    analysis = analyse(write_tone(tmp_path / "x.wav", 2.0), ffmpeg)

    assert (analysis.cue_in, analysis.cue_out) == (0.0, pytest.approx(2.0, abs=0.01))


def test_short_silences_inside_are_not_cues(tmp_path: Path, ffmpeg: str) -> None:
    first = write_tone(tmp_path / "a.wav", 1.0, tail_silence=0.2)

    analysis = analyse(first, ffmpeg)

    assert (analysis.cue_in, analysis.cue_out) == (0.0, pytest.approx(1.2, abs=0.01))


def test_silent_and_too_short_files_are_unplayable(tmp_path: Path, ffmpeg: str) -> None:
    silent = write_tone(tmp_path / "silent.flac", 0.0, lead_silence=3.0)
    below_threshold = write_tone(tmp_path / "hum.flac", 3.0, volume_db=-65)
    blip = write_tone(tmp_path / "blip.wav", 0.2)

    with pytest.raises(AnalysisError, match="silent"):
        analyse(silent, ffmpeg)
    with pytest.raises(AnalysisError, match="silent"):
        analyse(below_threshold, ffmpeg)
    with pytest.raises(AnalysisError, match="no playable audio"):
        analyse(blip, ffmpeg)


def test_fewer_seconds_than_promised_is_truncation(tmp_path: Path, ffmpeg: str) -> None:
    path = write_tone(tmp_path / "x.flac", 2.0)

    with pytest.raises(AnalysisError, match=r"truncated: decoded 2\.0 s of 10\.0 s"):
        analyse(path, ffmpeg, expected_duration=10.0)


def test_file_without_audio_stream(tmp_path: Path, ffmpeg: str) -> None:
    path = tmp_path / "words.mp3"
    path.write_text("hello\n")

    with pytest.raises(AnalysisError, match="ffmpeg cannot decode it"):
        analyse(path, ffmpeg)


def test_video_only_file_has_no_audio_stream(tmp_path: Path, ffmpeg: str) -> None:
    path = tmp_path / "video.ogg"
    command = [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=d=1", "-c:v", "libtheora"]
    subprocess.run([*command, str(path)], check=True)

    with pytest.raises(AnalysisError, match="no audio stream"):
        analyse(path, ffmpeg)
