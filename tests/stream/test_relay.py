"""Relay outputs against a real Icecast 2 (Debian's icecast2) on loopback: the station pushes
a mount to it as a source, and Icecast pulls the station's /stream with a <relay>."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.ffmpeg import ffmpeg_path
from tests.conftest import tone_library
from tests.icecast import Icecast, pull_relay
from tests.listen import BYTES_PER_SECOND, RATE, StreamCapture, dominant_tone
from tests.station import RunningStation

pytestmark = [pytest.mark.realtime]

TONES = [(440.0, 30, "First"), (660.0, 30, "Second"), (880.0, 30, "Third")]
# A local listener's arrivals: the hub writes every 0.4 s; a longer silence than this while
# Icecast goes away is the station held up (on a busy machine too: the test asserts that
# its player never runs dry, below, and this on the way there).
MAX_ARRIVAL_GAP_SECONDS = 3.0


@pytest.fixture
def icecast(tmp_path: Path) -> Iterator[Callable[..., Icecast]]:
    started: list[Icecast] = []

    def start(relays: list[str] | None = None) -> Icecast:
        server = Icecast(tmp_path, relays=relays or []).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def until(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll `condition` until it is true; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout:.0f} s (last: {last!r})")


def on_air(station: RunningStation) -> str:
    return str(station.now_playing()["current"]["display_title"])


def relay_status(station: RunningStation) -> dict[str, Any]:
    response = station.get("/api/relays", headers=station.auth())
    response.raise_for_status()
    (status,) = response.json()["items"]
    return status  # type: ignore[no-any-return]


def icecast_title(server: Icecast, mount: str) -> str | None:
    source = server.source(mount)
    return None if source is None else source.get("title")


def title_follows(station: RunningStation, server: Icecast, mount: str, timeout: float = 30) -> str:
    """Icecast's status shows the title on air (compared when both agree: now-playing
    changes at the audible change, Icecast when the audio before it has been sent)."""
    return str(until(lambda: (title := on_air(station)) == icecast_title(server, mount) and title,
                     f"Icecast's {mount} showing the title on air", timeout))  # fmt: skip


def skip_and_follow(station: RunningStation, server: Icecast, mount: str) -> None:
    before = on_air(station)
    assert station.post("/api/skip").status_code == 200
    until(lambda: on_air(station) != before, "the skip on air")
    assert title_follows(station, server, mount) != before


def stalls(capture: StreamCapture, prebuffer_seconds: float = 1.0) -> list[tuple[float, float]]:
    """A player of the capture: it starts once it holds `prebuffer_seconds` of audio, plays
    at real-time rate and waits when it runs out. Returns each time it ran dry: (seconds
    after connecting, how long it waited)."""
    prebuffer = prebuffer_seconds * BYTES_PER_SECOND
    arrivals = capture.arrivals
    start = next((i for i, (_, total) in enumerate(arrivals) if total >= prebuffer), None)
    if start is None:
        return [(0.0, float("inf"))]
    played_from = arrivals[start][0]  # when the playhead was at byte 0 (moved on by stalls)
    found = []
    for (_, had), (t, _) in itertools.pairwise(arrivals[start:]):
        playhead = (t - played_from) * BYTES_PER_SECOND
        if playhead > had:  # ran dry before these bytes arrived
            waited = (playhead - had) / BYTES_PER_SECOND
            found.append((round(t - capture.connected_at, 2), round(waited, 2)))
            played_from += waited
    return found


def longest_gap(capture: StreamCapture, after: float) -> float:
    times = [t for t, _ in capture.arrivals if t >= after]
    return max((b - a for a, b in itertools.pairwise(times)), default=float("inf"))


def decode_from(url: str, seconds: float) -> tuple[np.ndarray, str]:
    """The real ffmpeg reads `seconds` of a stream from its URL and decodes it (mono)."""
    result = subprocess.run(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", url,
         "-t", str(seconds), "-f", "f32le", "-ac", "1", "-ar", str(RATE), "pipe:1"],
        capture_output=True, timeout=seconds + 60,
    )  # fmt: skip
    return np.frombuffer(result.stdout, dtype=np.float32), result.stderr.decode()


def test_a_relay_output_feeds_icecast_and_comes_back_when_icecast_does(
    tmp_path: Path, launch: Callable[..., RunningStation], icecast: Callable[..., Icecast]
) -> None:
    tone_library(tmp_path / "media", TONES)
    server = icecast()
    relays = [{"url": server.source_url("/live"), "name": "edge-1", "mount": "/stream"}]
    station = launch(relays=json.dumps(relays), relay_retry_max_seconds=2)
    station.wait_for_music()
    until(lambda: relay_status(station)["connected"], "the relay output connected")
    assert "icecast-test-password" not in json.dumps(relay_status(station))

    # An independent reader gets real audio from Icecast: the station's tones.
    samples, errors = decode_from(server.url + "/live", 6)
    assert errors == ""
    assert len(samples) >= 5.5 * RATE, f"{len(samples) / RATE:.1f} s of audio from Icecast"
    heard = dominant_tone(samples[RATE // 2 :], [f for f, _, _ in TONES])
    assert heard.count(None) <= len(heard) // 10, f"no tone in {heard.count(None)} windows"
    source = server.source("/live")
    assert source is not None
    assert source["server_type"] == "audio/mpeg"
    assert source["bitrate"] == 128
    title_follows(station, server, "/live")
    skip_and_follow(station, server, "/live")

    # Icecast goes away and comes back on the same port: the local listener plays on.
    listener = StreamCapture(station.port)
    try:
        until(lambda: len(listener.body) >= 6 * BYTES_PER_SECOND, "the local stream playing")
        server.stop()
        down = until(lambda: not (status := relay_status(station))["connected"] and status,
                     "the relay output noticing Icecast went away")  # fmt: skip
        assert down["last_error"], down
        time.sleep(2)  # two retries fail (the backoff's cap is 2 s): the station goes on
        server.start()
        up = until(lambda: (status := relay_status(station))["connected"] and status,
                   "the relay output connected again")  # fmt: skip
        assert up["reconnects"] >= 1, up
        title_follows(station, server, "/live")
        skip_and_follow(station, server, "/live")
        assert listener.closed_at is None, "the local listener was disconnected"
    finally:
        listener.stop()
    assert stalls(listener) == [], "the local listener's player ran dry"
    gap = longest_gap(listener, listener.connected_at + 1)
    assert gap <= MAX_ARRIVAL_GAP_SECONDS, f"no audio for {gap:.1f} s while Icecast was away"
    assert relay_status(station)["bytes_sent"] > 10 * BYTES_PER_SECOND
    metrics = station.get("/metrics", headers=station.auth()).text
    assert 'radio_relay_connected{name="edge-1",mount="/stream"} 1' in metrics
    assert 'radio_relay_reconnects_total{name="edge-1",mount="/stream"} ' in metrics
    assert "icecast-test-password" not in station.log.read_text()


def test_icecast_pulls_the_stream_with_a_relay_and_shows_the_title_on_air(
    tmp_path: Path, launch: Callable[..., RunningStation], icecast: Callable[..., Icecast]
) -> None:
    tone_library(tmp_path / "media", TONES)
    station = launch()
    station.wait_for_music()
    server = icecast([pull_relay(station.port, "/stream", "/pulled")])
    title_follows(station, server, "/pulled")
    skip_and_follow(station, server, "/pulled")
    samples, errors = decode_from(server.url + "/pulled", 3)
    assert errors == ""
    assert len(samples) >= 2.5 * RATE


def test_a_stalled_icecast_is_dropped_and_the_local_stream_never_waits_for_it(
    tmp_path: Path, launch: Callable[..., RunningStation], icecast: Callable[..., Icecast]
) -> None:
    """Icecast stops reading (SIGSTOP: a server too slow to keep up): the relay output's
    queue fills, it drops the connection and tries again, while the local listener plays on;
    when Icecast reads again the output connects again."""
    tone_library(tmp_path / "media", TONES)
    server = icecast()
    relays = [{"url": server.source_url("/live"), "name": "edge-1"}]
    station = launch(relays=json.dumps(relays), relay_queue_seconds=2, relay_retry_max_seconds=2)
    station.wait_for_music()
    until(lambda: relay_status(station)["connected"], "the relay output connected")
    assert server.process is not None
    listener = StreamCapture(station.port)
    try:
        until(lambda: len(listener.body) >= 6 * BYTES_PER_SECOND, "the local stream playing")
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            behind = until(lambda: "fell behind" in ((status := relay_status(station))
                                                     ["last_error"] or "") and status,
                           "the relay output dropping the stalled Icecast", 120)  # fmt: skip
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert "more than 2 s of audio waiting" in behind["last_error"]
        up = until(lambda: (status := relay_status(station))["connected"]
                   and status["reconnects"] >= 1 and status, "the relay output back")  # fmt: skip
        assert up["since"] > behind["last_error_at"]
        title_follows(station, server, "/live")
        assert listener.closed_at is None, "the local listener was disconnected"
    finally:
        listener.stop()
    assert stalls(listener) == [], "the local listener's player ran dry"
    gap = longest_gap(listener, listener.connected_at + 1)
    assert gap <= MAX_ARRIVAL_GAP_SECONDS, f"no audio for {gap:.1f} s while Icecast stalled"


def test_icecast_refusing_a_relay_output_is_said_in_words_and_the_others_go_on(
    tmp_path: Path, launch: Callable[..., RunningStation], icecast: Callable[..., Icecast]
) -> None:
    """A wrong password, and a mount another source holds: each output's status says so
    (without the password); the output Icecast takes pushes all the same."""
    tone_library(tmp_path / "media", TONES)
    server = icecast()
    holder = subprocess.Popen(
        [ffmpeg_path(), "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
         "sine=frequency=300", "-c:a", "libmp3lame", "-b:a", "128k", "-content_type",
         "audio/mpeg", "-f", "mp3", "icecast" + server.source_url("/busy")[4:]],
    )  # fmt: skip
    try:
        until(lambda: server.source("/busy"), "another source on /busy")
        relays = [
            {"url": server.source_url("/live"), "name": "good"},
            {"url": server.source_url("/other", password="wrong-password"), "name": "bad"},
            {"url": server.source_url("/busy"), "name": "busy"},
        ]
        station = launch(relays=json.dumps(relays), relay_retry_max_seconds=2)

        def statuses() -> dict[str, dict[str, Any]]:
            response = station.get("/api/relays", headers=station.auth())
            return {item["name"]: item for item in response.json()["items"]}

        seen = until(lambda: (s := statuses())["good"]["connected"] and s["bad"]["last_error"]
                     and s["busy"]["last_error"] and s, "each output's outcome")  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert not seen["bad"]["connected"]
    assert not seen["busy"]["connected"]
    assert "Icecast refused the user or password" in seen["bad"]["last_error"]
    assert "the mount is in use on Icecast by another source" in seen["busy"]["last_error"]
    assert "wrong-password" not in json.dumps(seen)
    assert "wrong-password" not in station.log.read_text()
    assert server.source("/live") is not None
