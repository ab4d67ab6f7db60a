"""The problem list: one log line per fault however often it is met, bounded in size."""

from __future__ import annotations

import logging

import pytest

from app.problems import Problems


def test_a_fault_met_again_and_again_is_logged_once_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problems = Problems()
    with caplog.at_level(logging.INFO, logger="app.problems"):
        assert problems.report("database", "The scheduler cannot ask", "database is locked")
        for _ in range(50):  # a retry loop meeting the same fault
            assert not problems.report("database", "The scheduler cannot ask", "locked")
        assert problems.clear("database", "it answers again")
        assert not problems.clear("database")
    assert [r.getMessage() for r in caplog.records] == [
        "problem: The scheduler cannot ask: database is locked",
        "problem cleared: The scheduler cannot ask (it answers again)",
    ]
    [problem] = problems.snapshot()
    assert problem.count == 51
    assert problem.cause == "database is locked"  # the cause it was first met with
    assert problem.cleared_at is not None
    assert problems.report("database", "The scheduler cannot ask", "again")  # a new one
    assert [p.cleared_at is None for p in problems.snapshot()] == [True, False]


def test_the_list_keeps_the_newest_and_drops_cleared_problems_first() -> None:
    problems = Problems(limit=3)
    problems.report("open", "Still wrong", "cause")
    for n in range(5):
        problems.report(f"track:{n}", f"Track {n} broke", "cause")
        problems.clear(f"track:{n}")
    kept = problems.snapshot()
    assert len(kept) == 3
    assert [p.key for p in kept] == ["track:4", "track:3", "open"]
    assert problems.open_keys() == ["open"]
