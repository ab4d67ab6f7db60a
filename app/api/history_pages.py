"""What was that song? The public play history: one day a page in the station's time zone,
newest first and grouped by hour; a search by title or artist; a page for each play, to
share; and the same as JSON for stream clients.

Every request reads a bounded number of rows, each through an index (the plays by start
time, and by track then start time), so a page costs the same after years on air: a day
is at most DAY_LIMIT plays (an earlier part of a busier day is one link away), and a search
looks at the SEARCH_TRACKS most recently played matching tracks, SEARCH_PAGE plays each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import Session

from app.api.deps import RowId, SettingsDep, StationDep
from app.api.templating import public_base_url, render_page, share_links
from app.config import Settings
from app.library.artwork import cover_url
from app.models import Play, Track, utcnow
from app.station import Station
from app.text import clean_text

router = APIRouter(tags=["history"])

DAY_LIMIT = 500  # plays a day's page lists at most
SEARCH_PAGE = 25  # plays a page of search results lists
SEARCH_TRACKS = 50  # the most recently played matching tracks a search looks through
QUERY_MAX = 100
DEFAULT_ARCHIVE_HOURS = 2.0  # the time-shift archive's window when the station names none
# Days whose midnight every time zone can still write: a date outside is no page.
FIRST_DAY, LAST_DAY = date(1970, 1, 2), date(9999, 12, 30)

Day = Annotated[
    date | None,
    Query(ge=FIRST_DAY, le=LAST_DAY,
          description="the day (YYYY-MM-DD) in the station's time zone; today if left out"),
]  # fmt: skip
Before = Annotated[
    RowId | None,
    Query(description="continue after this play: the `more` cursor of the page before"),
]
# No model: app.api.errors documents it as the JSON error, on the pages as on the API.
NO_SUCH_PLAY: dict[str, Any] = {"description": "no play with the id `before` names"}


@dataclass(frozen=True)
class Window:
    """A day in the station's time zone, as the UTC instants it spans."""

    day: date
    start: datetime
    end: datetime


def day_window(day: date, zone: ZoneInfo) -> Window:
    """Local midnight to local midnight: 23 or 25 hours on the days clocks change."""
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return Window(day, start, end)


# --- the queries (each bounded, each through an index) --------------------------------------


def plays_of_day(
    session: Session, window: Window, before: Play | None, limit: int = DAY_LIMIT
) -> tuple[list[Play], bool]:
    """The day's plays newest first, at most `limit`, and whether there are more."""
    query = select(Play).where(Play.started_at >= window.start, Play.started_at < window.end)
    if before is not None:
        query = query.where(tuple_(Play.started_at, Play.id) < (before.started_at, before.id))
    plays = list(
        session.scalars(query.order_by(Play.started_at.desc(), Play.id.desc()).limit(limit + 1))
    )
    return plays[:limit], len(plays) > limit


def neighbour_days(session: Session, window: Window, zone: ZoneInfo) -> tuple[date | None, ...]:
    """The nearest earlier and later days that have plays (an index's first or last entry)."""
    started = Play.started_at
    earlier = session.scalar(select(func.max(started)).where(started < window.start))
    later = session.scalar(select(func.min(started)).where(started >= window.end))
    return tuple(
        None if moment is None else _as_utc(moment).astimezone(zone).date()
        for moment in (earlier, later)
    )


def search_plays(
    session: Session, text: str, before: Play | None, limit: int = SEARCH_PAGE
) -> tuple[list[Play], bool, bool]:
    """Plays of tracks whose title or artist contains `text`, newest first: at most `limit`,
    whether there are more, and whether more tracks matched than a search looks through.

    The library is searched (its size, not the history's), then each of the most recently
    played matching tracks gives its newest `limit` plays before the cursor."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    tracks = session.scalars(
        select(Track.id)
        .where(or_(Track.title.ilike(pattern, escape="\\"),
                   Track.artist.ilike(pattern, escape="\\")),
               Track.last_played_at.is_not(None))
        .order_by(Track.last_played_at.desc(), Track.id.desc())
        .limit(SEARCH_TRACKS + 1)
    ).all()  # fmt: skip
    # Each track's newest plays from the index alone (it holds the start and the row id),
    # then only the page's rows from the table.
    keys: list[tuple[datetime, int]] = []
    for track_id in tracks[:SEARCH_TRACKS]:
        query = select(Play.started_at, Play.id).where(Play.track_id == track_id)
        if before is not None:
            query = query.where(tuple_(Play.started_at, Play.id) < (before.started_at, before.id))
        order = (Play.started_at.desc(), Play.id.desc())
        keys.extend(
            (_as_utc(at), id_)
            for at, id_ in session.execute(query.order_by(*order).limit(limit + 1))
        )
    keys.sort(reverse=True)
    page = [id_ for _, id_ in keys[:limit]]
    rows = {play.id: play for play in session.scalars(select(Play).where(Play.id.in_(page)))}
    return [rows[id_] for id_ in page], len(keys) > limit, len(tracks) > SEARCH_TRACKS


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _play(session: Session, play_id: int) -> Play:
    play = session.get(Play, play_id)
    if play is None:
        raise HTTPException(404, f"no play {play_id} in the history")
    return play


# --- what a page and the JSON show of a play ------------------------------------------------


def archive_oldest(station: Station, settings: Settings, now: datetime) -> datetime | None:
    """The oldest moment `/stream?at=` can play: the archive's own answer where the station
    keeps one, else its configured window back from now; None: no archive."""
    archive = getattr(station, "archive", None)
    if archive is not None:
        moment = archive.oldest()
        return None if moment is None else datetime.fromtimestamp(moment, UTC)
    hours = float(getattr(settings, "archive_hours", DEFAULT_ARCHIVE_HOURS))
    return now - timedelta(hours=hours) if hours > 0 else None


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the millisecond: no '+' to escape in a link."""
    return _as_utc(moment).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Context:
    """What every play's view needs: where the site is, its time zone, the archive's start."""

    base: str
    zone: ZoneInfo
    oldest: datetime | None


