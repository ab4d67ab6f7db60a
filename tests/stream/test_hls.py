"""HLS as players see it: one real station, its playlists and segments read over HTTP and
played by Debian's ffmpeg (an HLS client the station's code has no part in), the ID3 tags read
by ffmpeg and mutagen, and the sessions counted in now-playing."""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import mutagen.id3
import numpy as np
import pytest

from tests.conftest import tone_library
from tests.listen import dominant_tone
from tests.listeners.test_board import board, set_name, wait_until_closed
from tests.station import RunningStation, http

pytestmark = [pytest.mark.realtime, pytest.mark.xdist_group("hls")]

FFMPEG = "/usr/bin/ffmpeg"  # Debian's: not the bundled one the station encodes with
RATE = 44100
TONES = {440.0: "Tones - Low Tone", 660.0: "Tones - High Tone"}
LIBRARY = [(440, 14, "Low Tone"), (660, 14, "High Tone")]
TIMESTAMP_OWNER = "com.apple.streaming.transportStreamTimestamp"

Launch = Callable[..., RunningStation]


@dataclass
class Listed:
    uri: str
    duration: float
    date: float  # EXT-X-PROGRAM-DATE-TIME, POSIX seconds
    discontinuity: bool


@dataclass
class Playlist:
    tags: dict[str, str]
    segments: list[Listed]


def parse(text: str) -> Playlist:
    """An HLS media playlist, read by the test (RFC 8216), not by the station's code."""
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U", text[:200]
    tags: dict[str, str] = {}
    segments: list[Listed] = []
    duration = date = None
    discontinuity = False
    for line in lines[1:]:
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",", 1)[0])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            date = np.datetime64(line.split(":", 1)[1].rstrip("Z"), "ms").astype(float) / 1000
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line.startswith("#EXT-X-"):
            name, _, value = line.partition(":")
            tags[name] = value
        elif line and not line.startswith("#"):
            assert duration is not None, f"{line} lacks an EXTINF"
            assert date is not None, f"{line} lacks a program date-time"
            segments.append(Listed(line, duration, date, discontinuity))
            duration = date = None
            discontinuity = False
    return Playlist(tags, segments)


def media_playlist_url(station: RunningStation, **kwargs: object) -> str:
    """What /hls/live.m3u8 hands a player: the URL of its session's media playlist."""
    deadline = time.monotonic() + 60
    while True:
        answer = station.get("/hls/live.m3u8", **kwargs)  # type: ignore[arg-type]
        if answer.status_code == 200:
            break
        assert answer.status_code == 503, answer.text  # only until the first segment
        assert time.monotonic() < deadline, "no HLS segment within a minute"
        time.sleep(0.5)
    assert answer.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert answer.headers["cache-control"] == "no-store"  # each player its own session
    lines = answer.text.splitlines()
    assert lines[0] == "#EXTM3U"
    inf = next(i for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:"))
    assert "BANDWIDTH=" in lines[inf]
    return urljoin(station.url + "/hls/live.m3u8", lines[inf + 1])


def ffmpeg_tags(path: Path) -> dict[str, str]:
    """The tags ffmpeg reads from a segment file (its ID3v2 tag)."""
    result = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-i",
                             str(path), "-f", "ffmetadata", "-"], capture_output=True,
                            text=True, check=True)  # fmt: skip
    return dict(line.split("=", 1) for line in result.stdout.splitlines()[1:] if "=" in line)


def priv_timestamp(path: Path) -> int:
    """The 33-bit 90 kHz timestamp in the segment's ID3 PRIV frame, read by mutagen."""
    tag = mutagen.id3.ID3(path)
    frames = [frame for frame in tag.getall("PRIV") if frame.owner == TIMESTAMP_OWNER]
    assert len(frames) == 1, tag.pprint()
    assert len(frames[0].data) == 8
    return int.from_bytes(frames[0].data, "big")


def decode(path: Path) -> np.ndarray:
    result = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-i",
                             str(path), "-f", "f32le", "-ac", "1", "-ar", str(RATE), "pipe:1"],
                            capture_output=True, check=True)  # fmt: skip
    return np.frombuffer(result.stdout, dtype=np.float32)


