"""Extra mounts (RADIO_MOUNTS) as stream clients hear them: one real station with an MP3 64k
mono, an AAC and an Opus mount, each joined in the middle of the programme and decoded by a
real ffmpeg (Debian's where installed: not the encoder that made the stream)."""

from __future__ import annotations

import itertools
import os
import re
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from app.ffmpeg import ffmpeg_path
from tests.conftest import tone_library
from tests.listen import FfmpegTitles, StreamCapture, dominant_tone, longest_quiet_run, split_icy
from tests.processes import children, command_line
from tests.station import RunningStation, start_station

pytestmark = [pytest.mark.realtime, pytest.mark.xdist_group("mounts")]

TONES = {"Low Tone": 440.0, "Middle Tone": 660.0, "High Tone": 880.0}
MOUNTS = "/mobile.mp3=mp3:64:mono,/stream.aac=aac:96,/stream.opus=opus:96"
CAPTURE_SECONDS = 15.0  # items air for 6 s (8 s tones, 2 s crossfades): two changes at least
DECODER = "/usr/bin/ffmpeg" if Path("/usr/bin/ffmpeg").exists() else ffmpeg_path()


@dataclass(frozen=True)
class Expect:
    path: str
    content_type: str
    demuxer: str  # ffmpeg's name for the container
    codec: str  # as ffmpeg names the decoded stream
    sample_rate: int
    channels: int
    bitrate_kbps: int


EXPECT = {
    "mp3": Expect("/mobile.mp3", "audio/mpeg", "mp3", "mp3", 44100, 1, 64),
    "aac": Expect("/stream.aac", "audio/aac", "aac", "aac", 44100, 2, 96),
    "opus": Expect("/stream.opus", "audio/ogg", "ogg", "opus", 48000, 2, 96),
}


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStation]:
    root = tmp_path_factory.mktemp("mounts")
    tone_library(root / "media", [(freq, 8, title) for title, freq in TONES.items()])
    running = start_station(root, mounts=MOUNTS, crossfade_seconds=2)
    try:
        # Mid-stream: the station has aired a while, and the titles have changed.
        running.wait_for(lambda s: len(s["history"]) >= 2, timeout=120)
        yield running
    finally:
        running.stop()


def decoded(data: bytes, demuxer: str) -> tuple[np.ndarray, list[str], str]:
    """(mono samples at 44.1 kHz, ffmpeg's errors, ffmpeg's log) of a piece of a stream."""
    result = subprocess.run(
        [DECODER, "-nostdin", "-hide_banner", "-loglevel", "level+info", "-f", demuxer,
         "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", "44100", "pipe:1"],
        input=data, capture_output=True, check=False,
    )  # fmt: skip
    log = result.stderr.decode(errors="replace")
    errors = [line for line in log.splitlines() if "[error]" in line or "[fatal]" in line]
    return np.frombuffer(result.stdout, dtype=np.float32), errors, log


def tone_of(samples: np.ndarray) -> float | None:
    """The tone most windows of these samples carry."""
    tones = [tone for tone in dominant_tone(samples, list(TONES.values())) if tone]
    return Counter(tones).most_common(1)[0][0] if tones else None


# -- where each container's units end (read from the bytes here, not with the station's code)


def mp3_units(data: bytes) -> int:
    """Bytes of whole MPEG-1 Layer III frames from byte 0 (fails on a bad header)."""
    bitrates = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
    pos = 0
    while pos + 4 <= len(data):
        assert data[pos] == 0xFF, f"no frame at {pos}"
        assert data[pos + 1] & 0xFE == 0xFA, f"not MPEG-1 Layer III at {pos}"
        length = 144_000 * bitrates[data[pos + 2] >> 4] // 44100 + ((data[pos + 2] >> 1) & 1)
        if pos + length > len(data):
            break
        pos += length
    return pos


