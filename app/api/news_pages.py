"""The public news pages: the index, the article page with its audio, rating and comments,
and the article as JSON. Listeners need no account; the pages work without JavaScript."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts import profiles
from app.accounts.ratelimit import FailureWindow
from app.api.deps import MAX_SQL_INT, RowId, SettingsDep, StationDep, loads_json
from app.api.errors import error, retry_later
from app.api.listeners import page_board
from app.api.templating import public_base_url, render_page, share_links
from app.config import Settings
from app.listeners.identity import (
    ListenerKeys,
    client_hash,
    issue_identity,
    listener_hash,
    listener_id,
    remember_listener,
)
from app.models import Article, ArticleStatus, Bulletin, Host, Speech, SpeechStatus, utcnow
from app.news import comments, listen_again, ratings
from app.news.articles import related_articles
from app.news.markup import render_body_html

router = APIRouter(tags=["news pages"])

PAGE_SIZE = 10
RELATED_LIMIT = 5
PENDING_NOTICE = "Thank you! Your comment awaits moderation."
APPROVED_NOTICE = "Thank you! Your comment is published."
RATED_NOTICE = "Thank you for rating this story."
NO_LISTENER_COOKIE = (
    "Your browser sent no listener cookie, and a rating counts once per listener, so it was "
    "not counted. Please allow cookies for this site and rate again."
)


# --- lookups -------------------------------------------------------------------------------


def _public_articles(now: datetime) -> Any:
    """Published and due: drafts, scheduled and retracted stories do not exist publicly."""
    return select(Article).where(
        Article.status == ArticleStatus.published, Article.publish_at <= now
    )


def _page_of(session: Session, query: Any, page: int, *, none_is_missing: bool = False
             ) -> tuple[Sequence[Article], int, int]:  # fmt: skip
    """The stories of `query` on page `page`, newest first, how many pages there are and how
    many stories in all; 404 past the last page (and for none at all when `none_is_missing`)."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if page > pages or (none_is_missing and total == 0):
        raise HTTPException(404, "no such page of stories")
    articles = session.scalars(
        query.order_by(Article.publish_at.desc(), Article.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return articles, pages, total


def _published_at(article: Article) -> datetime:
    return article.publish_at or article.created_at  # publish_at is set on the public ones


def _find(session: Session, slug: str) -> Article:
    article = session.scalar(_public_articles(utcnow()).where(Article.slug == slug))
    if article is None:
        raise HTTPException(404, f"no published story at /news/{slug}")
    return article


def _ready_speech(session: Session, article: Article, media_dir: Path) -> Path | None:
    speech = session.scalar(select(Speech).where(Speech.article_id == article.id))
    if speech is None or speech.status != SpeechStatus.ready or not speech.path:
        return None
    path = (media_dir / speech.path).resolve()
    # The path comes from the database; never serve anything outside the media folder.
    if not path.is_relative_to(media_dir) or not path.is_file():
        return None
    return path


# --- URLs ------------------------------------------------------------------------------------


def _article_path(article: Article) -> str:
    return f"/news/{quote(article.slug)}"


def _json_ld(article: Article, url: str, audio_url: str | None, settings: Settings) -> Markup:
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "description": article.summary,
        "articleSection": article.category,
        "datePublished": _published_at(article).isoformat(),
        "dateModified": article.updated_at.isoformat(),
        "author": {"@type": "Person", "name": article.author} if article.author else None,
        "publisher": {"@type": "Organization", "name": settings.station_name},
        "mainEntityOfPage": url,
        "url": url,
        "keywords": list(article.tags or []),
    }
    if audio_url:
        data["audio"] = {
            "@type": "AudioObject",
            "contentUrl": audio_url,
            "encodingFormat": "audio/mpeg",
        }
    text = json.dumps({k: v for k, v in data.items() if v is not None}, ensure_ascii=False)
    # Inside <script> the HTML parser acts on "</" and "<!--"; JSON reads "\u003c" as "<".
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


# --- the index -------------------------------------------------------------------------------


def pager(path: str, page: int, pages: int) -> dict[str, Any]:
    """What web/templates/pager.html shows: this page of `pages`, and the links around it."""
    return {
        "page": page,
        "pages": pages,
        "previous_url": f"{path}?page={page - 1}" if page > 1 else None,
        "next_url": f"{path}?page={page + 1}" if page < pages else None,
    }


def _page_number(request: Request, name: str = "page") -> int:
    raw = request.query_params.get(name, "1")
    # ASCII digits only ("²".isdigit() holds), and few enough for int() and an SQL offset.
    if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) < 1:
        raise HTTPException(400, f"{name} must be a whole number from 1")
    return int(raw)


