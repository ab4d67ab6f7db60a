"""The top-listeners board, listeners' display names, and the hosts' view of all sessions."""

from __future__ import annotations

import asyncio
import csv
import io
import math
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api.auth import HostDep
from app.api.deps import MAX_SQL_INT, DbDep, StationDep
from app.api.errors import error
from app.listeners.accounting import week_start
from app.listeners.identity import issue_identity, listener_hash, listener_id, remember_listener
from app.listeners.stats import TrackChange, gainers_and_losers, step_for
from app.listeners.totals import (
    MICROS,
    MINUTE_US,
    micros,
    set_on_board,
)
from app.listeners.track_totals import changes_between
from app.models import (
    AudienceMinute,
    ListenerName,
    ListenerTotal,
    ListenerWeek,
    ListeningSession,
)
from app.station import Station

router = APIRouter(prefix="/api/listeners", tags=["listeners"])
hosts = APIRouter(dependencies=[HostDep])  # included below, under the same prefix

BOARD_SIZE = 10
NAME_MAX = 40
CSV_COLUMNS = ["id", "listener", "name", "client", "user_agent", "started_at", "ended_at",
               "seconds", "bytes_sent"]  # fmt: skip


class NameIn(BaseModel):
    name: str = Field(max_length=NAME_MAX * 4)  # spaces are trimmed before the real check


# The board.


def board_standings(station: Station, you: str | None) -> dict[str, Any]:
    """The board for the listener whose hash is `you`; reads the database (not on the loop).

    A few indexed rows from the running totals, whatever the number of sessions: the top
    named listeners, and your rank as one plus the named listeners with more time."""
    week = micros(week_start(datetime.now(UTC), station.settings.timezone))
    periods = {"week": (ListenerWeek, [ListenerWeek.week_us == week]),
               "all_time": (ListenerTotal, [])}  # fmt: skip
    result: dict[str, Any] = {}
    with station.sessions() as db:
        for period, (table, where) in periods.items():
            result[period] = _top(db, table, where)
        result["you"] = None
        if you is not None:
            name = db.scalar(select(ListenerName).where(ListenerName.listener == you))
            mine = {period: db.scalar(select(table.seconds_us)
                                      .where(*where, table.listener == you)) or 0
                    for period, (table, where) in periods.items()}  # fmt: skip
            ranks = {period: _rank(db, table, where, mine[period]) if mine[period] > 0 else None
                     for period, (table, where) in periods.items()}  # fmt: skip
            result["you"] = {
                "name": name.display_name if name else None,
                "on_board": bool(name and name.on_board),
                "week_rank": ranks["week"],
                "all_time_rank": ranks["all_time"],
                "seconds": round(mine["all_time"] / MICROS),
                "week_seconds": round(mine["week"] / MICROS),
            }
    return result


def page_board(request: Request, station: Station) -> dict[str, Any]:
    """The board as the listener asking sees it (their rank): for the box beside a page's
    content. Reads the database: call it off the event loop."""
    identifier = listener_id(request, station.listener_keys)
    return board_standings(station, listener_hash(identifier) if identifier else None)


Totals = type[ListenerWeek] | type[ListenerTotal]


def _top(db: Session, table: Totals, where: list[Any]) -> list[dict[str, Any]]:
    """The named listeners with the most time, most first; equal times share a rank."""
    rows = db.execute(
        select(table.seconds_us, ListenerName.display_name)
        .join(ListenerName, ListenerName.listener == table.listener)
        .where(*where, table.on_board.is_(True), table.seconds_us > 0)
        .order_by(table.seconds_us.desc(), table.listener)
        .limit(BOARD_SIZE)
    ).all()
    entries: list[dict[str, Any]] = []
    for position, row in enumerate(rows, start=1):
        same = position > 1 and rows[position - 2].seconds_us == row.seconds_us
        rank = entries[-1]["rank"] if same else position
        entries.append({"rank": rank, "name": row.display_name,
                        "seconds": round(row.seconds_us / MICROS)})  # fmt: skip
    return entries


