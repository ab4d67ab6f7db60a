"""`radio tracks ...` as a host runs it, against a real station over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import mutagen

from tests.audio import write_tone
from tests.conftest import tone_library
from tests.station import ADMIN_TOKEN, RunningStation

Launch = Callable[..., RunningStation]


def radio(station: RunningStation, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RADIO_URL": station.url, "RADIO_TOKEN": ADMIN_TOKEN}
    return subprocess.run([sys.executable, "-m", "app.cli", "tracks", *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_upload_list_edit_show_and_delete(launch: Launch, tmp_path: Path) -> None:
    tone_library(tmp_path / "media", [(440, 2, "One")])
    station = launch()
    song = write_tone(tmp_path / "upload me.flac", 2.0, 660,
                      tags={"artist": "Elin Vass", "title": "Slow River"})  # fmt: skip
    fake = tmp_path / "fake.mp3"
    fake.write_text("not audio at all\n" * 20)

    uploaded = radio(station, "upload", str(song), str(fake))

    assert uploaded.returncode == 1  # one of the two was refused
    assert "upload upload me.flac" in uploaded.stderr  # the upload progress bar
    assert "100%" in uploaded.stderr  # ... and the analysis bar
    assert "stored as music/uploads/upload me.flac" in uploaded.stderr
    assert "fake.mp3: 415: not an audio file" in uploaded.stderr
    assert "Slow River" in uploaded.stdout
    assert "ready" in uploaded.stdout

    found = radio(station, "list", "--search", "river")
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "KIND", "STATUS"]
    assert len(lines) == 2
    track_id = lines[1].split()[0]

    edited = radio(station, "edit", track_id, "--title", "Fast Creek", "--album", "Rivers")
    assert edited.returncode == 0, edited.stderr
    stored = station.media / "music" / "uploads" / "upload me.flac"
    assert mutagen.File(stored)["title"] == ["Fast Creek"]
    shown = radio(station, "show", track_id)
    assert "title: Fast Creek" in shown.stdout
    assert "album: Rivers" in shown.stdout

    assert radio(station, "list", "--artist", "ELIN VASS").stdout.count("Fast Creek") == 1
    deleted = radio(station, "delete", track_id)
    assert deleted.returncode == 0, deleted.stderr
    assert not stored.exists()
    gone = radio(station, "show", track_id)
    assert gone.returncode == 1
    assert f"404: no track {track_id}" in gone.stderr


def test_jingles_and_a_wrong_token(launch: Launch, tmp_path: Path) -> None:
    station = launch()
    jingle = write_tone(tmp_path / "id.mp3", 1.0, tags={"title": "Station ID"})

    uploaded = radio(station, "upload", "--jingle", str(jingle))

    assert uploaded.returncode == 0, uploaded.stderr
    assert "stored as jingles/id.mp3" in uploaded.stderr
    assert "jingle" in radio(station, "list", "--kind", "jingle").stdout
    env = {**os.environ, "RADIO_URL": station.url, "RADIO_TOKEN": "wrong"}
    refused = subprocess.run([sys.executable, "-m", "app.cli", "tracks", "list"], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].startswith(("401: ", "403: "))
