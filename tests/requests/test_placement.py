"""Where a request goes in the queue (app/scheduler/requests.place) and when a track may not
be requested (refusal_for_track): pure functions, on times made by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.scheduler.requests import Slot, place, refusal_for_track

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
GAP = timedelta(minutes=30)


def queue(*entries: tuple[str, bool]) -> tuple[list[Slot], datetime]:
    """Four-minute entries from T0: (artist, is a request)."""
    slots = [Slot(T0 + timedelta(minutes=4 * i), frozenset({a}) if a else frozenset(), r)
             for i, (a, r) in enumerate(entries)]  # fmt: skip
    return slots, T0 + timedelta(minutes=4 * len(entries))


def test_a_request_goes_next_when_nothing_is_in_its_way() -> None:
    slots, end = queue(("a", False), ("b", False), ("c", False))
    assert place(slots, end, frozenset({"x"}), {}, GAP) == 0


def test_a_request_waits_behind_the_requests_already_waiting() -> None:
    slots, end = queue(("a", True), ("b", False), ("c", True), ("d", False))
    assert place(slots, end, frozenset({"x"}), {}, GAP) == 3


def test_a_request_keeps_the_artist_separation_with_the_queue() -> None:
    # Artist "x" is queued at 14:04: the request goes 30 minutes away from it, or nowhere.
    slots, end = queue(*[("x" if i == 1 else f"a{i}", False) for i in range(12)])
    position = place(slots, end, frozenset({"x"}), {}, GAP)
    assert position == 9  # 14:36, the first start at least 30 minutes after 14:04
    short, short_end = queue(("a", False), ("x", False), ("b", False))
    assert place(short, short_end, frozenset({"x"}), {}, GAP) is None


def test_a_request_keeps_the_artist_separation_with_what_aired() -> None:
    slots, end = queue(*[(f"a{i}", False) for i in range(10)])
    aired = {"x": T0 - timedelta(minutes=10)}  # 13:50: free from 14:20
    assert place(slots, end, frozenset({"x"}), aired, GAP) == 5
    assert place(slots, end, frozenset({"x", "y"}), {"y": T0 - timedelta(minutes=10)}, GAP) == 5
    assert place(slots, end, frozenset({"x", "y"}), {"y": T0 - GAP}, GAP) == 0
    jingle = [Slot(T0, frozenset(), False)]
    assert place(jingle, T0 + timedelta(seconds=10), frozenset({"x"}), {}, GAP) == 0


def test_a_track_is_refused_while_it_played_within_the_window_or_is_queued() -> None:
    gap = timedelta(hours=3)
    played = refusal_for_track("Song", T0 - timedelta(hours=1), None, False, T0, gap)
    assert played == "“Song” played at 13:00; it can be requested again from 16:00."
    assert refusal_for_track("Song", T0 - timedelta(hours=2, minutes=59), None, False, T0, gap)
    assert refusal_for_track("Song", T0 - gap, None, False, T0, gap) is None
    queued = refusal_for_track("Song", None, T0 + timedelta(minutes=8), False, T0, gap)
    assert queued == "“Song” is coming up anyway, at about 14:08."
    requested = refusal_for_track("Song", None, T0 + timedelta(minutes=8), True, T0, gap)
    assert requested == "“Song” has been requested already: it plays at about 14:08."
