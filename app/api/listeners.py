"""The top-listeners board, listeners' display names, and the hosts' view of all sessions."""

from __future__ import annotations

import asyncio
import csv
import io
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api.auth import HostDep
from app.api.deps import StationDep
from app.listeners.accounting import Ranked, Totals, rank, totals
from app.listeners.accounting import Session as Interval
from app.listeners.stats import (
    Audience,
    Connection,
    Played,
    TrackChange,
    gainers_and_losers,
    history,
    presence,
    step_for,
    track_changes,
)
from app.models import ListenerName, ListeningSession, Play
from app.news.listeners import listener_hash, listener_id, new_listener_id, remember_listener
from app.station import Station

router = APIRouter(prefix="/api/listeners", tags=["listeners"])
hosts = APIRouter(dependencies=[HostDep])  # included below, under the same prefix

BOARD_SIZE = 10
NAME_MAX = 40
CSV_COLUMNS = ["id", "listener", "name", "client", "user_agent", "started_at", "ended_at",
               "seconds", "bytes_sent"]  # fmt: skip


class NameIn(BaseModel):
    name: str


def _database(station: StationDep) -> Iterator[Session]:
    with station.sessions() as session:
        yield session


DbDep = Annotated[Session, Depends(_database)]


# The board.


def _listening(station: Station, now: datetime) -> dict[str, Totals]:
    with station.sessions() as db:
        rows = db.execute(
            select(ListeningSession.listener, ListeningSession.started_at,
                   ListeningSession.ended_at).where(ListeningSession.listener.is_not(None))
        ).all()  # fmt: skip
    sessions = [Interval(row.listener, row.started_at, row.ended_at) for row in rows]
    settings = station.settings
    return totals(sessions, now, settings.timezone, settings.listener_min_seconds)


def board_standings(station: Station, you: str | None) -> dict[str, Any]:
    """The board for the listener whose hash is `you`; reads the database (not on the loop)."""
    listening = _listening(station, datetime.now(UTC))
    with station.sessions() as db:
        names = {row.listener: row for row in db.scalars(select(ListenerName))}
    shown = {key: row.display_name for key, row in names.items() if row.on_board}

    def board(pick: str) -> tuple[list[dict[str, Any]], list[Ranked]]:
        seconds = {key: getattr(listening[key], pick) for key in shown if key in listening}
        ranked = rank(seconds)
        entries = [{"rank": r.rank, "name": shown[r.listener], "seconds": round(r.seconds)}
                   for r in ranked[:BOARD_SIZE]]  # fmt: skip
        if you is not None and you not in shown and you in listening:
            ranked = rank({**seconds, you: getattr(listening[you], pick)})
        return entries, ranked

    week, week_ranked = board("week")
    all_time, all_ranked = board("all_time")
    result: dict[str, Any] = {"week": week, "all_time": all_time, "you": None}
    if you is not None:
        mine = listening.get(you, Totals(0.0, 0.0))
        name = names.get(you)
        result["you"] = {
            "name": name.display_name if name else None,
            "on_board": bool(name and name.on_board),
            "week_rank": next((r.rank for r in week_ranked if r.listener == you), None),
            "all_time_rank": next((r.rank for r in all_ranked if r.listener == you), None),
            "seconds": round(mine.all_time),
            "week_seconds": round(mine.week),
        }
    return result


@router.get("/board")
async def get_board(request: Request, station: StationDep) -> dict[str, Any]:
    """Top listeners this week (Monday 00:00 station time) and of all time, and your rank."""
    now = station.hub.listeners_now()
    identifier = listener_id(request)
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


@router.post("/me/name")
def set_name(body: NameIn, request: Request, response: Response, db: DbDep) -> dict[str, Any]:
    """Choose or change your display name; it puts you on the board."""
    name = _valid_name(body.name)
    identifier = listener_id(request)
    if identifier is None:
        identifier = new_listener_id()
        remember_listener(response, request, identifier)
    key = listener_hash(identifier)
    taken = db.scalar(select(ListenerName).where(ListenerName.name_key == name.lower()))
    if taken is not None and taken.listener != key:
        raise HTTPException(status.HTTP_409_CONFLICT, "that name is taken")
    row = db.scalar(select(ListenerName).where(ListenerName.listener == key))
    if row is None:
        row = ListenerName(listener=key)
        db.add(row)
    row.display_name, row.name_key, row.on_board = name, name.lower(), True
    try:
        db.commit()
    except IntegrityError:  # someone took it between the check and the write
        db.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, "that name is taken") from None
    return {"name": name, "on_board": True}


