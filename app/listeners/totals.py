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

import bisect
import math
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Connection, Integer, delete, func, insert, select, update
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
# Spans are only ever looked up near the newest sessions (a heartbeat, an end, a crash's
# close): older ones are dropped, so the table stays the size of a few days of listening.
SPAN_KEEP_US = 2 * 24 * 3600 * MICROS


def rebuild(connection: Connection, timezone: str, min_seconds: float) -> None:
    """Recompute every total from the sessions and plays (replacing what was there).

    One pass over the sessions in listener order (memory: one listener's sessions, and two
    integers per stretch of presence for the sweep that finds each minute's peak)."""
    for table in (ListenerSpan, ListenerWeek, ListenerTotal, AudienceMinute, AudienceMark,
                  ListenerStatsState):  # fmt: skip
        connection.execute(delete(table))
    minimum = round(min_seconds * MICROS)
    named = dict(connection.execute(select(ListenerName.listener, ListenerName.on_board)).all())
    newest = _newest(connection)
    keep_from = newest - SPAN_KEEP_US
    split = _week_splitter(connection, newest, timezone)
    starts, ends = array("q"), array("q")
    spans: list[tuple[object, ...]] = []
    week_rows: list[tuple[object, ...]] = []
    total_rows: list[tuple[object, ...]] = []
    batches = ((spans, "listener_spans", ("kind", "owner", "start_us", "end_us")),
               (week_rows, "listener_weeks", ("listener", "week_us", "seconds_us", "on_board")),
               (total_rows, "listener_totals", ("listener", "seconds_us", "on_board")))  # fmt: skip

    def flush(force: bool = False) -> None:
        for batch, table, columns in batches:
            if batch and (force or len(batch) >= BATCH):
                _bulk_insert(connection, table, columns, batch)
                batch.clear()

    def span(kind: int, owner: str, start: int, end: int) -> None:
        if kind == PRESENCE:
            starts.append(start)
            ends.append(end)
        if end >= keep_from:
            spans.append((kind, owner, start, end))

    def finish_listener(listener: str, own: list[Span]) -> None:
        for start, end in _merged(own):
            span(PRESENCE, listener, start, end)
        counted = _merged(s for s in own if s[1] - s[0] >= minimum)
        by_week: dict[int, int] = {}
        for start, end in counted:
            span(BOARD, listener, start, end)
            for week, us in split(start, end):
                by_week[week] = by_week.get(week, 0) + us
        on_board = bool(named.get(listener))
        week_rows.extend((listener, week, us, on_board) for week, us in by_week.items())
        if counted:
            total_rows.append((listener, sum(by_week.values()), on_board))
        flush()

    current: str | None = None
    own: list[Span] = []
    for session_id, listener, start, end in _session_spans(connection):
        if listener is None:
            if end > start:
                span(PRESENCE, owner_of(None, session_id), start, end)
                flush()
            continue
        if listener != current:
            if current is not None:
                finish_listener(current, own)
            current, own = listener, []
        own.append((start, end))
    if current is not None:
        finish_listener(current, own)
    flush(force=True)
    _rebuild_audience(connection, starts, ends)
    latest = connection.scalar(select(func.max(Play.started_at)))
    connection.execute(insert(ListenerStatsState).values(
        id=1, timezone=timezone, min_seconds=min_seconds,
        marked_until_us=micros(latest) if latest is not None else 0))  # fmt: skip


def sql_micros(column: Any, dialect: str) -> Any:
    """A UTC date column as whole microseconds since the epoch, worked out by the database."""
    if dialect == "sqlite":  # text 'YYYY-MM-DD HH:MM:SS.ffffff'
        seconds = func.cast(func.strftime("%s", column), Integer)
        return seconds * MICROS + func.cast(func.substr(column, 21, 6), Integer)
    return func.cast(func.extract("epoch", column) * MICROS, BigInteger)


def _session_spans(connection: Connection) -> Iterator[tuple[int, str | None, int, int]]:
    """(id, listener, start, end) of every session in listener order; an open one as far as
    it was heard. SQLite does the arithmetic itself (its dates are text), others in Python."""
    table = ListeningSession.__table__
    started, ended = table.c.started_at, func.coalesce(table.c.ended_at, table.c.last_seen_at,
                                                       table.c.started_at)  # fmt: skip
    order = (table.c.listener, table.c.started_at)
    if connection.dialect.name == "sqlite":

        def us(column: Any) -> Any:
            seconds = func.cast(func.strftime("%s", column), Integer)
            return seconds * MICROS + func.cast(func.substr(column, 21, 6), Integer)

        query = select(table.c.id, table.c.listener, us(started), us(ended)).order_by(*order)
        for rows in connection.execution_options(yield_per=BATCH).execute(query).partitions():
            yield from rows  # type: ignore[misc]
        return
    query = select(table.c.id, table.c.listener, started, ended.label("end")).order_by(*order)
    for rows in connection.execution_options(yield_per=BATCH).execute(query).partitions():
        for row in rows:
            yield row[0], row[1], micros(row[2]), micros(row[3])


