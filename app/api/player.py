"""The listeners' front page (/) and the embeddable player (/embed).

Both pages are whole without JavaScript: what is on air, up next and recently played are
rendered on the server, and web/static/player.js then keeps them live from the push
channel (/api/now-playing/events) and runs the audio element."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import select

from app.api.auth import page_session
from app.api.deps import SettingsDep, StationDep
from app.api.listeners import board_standings
from app.api.news_pages import latest_stories
from app.api.static import STATIC_DIR
from app.api.templating import public_base_url, render_page, station_identity
from app.config import Settings
from app.listeners.identity import issue_identity, listener_hash, listener_id, remember_listener
from app.models import Playlist, PlaylistRule, utcnow
from app.scheduler.dayparts import in_dayparts, parse_dayparts
from app.shows import ShowSlot
from app.station import Station

router = APIRouter(tags=["player"])

LATEST_STORIES = 5
PROGRAMME_SLOTS = 8  # today's programme lists at most this many upcoming clock items
PROGRAMME_PLAYLISTS = 50  # and reads at most this many hourly playlists
# The iframe the player page suggests for /embed: the embed's layout keeps every line to one
# line (web/static/embed.css), so at this size nothing of it is ever cut off
# (tests/browser/test_identity.py measures it in a real page).
EMBED_WIDTH = 400
EMBED_HEIGHT = 260


@router.get("/", response_class=HTMLResponse)
async def player_page(request: Request, station: StationDep, settings: SettingsDep) -> HTMLResponse:
    identifier = listener_id(request, station.listener_keys)
    you = listener_hash(identifier) if identifier else None
    stories, board, programme = await asyncio.to_thread(_front_page_data, station, you)
    snippet = embed_snippet(request, settings)
    response = await _player(request, station, settings, "player.html", stories=stories,
                             board=board, programme=programme, section="live",
                             embed_snippet=snippet)  # fmt: skip
    # No site may frame it (app.headers): a signed-in host's skip is on this page; /embed is
    # the page for other sites.
    return response


def _issue_identity(request: Request, station: Station) -> str:
    with station.sessions() as db:
        return issue_identity(request, station.listener_keys, db)


def _front_page_data(
    station: Station, you: str | None
) -> tuple[list[Any], dict[str, Any], list[dict[str, Any]]]:
    with station.sessions() as session:
        stories = latest_stories(session, LATEST_STORIES)
        hourly = session.scalars(
            select(Playlist)
            .where(Playlist.enabled.is_(True), Playlist.rule == PlaylistRule.hourly,
                   Playlist.minute.is_not(None), Playlist.is_jingle.is_(False))
            .order_by(Playlist.minute, Playlist.id)
            .limit(PROGRAMME_PLAYLISTS)
        ).all()  # fmt: skip
        clock_items = [(p.name, p.minute or 0, p.schedule) for p in hourly]
    now = utcnow()
    programme = todays_programme(station.settings, clock_items, now,
                                 station.shows.today(now), station.shows.holds_news)  # fmt: skip
    return stories, board_standings(station, you), programme


def todays_programme(
    settings: Settings,
    clock_items: list[tuple[str, int, Any]],
    now: datetime,
    shows: Sequence[ShowSlot] = (),
    holds_news: Callable[[datetime], bool] = lambda at: False,
) -> list[dict[str, Any]]:
    """What the clock brings for the rest of the station's day: the shows in their slots
    (the one on now first), the news bulletins at their minute (unless a show the news does
    not interrupt holds them), and the hourly playlists at theirs (inside their dayparts),
    soonest first, at most PROGRAMME_SLOTS. `clock_items` are (playlist name, minute,
    dayparts); `shows` the slots on now or later today."""
    zone = ZoneInfo(settings.timezone)
    local = now.astimezone(zone)
    hour = local.replace(minute=0, second=0, microsecond=0)
    slots: list[dict[str, Any]] = []
    for step in range(24):
        start = hour + timedelta(hours=step)
        if start.date() != local.date():
            break  # the station's day is over
        news_at = start.replace(minute=max(settings.bulletin_minute, 0))
        if settings.bulletin_minute >= 0 and not holds_news(news_at):
            slots.append({"at": start.replace(minute=settings.bulletin_minute),
                          "title": "News bulletin", "kind": "news", "label": "News"})  # fmt: skip
        for name, minute, dayparts in clock_items:
            at = start.replace(minute=minute)
            if in_dayparts(parse_dayparts(dayparts), at):
                slots.append({"at": at, "title": name, "kind": "music", "label": "On the hour"})
        if sum(slot["at"] > local for slot in slots) >= PROGRAMME_SLOTS:
            break
    on_now = [{"at": show.starts.astimezone(zone), "title": show.label, "kind": "show",
               "label": "On now"} for show in shows if show.starts <= now]  # fmt: skip
    later = [{"at": show.starts.astimezone(zone), "title": show.label, "kind": "show",
              "label": "Live"} for show in shows if show.starts > now]  # fmt: skip
    upcoming = sorted((s for s in slots + later if s["at"] > local), key=lambda s: s["at"])
    return (on_now + upcoming)[:PROGRAMME_SLOTS]


@router.get("/embed", response_class=HTMLResponse)
async def embed_page(request: Request, station: StationDep, settings: SettingsDep) -> HTMLResponse:
    """A small player for other sites' iframes: play, volume and what is on."""
    # Any site may frame it (app.headers): it carries no host controls, so clickjacking
    # gains nothing.
    return await _player(request, station, settings, "embed.html")


