"""The planner on the real database, driven by a fake clock: what the playout really gets."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.db import SessionFactory
from app.models import Playlist, PlaylistEntry, PlaylistRule, Track, TrackKind, TrackStatus
from app.news.bulletins import Bulletins
from app.scheduler import planner as planner_module
from app.scheduler.engine import Scheduler
from app.scheduler.planner import PREVIEW_MAX_ITEMS, PREVIEWS_AT_ONCE, Planner, PreviewBusy

START = datetime(2026, 3, 2, 10, 37, tzinfo=UTC)


def add_track(sessions: SessionFactory, title: str, minutes: float, artist: str = "") -> int:
    with sessions.begin() as session:
        track = Track(path=f"music/{title}.mp3", kind=TrackKind.music, status=TrackStatus.ready,
                      size=1, mtime=0.0, artist=artist or title, title=title,
                      duration=minutes * 60, loudness_lufs=-16.0)  # fmt: skip
        session.add(track)
        session.flush()
        return track.id


def add_playlist(sessions: SessionFactory, name: str, track_ids: list[int], **rule: object) -> int:
    with sessions.begin() as session:
        playlist = Playlist(name=name, **rule)
        session.add(playlist)
        session.flush()
        for position, track_id in enumerate(track_ids):
            session.add(
                PlaylistEntry(playlist_id=playlist.id, position=position, track_id=track_id)
            )
        return playlist.id


def run_station(
    planner: Planner, hours: float, ask_ahead: float = 0.0
) -> list[tuple[datetime, str, str]]:
    """Play item after item on the fake clock; return (start, title, reason).

    Each item is asked for `ask_ahead` seconds before the one on air ends, as the playout
    does while it decodes ahead of what listeners hear."""
    clock = {"now": START, "end": START}
    planner._now = lambda: clock["now"]  # type: ignore[method-assign]
    planner.on_air_until = lambda: clock["end"]
    aired = []
    while clock["end"] < START + timedelta(hours=hours):
        clock["now"] = max(START, clock["end"] - timedelta(seconds=ask_ahead))
        item = planner.next_item()
        assert item is not None
        upcoming = planner.upcoming(limit=1)
        aired.append((clock["end"], item.title, upcoming[0].reason if upcoming else ""))
        clock["end"] += timedelta(seconds=item.duration or 0)
    clock["now"] = clock["end"]
    return aired


@pytest.mark.parametrize("ask_ahead", [0.0, 8.0])
def test_the_hourly_item_airs_once_every_hour_at_the_first_boundary_after_its_minute(
    tmp_path: Path, sessions: SessionFactory, ask_ahead: float
) -> None:
    songs = [add_track(sessions, f"Song {i}", 3 + (i % 5) * 0.5, artist=f"A{i}") for i in range(40)]
    long_mix = add_track(sessions, "Long Mix", 45, artist="DJ")
    station_id = add_track(sessions, "Station ID", 0.25, artist="")
    add_playlist(sessions, "Music", [*songs, long_mix])
    add_playlist(sessions, "Top of the hour", [station_id], rule=PlaylistRule.hourly, minute=0)
    settings = Settings(
        media_dir=tmp_path,
        state_dir=tmp_path,
        crossfade_seconds=0,
        jingle_every=0,
        track_separation_hours=1,
        artist_separation_minutes=10,
    )
    planner = Planner(sessions, settings, segments=[Bulletins(settings)])
    aired = run_station(planner, hours=30, ask_ahead=ask_ahead)
    ids = [(start, i) for i, (start, title, _) in enumerate(aired) if title == "Station ID"]
    hours_with_id = Counter(start.replace(minute=0, second=0, microsecond=0) for start, _ in ids)
    first_hour = START.replace(minute=0) + timedelta(hours=1)
    expected = {first_hour + timedelta(hours=h) for h in range(29)}
    assert set(hours_with_id) >= expected  # every hour...
    assert max(hours_with_id.values()) == 1  # ...and never twice
    for start, index in ids:
        hour = start.replace(minute=0, second=0, microsecond=0)
        previous_start = aired[index - 1][0]
        assert previous_start < hour, "the station ID waited past the first boundary after :00"
    overran = [s for s, i in ids if aired[i - 1][1] == "Long Mix" and s.minute >= 20]
    assert overran, "the 45-minute mix never crossed the hour late: the test proves too little"


def test_a_restart_neither_replays_nor_forgets(tmp_path: Path, sessions: SessionFactory) -> None:
    songs = [add_track(sessions, f"Song {i}", 3, artist=f"A{i}") for i in range(30)]
    add_playlist(sessions, "Music", songs)
    settings = Settings(media_dir=tmp_path, state_dir=tmp_path, crossfade_seconds=0)
    first = Planner(sessions, settings, segments=[Bulletins(settings)])
    before = run_station(first, hours=1)
    queued = [u.item.track_id for u in first.upcoming()]
    # A new process: only the database carries over.
    second = Planner(sessions, settings, segments=[Bulletins(settings)])
    second._now = first._now  # type: ignore[method-assign]
    second.on_air_until = first.on_air_until
    assert [u.item.track_id for u in second.upcoming()] == queued
    just_played = {title for _, title, _ in before[-10:]}
    after = run_station(second, hours=0.5)
    assert not just_played & {title for _, title, _ in after}


def test_forecasts_are_bounded_and_never_hold_up_the_playout(
    tmp_path: Path, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While forecasts compute, the playout's next item comes at once; beyond
    PREVIEWS_AT_ONCE forecasts, another is told the station is busy."""
    songs = [add_track(sessions, f"Song {i}", 3, artist=f"A{i}") for i in range(30)]
    add_playlist(sessions, "Music", songs)
    settings = Settings(media_dir=tmp_path, state_dir=tmp_path)
    planner = Planner(sessions, settings, segments=[Bulletins(settings)])
    release = threading.Event()
    computing = threading.Semaphore(0)
    simulate = Scheduler.simulate

    def slow_simulate(self: Scheduler, *args: Any, **kwargs: Any) -> Any:
        computing.release()
        release.wait(30)  # a week's forecast on a busy machine
        return simulate(self, *args, **kwargs)

    monkeypatch.setattr(Scheduler, "simulate", slow_simulate)
    monkeypatch.setattr(planner_module, "PREVIEW_WAIT_SECONDS", 0.2)
    with ThreadPoolExecutor(PREVIEWS_AT_ONCE) as pool:
        forecasts = [pool.submit(planner.preview, 168) for _ in range(PREVIEWS_AT_ONCE)]
        for _ in range(PREVIEWS_AT_ONCE):
            assert computing.acquire(timeout=10)
        with pytest.raises(PreviewBusy):
            planner.preview(168)
        answered = ThreadPoolExecutor(1).submit(planner.next_item)
        item = answered.result(timeout=5)  # not after the forecasts: they hold no lock
        assert item is not None
        release.set()
        weeks = [forecast.result(timeout=30) for forecast in forecasts]
    assert all(len(week.items) > 1000 for week in weeks)
    assert len(planner.preview(1).items) > 10  # a slot is free again


