"""Listeners' song requests: search the library, request a track, see your requests; hosts
see, reorder and remove the waiting ones and set the rules.

A listener is their signed `radio_listener` cookie (app/listeners/identity.py), and their
client network for the per-address limit. Refusals are 4xx answers whose `detail` is a
sentence the listener can read on screen: 403 requests are closed or the track is not in a
request playlist, 404 no such song, 409 separation (the track played or comes up soon, or
its artist is on around then), 429 a limit (per hour, waiting requests, searches) with
`Retry-After`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.accounts.ratelimit import FailureWindow
from app.api.auth import HostDep
from app.api.deps import MAX_SQL_INT, RowId, StationDep
from app.api.errors import error, retry_later
from app.library.artwork import cover_url
from app.listeners.identity import (
    address_hash,
    client_network,
    issue_identity,
    listener_hash,
    listener_id,
    remember_listener,
)
from app.models import (
    ListenerName,
    Playlist,
    PlaylistEntry,
    RequestRules,
    Track,
    TrackKind,
    TrackStatus,
)
from app.scheduler import requests as rules_module
from app.scheduler.queue import QueueError
from app.scheduler.requests import RequestRefused
from app.station import Station

router = APIRouter()
listeners = APIRouter(prefix="/api/requests", tags=["requests"])
hosts = APIRouter(prefix="/api/requests", tags=["requests"], dependencies=[HostDep])

REQUEST_ATTEMPTS_PER_MINUTE = 20  # a client network's request attempts, refused ones too
SEARCH_MAX = 100  # characters of a search
PAGE_MAX = 20
OFFSET_MAX = 10_000
MINE_HOURS = 24
ANONYMOUS = "a listener"


class TrackFound(BaseModel):
    id: int
    artist: str
    title: str
    album: str
    duration: float | None
    cover: str | None


class SearchPage(BaseModel):
    items: list[TrackFound]
    offset: int
    limit: int
    more: bool = Field(description="further results after this page")


class RequestIn(BaseModel):
    track_id: RowId


class RequestOut(BaseModel):
    id: int | None = None
    track_id: int
    artist: str
    title: str
    status: str = Field(description="pending, aired or removed")
    requested_by: str
    expected_start: datetime | None = Field(description="while it waits: when it should air")
    position: int | None = Field(None, description="its place in the queue (0: next)")


class MyRequests(BaseModel):
    items: list[RequestOut]


class RulesIO(BaseModel):
    enabled: bool = True
    playlist_ids: list[Annotated[int, Field(ge=1, le=MAX_SQL_INT)]] = Field(
        default_factory=list, max_length=100, description="only these playlists; [] any track"
    )
    per_listener_hour: int | None = Field(None, ge=0, le=1000, description="null: default")
    per_address_hour: int | None = Field(None, ge=0, le=1000, description="null: default")
    max_pending: int | None = Field(None, ge=0, le=50, description="null: default")


class RulesOut(RulesIO):
    effective: dict[str, int] = Field(description="the limits in force, defaults filled in")


class Move(BaseModel):
    position: int = Field(ge=0, le=MAX_SQL_INT, description="queue position, 0: next")


def _throttle(request: Request, window_name: str, what: str) -> None:
    window: FailureWindow = getattr(request.state, window_name)
    wait = window.take(address_hash(client_network(request)))
    if wait:
        seconds = max(1, round(wait))
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"Too many {what} from your network: try again in {seconds} s.",
                            headers={"Retry-After": str(seconds)})  # fmt: skip


@listeners.get("/search", responses={429: retry_later("too many searches from this network")})
def search(
    request: Request,
    station: StationDep,
    q: Annotated[str, Query(max_length=SEARCH_MAX, description="artist, title or album")] = "",
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 10,
) -> SearchPage:
    """Songs listeners may request (the request playlists' when hosts chose some), by
    artist, title or album; a page at a time."""
    _throttle(request, "request_searches", "searches")
    with station.sessions() as session:
        rules = rules_module.limits(session, station.settings)
        query = select(Track).where(Track.status == TrackStatus.ready,
                                    Track.kind == TrackKind.music)  # fmt: skip
        for word in q.split()[:8]:
            like = f"%{_escape(word.lower())}%"
            columns = (Track.artist, Track.title, Track.album)
            query = query.where(
                or_(*(func.lower(column).like(like, escape="\\") for column in columns))
            )
        if rules.playlist_ids:
            query = query.where(Track.id.in_(select(PlaylistEntry.track_id).where(
                PlaylistEntry.playlist_id.in_(rules.playlist_ids))))  # fmt: skip
        rows = session.scalars(
            query.order_by(func.lower(Track.artist), func.lower(Track.title), Track.id)
            .offset(offset).limit(limit + 1)
        ).all()  # fmt: skip
    items = [TrackFound(id=t.id, artist=t.artist, title=t.title, album=t.album,
                        duration=t.duration, cover=cover_url(t.id, t.artist, t.title))
             for t in rows[:limit]]  # fmt: skip
    return SearchPage(items=items, offset=offset, limit=limit, more=len(rows) > limit)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@listeners.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        403: error("requests are closed, or the song is not in a request playlist"),
        404: error("no such song in the library"),
        409: error("separation: the song played or comes up soon, or its artist is on then"),
        429: retry_later("over a limit: per listener or network per hour, or waiting requests"),
    },
)
def make_request(body: RequestIn, request: Request, response: Response,
                 station: StationDep) -> RequestOut:  # fmt: skip
    """Request a song: it is planned at the first point the limits and separation allow, and
    shows in "up next" as requested by your display name."""
    _throttle(request, "request_attempts", "request attempts")
    keys = station.listener_keys
    identifier = listener_id(request, keys)
    if identifier is None:
        with station.sessions() as session:
            identifier = issue_identity(request, keys, session)
        remember_listener(response, request, keys, identifier)
    listener = listener_hash(identifier)
    client = address_hash(client_network(request))
    with station.sessions() as session:
        name = session.scalar(select(ListenerName.display_name).where(
            ListenerName.listener == listener))  # fmt: skip
    try:
        planned = station.planner.add_request(body.track_id, listener, client, name or "")
    except RequestRefused as refused:
        headers = {"Retry-After": str(round(refused.retry_after))} if refused.retry_after else None
        raise HTTPException(refused.status, str(refused), headers=headers) from refused
    item = planned.item
    return RequestOut(track_id=body.track_id, artist=item.artist, title=item.title,
                      status=rules_module.PENDING, requested_by=item.requested_by,
                      expected_start=planned.expected_start, position=planned.position)  # fmt: skip


@listeners.get("/mine")
async def my_requests(request: Request, station: StationDep) -> MyRequests:
    """Your requests of the last day, newest first."""
    identifier = listener_id(request, station.listener_keys)
    if identifier is None:
        return MyRequests(items=[])
    since = datetime.now(UTC) - timedelta(hours=MINE_HOURS)
    rows = await asyncio.to_thread(station.planner.requests_of, listener_hash(identifier), since)
    return MyRequests(items=[
        RequestOut(id=r.id, track_id=t.id, artist=t.artist, title=t.title, status=r.status,
                   requested_by=r.name or ANONYMOUS, expected_start=at)
        for r, t, at in rows
    ])  # fmt: skip


# --- Hosts --------------------------------------------------------------------------------


@hosts.get("")
def waiting_requests(station: StationDep) -> MyRequests:
    """The requests waiting to air, in the order they will, with their queue positions."""
    return _waiting(station)


def _waiting(station: Station) -> MyRequests:
    return MyRequests(items=[
        RequestOut(id=r.id, track_id=r.track_id, artist=u.item.artist, title=u.item.title,
                   status=r.status, requested_by=r.name or ANONYMOUS,
                   expected_start=u.expected_start, position=u.position)
        for r, u in station.planner.pending_requests()
    ])  # fmt: skip


@hosts.post("/{request_id}/move")
def move_request(request_id: RowId, body: Move, station: StationDep) -> MyRequests:
    """Move a waiting request to a position in the queue."""
    try:
        station.planner.move_request(request_id, body.position)
    except QueueError as failure:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(failure)) from failure
    return _waiting(station)


@hosts.delete("/{request_id}")
def remove_request(request_id: RowId, station: StationDep) -> MyRequests:
    """Take a waiting request out of the queue; it will not air."""
    try:
        station.planner.remove_request(request_id)
    except QueueError as failure:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(failure)) from failure
    return _waiting(station)


@hosts.get("/rules")
def get_rules(station: StationDep) -> RulesOut:
    with station.sessions() as session:
        return _rules_out(session, station)


@hosts.put("/rules", responses={422: error("a playlist that does not exist")})
def set_rules(body: RulesIO, station: StationDep) -> RulesOut:
    """Open or close requests, limit them to some playlists, and set the limits (null: the
    RADIO_REQUEST_* default)."""
    with station.sessions() as session:
        ids = sorted(set(body.playlist_ids))
        known = set(session.scalars(select(Playlist.id).where(Playlist.id.in_(ids))))
        if missing := [i for i in ids if i not in known]:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"no playlist {', '.join(map(str, missing))}")  # fmt: skip
        row = session.get(RequestRules, rules_module.RULES_ID)
        if row is None:
            row = RequestRules(id=rules_module.RULES_ID)
            session.add(row)
        row.enabled, row.playlist_ids = body.enabled, ids
        row.per_listener_hour, row.per_address_hour = body.per_listener_hour, body.per_address_hour
        row.max_pending = body.max_pending
        session.commit()
        return _rules_out(session, station)


def _rules_out(session: Session, station: Station) -> RulesOut:
    row = session.get(RequestRules, rules_module.RULES_ID)
    limits = rules_module.limits(session, station.settings)
    effective = {"per_listener_hour": limits.per_listener_hour,
                 "per_address_hour": limits.per_address_hour,
                 "max_pending": limits.max_pending}  # fmt: skip
    if row is None:
        return RulesOut(enabled=limits.enabled, effective=effective)
    return RulesOut(enabled=row.enabled, playlist_ids=list(row.playlist_ids or []),
                    per_listener_hour=row.per_listener_hour,
                    per_address_hour=row.per_address_hour, max_pending=row.max_pending,
                    effective=effective)  # fmt: skip


router.include_router(listeners)
router.include_router(hosts)
