"""The `radio` command as a host runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import database
from tests.conftest import tone_library


def test_scan_reports_what_it_found_with_a_progress_bar(tmp_path: Path) -> None:
    media = tmp_path / "media"
    tone_library(media, [(440, 2, "One"), (550, 2, "Two")])
    (media / "music" / "broken.mp3").write_text("no audio here")
    env = {**os.environ, "RADIO_MEDIA_DIR": str(media), **database.env_for(tmp_path / "s")}
    result = subprocess.run([sys.executable, "-m", "app.cli", "scan"], env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "added=3" in result.stdout
    assert "ready=2" in result.stdout
    assert "analysis" in result.stderr  # the tqdm bar of the analysis phase
    assert "100%" in result.stderr
    assert "unplayable: music/broken.mp3" in result.stderr
    again = subprocess.run([sys.executable, "-m", "app.cli", "scan"], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "unchanged=3" in again.stdout


def test_a_fresh_station_generates_a_demo_library_and_goes_on_air(tmp_path: Path) -> None:
    from tests.station import STARTUP_SECONDS, start_station

    station = start_station(tmp_path, demo_library="true")
    try:
        state = station.wait_for_music(timeout=STARTUP_SECONDS)  # synthesis takes a while
    finally:
        station.stop()
    assert state["current"]["album"] == "Demo Station"
    assert len(list((station.media / "music").rglob("*.*"))) >= 6


def test_commands_do_not_print_the_database_migration(tmp_path: Path) -> None:
    """A command that opens the database migrates it first (a fresh one: every migration),
    and says nothing about it: the output is what was asked for."""
    env = {**os.environ, **database.env_for(tmp_path / "state", empty=True)}
    for _ in ("a fresh database", "one at the newest migration"):
        result = subprocess.run([sys.executable, "-m", "app.cli", "hosts", "list"], env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["ID", "NAME", "ROLE", "CREATED"]
        assert "alembic" not in result.stderr.lower()
        assert " INFO " not in result.stderr, result.stderr
