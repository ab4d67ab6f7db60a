"""A week of programme on a generated library, on a fake clock: the issue's "Done when".

The week runs Monday 24 to Monday 31 March 2025 in Europe/Berlin, so it includes the
change to summer time (Sunday 30 March, 02:00 -> 03:00: a 23-hour day). The hourly item's
times are worked out here from its rule (minute M of every hour on the station's wall clock,
at the first item boundary at or after it), never by asking the engine when it is due.
"""

from __future__ import annotations

import itertools
import json
import random
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.models import PlaylistOrder, PlaylistRule
from app.scheduler.engine import (
    Daypart,
    Pick,
    PlaylistInfo,
    Rules,
    Scheduler,
    SchedulerState,
    TrackInfo,
)
from app.scheduler.separation import split_artists

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 24, tzinfo=BERLIN)
END = datetime(2025, 3, 31, tzinfo=BERLIN)
RULES = Rules(BERLIN, track_separation=timedelta(hours=3), artist_separation=timedelta(minutes=30))
CROSSFADE = 2.0
MAIN, GOLD, MORNING, NIGHT, JINGLES, IDS, TOP = range(1, 8)
WEEKDAY_MORNINGS = Daypart(frozenset(range(5)), time(6), time(10))
NIGHTS = Daypart(frozenset(range(7)), time(23), time(3))  # past midnight
JINGLE_EVERY, ID_EVERY_MINUTES = 4, 30
TOP_MINUTE = 20  # the hourly item's minute M

Plan = list[tuple[datetime, Pick]]


def library() -> dict[int, TrackInfo]:
    """2000 songs of 2-7 minutes by 300 artists (some credits with "feat." and "&"), and
    jingles: 5 for every 4 songs, 3 station IDs, 3 top-of-the-hour idents."""
    rng = random.Random(2025)
    tracks = {}
    for i in range(1, 2001):
        artist = f"Artist {rng.randrange(300)}"
        if i % 10 == 0:
            artist += f" feat. Artist {rng.randrange(300)}"
        elif i % 15 == 0:
            artist += f" & Artist {rng.randrange(300)}"
        tracks[i] = TrackInfo(i, artist, f"Song {i}", rng.uniform(120, 420))
    for i in range(3001, 3012):
        tracks[i] = TrackInfo(i, "Radio", f"Jingle {i}", rng.uniform(5, 20), is_jingle=True)
    return tracks


def playlists() -> list[PlaylistInfo]:
    def make(id_: int, rule: PlaylistRule, order: PlaylistOrder, ids: range | list[int],
             **fields: object) -> PlaylistInfo:  # fmt: skip
        return PlaylistInfo(id_, f"P{id_}", rule, order, track_ids=tuple(ids), **fields)  # type: ignore[arg-type]

    rot, shuffle = PlaylistRule.rotation, PlaylistOrder.shuffle
    return [
        make(MAIN, rot, shuffle, range(1, 1201), weight=3),
        make(GOLD, rot, PlaylistOrder.random, range(1201, 1701), weight=1),
        make(
            MORNING,
            rot,
            PlaylistOrder.sequential,
            range(1601, 1901),
            weight=2,
            dayparts=(WEEKDAY_MORNINGS,),
        ),
        make(
            NIGHT, rot, shuffle, [*range(1901, 2001), *range(1, 101)], weight=4, dayparts=(NIGHTS,)
        ),
        make(
            JINGLES,
            PlaylistRule.every_songs,
            shuffle,
            range(3001, 3006),
            every=JINGLE_EVERY,
            is_jingle=True,
        ),
        make(
            IDS,
            PlaylistRule.every_minutes,
            shuffle,
            range(3006, 3009),
            every=ID_EVERY_MINUTES,
            is_jingle=True,
        ),
        make(
            TOP,
            PlaylistRule.hourly,
            shuffle,
            range(3009, 3012),
            minute=TOP_MINUTE,
            window_minutes=10,
            is_jingle=True,
        ),
    ]


def scheduler(rules: Rules = RULES) -> Scheduler:
    return Scheduler(library(), playlists(), rules, seed=42)


@pytest.fixture(scope="module")
def week() -> Plan:
    return scheduler().simulate(START, END, SchedulerState(), crossfade=CROSSFADE)


def local(at: datetime) -> datetime:
    return at.astimezone(BERLIN)


def rotation_share(week: Plan, when: Callable[[datetime], bool]) -> tuple[Counter[int | None], int]:
    picks = [p.playlist_id for at, p in week if p.reason == "rotation" and when(local(at))]
    return Counter(picks), len(picks)


def in_morning(t: datetime) -> bool:
    return WEEKDAY_MORNINGS.contains(t)


def in_night(t: datetime) -> bool:
    return NIGHTS.contains(t)


