from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import SessionFactory
from app.library import ScanReport, library_stats, scan
from app.library.scanner import Progress
from app.models import Play, Track, TrackKind, TrackStatus, utcnow
from tests.audio import write_tone


def _tracks(sessions: SessionFactory) -> dict[str, Track]:
    with sessions() as session:
        return {track.path: track for track in session.scalars(select(Track))}


def _scan(
    media: Path, sessions: SessionFactory, ffmpeg: str, progress: Progress | None = None
) -> ScanReport:
    return scan(media, sessions, ffmpeg, -50.0, progress=progress, workers=2)


def test_first_scan_adds_and_analyses(media: Path, sessions: SessionFactory, ffmpeg: str) -> None:
    write_tone(media / "music" / "A - One.mp3", 2.0, tags={"artist": "A", "title": "One"})
    write_tone(media / "Loose.FLAC", 1.5, lead_silence=0.5)
    write_tone(media / "jingles" / "id.ogg", 1.0, tags={"title": "Station ID"})
    write_tone(media / "news" / "bulletin.mp3", 1.0)
    write_tone(media / "music" / ".hidden.mp3", 1.0)
    write_tone(media / ".trash" / "old.mp3", 1.0)
    (media / "music" / "cover.jpg").write_bytes(b"\xff\xd8")
    calls: list[tuple[str, int, int]] = []

    report = _scan(media, sessions, ffmpeg, progress=lambda *call: calls.append(call))

    tracks = _tracks(sessions)
    assert sorted(tracks) == ["Loose.FLAC", "jingles/id.ogg", "music/A - One.mp3"]
    assert (report.added, report.ready, report.unplayable) == (3, 3, 0)
    assert tracks["jingles/id.ogg"].kind is TrackKind.jingle
    assert tracks["music/A - One.mp3"].kind is TrackKind.music
    loose = tracks["Loose.FLAC"]
    assert loose.status is TrackStatus.ready
    assert (loose.title, loose.duration) == ("Loose", pytest.approx(2.0, abs=0.05))
    assert loose.cue_in == pytest.approx(0.5, abs=0.1)
    assert loose.cue_out == pytest.approx(2.0, abs=0.1)
    assert loose.loudness_lufs is not None
    assert loose.analysed_at is not None
    assert calls[-1] == ("analysis", 3, 3)
    assert ("tags", 3, 3) in calls


def test_rescan_picks_up_added_changed_and_removed(
    media: Path, sessions: SessionFactory, ffmpeg: str
) -> None:
    write_tone(media / "keep.ogg", 1.0)
    change = write_tone(media / "change.mp3", 1.0, tags={"title": "Before"})
    gone = write_tone(media / "gone.flac", 1.0)
    _scan(media, sessions, ffmpeg)
    gone_id = _tracks(sessions)["gone.flac"].id
    with sessions() as session:  # the play history outlives the track
        session.add(Play(track_id=gone_id, kind="music", title="Gone", started_at=utcnow()))
        session.commit()
    keep_before = _tracks(sessions)["keep.ogg"]

    gone.unlink()
    write_tone(change, 2.0, tags={"title": "After"})
    os.utime(change, (1e9, 1e9))  # mtime differs even on a coarse clock
    write_tone(media / "sub" / "new.wav", 1.0)
    report = _scan(media, sessions, ffmpeg)

    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 1, 1)
    assert (report.ready, report.unplayable) == (2, 0)
    tracks = _tracks(sessions)
    assert sorted(tracks) == ["change.mp3", "keep.ogg", "sub/new.wav"]
    assert tracks["change.mp3"].title == "After"
    assert tracks["change.mp3"].duration == pytest.approx(2.0, abs=0.06)
    assert tracks["keep.ogg"].analysed_at == keep_before.analysed_at
    with sessions() as session:
        play = session.scalars(select(Play)).one()
    assert (play.track_id, play.title) == (None, "Gone")

    again = _scan(media, sessions, ffmpeg)
    assert (again.added, again.changed, again.removed, again.unchanged) == (0, 0, 0, 3)
    assert (again.ready, again.unplayable) == (0, 0)


