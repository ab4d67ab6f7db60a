"""No audio is ever dropped: not while the station is busy, stopped or loses its playout.

A listener reads /stream on a raw socket and counts what arrives; the real ffmpeg decodes
it. The station's playout runs in a process of its own, reads ahead of air time and, when
it fell behind, sends the backlog instead of skipping ahead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.playout.lost import SKIPPED_AUDIO
from tests import database
from tests.conftest import tone_library
from tests.listen import BYTES_PER_SECOND, RATE, StreamCapture, decode, dominant_tone
from tests.station import RunningStation

pytestmark = pytest.mark.realtime

Launch = Callable[..., RunningStation]

SESSIONS = 100_000
STORY = (
    "the council met on tuesday to discuss the new tram line which will run from the "
    "harbour to the old market by way of the station square and the university"
)
WORDS = STORY.split()


@pytest.fixture
def cpu_hogs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two busy loops, one per core of the test machine, always ended."""
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(2):
            hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def seed_sessions(state: Path, count: int) -> None:
    """`count` finished listening sessions over the last year, written with plain SQL."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for i in range(count):
        started = now - timedelta(minutes=5 * (count - i))
        ended = started + timedelta(minutes=4)
        rows.append((f"{i % 2000:064x}", f"{i % 5000:064x}", "test-player/1.0",
                     started.isoformat(sep=" "), ended.isoformat(sep=" "),
                     4 * 60 * BYTES_PER_SECOND))  # fmt: skip
    database.write_many(
        state,
        "insert into listening_sessions (listener, client, user_agent, started_at, "
        "ended_at, bytes_sent) values (?, ?, ?, ?, ?, ?)",
        rows,
    )


class Load:
    """Host requests in background threads until stopped; counts what each answered."""

    def __init__(self, station: RunningStation) -> None:
        self.station = station
        self.done: Counter[str] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def run(self, name: str, request: Callable[[httpx.Client], httpx.Response],
            pause: float = 0.0) -> None:  # fmt: skip
        def loop() -> None:
            with httpx.Client(base_url=self.station.url, headers=self.station.auth(),
                              timeout=120) as client:  # fmt: skip
                while not self._stop.is_set():
                    try:
                        response = request(client)
                    except httpx.HTTPError as error:
                        self.errors.append(f"{name}: {error!r}")
                        return
                    if response.status_code >= 400 and response.status_code != 503:
                        self.errors.append(f"{name}: {response.status_code} {response.text}")
                    self.done[f"{name} {response.status_code}"] += 1
                    self._stop.wait(pause)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)


# It starts CPU hogs of its own: beside other real-time tests it would starve them, and
# they it; it runs in a phase of its own (`make test`).
@pytest.mark.alone
def test_a_listener_gets_every_byte_while_the_station_works_on_a_busy_machine(
    tmp_path: Path,
    launch: Launch,
    sessions: object,
    cpu_hogs: list[subprocess.Popen[bytes]],
) -> None:
    """Parallel week previews, a CSV export of 100 000 sessions, library scans and speech
    renders, with two CPU hogs: the listener still gets the stream at real-time rate."""
    media = tmp_path / "media"
    tone_library(media, [(330 + 110 * i, 40, f"Tune {i}") for i in range(6)])
    staging = tmp_path / "staging"  # new files for the scans to analyse, a few at a time
    tone_library(staging, [(200 + 7 * i, 20, f"New {i}") for i in range(12)], ext="flac")
    seed_sessions(tmp_path / "state", SESSIONS)
    station = launch(scan_interval_seconds=3600)
    station.wait_for_music()
    arrivals = sorted((staging / "music").iterdir())

    def scan(client: httpx.Client) -> httpx.Response:
        if arrivals:
            for path in arrivals[:3]:
                shutil.move(path, media / "music" / path.name)
            del arrivals[:3]
        return client.post("/api/library/scan")

    def speech(client: httpx.Client) -> httpx.Response:
        n = load.done.total()
        body = " ".join(WORDS[(n + i) % len(WORDS)] for i in range(150)).capitalize() + "."
        created = client.post("/api/articles", json={"title": f"Story {n}", "body": body,
                                                     "category": "Local"})  # fmt: skip
        if created.status_code != 201:
            return created
        return client.post(f"/api/articles/{created.json()['id']}/publish")

    def export(client: httpx.Client) -> httpx.Response:
        response = client.get("/api/listeners/sessions.csv")
        if response.status_code == 200 and response.text.count("\n") <= SESSIONS:
            load.errors.append(f"the export has {response.text.count(chr(10))} lines")
        return response

    load = Load(station)
    for _ in range(3):
        load.run("preview", lambda c: c.get("/api/schedule/preview", params={"hours": 168}))
    load.run("export", export)
    load.run("scan", scan, pause=3.0)
    load.run("speech", speech, pause=2.0)
    listener = StreamCapture(station.port, timely=True)
    try:
        time.sleep(61)
    finally:
        listener.stop()
        load.stop()
    assert not load.errors, load.errors
    for kind in ("preview 200", "export 200", "scan 202", "speech 200"):
        assert load.done[kind] >= 1, f"no {kind} during the window: {load.done}"
    # The window: from the first arrival a second in (past the burst) to the last one.
    window = [(t, n) for t, n in listener.arrivals if t >= listener.connected_at + 1.0]
    (start, before), (end, after) = window[0], window[-1]
    ratio = (after - before) / ((end - start) * BYTES_PER_SECOND)
    log = station.log.read_text()
    print(f"received {ratio:.4f} of real time over {end - start:.1f} s; load: {dict(load.done)}")
    assert end - start > 58
    assert ratio >= 0.995, f"the listener got {ratio:.2%} of real time\n{load.done}"
    _, errors = decode(bytes(listener.body))
    assert errors == ""
    assert SKIPPED_AUDIO not in log


@pytest.mark.parametrize("stopped", ["station", "playout"])
def test_a_stopped_process_catches_up_and_the_listener_misses_nothing(
    tmp_path: Path, launch: Launch, stopped: str
) -> None:
    """SIGSTOP for three seconds (the station's process: its event loop; or the playout's):
    afterwards the backlog arrives and every second of programme reaches the listener."""
    tone_library(tmp_path / "media", [(440, 60, "Long")])
    station = launch()
    station.wait_for_music()
    listener = StreamCapture(station.port, timely=True)
    time.sleep(3)
    start = time.monotonic()
    before = listener.bytes_at(start)
    pid = station.process.pid if stopped == "station" else station.playout_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(3)
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(9)
    end = time.monotonic()
    listener.stop()
    received = listener.bytes_at(end) - before
    # Up to one block in flight at each end of the window.
    assert received >= (end - start - 0.4) * BYTES_PER_SECOND, (
        f"{received / BYTES_PER_SECOND:.2f} s of audio in {end - start:.2f} s"
    )
    audio, errors = decode(bytes(listener.body))
    assert errors == ""
    assert SKIPPED_AUDIO not in station.log.read_text()
    # The tone never stops: the audio that arrived late is the programme, not silence.
    heard = dominant_tone(audio[RATE // 10 :], [440.0], window=0.1)
    assert heard.count(None) == 0


def test_a_playout_process_that_dies_is_started_again_and_listeners_stay(
    tmp_path: Path, launch: Launch
) -> None:
    tone_library(tmp_path / "media", [(440, 30, "A"), (660, 30, "B")])
    station = launch()
    station.wait_for_music()
    listener = StreamCapture(station.port, timely=True)
    time.sleep(3)
    first = station.playout_pid()
    os.kill(first, signal.SIGKILL)
    killed_at = time.monotonic()
    deadline = killed_at + 20
    second = first
    while second == first and time.monotonic() < deadline:
        with contextlib.suppress(AssertionError, FileNotFoundError):
            second = station.playout_pid()
        time.sleep(0.1)
    assert second != first, "no new playout process"
    at_restart = listener.bytes_at(time.monotonic())
    # The stream goes on: 4 s of audio more, however long a busy machine takes to start the
    # new process (it sends the backlog at once), and the listener is still connected.
    deadline = time.monotonic() + 60
    while len(listener.body) - at_restart < 4 * BYTES_PER_SECOND and time.monotonic() < deadline:
        assert listener.closed_at is None, "the listener was disconnected"
        time.sleep(0.2)
    time.sleep(1)
    assert listener.closed_at is None, "the listener was disconnected"
    listener.stop()
    assert len(listener.body) - at_restart >= 4 * BYTES_PER_SECOND, "the stream did not go on"
    if os.geteuid() == 0:  # allowed to run ahead of the machine: so it does, restarted too
        assert os.getpriority(os.PRIO_PROCESS, second) == -10
    state = station.wait_for_music()
    assert state["current"]["title"] in ("A", "B")
    audio, errors = decode(bytes(listener.body))
    assert errors == ""
    heard = dominant_tone(audio[-2 * RATE :], [440.0, 660.0], window=0.1)
    assert None not in heard  # music again, not the safety source or silence
    assert "playout process" in station.log.read_text()
