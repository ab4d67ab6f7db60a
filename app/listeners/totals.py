"""Running totals of listening, so the board and the hosts' statistics cost the same after a
year on air: they read a few indexed rows, never the sessions.

The session recorder hands every stretch a session has newly been heard for (a heartbeat,
its end, its close after a crash) to `Totals.heard` in the transaction that writes the
session row, so the totals always agree with the rows. The rules are accounting.py's and
stats.py's:

- board time: a listener's sessions of at least `min_seconds` merge where they overlap or
  touch (two tabs count once), summed per week (Monday 00:00 station time) and of all time;
- presence: every session counts, a listener's merged, a player without a cookie alone; the
  chart keeps the most listeners at any moment of each minute, the tracks the listeners at
  the moments plays start and end.

Merged stretches are kept as spans, so a stretch heard late (a tab that just reached the
minimum, a session closed after a crash) adds only the time no other session covered.
`rebuild` computes it all from the sessions at once (the migration's backfill).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.listeners.accounting import merge, week_start
from app.listeners.stats import history
from app.models import (
    AudienceMark,
    AudienceMinute,
    ListenerName,
    ListenerSpan,
    ListenerStatsState,
    ListenerTotal,
    ListenerWeek,
    ListeningSession,
    Play,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = 1_000_000
MINUTE_US = 60 * MICROS
BOARD, PRESENCE = 0, 1

_BULK = {"synchronize_session": False}  # plain SQL: the totals' rows are never ORM objects
Span = tuple[int, int]  # [start, end) in microseconds since the epoch


def micros(moment: datetime) -> int:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def moment(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def weeks(start: int, end: int, timezone: str) -> Iterator[tuple[int, int]]:
    """(week start, microseconds) for each week that [start, end) falls in, station time."""
    zone = ZoneInfo(timezone)
    while start < end:
        week = week_start(moment(start), timezone)
        local = week.astimezone(zone)
        monday = (local + timedelta(days=7)).date()
        following = micros(datetime(monday.year, monday.month, monday.day, tzinfo=zone))
        piece_end = min(end, following)
        yield micros(week), piece_end - start
        start = piece_end


def owner_of(listener: str | None, session_id: int) -> str:
    return listener if listener is not None else f"session:{session_id}"


@dataclass
class Totals:
    """The totals' side of one write transaction: `heard` for each session, then `finish`."""

    db: Session
    timezone: str
    min_seconds: float

    def __post_init__(self) -> None:
        self._dirty: set[int] = set()  # minutes whose peak must be recounted
        self._named: dict[str, bool] = {}

    def heard(
        self, session_id: int, listener: str | None, started: datetime, before: datetime | None,
        until: datetime,
    ) -> None:  # fmt: skip
        """A session, heard up to `before` so far (None: not at all), was heard up to `until`."""
        start, end = micros(started), micros(until)
        was = micros(before) if before is not None else start
        if end <= was:
            return
        for piece in self._cover(PRESENCE, owner_of(listener, session_id), was, end):
            self._present(piece)
        minimum = round(self.min_seconds * MICROS)
        if listener is None or end - start < minimum:
            return
        counted_from = was if was - start >= minimum else start  # newly long enough: all of it
        for piece in self._cover(BOARD, listener, counted_from, end):
            self._count(listener, piece)

    def finish(self) -> None:
        """Recount the minutes touched, and mark the plays that started since the last call."""
        self._mark_new_plays()
        for first, last in _runs(sorted(self._dirty)):
            recount_minutes(self.db, first, last)
        self._dirty.clear()

    def _cover(self, kind: int, owner: str, start: int, end: int) -> list[Span]:
        """Add [start, end) to the owner's spans; return the parts no span covered before."""
        if end <= start:
            return []
        rows = self.db.execute(
            select(ListenerSpan.id, ListenerSpan.start_us, ListenerSpan.end_us)
            .where(ListenerSpan.kind == kind, ListenerSpan.owner == owner)
            .where(ListenerSpan.end_us >= start, ListenerSpan.start_us <= end)
            .order_by(ListenerSpan.start_us)
        ).all()
        if not rows:
            self.db.execute(insert(ListenerSpan).values(kind=kind, owner=owner, start_us=start,
                                                        end_us=end))  # fmt: skip
            return [(start, end)]
        added: list[Span] = []
        cursor = start
        for row in rows:
            if row.start_us > cursor:
                added.append((cursor, min(row.start_us, end)))
            cursor = max(cursor, row.end_us)
        if cursor < end:
            added.append((cursor, end))
        first = min(start, rows[0].start_us)
        last = max(end, max(row.end_us for row in rows))
        self.db.execute(update(ListenerSpan).where(ListenerSpan.id == rows[0].id)
                        .values(start_us=first, end_us=last), execution_options=_BULK)  # fmt: skip
        if len(rows) > 1:
            gone = delete(ListenerSpan).where(ListenerSpan.id.in_([r.id for r in rows[1:]]))
            self.db.execute(gone, execution_options=_BULK)
        return [(a, b) for a, b in added if b > a]

    def _present(self, piece: Span) -> None:
        start, end = piece
        self._dirty.update(range(start // MINUTE_US, -(-end // MINUTE_US)))
        self.db.execute(update(AudienceMark)
                        .where(AudienceMark.at_us >= start, AudienceMark.at_us < end)
                        .values(listeners=AudienceMark.listeners + 1),
                        execution_options=_BULK)  # fmt: skip

    def _count(self, listener: str, piece: Span) -> None:
        on_board = self._on_board(listener)
        for week, us in weeks(*piece, self.timezone):
            _add(self.db, ListenerWeek, {"listener": listener, "week_us": week}, us, on_board)
        _add(self.db, ListenerTotal, {"listener": listener}, piece[1] - piece[0], on_board)

    def _on_board(self, listener: str) -> bool:
        if listener not in self._named:
            shown = self.db.scalar(select(ListenerName.on_board)
                                   .where(ListenerName.listener == listener))  # fmt: skip
            self._named[listener] = bool(shown)
        return self._named[listener]

    def _mark_new_plays(self) -> None:
        state = self.db.get(ListenerStatsState, 1)
        if state is None:
            return
        plays = self.db.execute(
            select(Play.started_at, Play.duration)
            .where(Play.started_at > moment(state.marked_until_us))
            .order_by(Play.started_at)
        ).all()
        if not plays:
            return
        for at in {m for play in plays for m in play_moments(play.started_at, play.duration)}:
            if self.db.get(AudienceMark, at) is None:
                self.db.add(AudienceMark(at_us=at, listeners=audience_at(self.db, at)))
        state.marked_until_us = micros(plays[-1].started_at)
        self.db.flush()


def _runs(minutes: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive minutes as (first, last) runs."""
    first = previous = None
    for minute in minutes:
        if previous is not None and minute != previous + 1:
            yield first, previous  # type: ignore[misc]
            first = None
        if first is None:
            first = minute
        previous = minute
    if first is not None:
        yield first, previous  # type: ignore[misc]


def _add(db: Session, table: type, key: dict[str, object], us: int, on_board: bool) -> None:
    where = [getattr(table, column) == value for column, value in key.items()]
    changed = db.execute(update(table).where(*where)
                         .values(seconds_us=table.seconds_us + us),  # type: ignore[attr-defined]
                         execution_options=_BULK)  # fmt: skip
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        db.execute(insert(table).values(**key, seconds_us=us, on_board=on_board))


def play_moments(started_at: datetime, duration: float | None) -> list[int]:
    """A play starts, and runs out after its duration unless the next one starts first."""
    if duration is None:
        return [micros(started_at)]
    return [micros(started_at), micros(started_at + timedelta(seconds=duration))]


def audience_at(db: Session | Connection, at: int) -> int:
    """Listeners present at `at` (started at or before it, not yet gone), from the spans."""
    return db.scalar(
        select(func.count()).select_from(ListenerSpan)
        .where(ListenerSpan.kind == PRESENCE, ListenerSpan.end_us > at,
               ListenerSpan.start_us <= at)
    ) or 0  # fmt: skip


def recount_minutes(db: Session | Connection, first: int, last: int) -> None:
    """The peak of each minute from `first` to `last` (epoch minutes), from the spans."""
    start, end = first * MINUTE_US, (last + 1) * MINUTE_US
    spans = db.execute(
        select(ListenerSpan.start_us, ListenerSpan.end_us)
        .where(ListenerSpan.kind == PRESENCE, ListenerSpan.end_us > start,
               ListenerSpan.start_us < end)
    ).all()  # fmt: skip
    points = history([(moment(s), moment(e)) for s, e in spans], moment(start), moment(end), 60)
    db.execute(delete(AudienceMinute).where(AudienceMinute.minute >= first,
                                            AudienceMinute.minute <= last)
               .execution_options(**_BULK))  # fmt: skip
    rows = [{"minute": micros(p.at) // MINUTE_US, "peak": p.listeners} for p in points
            if p.listeners > 0]  # fmt: skip
    if rows:
        db.execute(insert(AudienceMinute), rows)


def set_on_board(db: Session, listener: str, on_board: bool) -> None:
    """A listener named themselves or left the board: their totals are ranked, or not."""
    for table in (ListenerWeek, ListenerTotal):
        db.execute(
            update(table).where(table.listener == listener).values(on_board=on_board),
            execution_options=_BULK,
        )


# Building it all from the sessions: the migration's backfill, and a station whose time zone
# or minimum changed.

BATCH = 20_000


def rebuild(connection: Connection, timezone: str, min_seconds: float) -> None:
    """Recompute every total from the sessions and plays (replacing what was there).

    One pass over the sessions in listener order, one over the spans in time order; memory
    stays small, whatever the number of sessions."""
    for table in (ListenerSpan, ListenerWeek, ListenerTotal, AudienceMinute, AudienceMark,
                  ListenerStatsState):  # fmt: skip
        connection.execute(delete(table))
    minimum = round(min_seconds * MICROS)
    named = dict(connection.execute(select(ListenerName.listener, ListenerName.on_board)).all())
    sessions = ListeningSession
    end_of = func.coalesce(sessions.ended_at, sessions.last_seen_at, sessions.started_at)
    rows = connection.execute(
        select(sessions.id, sessions.listener, sessions.started_at, end_of.label("end"))
        .order_by(sessions.listener, sessions.started_at)
        .execution_options(yield_per=BATCH)
    )
    spans: list[dict[str, object]] = []
    week_rows: list[dict[str, object]] = []
    total_rows: list[dict[str, object]] = []

    def flush(force: bool = False) -> None:
        for table, batch in ((ListenerSpan, spans), (ListenerWeek, week_rows),
                             (ListenerTotal, total_rows)):  # fmt: skip
            if batch and (force or len(batch) >= BATCH):
                connection.execute(insert(table), batch)
                batch.clear()

    def finish_listener(listener: str, own: list[Span]) -> None:
        for start, end in _merged(own):
            spans.append({"kind": PRESENCE, "owner": listener, "start_us": start, "end_us": end})
        counted = _merged(s for s in own if s[1] - s[0] >= minimum)
        by_week: dict[int, int] = {}
        for start, end in counted:
            spans.append({"kind": BOARD, "owner": listener, "start_us": start, "end_us": end})
            for week, us in weeks(start, end, timezone):
                by_week[week] = by_week.get(week, 0) + us
        on_board = bool(named.get(listener))
        for week, us in by_week.items():
            week_rows.append({"listener": listener, "week_us": week, "seconds_us": us,
                              "on_board": on_board})  # fmt: skip
        if counted:
            total_rows.append({"listener": listener, "on_board": on_board,
                               "seconds_us": sum(us for us in by_week.values())})  # fmt: skip
        flush()

    current: str | None = None
    own: list[Span] = []
    for row in rows:
        start, end = micros(row.started_at), micros(row.end)
        if row.listener is None:
            if end > start:
                spans.append({"kind": PRESENCE, "owner": owner_of(None, row.id),
                              "start_us": start, "end_us": end})  # fmt: skip
                flush()
            continue
        if row.listener != current:
            if current is not None:
                finish_listener(current, own)
            current, own = row.listener, []
        own.append((start, end))
    if current is not None:
        finish_listener(current, own)
    flush(force=True)
    _rebuild_audience(connection)
    latest = connection.scalar(select(func.max(Play.started_at)))
    connection.execute(insert(ListenerStatsState).values(
        id=1, timezone=timezone, min_seconds=min_seconds,
        marked_until_us=micros(latest) if latest is not None else 0))  # fmt: skip


def _merged(spans: Iterable[Span]) -> list[Span]:
    return [(a, b) for a, b in merge(s for s in spans if s[1] > s[0])]


def _rebuild_audience(connection: Connection) -> None:
    """The minutes' peaks and the plays' marks, in one sweep over the spans' starts and ends
    (ends first at the same moment, as history() has it)."""
    starts = connection.execute(
        select(ListenerSpan.start_us).where(ListenerSpan.kind == PRESENCE)
        .order_by(ListenerSpan.start_us).execution_options(yield_per=BATCH)
    ).scalars()  # fmt: skip
    ends = connection.execute(
        select(ListenerSpan.end_us).where(ListenerSpan.kind == PRESENCE)
        .order_by(ListenerSpan.end_us).execution_options(yield_per=BATCH)
    ).scalars()  # fmt: skip
    plays = connection.execute(select(Play.started_at, Play.duration)).all()
    marks = sorted({m for play in plays for m in play_moments(play.started_at, play.duration)})
    minute_rows: list[dict[str, int]] = []
    mark_rows: list[dict[str, int]] = []
    sweep = _Sweep(minute_rows)
    next_start, next_end = next(starts, None), next(ends, None)
    mark_index = 0
    while next_start is not None or next_end is not None:
        if next_end is not None and (next_start is None or next_end <= next_start):
            at, delta = next_end, -1
            next_end = next(ends, None)
        else:
            at, delta = next_start, 1  # type: ignore[assignment]
            next_start = next(starts, None)
        while mark_index < len(marks) and marks[mark_index] < at:
            mark_rows.append({"at_us": marks[mark_index], "listeners": sweep.count})
            mark_index += 1
        sweep.event(at, delta)
        if len(minute_rows) >= BATCH:
            connection.execute(insert(AudienceMinute), minute_rows)
            minute_rows.clear()
    sweep.close()
    mark_rows.extend({"at_us": at, "listeners": 0} for at in marks[mark_index:])
    for table, batch in ((AudienceMinute, minute_rows), (AudienceMark, mark_rows)):
        for offset in range(0, len(batch), BATCH):
            connection.execute(insert(table), batch[offset : offset + BATCH])


class _Sweep:
    """Per-minute peaks from events in time order: the count after all events at a moment,
    at most, over the moments in each minute, and the count carried into each minute."""

    def __init__(self, out: list[dict[str, int]]) -> None:
        self.out = out
        self.count = 0
        self.minute: int | None = None
        self.peak = 0
        self.at: int | None = None

    def event(self, at: int, delta: int) -> None:
        if self.at is not None and at != self.at:
            self._settle()  # the previous moment is complete
        minute = at // MINUTE_US
        if self.minute is None or minute != self.minute:
            self._close_minute(minute, at)
        self.at = at
        self.count += delta

    def _settle(self) -> None:
        self.peak = max(self.peak, self.count)

    def _close_minute(self, minute: int, at: int) -> None:
        if self.minute is not None:
            if self.peak > 0:
                self.out.append({"minute": self.minute, "peak": self.peak})
            if self.count > 0:  # the minutes in between hold the count carried over
                self.out.extend({"minute": m, "peak": self.count}
                                for m in range(self.minute + 1, minute))  # fmt: skip
        self.minute = minute
        # The count carried in, unless the minute's first moment has events of its own: then
        # the count after them (history() starts a bucket after the events at its start).
        self.peak = 0 if at == minute * MINUTE_US else self.count
        self.at = None

    def close(self) -> None:
        if self.at is not None:
            self._settle()
        if self.minute is not None and self.peak > 0:
            self.out.append({"minute": self.minute, "peak": self.peak})


def state_matches(db: Session, timezone: str, min_seconds: float) -> bool:
    state = db.get(ListenerStatsState, 1)
    return state is not None and (state.timezone, state.min_seconds) == (timezone, min_seconds)


def minutes_between(since: datetime, until: datetime) -> tuple[int, int]:
    return micros(since) // MINUTE_US, math.ceil(micros(until) / MINUTE_US)
