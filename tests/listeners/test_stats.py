"""Hosts' listener statistics with plain datetimes: who counts, the chart, gains and losses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.listeners.stats import (
    Audience,
    Connection,
    Played,
    gainers_and_losers,
    history,
    presence,
    step_for,
    track_changes,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-27 {text}").replace(tzinfo=UTC)


def connection(start: str, end: str | None, listener: str | None = None) -> Connection:
    return Connection(listener, at(start), at(end) if end else None)


def song(
    start: str, title: str, seconds: float | None = 600, track_id: int | None = None
) -> Played:
    return Played("music", track_id, "Artist", title, at(start), seconds)


NOW = at("12:00")


def audience(*connections: Connection) -> Audience:
    return Audience(presence(connections, NOW))


def test_two_tabs_of_one_browser_count_once() -> None:
    listeners = audience(connection("10:00", "11:00", "ann"), connection("10:30", "11:30", "ann"))

    assert listeners.at(at("10:45")) == 1
    assert listeners.at(at("11:15")) == 1


def test_anonymous_players_each_count() -> None:
    listeners = audience(connection("10:00", "11:00"), connection("10:30", "11:30"))

    assert listeners.at(at("10:45")) == 2


def test_an_open_session_counts_until_now() -> None:
    listeners = audience(connection("11:00", None, "ann"))

    assert listeners.at(at("11:59")) == 1
    assert listeners.at(NOW) == 0


def test_a_listener_is_there_from_joining_until_leaving() -> None:
    listeners = audience(connection("10:00", "10:10"))

    assert [listeners.at(at(t)) for t in ("09:59", "10:00", "10:09:59", "10:10")] == [0, 1, 1, 0]


def test_the_chart_shows_the_peak_of_each_bucket() -> None:
    intervals = presence([connection("10:01", "10:02"), connection("10:01:30", "10:03"),
                          connection("10:07", "10:20", "ann")], NOW)  # fmt: skip

    points = history(intervals, at("10:00"), at("10:20"), 300)

    assert [(p.at, p.listeners) for p in points] == [
        (at("10:00"), 2), (at("10:05"), 1), (at("10:10"), 1), (at("10:15"), 1),
    ]  # fmt: skip


def test_a_hand_over_at_one_moment_is_not_two_listeners() -> None:
    intervals = presence([connection("10:00", "10:02"), connection("10:02", "10:04")], NOW)

    assert [p.listeners for p in history(intervals, at("10:00"), at("10:05"), 300)] == [1]


def test_buckets_are_aligned_so_a_redrawn_chart_keeps_them() -> None:
    intervals = presence([connection("10:00", "11:00")], NOW)

    points = history(intervals, at("10:02:17"), at("10:12:17"), 300)

    assert [p.at for p in points] == [at("10:00"), at("10:05"), at("10:10")]


def test_listeners_who_left_before_the_chart_do_not_show() -> None:
    intervals = presence([connection("08:00", "09:00"), connection("10:30", None)], NOW)

    points = history(intervals, at("10:00"), NOW, 3600)

    assert [p.listeners for p in points] == [1, 1]


def test_steps_for_a_day_and_a_week() -> None:
    assert step_for(timedelta(hours=24)) == 300
    assert step_for(timedelta(days=7)) == 3600
    assert step_for(timedelta(hours=1)) == 60
    assert 168 <= len(history([], NOW - timedelta(days=7), NOW, 3600)) <= 169
    assert 288 <= len(history([], NOW - timedelta(hours=24), NOW, 300)) <= 289


def test_a_track_that_brings_listeners_gains_and_one_that_drives_them_away_loses() -> None:
    listeners = audience(
        connection("10:00", "11:00"),  # there all along
        connection("10:05", "11:00"),  # joins during the hit
        connection("10:00", "10:15"),  # leaves during the flop
    )
    plays = [song("10:00", "Hit", track_id=1), song("10:10", "Flop", track_id=2),
             song("10:20", "Filler", track_id=3)]  # fmt: skip

    changes = {c.title: c for c in track_changes(plays, listeners, NOW)}

    assert (changes["Hit"].change, changes["Flop"].change, changes["Filler"].change) == (1, -1, 0)
    gainers, losers = gainers_and_losers(changes.values(), 10)
    assert [c.title for c in gainers] == ["Hit"]
    assert [c.title for c in losers] == ["Flop"]


def test_plays_of_one_track_add_up() -> None:
    listeners = audience(connection("10:05", "11:00"), connection("10:25", "11:00"))
    plays = [song("10:00", "Hit", 600, 1), song("10:20", "Hit", 600, 1), song("10:40", "Other", 60)]

    (hit,) = [c for c in track_changes(plays, listeners, NOW) if c.title == "Hit"]

    assert (hit.plays, hit.change, hit.average_change) == (2, 2, 1.0)


def test_a_play_ends_at_the_next_item_or_its_own_end() -> None:
    # The station stopped after "Last": the next play is a day's gap later.
    listeners = audience(connection("10:00", "10:30"))
    plays = [song("10:00", "Cut", 600), Played("jingle", None, "", "Jingle", at("10:05"), 5),
             song("10:06", "Last", 60), song("11:00", "Later", 60)]  # fmt: skip

    changes = {c.title: c.change for c in track_changes(plays, listeners, NOW)}

    assert changes == {"Cut": 0, "Last": 0, "Later": 0}


def test_a_play_still_on_air_is_not_counted_yet() -> None:
    plays = [song("11:55", "On air", 600)]

    assert track_changes(plays, audience(connection("11:00", None)), NOW) == []


def test_tracks_without_a_library_id_are_told_apart_by_name() -> None:
    listeners = audience(connection("10:05", "11:00"))
    plays = [song("10:00", "Gone A", 600), song("10:20", "Gone B", 600)]

    changes = {c.title: c.change for c in track_changes(plays, listeners, NOW)}

    assert changes == {"Gone A": 1, "Gone B": 0}


def test_the_lists_are_limited_biggest_change_first() -> None:
    listeners = audience(*[connection(f"10:{m:02d}", "11:00") for m in (1, 11, 12, 21, 22, 23)])
    plays = [song("10:00", "One", 600, 1), song("10:10", "Two", 600, 2),
             song("10:20", "Three", 600, 3), song("10:30", "None", 60, 4)]  # fmt: skip

    gainers, losers = gainers_and_losers(track_changes(plays, listeners, NOW), 2)

    assert [c.title for c in gainers] == ["Three", "Two"]
    assert losers == []
