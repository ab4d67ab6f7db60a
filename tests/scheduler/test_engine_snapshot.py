"""Loading the scheduler from the real database (SQLite, migrated with Alembic)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from app.config import Settings
from app.db import SessionFactory
from app.models import (
    Playlist,
    PlaylistEntry,
    PlaylistOrder,
    PlaylistRule,
    Track,
    TrackKind,
    TrackStatus,
)
from app.scheduler.dayparts import Daypart, parse_daypart
from app.scheduler.engine import SchedulerState
from app.scheduler.snapshot import load_scheduler

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        media_dir=tmp_path / "media",
        state_dir=tmp_path / "state",
        timezone="Europe/Berlin",
        track_separation_hours=2,
        artist_separation_minutes=20,
        jingle_every=3,
    )


def add_tracks(sessions: SessionFactory, rows: list[dict[str, object]]) -> None:
    defaults = {
        "size": 1,
        "mtime": 0.0,
        "kind": TrackKind.music,
        "status": TrackStatus.ready,
        "duration": 200.0,
        "cue_in": 0.0,
    }
    with sessions() as session:
        session.execute(
            insert(Track), [{**defaults, "path": f"t{row['id']}.mp3", **row} for row in rows]
        )
        session.commit()


def test_ready_tracks_load_with_their_trimmed_duration_and_the_settings_rules(
    sessions: SessionFactory, settings: Settings
) -> None:
    add_tracks(
        sessions,
        [
            {
                "id": 1,
                "artist": "A",
                "title": "One",
                "duration": 200.0,
                "cue_in": 1.5,
                "cue_out": 190.0,
            },
            {
                "id": 2,
                "artist": "B",
                "title": "Two",
                "duration": 100.0,
                "cue_in": 0.5,
                "cue_out": None,
            },
            {"id": 3, "status": TrackStatus.new},
            {"id": 4, "status": TrackStatus.unplayable},
            {"id": 5, "kind": TrackKind.jingle, "duration": 8.0},
        ],
    )
    scheduler = load_scheduler(sessions, settings)
    assert set(scheduler.tracks) == {1, 2, 5}
    assert scheduler.tracks[1].duration == pytest.approx(188.5)
    assert scheduler.tracks[2].duration == pytest.approx(99.5)
    assert scheduler.tracks[5].is_jingle
    assert scheduler.rules.timezone == BERLIN
    assert scheduler.rules.track_separation == timedelta(hours=2)
    assert scheduler.rules.artist_separation == timedelta(minutes=20)


def test_without_playlists_the_station_shuffles_all_music_with_a_jingle_every_n_songs(
    sessions: SessionFactory, settings: Settings
) -> None:
    add_tracks(sessions, [{"id": i, "artist": f"A{i}"} for i in range(1, 21)])
    add_tracks(sessions, [{"id": 100, "kind": TrackKind.jingle, "duration": 5.0}])
    scheduler = load_scheduler(sessions, settings)
    start = datetime(2025, 5, 5, 12, tzinfo=BERLIN)
    plan = scheduler.simulate(start, start + timedelta(hours=2), SchedulerState())
    assert [p.track_id == 100 for _, p in plan[:8]] == [False, False, False, True] * 2
    assert all(p.playlist_id is None for _, p in plan)  # implicit playlists are not rows
    assert all(p.is_jingle == (p.track_id == 100) for _, p in plan)
    assert {p.track_id for _, p in plan if p.track_id != 100} == set(range(1, 21))

    no_jingles = load_scheduler(sessions, settings.model_copy(update={"jingle_every": 0}))
    plan = no_jingles.simulate(start, start + timedelta(hours=1), SchedulerState())
    assert 100 not in {p.track_id for _, p in plan}


def test_enabled_playlists_load_in_position_order_with_their_rules_and_dayparts(
    sessions: SessionFactory, settings: Settings
) -> None:
    add_tracks(sessions, [{"id": i, "artist": f"A{i}"} for i in range(1, 7)])
    add_tracks(sessions, [{"id": 9, "status": TrackStatus.unplayable}])
    with sessions() as session:
        session.add_all(
            [
                Playlist(
                    id=1,
                    name="Mornings",
                    rule=PlaylistRule.rotation,
                    order=PlaylistOrder.sequential,
                    weight=5,
                    schedule=[{"days": [0, 1, 2, 3, 4], "start": "06:00", "end": "10:00"}],
                ),
                Playlist(id=2, name="Off", enabled=False),
                Playlist(
                    id=3,
                    name="Top",
                    rule=PlaylistRule.hourly,
                    minute=30,
                    window_minutes=5,
                    is_jingle=True,
                ),
            ]
        )
        session.flush()
        session.add_all(
            [
                PlaylistEntry(playlist_id=1, position=2, track_id=3),
                PlaylistEntry(playlist_id=1, position=0, track_id=2),
                PlaylistEntry(playlist_id=1, position=1, track_id=9),  # not ready: skipped
                PlaylistEntry(playlist_id=1, position=3, track_id=1),
                PlaylistEntry(playlist_id=2, position=0, track_id=4),
                PlaylistEntry(playlist_id=3, position=0, track_id=6),
            ]
        )
        session.commit()
    scheduler = load_scheduler(sessions, settings)
    by_id = {p.id: p for p in scheduler.playlists}
    assert set(by_id) == {1, 3}  # no implicit rotation: there is one
    assert by_id[1].track_ids == (2, 3, 1)
    assert by_id[1].weight == 5
    assert by_id[1].order is PlaylistOrder.sequential
    assert by_id[1].dayparts == (Daypart(frozenset(range(5)), time(6), time(10)),)
    assert by_id[3].rule is PlaylistRule.hourly
    assert (by_id[3].minute, by_id[3].window_minutes, by_id[3].is_jingle) == (30, 5, True)
    monday = datetime(2025, 5, 5, 7, 28, tzinfo=BERLIN)
    plan = scheduler.simulate(monday, monday + timedelta(minutes=10), SchedulerState())
    assert [(p.track_id, p.reason) for _, p in plan][:3] == [
        (2, "rotation"),
        (6, "clock"),
        (3, "rotation"),
    ]


def test_with_only_clock_playlists_the_music_still_plays(
    sessions: SessionFactory, settings: Settings
) -> None:
    add_tracks(sessions, [{"id": i} for i in range(1, 4)])
    with sessions() as session:
        session.add(Playlist(id=1, name="Top", rule=PlaylistRule.hourly, minute=0))
        session.flush()
        session.add(PlaylistEntry(playlist_id=1, position=0, track_id=3))
        session.commit()
    scheduler = load_scheduler(sessions, settings)
    pick = scheduler.next(datetime(2025, 5, 5, 7, 30, tzinfo=BERLIN), SchedulerState())
    assert pick is not None
    assert pick.reason == "rotation"


def test_a_bad_schedule_is_reported_clearly_by_the_parser_and_ignored_on_load(
    sessions: SessionFactory, settings: Settings
) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_daypart({"days": [0], "start": "6 am", "end": "10:00"})
    with pytest.raises(ValueError, match="days"):
        parse_daypart({"days": [7], "start": "06:00", "end": "10:00"})
    assert parse_daypart({"days": [5], "start": "22:00", "end": "24:00"}).end == time(0)
    add_tracks(sessions, [{"id": 1}])
    with sessions() as session:
        session.add(Playlist(id=1, name="Odd", schedule=[{"days": [9], "start": "x"}]))
        session.flush()
        session.add(PlaylistEntry(playlist_id=1, position=0, track_id=1))
        session.commit()
    (playlist,) = load_scheduler(sessions, settings).playlists
    assert playlist.dayparts == ()
