"""Articles as hosts write them: the service over the articles and related_articles tables.

Functions take a Session and leave committing to the caller, so one request is one
transaction. Bad input raises ArticleError with a message a host can act on; nothing is
changed when it does.

What is stored: fields as given after validation (text trimmed, tags lower-cased, source URLs
checked to be http/https). HTML in a body is not stripped on the way in: see
app/news/markup.py for the one rule that keeps it from ever reaching a page as HTML.

Lifecycle: draft -> scheduled (publish_at in the future; `publish_due` publishes it once the
time has come) or published (publish_at is the publication time) -> retracted (kept for the
record, gone from pages, feeds and bulletins). `version` counts changes to the words read on
air (title, author, body): a bulletin repeats a story only when it was updated.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.models import Article, ArticleStatus, RelatedArticle, utcnow
from app.text import MAX_TAG_LENGTH, clean_text

MAX_TITLE = MAX_TAG_LENGTH  # a story's title is the title of its item on air
MAX_CATEGORY = 100
MAX_AUTHOR = 200
MAX_SUMMARY = 2_000
MAX_BODY = 200_000
MAX_TAGS = 20
MAX_TAG = 40
MAX_SOURCES = 50
MAX_LABEL = 300
MAX_URL = 2_000
MAX_SLUG = 80
MAX_RELATED = 20
DEFAULT_CATEGORY = "News"
EDITABLE_FIELDS = frozenset(
    {"title", "body", "category", "author", "summary", "tags", "sources", "slug"}
)
SPOKEN_FIELDS = frozenset({"title", "body", "author"})  # what the speech reads

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # in text; newlines stay


class ArticleError(ValueError):
    """A request that cannot be done as asked; the message says why."""


class ArticleConflict(ArticleError):
    """The slug is already taken."""


class ArticleNotFound(LookupError):
    pass


# --- Validation ---------------------------------------------------------------------------


def _line(value: str, name: str, limit: int, required: bool = False) -> str:
    """One line of text, cleaned as every tag is (app.library.tags), within `limit`."""
    text = clean_text(value)
    if required and not text:
        raise ArticleError(f"{name} must not be empty")
    if len(text) > limit:
        raise ArticleError(f"{name} is {len(text)} characters; at most {limit}")
    return text


def _text(value: str, name: str, limit: int) -> str:
    text = _CONTROL.sub("", value.replace("\r\n", "\n")).strip()
    if len(text) > limit:
        raise ArticleError(f"{name} is {len(text)} characters; at most {limit}")
    return text


def validate_title(title: str) -> str:
    return _line(title, "title", MAX_TITLE, required=True)


def validate_category(category: str) -> str:
    return _line(category, "category", MAX_CATEGORY) or DEFAULT_CATEGORY


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Lower-case, trimmed, inner spaces collapsed, duplicates dropped, order kept."""
    result: list[str] = []
    for tag in tags:
        clean = " ".join(_line(tag, "a tag", MAX_TAG * 4).lower().split())
        if len(clean) > MAX_TAG:
            raise ArticleError(f"tag {clean[:MAX_TAG]!r}... is longer than {MAX_TAG} characters")
        if clean and clean not in result:
            result.append(clean)
    if len(result) > MAX_TAGS:
        raise ArticleError(f"{len(result)} tags; at most {MAX_TAGS}")
    return result