def test_hls_plays_in_ffmpeg_advances_in_real_time_and_carries_titles(
    launch: Launch, tmp_path: Path
) -> None:
    station = launch()
    tone_library(station.media, LIBRARY)
    station.post("/api/library/scan").raise_for_status()
    station.wait_for_music()
    url = media_playlist_url(station)
    assert url.startswith(station.url + "/hls/")
    assert url.endswith("/live.m3u8")
    assert url != station.url + "/hls/live.m3u8"  # the session's own

    first = httpx.get(url, headers={"Origin": "https://elsewhere.example"}, timeout=10)
    assert first.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert first.headers["cache-control"] == "no-cache"  # a live playlist: ask again each time
    assert first.headers["access-control-allow-origin"] == "*"  # web players elsewhere
    assert first.headers["content-encoding"] == "gzip"  # asked for (httpx does): 10x smaller
    playlist = parse(first.text)
    assert playlist.tags["#EXT-X-VERSION"] == "3"
    assert playlist.tags["#EXT-X-TARGETDURATION"] == "6"
    start_sequence = int(playlist.tags["#EXT-X-MEDIA-SEQUENCE"])

    # The playlist advances in real time: a new segment about every segment's length.
    seen = {segment.uri: segment for segment in playlist.segments}
    arrivals: list[tuple[float, Listed]] = []
    deadline = time.monotonic() + 90
    while len(arrivals) < 4:
        assert time.monotonic() < deadline, f"only {len(arrivals)} new segments in 90 s"
        time.sleep(0.25)
        now = parse(http().get(url, timeout=10).text)
        for segment in now.segments:
            if segment.uri not in seen:
                seen[segment.uri] = segment
                arrivals.append((time.monotonic(), segment))
    assert int(now.tags["#EXT-X-MEDIA-SEQUENCE"]) >= start_sequence
    listed = now.segments
    assert [s.uri for s in listed[-4:]] == [s.uri for _, s in arrivals[-4:]]
    # Between the first new segment and the last, the wall clock moved as far as the audio.
    audio = sum(segment.duration for _, segment in arrivals[1:])
    elapsed = arrivals[-1][0] - arrivals[0][0]
    assert abs(elapsed - audio) < 2.5, (elapsed, audio)
    for earlier, later in itertools.pairwise(listed):
        assert later.duration <= 6.5  # TARGETDURATION, rounded
        assert abs(later.date - (earlier.date + earlier.duration)) < 0.1, (earlier, later)
    assert abs(listed[-1].date + listed[-1].duration - time.time()) < 5  # the live edge

    # Each segment: served as audio/mpeg, cacheable for good; its ID3 tag carries the
    # timestamp of its first sample and the title, and its audio is the item so titled.
    folder = tmp_path / "segments"
    folder.mkdir()
    titles, stamps = [], []
    for segment in listed:
        answer = httpx.get(urljoin(url, segment.uri), timeout=10)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "audio/mpeg"
        assert "immutable" in answer.headers["cache-control"]
        path = folder / Path(segment.uri).name
        path.write_bytes(answer.content)
        assert answer.content[:3] == b"ID3"
        stamps.append(priv_timestamp(path))
        title = ffmpeg_tags(path).get("title", "")
        titles.append(title)
        samples = decode(path)
        assert abs(len(samples) / RATE - segment.duration) < 0.06, segment
        if title in TONES.values() and segment.duration >= 2:
            tail = dominant_tone(samples[-RATE:], list(TONES))
            heard = max(set(tail), key=tail.count)
            assert heard is not None, (segment, title, tail)
            assert TONES[heard] == title, (segment, title, tail)
    assert set(TONES.values()) <= set(titles), titles
    for number in range(1, len(listed)):
        expected = round(listed[number - 1].duration * 90000)
        step = (stamps[number] - stamps[number - 1]) % (1 << 33)
        assert abs(step - expected) < 0.03 * 90000, (number, step, expected)

    # Debian's ffmpeg plays the stream through the multivariant playlist: real audio.
    result = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-i",
                             station.url + "/hls/live.m3u8", "-t", "10", "-f", "f32le", "-ac",
                             "1", "-ar", str(RATE), "pipe:1"], capture_output=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    played = np.frombuffer(result.stdout, dtype=np.float32)
    assert len(played) >= 9.5 * RATE
    rms_db = 20 * np.log10(np.sqrt(np.mean(played.astype(np.float64) ** 2)) + 1e-12)
    assert rms_db > -40, rms_db  # the tones, not silence
    tones = [tone for tone in dominant_tone(played, list(TONES)) if tone is not None]
    assert len(tones) > 0.8 * len(played) / RATE * 10, "mostly the library's tones"


