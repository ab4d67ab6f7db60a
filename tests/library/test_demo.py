from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import SessionFactory
from app.library import scan
from app.library.demo import ensure_demo_library
from app.models import Track, TrackKind, TrackStatus
from tests.audio import write_tone


def test_demo_library_scans_ready(media: Path, sessions: SessionFactory, ffmpeg: str) -> None:
    (media / "news").mkdir()
    write_tone(media / "news" / "bulletin.mp3", 1.0)  # speech is not music

    created = ensure_demo_library(media, ffmpeg)
    report = scan(media, sessions, ffmpeg, -50.0)

    assert len(created) >= 7
    assert (report.added, report.ready, report.unplayable) == (len(created), len(created), 0)
    with sessions() as session:
        tracks = list(session.scalars(select(Track)))
    music = [track for track in tracks if track.kind is TrackKind.music]
    jingles = [track for track in tracks if track.kind is TrackKind.jingle]
    assert len(music) >= 6
    assert [track.title for track in jingles] == ["Station ID"]
    assert {track.album for track in tracks} == {"Demo Station"}
    assert len({(track.artist, track.title) for track in music}) == len(music)
    assert {Path(track.path).suffix for track in music} >= {".mp3", ".ogg", ".flac"}
    for track in music:
        assert track.status is TrackStatus.ready
        assert 20.0 <= (track.duration or 0) <= 60.0
        assert track.cue_in < 0.05
        assert track.cue_out == pytest.approx(track.duration, abs=0.1)
        assert -30.0 < (track.loudness_lufs or -99) < -10.0
    assert 4.0 <= (jingles[0].duration or 0) <= 6.0


def test_existing_music_is_left_alone(media: Path, ffmpeg: str) -> None:
    write_tone(media / "mine" / "song.ogg", 0.5)

    assert ensure_demo_library(media, ffmpeg) == []
    assert not (media / "music").exists()
    assert not (media / "jingles").exists()


def test_demo_is_created_once(media: Path, ffmpeg: str) -> None:
    (media / "jingles").mkdir()
    write_tone(media / "jingles" / "own.mp3", 0.5)  # jingles alone are not music

    assert ensure_demo_library(media, ffmpeg)
    assert ensure_demo_library(media, ffmpeg) == []