def test_the_week_is_a_full_programme(week: Plan) -> None:
    assert week[0][0] == START.astimezone(UTC)
    assert week[-1][0] > END - timedelta(minutes=8)
    assert {p.reason for _, p in week} == {"rotation", "interval", "clock"}  # no fallback


def test_rotation_weights_hold(week: Plan) -> None:
    # Daytime outside the mornings: MAIN 3 : GOLD 1.
    day, n = rotation_share(week, lambda t: not in_morning(t) and not in_night(t))
    assert n > 1000
    assert abs(day[MAIN] / n - 0.75) < 0.04  # ± 3 standard deviations: 3 · 0.012
    # Weekday mornings: MAIN 3 : GOLD 1 : MORNING 2.
    morning, n = rotation_share(week, in_morning)
    assert n > 200
    assert abs(morning[MORNING] / n - 2 / 6) < 0.09
    assert abs(morning[MAIN] / n - 3 / 6) < 0.10
    # Nights: MAIN 3 : GOLD 1 : NIGHT 4.
    night, n = rotation_share(week, in_night)
    assert n > 250
    assert abs(night[NIGHT] / n - 4 / 8) < 0.09


def clock_slots(start: datetime, end: datetime, zone: ZoneInfo, minute: int) -> list[datetime]:
    """Every instant from `start` to `end` at which the wall clock in `zone` reads hh:minute,
    found by walking real time a minute at a time: so twice for the repeated hour when the
    clocks go back, never for the hour they skip, at UTC minutes of their own in zones
    whose offset is not whole hours."""
    at, until, slots = start.astimezone(UTC), end.astimezone(UTC), []
    while at < until:
        if at.astimezone(zone).minute == minute:
            slots.append(at)
        at += timedelta(minutes=1)
    return slots


def expected_clock_starts(plan: Plan, slots: list[datetime]) -> list[datetime]:
    """By the rule: for every slot, the first item boundary at or after it."""
    starts = [at for at, _ in plan]
    firsts = [starts[i] for slot in slots if (i := bisect_left(starts, slot)) < len(starts)]
    assert len(set(firsts)) == len(firsts), "two slots fell on one boundary"
    return firsts


def week_slots() -> list[datetime]:
    return clock_slots(START, END, BERLIN, TOP_MINUTE)


def test_the_hourly_item_plays_exactly_once_every_hour(week: Plan) -> None:
    clock = [at for at, p in week if p.reason == "clock"]
    assert all(p.playlist_id == TOP for _, p in week if p.reason == "clock")
    slots = week_slots()
    assert len(slots) == 7 * 24 - 1  # the night the clocks go forward has no 02:20
    assert clock == expected_clock_starts(week, slots)
    late = [at - slot for at, slot in zip(clock, slots, strict=True)]
    assert max(late) <= timedelta(minutes=10)  # songs of 2-7 minutes: within its window


def test_the_hourly_item_also_plays_when_a_song_crossed_the_minute(week: Plan) -> None:
    starts = [at for at, _ in week]
    crossed = 0
    for slot in week_slots():
        i = bisect_left(starts, slot)
        if starts[i] > slot:  # the item before it, started before the minute, ran over it
            assert week[i][1].reason == "clock", starts[i]
            crossed += 1
    assert crossed > 150  # nearly every hour: songs of 2-7 minutes rarely end on the minute


def test_the_hourly_item_keeps_the_wall_clock_where_the_offset_has_half_hours_and_goes_back() -> (
    None
):
    # Adelaide: UTC+10:30 until 03:00 on Sunday 6 April 2025, then UTC+9:30, so the wall
    # clock's hh:20 is hh:50 UTC, and 02:20 comes twice.
    adelaide = ZoneInfo("Australia/Adelaide")
    start = datetime(2025, 4, 5, 12, tzinfo=adelaide)
    end = datetime(2025, 4, 6, 12, tzinfo=adelaide)
    rules = Rules(adelaide, RULES.track_separation, RULES.artist_separation)
    plan = scheduler(rules).simulate(start, end, SchedulerState(), crossfade=CROSSFADE)
    slots = clock_slots(start, end, adelaide, TOP_MINUTE)
    assert len(slots) == 25
    assert [slot.astimezone(adelaide).hour for slot in slots].count(2) == 2
    clock = [at for at, p in plan if p.reason == "clock"]
    assert clock == expected_clock_starts(plan, slots)


def test_dayparts_start_and_stop_at_their_times(week: Plan) -> None:
    morning = [local(at) for at, p in week if p.playlist_id == MORNING]
    assert all(in_morning(t) for t in morning)
    assert {t.date().day for t in morning} == {24, 25, 26, 27, 28}  # weekdays only
    # A third of the rotation picks: each morning soon has one, and all five together
    # come close to both ends.
    firsts, lasts = [], []
    for day in sorted({t.date() for t in morning}):
        times = [t for t in morning if t.date() == day]
        firsts.append(min(times) - datetime.combine(day, time(6), BERLIN))
        lasts.append(datetime.combine(day, time(10), BERLIN) - max(times))
    assert max(firsts) < timedelta(hours=1)
    assert max(lasts) < timedelta(hours=1)
    assert min(firsts) < timedelta(minutes=10)
    assert min(lasts) < timedelta(minutes=10)
    night = [local(at) for at, p in week if p.playlist_id == NIGHT]
    assert all(in_night(t) for t in night)
    assert {t.date().day for t in night if t.time() >= time(23)} == set(range(24, 31))


