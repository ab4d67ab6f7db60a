"""Listening time from stream sessions: pure functions, no clock and no database.

Rules, in this order:
1. An open session (still connected) counts up to `now`.
2. A session shorter than the minimum (30 s by default) is ignored on its own, before
   merging: a flurry of reconnects is not listening, and deciding per session keeps the
   rule easy to explain ("a connection under 30 s does not count").
3. A listener's remaining sessions are merged where they overlap or touch, so two tabs
   playing at once count once.
4. This week starts on Monday 00:00 in the station's time zone (DST-aware), and a merged
   interval that straddles the boundary counts only its part after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MIN_SECONDS = 30.0

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Session:
    listener: str
    started_at: datetime
    ended_at: datetime | None  # None while still connected


@dataclass(frozen=True)
class Totals:
    week: float  # seconds since this week's Monday 00:00, station time
    all_time: float


@dataclass(frozen=True)
class Ranked:
    rank: int
    listener: str
    seconds: float


def _utc(moment: datetime) -> datetime:
    # Naive datetimes come from SQLite and are UTC; arithmetic on aware ones with the same
    # zone is wall-clock arithmetic, which is wrong across DST, so everything goes to UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def counted_intervals(
    sessions: Iterable[Session], now: datetime, min_seconds: float = MIN_SECONDS
) -> list[Interval]:
    """The sessions' intervals that count: open ones end at `now`, short ones are dropped."""
    now = _utc(now)
    intervals: list[Interval] = []
    for session in sessions:
        start = _utc(session.started_at)
        end = min(_utc(session.ended_at), now) if session.ended_at is not None else now
        if (end - start).total_seconds() >= min_seconds:
            intervals.append((start, end))
    return intervals


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals become one, in time order."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def week_start(now: datetime, timezone: str) -> datetime:
    """Monday 00:00 of `now`'s week in the station's time zone, as a UTC datetime."""
    zone = ZoneInfo(timezone)
    local = _utc(now).astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=zone).astimezone(UTC)


def _seconds(intervals: Iterable[Interval], since: datetime | None = None) -> float:
    total = 0.0
    for start, end in intervals:
        if since is not None:
            start = max(start, since)
        if end > start:
            total += (end - start).total_seconds()
    return total


def totals(
    sessions: Iterable[Session], now: datetime, timezone: str, min_seconds: float = MIN_SECONDS
) -> dict[str, Totals]:
    """Each listener's listening time this week and all time."""
    by_listener: dict[str, list[Session]] = {}
    for session in sessions:
        by_listener.setdefault(session.listener, []).append(session)
    since = week_start(now, timezone)
    result: dict[str, Totals] = {}
    for listener, own in by_listener.items():
        merged = merge(counted_intervals(own, now, min_seconds))
        if merged:
            result[listener] = Totals(week=_seconds(merged, since), all_time=_seconds(merged))
    return result


def rank(seconds: Mapping[str, float]) -> list[Ranked]:
    """Most listening first; equal times share a rank (1, 2, 2, 4). Zero time is not ranked."""
    ordered = sorted(((s, k) for k, s in seconds.items() if s > 0), key=lambda p: (-p[0], p[1]))
    ranked: list[Ranked] = []
    for position, (value, listener) in enumerate(ordered, start=1):
        same = ranked and ranked[-1].seconds == value
        ranked.append(Ranked(ranked[-1].rank if same else position, listener, value))
    return ranked
