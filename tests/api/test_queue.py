"""Hosts see and change the queue through the real HTTP app; the queue survives a restart."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import tone_library
from tests.station import RunningStation, start_station

pytestmark = pytest.mark.realtime

TONES = [(300 + 40 * i, 20, f"Tone {i}") for i in range(12)]


def queue(station: RunningStation) -> list[dict]:
    response = station.get("/api/queue", headers=station.auth())
    response.raise_for_status()
    return response.json()["items"]  # type: ignore[no-any-return]


def track_ids(station: RunningStation) -> dict[str, int]:
    return {item["title"]: item["track_id"] for item in queue(station)}


def test_the_queue_shows_what_comes_next_and_when(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", TONES)
    station = start_station(tmp_path)
    try:
        now_playing = station.wait_for_music()
        items = queue(station)
        assert len(items) >= 10
        starts = [datetime.fromisoformat(item["expected_start"]) for item in items]
        assert starts == sorted(starts)
        current = now_playing["current"]
        first_start = datetime.fromisoformat(current["started_at"]) + timedelta(
            seconds=current["duration"] - 2  # the crossfade
        )
        assert abs((starts[0] - first_start).total_seconds()) < 1.5
        for earlier, later, item in zip(starts, starts[1:], items, strict=False):
            assert abs((later - earlier).total_seconds() - (item["duration"] - 2)) < 0.5
        assert now_playing["next"]["title"] == items[0]["title"]
        assert current["title"] not in [item["title"] for item in items[:3]]
    finally:
        station.stop()


def test_hosts_insert_move_remove_and_clear(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", [*TONES, (1000, 240, "Long")])
    station = start_station(tmp_path)
    try:
        station.wait_for_music()
        # With a 4-minute tone on air, nothing the steps below read changes by itself on a
        # busy machine (a 20 s tone could end between reading the queue and a skip).
        station.air_now(station.wait_for_tracks(len(TONES) + 1)["Long"])
        items = queue(station)
        last = items[-1]
        # Play the last one next.
        added = station.post("/api/queue", json={"track_id": last["track_id"], "position": "next"})
        assert added.status_code == 201, added.text
        items = queue(station)
        assert items[0]["track_id"] == last["track_id"]
        assert items[0]["reason"] == "host"
        # Move the third to the front; remove the second.
        moved = station.post(f"/api/queue/{items[2]['id']}/move", json={"position": 0})
        assert moved.json()["items"][0]["id"] == items[2]["id"]
        removed = station.delete(f"/api/queue/{items[1]['id']}")
        assert items[1]["id"] not in [i["id"] for i in removed.json()["items"]]
        # Skip: what was first in the queue is on air within a second or two.
        head = queue(station)[0]
        station.post("/api/queue/skip").raise_for_status()
        station.wait_for(lambda s: s["current"]["track_id"] == head["track_id"], timeout=5)
        # Clear: the scheduler plans a fresh queue.
        cleared = station.delete("/api/queue").json()["items"]
        assert len(cleared) >= 10
        assert all(item["reason"] != "host" for item in cleared)
        # Bad requests are refused with a reason, and change nothing.
        before = [i["id"] for i in queue(station)]
        bad = station.post("/api/queue", json={"track_id": 999999})
        assert bad.status_code == 400
        assert "no track" in bad.json()["detail"]
        assert station.post("/api/queue", json={}).status_code == 422
        assert station.delete("/api/queue/999999").status_code == 404
        assert [i["id"] for i in queue(station)] == before
    finally:
        station.stop()


def test_preview_simulates_the_coming_hours_without_changing_the_queue(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", TONES)
    station = start_station(tmp_path)
    try:
        station.wait_for_music()
        before = queue(station)
        preview = station.get("/api/schedule/preview", params={"hours": 2}, headers=station.auth())
        assert preview.status_code == 200
        items = preview.json()["items"]
        assert preview.json()["cut_short"] is False
        starts = [datetime.fromisoformat(i["expected_start"]) for i in items]
        assert starts[-1] - starts[0] > timedelta(hours=1.9)
        assert [i["id"] for i in items[: len(before)]] == [i["id"] for i in before]
        assert queue(station) == before
        again = station.get("/api/schedule/preview", params={"hours": 2}, headers=station.auth())
        assert again.json()["items"] == items  # the forecast is repeatable
    finally:
        station.stop()


def test_a_killed_station_resumes_with_the_queue_it_had(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", TONES)
    station = start_station(tmp_path)
    station.wait_for_music()
    time.sleep(3)
    on_air = station.now_playing()["current"]["track_id"]
    upcoming = [item["track_id"] for item in queue(station)]
    station.process.kill()  # no goodbye: like a power cut
    station.process.wait()
    restarted = start_station(tmp_path)
    try:
        state = restarted.wait_for_music()
        assert state["current"]["track_id"] == upcoming[0]
        assert state["current"]["track_id"] != on_air
        assert [item["track_id"] for item in queue(restarted)][: len(upcoming) - 1] == upcoming[1:]
    finally:
        restarted.stop()


def test_playlists_edited_through_the_api_shape_the_planned_queue(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", TONES)
    station = start_station(tmp_path)
    try:
        station.wait_for_music()
        tracks = station.get("/api/tracks", params={"limit": 100}, headers=station.auth()).json()
        ids = {t["title"]: t["id"] for t in tracks["items"]}
        chosen = [ids["Tone 3"], ids["Tone 7"]]
        created = station.post("/api/playlists", json={"name": "Just two", "track_ids": chosen})
        assert created.status_code == 201, created.text
        planned = [item for item in queue(station) if item["reason"] != "host"]
        assert len(planned) >= 9
        assert {item["track_id"] for item in planned} == set(chosen)
        assert all(item["playlist_id"] == created.json()["id"] for item in planned)
    finally:
        station.stop()