def test_dayparts_follow_the_wall_clock_across_the_change_to_summer_time(week: Plan) -> None:
    # The night of Saturday to Sunday lasts 3 real hours: 23:00 CET to 03:00 CEST, that is
    # 22:00 to 01:00 UTC. Its songs play through to 01:00 UTC, and not one minute after.
    saturday_evening = datetime(2025, 3, 29, 21, tzinfo=UTC)
    dst_night = [
        at
        for at, p in week
        if p.playlist_id == NIGHT and saturday_evening < at < saturday_evening + timedelta(hours=6)
    ]
    assert min(dst_night) >= datetime(2025, 3, 29, 22, tzinfo=UTC)
    assert min(dst_night) < datetime(2025, 3, 29, 22, 45, tzinfo=UTC)
    assert max(dst_night) > datetime(2025, 3, 30, 0, 15, tzinfo=UTC)
    assert max(dst_night) < datetime(2025, 3, 30, 1, tzinfo=UTC)
    # Local hours on Sunday skip 02:00; the hourly item follows the local clock.
    sunday = [local(at).hour for at, p in week if p.reason == "clock" and local(at).day == 30]
    assert sunday == [0, 1, *range(3, 24)]


def test_no_track_and_no_artist_repeat_inside_their_windows(week: Plan) -> None:
    tracks = library()
    last_track: dict[int, datetime] = {}
    last_artist: dict[str, datetime] = {}
    for at, pick in week:
        if pick.is_jingle:
            continue
        if pick.track_id in last_track:
            assert at - last_track[pick.track_id] >= RULES.track_separation, pick
        for artist in split_artists(tracks[pick.track_id].artist):
            if artist in last_artist:
                assert at - last_artist[artist] >= RULES.artist_separation, (at, artist)
            last_artist[artist] = at
        last_track[pick.track_id] = at
    assert len(last_track) > 1500  # the week reached most of the library


def test_every_n_songs_plays_after_exactly_n_songs(week: Plan) -> None:
    songs_since = 0
    fired = 0
    for _, pick in week:
        if pick.playlist_id == JINGLES:
            assert pick.reason == "interval"
            assert pick.is_jingle
            assert songs_since == JINGLE_EVERY
            songs_since, fired = 0, fired + 1
        elif pick.reason == "rotation":
            songs_since += 1
            assert songs_since <= JINGLE_EVERY
    assert fired > 500


def test_every_n_minutes_plays_at_its_interval(week: Plan) -> None:
    fired = [at for at, p in week if p.playlist_id == IDS]
    assert all(p.reason == "interval" for _, p in week if p.playlist_id == IDS)
    gaps = [b - a for a, b in itertools.pairwise(fired)]
    interval = timedelta(minutes=ID_EVERY_MINUTES)
    # The first pick once the interval has passed: at most a song and two jingles later.
    assert all(interval <= gap <= interval + timedelta(minutes=8) for gap in gaps)
    assert len(fired) > 7 * 24 * 60 / (ID_EVERY_MINUTES + 8)


def test_precedence_clock_then_interval_then_rotation(week: Plan) -> None:
    clock_due = set(expected_clock_starts(week, week_slots()))
    songs_since_jingle = 0
    both_due = 0
    for at, pick in week:
        assert (pick.reason == "clock") == (at in clock_due), at
        interval_due = songs_since_jingle >= JINGLE_EVERY
        if interval_due and at not in clock_due:
            assert pick.reason == "interval", at
        both_due += interval_due and at in clock_due
        if pick.playlist_id == JINGLES:
            songs_since_jingle = 0
        elif pick.reason == "rotation":
            songs_since_jingle += 1
    assert both_due > 10  # the case happened, and the jingle still played (see above)


def test_a_simulation_resumed_from_saved_state_continues_identically(week: Plan) -> None:
    state = SchedulerState()
    first = scheduler().simulate(START, START + timedelta(days=3, hours=5), state, CROSSFADE)
    saved = json.dumps(state.to_json())
    last_at, last = first[-1]
    resume_at = last_at + timedelta(seconds=library()[last.track_id].duration - CROSSFADE)
    restored = SchedulerState.from_json(json.loads(saved))
    assert restored == state
    rest = scheduler().simulate(resume_at, END, restored, CROSSFADE)  # a new process, in effect
    assert first + rest == week