def _week_splitter(
    connection: Connection, newest: int, timezone: str
) -> Callable[[int, int], list[tuple[int, int]]]:
    """weeks() for every span of the backfill, from the week starts computed once."""
    earliest = connection.scalar(select(func.min(ListeningSession.started_at)))
    if earliest is None:
        return lambda start, end: list(weeks(start, end, timezone))
    first = micros(week_start(_as_datetime(earliest), timezone))
    bounds = [week for week, _ in weeks(first, newest + 8 * 24 * 3600 * MICROS, timezone)]

    def split(start: int, end: int) -> list[tuple[int, int]]:
        index = bisect.bisect_right(bounds, start) - 1
        pieces = []
        while start < end:
            following = bounds[index + 1] if index + 1 < len(bounds) else end
            piece_end = min(end, following)
            pieces.append((bounds[index], piece_end - start))
            start, index = piece_end, index + 1
        return pieces

    return split


def _newest(connection: Connection) -> int:
    table = ListeningSession.__table__
    moments = [connection.scalar(select(func.max(column))) for column in
               (table.c.started_at, table.c.ended_at, table.c.last_seen_at)]  # fmt: skip
    known = [micros(_as_datetime(m)) for m in moments if m is not None]
    return max(known, default=0)


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _merged(spans: Iterable[Span]) -> list[Span]:
    return [(a, b) for a, b in merge(s for s in spans if s[1] > s[0])]


def _rebuild_audience(connection: Connection, starts: array[int], ends: array[int]) -> None:
    """Each minute's peak and the listeners at each play's moments, from every stretch of
    presence at once: the count after all the changes at a moment, at most, in each minute
    (the count carried in too, unless the minute's first moment has changes of its own),
    as history() counts it."""
    import numpy as np  # only here: the serving process need not carry it

    times = np.concatenate([np.frombuffer(starts, np.int64), np.frombuffer(ends, np.int64)])
    deltas = np.concatenate([np.ones(len(starts), np.int64), -np.ones(len(ends), np.int64)])
    order = np.argsort(times, kind="stable")
    times, counts = times[order], np.cumsum(deltas[order])
    last = np.append(times[1:] != times[:-1], True)[: len(times)]  # a moment's last change
    moments, after = times[last], counts[last]  # the count once a moment's changes are done
    minute_rows: list[tuple[int, int]] = []
    if len(moments):
        minutes = moments // MINUTE_US
        first = np.flatnonzero(np.append(True, minutes[1:] != minutes[:-1]))
        peaks = np.maximum.reduceat(after, first)
        carried = np.append(0, after[first[1:] - 1])  # the count before each minute's first moment
        starts_late = moments[first] != minutes[first] * MINUTE_US
        peaks = np.where(starts_late, np.maximum(peaks, carried), peaks)
        leaving = after[np.append(first[1:] - 1, len(after) - 1)]  # the count a minute ends with
        for minute, peak, gap_to, held in zip(minutes[first].tolist(), peaks.tolist(),
                                              [*minutes[first[1:]].tolist(), None],
                                              leaving.tolist(), strict=True):  # fmt: skip
            if peak > 0:
                minute_rows.append((minute, peak))
            if held > 0 and gap_to is not None:  # the minutes with no change in between
                minute_rows.extend((m, held) for m in range(minute + 1, gap_to))
    plays = connection.execute(select(Play.started_at, Play.duration)).all()
    marks = sorted({m for play in plays for m in play_moments(play.started_at, play.duration)})
    found = np.searchsorted(moments, np.array(marks, np.int64), side="right") - 1
    counted = after.tolist()
    mark_rows = [(at, counted[index] if index >= 0 else 0)
                 for at, index in zip(marks, found.tolist(), strict=True)]  # fmt: skip
    _bulk_insert(connection, "audience_minutes", ("minute", "peak"), minute_rows)
    _bulk_insert(connection, "audience_marks", ("at_us", "listeners"), mark_rows)


def _bulk_insert(
    connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]
) -> None:
    """Plain tuples straight to the driver: millions of rows, without a dict each."""
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    for offset in range(0, len(rows), BATCH):
        connection.exec_driver_sql(sql, rows[offset : offset + BATCH])


def prune_spans(db: Session) -> None:
    """Drop the spans no new session can touch any more (see SPAN_KEEP_US)."""
    for kind in (BOARD, PRESENCE):
        newest = db.scalar(select(func.max(ListenerSpan.end_us)).where(ListenerSpan.kind == kind))
        if newest is not None:
            old = (ListenerSpan.kind == kind, ListenerSpan.end_us < newest - SPAN_KEEP_US)
            db.execute(delete(ListenerSpan).where(*old).execution_options(**_BULK))


def state_matches(db: Session, timezone: str, min_seconds: float) -> bool:
    state = db.get(ListenerStatsState, 1)
    return state is not None and (state.timezone, state.min_seconds) == (timezone, min_seconds)


def minutes_between(since: datetime, until: datetime) -> tuple[int, int]:
    return micros(since) // MINUTE_US, math.ceil(micros(until) / MINUTE_US)