def _bulletin_listing(session: Session, bulletins: list[Bulletin]) -> list[dict[str, Any]]:
    """Kept bulletins as the "Listen again" lists show them, with the stories they read."""
    carried = listen_again.stories_of(session, [b.id for b in bulletins])
    return [
        {
            "id": bulletin.id,
            "title": bulletin.title or "News",
            "started_at": bulletin.started_at,
            "duration": bulletin.duration,
            "audio_url": listen_again.audio_url(bulletin),
            "stories": [_listing(article) for article in carried.get(bulletin.id, [])],
        }
        for bulletin in bulletins
    ]


def _index(
    request: Request, station: StationDep, settings: Settings, category: str | None
) -> HTMLResponse:
    page = _page_number(request)
    now = utcnow()
    with station.sessions() as session:
        query = _public_articles(now)
        if category is not None:
            query = query.where(Article.category == category)
        # A category no public story is in is no page (a mistyped one is not an empty list).
        articles, pages, _ = _page_of(session, query, page,
                                      none_is_missing=category is not None)  # fmt: skip
        categories = session.scalars(
            _public_articles(now)
            .with_only_columns(Article.category)
            .distinct()
            .order_by(Article.category)
        ).all()
        stories = [_listing(article) for article in articles]
        again = []
        if category is None and page == 1:
            again = _bulletin_listing(session, listen_again.recent(session))
    base = "/news" if category is None else f"/news/category/{quote(category)}"
    return render_page(
        request,
        settings,
        "news_index.html",
        section="news",
        board=page_board(request, station),
        stories=stories,
        category=category,
        categories=categories,
        **pager(base, page, pages),
        listen_again=again,
    )


def latest_stories(session: Session, limit: int) -> list[dict[str, Any]]:
    """The newest public stories, as the index lists them (the player shows a few)."""
    articles = session.scalars(
        _public_articles(utcnow())
        .order_by(Article.publish_at.desc(), Article.id.desc())
        .limit(limit)
    ).all()
    return [_listing(article) for article in articles]


def _listing(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "url": _article_path(article),
        "category": article.category,
        "category_url": f"/news/category/{quote(article.category)}",
        "author": article.author,
        "summary": article.summary,
        "published_at": _published_at(article),
    }


@router.get("/news", response_class=HTMLResponse)
def news_index(request: Request, station: StationDep, settings: SettingsDep) -> HTMLResponse:
    """The latest stories first, PAGE_SIZE a page (?page=2 for older ones)."""
    return _index(request, station, settings, None)


@router.get("/news/category/{name:path}", response_class=HTMLResponse)  # "Arts/Culture" too
def news_category(
    name: str, request: Request, station: StationDep, settings: SettingsDep
) -> HTMLResponse:
    return _index(request, station, settings, name)


# --- one article -----------------------------------------------------------------------------


@router.get("/news/{slug}.mp3")
@router.head("/news/{slug}.mp3", include_in_schema=False)  # players ask HEAD first
def article_audio(slug: str, station: StationDep, settings: SettingsDep) -> FileResponse:
    """The story read aloud; Range requests let players seek (206, or 416 past the end)."""
    with station.sessions() as session:
        path = _ready_speech(session, _find(session, slug), settings.media_dir)
    if path is None:
        raise HTTPException(404, "this story has no audio yet")
    return FileResponse(
        path, media_type="audio/mpeg", filename=f"{slug}.mp3", content_disposition_type="inline"
    )


def _article_view(
    session: Session, request: Request, keys: ListenerKeys, settings: Settings, article: Article
) -> dict[str, Any]:
    """Everything the page and the JSON show, read in one session."""
    base = public_base_url(request, settings)
    url = base + _article_path(article)
    has_audio = _ready_speech(session, article, settings.media_dir) is not None
    listener = listener_id(request, keys)
    comment_page = _page_number(request, "cpage")
    top_level = comments.top_level_count(session, article.id)
    comment_pages = max(1, math.ceil(top_level / comments.TOP_LEVEL_PER_PAGE))
    if comment_page > comment_pages:
        raise HTTPException(404, "no such page of comments")
    host = session.get(Host, article.host_id) if article.host_id else None
    return {
        "article": article,
        "url": url,
        "published_at": _published_at(article),
        "body_html": Markup(render_body_html(article.body)),
        "sources": [s for s in article.sources or [] if s.get("url")],
        "audio_path": _article_path(article) + ".mp3" if has_audio else None,
        "audio_url": url + ".mp3" if has_audio else None,
        "related": [
            _listing(related) for related in related_articles(session, article, RELATED_LIMIT)
        ],
        "rating": ratings.summary(session, article.id),
        "your_stars": ratings.stars_of(
            session, article.id, listener_hash(listener) if listener else None
        ),
        "threads": comments.threads(session, article.id, comment_page),
        "comment_count": comments.approved_count(session, article.id),
        "comment_page": comment_page,
        "comment_pages": comment_pages,
        "written_by": profiles.public_profile(host),
        "bulletins": _bulletin_listing(session, listen_again.of_story(session, article.id)),
    }