def _rank(db: Session, table: Totals, where: list[Any], mine: int) -> int:
    counted = [*where, table.on_board.is_(True), table.seconds_us > mine]
    above = db.scalar(select(func.count()).select_from(table).where(*counted))
    return 1 + (above or 0)


@router.get("/board")
async def get_board(request: Request, station: StationDep) -> dict[str, Any]:
    """Top listeners this week (Monday 00:00 station time) and of all time, and your rank."""
    now = station.listeners_now()
    identifier = listener_id(request, station.listener_keys)
    you = listener_hash(identifier) if identifier else None
    board = await asyncio.to_thread(board_standings, station, you)
    return {"listeners_now": now, **board}


# Display names.


def _valid_name(raw: str) -> str:
    name = raw.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"a name is 1 to {NAME_MAX} characters")  # fmt: skip
    # Control, format (bidi overrides, zero-width) and unassigned characters could make a
    # name look like someone else's or scramble the board.
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "a name may not contain control or invisible characters")  # fmt: skip
    return name


@router.post("/me/name", responses={409: error("that name is taken")})
def set_name(body: NameIn, request: Request, response: Response, db: DbDep,
             station: StationDep) -> dict[str, Any]:  # fmt: skip
    """Choose or change your display name; it puts you on the board."""
    name = _valid_name(body.name)
    identifier = listener_id(request, station.listener_keys)
    if identifier is None:
        identifier = issue_identity(request, station.listener_keys, db)
        remember_listener(response, request, station.listener_keys, identifier)
    key = listener_hash(identifier)
    taken = db.scalar(select(ListenerName).where(ListenerName.name_key == name.lower()))
    if taken is not None and taken.listener != key:
        raise HTTPException(status.HTTP_409_CONFLICT, "that name is taken")
    row = db.scalar(select(ListenerName).where(ListenerName.listener == key))
    if row is None:
        row = ListenerName(listener=key)
        db.add(row)
    row.display_name, row.name_key, row.on_board = name, name.lower(), True
    set_on_board(db, key, True)
    try:
        db.commit()
    except IntegrityError:  # someone took it between the check and the write
        db.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, "that name is taken") from None
    return {"name": name, "on_board": True}


@router.delete("/me/name", status_code=status.HTTP_204_NO_CONTENT)
def leave_board(request: Request, db: DbDep, station: StationDep) -> None:
    """Leave the board: your name is hidden (and kept for you) until you set one again."""
    identifier = listener_id(request, station.listener_keys)
    if identifier is None:
        return
    row = db.scalar(select(ListenerName).where(ListenerName.listener == listener_hash(identifier)))
    if row is not None:
        row.on_board = False
        set_on_board(db, row.listener, False)
        db.commit()


# Hosts: every session.


def _sessions_query() -> Select[Any]:
    return (
        select(ListeningSession, ListenerName.display_name)
        .outerjoin(ListenerName, ListenerName.listener == ListeningSession.listener)
        .order_by(ListeningSession.started_at.desc(), ListeningSession.id.desc())
    )


def _session_rows(db: Session, query: Select[Any]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for row, name in db.execute(query).all():
        end = row.ended_at or now
        rows.append({
            "id": row.id,
            "listener": row.listener[:12] if row.listener else None,
            "name": name,
            "client": row.client[:12],  # a short hash: tells sessions apart, names no one
            "user_agent": row.user_agent,
            "started_at": row.started_at.isoformat(),
            "ended_at": row.ended_at.isoformat() if row.ended_at else None,
            "seconds": round((end - row.started_at).total_seconds()),
            "bytes_sent": row.bytes_sent,
        })  # fmt: skip
    return rows


@hosts.get("/sessions")
def list_sessions(
    db: DbDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INT)] = 0,
) -> dict[str, Any]:
    """All stream sessions, newest first, anonymous players included."""
    total = db.scalar(select(func.count()).select_from(ListeningSession)) or 0
    page = _session_rows(db, _sessions_query().offset(offset).limit(limit))
    return {"total": total, "limit": limit, "offset": offset, "sessions": page}


CSV_BATCH = 2000


@hosts.get("/sessions.csv", response_class=Response,
           responses={200: {"content": {"text/csv": {}}}})  # fmt: skip
