"""The HLS segmenter on an AAC (ADTS) mount's bytes, fed as the hub feeds a sink: the segments
decode in Debian's ffmpeg, carry their timestamp and title in ID3 (read by mutagen), and a
title change begins a segment."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mutagen.id3
import numpy as np

from app.ffmpeg import ffmpeg_path
from app.stream.hls.segmenter import Segmenter
from tests.stream.test_hls import FFMPEG, RATE, TIMESTAMP_OWNER, parse

SECONDS = 20
CHANGE_AT = 10.0  # seconds of audio: the title changes here
START = 1_800_000_000.0  # the wall clock at the first byte


def adts_tone(seconds: float) -> bytes:
    """A 440 Hz tone as AAC-LC in ADTS, by the bundled ffmpeg (as an AAC mount encodes)."""
    return subprocess.run(
        [ffmpeg_path(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         f"sine=frequency=440:duration={seconds}:sample_rate={RATE}", "-ac", "2", "-c:a", "aac",
         "-b:a", "96k", "-f", "adts", "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


def adts_frames(data: bytes) -> list[bytes]:
    """Split ADTS by its headers' 13-bit frame lengths (ISO/IEC 14496-3 1.A.2.2)."""
    frames, position = [], 0
    while position < len(data):
        assert data[position] == 0xFF, position
        assert data[position + 1] & 0xF6 == 0xF0, position
        length = (
            ((data[position + 3] & 3) << 11) | (data[position + 4] << 3) | (data[position + 5] >> 5)
        )
        frames.append(data[position : position + length])
        position += length
    return frames


def test_an_aac_mount_is_cut_into_playable_segments_with_their_titles(tmp_path: Path) -> None:
    frames = adts_frames(adts_tone(SECONDS))
    now = [START]
    segmenter = Segmenter(tmp_path / "hls", 3600, segment_seconds=6, clock=lambda: now[0])
    segmenter.start()
    segmenter.title("Tones - First", "")
    per_chunk = 17  # ~0.4 s, as the hub gathers its writes
    changed = False
    for first in range(0, len(frames), per_chunk):
        if not changed and first * 1024 / RATE >= CHANGE_AT:
            segmenter.title("Tones - Second", "")
            changed = True
        chunk = frames[first : first + per_chunk]
        now[0] += len(chunk) * 1024 / RATE  # a chunk comes once all its audio is there
        data = b"".join(chunk)
        # Cut mid-frame too: a sink must take bytes as they come.
        segmenter.write(data[: len(data) // 3])
        segmenter.write(data[len(data) // 3 :])
    segmenter.stop()

    folder = tmp_path / "hls"
    playlist = parse((folder / "live.m3u8").read_text())
    assert playlist.tags["#EXT-X-TARGETDURATION"] == "6"
    assert all(segment.uri.endswith(".aac") for segment in playlist.segments)
    titles, heard = [], 0.0
    stamps = []
    for segment in playlist.segments:
        path = folder / segment.uri
        tag = mutagen.id3.ID3(path)
        titles.append(str(tag["TIT2"]))
        (priv,) = [frame for frame in tag.getall("PRIV") if frame.owner == TIMESTAMP_OWNER]
        stamps.append(int.from_bytes(priv.data, "big"))
        decoded = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error",
                                  "-f", "aac", "-i", str(path), "-f", "f32le", "-ac", "1",
                                  "-ar", str(RATE), "pipe:1"], capture_output=True)  # fmt: skip
        assert decoded.returncode == 0, decoded.stderr.decode()
        assert not decoded.stderr, decoded.stderr.decode()  # no frame it could not read
        samples = np.frombuffer(decoded.stdout, dtype=np.float32)
        assert abs(len(samples) / RATE - segment.duration) < 0.05, segment
        assert segment.duration <= 6.05
        spectrum = np.abs(np.fft.rfft(samples[: RATE // 2]))
        assert abs(np.argmax(spectrum) * 2 - 440) <= 4  # the tone, not noise or silence
        if titles[-1] == "Tones - First":
            heard += segment.duration
    # The title changed where its audio did, at a segment's start.
    assert titles == sorted(titles, key=lambda title: title != "Tones - First"), titles
    assert {"Tones - First", "Tones - Second"} == set(titles)
    assert abs(heard - CHANGE_AT) < 0.5, heard
    # The whole tone is there, and the timestamps follow the audio.
    assert abs(sum(segment.duration for segment in playlist.segments) - SECONDS) < 0.2
    for number in range(1, len(stamps)):
        expected = playlist.segments[number - 1].duration * 90000
        # (EXTINF has milliseconds: 90 ticks)
        assert abs(stamps[number] - stamps[number - 1] - expected) <= 90, number
    assert abs(playlist.segments[0].date - START) < 0.5
