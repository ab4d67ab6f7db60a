"""The daily track totals after the library changes under them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from app.db import SessionFactory
from app.listeners.stats import Played, track_changes
from app.listeners.totals import micros
from app.listeners.track_totals import changes_between, settle
from app.models import Play, Track, TrackDay, TrackKind


class NoOne:
    def at(self, moment: datetime) -> int:
        return 0


def answer(db, now: datetime) -> list[tuple[int | None, str, int]]:  # type: ignore[no-untyped-def]
    return [
        (c.track_id, c.title, c.plays) for c in changes_between(db, now - timedelta(days=7), now)
    ]


def test_a_deleted_track_is_counted_by_the_names_its_plays_keep(sessions: SessionFactory) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as db:
        track = Track(path="a.mp3", kind=TrackKind.music, size=1, mtime=0.0, artist="A",
                      title="New name")  # fmt: skip
        db.add(track)
        db.flush()
        # Renamed between its plays, three and two days ago; a jingle ends the second.
        db.add_all([
            Play(track_id=track.id, kind="music", artist="A", title="Old name", duration=200,
                 started_at=now - timedelta(days=3)),
            Play(track_id=track.id, kind="music", artist="A", title="New name", duration=200,
                 started_at=now - timedelta(days=2)),
            Play(kind="jingle", artist="", title="ID", duration=10,
                 started_at=now - timedelta(days=2) + timedelta(seconds=100)),
        ])  # fmt: skip
        db.flush()
        assert settle(db, micros(now)) == 2  # the last one's end is not known yet
        track_id = track.id
    with sessions() as db:
        assert db.scalar(select(TrackDay.plays).where(TrackDay.title == "Old name")) == 1
        assert answer(db, now) == [(track_id, "New name", 2)]  # one track, its latest names

    with sessions.begin() as db:
        db.execute(delete(Track).where(Track.id == track_id))  # the plays keep their names
    with sessions() as db:
        plays = [Played(p.kind, p.track_id, p.artist, p.title, p.started_at, p.duration)
                 for p in db.scalars(select(Play))]  # fmt: skip
        from_scratch = [(c.track_id, c.title, c.plays) for c in track_changes(plays, NoOne(), now)]
        assert from_scratch == [(None, "Old name", 1), (None, "New name", 1)]
        assert answer(db, now) == from_scratch
