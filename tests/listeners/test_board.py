"""The top-listeners board through the real station: time measured from stream connections."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.db import SessionFactory
from app.listeners.sessions import SessionRecorder
from app.models import ListeningSession
from tests.listen import StreamCapture
from tests.station import RunningStation

pytestmark = pytest.mark.realtime

SCRIPT_NAME = "<script>alert(1)</script>"


def as_listener(cookie: str | None) -> dict[str, str]:
    return {"Cookie": f"radio_listener={cookie}"} if cookie else {}


def set_name(station: RunningStation, cookie: str | None, name: str) -> httpx.Response:
    return httpx.post(station.url + "/api/listeners/me/name", json={"name": name},
                      headers=as_listener(cookie), timeout=10)  # fmt: skip


def board(station: RunningStation, cookie: str | None = None) -> dict[str, Any]:
    response = station.get("/api/listeners/board", headers=as_listener(cookie))
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def listen(station: RunningStation, cookie: str | None) -> StreamCapture:
    headers = f"Cookie: radio_listener={cookie}\r\n" if cookie else ""
    return StreamCapture(station.port, extra_headers=headers)


def host_sessions(station: RunningStation) -> list[dict[str, Any]]:
    response = station.get("/api/listeners/sessions", headers=station.auth())
    response.raise_for_status()
    return response.json()["sessions"]  # type: ignore[no-any-return]


def wait_until_closed(station: RunningStation, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = host_sessions(station)
        if len(rows) == count and all(row["ended_at"] for row in rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"sessions did not close: {rows}")


def test_listening_time_reaches_the_board(launch: Any) -> None:
    station = launch(listener_min_seconds=2)
    ann, bee = station.new_listener(), station.new_listener()
    assert set_name(station, ann, SCRIPT_NAME).json() == {"name": SCRIPT_NAME, "on_board": True}
    assert set_name(station, bee, "Bee").status_code == 200

    started = time.monotonic()
    tabs = [listen(station, ann), listen(station, ann)]  # one browser, two tabs
    player = listen(station, None)  # VLC: no cookie
    short = listen(station, bee)
    time.sleep(0.5)
    short.stop()
    deadline = time.monotonic() + 5
    while board(station)["listeners_now"] != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert board(station)["listeners_now"] == 2  # Ann once, the player once
    time.sleep(3)
    for capture in (*tabs, player):
        capture.stop()
    rows = wait_until_closed(station, 4)
    closed = time.monotonic() - started  # the station may see a close a little after it

    tab_rows = [row for row in rows if row["name"] == SCRIPT_NAME]
    spans = [(datetime.fromisoformat(row["started_at"]), datetime.fromisoformat(row["ended_at"]))
             for row in tab_rows]  # fmt: skip
    union = (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()
    summed = sum((end - start).total_seconds() for start, end in spans)
    assert len(tab_rows) == 2
    assert summed > union + 3  # the tabs overlapped by 3 s and more

    result = board(station, ann)
    assert result["listeners_now"] == 0
    for period in ("week", "all_time"):
        assert [entry["name"] for entry in result[period]] == [SCRIPT_NAME]  # Bee was too short
        seconds = result[period][0]["seconds"]
        assert 3 <= seconds <= closed + 1
        assert abs(seconds - union) <= 1  # two tabs at once count once, not as `summed`
    you = result["you"]
    assert (you["name"], you["week_rank"], you["all_time_rank"]) == (SCRIPT_NAME, 1, 1)

    anonymous = [row for row in rows if row["listener"] is None]
    assert len(anonymous) == 1
    assert anonymous[0]["user_agent"] == "stream-test"
    assert all(row["bytes_sent"] > 0 for row in rows if row["seconds"] >= 3)
    assert all("127.0.0.1" not in str(row.values()) for row in rows)

    export = station.get("/api/listeners/sessions.csv", headers=station.auth())
    assert export.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(export.text)))
    assert len(table) == 4
    assert sorted(row["name"] for row in table) == sorted(["", "Bee", SCRIPT_NAME, SCRIPT_NAME])

    assert station.get("/api/listeners/sessions").status_code == 401
    assert station.get("/api/listeners/sessions.csv").status_code == 401


def test_names_are_unique_checked_and_can_leave(launch: Any) -> None:
    station = launch()
    ann, bee, cat = (station.new_listener() for _ in range(3))
    assert set_name(station, ann, "  Ann  ").json()["name"] == "Ann"
    clash = set_name(station, bee, "aNN")
    assert clash.status_code == 409
    assert "taken" in clash.json()["detail"]
    assert set_name(station, ann, "ANN").json()["name"] == "ANN"  # your own name, new case
    for bad in ("", "   ", "x" * 41, "Ann\u202e", "tab\there"):
        assert set_name(station, cat, bad).status_code == 422, bad

    fresh = set_name(station, None, "Newcomer")
    assert fresh.status_code == 200
    assert fresh.cookies.get("radio_listener")

    assert board(station, ann)["you"]["on_board"] is True
    left = httpx.delete(station.url + "/api/listeners/me/name", headers=as_listener(ann))
    assert left.status_code == 204
    assert board(station, ann)["you"] == {"name": "ANN", "on_board": False, "week_rank": None,
                                         "all_time_rank": None, "seconds": 0,
                                         "week_seconds": 0}  # fmt: skip
    assert board(station)["you"] is None


def test_sessions_left_open_by_a_crash_are_closed_by_their_bytes(
    sessions: SessionFactory,
) -> None:
    started = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    with sessions.begin() as db:
        db.add(ListeningSession(listener=None, client="x", user_agent="VLC", started_at=started,
                                bytes_sent=16000 * 90))  # fmt: skip
    assert SessionRecorder(sessions).close_open_sessions() == 1
    with sessions() as db:
        row = db.query(ListeningSession).one()
        assert row.ended_at == started + timedelta(seconds=90)
