"""`/stream?at=` from minutes ago plays the programme that aired then, with its titles.

The oracle is a live listener: it captures `/stream` (audio, ICY titles, and when each read
arrived) from the start. AGO seconds later the test asks the archive for a moment it heard
live, decodes both with the real ffmpeg, and checks that the archive's audio is the live
audio of that moment (byte for byte, and by cross-correlating the decoded PCM), that it
starts within a few MP3 frames of the moment asked for (placed by the live arrival times),
and that the ICY titles are those the live listener saw there.

In the suite AGO is 90 s (three tracks back; the test takes about three minutes, marked
`long` so it starts first in the real-time phase and the other real-time tests run beside
it). `make bench` runs it as the done-when says, ten minutes back (eleven minutes long):

    RADIO_ARCHIVE_AGO=600 .venv/bin/pytest -m realtime tests/stream/test_archive_ten_minutes.py
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from app.ffmpeg import ffmpeg_path
from app.library.encode import SAMPLE_RATE, encode
from app.library.tags import write_tags
from tests.listen import BYTES_PER_SECOND, RATE, StreamCapture, decode, split_icy, whole_frames
from tests.station import start_station

pytestmark = [pytest.mark.realtime, pytest.mark.long, pytest.mark.timeout(1500)]

AGO = float(os.environ.get("RADIO_ARCHIVE_AGO", "90"))  # seconds (the done-when's: 600)
HEAR = 14.0  # seconds of the time-shifted stream to take after its burst
METAINT = 16000
FRAME = 1152 / RATE  # seconds of one MP3 frame
BLOCK_FRAMES = 8  # the most frames a 0.2 s playout block encodes to (8820 samples / 1152)


def melody(path: Path, seconds: float, seed: int, title: str) -> None:
    """Pips of random pitch and length over a little noise: no two moments alike, so the
    cross-correlation has one clear peak (a steady tone would match itself every period)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SAMPLE_RATE))
    at = 0
    while at < len(out):
        length = int(rng.uniform(0.05, 0.25) * SAMPLE_RATE)
        t = np.arange(min(length, len(out) - at)) / SAMPLE_RATE
        out[at : at + len(t)] = 0.2 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t)
        at += len(t)
    out += 0.01 * rng.standard_normal(len(out))
    encode(np.stack([out, out], axis=1), path, ffmpeg_path())
    write_tags(path, {"artist": f"Artist {seed}", "title": title, "album": "Ten"})


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def audio_arrivals(capture: StreamCapture, clock: float) -> list[tuple[float, int]]:
    """(wall time, audio bytes received by then) of every read: body bytes less ICY blocks."""
    icy = split_icy(bytes(capture.body), METAINT)
    block_body_ends, metadata = [], 0  # body position where each block ends, bytes so far
    for audio_offset, size in zip(icy.block_offsets, icy.block_sizes, strict=True):
        metadata += size
        block_body_ends.append((audio_offset + metadata, metadata))
    out, index, seen = [], 0, 0
    for moment, body in capture.arrivals:
        while index < len(block_body_ends) and block_body_ends[index][0] <= body:
            seen = block_body_ends[index][1]
            index += 1
        out.append((moment + clock, body - seen))
    return out


def frame_starts(data: bytes) -> list[int]:
    """Offsets of the 128 kbps 44.1 kHz frames from byte 0 (417 bytes, 418 when padded)."""
    starts, at = [], 0
    while at + 4 <= len(data):
        starts.append(at)
        at += 417 + ((data[at + 2] >> 1) & 1)
    return starts


def title_at(titles: list[tuple[int, str]], offset: int) -> str:
    current = ""
    for at, title in titles:
        if at > offset:
            break
        current = title
    return current


