"""Properties of the schedule rules. Dayparts against an oracle written here in minutes of
the week (a daypart is a set of intervals, one per day it starts on, past midnight when it
ends before it starts); the daypart parser refuses bad input only with ValueError; and the
engine, on random libraries and rules, plays only tracks of the playlist it names, rotation
only inside its dayparts, and the hourly item once in every hour."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.models import PlaylistOrder, PlaylistRule
from app.scheduler.dayparts import Daypart, in_dayparts, parse_daypart, parse_time
from app.scheduler.engine import PlaylistInfo, Rules, Scheduler, SchedulerState, TrackInfo

WEEK = 7 * 24 * 60
times = st.builds(dt.time, st.integers(0, 23), st.integers(0, 59))
dayparts = st.builds(Daypart, st.frozensets(st.integers(0, 6), min_size=1), times, times)
moments = st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2026, 12, 31))


def oracle_contains(part: Daypart, local: dt.datetime) -> bool:
    minute = local.weekday() * 24 * 60 + local.hour * 60 + local.minute + local.second / 60
    start = part.start.hour * 60 + part.start.minute
    end = part.end.hour * 60 + part.end.minute
    length = end - start if end > start else end - start + 24 * 60  # start == end: a day
    for day in part.days:
        first = day * 24 * 60 + start
        if (minute - first) % WEEK < length:
            return True
    return False


@settings(max_examples=500, deadline=None)
@given(dayparts, moments)
def test_a_daypart_holds_exactly_the_minutes_of_its_intervals(
    part: Daypart, local: dt.datetime
) -> None:
    assert part.contains(local) == oracle_contains(part, local)


@settings(max_examples=200, deadline=None)
@given(st.lists(dayparts, max_size=3), moments)
def test_no_dayparts_is_always_and_several_are_any_of_them(
    parts: list[Daypart], local: dt.datetime
) -> None:
    expected = not parts or any(oracle_contains(p, local) for p in parts)
    assert in_dayparts(parts, local) == expected


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.fixed_dictionaries({"days": st.lists(st.integers(-1, 7)), "start": st.text(max_size=6),
                           "end": st.text(max_size=6)}),
    st.dictionaries(st.sampled_from(["days", "start", "end"]),
                    st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans(),
                              st.lists(st.integers(0, 6)))),
    st.none(), st.integers(), st.lists(st.integers()),
))  # fmt: skip
def test_a_bad_daypart_is_refused_with_value_error_only(data: object) -> None:
    try:
        part = parse_daypart(data)  # type: ignore[arg-type]
    except ValueError:
        return
    assert part.days <= set(range(7))
    assert part.days


@settings(max_examples=100, deadline=None)
@given(times)
def test_a_written_time_parses_back(at: dt.time) -> None:
    assert parse_time(at.strftime("%H:%M")) == at


ZONES = [ZoneInfo("UTC"), ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")]


@st.composite
def stations(draw: st.DrawFn) -> tuple[Scheduler, dt.datetime, int]:
    count = draw(st.integers(3, 12))
    tracks = {
        i: TrackInfo(i, f"Artist {draw(st.integers(0, 4))}", f"Song {i}",
                     float(draw(st.integers(30, 400))))
        for i in range(1, count + 1)
    }  # fmt: skip
    ids = list(tracks)
    playlists = []
    for n in range(draw(st.integers(1, 3))):
        members = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=count, unique=True))
        playlists.append(PlaylistInfo(
            n + 1, f"R{n}", PlaylistRule.rotation, draw(st.sampled_from(list(PlaylistOrder))),
            weight=draw(st.integers(1, 5)), dayparts=tuple(draw(st.lists(dayparts, max_size=2))),
            track_ids=tuple(members)))  # fmt: skip
    minute = draw(st.integers(0, 59))
    ident = count + 1
    tracks[ident] = TrackInfo(ident, "Station", "Station ID", 20.0, True)
    playlists.append(PlaylistInfo(10, "ID", PlaylistRule.hourly, PlaylistOrder.sequential,
                                  minute=minute, track_ids=(ident,), is_jingle=True))  # fmt: skip
    zone = draw(st.sampled_from(ZONES))
    separation = dt.timedelta(minutes=draw(st.sampled_from([0, 10, 60])))
    rules = Rules(zone, separation, separation)
    start = draw(moments).replace(tzinfo=zone)
    return Scheduler(tracks, playlists, rules, seed=draw(st.integers(0, 99))), start, minute


@settings(max_examples=40, deadline=None)
@given(stations())
def test_the_engine_keeps_its_rules_on_any_programme(
    station: tuple[Scheduler, dt.datetime, int],
) -> None:
    scheduler, start, minute = station
    hours = 6
    plan = scheduler.simulate(start, start + dt.timedelta(hours=hours), SchedulerState())
    playlists = {p.id: p for p in scheduler.playlists}
    slots: Counter[dt.datetime] = Counter()
    for at, pick in plan:
        assert pick.track_id in scheduler.tracks
        if pick.playlist_id is not None:
            assert pick.track_id in playlists[pick.playlist_id].track_ids, pick
        if pick.reason == "rotation":
            local = at.astimezone(scheduler.rules.timezone)
            assert in_dayparts(playlists[pick.playlist_id].dayparts, local), (pick, local)
        if pick.reason == "clock":
            # The hour whose minute M this item is for (whole-hour offsets: UTC hours do).
            slots[(at - dt.timedelta(minutes=minute)).replace(minute=0, second=0,
                                                              microsecond=0)] += 1  # fmt: skip
    assert all(n == 1 for n in slots.values()), slots
    # Every hour whose minute M lies well inside the simulated span had its item.
    first = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    due = [first + dt.timedelta(hours=h) for h in range(hours + 1)]
    inside = [h for h in due
              if start + dt.timedelta(minutes=7) <= h + dt.timedelta(minutes=minute)
              <= start + dt.timedelta(hours=hours) - dt.timedelta(minutes=7)]  # fmt: skip
    assert set(inside) <= set(slots), (inside, sorted(slots))
