"""A week of programme with the news as the station plugs it in (a segment handed to the
planner): a bulletin at its time of every hour, in the station's time zone.

The week runs Monday 24 to Monday 31 March 2025 in Europe/Berlin, so it includes the change
to summer time (Sunday 30 March: a 23-hour day). The times are worked out here from the
setting (minute M of every wall-clock hour, at the first item boundary at or after it),
never by asking the scheduler or the segment when a bulletin is due.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from app.config import Settings
from app.db import SessionFactory
from app.news.bulletins import Bulletins
from app.scheduler.planner import Planner
from tests.scheduler.test_planner import add_playlist, add_track

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 24, 0, 5, tzinfo=ZONE)
END = datetime(2025, 3, 31, 0, 0, tzinfo=ZONE)
MINUTE = 15


def test_a_week_brings_one_bulletin_every_hour_at_the_first_boundary_after_its_minute(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    songs = [add_track(sessions, f"Song {i}", 2.5 + (i % 5) * 0.5, artist=f"A{i}")
             for i in range(80)]  # fmt: skip
    add_playlist(sessions, "Music", songs)
    settings = Settings(media_dir=tmp_path, state_dir=tmp_path, timezone="Europe/Berlin",
                        crossfade_seconds=0, jingle_every=0, bulletin_minute=MINUTE,
                        track_separation_hours=2, artist_separation_minutes=30)  # fmt: skip
    planner = Planner(sessions, settings, segments=[Bulletins(settings)])
    start, end = START.astimezone(UTC), END.astimezone(UTC)  # (a 23-hour day in between)
    planner._now = lambda: start  # type: ignore[method-assign]
    planner.on_air_until = lambda: start

    week = planner.preview(hours=(end - start).total_seconds() / 3600).items

    assert week[-1].expected_start >= END - timedelta(minutes=10)  # the whole week is planned
    news = [i for i, u in enumerate(week) if u.item.kind.value == "news"]
    assert all(week[i].item.title == "News bulletin" for i in news)
    hours = {}
    for i in news:
        at = week[i].expected_start.astimezone(ZONE)
        due = at.replace(minute=MINUTE, second=0, microsecond=0)
        assert due <= at < due + timedelta(minutes=10), f"a bulletin at {at:%a %H:%M}"
        before = week[i - 1].expected_start.astimezone(ZONE)
        assert before < due, f"the bulletin of {due:%a %H:%M} waited past the first boundary"
        assert due not in hours, f"two bulletins in the hour of {due:%a %H:%M}"
        hours[due] = at
    # Every wall-clock hour of the week has its bulletin: 7 * 24 less the hour summer time skips.
    expected = set()
    at = start.replace(minute=0, second=0, microsecond=0)
    while at < end:
        local = at.astimezone(ZONE)
        expected.add(local.replace(minute=MINUTE))
        at += timedelta(hours=1)
    assert len(expected) == 7 * 24 - 1
    assert set(hours) == expected