def test_a_forecast_of_short_items_stops_at_its_item_limit_and_says_so(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    """Twenty-second items would make a week 30 000 items: the forecast stops at its limit."""
    songs = [add_track(sessions, f"Short {i}", 1 / 3, artist=f"A{i}") for i in range(40)]
    add_playlist(sessions, "Shorts", songs)
    settings = Settings(media_dir=tmp_path, state_dir=tmp_path, crossfade_seconds=0,
                        track_separation_hours=0, artist_separation_minutes=0)  # fmt: skip
    planner = Planner(sessions, settings, segments=[Bulletins(settings)])
    start = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    planner._now = lambda: start  # type: ignore[method-assign]
    planner.on_air_until = lambda: start

    week = planner.preview(168)
    assert week.cut_short
    assert len(week.items) == PREVIEW_MAX_ITEMS
    starts = [u.expected_start for u in week.items]
    assert starts == sorted(starts)
    assert timedelta(hours=20) < starts[-1] - start < timedelta(hours=167)  # not the week

    hour = planner.preview(1)
    assert not hour.cut_short
    assert 150 < len(hour.items) < PREVIEW_MAX_ITEMS  # an hour of twenty-second items, whole
    assert [u.item.track_id for u in hour.items] == [u.item.track_id for u in week.items][
        : len(hour.items)
    ]  # the same programme, only shorter


@pytest.mark.parametrize("minutes_late", [0, 5, 9])
def test_a_station_started_just_after_the_bulletins_minute_plays_music_without_a_story(
    tmp_path: Path, sessions: SessionFactory, minutes_late: int
) -> None:
    """The bulletin (minute 0 by default) is due when the station starts; with no story
    ready it is skipped once, and the playout gets a song at every ask, never nothing."""
    songs = [add_track(sessions, f"Song {i}", 3, artist=f"A{i}") for i in range(30)]
    add_playlist(sessions, "Music", songs)
    now = [datetime(2026, 11, 30, 0, minutes_late, 30, tzinfo=UTC)]
    settings = Settings(media_dir=tmp_path, state_dir=tmp_path)
    planner = Planner(sessions, settings, now=lambda: now[0], segments=[Bulletins(settings)])
    titles = []
    for _ in range(6):
        item = planner.next_item()
        assert item is not None, f"nothing to play after {titles}"
        titles.append(item.title)
        now[0] += timedelta(minutes=3)
    assert all(title.startswith("Song ") for title in titles)
    assert len(set(titles)) == len(titles)