def validate_url(url: str) -> str:
    """An absolute http or https URL with a host; anything else (javascript:, data:, a
    relative path) is refused, since it ends up as a link on the article page."""
    clean = url.strip()
    if not clean:
        raise ArticleError("a source needs a URL")
    if len(clean) > MAX_URL:
        raise ArticleError(f"source URL is longer than {MAX_URL} characters")
    if _CONTROL.search(clean) or any(c.isspace() for c in clean):
        raise ArticleError(f"source URL {clean[:80]!r} contains spaces or control characters")
    try:
        parts = urlsplit(clean)
    except ValueError as error:
        raise ArticleError(f"source URL {clean[:80]!r} is not a valid URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ArticleError(f"source URL {clean[:80]!r} must start with http:// or https://")
    if not parts.hostname:
        raise ArticleError(f"source URL {clean[:80]!r} has no host name")
    return clean


def validate_sources(sources: Iterable[dict[str, str] | Any]) -> list[dict[str, str]]:
    """[{label, url}]; the label defaults to the URL's host name."""
    result: list[dict[str, str]] = []
    for source in sources:
        if not isinstance(source, dict):
            raise ArticleError("each source is an object with a label and a url")
        url = validate_url(str(source.get("url") or ""))
        label = _line(str(source.get("label") or ""), "a source label", MAX_LABEL)
        result.append({"label": label or (urlsplit(url).hostname or url), "url": url})
    if len(result) > MAX_SOURCES:
        raise ArticleError(f"{len(result)} sources; at most {MAX_SOURCES}")
    return result


def slugify(title: str) -> str:
    """ASCII, lower-case words joined by hyphens, at most MAX_SLUG characters, cut at a word
    boundary where one is near; "article" when nothing of the title is left."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    return _shorten(slug, MAX_SLUG) or "article"


def _shorten(slug: str, limit: int) -> str:
    if len(slug) <= limit:
        return slug
    cut = slug[:limit]
    if slug[limit] != "-" and "-" in cut[limit // 2 :]:
        cut = cut[: cut.rindex("-")]
    return cut.strip("-")


def validate_slug(slug: str) -> str:
    clean = slug.strip()
    if not _SLUG.match(clean) or len(clean) > MAX_SLUG:
        raise ArticleError(
            f"slug {clean[:100]!r} must be lower-case ASCII letters and digits joined by "
            f"single hyphens, at most {MAX_SLUG} characters"
        )
    return clean


def _slug_taken(session: Session, slug: str, exclude_id: int | None) -> bool:
    query = select(Article.id).where(Article.slug == slug)
    if exclude_id is not None:
        query = query.where(Article.id != exclude_id)
    return session.scalar(query) is not None


def unique_slug(session: Session, title: str, exclude_id: int | None = None) -> str:
    """A slug from the title, with -2, -3... when an article already has it."""
    base = slugify(title)
    candidate, number = base, 1
    while _slug_taken(session, candidate, exclude_id):
        number += 1
        suffix = f"-{number}"
        candidate = _shorten(base, MAX_SLUG - len(suffix)) + suffix
    return candidate


def _validated(session: Session, fields: dict[str, Any], exclude_id: int | None) -> dict:
    unknown = fields.keys() - EDITABLE_FIELDS
    if unknown:
        raise ArticleError(f"unknown fields: {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {}
    checks = {
        "title": validate_title,
        "category": validate_category,
        "author": lambda v: _line(v, "author", MAX_AUTHOR),
        "summary": lambda v: _text(v, "summary", MAX_SUMMARY),
        "body": lambda v: _text(v, "body", MAX_BODY),
        "tags": normalise_tags,
        "sources": validate_sources,
    }
    for name, check in checks.items():
        if fields.get(name) is not None:
            clean[name] = check(fields[name])
    if fields.get("slug") is not None:
        clean["slug"] = validate_slug(fields["slug"])
        if _slug_taken(session, clean["slug"], exclude_id):
            raise ArticleConflict(f"slug {clean['slug']!r} is taken by another article")
    return clean


# --- Writing ------------------------------------------------------------------------------


def create_article(
    session: Session,
    *,
    title: str,
    body: str = "",
    category: str = DEFAULT_CATEGORY,
    author: str = "",
    summary: str = "",
    tags: Iterable[str] = (),
    sources: Iterable[dict[str, str]] = (),
    slug: str | None = None,
    guid: str | None = None,
    feed_id: int | None = None,
) -> Article:
    """A new draft. `guid` and `feed_id` are for articles imported from a feed."""
    fields = _validated(
        session,
        {"title": title, "body": body, "category": category, "author": author,
         "summary": summary, "tags": list(tags), "sources": list(sources), "slug": slug},
        None,
    )  # fmt: skip
    fields.setdefault("slug", unique_slug(session, fields["title"]))
    article = Article(**fields, status=ArticleStatus.draft, version=1, guid=guid,
                      feed_id=feed_id)  # fmt: skip
    session.add(article)
    session.flush()
    return article


def update_article(session: Session, article: Article, **fields: Any) -> Article:
    """Change the fields given (None: unchanged). The slug stays unless one is given, so the
    article's URL is stable; `version` goes up when the words read on air change."""
    clean = _validated(session, fields, article.id)
    spoken_change = any(
        name in SPOKEN_FIELDS and getattr(article, name) != value for name, value in clean.items()
    )
    for name, value in clean.items():
        setattr(article, name, value)
    if spoken_change:
        article.version += 1
    session.flush()
    return article


def publish(article: Article, at: datetime | None = None, now: datetime | None = None) -> None:
    """Published now, or with a past publication time `at` (an import keeps its date).
    Publishing a published article again keeps its time unless `at` is given, so it does
    not jump to the top of the news by accident."""
    current = now or utcnow()
    if at is not None:
        _require_aware(at)
        if at > current:
            raise ArticleError("a publication time in the future is a schedule: use schedule")
    if at is None and article.status == ArticleStatus.published and article.publish_at:
        return
    article.status = ArticleStatus.published
    article.publish_at = at or current


def schedule(article: Article, at: datetime, now: datetime | None = None) -> None:
    """Published automatically at `at` (by `publish_due`); until then not public."""
    _require_aware(at)
    if article.status == ArticleStatus.published:
        raise ArticleError("the article is already published; retract it first to schedule it")
    if at <= (now or utcnow()):
        raise ArticleError("a schedule needs a time in the future; to publish now, publish")
    article.status = ArticleStatus.scheduled
    article.publish_at = at


def retract(article: Article) -> None:
    if article.status not in (ArticleStatus.published, ArticleStatus.scheduled):
        raise ArticleError(f"only a published or scheduled article can be retracted; "
                           f"this one is {article.status.value}")  # fmt: skip
    article.status = ArticleStatus.retracted


def delete(session: Session, article: Article) -> None:
    # Links both ways go too; spelled out rather than left to the database's cascade.
    session.execute(
        sql_delete(RelatedArticle).where(
            or_(RelatedArticle.article_id == article.id, RelatedArticle.related_id == article.id)
        )
    )
    session.delete(article)
    session.flush()


def publish_due(session: Session, now: datetime) -> list[Article]:
    """Publish every scheduled article whose time has come; returns them."""
    due = list(
        session.scalars(
            select(Article)
            .where(Article.status == ArticleStatus.scheduled, Article.publish_at <= now)
            .order_by(Article.publish_at, Article.id)
        )
    )
    for article in due:
        article.status = ArticleStatus.published
    session.flush()
    return due


def set_related(session: Session, article: Article, ids: Sequence[int]) -> list[int]:
    """Replace the article's explicit related stories with `ids`, in this order."""
    wanted = list(dict.fromkeys(ids))
    if article.id in wanted:
        raise ArticleError("an article cannot be related to itself")
    if len(wanted) > MAX_RELATED:
        raise ArticleError(f"{len(wanted)} related stories; at most {MAX_RELATED}")
    found = set(session.scalars(select(Article.id).where(Article.id.in_(wanted))))
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise ArticleError(f"no articles with ids {', '.join(missing)}")
    session.execute(sql_delete(RelatedArticle).where(RelatedArticle.article_id == article.id))
    session.add_all(
        RelatedArticle(article_id=article.id, related_id=related, position=position)
        for position, related in enumerate(wanted)
    )
    session.flush()
    return wanted


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ArticleError("a time needs a time zone, e.g. 2026-01-01T09:00:00Z")


# --- Reading ------------------------------------------------------------------------------


def get_article(session: Session, article_id: int) -> Article:
    article = session.get(Article, article_id)
    if article is None:
        raise ArticleNotFound(f"no article {article_id}")
    return article


def get_by_slug(session: Session, slug: str) -> Article | None:
    return session.scalar(select(Article).where(Article.slug == slug))


def list_articles(
    session: Session,
    *,
    status: ArticleStatus | None = None,
    category: str | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Article], int]:
    """A page of articles, newest first (publication time, else creation), and the total.
    `q` matches the title, summary or body, case-insensitively."""
    query = select(Article)
    if status is not None:
        query = query.where(Article.status == status)
    if category:
        query = query.where(func.lower(Article.category) == category.strip().lower())
    if q and q.strip():
        pattern = "%" + q.strip().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        pattern += "%"
        query = query.where(
            or_(*(column.ilike(pattern, escape="\\")
                  for column in (Article.title, Article.summary, Article.body)))
        )  # fmt: skip
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    newest = func.coalesce(Article.publish_at, Article.created_at)
    page = session.scalars(
        query.order_by(newest.desc(), Article.id.desc()).offset(offset).limit(limit)
    )
    return list(page), total


