"""`radio queue` against a running station, as a host with a personal token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.scheduler.planner import PREVIEW_MAX_ITEMS
from app.stream.nowplaying import HISTORY_SIZE
from tests.conftest import tone_library
from tests.station import ADMIN_TOKEN, RunningStation, start_station


def radio(
    station: RunningStation, *args: str, token: str = ADMIN_TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RADIO_URL": station.url, "RADIO_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_hosts_run_the_queue_from_the_command_line(tmp_path: Path) -> None:
    tones = [(300 + 50 * i, 20, f"Tone {i}") for i in range(12)]
    tone_library(tmp_path / "media", [*tones, (1000, 240, "Long")])
    station = start_station(tmp_path)
    try:
        station.wait_for_music()
        # The steps below take a few command starts: on a busy machine longer than a 20 s
        # tone, which could end on its own before `queue skip`. With the long tone on air,
        # what follows the skip is what the host queued, however slow the machine.
        station.air_now(station.wait_for_tracks(len(tones) + 1)["Long"])
        listed = radio(station, "queue", "list")
        assert listed.returncode == 0, listed.stderr
        rows = listed.stdout.splitlines()
        assert rows[0].split()[:3] == ["ID", "POSITION", "STARTS"]
        assert len(rows) >= 11
        # The last planned tone that has not aired: the long one on air, or a tone that aired
        # before it, would warn that it played minutes ago, not that it is queued already.
        aired = station.now_playing()
        assert len(aired["history"]) < HISTORY_SIZE, "too slow to know what aired"
        played = {a["title"] for a in [aired["current"], *aired["history"]]}
        titles = [row.split("Tones")[1].strip().split("  ")[0] for row in rows[1:]]
        last_title = [title for title in titles if title not in played][-1]
        track_id = next(
            i["track_id"]
            for i in station.get("/api/queue", headers=station.auth()).json()["items"]
            if i["title"] == last_title
        )
        added = radio(station, "queue", "add", "--track", str(track_id), "--next")
        assert added.returncode == 0, added.stderr
        assert last_title in added.stdout.splitlines()[1]
        assert "host" in added.stdout.splitlines()[1]
        # It was planned already, a few minutes later: queued all the same, with a warning.
        assert added.stderr.startswith(f"Warning: “{last_title}” by Tones is already in the queue")
        skipped = radio(station, "queue", "skip")
        assert skipped.returncode == 0
        # Which item follows, not how fast: the skip's latency is a real-time test's.
        station.wait_for(lambda s: s["current"]["title"] == last_title, timeout=60)
        preview = radio(station, "queue", "preview", "--hours", "1")
        assert preview.returncode == 0
        assert len(preview.stdout.splitlines()) > len(rows)
        assert "forecast stops" not in preview.stdout
        week = radio(station, "queue", "preview", "--hours", "168")  # 20 s tones: too many
        assert week.returncode == 0, week.stderr
        lines = week.stdout.splitlines()
        assert len(lines) == 1 + PREVIEW_MAX_ITEMS + 1  # the heading, the items, the note
        assert lines[-1] == (f"(the forecast stops after {PREVIEW_MAX_ITEMS} items, "
                             "before the 168 hours asked for)")  # fmt: skip
        assert radio(station, "queue", "clear").returncode == 0
        refused = radio(station, "queue", "list", token="not-a-token")
        assert refused.returncode != 0
        assert "401" in refused.stderr or "403" in refused.stderr
        missing = radio(station, "queue", "remove", "999999")
        assert missing.returncode != 0
        assert "no queue entry 999999" in missing.stderr
    finally:
        station.stop()
