"""What each track gained or lost in listeners while it played, per UTC day, so the hosts'
"tracks" page reads a few rows per track and day instead of every play of the window.

A music play's change is the listeners when it ended minus those when it started (the
audience marks of totals.py); it ends when the next item starts, or at its own duration if
that comes first (stats.track_changes). A play is counted into `track_days` (settled) once
its end is known (the next item has started) and lies before every moment a session can
still be heard from (`until_us`): the last heartbeat, when every open session was heard up
to then. Later heartbeats, ends and the close after a crash only add listening after that,
so a settled play's marks never change again. Plays are settled in time order: the ones not
settled yet (the last minute or so, or everything since a crash) are a tail read from the
raw plays, as are the partial days at the edges of a rolling window.

Days are UTC days: the window is a rolling number of 24-hour days, so where a day starts
decides only which plays are read raw, never the answer; UTC days are all 24 hours long.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.listeners.stats import TrackChange
from app.listeners.totals import MICROS, audience_at, micros, moment, sql_micros
from app.models import AudienceMark, ListeningSession, Play, Track, TrackDay, TrackTotalsState

DAY_US = 24 * 3600 * MICROS
Db = Session | Connection


# One music play's change, or the sum of several (a track_days row): track id, artist,
# title, plays, change, the first play's start, the latest play's start.
Sum = tuple[int | None, str, str, int, int, int, int]
Key = tuple[int, int | None, str, str]  # day, track id, artist, title


@functools.cache
def _timed_plays(dialect: str, ended_by_next_day: bool) -> Select[Any]:
    """The plays that started since :since (up to the first play from :day on, when
    `ended_by_next_day`) in time order, with when each ended (None: not known yet) and the
    listeners at its start and end from the marks (None: not marked yet). The next item is
    looked for among those plays only. Built once: a request only binds the moments."""
    where = Play.started_at >= bindparam("since")
    if ended_by_next_day:
        first_after = (select(func.min(Play.started_at))
                       .where(Play.started_at >= bindparam("day")).scalar_subquery())  # fmt: skip
        where = and_(where, or_(first_after.is_(None), Play.started_at <= first_after))
    start = sql_micros(Play.started_at, dialect)
    plays = (
        select(Play.id, Play.kind, Play.track_id, Play.artist, Play.title, start.label("start_us"),
               cast(func.round(Play.duration * MICROS), BigInteger).label("length"),
               func.lead(start).over(order_by=(Play.started_at, Play.id)).label("next_us"))
        .where(where)
        .subquery()
    )  # fmt: skip
    own_end = plays.c.start_us + plays.c.length
    end = case(
        (plays.c.length.is_(None), plays.c.next_us),
        (or_(plays.c.next_us.is_(None), plays.c.next_us > own_end), own_end),
        else_=plays.c.next_us,
    ).label("end_us")
    timed = select(plays, end).subquery()
    began, ended = AudienceMark.__table__.alias(), AudienceMark.__table__.alias()
    return (
        select(timed.c.id, timed.c.kind, timed.c.track_id, timed.c.artist, timed.c.title,
               timed.c.start_us, timed.c.end_us, timed.c.next_us,
               began.c.listeners.label("began"), ended.c.listeners.label("ended"))
        .select_from(timed.outerjoin(began, began.c.at_us == timed.c.start_us)
                     .outerjoin(ended, ended.c.at_us == timed.c.end_us))
        .order_by(timed.c.start_us, timed.c.id)
    )  # fmt: skip


def _plays(db: Db, since: datetime, day: datetime | None = None) -> Any:
    connection = db.connection() if isinstance(db, Session) else db
    query = _timed_plays(connection.dialect.name, day is not None)
    return connection.execute(query, {"since": since, "day": day} if day else {"since": since})


def _change(db: Db, row: Any) -> Sum:
    # A moment the last heartbeat has not marked yet is counted from the spans.
    began = row.began if row.began is not None else audience_at(db, row.start_us)
    ended = row.ended if row.ended is not None else audience_at(db, row.end_us)
    return (row.track_id, row.artist, row.title, 1, ended - began, row.start_us, row.start_us)


def _pointer(db: Db) -> tuple[int, int] | None:
    """(start, id) of the last settled play; None before any."""
    row = db.execute(select(TrackTotalsState.settled_us, TrackTotalsState.settled_play_id)
                     .where(TrackTotalsState.id == 1)).first()  # fmt: skip
    return (row[0], row[1]) if row is not None else None


def settle(db: Db, until_us: int) -> int:
    """Count into track_days, in time order, every play not counted yet whose end is known
    and before `until_us` (no session can be heard before that any more). Returns how many
    plays it counted (music or not)."""
    pointer = _pointer(db)
    sums: dict[Key, list[int]] = {}  # key -> [plays, change, first, last]
    last: tuple[int, int] | None = None
    counted = 0
    for row in _plays(db, moment(pointer[0] if pointer is not None else 0)):
        if pointer is not None and (row.start_us, row.id) <= pointer:
            continue
        if row.next_us is None or row.end_us is None or row.end_us >= until_us:
            break  # not over, or its marks can still change: this one and all after it wait
        last, counted = (row.start_us, row.id), counted + 1
        if row.kind != "music":
            continue
        change = _change(db, row)[4]
        key = (row.start_us // DAY_US * DAY_US, row.track_id, row.artist, row.title)
        total = sums.setdefault(key, [0, 0, row.start_us, row.start_us])
        total[0], total[1], total[3] = total[0] + 1, total[1] + change, row.start_us
    if last is None:
        return 0
    _add(db, sums)
    state = TrackTotalsState.__table__
    values = {"settled_us": last[0], "settled_play_id": last[1]}
    if pointer is None:
        db.execute(insert(state).values(id=1, **values))
    else:
        db.execute(update(state).where(state.c.id == 1).values(**values))
    return counted


def _add(db: Db, sums: dict[Key, list[int]]) -> None:
    """Add the sums to the rows of their day, track and names; insert the new ones."""
    table = TrackDay.__table__
    existing: dict[Key, Any] = {}
    for day in {day for day, *_ in sums}:
        titles = list({title for d, _, _, title in sums if d == day})
        for offset in range(0, len(titles), 500):
            some = titles[offset : offset + 500]
            query = select(table).where(table.c.day_us == day, table.c.title.in_(some))
            for row in db.execute(query):
                existing[row.day_us, row.track_id, row.artist, row.title] = row
    new = []
    for key, (plays, change, first_us, last_us) in sums.items():
        row = existing.get(key)
        if row is None:
            new.append({"day_us": key[0], "track_id": key[1], "artist": key[2], "title": key[3],
                        "plays": plays, "change": change, "first_us": first_us,
                        "last_us": last_us})  # fmt: skip
            continue
        db.execute(update(table).where(table.c.id == row.id).values(
            plays=row.plays + plays, change=row.change + change,
            first_us=min(row.first_us, first_us), last_us=max(row.last_us, last_us)))  # fmt: skip
    for offset in range(0, len(new), 5000):
        db.execute(insert(table), new[offset : offset + 5000])


def heard_until(db: Db, now: datetime) -> int:
    """The moment from which sessions can still be heard, from the rows alone: the earliest
    open session's last heartbeat (or start), else `now`. For the migration's backfill (a
    full pass over the sessions); the recorder knows it without asking."""
    table = ListeningSession.__table__
    earliest = db.scalar(
        select(func.min(func.coalesce(table.c.last_seen_at, table.c.started_at)))
        .where(table.c.ended_at.is_(None))
    )  # fmt: skip
    if earliest is None:
        return micros(now)
    if not isinstance(earliest, datetime):  # a plain query on SQLite hands back text
        earliest = datetime.fromisoformat(str(earliest))
    return min(micros(earliest), micros(now))


def changes_between(db: Session, since: datetime, now: datetime) -> list[TrackChange]:
    """Per track (by id, else by names), what its music plays that started since `since`
    and ended by `now` gained or lost, as stats.track_changes counts it: in the order of
    each track's first play, with the names of its latest. Whole UTC days of settled plays
    come from track_days; the partial days at the edges and the plays not settled yet from
    the raw plays."""
    since_us, now_us = micros(since), micros(now)
    first_day = -(-since_us // DAY_US) * DAY_US
    end_day = now_us // DAY_US * DAY_US
    if first_day >= end_day:  # no whole day in the window
        return _by_track(c for _, c in _raw(db, _plays(db, since), since_us, now_us, now_us))
    # The partial day at the start, with the first play after it to end its last play.
    head = _plays(db, since, moment(first_day))
    changes = [c for _, c in _raw(db, head, since_us, first_day, now_us)]
    changes.extend(_days(db, first_day, end_day))
    # The tail: the partial day at the end, and the plays of the whole days not settled yet.
    pointer = _pointer(db)
    lower = first_day if pointer is None else max(first_day, min(end_day, pointer[0]))
    for play, change in _raw(db, _plays(db, moment(lower)), lower, now_us + 1, now_us):
        if change[5] >= end_day or pointer is None or (change[5], play) > pointer:
            changes.append(change)
    return _by_track(changes)


def _raw(
    db: Session, rows: Any, from_us: int, before_us: int, now_us: int
) -> Iterator[tuple[int, Sum]]:
    """(play id, its change) for the music plays of `rows` (_plays) that started from
    `from_us` up to `before_us` and ended by `now_us`."""
    for row in rows:
        if (row.kind == "music" and row.end_us is not None and from_us <= row.start_us < before_us
                and row.end_us <= now_us):  # fmt: skip
            yield row.id, _change(db, row)


def _days(db: Session, first_day: int, end_day: int) -> Iterable[Sum]:
    """The settled sums of the days from `first_day` up to `end_day`, per track and names; a
    track that has been deleted since (its plays now name no track) by its names."""
    return db.connection().execute(_DAYS, {"first_day": first_day, "end_day": end_day})  # type: ignore[return-value]


def _sum_days() -> Select[Any]:
    table = TrackDay.__table__
    track = case((Track.id.is_(None), None), else_=table.c.track_id).label("track_id")
    return (
        select(track, table.c.artist, table.c.title, func.sum(table.c.plays),
               func.sum(table.c.change), func.min(table.c.first_us), func.max(table.c.last_us))
        .select_from(table.outerjoin(Track.__table__, Track.id == table.c.track_id))
        .where(table.c.day_us >= bindparam("first_day"), table.c.day_us < bindparam("end_day"))
        .group_by(track, table.c.artist, table.c.title)
    )  # fmt: skip


_DAYS = _sum_days()


def _by_track(changes: Iterable[Sum]) -> list[TrackChange]:
    sums: dict[
        object, list[Any]
    ] = {}  # key -> [first, track id, artist, title, plays, change, last]
    for track_id, artist, title, plays, change, first_us, last_us in changes:
        key = track_id if track_id is not None else (artist, title)
        total = sums.get(key)
        if total is None:
            sums[key] = [first_us, track_id, artist, title, plays, change, last_us]
            continue
        total[4] += plays
        total[5] += change
        if first_us < total[0]:
            total[0] = first_us
        if last_us >= total[6]:
            total[2], total[3], total[6] = artist, title, last_us
    ordered = sorted(sums.values(), key=lambda total: total[0])
    return [TrackChange(*total[1:6]) for total in ordered]
