"""What each track gained or lost in listeners while it played, per UTC day, so the hosts'
"tracks" page reads a few rows per track and day instead of every play of the window.

A music play's change is the listeners when it ended minus those when it started (the
audience marks of totals.py); it ends when the next item starts, or at its own duration if
that comes first (stats.track_changes). A play is counted (settled) into `track_days` (its
day's sum) and `play_changes` (its own row) once its end is known (the next item has
started) and lies before every moment a session can still be heard from (`until_us`): the
last heartbeat, when every open session was heard up to then. Later heartbeats, ends and
the close after a crash only add listening after that, so a settled play's marks never
change again. Plays are settled in time order; the ones not settled yet (the last minute or
so, or everything since a crash) are a tail read from the raw plays.

A window reads its whole days from `track_days` and the partial days at its edges from
`play_changes`. Days are UTC days: the window is a rolling number of 24-hour days, so where
a day starts decides only which table a play is read from, never the answer; UTC days are
all 24 hours long.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
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
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from app.listeners.stats import TrackChange
from app.listeners.totals import MICROS, audience_at, micros, moment, sql_micros
from app.models import (
    AudienceMark,
    ListeningSession,
    Play,
    PlayChange,
    Track,
    TrackDay,
    TrackTotalsState,
)

DAY_US = 24 * 3600 * MICROS
Db = Session | Connection


# One music play's change, or the sum of several (a track_days row): track id, artist,
# title, plays, change, the first play's start, the latest play's start.
Sum = tuple[int | None, str, str, int, int, int, int]
Key = tuple[int, int | None, str, str]  # day, track id, artist, title


@functools.cache
def _timed_plays(dialect: str) -> Select[Any]:
    """The plays that started since :since in time order, with when each ended (None: not
    known yet) and the listeners at its start and end from the marks (None: not marked
    yet). Built once: a request only binds the moment."""
    where = Play.started_at >= bindparam("since")
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


def _plays(db: Db, since: datetime) -> Any:
    connection = db.connection() if isinstance(db, Session) else db
    return connection.execute(_timed_plays(connection.dialect.name), {"since": since})


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
    """Count into track_days and play_changes, in time order, every play not counted yet
    whose end is known and before `until_us` (no session can be heard before that any
    more). Returns how many plays it counted (music or not)."""
    pointer = _pointer(db)
    sums: dict[Key, list[int]] = {}  # key -> [plays, change, first, last]
    each: list[dict[str, Any]] = []
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
        each.append({"play_id": row.id, "start_us": row.start_us, "end_us": row.end_us,
                     "track_id": row.track_id, "artist": row.artist, "title": row.title,
                     "change": change})  # fmt: skip
    if last is None:
        return 0
    _add(db, sums)
    for offset in range(0, len(each), 5000):
        db.execute(insert(PlayChange.__table__), each[offset : offset + 5000])
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
    each track's first play, with the names of its latest. Settled plays: whole UTC days
    from track_days, the partial days at the edges from play_changes, summed per track and
    names by the database; the plays not settled yet from the raw plays."""
    since_us, now_us = micros(since), micros(now)
    first_day = -(-since_us // DAY_US) * DAY_US
    end_day = max(first_day, now_us // DAY_US * DAY_US)
    bounds = {"since": since_us, "first_day": first_day, "end_day": end_day, "now": now_us}
    changes: list[Sum] = list(db.connection().execute(_SETTLED, bounds))  # type: ignore[arg-type]
    pointer = _pointer(db)
    lower = since_us if pointer is None else max(since_us, pointer[0])
    for row in _plays(db, moment(lower)):
        if (row.kind == "music" and row.end_us is not None and row.start_us >= since_us
                and row.end_us <= now_us
                and (pointer is None or (row.start_us, row.id) > pointer)):  # fmt: skip
            changes.append(_change(db, row))
    return _by_track(changes)


def _settled() -> Select[Any]:
    """Sums per track and names over the whole days and the plays at the edges; a track
    deleted since (its plays now name no track) by its names."""
    days, plays = TrackDay.__table__, PlayChange.__table__
    whole = (
        select(days.c.track_id, days.c.artist, days.c.title, days.c.plays, days.c.change,
               days.c.first_us, days.c.last_us)
        .where(days.c.day_us >= bindparam("first_day"), days.c.day_us < bindparam("end_day"))
    )  # fmt: skip
    edges = (
        select(plays.c.track_id, plays.c.artist, plays.c.title, literal(1).label("plays"),
               plays.c.change, plays.c.start_us.label("first_us"),
               plays.c.start_us.label("last_us"))
        .where(or_(and_(plays.c.start_us >= bindparam("since"),
                        plays.c.start_us < bindparam("first_day")),
                   plays.c.start_us >= bindparam("end_day")),
               plays.c.end_us <= bindparam("now"))
    )  # fmt: skip
    both = union_all(whole, edges).subquery()
    track = case((Track.id.is_(None), None), else_=both.c.track_id).label("track_id")
    return (
        # Sums cast back to integers: PostgreSQL sums a BIGINT as NUMERIC (Decimal).
        select(track, both.c.artist, both.c.title, cast(func.sum(both.c.plays), BigInteger),
               cast(func.sum(both.c.change), BigInteger), func.min(both.c.first_us),
               func.max(both.c.last_us))
        .select_from(both.outerjoin(Track.__table__, Track.id == both.c.track_id))
        .group_by(track, both.c.artist, both.c.title)
    )  # fmt: skip


_SETTLED = _settled()


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
