"""The station's log on a real station: one line per event, JSON lines on request, and no
secret in it whatever a client or a host puts where it gets logged."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tone_library
from tests.listen import StreamCapture
from tests.station import ADMIN_TOKEN, RunningStation

pytestmark = pytest.mark.realtime

Launch = Callable[..., RunningStation]

SETUP_PASSWORD = "correct-horse-battery-staple-9"
PLAIN_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S"
)


def wait_for_log(station: RunningStation, text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in station.log.read_text():
        assert time.monotonic() < deadline, f"{text!r} never logged"
        time.sleep(0.3)


def pass_over_a_vanished_file(station: RunningStation, paths: dict[str, Path]) -> None:
    """The station logs the file its playout process could not play, once, as a problem."""
    state = station.wait_for(lambda s: bool(s["next"]))
    paths[state["next"]["title"]].unlink()
    assert station.post("/api/queue/skip").status_code < 300
    wait_for_log(station, "problem: ")


def drop_a_stalled_listener(station: RunningStation) -> None:
    """A client that never reads: the station drops it once it falls behind the buffer."""
    stalled = StreamCapture(station.port, rcvbuf=4096, reading=False)
    try:
        wait_for_log(station, "dropping listener")
    finally:
        stalled.stop()


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_one_line_per_event_and_no_secret_in_the_log(
    tmp_path: Path, launch: Launch, log_format: str
) -> None:
    paths = tone_library(tmp_path / "media", [(440, 60, "A"), (550, 60, "B"), (660, 60, "C")])
    settings: dict[str, Any] = {"setup_admin": f"boss:{SETUP_PASSWORD}", "buffer_seconds": 2,
                                "scan_interval_seconds": 3600}  # fmt: skip
    if log_format == "json":
        settings["log_format"] = "json"
    station = launch(**settings)
    # Secrets where a careless client puts them: in URLs, which the access log records.
    assert station.get(f"/api/now-playing?token={ADMIN_TOKEN}").status_code == 200
    assert station.get(f"/api/now-playing?note={SETUP_PASSWORD}").status_code == 200
    assert station.get("/api/queue", headers=station.auth()).status_code == 200
    drop_a_stalled_listener(station)
    pass_over_a_vanished_file(station, paths)
    station.stop()
    text = station.log.read_text()

    for secret in (ADMIN_TOKEN, SETUP_PASSWORD):
        assert secret not in text
    lines = text.splitlines()
    assert len(lines) > 10
    if log_format == "plain":
        for line in lines:
            assert PLAIN_LINE.match(line), f"not one event per line: {line!r}"
        assert any("GET /api/now-playing?token=*** " in line for line in lines)
        assert any("GET /api/now-playing?note=*** " in line for line in lines)
        dropped = [line for line in lines if "dropping listener" in line]
        assert "reason=" in dropped[0], dropped  # its fields, as key=value
        return

    events = [json.loads(line) for line in lines]  # every line is one JSON object
    for event in events:
        assert {"ts", "level", "logger", "event", "message", "pid"} <= event.keys(), event
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["ts"]), event
        assert event["level"] in ("debug", "info", "warning", "error", "critical"), event
    requests = [e for e in events if e["event"] == "http_request"]
    paths = {e["path"] for e in requests}
    assert "/api/now-playing?token=***" in paths, paths
    assert "/api/now-playing?note=***" in paths, paths
    assert {"client", "method", "status"} <= requests[0].keys()
    dropped = [e for e in events if e["event"] == "listener_dropped"]
    assert len(dropped) == 1, dropped
    assert dropped[0]["reason"] == "fell behind the buffer"
    assert dropped[0]["level"] == "info"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", dropped[0]["client"]), dropped
    # The playout process logs in the same format, to the same place.
    playout = [
        e for e in events if e["logger"] == "app.playout" and "started at nice" in e["message"]
    ]
    assert playout, "the playout process logged nothing"
    assert playout[0]["pid"] != dropped[0]["pid"]
    assert playout[0]["level"] == "info"
