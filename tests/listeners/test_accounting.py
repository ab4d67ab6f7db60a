"""Listening-time accounting with a fixed clock: what counts, what is merged, which week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.listeners.accounting import Session, merge, rank, totals, week_start

BERLIN = "Europe/Berlin"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def session(start: str, end: str | None, listener: str = "a") -> Session:
    return Session(listener, at(start), at(end) if end else None)


NOW = at("2026-11-27 12:00")  # a Friday


def test_two_overlapping_tabs_count_once() -> None:
    result = totals(
        [
            session("2026-11-27 10:00", "2026-11-27 11:00"),
            session("2026-11-27 10:30", "2026-11-27 11:30"),
        ],
        NOW,
        "UTC",
    )
    assert result["a"].all_time == 90 * 60


def test_touching_sessions_merge_and_gaps_do_not_count() -> None:
    merged = merge(
        [
            (at("2026-11-27 10:00"), at("2026-11-27 10:10")),
            (at("2026-11-27 10:10"), at("2026-11-27 10:20")),
            (at("2026-11-27 11:00"), at("2026-11-27 11:05")),
        ]
    )
    assert merged == [
        (at("2026-11-27 10:00"), at("2026-11-27 10:20")),
        (at("2026-11-27 11:00"), at("2026-11-27 11:05")),
    ]


def test_sessions_under_the_minimum_are_ignored_before_merging() -> None:
    # Many 20 s reconnects end to end would merge into minutes; each is dropped on its own.
    start = at("2026-11-27 10:00")
    flurry = [
        Session("a", start + timedelta(seconds=20 * i), start + timedelta(seconds=20 * (i + 1)))
        for i in range(10)
    ]
    assert "a" not in totals(flurry, NOW, "UTC")
    exactly = [session("2026-11-27 10:00:00", "2026-11-27 10:00:30")]
    assert totals(exactly, NOW, "UTC")["a"].all_time == 30


def test_the_minimum_is_a_parameter() -> None:
    short = [session("2026-11-27 10:00:00", "2026-11-27 10:00:03")]
    assert "a" not in totals(short, NOW, "UTC")
    assert totals(short, NOW, "UTC", min_seconds=2)["a"].all_time == 3


def test_an_open_session_counts_up_to_now() -> None:
    result = totals([session("2026-11-27 11:15", None)], NOW, "UTC")
    assert result["a"].all_time == 45 * 60
    assert result["a"].week == 45 * 60
    just_started = totals([session("2026-11-27 11:59:50", None)], NOW, "UTC")
    assert just_started == {}


def test_listeners_are_counted_apart() -> None:
    result = totals(
        [
            session("2026-11-27 10:00", "2026-11-27 11:00", "a"),
            session("2026-11-27 10:00", "2026-11-27 10:30", "b"),
        ],
        NOW,
        "UTC",
    )
    assert (result["a"].all_time, result["b"].all_time) == (3600, 1800)


def test_week_starts_on_monday_midnight_station_time() -> None:
    # Winter: Berlin is UTC+1, so its Monday 00:00 is Sunday 23:00 UTC.
    assert week_start(NOW, BERLIN) == at("2026-11-22 23:00")
    assert week_start(NOW, "UTC") == at("2026-11-23 00:00")
    straddling = [session("2026-11-22 22:00", "2026-11-23 01:00")]
    berlin = totals(straddling, NOW, BERLIN)["a"]
    assert (berlin.week, berlin.all_time) == (2 * 3600, 3 * 3600)
    assert totals(straddling, NOW, "UTC")["a"].week == 3600


def test_last_week_does_not_count_this_week() -> None:
    result = totals([session("2026-11-20 10:00", "2026-11-20 12:00")], NOW, BERLIN)["a"]
    assert (result.week, result.all_time) == (0, 2 * 3600)


def test_the_week_after_clocks_go_forward_starts_at_summer_midnight() -> None:
    # Clocks went forward on Sunday 29 March 2026; Monday 00:00 CEST is 22:00 UTC Sunday.
    now = at("2026-03-30 12:00")
    assert week_start(now, BERLIN) == at("2026-03-29 22:00")
    result = totals([session("2026-03-29 21:00", "2026-03-29 23:00")], now, BERLIN)["a"]
    assert (result.week, result.all_time) == (3600, 2 * 3600)


def test_a_week_with_a_dst_change_is_an_hour_short() -> None:
    # Monday 00:00 CET (23:00 UTC Sunday) to Sunday 23:00 CEST is 167 wall-clock hours
    # but only 166 real ones: time is measured, not read off the wall clock.
    now = at("2026-03-29 21:30")
    assert week_start(now, BERLIN) == at("2026-03-22 23:00")
    result = totals([session("2026-03-22 20:00", "2026-03-29 21:00")], now, BERLIN)["a"]
    assert result.week == 166 * 3600
    assert result.all_time == 169 * 3600


def test_clocks_going_back_make_a_long_week() -> None:
    # 25 October 2026: Monday 19 October 00:00 CEST is 22:00 UTC on the 18th.
    now = at("2026-10-25 22:30")  # Sunday 23:30 CET
    assert week_start(now, BERLIN) == at("2026-10-18 22:00")
    result = totals([session("2026-10-18 22:00", None)], now, BERLIN)["a"]
    assert result.week == (7 * 24 + 1) * 3600 - 30 * 60


def test_naive_times_are_read_as_utc() -> None:
    naive = Session("a", datetime(2026, 11, 27, 11, 0), datetime(2026, 11, 27, 11, 30))
    assert totals([naive], NOW, BERLIN)["a"].all_time == 1800


def test_rank_most_first_with_shared_ranks() -> None:
    ranked = rank({"a": 10.0, "b": 30.0, "c": 10.0, "d": 5.0, "e": 0.0})
    assert [(r.rank, r.listener) for r in ranked] == [(1, "b"), (2, "a"), (2, "c"), (4, "d")]
