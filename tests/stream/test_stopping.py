"""A station asked to stop (SIGTERM: systemd, Ctrl-C on `make run`) ends the connections
that would never end by themselves at once and cleanly: its listeners' streams, and the push
channels of the player pages open on it, which would otherwise hold the stop for the
server's whole grace and then be cut off with an error in the log."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.playout.lost import SKIPPED_AUDIO
from tests import database
from tests.conftest import tone_library
from tests.listen import StreamCapture
from tests.station import start_station

STOP_SECONDS = 60


def test_a_stopping_station_ends_its_streams_and_push_channels_cleanly(tmp_path: Path) -> None:
    station = start_station(tmp_path, demo_library="false", sample_news="false")
    pages: list[dict[str, Any]] = [{} for _ in range(3)]
    opened = threading.Barrier(len(pages) + 1, timeout=60)

    def player_page(seen: dict[str, Any]) -> None:
        try:
            with httpx.stream("GET", station.url + "/api/now-playing/events",
                              timeout=60) as events:  # fmt: skip
                for line in events.iter_lines():
                    if line.startswith("data: ") and not seen:
                        seen["events"] = 1
                        opened.wait()
            seen["ended"] = "cleanly"  # the chunked body ended: the page reconnects
        except httpx.HTTPError as error:
            seen["ended"] = repr(error)

    threads = [threading.Thread(target=player_page, args=(seen,)) for seen in pages]
    for thread in threads:
        thread.start()
    listener = StreamCapture(station.port)
    try:
        deadline = time.monotonic() + 60
        while len(listener.body) < 16_000:  # a second of audio: the listener is in
            assert time.monotonic() < deadline, "no audio reached the listener"
            time.sleep(0.05)
        opened.wait()  # every page has its first snapshot: the channels are open
        station.process.terminate()
        station.process.wait(STOP_SECONDS)  # a bound for a stuck station, not a measure
        for thread in threads:
            thread.join(60)
    finally:
        listener.stop()
        station.stop()  # ended already, unless stuck

    # It ended by itself (uvicorn ends by the signal it was sent, once it has stopped).
    assert station.process.returncode in (0, -signal.SIGTERM), station.process.returncode
    assert listener.closed_at is not None  # the station closed the stream
    assert [seen.get("ended") for seen in pages] == ["cleanly"] * len(pages)
    log = station.log.read_text()
    assert "graceful shutdown exceeded" not in log
    assert not [line for line in log.splitlines() if " ERROR " in line], log[-3000:]


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "group-kill"])
def test_a_signal_to_the_station_s_process_group_stops_it_in_order(
    tmp_path: Path, sent: signal.Signals
) -> None:
    """Ctrl-C in the terminal running `radio serve` (or a kill of its process group) signals
    every process in the group, not the station alone. The station still stops its playout
    itself: the playout is not ended under it, so it is not started again and reported as
    skipped audio, and the track on air is not taken for a broken one."""
    tone_library(tmp_path / "media", [(440, 120, "One"), (550, 120, "Two")])
    station = start_station(tmp_path, own_group=True, demo_library="false",
                            sample_news="false")  # fmt: skip
    try:
        deadline = time.monotonic() + STOP_SECONDS
        while (station.get("/api/now-playing").json()["current"] or {}).get("title") not in (
            "One", "Two"):  # fmt: skip
            assert time.monotonic() < deadline, "no tone came on air"
            time.sleep(0.1)
        os.killpg(station.process.pid, sent)
        station.process.wait(STOP_SECONDS)  # a bound for a stuck station, not a measure
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(station.process.pid, signal.SIGKILL)  # whatever is left of its group
        station.stop()

    assert station.process.returncode in (0, -sent), station.process.returncode
    log = station.log.read_text()
    for sign in (SKIPPED_AUDIO, "problem:", "Traceback", "ERROR"):
        assert sign not in log, log[-3000:]
    assert database.rows(station.state, "SELECT title, status FROM tracks ORDER BY title") == [
        ("One", "ready"), ("Two", "ready")]  # fmt: skip
