"""/healthz, /readyz and /metrics on a real station: what a supervisor and Prometheus see."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import database
from tests.conftest import tone_library
from tests.listen import StreamCapture
from tests.prometheus import parse, value
from tests.station import RunningStation

pytestmark = pytest.mark.realtime

Launch = Callable[..., RunningStation]


def wait_for_status(station: RunningStation, path: str, status: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = station.get(path)
        if response.status_code == status:
            return response.json()  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"{path}: {response.status_code} {response.text}"
        time.sleep(0.2)


def test_readyz_says_when_the_air_or_the_database_fails_and_healthz_stays_up(
    tmp_path: Path, launch: Launch
) -> None:
    tone_library(tmp_path / "media", [(440, 60, "Long")])
    station = launch()
    assert station.get("/healthz").json() == {"status": "ok"}
    ready = wait_for_status(station, "/readyz", 200)
    assert ready["status"] == "ready"
    assert ready["reasons"] == []

    # Another process holds the database's write lock (a backup, a stuck tool): not ready.
    with database.write_lock(station.state):
        response = station.get("/readyz")
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["status"] == "not ready"
        assert any("database" in r and "locked" in r for r in body["reasons"]), body
        assert body["on_air"] is True
        assert station.get("/healthz").status_code == 200
    wait_for_status(station, "/readyz", 200)

    # The playout stops feeding the stream (its process stopped): not on air, not ready.
    pid = station.playout_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        body = wait_for_status(station, "/readyz", 503, timeout=30)
        assert body["on_air"] is False
        assert any("no audio from the playout" in r for r in body["reasons"]), body
        assert body["database"] == "ok"
        assert station.get("/healthz").status_code == 200
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for_status(station, "/readyz", 200)
    assert station.get("/api/health").json()["on_air"] is True  # the old check still works


def scrape(station: RunningStation) -> dict:
    response = station.get("/metrics", headers=station.auth())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def test_metrics_are_for_hosts_and_follow_listeners(tmp_path: Path, launch: Launch) -> None:
    tone_library(tmp_path / "media", [(440, 60, "Long")])
    station = launch(buffer_seconds=2)
    assert station.get("/metrics").status_code == 401
    wrong = station.get("/metrics", headers={"Authorization": "Bearer radio_not-a-real-token-x"})
    assert wrong.status_code == 401

    before = scrape(station)
    assert value(before, "radio_listeners", mount="/stream") == 0
    sent_before = value(before, "radio_stream_sent_bytes_total", mount="/stream")

    listener = StreamCapture(station.port)
    try:
        deadline = time.monotonic() + 30
        while len(listener.body) < 32000:  # two seconds of audio past the burst
            assert time.monotonic() < deadline, "no audio"
            time.sleep(0.1)
        received = len(listener.body)
        during = scrape(station)
        assert value(during, "radio_listeners", mount="/stream") == 1
        sent = value(during, "radio_stream_sent_bytes_total", mount="/stream")
        assert sent >= sent_before + received, (sent, received)
        time.sleep(1.5)
        later = scrape(station)
        sent_later = value(later, "radio_stream_sent_bytes_total", mount="/stream")
        assert sent_later > sent
        assert value(later, "radio_listeners_joined_total", mount="/stream") >= 1
    finally:
        listener.stop()
    # Gone, the listener's bytes stay counted: a counter never goes down.
    deadline = time.monotonic() + 30
    while value(gone := scrape(station), "radio_listeners", mount="/stream") != 0:
        assert time.monotonic() < deadline, "the listener that left is still counted"
        time.sleep(0.2)
    assert value(gone, "radio_stream_sent_bytes_total", mount="/stream") >= sent_later

    # A listener that never reads falls behind the 2 s buffer and is dropped: counted.
    stalled = StreamCapture(station.port, rcvbuf=4096, reading=False)
    try:
        deadline = time.monotonic() + 60
        while True:
            metrics = scrape(station)
            dropped = sum(number for _, labels, number
                          in metrics["radio_listeners_dropped_total"].samples
                          if labels.get("reason") == "fell behind the buffer")  # fmt: skip
            if dropped == 1 and value(metrics, "radio_listeners", mount="/stream") == 0:
                break
            assert time.monotonic() < deadline, "the stalled listener was not dropped"
            time.sleep(0.5)
    finally:
        stalled.stop()

    # The playout's own counters come from its process; requests by route template.
    station.get("/api/tracks/123456789", headers=station.auth())
    station.get("/no/such/page/42")
    metrics = scrape(station)
    assert value(metrics, "radio_playout_blocks_total") > 10
    assert value(metrics, "radio_playout_lead_seconds") >= 0
    assert value(metrics, "radio_playout_skipped_audio_total") == 0
    assert value(metrics, "radio_scheduler_decisions_total", kind="music") >= 1
    for process in ("web", "playout"):
        rss = value(metrics, "radio_process_resident_memory_bytes", process=process)
        assert 10e6 < rss < 1e9, (process, rss)
    latency = metrics["radio_http_request_duration_seconds"]
    assert latency.kind == "histogram"
    routes = {labels["route"] for _, labels, _ in latency.samples}
    assert {"/api/tracks/{track_id}", "unmatched", "/metrics"} <= routes, routes
    assert not any("123456789" in route or "/no/such" in route for route in routes), routes
    count = value(metrics, "radio_http_request_duration_seconds_count", method="GET",
                  route="/api/tracks/{track_id}")  # fmt: skip
    assert count == 1
    assert value(metrics, "radio_http_requests_total", method="GET",
                 route="/api/tracks/{track_id}", status="404") == 1  # fmt: skip


def test_the_playout_counters_survive_a_restart_of_the_playout_process(
    tmp_path: Path, launch: Launch
) -> None:
    """A playout process that dies is counted (restart, skipped audio), and the counters of
    the one before stay counted: a Prometheus counter never goes down."""
    tone_library(tmp_path / "media", [(440, 60, "Long")])
    station = launch()
    deadline = time.monotonic() + 30
    # Long enough that a new process could not have aired as many by the time it is seen.
    while (blocks := value(scrape(station), "radio_playout_blocks_total")) < 100:
        assert time.monotonic() < deadline, "the playout reports no blocks"
        time.sleep(0.5)
    first = station.playout_pid()
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        metrics = scrape(station)
        if value(metrics, "radio_playout_restarts_total") == 1:
            break
        assert time.monotonic() < deadline, "no restart counted"
        time.sleep(0.5)
    assert value(metrics, "radio_playout_skipped_audio_total") == 1
    assert value(metrics, "radio_playout_blocks_total") >= blocks
    # The new process's blocks add to the old one's.
    deadline = time.monotonic() + 60
    while value(scrape(station), "radio_playout_blocks_total") < blocks + 10:
        assert time.monotonic() < deadline, "the new playout process's blocks are not counted"
        time.sleep(0.5)