@router.delete("/me/name", status_code=status.HTTP_204_NO_CONTENT)
def leave_board(request: Request, db: DbDep) -> None:
    """Leave the board: your name is hidden (and kept for you) until you set one again."""
    identifier = listener_id(request)
    if identifier is None:
        return
    row = db.scalar(select(ListenerName).where(ListenerName.listener == listener_hash(identifier)))
    if row is not None:
        row.on_board = False
        db.commit()


# Hosts: every session.


def _session_rows(db: Session, limit: int | None, offset: int) -> list[dict[str, Any]]:
    query = (
        select(ListeningSession, ListenerName.display_name)
        .outerjoin(ListenerName, ListenerName.listener == ListeningSession.listener)
        .order_by(ListeningSession.started_at.desc(), ListeningSession.id.desc())
        .offset(offset)
        .limit(limit)
    )
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
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """All stream sessions, newest first, anonymous players included."""
    total = db.scalar(select(func.count()).select_from(ListeningSession)) or 0
    return {"total": total, "limit": limit, "offset": offset,
            "sessions": _session_rows(db, limit, offset)}  # fmt: skip


@hosts.get("/sessions.csv")
def export_sessions(db: DbDep) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    for row in _session_rows(db, None, 0):
        row["user_agent"], row["name"] = _cell(row["user_agent"]), _cell(row["name"])
        writer.writerow(row)
    disposition = 'attachment; filename="sessions.csv"'
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": disposition})  # fmt: skip


def _cell(text: str | None) -> str | None:
    # A spreadsheet runs a cell starting with = + - @ as a formula; anyone picks these texts.
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


# Hosts: statistics for the dashboard's charts.


def _connections(db: Session, since: datetime, until: datetime) -> list[Connection]:
    """Every session that overlaps [since, until]; open ones are still connected."""
    rows = db.execute(
        select(ListeningSession.listener, ListeningSession.started_at, ListeningSession.ended_at)
        .where(ListeningSession.started_at < until)
        .where(ListeningSession.ended_at.is_(None) | (ListeningSession.ended_at > since))
    ).all()
    return [Connection(row.listener, row.started_at, row.ended_at) for row in rows]


@hosts.get("/history")
def listener_history(
    db: DbDep, hours: Annotated[int, Query(ge=1, le=24 * 7)] = 24
) -> dict[str, Any]:
    """Listeners over the last `hours`: the most at any moment of each bucket (5 minutes for
    a day, an hour for a week), a browser with two tabs once."""
    now = datetime.now(UTC)
    since = now - timedelta(hours=hours)
    step = step_for(now - since)
    points = history(presence(_connections(db, since, now), now), since, now, step)
    shown = [{"at": point.at.isoformat(), "listeners": point.listeners} for point in points]
    return {"hours": hours, "step_seconds": step, "points": shown}


@hosts.get("/tracks")
def track_listener_changes(
    db: DbDep,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """The tracks that gained and lost the most listeners while they played, over `days`."""
    now = datetime.now(UTC)
    since = now - timedelta(days=days)
    plays = [Played(p.kind, p.track_id, p.artist, p.title, p.started_at, p.duration)
             for p in db.scalars(select(Play).where(Play.started_at >= since))]  # fmt: skip
    audience = Audience(presence(_connections(db, since, now), now))
    gainers, losers = gainers_and_losers(track_changes(plays, audience, now), limit)
    return {"days": days, "gainers": [_change_json(c) for c in gainers],
            "losers": [_change_json(c) for c in losers]}  # fmt: skip


def _change_json(change: TrackChange) -> dict[str, Any]:
    return {"track_id": change.track_id, "artist": change.artist, "title": change.title,
            "plays": change.plays, "change": change.change,
            "average_change": round(change.average_change, 2)}  # fmt: skip


router.include_router(hosts)
