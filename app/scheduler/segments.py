"""Segments: programme that is not a track of the library (a news bulletin, later a live
show), planned, queued and aired by the planner without it knowing what they are.

The station hands the planner its segments (app/station.py), as it hands the playout its
callables: the scheduler imports nothing from the packages that make them. A segment adds
rules to the scheduler; their picks carry the segment's `kind`, and the planner queues each
as one placeholder entry of that kind, shown as `placeholder` and expected to last
`expected_seconds`. When the placeholder's turn comes, the segment opens it up into the
entries that really air (`open`), of its `parts` kinds, and says what the playout plays for
each of them (`item`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app.core.item import Item
from app.models import QueueEntry
from app.scheduler.rules import Rule


class Segment(Protocol):
    kind: str  # its picks' and its placeholder entries' kind: unique among the segments
    parts: frozenset[str]  # the kinds of the queue entries it opens up into

    def rules(self) -> Sequence[Rule]:
        """The scheduler rules that plan it; their picks have kind `kind`."""
        ...

    def due_at(self, at: datetime) -> datetime:
        """A clock pick of this segment's made for `at`: the time it belongs to (the queue
        holds it for that time, and `open` is told it)."""
        ...

    def expected_seconds(self, session: Session, at: datetime) -> float:
        """How long it would probably last if it aired at `at` (for expected start times)."""
        ...

    def placeholder(self, duration: float | None, at: datetime | None = None) -> Item:
        """What it shows in the queue, the forecast and as next up until it airs; `at`: the
        time it is planned for, when known (a show's slot names it)."""
        ...

    def open(
        self, session: Session, at: datetime, due_at: datetime | None, reason: str
    ) -> list[QueueEntry]:
        """The entries it opens up into as it airs at `at` (planned for the clock time
        `due_at`, or None), with `reason`; none: it is passed over."""
        ...

    def item(self, session: Session, entry: QueueEntry) -> Item | None:
        """What the playout plays, and now-playing shows, for an entry of one of its `parts`
        kinds (None: it cannot play)."""
        ...


def last_at_minute(at: datetime, minute: int, zone: ZoneInfo) -> datetime:
    """The latest time at or before `at` at `minute` past an hour in `zone` (UTC)."""
    local = at.astimezone(zone)
    due = local.replace(minute=minute, second=0, microsecond=0)
    if due > local:
        due -= timedelta(hours=1)
    return due.astimezone(UTC)