def _article_page(
    request: Request,
    station: StationDep,
    settings: Settings,
    slug: str,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    with station.sessions() as session:
        article = _find(session, slug)
        view = _article_view(session, request, station.listener_keys, settings, article)
        notice = {"pending": PENDING_NOTICE, "approved": APPROVED_NOTICE}.get(
            request.query_params.get("comment", ""),
            RATED_NOTICE if request.query_params.get("rated") else None,
        )
        extra.setdefault("form", {})
        return render_page(
            request,
            settings,
            "article.html",
            status=status,
            section="news",
            board=page_board(request, station),
            notice=notice,
            share=share_links(view["url"], article.title),
            json_ld=_json_ld(article, view["url"], view["audio_url"], settings),
            honeypot=comments.HONEYPOT_FIELD,
            **view,
            **extra,
        )


@router.get("/news/{slug}", response_class=HTMLResponse)
def article_page(
    slug: str, request: Request, station: StationDep, settings: SettingsDep
) -> HTMLResponse:
    response = _article_page(request, station, settings, slug)
    keys = station.listener_keys
    if listener_id(request, keys) is None:  # the identity its rating form needs
        with station.sessions() as db:
            remember_listener(response, request, keys, issue_identity(request, keys, db))
    return response


@router.get("/api/news/{slug}")
def article_json(
    slug: str, request: Request, station: StationDep, settings: SettingsDep
) -> dict[str, Any]:
    """The article as the public sees it: approved comments without emails, the rating."""
    with station.sessions() as session:
        article = _find(session, slug)
        view = _article_view(session, request, station.listener_keys, settings, article)
        base = public_base_url(request, settings)
        return {
            "slug": article.slug,
            "title": article.title,
            "category": article.category,
            "author": article.author,
            "summary": article.summary,
            "body_html": str(view["body_html"]),
            "tags": list(article.tags or []),
            "sources": view["sources"],
            "published_at": view["published_at"].isoformat(),
            "updated_at": article.updated_at.isoformat(),
            "url": view["url"],
            "audio_url": view["audio_url"],
            "rating": view["rating"].as_dict(),
            "comment_count": view["comment_count"],
            "comments": [
                comments.public(comment)
                for thread in view["threads"]
                for comment in [thread.comment, *thread.replies]
            ],
            "written_by": _written_by_json(view["written_by"], base),
            "bulletins": [
                {
                    "title": b["title"],
                    "started_at": b["started_at"].isoformat(),
                    "duration": b["duration"],
                    "audio_url": base + b["audio_url"],
                }
                for b in view["bulletins"]
            ],
            "related": [
                {
                    "title": r["title"],
                    "url": base + r["url"],
                    "category": r["category"],
                    "published_at": r["published_at"].isoformat(),
                }
                for r in view["related"]
            ],
        }


def _written_by_json(profile: profiles.PublicProfile | None, base: str) -> dict[str, Any] | None:
    if profile is None:
        return None
    return {"name": profile.name, "bio": profile.bio, "url": base + profile.url,
            "picture_url": base + profile.picture_url if profile.picture_url else None}  # fmt: skip


# --- listeners' actions ----------------------------------------------------------------------


async def _fields(request: Request) -> dict[str, str]:
    """The submitted fields, from a plain form (no JavaScript) or a JSON body."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = loads_json(await request.body())
        except ValueError:
            raise HTTPException(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "send a JSON object")
        return {str(key): str(value) for key, value in data.items() if value is not None}
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


# A listener's form without script gets the page again (HTML); a script asking for JSON, JSON.
BACK_TO_THE_PAGE = {303: {"description": "done: back to the story's page (a form without script)"}}


def _fields_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The request body `_fields` reads, for the schema: a form or the same as JSON."""
    schema = {"type": "object", "properties": properties, "required": required}
    forms = ("application/x-www-form-urlencoded", "application/json")
    return {"requestBody": {"required": True,
                            "content": {kind: {"schema": schema} for kind in forms}}}  # fmt: skip


RATING_BODY = _fields_body(
    {"stars": {"type": "integer", "minimum": ratings.MIN_STARS, "maximum": ratings.MAX_STARS}},
    ["stars"],
)
COMMENT_BODY = _fields_body(
    {"name": {"type": "string", "minLength": 1, "maxLength": comments.NAME_MAX},
     "email": {"type": "string", "format": "email", "maxLength": comments.EMAIL_MAX},
     "website": {"type": "string", "maxLength": comments.WEBSITE_MAX},
     "comment": {"type": "string", "minLength": 1, "maxLength": comments.BODY_MAX},
     "reply_to": {"type": "integer", "minimum": 1, "maximum": MAX_SQL_INT,
                  "description": "a reply: the id of the top-level comment it answers"}},
    ["name", "email", "comment"],
)  # fmt: skip


@router.post(
    "/news/{slug}/rating",
    response_model=None,
    openapi_extra=RATING_BODY,
    responses={
        **BACK_TO_THE_PAGE,
        403: error("no listener cookie: the answer sets one to try again with", html=True),
        422: error("stars must be a whole number from 1 to 5", html=True),
        429: retry_later("too many new ratings of this story from this address", html=True),
    },
)
async def rate_article(
    slug: str, request: Request, station: StationDep, settings: SettingsDep
) -> Response:
    """1-5 stars from a listener (the listener cookie, which the article page sets); the
    same listener voting again changes their vote. One address may add only a few new
    listeners' votes to a story an hour (429 past that). 303 back to the page, or the new
    average and count as JSON when the client asks for JSON."""
    fields = await _fields(request)
    try:
        stars = ratings.parse_stars(fields.get("stars", ""))
    except ValueError as error:
        return _rating_refused(request, station, settings, slug, str(error), 422)
    keys = station.listener_keys
    listener = listener_id(request, keys)
    if listener is None:
        refused = _rating_refused(request, station, settings, slug, NO_LISTENER_COOKIE, 403)
        with station.sessions() as db:  # so that they can rate again
            remember_listener(refused, request, keys, issue_identity(request, keys, db))
        return refused
    new_ratings: FailureWindow = request.state.new_ratings
    with station.sessions() as session:
        article = _find(session, slug)
        voter = listener_hash(listener)
        if ratings.stars_of(session, article.id, voter) is None:
            wait = new_ratings.take(f"{client_hash(request)}:{article.id}")
        else:
            wait = 0.0  # a change of mind adds no vote
        if not wait:
            ratings.rate(session, article.id, voter, stars)
            session.commit()
        result = {**ratings.summary(session, article.id).as_dict(), "your_stars": stars}
        path = _article_path(article)
    if wait:
        message = (
            f"Too many new ratings of this story from your connection: at most "
            f"{ratings.NEW_PER_ADDRESS} an hour. Please try again later."
        )
        refused = _rating_refused(request, station, settings, slug, message, 429)
        refused.headers["Retry-After"] = str(math.ceil(wait))
        return refused
    if _wants_json(request):
        return JSONResponse(result)
    return RedirectResponse(f"{path}?rated=1#rating", status_code=303)


def _rating_refused(
    request: Request, station: StationDep, settings: Settings, slug: str, message: str, status: int
) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    return _article_page(request, station, settings, slug, status=status, rating_error=message)


@router.post(
    "/news/{slug}/comments",
    response_model=None,
    status_code=202,
    openapi_extra=COMMENT_BODY,
    responses={
        **BACK_TO_THE_PAGE,
        422: error("a field of the comment is not valid, or it replies to a reply", html=True),
        429: retry_later("too many comments from this address", html=True),
    },
)
async def comment_on_article(
    slug: str, request: Request, station: StationDep, settings: SettingsDep
) -> Response:
    """A listener's comment, or with `reply_to` a reply to a published top-level comment
    (one level: a reply to a reply is refused with 422): pending until a host approves it,
    unless this email was approved before. Replies count in the same rate limit. A bot that
    fills the honeypot is told "thanks" and nothing is kept."""
    fields = await _fields(request)
    with station.sessions() as session:
        article = _find(session, slug)
        path = _article_path(article)
        if comments.is_bot(fields):
            return _comment_accepted(request, path, "pending")
        try:
            parent = None
            if fields.get("reply_to", "").strip():
                parent = comments.reply_target(session, article.id, fields["reply_to"])
            draft = comments.validate(
                fields.get("name", ""),
                fields.get("email", ""),
                fields.get("website", ""),
                fields.get("comment", ""),
            )
            comment = comments.post(session, article.id, draft, client_hash(request),
                                    parent_id=parent)  # fmt: skip
        except comments.CommentError as error:
            return _comment_refused(request, station, settings, slug, fields, str(error), 422)
        except comments.RateLimited as error:
            response = _comment_refused(request, station, settings, slug, fields, str(error), 429)
            response.headers["Retry-After"] = str(error.retry_after)
            return response
        session.commit()
        return _comment_accepted(request, path, comment.status.value)


def _comment_accepted(request: Request, path: str, status: str) -> Response:
    if _wants_json(request):
        notice = APPROVED_NOTICE if status == "approved" else PENDING_NOTICE
        return JSONResponse({"status": status, "message": notice}, status_code=202)
    return RedirectResponse(f"{path}?comment={status}#comments", status_code=303)


def _comment_refused(
    request: Request,
    station: StationDep,
    settings: Settings,
    slug: str,
    fields: dict[str, str],
    message: str,
    status: int,
) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    # The page again, with the message and what they typed, so nothing is lost.
    form = {key: fields.get(key, "") for key in ("name", "email", "website", "comment", "reply_to")}
    return _article_page(
        request, station, settings, slug, status=status, comment_error=message, form=form
    )


# --- listen again ----------------------------------------------------------------------------


@router.get("/news/bulletins/{bulletin_id}.mp3")
@router.head("/news/bulletins/{bulletin_id}.mp3", include_in_schema=False)
def bulletin_audio(bulletin_id: str, station: StationDep, settings: SettingsDep) -> FileResponse:
    """A bulletin as it aired, for listening again and podcast apps (Range requests work)."""
    # A string checked here, not an int parameter: a HEAD would get FastAPI's 422 bodiless.
    if not re.fullmatch(r"[0-9]{1,18}", bulletin_id):
        raise HTTPException(404, f"no bulletin {bulletin_id} to listen to again")
    with station.sessions() as session:
        bulletin = session.get(Bulletin, int(bulletin_id))
        path = listen_again.audio_file(bulletin, settings.media_dir) if bulletin else None
        when = bulletin.started_at if bulletin else None
    if path is None or when is None:
        raise HTTPException(404, f"no bulletin {bulletin_id} to listen to again")
    return FileResponse(path, media_type="audio/mpeg", content_disposition_type="inline",
                        filename=f"news-{when:%Y-%m-%d-%H%M}.mp3")  # fmt: skip


# --- hosts' public profiles ------------------------------------------------------------------


def _public_host(session: Session, host_id: int) -> tuple[Host, profiles.PublicProfile]:
    host = session.get(Host, host_id)
    profile = profiles.public_profile(host)
    if host is None or profile is None:
        raise HTTPException(404, "no such host")
    return host, profile


@router.get("/hosts/{ref}", response_class=HTMLResponse, response_model=None)
def host_profile(
    ref: str, request: Request, station: StationDep, settings: SettingsDep
) -> Response:
    """A host's public page: their name, bio and picture, and the stories they wrote,
    newest first, PAGE_SIZE a page. /hosts/<id>-<name>; another name redirects there."""
    found = re.fullmatch(r"([0-9]{1,18})(?:-.*)?", ref)
    if found is None:
        raise HTTPException(404, "no such host")
    page = _page_number(request)
    with station.sessions() as session:
        host, profile = _public_host(session, int(found[1]))
        if ref != profile.url.removeprefix("/hosts/"):
            query = f"?page={page}" if page > 1 else ""
            return RedirectResponse(profile.url + query, status_code=301)
        query = _public_articles(utcnow()).where(Article.host_id == host.id)
        articles, pages, total = _page_of(session, query, page)
        stories = [_listing(article) for article in articles]
    return render_page(
        request,
        settings,
        "host_profile.html",
        profile=profile,
        stories=stories,
        total=total,
        **pager(profile.url, page, pages),
    )


@router.get("/hosts/{host_id}/picture/{name}")
def host_picture(
    host_id: RowId, name: str, station: StationDep, settings: SettingsDep
) -> FileResponse:
    """A host's picture (the URL names the file, so a new picture is a new URL)."""
    with station.sessions() as session:
        host, _profile = _public_host(session, host_id)
        relative = host.picture_path
    path = profiles.picture_file(relative, settings.media_dir)
    if path is None or relative is None or path.name != name:
        raise HTTPException(404, "no such picture")
    return FileResponse(path, media_type=profiles.picture_type(relative),
                        headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip
