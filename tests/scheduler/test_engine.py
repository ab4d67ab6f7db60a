"""The scheduler engine, rule by rule, on a fake clock."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.models import PlaylistOrder, PlaylistRule
from app.scheduler.engine import (
    Daypart,
    Pick,
    PlaylistInfo,
    Precedence,
    Rules,
    Scheduler,
    SchedulerState,
    TrackInfo,
)
from app.scheduler.rules import Context, Moment
from app.scheduler.separation import split_artists

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2025, 3, 24, 0, 0, tzinfo=BERLIN)
NO_SEPARATION = Rules(BERLIN, timedelta(0), timedelta(0))


def songs(first: int, count: int, seconds: float = 180.0, artists: int = 0) -> dict[int, TrackInfo]:
    """`count` songs from id `first`; each its own artist unless `artists` > 0."""
    return {
        i: TrackInfo(i, f"Artist {i % artists if artists else i}", f"Song {i}", seconds)
        for i in range(first, first + count)
    }


def jingles(first: int, count: int, seconds: float = 10.0) -> dict[int, TrackInfo]:
    return {
        i: TrackInfo(i, "Station", f"Jingle {i}", seconds, True)
        for i in range(first, first + count)
    }


def rotation(
    id_: int, ids: range | list[int], order: PlaylistOrder = PlaylistOrder.shuffle, **fields: object
) -> PlaylistInfo:
    return PlaylistInfo(
        id_, f"P{id_}", PlaylistRule.rotation, order, track_ids=tuple(ids), **fields
    )  # type: ignore[arg-type]


def ids_of(plan: list[tuple[datetime, Pick]]) -> list[int]:
    return [pick.track_id for _, pick in plan]


def step(scheduler: Scheduler, state: SchedulerState, at: datetime, count: int) -> list[Pick]:
    picks = []
    for _ in range(count):
        pick = scheduler.next(at, state)
        assert pick is not None
        picks.append(pick)
        at += timedelta(seconds=scheduler.duration(pick))
    return picks


# --- artists ---------------------------------------------------------------------------------


def test_artist_credits_split_on_feat_and_commas_and_vs_case_insensitively() -> None:
    assert split_artists("Alpha feat. Beta & Gamma, Delta vs. Epsilon") == {
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
    }
    assert split_artists("  alpha FEAT. BETA ") == {"alpha", "beta"}
    assert split_artists("Alpha ft. Beta") == {"alpha", "beta"}
    assert split_artists("Simon and Garfunkel") == {"simon and garfunkel"}
    assert split_artists("Featherweight") == {"featherweight"}
    assert split_artists("") == frozenset()


# --- orders ----------------------------------------------------------------------------------


def test_shuffle_plays_every_track_once_per_round_and_never_twice_in_a_row() -> None:
    tracks = songs(1, 7)
    scheduler = Scheduler(tracks, [rotation(1, range(1, 8))], NO_SEPARATION, seed=3)
    played = ids_of(scheduler.simulate(MONDAY, MONDAY + timedelta(hours=7), SchedulerState()))
    rounds = [played[i : i + 7] for i in range(0, 133, 7)]
    assert all(sorted(r) == list(range(1, 8)) for r in rounds)
    assert all(a != b for a, b in itertools.pairwise(played))


def test_sequential_continues_where_it_left_off_also_after_a_restart() -> None:
    tracks = songs(1, 5)
    playlists = [rotation(1, [3, 1, 5, 2, 4], PlaylistOrder.sequential)]
    state = SchedulerState()
    first = ids_of(
        Scheduler(tracks, playlists, NO_SEPARATION).simulate(
            MONDAY, MONDAY + timedelta(minutes=7), state
        )
    )
    assert first == [3, 1, 5]
    restored = SchedulerState.from_json(json.loads(json.dumps(state.to_json())))
    later = MONDAY + timedelta(hours=1)
    again = Scheduler(tracks, playlists, NO_SEPARATION).simulate(
        later, later + timedelta(minutes=12), restored
    )
    assert ids_of(again) == [2, 4, 3, 1]


def test_random_order_draws_only_from_its_playlist_and_reaches_all_of_it() -> None:
    tracks = songs(1, 20)
    scheduler = Scheduler(tracks, [rotation(1, range(1, 11), PlaylistOrder.random)], NO_SEPARATION)
    played = ids_of(scheduler.simulate(MONDAY, MONDAY + timedelta(hours=10), SchedulerState()))
    assert set(played) == set(range(1, 11))
    # Random, not a shuffle: some track plays again before all the others have.
    assert any(len(set(played[i : i + 10])) < 10 for i in range(len(played) - 10))


def test_weights_share_the_rotation_between_playlists() -> None:
    tracks = songs(1, 200)
    playlists = [rotation(1, range(1, 101), weight=3), rotation(2, range(101, 201), weight=1)]
    plan = Scheduler(tracks, playlists, NO_SEPARATION, seed=5).simulate(
        MONDAY, MONDAY + timedelta(days=4), SchedulerState()
    )
    share = Counter(pick.playlist_id for _, pick in plan)[1] / len(plan)
    assert len(plan) == 1920
    assert 0.72 < share < 0.78  # 0.75 ± 3 standard deviations (0.0099)


def test_a_playlist_of_weight_zero_never_plays_in_rotation() -> None:
    tracks = songs(1, 20)
    playlists = [rotation(1, range(1, 11)), rotation(2, range(11, 21), weight=0)]
    plan = Scheduler(tracks, playlists, NO_SEPARATION).simulate(
        MONDAY, MONDAY + timedelta(hours=5), SchedulerState()
    )
    assert {pick.playlist_id for _, pick in plan} == {1}


# --- intervals -------------------------------------------------------------------------------


def test_every_songs_plays_one_jingle_after_every_n_songs_counting_host_songs() -> None:
    tracks = {**songs(1, 30), **jingles(100, 2)}
    jingle = PlaylistInfo(
        9,
        "Jingles",
        PlaylistRule.every_songs,
        PlaylistOrder.shuffle,
        every=3,
        track_ids=(100, 101),
        is_jingle=True,
    )
    scheduler = Scheduler(tracks, [rotation(1, range(1, 31)), jingle], NO_SEPARATION)
    state = SchedulerState()
    picks = step(scheduler, state, MONDAY, 8)
    assert [p.reason for p in picks] == ["rotation"] * 3 + ["interval"] + ["rotation"] * 3 + [
        "interval"
    ]
    assert all(p.is_jingle == (p.reason == "interval") for p in picks)
    # Two songs a host queued count too; a jingle a host queued does not.
    at = MONDAY + timedelta(hours=1)
    scheduler.record(at, 5, state)
    scheduler.record(at + timedelta(minutes=3), 100, state)
    scheduler.record(at + timedelta(minutes=4), 6, state)
    assert [p.reason for p in step(scheduler, state, at + timedelta(minutes=7), 2)] == [
        "rotation",
        "interval",
    ]


def test_every_minutes_fires_once_the_minutes_have_passed() -> None:
    tracks = {**songs(1, 40, seconds=240), **jingles(100, 1)}
    ident = PlaylistInfo(
        9,
        "ID",
        PlaylistRule.every_minutes,
        PlaylistOrder.shuffle,
        every=10,
        track_ids=(100,),
        is_jingle=True,
    )
    scheduler = Scheduler(tracks, [rotation(1, range(1, 41)), ident], NO_SEPARATION)
    plan = scheduler.simulate(MONDAY, MONDAY + timedelta(hours=1), SchedulerState())
    fired = [at - MONDAY for at, pick in plan if pick.reason == "interval"]
    # Songs start at 0, 4, 8, 12 min: the first pick 10 minutes after the start is at 12.
    assert fired[:3] == [
        timedelta(minutes=12),
        timedelta(minutes=24, seconds=10),
        timedelta(minutes=36, seconds=20),
    ]


def test_an_interval_playlist_of_every_zero_never_fires() -> None:
    tracks = {**songs(1, 10), **jingles(100, 1)}
    never = PlaylistInfo(
        9, "J", PlaylistRule.every_songs, PlaylistOrder.shuffle, every=0, track_ids=(100,)
    )
    plan = Scheduler(tracks, [rotation(1, range(1, 11)), never], NO_SEPARATION).simulate(
        MONDAY, MONDAY + timedelta(hours=2), SchedulerState()
    )
    assert {pick.reason for _, pick in plan} == {"rotation"}


# --- the clock -------------------------------------------------------------------------------


def hourly_scheduler(tracks: dict[int, TrackInfo], minute: int = 0, window: int = 10) -> Scheduler:
    top = PlaylistInfo(
        8,
        "Top",
        PlaylistRule.hourly,
        PlaylistOrder.shuffle,
        minute=minute,
        window_minutes=window,
        track_ids=(100,),
        is_jingle=True,
    )
    music = [i for i in tracks if i < 100]
    return Scheduler({**tracks, **jingles(100, 1)}, [rotation(1, music), top], NO_SEPARATION)


def test_hourly_fires_after_a_song_that_crossed_the_minute_within_the_window() -> None:
    scheduler = hourly_scheduler(songs(1, 10, seconds=300))
    state = SchedulerState()
    assert scheduler.next(MONDAY.replace(hour=10, minute=58), state).reason == "rotation"  # type: ignore[union-attr]
    assert scheduler.due_clock(MONDAY.replace(hour=11, minute=3), state)
    assert scheduler.next(MONDAY.replace(hour=11, minute=3), state).reason == "clock"  # type: ignore[union-attr]
    # Never twice in the same hour.
    assert not scheduler.due_clock(MONDAY.replace(hour=11, minute=4), state)
    assert scheduler.next(MONDAY.replace(hour=11, minute=4), state).reason == "rotation"  # type: ignore[union-attr]


def test_a_fresh_station_opens_with_a_song_and_the_clock_item_due_then_follows_it() -> None:
    scheduler = hourly_scheduler(songs(1, 10, seconds=180))
    state = SchedulerState()
    top = MONDAY.replace(hour=11, minute=2)  # the top-of-the-hour item is due at the start
    first = scheduler.next(top, state)
    second = scheduler.next(top + timedelta(minutes=3), state)
    assert (first.reason, second.reason) == ("rotation", "clock")  # type: ignore[union-attr]
    # With nothing else to play, the clock item opens the station all the same.
    only_clock = hourly_scheduler({})
    assert only_clock.next(top, SchedulerState()).reason == "clock"  # type: ignore[union-attr]


def test_hourly_is_not_skipped_when_an_item_longer_than_the_window_overran_the_minute() -> None:
    scheduler = hourly_scheduler({1: TrackInfo(1, "DJ", "Mix", 25 * 60), **songs(2, 5)})
    state = SchedulerState()
    scheduler.record(MONDAY.replace(hour=10, minute=50), 1, state)  # a host's 25-minute mix
    after = MONDAY.replace(hour=11, minute=15)
    assert scheduler.due_clock(after, state)
    assert scheduler.next(after, state).reason == "clock"  # type: ignore[union-attr]


def test_hourly_does_not_fire_late_after_a_gap_in_the_programme() -> None:
    scheduler = hourly_scheduler(songs(1, 5))
    state = SchedulerState()
    scheduler.next(MONDAY.replace(hour=10, minute=50), state)  # ends 10:53; then off air
    assert scheduler.next(MONDAY.replace(hour=11, minute=30), state).reason == "rotation"  # type: ignore[union-attr]
    # The next hour fires as usual.
    assert scheduler.next(MONDAY.replace(hour=12, minute=0), state).reason == "clock"  # type: ignore[union-attr]


def test_hourly_window_runs_across_the_hour_boundary() -> None:
    scheduler = hourly_scheduler(songs(1, 5), minute=57, window=10)
    state = SchedulerState()
    scheduler.next(MONDAY.replace(hour=10, minute=55), state)  # crosses 10:57, ends 10:58
    assert scheduler.next(MONDAY.replace(hour=11, minute=3), state).reason == "clock"  # type: ignore[union-attr]


def test_hourly_fires_once_per_real_hour_when_the_clocks_go_back() -> None:
    scheduler = hourly_scheduler(songs(1, 60, seconds=200))
    day = datetime(2025, 10, 26, tzinfo=BERLIN)  # 25 hours: 02:00-03:00 twice
    plan = scheduler.simulate(day, datetime(2025, 10, 27, tzinfo=BERLIN), SchedulerState())
    clock = [at for at, pick in plan if pick.reason == "clock"]
    assert len(clock) == 25
    assert [at.astimezone(BERLIN).hour for at in clock].count(2) == 2


def test_due_clock_does_not_change_the_state() -> None:
    scheduler = hourly_scheduler(songs(1, 5))
    state = SchedulerState()
    scheduler.next(MONDAY.replace(hour=10, minute=58), state)
    before = state.to_json()
    assert scheduler.due_clock(MONDAY.replace(hour=11, minute=1), state)
    assert state.to_json() == before


# --- precedence ------------------------------------------------------------------------------


def test_clock_goes_before_interval_before_rotation_and_neither_crowds_out_the_other() -> None:
    tracks = {**songs(1, 10), **jingles(100, 1), **jingles(200, 1)}
    jingle = PlaylistInfo(
        9,
        "J",
        PlaylistRule.every_songs,
        PlaylistOrder.shuffle,
        every=1,
        track_ids=(100,),
        is_jingle=True,
    )
    top = PlaylistInfo(
        8,
        "Top",
        PlaylistRule.hourly,
        PlaylistOrder.shuffle,
        minute=0,
        track_ids=(200,),
        is_jingle=True,
    )
    scheduler = Scheduler(tracks, [rotation(1, range(1, 11)), jingle, top], NO_SEPARATION)
    state = SchedulerState()
    scheduler.next(MONDAY.replace(hour=10, minute=59), state)  # a song: the jingle is due next
    picks = step(scheduler, state, MONDAY.replace(hour=11, minute=2), 3)
    assert [(p.reason, p.track_id) for p in picks][:2] == [("clock", 200), ("interval", 100)]
    assert picks[2].reason == "rotation"


@dataclass(frozen=True)
class Bulletin:
    """A rule of another kind, as the news desk will add: every pick at minute 30."""

    key: str = "news"
    precedence: Precedence = Precedence.CLOCK

    def due(self, now: Moment, state: SchedulerState) -> bool:
        hour = now.ts // 3600
        return now.local.minute == 30 and state.rules.get(self.key, {}).get("hour") != hour

    def fire(self, now: Moment, context: Context) -> Pick | None:
        context.state.rules.setdefault(self.key, {})["hour"] = now.ts // 3600
        return Pick(track_id=0, playlist_id=None, reason="clock", kind="bulletin")


def test_other_kinds_of_items_join_as_rules_with_their_precedence() -> None:
    tracks = {**songs(1, 10), **jingles(100, 1)}
    jingle = PlaylistInfo(
        9,
        "J",
        PlaylistRule.every_songs,
        PlaylistOrder.shuffle,
        every=1,
        track_ids=(100,),
        is_jingle=True,
    )
    scheduler = Scheduler(
        tracks, [rotation(1, range(1, 11)), jingle], NO_SEPARATION, extra_rules=[Bulletin()]
    )
    state = SchedulerState()
    scheduler.next(MONDAY.replace(hour=9, minute=27), state)
    assert scheduler.due_clock(MONDAY.replace(hour=9, minute=30), state)
    pick = scheduler.next(MONDAY.replace(hour=9, minute=30), state)
    assert pick is not None
    assert pick.kind == "bulletin"
    assert scheduler.next(MONDAY.replace(hour=9, minute=30, second=5), state).reason == "interval"  # type: ignore[union-attr]


# --- dayparts --------------------------------------------------------------------------------


def test_a_daypart_past_midnight_belongs_to_the_day_it_starts() -> None:
    friday_night = Daypart(frozenset({4}), time(22, 0), time(2, 0))
    assert friday_night.contains(datetime(2025, 3, 28, 22, 0, tzinfo=BERLIN))
    assert friday_night.contains(datetime(2025, 3, 29, 1, 59, tzinfo=BERLIN))
    assert not friday_night.contains(datetime(2025, 3, 29, 2, 0, tzinfo=BERLIN))
    assert not friday_night.contains(datetime(2025, 3, 28, 21, 59, tzinfo=BERLIN))
    assert not friday_night.contains(datetime(2025, 3, 29, 22, 30, tzinfo=BERLIN))  # Saturday


def test_dayparts_follow_the_wall_clock_across_the_change_to_summer_time() -> None:
    tracks = songs(1, 40, seconds=300)
    morning = rotation(
        2, range(21, 41), dayparts=(Daypart(frozenset(range(7)), time(6), time(10)),)
    )
    scheduler = Scheduler(tracks, [rotation(1, range(1, 21), weight=1), morning], NO_SEPARATION)
    for day in (datetime(2025, 3, 29, tzinfo=BERLIN), datetime(2025, 3, 30, tzinfo=BERLIN)):
        plan = scheduler.simulate(day, day + timedelta(days=1), SchedulerState())
        local = [at.astimezone(BERLIN) for at, pick in plan if pick.playlist_id == 2]
        assert all(time(6) <= t.time() < time(10) for t in local)
        assert local[0].time() < time(6, 20)
        assert local[-1].time() >= time(9, 40)


def test_rotation_outside_every_daypart_falls_back_to_all_rotation_playlists() -> None:
    tracks = songs(1, 10)
    only_mornings = rotation(
        1, range(1, 11), dayparts=(Daypart(frozenset(range(7)), time(6), time(10)),)
    )
    scheduler = Scheduler(tracks, [only_mornings], NO_SEPARATION)
    pick = scheduler.next(MONDAY.replace(hour=12), SchedulerState())
    assert pick is not None
    assert pick.reason == "fallback"


# --- separation ------------------------------------------------------------------------------


def test_no_artist_again_within_the_window_while_another_qualifies() -> None:
    tracks = {
        i: TrackInfo(i, ["Alpha", "Beta feat. Alpha", "Gamma", "Delta"][i % 4], f"S{i}", 180)
        for i in range(40)
    }
    rules = Rules(BERLIN, timedelta(0), timedelta(minutes=5))
    plan = Scheduler(tracks, [rotation(1, range(40))], rules).simulate(
        MONDAY, MONDAY + timedelta(hours=3), SchedulerState()
    )
    assert all(pick.reason == "rotation" for _, pick in plan)
    for (t1, a), (t2, b) in itertools.pairwise(plan):
        assert not split_artists(tracks[a.track_id].artist) & split_artists(
            tracks[b.track_id].artist
        ), (t1, t2)


def test_when_nothing_qualifies_the_least_recently_played_plays() -> None:
    tracks = songs(1, 3)
    rules = Rules(BERLIN, timedelta(hours=3), timedelta(0))
    scheduler = Scheduler(tracks, [rotation(1, [1, 2, 3], PlaylistOrder.sequential)], rules)
    picks = step(scheduler, SchedulerState(), MONDAY, 6)
    assert [p.track_id for p in picks] == [1, 2, 3, 1, 2, 3]
    assert [p.reason for p in picks] == ["rotation"] * 3 + ["fallback"] * 3


def test_a_host_play_counts_for_separation() -> None:
    tracks = songs(1, 10)
    rules = Rules(BERLIN, timedelta(hours=3), timedelta(0))
    scheduler = Scheduler(tracks, [rotation(1, range(1, 11), PlaylistOrder.sequential)], rules)
    state = SchedulerState()
    scheduler.record(MONDAY, 1, state)
    picks = step(scheduler, state, MONDAY + timedelta(minutes=3), 9)
    assert 1 not in [p.track_id for p in picks]


# --- state and edges -------------------------------------------------------------------------


def test_nothing_to_play_gives_none() -> None:
    assert Scheduler({}, [], NO_SEPARATION).next(MONDAY, SchedulerState()) is None
    empty = Scheduler(songs(1, 2), [rotation(1, [99])], NO_SEPARATION)  # unknown tracks only
    assert empty.simulate(MONDAY, MONDAY + timedelta(hours=1), SchedulerState()) == []


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Scheduler(songs(1, 2), [rotation(1, [1, 2])], NO_SEPARATION).next(
            datetime(2025, 1, 1), SchedulerState()
        )


def test_an_empty_saved_state_is_a_fresh_one() -> None:
    assert SchedulerState.from_json({}) == SchedulerState()
    assert SchedulerState.from_json({"version": 999, "picks": 5}) == SchedulerState()


def test_simulation_times_are_utc_and_move_by_duration_less_crossfade() -> None:
    plan = Scheduler(songs(1, 3, seconds=100), [rotation(1, [1, 2, 3])], NO_SEPARATION).simulate(
        MONDAY, MONDAY + timedelta(minutes=5), SchedulerState(), crossfade=2.0
    )
    assert [at for at, _ in plan] == [
        MONDAY.astimezone(UTC) + timedelta(seconds=98 * i) for i in range(4)
    ]
