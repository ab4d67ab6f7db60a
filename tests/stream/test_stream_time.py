"""Where each item is in the stream, as a stream client decodes it: the stamps (`stream_at`)
and the connection's start (`/api/stream/joined/<tag>`) players use to show what their
listener hears. A real station, a raw socket, the real ffmpeg."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Callable
from typing import Any

import numpy as np

from tests.conftest import tone_library
from tests.listen import RATE, StreamCapture, decode, dominant_tone
from tests.station import RunningStation

PITCHES = [(300.0, 4.0, "Low Tone"), (600.0, 4.0, "Middle Tone"), (1200.0, 4.0, "High Tone")]
WINDOW = 0.01  # s: the decoded audio is read in windows this long
IN_PLACE = 0.04  # s: a stamp is within this of where its item starts in the decoded audio
TAG = "a-test-connection"
NOT_YET_SECONDS = 0.5  # a station answering a question it should wait on does it by then


def pitch_changes(samples: np.ndarray) -> list[tuple[float, float]]:
    """(seconds into `samples`, pitch) wherever the sounding pitch changes and then holds."""
    pitches = dominant_tone(samples, [pitch for pitch, _, _ in PITCHES], WINDOW)
    changes = []
    for i in range(round(0.5 / WINDOW), len(pitches) - 5):  # past the first frames' warm-up
        held = pitches[i : i + 5]
        if pitches[i] is not None and pitches[i - 1] != pitches[i] and len(set(held)) == 1:
            changes.append((i * WINDOW, pitches[i]))
    return changes


def stamped(now: dict[str, Any], begins: float) -> list[tuple[str, float]]:
    """(title, seconds after the connection's start) of each item that aired after it."""
    aired = [now["current"], *now["history"]]
    return [(e["title"], e["stream_at"] - begins) for e in aired if (e["stream_at"] or 0) > begins]


def test_each_item_is_stamped_where_a_listener_hears_it_start(
    launch: Callable[..., RunningStation],
) -> None:
    station = launch(crossfade_seconds=0)
    tone_library(station.media, PITCHES)
    station.post("/api/library/scan").raise_for_status()
    station.wait_for_music()
    client = StreamCapture(station.port, path=f"/stream?sync={TAG}")
    try:
        joined = station.get(f"/api/stream/joined/{TAG}")
        joined.raise_for_status()
        begins = joined.json()["stream_seconds"]
        station.wait_for(lambda now: len(stamped(now, begins)) >= 3)
    finally:
        client.stop()
    samples, _ = decode(bytes(client.body))
    heard = pitch_changes(samples)
    stamps = stamped(station.now_playing(), begins)
    station.wait_for(lambda now: now["listeners"] == 0)
    assert station.get(f"/api/stream/joined/{TAG}").status_code == 404  # the connection is gone
    title_of = {pitch: title for pitch, _, title in PITCHES}
    assert len(heard) >= 2, f"the capture of {len(samples) / RATE:.1f} s has too few changes"
    for at, pitch in heard:
        near = [s for title, s in stamps if title == title_of[pitch] and abs(s - at) < 1]
        assert near, f"{title_of[pitch]} starts {at:.2f} s into the capture: no stamp near {stamps}"
        assert abs(near[0] - at) <= IN_PLACE, (
            f"{title_of[pitch]} is stamped at {near[0]:.2f} s, heard from {at:.2f} s"
        )


def test_a_player_may_ask_where_its_audio_began_before_its_connection_arrives(
    launch: Callable[..., RunningStation],
) -> None:
    """The player asks as it opens the stream (`?wait=true`): the station waits for that
    connection instead of answering "no such connection" to a question asked too early."""
    station = launch()
    tag = "asked-before-it-connects"
    assert station.get(f"/api/stream/joined/{tag}").status_code == 404  # no wait: not known
    with socket.create_connection(("127.0.0.1", station.port), timeout=30) as question:
        question.sendall(f"GET /api/stream/joined/{tag}?wait=true HTTP/1.1\r\n"
                         "Host: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())  # fmt: skip
        # A station that does not wait answers 404 at once: give it the time to.
        early, _, _ = select.select([question], [], [], NOT_YET_SECONDS)
        assert not early, f"answered before the connection opened: {question.recv(4096)!r}"
        client = StreamCapture(station.port, path=f"/stream?sync={tag}")
        try:
            answer = b""
            while chunk := question.recv(4096):
                answer += chunk
        finally:
            client.stop()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(body)["stream_seconds"] >= 0
    never = station.get("/api/stream/joined/never-opened", params={"wait": "true"})
    assert never.status_code == 404  # waited for a while, then told
