"""`radio backup` and `radio restore`: a round trip on a real station's state. They cover a
SQLite database (its online backup API); on PostgreSQL they refuse and say to use pg_dump."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest

from app.backup import backup, restore
from app.config import Settings
from app.db import make_engine, upgrade
from tests import database
from tests.conftest import tone_library
from tests.station import RunningStation, start_station, station_env

# What hosts and listeners make; the station's own bookkeeping (plays, queue, sessions,
# the scheduler's memory) changes by itself while it runs and is left out of the comparison.
TABLES = ("articles", "playlists", "playlist_entries", "listener_names", "hosts", "api_tokens",
          "comments", "ratings", "related_articles")  # fmt: skip


# The round trips back up SQLite's file: on PostgreSQL there is no file to back up.
sqlite_only = pytest.mark.skipif(
    database.POSTGRES,
    reason="radio backup covers SQLite only: "
    "on PostgreSQL see test_on_postgresql_backup_says_to_use_pg_dump",
)


def _radio(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=station_env(root),
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def _dump(station: RunningStation) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(station.state / "radio.sqlite3", timeout=30)
    try:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        db.close()


def _changes(station: RunningStation, tag: str) -> None:
    host = station.auth()
    article = httpx.post(station.url + "/api/articles", headers=host, timeout=30,
                         json={"title": f"Story {tag}", "body": f"Words {tag}."})  # fmt: skip
    assert article.status_code == 201, article.text
    tracks = httpx.get(station.url + "/api/tracks", headers=host, timeout=30).json()["items"]
    playlist = httpx.post(station.url + "/api/playlists", headers=host, timeout=30,
                          json={"name": f"List {tag}", "track_ids": [tracks[0]["id"]]})  # fmt: skip
    assert playlist.status_code == 201, playlist.text
    named = httpx.post(station.url + "/api/listeners/me/name", json={"name": f"Ear {tag}"},
                       timeout=30)  # fmt: skip
    assert named.status_code == 200, named.text


@sqlite_only
def test_a_backup_taken_while_on_air_restores_exactly_that_state(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", [(440, 30, "A"), (550, 30, "B")])
    station = start_station(tmp_path)
    archive = tmp_path / "backups" / "station.tar"
    archive.parent.mkdir()
    try:
        _changes(station, "before")
        backed_up = _dump(station)

        made = _radio(tmp_path, "backup", str(archive))

        assert made.returncode == 0, made.stderr
        assert "backup" in made.stderr  # the progress bar
        assert f"wrote {archive}" in made.stderr
        _changes(station, "after")
        edited = httpx.patch(f"{station.url}/api/articles/1", headers=station.auth(),
                             json={"body": "Changed after the backup."}, timeout=30)  # fmt: skip
        assert edited.status_code == 200
        changed = _dump(station)
        assert changed != backed_up

        refused = _radio(tmp_path, "restore", str(archive))

        assert refused.returncode == 1
        assert "another station is already running on the state folder" in refused.stderr
        assert _dump(station) == changed
    finally:
        station.stop()

    restored = _radio(tmp_path, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "restore" in restored.stderr
    station = start_station(tmp_path, port=station.port)
    try:
        assert _dump(station) == backed_up
        with sqlite3.connect(station.state / "radio.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        station.stop()
    # Only the archive is left in its folder: no temp file beside it.
    assert [path.name for path in archive.parent.iterdir()] == ["station.tar"]


@sqlite_only
def test_a_damaged_or_cut_archive_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    settings = _offline(tmp_path)
    archive = tmp_path / "station.tar"
    backup(settings, archive)
    before = (tmp_path / "state" / "radio.sqlite3").read_bytes()

    damaged = tmp_path / "damaged.tar"
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        member = tar.getmember("database/radio.sqlite3")
    data[member.offset_data + 100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: len(data) // 2])

    for bad, why in ((damaged, "damaged"), (cut, "not a whole station backup")):
        result = _radio(tmp_path, "restore", str(bad))
        assert result.returncode == 1
        assert why in result.stderr
        assert "nothing was changed" in result.stderr or why == "not a whole station backup"
        assert (tmp_path / "state" / "radio.sqlite3").read_bytes() == before
        assert not [p for p in (tmp_path / "state").iterdir() if p.name.startswith(".")]


@sqlite_only
def test_media_and_playlists_come_back_with_the_media_option(tmp_path: Path) -> None:
    settings = _offline(tmp_path)
    song = tmp_path / "media" / "music" / "uploads" / "song.mp3"
    song.parent.mkdir(parents=True)
    song.write_bytes(b"ID3" + bytes(range(256)) * 100)
    playlist = tmp_path / "playlists" / "morning.m3u8"
    playlist.parent.mkdir()
    playlist.write_text("#EXTM3U\nmusic/uploads/song.mp3\n")
    archive = tmp_path / "station.tar"
    manifest = backup(settings, archive, media=True)
    assert {entry["name"] for entry in manifest["files"]} >= {
        "database/radio.sqlite3",
        "media/music/uploads/song.mp3",
        "playlists/morning.m3u8",
    }
    original = song.read_bytes()
    song.unlink()
    playlist.write_text("#EXTM3U\n")

    restore(settings, archive)

    assert song.read_bytes() == original
    assert playlist.read_text() == "#EXTM3U\nmusic/uploads/song.mp3\n"


@pytest.mark.skipif(
    not database.POSTGRES, reason="PostgreSQL's answer (RADIO_TEST_DATABASE=postgres)"
)
def test_on_postgresql_backup_says_to_use_pg_dump(tmp_path: Path) -> None:
    _offline(tmp_path)
    archive = tmp_path / "station.tar"
    for command in (["backup", str(archive)], ["restore", str(archive)]):
        result = _radio(tmp_path, *command)
        assert result.returncode == 1
        assert "cover a SQLite database only" in result.stderr, result.stderr
        assert "pg_dump -Fc" in result.stderr
    assert not archive.exists()


def _offline(root: Path) -> Settings:
    """Settings of a station under `root` that is not running, with a migrated database."""
    settings = Settings(**{key.removeprefix("RADIO_").lower(): value
                           for key, value in station_env(root).items()
                           if key.startswith("RADIO_")})  # fmt: skip
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    engine.dispose()
    return settings
