"""Now-playing is read on the event loop that also writes every listener's audio: it must
never wait for the planner, whatever the planner waits for (a locked database, a replan)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.config import Settings
from app.db import SessionFactory
from app.station import Station
from tests.scheduler.test_planner import add_playlist, add_track


def test_now_playing_answers_while_the_planner_is_busy(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    songs = [add_track(sessions, f"Song {i}", 3, artist=f"A{i}") for i in range(5)]
    add_playlist(sessions, "Music", songs)
    settings = Settings(media_dir=tmp_path / "media", state_dir=tmp_path / "state",
                        sample_news=False, demo_library=False)  # fmt: skip
    station = Station(settings, sessions)
    planned = station.planner.upcoming(limit=1)[0].item.title
    busy, done = threading.Event(), threading.Event()

    def plan_for_long() -> None:  # as next_item does while the database is locked
        with station.planner._lock:
            busy.set()
            done.wait(30)

    holder = threading.Thread(target=plan_for_long)
    holder.start()
    try:
        assert busy.wait(10)
        with ThreadPoolExecutor(1) as pool:
            snapshot = pool.submit(station.now_playing.snapshot).result(timeout=20)
    finally:
        done.set()
        holder.join()
    assert snapshot["next"]["title"] == planned