def test_the_programme_of_minutes_ago_plays_with_its_titles(tmp_path: Path) -> None:
    music = tmp_path / "media" / "music"
    music.mkdir(parents=True)
    for number in range(14):
        melody(music / f"m{number}.mp3", 26 + number % 5, number, f"Melody {number}")
    station = start_station(tmp_path, block_seconds=0.2, track_separation_hours=0,
                            artist_separation_minutes=0)  # fmt: skip
    live = StreamCapture(station.port, icy=True)
    clock = time.time() - time.monotonic()  # wall = monotonic + clock
    shifted: StreamCapture | None = None
    try:
        # The moment to ask for: 8 s before a title change the live listener saw, well past
        # its join burst, so the archive's stretch holds a change of title.
        at = 0.0
        deadline = time.monotonic() + 180
        while not at:
            assert time.monotonic() < deadline, "no title change in three minutes"
            time.sleep(2)
            titles = split_icy(bytes(live.body), METAINT).titles
            arrivals = audio_arrivals(live, clock)
            for offset, _ in titles[1:]:
                if offset > 20 * BYTES_PER_SECOND:
                    at = next(t for t, audio in arrivals if audio >= offset) - 8
                    break
        while time.time() < at + AGO + 0.5:
            assert live.closed_at is None, "the live stream ended"
            time.sleep(min(5.0, max(0.0, at + AGO + 0.5 - time.time())))
        asked = time.time()
        shifted = StreamCapture(station.port, icy=True, path=f"/stream?at={iso(at)}")
        deadline = time.monotonic() + HEAR + 30
        while len(shifted.body) < (HEAR + 4) * BYTES_PER_SECOND:
            assert shifted.closed_at is None, "the time-shifted stream ended"
            assert time.monotonic() < deadline, f"only {len(shifted.body)} bytes"
            time.sleep(0.2)
    finally:
        live.stop()
        if shifted is not None:
            shifted.stop()
        station.stop()
    assert shifted is not None
    assert asked - at >= AGO
    assert shifted.head == live.head  # the same response head as the live stream

    live_icy = split_icy(bytes(live.body), METAINT)
    shift_icy = split_icy(bytes(shifted.body), METAINT)
    archived = whole_frames(shift_icy.audio)

    # 1. The archive's audio is a stretch of what aired, byte for byte.
    start = live_icy.audio.find(archived[:8192])
    assert start >= 0, "the archive's audio is nowhere in the live capture"
    assert live_icy.audio[start : start + len(archived)] == archived

    # 2. ...from the moment asked for. When a live byte aired, from the live arrival times:
    # the hub writes a block's bytes when the block airs, so the reads that came soonest
    # after their audio lie on the line air(b) = base + b / byte rate.
    near = [(t, audio) for t, audio in audio_arrivals(live, clock) if abs(t - at) < 30]
    base = min(t - audio / BYTES_PER_SECOND for t, audio in near) + BLOCK_FRAMES * FRAME
    aired = base + start / BYTES_PER_SECOND
    print(f"archive starts {aired - at:+.3f} s from the moment asked for")
    assert -3 * FRAME <= aired - at <= 2 * FRAME

    # 3. Decoded, the archive's audio is the live audio there (cross-correlation of PCM).
    frames = frame_starts(live_icy.audio)
    first = max(f for f in frames if f <= start - 2 * BYTES_PER_SECOND)
    live_pcm, _ = decode(whole_frames(live_icy.audio[first : start + len(archived)]))
    shift_pcm, errors = decode(archived)
    assert errors == ""
    piece = shift_pcm[RATE : RATE * 11]  # 10 s, past the decoder's first frames
    spectrum = np.fft.rfft(live_pcm, 2 * len(live_pcm))
    kernel = np.fft.rfft(piece[::-1], 2 * len(live_pcm))
    correlation = np.fft.irfft(spectrum * kernel)[len(piece) - 1 : len(live_pcm)]
    lag = int(np.argmax(correlation))
    match = live_pcm[lag : lag + len(piece)]
    similarity = float(np.dot(match, piece) / np.linalg.norm(match) / np.linalg.norm(piece))
    assert similarity > 0.99, similarity
    expected = (start - first) / BYTES_PER_SECOND + 1.0  # seconds into the live decode
    assert abs(lag / RATE - expected) <= 2 * FRAME, (lag / RATE, expected)

    # 4. The titles are those the live listener saw at the same audio (an ICY block comes
    # every METAINT bytes in each stream, at different places: one interval either way).
    assert len({title for _, title in shift_icy.titles}) >= 2, shift_icy.titles
    for offset, title in shift_icy.titles:
        around = {title_at(live_icy.titles, start + offset + d) for d in (-METAINT, 0, METAINT)}
        assert title in around, (offset, title, live_icy.titles)