def sessions_now(station: RunningStation) -> int:
    return int(station.now_playing()["listeners"])


def test_hls_sessions_count_as_listeners_until_they_stop_fetching(launch: Launch) -> None:
    # Sessions end 6 s after the last fetch; 2 s of listening count on the board.
    station = launch(hls_segment_seconds=2, hls_sessions_per_address=3, listener_min_seconds=2)
    tone_library(station.media, LIBRARY)
    station.post("/api/library/scan").raise_for_status()
    station.wait_for_music()
    listener = station.new_listener()
    cookie = {"radio_listener": listener}
    assert set_name(station, listener, "Hedy").status_code == 200
    url = media_playlist_url(station, cookies=cookie)
    assert sessions_now(station) == 0  # asking for the playlist is not listening yet

    def fetch(playlist_url: str, cookies: dict[str, str] | None = None) -> None:
        answer = httpx.get(playlist_url, cookies=cookies, timeout=10)
        answer.raise_for_status()
        segment = parse(answer.text).segments[-1].uri
        httpx.get(urljoin(playlist_url, segment), cookies=cookies, timeout=10).raise_for_status()

    fetch(url, cookie)
    assert sessions_now(station) == 1
    # A player fetching every target duration stays one listener...
    for _ in range(5):
        time.sleep(2)
        fetch(url, cookie)
        assert sessions_now(station) == 1
    # ...and has left about three target durations after its last fetch.
    stopped = time.monotonic()
    while sessions_now(station) == 1:
        assert time.monotonic() - stopped < 20, "the HLS session never ended"
        time.sleep(0.2)
    assert time.monotonic() - stopped > 5.5
    # Its listening time is in the statistics and on the board, as a stream listener's is.
    (row,) = wait_until_closed(station, 1)
    assert row["user_agent"].startswith("python-httpx")
    assert row["seconds"] >= 10
    standing = board(station, listener)
    assert [entry["name"] for entry in standing["week"]] == ["Hedy"]
    assert standing["week"][0]["seconds"] >= 10

    # One address cannot count as more listeners than its share, however often it asks.
    for _ in range(6):
        fetch(media_playlist_url(station))
    assert sessions_now(station) == 3


def test_hls_playlist_goes_on_after_a_restart(launch: Launch, tmp_path: Path) -> None:
    station = launch(hls_segment_seconds=2)
    tone_library(station.media, LIBRARY)
    station.post("/api/library/scan").raise_for_status()
    station.wait_for_music()
    url = media_playlist_url(station)
    while len((before := parse(http().get(url, timeout=10).text)).segments) < 3:
        time.sleep(0.5)
    station.stop()
    # The old station may finish a segment after `before` was read (the one it was cutting
    # when it stopped): what is new is what began after it stopped, by the playlist's dates.
    stopped_at = time.time()
    again = launch(port=station.port, hls_segment_seconds=2)
    deadline = time.monotonic() + 60
    while True:
        after = parse(http().get(media_playlist_url(again), timeout=10).text)
        new = [segment for segment in after.segments if segment.date >= stopped_at]
        if new:
            break
        assert time.monotonic() < deadline, "no new segment after the restart"
        time.sleep(0.5)
    kept = after.segments[: len(after.segments) - len(new)]
    sequence = int(after.tags["#EXT-X-MEDIA-SEQUENCE"])
    # The old segments are still there, numbered as before; the new one follows them and
    # says its timestamps start anew.
    assert sequence == int(before.tags["#EXT-X-MEDIA-SEQUENCE"])
    assert [s.uri for s in kept[: len(before.segments)]] == [s.uri for s in before.segments]
    assert after.segments[len(kept)] is new[0]
    assert new[0].discontinuity
    assert not any(segment.discontinuity for segment in kept[1:])
    assert httpx.get(urljoin(again.url + "/hls/", before.segments[0].uri)).status_code == 200