JOINED_WAIT_SECONDS = 3.0  # `?wait=true`: how long to wait for the connection to arrive
JOINED_POLL_SECONDS = 0.05


@router.get("/api/stream/joined/{tag}")
async def stream_joined(tag: str, station: StationDep, wait: bool = False) -> dict[str, float]:
    """Where the audio of the open stream connection requested as `/stream?sync=<tag>` began,
    in seconds of the stream (the scale of now-playing's `stream_at`). A player adds its
    audio clock to it to know which item its listener hears (on whichever mount it plays). On
    the event loop, with the hubs. `wait=true`: a connection not open yet is waited for (up
    to JOINED_WAIT_SECONDS), so a player can ask as it opens the stream, not after."""
    if len(tag) > 64:
        raise HTTPException(404, "No open stream connection has this sync tag.")
    deadline = asyncio.get_running_loop().time() + (JOINED_WAIT_SECONDS if wait else 0)
    while True:
        joined = next((at for hub in station.hubs if (at := hub.joined_at(tag)) is not None),
                      None)  # fmt: skip
        if joined is not None:
            return {"stream_seconds": joined}
        if asyncio.get_running_loop().time() >= deadline:
            raise HTTPException(404, "No open stream connection has this sync tag.")
        await asyncio.sleep(JOINED_POLL_SECONDS)


def embed_snippet(request: Request, settings: Settings) -> str:
    """The HTML another site pastes to show the embed."""
    name = escape(station_identity(request, settings).name, quote=True)
    return (f'<iframe src="{public_base_url(request, settings)}/embed" width="{EMBED_WIDTH}" '
            f'height="{EMBED_HEIGHT}" title="{name}"></iframe>')  # fmt: skip


@router.get("/favicon.ico", include_in_schema=False)
def favicon(station: StationDep) -> FileResponse:
    """Browsers ask for it on every site: the station's logo, else its default icon (SVG)."""
    logo = station.identity.current.logo
    path = station.identity.logo_path(logo.file) if logo else None
    if logo is not None and path is not None:
        return FileResponse(path, media_type=logo.media_type)
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


async def _player(
    request: Request, station: StationDep, settings: SettingsDep, template: str, **extra: Any
) -> HTMLResponse:
    """Runs on the event loop: the snapshot reads the stream hub, which lives there."""
    signed_in = await asyncio.to_thread(page_session, request)
    response = render_page(
        request,
        settings,
        template,
        now=station.now_playing.snapshot(),
        listeners_now=station.hub.listeners_now(),
        csrf_token=signed_in[0].csrf_token if signed_in else None,
        host_name=signed_in[1].username if signed_in else None,
        base_url=public_base_url(request, settings),
        **extra,
    )
    # The stream, votes and the board know a browser by this cookie: give it one up front,
    # so the <audio> element's stream request already carries it.
    keys = station.listener_keys
    if listener_id(request, keys) is None:
        identifier = await asyncio.to_thread(_issue_identity, request, station)
        remember_listener(response, request, keys, identifier)
    response.headers["Cache-Control"] = "no-store"  # what is on air now, every time
    return response