def test_bad_files_are_unplayable_with_a_reason(
    media: Path, sessions: SessionFactory, ffmpeg: str
) -> None:
    write_tone(media / "good.mp3", 1.0)
    (media / "empty.mp3").touch()
    (media / "text.mp3").write_text("This is a shopping list, not a song.\n" * 20)
    (media / "noise.ogg").write_bytes(os.urandom(20_000))
    for suffix in (".flac", ".wav"):
        whole = write_tone(media / f"whole{suffix}", 4.0).read_bytes()
        (media / f"cut{suffix}").write_bytes(whole[: len(whole) * 3 // 10])

    report = _scan(media, sessions, ffmpeg)

    tracks = _tracks(sessions)
    ready = {path for path, track in tracks.items() if track.status is TrackStatus.ready}
    assert ready == {"good.mp3", "whole.flac", "whole.wav"}
    reasons = dict(report.problems)
    assert reasons == {path: tracks[path].error for path in tracks if path not in ready}
    assert reasons["empty.mp3"] == "empty file"
    assert reasons["text.mp3"].startswith("cannot read tags")
    assert reasons["noise.ogg"].startswith(("not an audio file", "cannot read tags"))
    assert reasons["cut.flac"].startswith("truncated: decoded ")
    assert reasons["cut.wav"].startswith("truncated: decoded ")
    assert (report.ready, report.unplayable) == (3, 5)
    assert library_stats(sessions).unplayable == 5


def test_fixed_file_becomes_playable(media: Path, sessions: SessionFactory, ffmpeg: str) -> None:
    broken = media / "song.flac"
    broken.touch()
    _scan(media, sessions, ffmpeg)

    write_tone(broken, 1.0)
    report = _scan(media, sessions, ffmpeg)

    assert (report.changed, report.ready) == (1, 1)
    track = _tracks(sessions)["song.flac"]
    assert (track.status, track.error) == (TrackStatus.ready, None)


def test_missing_media_dir_keeps_the_library(
    media: Path, sessions: SessionFactory, ffmpeg: str
) -> None:
    write_tone(media / "song.ogg", 1.0)
    _scan(media, sessions, ffmpeg)

    report = _scan(media.parent / "unmounted", sessions, ffmpeg)

    assert (report.added, report.removed) == (0, 0)
    assert list(_tracks(sessions)) == ["song.ogg"]


def test_tags_an_older_version_stored_uncleaned_are_cleaned_by_the_next_scan(
    media: Path, sessions: SessionFactory, ffmpeg: str
) -> None:
    # Longer than a tag may be, and still within the column (PostgreSQL holds no more).
    raw = {"artist": "Ed\tNoise", "title": "Be\x07li\x1bev\x1be " + "La " * 160, "album": "Big"}
    write_tone(media / "music" / "hostile.mp3", 1.0, tags=raw)
    write_tone(media / "music" / "plain.mp3", 1.0, tags={"artist": "A", "title": "Plain"})
    _scan(media, sessions, ffmpeg)
    # What a station before the cleaning rule stored: the tags as the file has them, and a
    # play that copied them.
    with sessions.begin() as session:
        hostile = session.scalars(select(Track).where(Track.path == "music/hostile.mp3")).one()
        plain = session.scalars(select(Track).where(Track.path == "music/plain.mp3")).one()
        hostile.artist, hostile.title = raw["artist"], raw["title"]
        analysed_at = hostile.analysed_at
        for track in (hostile, plain):
            copied = {"artist": track.artist, "title": track.title, "album": track.album}
            session.add(Play(track_id=track.id, kind="music", started_at=utcnow(), **copied))

    report = _scan(media, sessions, ffmpeg)

    title = "Believe " + "La " * 96 + "La…"
    assert (report.unchanged, report.changed, report.cleaned) == (2, 0, 1)
    stored = _tracks(sessions)
    assert (stored["music/hostile.mp3"].artist, stored["music/hostile.mp3"].title) == (
        "Ed Noise", title)  # fmt: skip
    assert stored["music/hostile.mp3"].analysed_at == analysed_at  # no new analysis
    with sessions() as session:
        plays = {play.title: play.artist for play in session.scalars(select(Play))}
    assert plays == {title: "Ed Noise", "Plain": "A"}
