"""Host routes for the news desk: write, edit, publish, schedule and retract articles, link
related stories, put a story on air next, and moderate listeners' comments.

Each article answer carries its speech status (pending, rendering, ready, failed, with the
error and the audio's duration) so a host sees the read-aloud version's progress. After a
change to the words or a publication, the station's speech renderer (when it has one) is asked
to (re)render the story in the background. Comment answers here include the commenter's
email: these routes are for hosts only, and no public route returns it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.api.auth import CurrentHost, HostDep
from app.api.deps import MAX_SQL_INT, DbDep, RowId, StationDep
from app.api.errors import error
from app.api.limits import LARGE_BODY_LIMIT
from app.models import (
    Article,
    ArticleStatus,
    Comment,
    CommentStatus,
    Host,
    Speech,
    SpeechStatus,
)
from app.news import articles as service
from app.news import bulletins
from app.station import Station

# A conflict: the story is not in a state that allows the change (see _errors).
router = APIRouter(prefix="/api", dependencies=[HostDep], tags=["news"],
                   max_body_size=LARGE_BODY_LIMIT,
                   responses={409: error("the story's state does not allow this")})  # fmt: skip

MAX_PAGE = 200

# --- Schemas --------------------------------------------------------------------------------


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field("", max_length=service.MAX_LABEL, description="default: the host name")
    url: str = Field(max_length=service.MAX_URL, description="http:// or https:// only")


class ArticleUpdate(BaseModel):
    """Only the fields given change. The slug (the page's URL) stays unless given."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, max_length=service.MAX_TITLE * 2)
    body: str | None = Field(None, max_length=service.MAX_BODY * 2,
                             description="Markdown or plain paragraphs")  # fmt: skip
    category: str | None = Field(None, max_length=service.MAX_CATEGORY * 2)
    author: str | None = Field(None, max_length=service.MAX_AUTHOR * 2)
    summary: str | None = Field(None, max_length=service.MAX_SUMMARY * 2)
    tags: list[Annotated[str, Field(max_length=service.MAX_TAG * 4)]] | None = Field(
        None, max_length=service.MAX_TAGS * 5
    )
    sources: list[SourceIn] | None = Field(None, max_length=service.MAX_SOURCES)
    slug: str | None = Field(None, max_length=service.MAX_SLUG * 2,
                             description="default: made from the title")  # fmt: skip
    host_id: int | None = Field(None, ge=1, le=MAX_SQL_INT,
                                description="the host who wrote it: the page's \"Written by\" "
                                "shows their public profile. Default for a new story: you; "
                                "null: none (the free-text author only)")  # fmt: skip


class ArticleCreate(ArticleUpdate):
    title: str = Field(max_length=service.MAX_TITLE * 2)  # type: ignore[assignment]


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime | None = Field(None, description="a past publication time; default now")


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime = Field(description="when it is published, in the future")


class SpeechOut(BaseModel):
    status: SpeechStatus | None = Field(description="null: never asked to render")
    error: str | None = None
    duration: float | None = None
    rendered_at: datetime | None = None


class RelatedOut(BaseModel):
    id: int
    slug: str
    title: str
    category: str
    publish_at: datetime | None


class ArticleOut(BaseModel):
    id: int
    slug: str
    title: str
    category: str
    author: str
    summary: str
    body: str
    status: ArticleStatus
    publish_at: datetime | None
    tags: list[str]
    sources: list[dict[str, str]]
    version: int
    guid: str | None
    feed_id: int | None
    host_id: int | None
    created_at: datetime
    updated_at: datetime
    speech: SpeechOut


class ArticleDetail(ArticleOut):
    related_ids: list[int] = Field(description="the explicit related stories, in order")
    related: list[RelatedOut] = Field(description="what the page shows: explicit, then automatic")


class ArticlePage(BaseModel):
    items: list[ArticleOut]
    total: int
    offset: int
    limit: int


class CommentOut(BaseModel):
    id: int
    article_id: int
    article_title: str
    name: str
    email: str
    website: str | None
    body: str
    status: CommentStatus
    created_at: datetime
    reply_to: int | None = Field(description="the comment this one replies to; null: top level")


class QueuedOut(BaseModel):
    article_id: int
    status: str


# --- Dependencies and helpers ---------------------------------------------------------------


@contextmanager
def _errors() -> Iterator[None]:
    """The service's exceptions as HTTP answers with their message."""
    try:
        yield
    except service.ArticleNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    except service.ArticleConflict as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except service.ArticleError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None


def _speech(db: Session, article_id: int) -> SpeechOut:
    speech = db.scalar(select(Speech).where(Speech.article_id == article_id))
    if speech is None:
        return SpeechOut(status=None)
    return SpeechOut(status=speech.status, error=speech.error, duration=speech.duration,
                     rendered_at=speech.rendered_at)  # fmt: skip


def _fields(article: Article) -> dict[str, Any]:
    names = ArticleOut.model_fields.keys() - {"speech"}
    return {name: getattr(article, name) for name in names}


def _out(db: Session, article: Article) -> ArticleOut:
    return ArticleOut(**_fields(article), speech=_speech(db, article.id))


def _detail(db: Session, article: Article) -> ArticleDetail:
    related = [
        RelatedOut(id=a.id, slug=a.slug, title=a.title, category=a.category,
                   publish_at=a.publish_at)
        for a in service.related_articles(db, article)
    ]  # fmt: skip
    return ArticleDetail(**_fields(article), speech=_speech(db, article.id),
                         related_ids=service.explicit_related_ids(db, article.id),
                         related=related)  # fmt: skip


def _request_speech(station: Station, article_id: int) -> None:
    """Ask for the story to be (re)rendered; the renderer decides whether anything changed."""
    station.speech.request(article_id)


def _changes(body: ArticleUpdate) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True, exclude_none=True, exclude={"host_id"})
    if body.sources is not None:
        fields["sources"] = [source.model_dump() for source in body.sources]
    return fields