def _public(now: datetime) -> Any:
    return (Article.status == ArticleStatus.published) & (Article.publish_at <= now)


def freshest_published(session: Session, limit: int, now: datetime | None = None) -> list[Article]:
    """The most recently published articles, newest first (what a bulletin reads)."""
    return list(
        session.scalars(
            select(Article)
            .where(_public(now or utcnow()))
            .order_by(Article.publish_at.desc(), Article.id.desc())
            .limit(limit)
        )
    )


def explicit_related_ids(session: Session, article_id: int) -> list[int]:
    return list(
        session.scalars(
            select(RelatedArticle.related_id)
            .where(RelatedArticle.article_id == article_id)
            .order_by(RelatedArticle.position, RelatedArticle.id)
        )
    )


def related_articles(
    session: Session, article: Article, limit: int = 5, now: datetime | None = None
) -> list[Article]:
    """Related published stories: the explicit links in their order, then stories sharing
    tags (more shared tags first), then stories in the same category; most recent first
    within each. Never the article itself, never an unpublished story."""
    moment = now or utcnow()
    explicit_ids = explicit_related_ids(session, article.id)
    published = {
        a.id: a
        for a in session.scalars(
            select(Article).where(_public(moment), Article.id.in_(explicit_ids))
        )
    }
    chosen = [published[i] for i in explicit_ids if i in published and i != article.id]
    if len(chosen) >= limit:
        return chosen[:limit]
    excluded = {article.id, *(a.id for a in chosen)}
    tags = set(article.tags or [])
    candidates = [
        a
        for a in session.scalars(
            select(Article)
            .where(_public(moment), Article.id.not_in(excluded))
            .order_by(Article.publish_at.desc(), Article.id.desc())
        )
        if tags & set(a.tags or []) or a.category.lower() == article.category.lower()
    ]
    # Shared tags rank first, the more the better; a stable sort keeps the most recent first
    # within a rank.
    candidates.sort(key=lambda a: -len(tags & set(a.tags or [])))
    return (chosen + candidates)[:limit]