def play_view(play: Play, context: Context) -> dict[str, Any]:
    started = _as_utc(play.started_at)
    in_archive = context.oldest is not None and started >= context.oldest
    at = "at=" + quote(iso_z(started), safe=":")  # readable: 2026-11-30T05:22:36.662Z
    name = " – ".join(part for part in (play.artist, play.title) if part) or play.kind
    return {
        "id": play.id,
        "kind": play.kind,
        "title": play.title,
        "artist": play.artist,
        "album": play.album,
        "name": name,
        "started_at": started,
        "local": started.astimezone(context.zone),
        "cover": cover_url(play.track_id, play.artist, play.title),
        "path": f"/history/{play.id}",
        "url": f"{context.base}/history/{play.id}",
        "day_path": f"/history?date={started.astimezone(context.zone).date().isoformat()}",
        "listen_path": f"/?{at}" if in_archive else None,
        "stream_path": f"/stream?{at}" if in_archive else None,
    }


def play_json(view: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "id": view["id"],
        "kind": view["kind"],
        "title": view["title"],
        "artist": view["artist"],
        "album": view["album"],
        "started_at": iso_z(view["started_at"]),
        "local_time": view["local"].isoformat(timespec="seconds"),
        "cover": base + view["cover"],
        "url": view["url"],
        "listen_url": base + view["listen_path"] if view["listen_path"] else None,
        "stream_url": base + view["stream_path"] if view["stream_path"] else None,
    }


def _context(request: Request, station: Station, settings: Settings) -> Context:
    zone = ZoneInfo(settings.timezone)
    return Context(public_base_url(request, settings), zone,
                   archive_oldest(station, settings, utcnow()))  # fmt: skip


def _on_air(session: Session, now: datetime) -> Play | None:
    """The latest play while it is still on air (its length not yet over)."""
    latest = session.scalar(select(Play).order_by(Play.started_at.desc(), Play.id.desc()).limit(1))
    if latest is None:
        return None
    if (
        latest.duration is not None
        and _as_utc(latest.started_at) + timedelta(seconds=latest.duration) < now
    ):
        return None
    return latest