def adts_units(data: bytes) -> int:
    pos = 0
    while pos + 7 <= len(data):
        assert data[pos] == 0xFF, f"no ADTS frame at {pos}"
        assert data[pos + 1] & 0xF0 == 0xF0, f"no ADTS frame at {pos}"
        length = ((data[pos + 3] & 3) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
        if pos + length > len(data):
            break
        pos += length
    return pos


def ogg_pages(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, flags, serial) of every whole Ogg page from byte 0."""
    pages = []
    pos = 0
    while pos + 27 <= len(data):
        assert data[pos : pos + 4] == b"OggS", f"no Ogg page at {pos}"
        count = data[pos + 26]
        end = pos + 27 + count + sum(data[pos + 27 : pos + 27 + count])
        if end > len(data):
            break
        pages.append((pos, data[pos + 5], struct.unpack_from("<I", data, pos + 14)[0]))
        pos = end
    pages.append((pos, -1, -1))  # where the whole pages end
    return pages


def capture(station: RunningStation, path: str, icy: bool) -> StreamCapture:
    client = StreamCapture(station.port, path=path, icy=icy)
    time.sleep(CAPTURE_SECONDS)
    client.stop()
    return client


@pytest.mark.parametrize("kind", ["mp3", "aac"])
def test_an_icy_mount_joined_mid_stream_decodes_with_its_titles_on_its_audio(
    station: RunningStation, kind: str
) -> None:
    expect = EXPECT[kind]
    client = capture(station, expect.path, icy=True)
    headers = client.headers
    assert client.status_line == "HTTP/1.0 200 OK"
    assert headers["content-type"] == expect.content_type
    assert headers["icy-br"] == str(expect.bitrate_kbps)
    assert f"ice-channels={expect.channels}" in headers["ice-audio-info"]
    stream = split_icy(bytes(client.body), int(headers["icy-metaint"]))
    units = mp3_units if kind == "mp3" else adts_units
    audio = stream.audio[: units(stream.audio)]  # from byte 0: the burst starts on a frame
    samples, errors, log = decoded(audio, expect.demuxer)
    assert errors == [], log
    layout = "mono" if expect.channels == 1 else "stereo"
    assert re.search(rf"Audio: {expect.codec}.*, {expect.sample_rate} Hz, {layout}", log), log
    assert len(samples) > (CAPTURE_SECONDS - 1) * 44100
    assert longest_quiet_run(samples) < 0.5  # real audio all along, no silence

    # Each title's stretch of the audio (from its block to the next title's) is its tone.
    titles = [(offset, title.removeprefix("Tones - ")) for offset, title in stream.titles]
    assert len({title for _, title in titles}) >= 3, titles  # it changed, twice
    checked = 0
    for (start, title), (end, _) in itertools.pairwise(titles):
        assert title in TONES, titles
        piece, _, _ = decoded(stream.audio[start:end], expect.demuxer)
        assert tone_of(piece) == TONES[title], f"{title} over another tone: {titles}"
        checked += 1
    assert checked >= 2


def test_an_opus_mount_joined_mid_stream_decodes_each_chain_with_its_title(
    station: RunningStation,
) -> None:
    expect = EXPECT["opus"]
    client = capture(station, expect.path, icy=True)
    headers = client.headers
    assert headers["content-type"] == "audio/ogg"
    assert "icy-metaint" not in headers  # Ogg carries its own titles, as with Icecast
    assert headers["icy-br"] == "96"
    assert "ice-channels=2" in headers["ice-audio-info"]
    body = bytes(client.body)
    pages = ogg_pages(body)
    # A late joiner gets the headers of the chain it joins first: OpusHead, then OpusTags.
    assert pages[0][1] == 2, body[:64]  # BOS
    assert body[28:36] == b"OpusHead", body[:64]
    assert body[pages[1][0] + 28 : pages[1][0] + 36] == b"OpusTags"
    whole = body[: pages[-1][0]]
    samples, errors, log = decoded(whole, "ogg")
    assert errors == [], log
    assert re.search(r"Audio: opus, 48000 Hz, stereo", log), log
    assert len(samples) > (CAPTURE_SECONDS - 1) * 44100
    assert longest_quiet_run(samples) < 0.5

    # A chain per title: each one's TITLE (as ffmpeg reads it) is the tone it plays.
    starts = [offset for offset, flags, _ in pages if flags >= 0 and flags & 2]
    assert len({serial for _, flags, serial in pages if flags >= 0}) == len(starts)
    titles = []
    for start, end in itertools.pairwise(starts):
        piece, errors, log = decoded(whole[start:end], "ogg")
        assert errors == [], log
        found = re.search(r"TITLE\s+: (.*)", log)
        assert found, log
        titles.append(found.group(1).strip())
        assert tone_of(piece) == TONES[titles[-1]], f"{titles[-1]} over another tone: {log}"
    assert len(titles) >= 2, titles
    assert all(a != b for a, b in itertools.pairwise(titles)), titles  # a chain per change


def test_ffmpeg_shows_the_current_title_on_every_mount(station: RunningStation) -> None:
    """ffmpeg as a listener's player: ICY titles on MP3 and AAC (`-icy 1`), and the Opus
    stream's TITLE as it opens it, are what now-playing says is on air."""
    for kind in ("mp3", "aac"):
        player = FfmpegTitles(station.url + EXPECT[kind].path)
        try:
            player.wait_for(lambda shown: station.now_playing()["current"]["display_title"]
                            in shown)  # fmt: skip
            player.wait_for(lambda shown: len(set(shown)) >= 2)  # and it follows the changes
        finally:
            player.stop()
    # A player opening the Opus mount hears the burst first, the last ~4 s before the live
    # point, and ffmpeg names the chain that burst starts in. Opened once the item on air has
    # aired longer than that, the burst is all the current item: its TITLE is what is on air.
    deadline = time.monotonic() + 30
    while not 4.5 <= (current := station.now_playing()["current"])["elapsed"] <= 5.0:
        assert time.monotonic() < deadline, current
        time.sleep(0.05)
    result = subprocess.run(
        [DECODER, "-nostdin", "-hide_banner", "-i", station.url + "/stream.opus", "-t", "0.5",
         "-f", "null", "-"], capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    found = re.search(r"TITLE\s+: (.*)", result.stderr)
    assert found, result.stderr
    assert found.group(1).strip() == current["title"], (found.group(1), current)


def test_playlists_status_and_now_playing_list_every_mount(station: RunningStation) -> None:
    paths = ["/stream", *(e.path for e in EXPECT.values())]
    m3u = station.get("/listen.m3u").text.splitlines()
    assert [line for line in m3u if not line.startswith("#")] == [station.url + p for p in paths]
    pls = station.get("/listen.pls").text
    for number, path in enumerate(paths, 1):
        assert f"File{number}={station.url}{path}\n" in pls
    assert "NumberOfEntries=4" in pls

    # One listener on the Opus mount; the players of the tests before have hung up (the
    # station counts a connection out when it next writes to it).
    expected = {station.url + p: int(p == "/stream.opus") for p in paths}
    listener = StreamCapture(station.port, path="/stream.opus")
    try:
        deadline = time.monotonic() + 10
        while True:
            sources = station.get("/status-json.xsl").json()["icestats"]["source"]
            by_url = {source["listenurl"]: source for source in sources}
            if {url: source["listeners"] for url, source in by_url.items()} == expected:
                break
            assert time.monotonic() < deadline, sources
            time.sleep(0.1)
        assert [s["listenurl"] for s in sources] == [station.url + p for p in paths]
        opus = by_url[station.url + "/stream.opus"]
        format_ = (opus["server_type"], opus["samplerate"], opus["channels"])
        assert format_ == ("audio/ogg", 48000, 2)
        assert by_url[station.url + "/mobile.mp3"]["channels"] == 1
        now = station.now_playing()
        assert now["listeners"] == 1
        assert now["mounts"] == {"/stream": 0, "/mobile.mp3": 0, "/stream.aac": 0,
                                 "/stream.opus": 1}  # fmt: skip
    finally:
        listener.stop()


def test_a_failed_encoder_is_reported_and_restarted_while_the_default_mount_plays_on(
    station: RunningStation,
) -> None:
    encoder = _encoder_pid(station, "adts")
    default = StreamCapture(station.port)
    try:
        time.sleep(1)
        os.kill(encoder, 9)
        deadline = time.monotonic() + 20
        while _encoder_pid(station, "adts", missing_ok=True) in (None, encoder):
            assert time.monotonic() < deadline, "the AAC encoder was not started again"
            time.sleep(0.2)
        aac = capture(station, "/stream.aac", icy=False)
        samples, errors, log = decoded(bytes(aac.body)[: adts_units(bytes(aac.body))], "aac")
        assert errors == [], log
        assert longest_quiet_run(samples) < 0.5
    finally:
        default.stop()
    problems = station.get("/api/station/problems", headers=station.auth()).json()["items"]
    aac_problems = [problem for problem in problems if problem["key"] == "mount:/stream.aac"]
    assert aac_problems, problems  # reported to hosts...
    assert all(problem["cleared_at"] for problem in aac_problems), aac_problems  # ...and over
    # The default mount never waited: its bytes came at the stream's rate all along.
    arrivals = [t for t, _ in default.arrivals]
    gaps = np.diff(arrivals)
    assert gaps.max() < 1.5, gaps.max()


def _encoder_pid(station: RunningStation, muxer: str, missing_ok: bool = False) -> int | None:
    """The station's ffmpeg encoder writing `muxer`: a child of its playout process."""
    found = [pid for pid in children(station.playout_pid()) if muxer.encode() in command_line(pid)]
    if not found and missing_ok:
        return None
    assert len(found) == 1, found
    return found[0]
