"""Feeds: the station's own RSS and podcast feeds (public), and the RSS/Atom feeds hosts
import stories from (host routes under /api/feeds)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from app.api.auth import HostDep
from app.api.deps import RowId, SettingsDep, StationDep
from app.api.errors import error
from app.api.templating import public_base_url, station_identity
from app.config import Settings
from app.models import Feed, Track
from app.news import feeds
from app.news.feed_import import ImportReport, is_web_url, refresh_feed

RSS_TYPE = "application/rss+xml"

public = APIRouter(tags=["news"])
hosts = APIRouter(prefix="/api/feeds", dependencies=[HostDep], tags=["feeds"])


# --- Public: what listeners and podcast apps subscribe to ------------------------------------


@public.get("/news/feed.xml", response_class=Response,
            responses={200: {"content": {RSS_TYPE: {}}}})  # fmt: skip
def rss(request: Request, station: StationDep, settings: SettingsDep) -> Response:
    """RSS 2.0 of the freshest published stories."""
    with station.sessions() as session:
        articles = feeds.published_articles(session, datetime.now(UTC))
        site, name, tagline, image = _channel(request, settings)
        body = feeds.rss_feed(articles, site, name, tagline, image)
    return Response(body, media_type=RSS_TYPE)


@public.get("/news/podcast.xml", response_class=Response,
            responses={200: {"content": {RSS_TYPE: {}}}})  # fmt: skip
def podcast(request: Request, station: StationDep, settings: SettingsDep) -> Response:
    """The spoken stories as a podcast: one episode per story whose speech is ready."""
    with station.sessions() as session:
        episodes = feeds.podcast_episodes(session, settings.media_dir, datetime.now(UTC))
        site, name, tagline, image = _channel(request, settings)
        body = feeds.podcast_feed(episodes, site, name, tagline, image)
    return Response(body, media_type=RSS_TYPE)


@public.get("/recordings/{track_id}.mp3", response_class=FileResponse,
            responses={200: {"content": {"audio/mpeg": {}}},
                       404: error("no such recorded live show")})  # fmt: skip
@public.head("/recordings/{track_id}.mp3", include_in_schema=False)
def recording_audio(track_id: str, station: StationDep, settings: SettingsDep) -> FileResponse:
    """A live show as it aired, the podcast's episode (Range requests work). Only tracks of
    kind recording, inside media/recordings/."""
    # A string checked here, not an int parameter: a HEAD would get FastAPI's 422 bodiless.
    missing = HTTPException(status.HTTP_404_NOT_FOUND, f"no recorded live show {track_id}")
    if not re.fullmatch(r"[0-9]{1,18}", track_id):
        raise missing
    with station.sessions() as session:
        track = session.get(Track, int(track_id))
        path = feeds.recording_file(track, settings.media_dir) if track is not None else None
    if path is None:
        raise missing
    return FileResponse(path, media_type="audio/mpeg", content_disposition_type="inline",
                        filename=path.name)  # fmt: skip


def _channel(request: Request, settings: Settings) -> tuple[str, str, str, str | None]:
    """The feeds' site URL, title, description and image: the station's identity."""
    identity = station_identity(request, settings)
    site = public_base_url(request, settings)
    image = site + identity.logo_url if identity.logo_url else None
    return site, identity.name, identity.tagline, image


# --- Hosts: feeds to import stories from -----------------------------------------------------


class FeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=1024,
                     description="an http(s) URL of a public server")  # fmt: skip
    title: str = Field("", max_length=300, description="empty: the feed's own title")
    publish: bool = Field(False, description="new items published at once, else drafts")
    category: str = Field("News", min_length=1, max_length=100)
    enabled: bool = Field(True, description="fetched on the schedule")


class FeedUpdate(BaseModel):
    """Only the fields given change."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, max_length=300)
    publish: bool | None = None
    category: str | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = None


class FeedOut(BaseModel):
    id: int
    url: str
    title: str
    publish: bool
    category: str
    enabled: bool
    last_fetched_at: datetime | None
    last_error: str | None
    created_at: datetime


class ReportOut(BaseModel):
    added: int
    duplicates: int
    problems: list[str] = Field(description="items left out, and why")


def _out(feed: Feed) -> FeedOut:
    return FeedOut.model_validate(feed, from_attributes=True)


def _checked_location(url: str) -> str:
    """An http(s) URL as given; else a 422. (Whether its server may be fetched from is
    checked at each fetch, where the name is resolved.)"""
    url = url.strip()
    if not is_web_url(url):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "only http and https feed URLs; local files are not read")  # fmt: skip
    return url


@hosts.get("")
def list_feeds(station: StationDep) -> list[FeedOut]:
    with station.sessions() as session:
        return [_out(feed) for feed in session.scalars(select(Feed).order_by(Feed.id))]


@hosts.post("", status_code=status.HTTP_201_CREATED,
            responses={409: error("that feed is already added")})  # fmt: skip
def add_feed(body: FeedCreate, station: StationDep) -> FeedOut:
    """Add a feed; it is fetched on the next round of the schedule (or POST .../fetch)."""
    location = _checked_location(body.url)
    with station.sessions() as session:
        feed = Feed(url=location, title=body.title.strip(), publish=body.publish,
                    category=body.category.strip() or "News", enabled=body.enabled)  # fmt: skip
        session.add(feed)
        try:
            session.commit()
        except IntegrityError as error:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"that feed is already added: {location}") from error  # fmt: skip
        return _out(feed)


@hosts.patch("/{feed_id}")
def update_feed(feed_id: RowId, body: FeedUpdate, station: StationDep) -> FeedOut:
    """Pause or resume a feed, or change what its new items become."""
    with station.sessions() as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such feed")
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(feed, name, value.strip() if isinstance(value, str) else value)
        session.commit()
        return _out(feed)


@hosts.delete("/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_feed(feed_id: RowId, station: StationDep) -> None:
    """Stop importing from a feed; the stories already imported stay."""
    with station.sessions() as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such feed")
        session.delete(feed)
        session.commit()


@hosts.post("/{feed_id}/fetch", responses={502: {"description": "the feed could not be read"}})
async def fetch_now(feed_id: RowId, station: StationDep, settings: SettingsDep) -> ReportOut:
    """Fetch and import the feed now. A feed that cannot be fetched or read answers 502 with
    the reason, which is also kept as the feed's last_error."""
    with station.sessions() as session:
        if session.get(Feed, feed_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such feed")
    report: ImportReport = await run_in_threadpool(
        refresh_feed, settings, station.sessions, feed_id, datetime.now(UTC)
    )
    if report.error:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, report.error)
    return ReportOut(added=report.added, duplicates=report.duplicates, problems=report.problems)


router = APIRouter()
router.include_router(public)
router.include_router(hosts)
