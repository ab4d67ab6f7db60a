"""The live stream as stream clients see it: one real station, real sockets, real ffmpeg."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.ffmpeg import ffmpeg_path
from tests import database
from tests.audio import write_tone
from tests.conftest import tone_library
from tests.listen import (
    FfmpegTitles,
    StreamCapture,
    common_start,
    decode,
    mp3_frames_valid,
    split_icy,
)
from tests.station import RunningStation, start_station

pytestmark = [pytest.mark.realtime, pytest.mark.xdist_group("live-stream")]

HOSTILE = "Don't Stop';Believe \"Live\""
TITLES = ["Low Tone", "Middle Tone", HOSTILE]
LIBRARY = [(440, 12, TITLES[0]), (660, 12, TITLES[1]), (880, 12, HOSTILE)]
# RADIO_STATION_* settings, none of them the default: the icy-* headers come from them.
STATION = {"station_name": "Oracle FM", "station_description": "Tones all day",
           "station_genre": "Test Tones", "station_url": "https://oracle.example/",
           "station_public": "true"}  # fmt: skip


Launch = Callable[..., RunningStation]


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStation]:
    """One station for the tests that only listen: none of them may change its programme."""
    root = tmp_path_factory.mktemp("live")
    tone_library(root / "media", LIBRARY)
    running = start_station(root, **STATION)
    try:
        running.wait_for_music()
        time.sleep(4.5)  # let the buffer grow past one burst
        yield running
    finally:
        running.stop()


def capture(station: RunningStation, seconds: float, **kwargs: object) -> StreamCapture:
    client = StreamCapture(station.port, **kwargs)  # type: ignore[arg-type]
    time.sleep(seconds)
    client.stop()
    return client


def test_response_head_is_icecast_like_without_chunking(station: RunningStation) -> None:
    client = capture(station, 0.5)
    assert client.status_line == "HTTP/1.0 200 OK"
    headers = client.headers
    assert headers["content-type"] == "audio/mpeg"
    assert "transfer-encoding" not in headers
    assert "content-length" not in headers
    assert "icy-metaint" not in headers  # only for clients that ask
    assert headers["icy-br"] == "128"
    assert headers["icy-name"] == "Oracle FM"
    assert headers["icy-description"] == "Tones all day"
    assert headers["icy-genre"] == "Test Tones"
    assert headers["icy-url"] == "https://oracle.example/"
    assert headers["icy-pub"] == "1"
    assert "no-cache" in headers["cache-control"]
    assert headers["access-control-allow-origin"] == "*"
    assert "icy-metaint" in headers["access-control-expose-headers"]


def test_a_new_listener_gets_a_burst_of_valid_mp3_frames_from_the_first_byte(
    station: RunningStation,
) -> None:
    client = capture(station, 0.5)
    assert len(client.body) >= 64 * 1024  # the burst: about four seconds, at once
    frames = mp3_frames_valid(bytes(client.body))
    assert frames > 150
    audio, errors = decode(bytes(client.body))
    assert errors == ""
    assert abs(len(audio) / 44100 - len(client.body) / 16000) < 0.1


def test_two_listeners_hear_identical_bytes_once_both_are_connected(
    station: RunningStation,
) -> None:
    first = StreamCapture(station.port)
    time.sleep(2.5)
    second = StreamCapture(station.port)
    time.sleep(3)
    first.stop()
    second.stop()
    a, b = bytes(first.body), bytes(second.body)
    start, zero = common_start(a, b)
    assert zero == 0, "the second listener heard something the first did not"
    assert start > 0, "the second listener's burst is not part of the first one's stream"
    common = min(len(a) - start, len(b))
    assert common > 5 * 16000
    assert a[start : start + common] == b[:common]


def test_icy_blocks_land_every_16000_bytes_and_carry_the_title(station: RunningStation) -> None:
    # Two listeners at once, one asking for metadata: with each block taken out where a
    # player expects it (every icy-metaint bytes), the ICY listener's audio is byte for byte
    # what the plain listener got. A block anywhere else leaves text in the audio or cuts
    # audio out, and the two differ.
    plain = StreamCapture(station.port)
    icy = StreamCapture(station.port, icy=True)
    time.sleep(3.5)
    icy.stop()
    plain.stop()
    assert icy.headers["icy-metaint"] == "16000"
    stream = split_icy(bytes(icy.body), 16000)
    reference = bytes(plain.body)
    i, j = common_start(stream.audio, reference)
    common = min(len(stream.audio) - i, len(reference) - j)
    assert common >= 5 * 16000, f"only {common} bytes in common"
    assert stream.audio[i : i + common] == reference[j : j + common]
    titles = {title for _, title in stream.titles}
    assert titles, "the first block always names what is playing"
    assert titles <= {f"Tones - {t}".replace("';", "' ;") for t in TITLES}
    mp3_frames_valid(stream.audio)  # the audio between the blocks is still whole frames
    assert decode(stream.audio)[1] == ""


def test_a_title_with_quotes_and_semicolons_survives(tmp_path: Path, launch: Launch) -> None:
    tone_library(tmp_path / "media", LIBRARY)
    station = launch()  # skips change the programme: a station of its own
    station.wait_for_music()
    for _ in range(len(TITLES) + 1):
        if station.now_playing()["current"]["title"] == HOSTILE:
            break
        station.post("/api/queue/skip").raise_for_status()
        time.sleep(1.0)
    state = station.now_playing()
    assert state["current"]["title"] == HOSTILE  # JSON keeps it exactly
    # The burst replays the last seconds before the skip; the live point has the new title.
    stream = split_icy(bytes(capture(station, 5.5, icy=True).body), 16000)
    assert stream.titles[-1][1] == "Tones - Don't Stop' ;Believe \"Live\""
    shown = _ffmpeg_icy_title(station)
    assert shown == "Tones - Don't Stop' ;Believe \"Live\""


def test_control_characters_in_a_title_never_reach_stream_clients(
    tmp_path: Path, launch: Launch
) -> None:
    music = tmp_path / "media" / "music"
    music.mkdir(parents=True)
    write_tone(music / "plain.mp3", 12, 440, tags={"artist": "Tones", "title": "Plain Tone"})
    # NUL, BEL and ESC in an Ogg Vorbis comment, as the review's file had them.
    write_tone(music / "controlled.ogg", 12, 660,
               tags={"artist": "Tones", "title": "Be\x00li\x07ev\x1be It"})  # fmt: skip
    station = launch()  # skips change the programme: a station of its own
    station.wait_for_music()
    listed = station.get("/api/tracks", headers=station.auth()).json()["items"]
    controlled = next(t["id"] for t in listed if t["path"] == "music/controlled.ogg")
    _skip_until(station, lambda current: current["track_id"] != controlled)
    ffmpeg = FfmpegTitles(f"{station.url}/stream")
    icy = StreamCapture(station.port, icy=True)
    try:
        ffmpeg.wait_for(lambda titles: titles[-1:] == ["Tones - Plain Tone"])
        before = len(ffmpeg.titles)
        _skip_until(station, lambda current: current["track_id"] == controlled)
        assert station.now_playing()["current"]["title"] == "Believe It"
        # ffmpeg takes the change (a NUL ended the block for it: it kept the old title) ...
        ffmpeg.wait_for(lambda titles: "Tones - Believe It" in titles[before:])
        # ... and the blocks say just that, nothing else.
        deadline = time.monotonic() + 30
        while "Tones - Believe It" not in (shown := _icy_titles(icy)):
            assert time.monotonic() < deadline, f"ICY titles: {shown}"
            time.sleep(0.2)
        assert shown == {"Tones - Plain Tone", "Tones - Believe It"}
    finally:
        ffmpeg.stop()
        icy.stop()


def _icy_titles(client: StreamCapture) -> set[str]:
    return {title for _, title in split_icy(bytes(client.body), 16000).titles}


def _skip_until(station: RunningStation, wanted: Callable[[dict], bool]) -> None:
    """Skip until the item on air is the one `wanted`; each skip waits for the next item."""
    for _ in range(5):
        current = station.wait_for_music()["current"]
        if wanted(current):
            return
        station.post("/api/queue/skip").raise_for_status()
        began = current["started_at"]
        station.wait_for(lambda s, began=began: (s["current"] or {}).get("started_at") != began)
    raise AssertionError(f"never on air; now playing: {station.now_playing()}")


def _ffmpeg_icy_title(station: RunningStation) -> str:
    """What ffmpeg (`-icy 1`), as a stream client, shows as the current title."""
    result = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostdin", "-icy", "1", "-i", f"{station.url}/stream",
         "-t", "0.5", "-f", "null", "-"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    match = re.search(r"StreamTitle\s*: (.*)", result.stderr)
    assert match, result.stderr
    return match.group(1).strip()


def test_head_range_and_http_1_0_requests(station: RunningStation) -> None:
    head = subprocess.run(
        ["curl", "-sI", f"{station.url}/stream"], capture_output=True, text=True, timeout=10
    )
    assert head.stdout.startswith("HTTP/1.0 200 OK")  # and the connection ends: no body
    assert "Content-Type: audio/mpeg" in head.stdout
    ranged = capture(station, 0.5, extra_headers="Range: bytes=0-\r\n")
    assert ranged.status_line == "HTTP/1.0 200 OK"  # Chrome's <audio> asks for a range
    assert len(ranged.body) >= 64 * 1024
    old = StreamCapture(station.port, path="/stream.mp3", http_version="1.0")
    time.sleep(0.5)
    old.stop()
    assert old.status_line == "HTTP/1.0 200 OK"
    assert len(old.body) >= 64 * 1024


def test_playlist_files_point_at_the_stream(station: RunningStation) -> None:
    m3u = station.get("/listen.m3u")
    assert m3u.headers["content-type"].startswith("audio/x-mpegurl")
    assert m3u.text.splitlines()[-1] == f"{station.url}/stream"
    pls = station.get("/listen.pls")
    assert pls.headers["content-type"].startswith("audio/x-scpls")
    lines = pls.text.splitlines()
    assert lines[0] == "[playlist]"
    for expected in (f"File1={station.url}/stream", "Title1=Oracle FM", "Length1=-1",
                     "NumberOfEntries=1", "Version=2"):  # fmt: skip
        assert expected in lines


def test_now_playing_and_icecast_status(station: RunningStation) -> None:
    listener = StreamCapture(station.port)
    time.sleep(0.5)
    try:
        state = station.now_playing()
        status = station.get("/status-json.xsl").json()["icestats"]["source"]
    finally:
        listener.stop()
    current = state["current"]
    assert current["title"] in TITLES
    assert current["artist"] == "Tones"
    assert current["album"] == "Test"
    assert 0 < current["duration"] <= 12.1
    assert 0 <= current["elapsed"] <= 12.1
    assert current["started_at"]
    assert state["next"]["title"] in TITLES
    assert state["listeners"] >= 1
    assert status["listeners"] >= 1
    assert status["bitrate"] == 128
    assert status["title"] == f"Tones - {current['title']}"
    assert status["listenurl"] == f"{station.url}/stream"


def test_skip_needs_the_host_token(station: RunningStation) -> None:
    assert station.post("/api/queue/skip", token=None).status_code == 401
    assert station.post("/api/queue/skip", token="wrong").status_code == 401


def test_browsers_may_read_the_stream_cross_origin(station: RunningStation) -> None:
    """A web player on another site plays the stream and reads its icy-* headers (the
    stream is answered beside the ASGI app, so it carries its own CORS headers)."""
    origin = "https://elsewhere.example"
    client = capture(station, 0.5, icy=True, extra_headers=f"Origin: {origin}\r\n")
    headers = client.headers
    assert headers["access-control-allow-origin"] in ("*", origin)
    exposed = _names(headers["access-control-expose-headers"])
    station_headers = {name for name in headers if name.startswith(("icy-", "ice-"))}
    assert {"icy-metaint", "icy-name", "icy-br", "icy-genre", "icy-url"} <= station_headers
    assert station_headers <= exposed, f"not exposed: {station_headers - exposed}"
    # A page that asks for ICY metadata sends a header outside the safelist: a preflight.
    asks = {"Origin": origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Icy-MetaData"}  # fmt: skip
    preflight = httpx.options(f"{station.url}/stream", headers=asks, timeout=10)
    assert preflight.status_code in (200, 204), preflight.text
    assert preflight.headers["access-control-allow-origin"] in ("*", origin)
    assert "icy-metadata" in _names(preflight.headers["access-control-allow-headers"])
    assert "get" in _names(preflight.headers["access-control-allow-methods"])
    api = station.get("/api/now-playing", headers={"Origin": origin})
    assert api.headers["access-control-allow-origin"] == "*"


def _names(header: str) -> set[str]:
    """The lower-cased entries of a comma-separated header."""
    return {name.strip().lower() for name in header.split(",")}


def test_play_history_is_stored(station: RunningStation) -> None:
    state = station.wait_for(lambda s: len(s["history"]) >= 2, timeout=30)
    assert all(entry["started_at"] for entry in state["history"])
    deadline = time.monotonic() + 5  # the play is written in the background
    while True:
        plays = database.rows(station.state, "select title from plays order by started_at")
        if len(plays) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(plays) >= 2
    assert {title for (title,) in plays} <= set(TITLES)