def _hours(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive plays of the same local hour together, newest hour first."""
    hours: list[dict[str, Any]] = []
    for view in views:
        label = view["local"].strftime("%H:00")
        if not hours or hours[-1]["label"] != label:
            hours.append({"label": label, "anchor": f"h{label[:2]}", "plays": []})
        hours[-1]["plays"].append(view)
    return hours


def _search_text(q: str) -> str:
    # clean_text: no stored title holds a control character (and PostgreSQL takes no NUL).
    return clean_text(q)


# --- the pages ------------------------------------------------------------------------------


@router.get("/history", response_class=HTMLResponse, responses={404: NO_SUCH_PLAY})
def history_page(
    request: Request,
    station: StationDep,
    settings: SettingsDep,
    date: Day = None,
    q: Annotated[str, Query(max_length=QUERY_MAX, description="title or artist")] = "",
    before: Before = None,
) -> HTMLResponse:
    """The day's plays by hour (today unless `date`), or the plays matching `q`."""
    context = _context(request, station, settings)
    now = utcnow()
    today = now.astimezone(context.zone).date()
    text = _search_text(q)
    with station.sessions() as session:
        cursor = _play(session, before) if before is not None else None
        on_air = _on_air(session, now)
        page: dict[str, Any] = {
            "q": text,
            "today": today,
            "on_air": play_view(on_air, context) if on_air else None,
            "on_air_share": share_links(context.base + f"/history/{on_air.id}",
                                        _share_title(on_air)) if on_air else [],
        }  # fmt: skip
        if text:
            plays, more, capped = search_plays(session, text, cursor)
            page.update(results=[play_view(p, context) for p in plays], capped=capped,
                        more_path=_more("/history", plays, more, q=text))  # fmt: skip
            return render_page(request, settings, "history.html", section="history", **page)
        window = day_window(date or today, context.zone)
        plays, more = plays_of_day(session, window, cursor)
        earlier, later = neighbour_days(session, window, context.zone)
        day = window.day.isoformat()
        page.update(
            day=window.day,
            hours=_hours([play_view(p, context) for p in plays]),
            more_path=_more("/history", plays, more, date=day),
            earlier_path=f"/history?date={earlier.isoformat()}" if earlier else None,
            later_path=f"/history?date={later.isoformat()}" if later and later <= today else None,
            is_today=window.day == today,
        )
    return render_page(request, settings, "history.html", section="history", **page)


def _more(path: str, plays: list[Play], more: bool, **query: str) -> str | None:
    if not more or not plays:
        return None
    return f"{path}?{urlencode({**query, 'before': plays[-1].id})}"


def _share_title(play: Play) -> str:
    return " – ".join(part for part in (play.artist, play.title) if part) or play.kind


@router.get("/history/{play_id}", response_class=HTMLResponse)
def play_page(
    play_id: RowId, request: Request, station: StationDep, settings: SettingsDep
) -> HTMLResponse:
    """One play: what it was, when it aired, "listen from here" while the archive holds it,
    and share links; OpenGraph tags make a shared link show its cover and title."""
    context = _context(request, station, settings)
    with station.sessions() as session:
        play = _play(session, play_id)
        view = play_view(play, context)
        share = share_links(view["url"], _share_title(play))
    return render_page(request, settings, "history_play.html", play=view, share=share,
                       cover_url=context.base + view["cover"], section="history")  # fmt: skip


# --- the same as JSON, for stream clients ---------------------------------------------------


class PlayOut(BaseModel):
    id: int
    kind: str = Field(description="music, jingle, news or safety")
    title: str
    artist: str
    album: str
    started_at: str = Field(description="when its first audio aired (ISO 8601, UTC)")
    local_time: str = Field(description="the same in the station's time zone, with its offset")
    cover: str = Field(description="the cover's URL")
    url: str = Field(description="the play's page, to share")
    listen_url: str | None = Field(description="the player from this play on; null: not kept")
    stream_url: str | None = Field(description="the stream from this play on; null: not kept")


class HistoryDayOut(BaseModel):
    date: str = Field(description="the day, in the station's time zone")
    timezone: str
    items: list[PlayOut] = Field(description=f"newest first, at most {DAY_LIMIT}")
    more: int | None = Field(description="more of the day: ask again with before=<this>")
    earlier: str | None = Field(description="the nearest earlier day with plays")
    later: str | None = Field(description="the nearest later day with plays")


class HistorySearchOut(BaseModel):
    q: str
    items: list[PlayOut] = Field(description=f"newest first, at most {SEARCH_PAGE}")
    more: int | None = Field(description="more plays: ask again with before=<this>")
    narrowed: bool = Field(
        description=f"more tracks matched than the {SEARCH_TRACKS} most recently played that "
        "a search looks through: a longer query finds the others"
    )


@router.get("/api/history", response_model=HistoryDayOut, responses={404: NO_SUCH_PLAY})
def history_json(
    request: Request, station: StationDep, settings: SettingsDep, date: Day = None,
    before: Before = None,
) -> dict[str, Any]:  # fmt: skip
    """A day's plays, newest first, in pages of at most DAY_LIMIT."""
    context = _context(request, station, settings)
    window = day_window(date or utcnow().astimezone(context.zone).date(), context.zone)
    with station.sessions() as session:
        cursor = _play(session, before) if before is not None else None
        plays, more = plays_of_day(session, window, cursor)
        earlier, later = neighbour_days(session, window, context.zone)
        items = [play_json(play_view(p, context), context.base) for p in plays]
    return {
        "date": window.day.isoformat(),
        "timezone": settings.timezone,
        "items": items,
        "more": plays[-1].id if more and plays else None,
        "earlier": earlier.isoformat() if earlier else None,
        "later": later.isoformat() if later else None,
    }


@router.get("/api/history/search", response_model=HistorySearchOut,
            responses={404: NO_SUCH_PLAY})  # fmt: skip
def history_search_json(
    request: Request,
    station: StationDep,
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=1, max_length=QUERY_MAX, pattern=r"\S",
                            description="part of a title or an artist")],
    before: Before = None,
) -> dict[str, Any]:  # fmt: skip
    """Plays of the tracks whose title or artist contains `q` (any case), newest first."""
    context = _context(request, station, settings)
    text = _search_text(q)
    with station.sessions() as session:
        cursor = _play(session, before) if before is not None else None
        plays, more, capped = search_plays(session, text, cursor)
        items = [play_json(play_view(p, context), context.base) for p in plays]
    return {"q": text, "items": items, "more": plays[-1].id if more and plays else None,
            "narrowed": capped}  # fmt: skip


@router.get("/api/history/{play_id}", response_model=PlayOut)
def play_json_route(
    play_id: RowId, request: Request, station: StationDep, settings: SettingsDep
) -> dict[str, Any]:
    context = _context(request, station, settings)
    with station.sessions() as session:
        return play_json(play_view(_play(session, play_id), context), context.base)
