"""A week of programme with shows, as the station plugs them in: the shows' slots marked in
the forecast ("On air: <show> with <host>") at wall-clock times across the change to summer
time, the automation going on under them, and the hourly news held by the show that does not
want it and airing in the shows that do.

The week runs Monday 24 to Monday 31 March 2025 in Europe/Berlin: Sunday 30 March is a
23-hour day (02:00 jumps to 03:00). Every expected time is worked out here from the slots as
written (wall clock, with zoneinfo), never by asking the timetable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from app.config import Settings
from app.db import SessionFactory
from app.news.bulletins import Bulletins
from app.scheduler.planner import Planner
from app.shows import Shows, store
from app.shows.segment import LiveShow
from tests.scheduler.test_planner import add_playlist, add_track
from tests.shows.hosts import add_host

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 24, 0, 5, tzinfo=ZONE)
END = datetime(2025, 3, 31, 0, 0, tzinfo=ZONE)
NEWS_MINUTE = 15
WINDOW = timedelta(minutes=10)  # an item starts at most this late after its time (songs <= 4.5 min)


def _show(sessions: SessionFactory, name: str, hosts: list[int], slots: list[tuple[int, str, int]],
          interrupt_news: bool) -> None:  # fmt: skip
    specs = [store.SlotSpec(day, int(t[:2]) * 60 + int(t[3:]), length) for day, t, length in slots]
    with sessions.begin() as db:
        store.create_show(db, name, hosts, specs, interrupt_news=interrupt_news)


def _wall(day: int, hhmm: str) -> datetime:
    """Day `day` of the week (24 March is 0) at a wall-clock time in Berlin, as UTC."""
    date = START.date() + timedelta(days=day)
    local = datetime(date.year, date.month, date.day, int(hhmm[:2]), int(hhmm[3:]), tzinfo=ZONE)
    return local.astimezone(UTC)


def test_a_week_of_shows_across_summer_time_with_the_news_held_or_aired_per_show(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    songs = [add_track(sessions, f"Song {i}", 2.5 + (i % 5) * 0.5, artist=f"A{i}")
             for i in range(80)]  # fmt: skip
    add_playlist(sessions, "Music", songs)
    ann, bo = add_host(sessions, "Ann"), add_host(sessions, "Bo")
    # Every morning, not interrupted by the news; weekday lunches and a Sunday night across
    # the jump to summer time (01:00-04:00 wall clock), both with the news.
    _show(sessions, "Morning Show", [ann], [(d, "07:00", 120) for d in range(7)], False)
    _show(sessions, "Lunch", [ann, bo], [(d, "12:00", 60) for d in range(5)], True)
    _show(sessions, "Night Owls", [bo], [(6, "01:00", 180)], True)
    settings = Settings(media_dir=tmp_path, state_dir=tmp_path, timezone="Europe/Berlin",
                        crossfade_seconds=0, jingle_every=0, bulletin_minute=NEWS_MINUTE,
                        track_separation_hours=2, artist_separation_minutes=30)  # fmt: skip
    shows = Shows(sessions, settings)
    shows.load()
    # As app/station.py wires them.
    bulletins = Bulletins(settings, holds_news=shows.holds_news)
    planner = Planner(sessions, settings, segments=[bulletins, LiveShow(shows.current)])
    start, end = START.astimezone(UTC), END.astimezone(UTC)
    planner._now = lambda: start  # type: ignore[method-assign]
    planner.on_air_until = lambda: start

    week = planner.preview(hours=(end - start).total_seconds() / 3600).items
    assert week[-1].expected_start >= end - WINDOW  # the whole week is planned

    # -- the shows: one mark per slot, at the first boundary at or after its wall-clock start
    expected = {
        **{_wall(d, "07:00"): "On air: Morning Show with Ann" for d in range(7)},
        **{_wall(d, "12:00"): "On air: Lunch with Ann and Bo" for d in range(5)},
        _wall(6, "01:00"): "On air: Night Owls with Bo",
    }
    marks = [(i, u) for i, u in enumerate(week) if u.item.kind.value == "live"]
    found = {}
    for i, mark in marks:
        slot = max((s for s in expected if s <= mark.expected_start), default=None)
        assert slot is not None, f"a mark before the first slot: {mark}"
        assert mark.expected_start < slot + WINDOW, (
            f"a show marked at {mark.expected_start.astimezone(ZONE):%a %H:%M}"
        )
        assert week[i - 1].expected_start < slot, "the mark waited past the first boundary"
        assert slot not in found, f"two marks for the slot of {slot.astimezone(ZONE):%a %H:%M}"
        found[slot] = mark.item.title
    assert found == expected
    # Wall clock on both sides of the change: 07:00 is 06:00 UTC on Saturday, 05:00 on Sunday.
    assert _wall(5, "07:00").hour == 6
    assert _wall(6, "07:00").hour == 5

    # -- the automation goes on under a show: music fills each morning
    for day in range(7):
        inside = [u for u in week if _wall(day, "07:00") <= u.expected_start < _wall(day, "09:00")
                  and u.item.kind.value == "music"]  # fmt: skip
        assert len(inside) >= 20, f"{len(inside)} songs in the morning show of day {day}"

    # -- the news: every wall-clock hour at minute 15, except inside the morning show
    news = {}
    for u in week:
        if u.item.kind.value != "news":
            continue
        local = u.expected_start.astimezone(ZONE)
        due = local.replace(minute=NEWS_MINUTE, second=0, microsecond=0)
        assert due <= local < due + WINDOW, f"a bulletin at {local:%a %H:%M}"
        assert due not in news, f"two bulletins in the hour of {due:%a %H:%M}"
        news[due] = local
    hours = set()
    at = start.replace(minute=0, second=0, microsecond=0)
    while at < end:
        hours.add(at.astimezone(ZONE).replace(minute=NEWS_MINUTE))
        at += timedelta(hours=1)
    held = {h for h in hours if h.hour in (7, 8)}  # 07:15 and 08:15, inside 07:00-09:00
    assert len(hours) == 7 * 24 - 1
    assert len(held) == 14
    assert set(news) == hours - held
    # The shows that take the news get it: every lunch, and Night Owls at 01:15 and 03:15
    # (02:15 does not exist that night).
    aired_in_shows = {d for d in news if (d.hour == 12 and d.weekday() < 5)
                      or (d.weekday() == 6 and d.hour in (1, 3))}  # fmt: skip
    assert len(aired_in_shows) == 5 + 2
