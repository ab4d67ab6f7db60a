"""`radio playlists` as a host runs it, against the real station (and offline for sync)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from tests.api.test_playlists import scan_library
from tests.conftest import tone_library
from tests.station import ADMIN_TOKEN, start_station

TONES = [(440, 2, "A"), (550, 2, "B"), (660, 2, "C")]


def radio(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[str, str]:
    """Run one `radio playlists ...` command in process; (stdout, stderr)."""
    code = main(["playlists", *argv[:1], "--url", url, "--token", ADMIN_TOKEN, *argv[1:]])
    assert code == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_hosts_manage_playlists_from_the_shell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tone_library(tmp_path / "media", TONES)
    tracks = scan_library(tmp_path)
    a, b, c = (str(tracks[f"music/tone-{f}.mp3"]) for f in (440, 550, 660))
    station = start_station(tmp_path)
    try:
        url = station.url
        weekdays = '[{"days": [0,1,2,3,4], "start": "16:00", "end": "19:00"}]'
        out, _ = radio(capsys, url, "create", "Drive Time", "--tracks", a, b,
                       "--rule", "every_songs", "--every", "3", "--schedule", weekdays)  # fmt: skip
        assert "name: Drive Time" in out
        assert "rule: every_songs" in out
        playlist_id = next(
            line.split(": ")[1] for line in out.splitlines() if line.startswith("id:")
        )
        out, _ = radio(capsys, url, "add-tracks", playlist_id, c)
        assert [line.split()[1] for line in out.splitlines() if "music/tone" in line] == [a, b, c]
        out, _ = radio(capsys, url, "update", playlist_id, "--weight", "9", "--no-enabled")
        assert "weight: 9" in out
        assert "enabled: False" in out
        out, _ = radio(capsys, url, "list")
        assert "Drive Time" in out
        assert "every_songs" in out

        exported = tmp_path / "drive.pls"
        radio(capsys, url, "export", playlist_id, "--format", "pls", "-o", str(exported))
        assert "NumberOfEntries=3" in exported.read_text()
        hostile = tmp_path / "Copy.m3u8"
        hostile.write_text("music/tone-660.mp3\n../../etc/passwd\nmusic/missing.mp3\n")
        out, err = radio(capsys, url, "import", str(hostile))
        assert "name: Copy" in out
        assert "Copy.m3u8:2: '../../etc/passwd' outside media/" in err
        assert "Copy.m3u8:3: 'music/missing.mp3' not in the library" in err
        out, _ = radio(capsys, url, "import", str(exported), "--name", "Drive Again")
        assert out.count("music/tone-") == 3

        # A refusal ends the command with the API's reason and a non-zero status.
        with pytest.raises(SystemExit, match="already exists"):
            radio(capsys, url, "create", "Drive Time")
        with pytest.raises(SystemExit, match="needs `minute`"):
            radio(capsys, url, "update", playlist_id, "--rule", "hourly")

        (tmp_path / "playlists").mkdir()
        (tmp_path / "playlists" / "Night.m3u").write_text("music/tone-550.mp3\n")
        out, _ = radio(capsys, url, "sync")
        assert "created: Night" in out

        radio(capsys, url, "delete", playlist_id)
        with pytest.raises(SystemExit, match="404"):
            radio(capsys, url, "show", playlist_id)

        # The installed entry point works the same way, as a separate process.
        env = {**os.environ, "RADIO_URL": url, "RADIO_TOKEN": ADMIN_TOKEN}
        listed = subprocess.run([sys.executable, "-m", "app.cli", "playlists", "list"], env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert "Night" in listed.stdout
        assert "Drive Time" not in listed.stdout
        refused = subprocess.run([sys.executable, "-m", "app.cli", "playlists", "list"],
                                 env={**env, "RADIO_TOKEN": ""}, capture_output=True,
                                 text=True, timeout=60)  # fmt: skip
        assert refused.returncode != 0
        assert "401" in refused.stderr
    finally:
        station.stop()


def test_sync_works_offline_on_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tone_library(tmp_path / "media", TONES)
    tracks = scan_library(tmp_path)
    folder = tmp_path / "playlists"
    folder.mkdir()
    (folder / "Offline.m3u8").write_text("#EXTM3U\nmusic/tone-440.mp3\nhttp://x.example/a\n")
    (folder / "Broken.pls").write_text("nope\n")
    for key, value in {
        "MEDIA_DIR": "media",
        "STATE_DIR": "state",
        "PLAYLISTS_DIR": "playlists",
    }.items():
        monkeypatch.setenv(f"RADIO_{key}", str(tmp_path / value))
    code = main(["playlists", "sync", "--offline"])
    out, err = capsys.readouterr()
    assert code == 1  # one file failed
    assert "created: Offline" in out
    assert "Offline.m3u8:3: 'http://x.example/a' a URL" in err
    assert "failed: Broken.pls" in err
    code = main(["playlists", "sync", "--offline"])
    assert "unchanged: Offline" in capsys.readouterr().out

    from sqlalchemy import select

    from app.config import Settings
    from app.db import make_engine, make_sessions
    from app.models import Playlist, PlaylistEntry

    engine = make_engine(Settings().sqlalchemy_url)
    with make_sessions(engine)() as session:
        playlist = session.scalars(select(Playlist)).one()
        entries = session.scalars(select(PlaylistEntry.track_id)).all()
    engine.dispose()
    assert (playlist.name, playlist.source_file) == ("Offline", "Offline.m3u8")
    assert entries == [tracks["music/tone-440.mp3"]]
