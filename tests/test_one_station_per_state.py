"""One station per state folder: a second `radio serve` on a state folder in use stops at
once with a clear message, before it touches the database; so does one on a taken port. A
station killed without a goodbye leaves no stale lock."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import database
from tests.conftest import tone_library
from tests.station import RunningStation, start_station, station_env, wait_until_on_air

TONES = [(440, 20, "A"), (550, 20, "B")]
# A second station that fails as it should exits within a second or two; one that does not
# goes on air, and is stopped after this long.
GIVE_UP_SECONDS = 60


def serve(root: Path, *args: str, **settings: object) -> subprocess.CompletedProcess[str]:
    """`radio serve` as a host would type it; its output and exit status."""
    command = [sys.executable, "-m", "app.cli", "serve", *args]
    process = subprocess.Popen(command, env=station_env(root, **settings), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        output, _ = process.communicate(timeout=GIVE_UP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, output, "")


def still_on_air(station: RunningStation) -> None:
    health = station.get("/api/health").json()
    assert health == {"status": "ok", "on_air": True, "launch": station.nonce}
    assert station.now_playing()["current"] is not None


def test_a_second_station_on_the_same_state_stops_before_touching_it(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", TONES)
    first = start_station(tmp_path)
    try:
        second = serve(tmp_path, "--port", "0")
        assert second.returncode == 1, second.stdout
        # One line, and nothing else: no migration, scan, speech or planner ran, no port.
        [said] = second.stdout.splitlines()
        assert said == (
            f"radio serve: another station is already running on the state folder "
            f"{first.state} (process {first.process.pid}, {first.url}). Stop it first, or "
            f"give this one its own folder (RADIO_STATE_DIR)."
        )
        still_on_air(first)
        holder = json.loads((first.state / "station.lock").read_text())
        assert holder == {"pid": first.process.pid, "url": first.url}
    finally:
        first.stop()


def test_a_killed_station_leaves_no_stale_lock(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", TONES)
    first = start_station(tmp_path)
    first.process.kill()  # no goodbye: the lock file stays, naming the dead process
    first.process.wait()
    again = start_station(tmp_path, port=first.port)
    try:
        still_on_air(again)
        assert again.wait_for_music()["current"]["title"] in {"A", "B"}
    finally:
        again.stop()


def test_a_taken_port_stops_the_station_before_it_touches_its_state(tmp_path: Path) -> None:
    first = start_station(tmp_path / "first")
    # An empty database (a new SQLite file, or a new PostgreSQL database): still empty after.
    empty = database.empty_url(tmp_path / "second" / "state")
    try:
        second = serve(tmp_path / "second", "--port", str(first.port), database_url=empty)
        assert second.returncode == 1, second.stdout
        [said] = second.stdout.splitlines()
        assert said == f"radio serve: cannot listen on 127.0.0.1:{first.port}: " + (
            "Address already in use"
        )
        if database.POSTGRES:  # no migration
            assert database.tables(empty) == []
        else:
            assert not (tmp_path / "second" / "state" / "radio.sqlite3").exists()
        still_on_air(first)
    finally:
        first.stop()


@pytest.mark.skipif(not database.POSTGRES, reason="a PostgreSQL database is shared by name; "
                    "a SQLite file lives in its state folder (the test above)")  # fmt: skip
def test_a_second_station_on_the_same_postgresql_database_stops_at_once(tmp_path: Path) -> None:
    """Other state folders, maybe other machines, but one database: one station at a time
    (PostgreSQL's advisory lock, held while the station runs)."""
    tone_library(tmp_path / "first" / "media", TONES)
    first = start_station(tmp_path / "first")
    shared = station_env(tmp_path / "first")["RADIO_DATABASE_URL"]
    try:
        second = serve(tmp_path / "second", "--port", "0", database_url=shared)
        assert second.returncode == 1, second.stdout
        [said] = second.stdout.splitlines()
        assert said.startswith("radio serve: another station is already running on the "
                               "database postgresql+psycopg://"), said  # fmt: skip
        assert f"(radio station (process {first.process.pid})). Stop it first" in said
        still_on_air(first)
    finally:
        first.stop()
    # Gone (the server let go of its lock with its connection): the next one starts.
    again = start_station(tmp_path / "second", database_url=shared)
    try:
        still_on_air(again)
    finally:
        again.stop()


def test_the_harness_never_takes_another_launch_for_its_own(tmp_path: Path) -> None:
    """Health echoes the launch's nonce: a station answering with another one is refused."""
    station = start_station(tmp_path)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    impostor = dataclasses.replace(station, process=stranger, nonce="another launch")
    try:
        with pytest.raises(RuntimeError, match="answers for another launch"):
            wait_until_on_air(impostor)
    finally:
        stranger.kill()
        stranger.wait()
        station.stop()