def export_sessions(station: StationDep) -> StreamingResponse:
    """Every session as CSV, newest first, streamed in batches (memory stays flat)."""
    disposition = 'attachment; filename="sessions.csv"'
    return StreamingResponse(_csv_batches(station), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": disposition})  # fmt: skip


def _csv_batches(station: Station) -> Iterator[str]:
    # A plain iterator: Starlette runs each step on a worker thread, off the event loop.
    # Each batch reads on its own from where the last one stopped (newest first, by start
    # and id), so no read transaction stays open through a slow download.
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    after: tuple[datetime, int] | None = None
    while True:
        query = _sessions_query().limit(CSV_BATCH)
        if after is not None:
            started, key = after
            query = query.where(or_(ListeningSession.started_at < started,
                                    and_(ListeningSession.started_at == started,
                                         ListeningSession.id < key)))  # fmt: skip
        with station.sessions() as db:
            rows = _session_rows(db, query)
        for row in rows:
            row["user_agent"], row["name"] = _cell(row["user_agent"]), _cell(row["name"])
            writer.writerow(row)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(rows) < CSV_BATCH:
            return
        last = rows[-1]
        after = (datetime.fromisoformat(last["started_at"]), last["id"])


def _cell(text: str | None) -> str | None:
    # A spreadsheet runs a cell starting with = + - @ as a formula; anyone picks these texts.
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


# Hosts: statistics for the dashboard's charts.


@hosts.get("/history")
async def get_listener_history(
    station: StationDep, hours: Annotated[int, Query(ge=1, le=24 * 7)] = 24
) -> dict[str, Any]:
    """Listeners over the last `hours`; the bucket of now counts who listens now too (the
    minutes' peaks are as of the last heartbeat)."""
    live = station.listeners_now()  # on the event loop, where the hub lives
    history = await asyncio.to_thread(_history_from_totals, station, hours)
    points = history["points"]
    if points:
        points[-1]["listeners"] = max(points[-1]["listeners"], live)
    return history


def _history_from_totals(station: Station, hours: int) -> dict[str, Any]:
    with station.sessions() as db:
        return listener_history(db, hours)


def listener_history(db: Session, hours: int) -> dict[str, Any]:
    """Listeners over the last `hours`: the most at any moment of each bucket (5 minutes for
    a day, an hour for a week), a browser with two tabs once. From the minutes' peaks (one
    row per minute, at most 10 080 for a week), as of the last heartbeat."""
    now = datetime.now(UTC)
    since = now - timedelta(hours=hours)
    step = step_for(now - since)
    first = micros(since) // (step * MICROS) * step  # epoch seconds, whole steps
    per_step = step // 60
    bucket = (AudienceMinute.minute // per_step).label("bucket")
    minutes = (AudienceMinute.minute >= first // 60,
               AudienceMinute.minute <= micros(now) // MINUTE_US)  # fmt: skip
    peaks = dict(db.execute(select(bucket, func.max(AudienceMinute.peak))
                            .where(*minutes).group_by(bucket)).all())  # fmt: skip
    end = micros(now) / MICROS
    shown = [{"at": datetime.fromtimestamp(at, UTC).isoformat(),
              "listeners": peaks.get(at // step, 0)}
             for at in range(first, math.ceil(end), step) if at < end]  # fmt: skip
    return {"hours": hours, "step_seconds": step, "points": shown}


@hosts.get("/tracks")
def track_listener_changes(
    db: DbDep,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """The tracks that gained and lost the most listeners while they played, over `days`.
    Music only: jingles, news and the safety source never count as tracks."""
    now = datetime.now(UTC)
    changes = changes_between(db, now - timedelta(days=days), now)
    gainers, losers = gainers_and_losers(changes, limit)
    return {"days": days, "gainers": [_change_json(c) for c in gainers],
            "losers": [_change_json(c) for c in losers]}  # fmt: skip


def _change_json(change: TrackChange) -> dict[str, Any]:
    return {"track_id": change.track_id, "artist": change.artist, "title": change.title,
            "plays": change.plays, "change": change.change,
            "average_change": round(change.average_change, 2)}  # fmt: skip


router.include_router(hosts)