def _link_host(db: Session, article: Article, body: ArticleUpdate, default: int | None) -> None:
    """The story's host: the one given (null unlinks), else `default` when given."""
    if "host_id" in body.model_fields_set:
        wanted = body.host_id
    elif default is not None:
        wanted = default
    else:
        return
    if wanted is not None and db.get(Host, wanted) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no host with id {wanted}")
    article.host_id = wanted


# --- Articles -------------------------------------------------------------------------------


@router.get("/articles")
def list_articles(
    db: DbDep,
    status_: Annotated[ArticleStatus | None, Query(alias="status")] = None,
    category: Annotated[str | None, Query(max_length=service.MAX_CATEGORY)] = None,
    q: Annotated[str | None, Query(max_length=200, description="in title, summary, body")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> ArticlePage:
    """Articles newest first, filtered by status, category and words."""
    items, total = service.list_articles(db, status=status_, category=category, q=q,
                                         offset=offset, limit=limit)  # fmt: skip
    return ArticlePage(items=[_out(db, a) for a in items], total=total, offset=offset,
                       limit=limit)  # fmt: skip


@router.post("/articles", status_code=status.HTTP_201_CREATED)
def create_article(
    body: ArticleCreate, db: DbDep, station: StationDep, host: CurrentHost
) -> ArticleDetail:
    """A new draft, written by you unless `host_id` says otherwise; publish or schedule it
    next."""
    with _errors():
        article = service.create_article(db, **_changes(body))
        _link_host(db, article, body, host.id)
        db.commit()
    _request_speech(station, article.id)
    return _detail(db, article)


@router.get("/articles/{article_id}")
def get_article(article_id: RowId, db: DbDep) -> ArticleDetail:
    with _errors():
        return _detail(db, service.get_article(db, article_id))


@router.patch("/articles/{article_id}")
def update_article(
    article_id: RowId, body: ArticleUpdate, db: DbDep, station: StationDep
) -> ArticleDetail:
    """Change the fields given; a change to the title, author or body makes a new version,
    which is re-rendered and may be repeated in the next bulletin."""
    with _errors():
        article = service.update_article(db, service.get_article(db, article_id), **_changes(body))
        _link_host(db, article, body, None)
        db.commit()
    _request_speech(station, article.id)
    return _detail(db, article)


@router.delete("/articles/{article_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_article(article_id: RowId, db: DbDep) -> None:
    """Gone for good, with its ratings and comments; retract instead to keep the record."""
    with _errors():
        service.delete(db, service.get_article(db, article_id))
        db.commit()


@router.post("/articles/{article_id}/publish")
def publish_article(
    article_id: RowId, db: DbDep, station: StationDep, body: PublishIn | None = None
) -> ArticleDetail:
    with _errors():
        article = service.get_article(db, article_id)
        service.publish(article, body.at if body else None)
        db.commit()
    _request_speech(station, article.id)
    return _detail(db, article)


@router.post("/articles/{article_id}/schedule")
def schedule_article(
    article_id: RowId, body: ScheduleIn, db: DbDep, station: StationDep
) -> ArticleDetail:
    """Published automatically at `at`; its speech is rendered ahead of time."""
    with _errors():
        article = service.get_article(db, article_id)
        service.schedule(article, body.at)
        db.commit()
    _request_speech(station, article.id)
    return _detail(db, article)


@router.post("/articles/{article_id}/retract")
def retract_article(article_id: RowId, db: DbDep) -> ArticleDetail:
    """Off the pages, feeds and bulletins; kept for the record."""
    with _errors():
        article = service.get_article(db, article_id)
        service.retract(article)
        db.commit()
    return _detail(db, article)


@router.put("/articles/{article_id}/related")
def set_related(
    article_id: RowId,
    db: DbDep,
    ids: Annotated[list[RowId], Body(max_length=service.MAX_RELATED * 5)],
) -> ArticleDetail:
    """Replace the explicit related stories with these article ids, in this order."""
    with _errors():
        article = service.get_article(db, article_id)
        service.set_related(db, article, ids)
        db.commit()
    return _detail(db, article)


@router.post("/articles/{article_id}/play-next")
def play_next(article_id: RowId, db: DbDep, station: StationDep, host: CurrentHost) -> QueuedOut:
    """Put the story (its speech) on air next; refused until its speech is ready."""
    with _errors():
        article = service.get_article(db, article_id)
    if article.status != ArticleStatus.published:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"only a published story goes on air; this one is "
                            f"{article.status.value}")  # fmt: skip
    try:
        station.planner.add_entries(
            lambda session: [bulletins.story_entry(session, article.id, host.id)], position=0
        )
    except ValueError as error:  # the queue's own refusals, e.g. no speech yet
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    return QueuedOut(article_id=article.id, status="next")


# --- Comment moderation ---------------------------------------------------------------------


def _comment_out(comment: Comment, title: str) -> CommentOut:
    return CommentOut(id=comment.id, article_id=comment.article_id, article_title=title,
                      name=comment.name, email=comment.email, website=comment.website,
                      body=comment.body, status=comment.status,
                      created_at=comment.created_at, reply_to=comment.parent_id)  # fmt: skip


def _comment(db: Session, comment_id: int) -> Comment:
    comment = db.get(Comment, comment_id)
    if comment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no comment {comment_id}")
    return comment


def _moderated(db: Session, comment_id: int, decision: CommentStatus) -> CommentOut:
    comment = _comment(db, comment_id)
    comment.status = decision
    db.commit()
    return _comment_out(comment, db.get(Article, comment.article_id).title)  # type: ignore[union-attr]


@router.get("/comments")
def list_comments(
    db: DbDep,
    status_: Annotated[CommentStatus | None, Query(alias="status")] = None,
    article_id: RowId | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> list[CommentOut]:
    """Comments oldest first (the moderation queue's order), with the commenter's email."""
    query = select(Comment, Article.title).join(Article, Article.id == Comment.article_id)
    if status_ is not None:
        query = query.where(Comment.status == status_)
    if article_id is not None:
        query = query.where(Comment.article_id == article_id)
    rows = db.execute(query.order_by(Comment.created_at, Comment.id).offset(offset).limit(limit))
    return [_comment_out(comment, title) for comment, title in rows]


@router.post("/comments/{comment_id}/approve")
def approve_comment(comment_id: RowId, db: DbDep) -> CommentOut:
    """Shown on the article page; the commenter's next comments skip the queue."""
    return _moderated(db, comment_id, CommentStatus.approved)


@router.post("/comments/{comment_id}/reject")
def reject_comment(comment_id: RowId, db: DbDep) -> CommentOut:
    """Kept off the article page; the row stays (delete removes it) as a record of the decision."""
    return _moderated(db, comment_id, CommentStatus.rejected)


@router.delete("/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_comment(comment_id: RowId, db: DbDep) -> None:
    """Gone for good, with its replies."""
    comment = _comment(db, comment_id)
    db.execute(delete(Comment).where(Comment.parent_id == comment.id))
    db.delete(comment)
    db.commit()
