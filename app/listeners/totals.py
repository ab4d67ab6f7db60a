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
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
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
    """The totals' side of one write transaction: `heard` for each session, then `finish`,
    which does it all in a few statements however many listeners a heartbeat carries."""

    db: Session
    timezone: str
    min_seconds: float

    def __post_init__(self) -> None:
        self._pieces: list[tuple[int, str, int, int]] = []  # kind, owner, start, end

    def heard(
        self, session_id: int, listener: str | None, started: datetime, before: datetime | None,
        until: datetime,
    ) -> None:  # fmt: skip
        """A session, heard up to `before` so far (None: not at all), was heard up to `until`."""
        start, end = micros(started), micros(until)
        was = micros(before) if before is not None else start
        if end <= was:
            return
        self._pieces.append((PRESENCE, owner_of(listener, session_id), was, end))
        minimum = round(self.min_seconds * MICROS)
        if listener is None or end - start < minimum:
            return
        counted_from = was if was - start >= minimum else start  # newly long enough: all of it
        self._pieces.append((BOARD, listener, counted_from, end))

    def finish(self) -> None:
        """Add the pieces heard to the spans, and what they newly cover to the totals; recount
        the minutes touched; mark the plays that started since the last call."""
        self._mark_new_plays()
        if not self._pieces:
            return
        added = self._cover(self._pieces)
        self._pieces = []
        connection = self.db.connection()
        ranges = Counter((a, b) for kind, _, a, b in added if kind == PRESENCE)
        if ranges:
            marks = AudienceMark.__table__
            raise_marks = (update(marks).where(marks.c.at_us >= bindparam("a"),
                                               marks.c.at_us < bindparam("b"))
                           .values(listeners=marks.c.listeners + bindparam("n")))  # fmt: skip
            connection.execute(raise_marks, [{"a": a, "b": b, "n": n}
                                             for (a, b), n in ranges.items()])  # fmt: skip
        board = [(owner, a, b) for kind, owner, a, b in added if kind == BOARD]
        if board:
            self._count(connection, board)
        dirty = {m for a, b in ranges for m in range(a // MINUTE_US, -(-b // MINUTE_US))}
        for first, last in _runs(sorted(dirty)):
            recount_minutes(connection, first, last)

    def _cover(self, pieces: list[tuple[int, str, int, int]]) -> list[tuple[int, str, int, int]]:
        """Add the pieces to their owners' spans; return the parts no span covered before."""
        connection = self.db.connection()
        table = ListenerSpan.__table__
        lowest = min(start for _, _, start, _ in pieces)
        spans: dict[tuple[int, str], list[list[Any]]] = {}  # [id or None, start, end]
        wanted = sorted({(kind, owner) for kind, owner, _, _ in pieces})
        for kind in (BOARD, PRESENCE):
            owners = [owner for k, owner in wanted if k == kind]
            for offset in range(0, len(owners), 500):
                rows = connection.execute(
                    select(table.c.id, table.c.owner, table.c.start_us, table.c.end_us)
                    .where(table.c.kind == kind, table.c.end_us >= lowest,
                           table.c.owner.in_(owners[offset : offset + 500]))
                )  # fmt: skip
                for row in rows:
                    spans.setdefault((kind, row.owner), []).append(list(row))
        gone: list[int] = []
        added: list[tuple[int, str, int, int]] = []
        for kind, owner, start, end in pieces:
            own = spans.setdefault((kind, owner), [])
            touching = sorted((s for s in own if s[3] >= start and s[2] <= end),
                              key=lambda s: s[2])  # fmt: skip
            cursor = start
            for span in touching:
                if span[2] > cursor:
                    added.append((kind, owner, cursor, min(span[2], end)))
                cursor = max(cursor, span[3])
            if cursor < end:
                added.append((kind, owner, cursor, end))
            if not touching:
                own.append([None, owner, start, end])
                continue
            keep = touching[0]
            keep[2], keep[3] = min(start, keep[2]), max([end, *(s[3] for s in touching)])
            for span in touching[1:]:
                own.remove(span)
                if span[0] is not None:
                    gone.append(span[0])
            if keep[0] is not None:
                keep.append("changed")
        changed = [{"key": s[0], "s": s[2], "e": s[3]} for own in spans.values() for s in own
                   if s[0] is not None and len(s) > 4]  # fmt: skip
        if changed:
            connection.execute(update(table).where(table.c.id == bindparam("key"))
                               .values(start_us=bindparam("s"), end_us=bindparam("e")),
                               changed)  # fmt: skip
        if gone:
            connection.execute(delete(table).where(table.c.id.in_(gone)))
        new = [{"kind": kind, "owner": s[1], "start_us": s[2], "end_us": s[3]}
               for (kind, _), own in spans.items() for s in own if s[0] is None]  # fmt: skip
        if new:
            connection.execute(insert(table), new)
        return [(kind, owner, a, b) for kind, owner, a, b in added if b > a]

    def _count(self, connection: Connection, board: list[tuple[str, int, int]]) -> None:
        by_week: Counter[tuple[str, int]] = Counter()
        by_listener: Counter[str] = Counter()
        for listener, a, b in board:
            for week, us in weeks(a, b, self.timezone):
                by_week[listener, week] += us
            by_listener[listener] += b - a
        names = ListenerName.__table__
        shown = dict(connection.execute(
            select(names.c.listener, names.c.on_board).where(names.c.listener.in_(by_listener))
        ).all())  # fmt: skip
        _add_seconds(connection, ListenerWeek.__table__, ["listener", "week_us"],
                     [{"listener": listener, "week_us": week, "seconds_us": us,
                       "on_board": bool(shown.get(listener))}
                      for (listener, week), us in by_week.items()])  # fmt: skip
        _add_seconds(connection, ListenerTotal.__table__, ["listener"],
                     [{"listener": listener, "seconds_us": us,
                       "on_board": bool(shown.get(listener))}
                      for listener, us in by_listener.items()])  # fmt: skip

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


def _add_seconds(
    connection: Connection, table: Any, keys: list[str], rows: list[dict[str, Any]]
) -> None:
    """Add seconds to existing rows, and insert the rows that are new (with their on_board)."""
    if not rows:
        return
    if connection.dialect.name in ("sqlite", "postgresql"):
        if connection.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as upsert
        else:
            from sqlalchemy.dialects.postgresql import insert as upsert
        statement = upsert(table)
        statement = statement.on_conflict_do_update(
            index_elements=keys,
            set_={"seconds_us": table.c.seconds_us + statement.excluded.seconds_us},
        )
        connection.execute(statement, rows)
        return
    for row in rows:  # any other database: one by one
        where = [table.c[key] == row[key] for key in keys]
        more = update(table).where(*where).values(seconds_us=table.c.seconds_us + row["seconds_us"])
        if connection.execute(more).rowcount == 0:
            connection.execute(insert(table), row)


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
        for rows in connection.execute(query, execution_options={"yield_per": BATCH}).partitions():
            yield from rows  # type: ignore[misc]
        return
    query = select(table.c.id, table.c.listener, started, ended.label("end")).order_by(*order)
    for rows in connection.execute(query, execution_options={"yield_per": BATCH}).partitions():
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
