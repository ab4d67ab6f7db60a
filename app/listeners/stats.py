"""Listener statistics for hosts: listeners over time, and the tracks that gain or lose them.

Pure functions on plain datetimes, no clock and no database. Who counts as one listener:
sessions with the same listener id (one browser, any number of tabs) merge; each anonymous
session (VLC, a directory's player) is a listener of its own. Unlike the board, short
sessions count here: for as long as they last, someone is listening.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from app.listeners.accounting import Interval, merge

# Bucket widths a chart reads well in, smallest first; history() picks the smallest that
# keeps the chart at about MAX_POINTS points (5 min for a day, 1 h for a week).
STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_POINTS = 288


@dataclass(frozen=True)
class Connection:
    listener: str | None  # the hashed browser id; None for a player without cookies
    started_at: datetime
    ended_at: datetime | None  # None while still connected


@dataclass(frozen=True)
class Point:
    at: datetime  # the start of the bucket
    listeners: int  # the most listeners at any moment in the bucket


@dataclass(frozen=True)
class Played:
    """One item that went on air, as the play history keeps it."""

    kind: str
    track_id: int | None
    artist: str
    title: str
    started_at: datetime
    duration: float | None


@dataclass(frozen=True)
class TrackChange:
    track_id: int | None
    artist: str
    title: str
    plays: int
    change: int  # listeners at the ends minus listeners at the starts, over all plays

    @property
    def average_change(self) -> float:
        return self.change / self.plays


def presence(connections: Iterable[Connection], now: datetime) -> list[Interval]:
    """When each listener was there: one interval per listener per stretch of listening."""
    by_listener: dict[str, list[Interval]] = {}
    intervals: list[Interval] = []
    for connection in connections:
        start = connection.started_at.astimezone(UTC)
        end = min(connection.ended_at.astimezone(UTC), now) if connection.ended_at else now
        if end <= start:
            continue
        if connection.listener is None:
            intervals.append((start, end))
        else:
            by_listener.setdefault(connection.listener, []).append((start, end))
    for own in by_listener.values():
        intervals.extend(merge(own))
    return intervals


class Headcount(Protocol):
    def at(self, moment: datetime) -> int:
        """Listeners present at `moment`: started at or before it, not yet gone."""
        ...


class Audience:
    """How many listeners were there at any moment, from their presence intervals."""

    def __init__(self, intervals: Iterable[Interval]) -> None:
        pairs = list(intervals)
        self._starts = sorted(start for start, _ in pairs)
        self._ends = sorted(end for _, end in pairs)

    def at(self, moment: datetime) -> int:
        """Listeners present at `moment`: started at or before it, not yet gone."""
        return bisect.bisect_right(self._starts, moment) - bisect.bisect_right(self._ends, moment)


def step_for(span: timedelta) -> int:
    """Seconds per bucket for a chart of `span`."""
    wanted = span.total_seconds() / MAX_POINTS
    return next((step for step in STEPS if step >= wanted), STEPS[-1])


def history(
    intervals: Iterable[Interval], start: datetime, end: datetime, step: int
) -> list[Point]:
    """The peak listener count in each `step`-second bucket from `start` up to `end`.

    Buckets are aligned to whole steps since the epoch, so a chart redrawn a minute later
    shows the same buckets. Ends sort before starts at the same moment: a listener who hands
    over to another at 10:00 does not make two.
    """
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    bucket = _floor(start, step)
    width = timedelta(seconds=step)
    points: list[Point] = []
    index, count = 0, 0
    while bucket < end:
        while index < len(events) and events[index][0] <= bucket:
            count += events[index][1]
            index += 1
        peak = count
        while index < len(events) and events[index][0] < bucket + width:
            count += events[index][1]
            peak = max(peak, count)
            index += 1
        points.append(Point(bucket, peak))
        bucket += width
    return points


def _floor(moment: datetime, step: int) -> datetime:
    seconds = math.floor(moment.timestamp() / step) * step
    return datetime.fromtimestamp(seconds, UTC)


def track_changes(plays: Sequence[Played], audience: Headcount, now: datetime) -> list[TrackChange]:
    """Per track, listeners when its plays ended minus when they started.

    A play ends when the next item starts, or at its own duration if that comes first (the
    station was stopped in between). A play still on air at `now` is not counted yet.
    """
    ordered = sorted(plays, key=lambda play: play.started_at)
    changes = []
    for play, following in zip(ordered, [*ordered[1:], None], strict=True):
        if play.kind != "music":
            continue
        end = _end_of(play, following)
        if end is None or end > now:
            continue
        change = audience.at(end) - audience.at(play.started_at)
        changes.append((play.track_id, play.artist, play.title, change))
    return tally(changes)


def tally(changes: Iterable[tuple[int | None, str, str, int]]) -> list[TrackChange]:
    """Per track (by id, else by name), its plays' changes (track id, artist, title, change)
    summed, in time order: a track shows the names of its latest play."""
    sums: dict[object, list[Any]] = {}  # key -> [track id, artist, title, plays, change]
    for track_id, artist, title, change in changes:
        key = track_id if track_id is not None else (artist, title)
        total = sums.get(key)
        if total is None:
            sums[key] = [track_id, artist, title, 1, change]
        else:
            total[1:] = artist, title, total[3] + 1, total[4] + change
    return [TrackChange(*total) for total in sums.values()]


def _end_of(play: Played, following: Played | None) -> datetime | None:
    ends = []
    if following is not None:
        ends.append(following.started_at)
    if play.duration is not None:
        ends.append(play.started_at + timedelta(seconds=play.duration))
    return min(ends) if ends else None


def gainers_and_losers(
    changes: Iterable[TrackChange], limit: int
) -> tuple[list[TrackChange], list[TrackChange]]:
    """The tracks that won the most listeners, and those that lost the most, `limit` each."""
    changes = list(changes)
    gainers = sorted((c for c in changes if c.change > 0),
                     key=lambda c: (-c.change, -c.average_change, c.title))  # fmt: skip
    losers = sorted((c for c in changes if c.change < 0),
                    key=lambda c: (c.change, c.average_change, c.title))  # fmt: skip
    return gainers[:limit], losers[:limit]
