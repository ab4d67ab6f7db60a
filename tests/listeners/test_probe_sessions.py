"""A player's probe connection is not a listening session of its own (issue 11, item 8).

VLC 3 (seen with Debian's vlc 3.0.24 through a logging proxy) opens `/stream` with its HTTP
module (HTTP/1.1, `Range: bytes=0-`), and while that connection is still open opens a
second one with its legacy module (HTTP/1.0, `Icy-MetaData: 1`) that it then plays from,
closing the first a fraction of a second later. These tests replay that with raw sockets
against a real station and read the sessions back from the hosts' API."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from app.listeners.identity import COOKIE_NAME
from app.listeners.sessions import PROBE_SECONDS, REJOIN_SECONDS
from tests.conftest import tone_library
from tests.station import RunningStation

# A probe is a connection shorter than PROBE_SECONDS by the station's clock: run beside the
# other wall-clock tests, not among the CPU-heavy ones.
pytestmark = pytest.mark.realtime

VLC = "VLC/3.0.24 LibVLC/3.0.24"
HEAD_END = b"\r\n\r\n"


def probe_request(host: str, agent: str = VLC, cookie: str | None = None) -> bytes:
    lines = ["GET /stream HTTP/1.1", f"Host: {host}", "Accept: */*", "Accept-Language: en_US",
             f"User-Agent: {agent}", "Range: bytes=0-"]  # fmt: skip
    if cookie:
        lines.append(f"Cookie: {COOKIE_NAME}={cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def play_request(host: str, agent: str = VLC, cookie: str | None = None) -> bytes:
    lines = ["GET /stream HTTP/1.0", f"Host: {host}", f"User-Agent: {agent}", "Icy-MetaData: 1"]
    if cookie:
        lines.append(f"Cookie: {COOKIE_NAME}={cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(station: RunningStation, request: bytes, audio: int = 8192) -> socket.socket:
    """A connection that has read its answer's head and `audio` bytes after it."""
    sock = socket.create_connection(("127.0.0.1", station.port), timeout=10)
    sock.sendall(request)
    received = b""
    while HEAD_END not in received or len(received.split(HEAD_END, 1)[1]) < audio:
        chunk = sock.recv(65536)
        assert chunk, f"the station closed the stream: {received[:200]!r}"
        received += chunk
    assert received.startswith(b"HTTP/1."), received[:100]
    assert b" 200 " in received.split(b"\r\n", 1)[0], received[:100]
    return sock


def listen_past_a_probe(*socks: socket.socket) -> None:
    """Keep reading, from each in turn, until these connections have lasted longer than any
    probe."""
    until = time.monotonic() + PROBE_SECONDS + 1.0
    while time.monotonic() < until:
        for sock in socks:
            assert sock.recv(65536), "the station closed the stream"


def sessions_of(station: RunningStation, agents: set[str]) -> list[dict[str, Any]]:
    """The sessions of these user agents once every one of them is closed (a short one is
    closed REJOIN_SECONDS after it ended, when no connection followed it)."""
    deadline = time.monotonic() + REJOIN_SECONDS + 30
    while True:
        response = station.get("/api/listeners/sessions", headers=station.auth())
        response.raise_for_status()
        found = [s for s in response.json()["sessions"] if s["user_agent"] in agents]
        if found and all(s["ended_at"] for s in found):
            return sorted(found, key=lambda s: s["started_at"])
        assert time.monotonic() < deadline, f"sessions still open: {found}"
        time.sleep(0.2)


def on_air(launch: Callable[..., RunningStation]) -> RunningStation:
    station = launch()
    tone_library(station.media, [(440.0, 120.0, "Long Tone")])
    station.post("/api/library/scan").raise_for_status()
    station.wait_for_music()
    return station


def host_of(station: RunningStation) -> str:
    return f"127.0.0.1:{station.port}"


def test_a_vlc_probe_and_the_real_connection_are_one_session(
    launch: Callable[..., RunningStation],
) -> None:
    station = on_air(launch)
    probe = connect(station, probe_request(host_of(station)))
    began = time.time()
    real = connect(station, play_request(host_of(station)))  # while the probe is open
    probe.close()
    listen_past_a_probe(real)
    real.close()

    (session,) = sessions_of(station, {VLC})
    assert session["seconds"] >= PROBE_SECONDS
    # It began with the probe: the listener's first audio.
    assert abs(_epoch(session["started_at"]) - began) < 1.0


def test_a_probe_closed_before_the_real_connection_opens_is_one_session(
    launch: Callable[..., RunningStation],
) -> None:
    station = on_air(launch)
    agent = "Lavf/60.16.100"  # ffmpeg-based players reconnect the same way
    connect(station, probe_request(host_of(station), agent)).close()
    real = connect(station, play_request(host_of(station), agent))
    listen_past_a_probe(real)
    real.close()
    assert len(sessions_of(station, {agent})) == 1


def test_two_players_of_one_client_that_both_stay_are_two_sessions(
    launch: Callable[..., RunningStation],
) -> None:
    """The second connection waits to see whether the first was a probe; when the first
    outlives a probe, the second is a session of its own, from when it joined."""
    station = on_air(launch)
    agent = "mpv/0.35.1"  # two players on one machine, no cookie: the same client
    first = connect(station, play_request(host_of(station), agent))
    second_began = time.time()
    second = connect(station, play_request(host_of(station), agent))
    listen_past_a_probe(first, second)
    first.close()
    second.close()

    sessions = sessions_of(station, {agent})
    assert len(sessions) == 2, sessions
    assert all(s["seconds"] >= PROBE_SECONDS for s in sessions), sessions
    assert abs(_epoch(sessions[1]["started_at"]) - second_began) < 1.0


def test_no_one_joins_another_listeners_session_to_theirs(
    launch: Callable[..., RunningStation],
) -> None:
    """Same address and player, but another listener's cookie, or another player: each is
    a session of its own, however short and however close together."""
    station = on_air(launch)
    host = host_of(station)
    ann, bob = station.new_listener(), station.new_listener()
    probe = connect(station, probe_request(host, cookie=ann))
    forged = connect(station, play_request(host, cookie=bob))
    probe.close()
    listen_past_a_probe(forged)
    forged.close()
    other = "Winamp/5.9"
    connect(station, probe_request(host, "NSPlayer/12.0")).close()
    late = connect(station, play_request(host, other))
    listen_past_a_probe(late)
    late.close()

    sessions = sessions_of(station, {VLC, "NSPlayer/12.0", other})
    assert len([s for s in sessions if s["user_agent"] == VLC]) == 2
    assert len({s["listener"] for s in sessions if s["user_agent"] == VLC}) == 2
    assert len(sessions) == 4


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
