"""Listeners' comments: what a comment must carry, who waits for moderation, how fast one
client may post, and what of a comment the public may see (never the email)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import MAX_INTEGER
from app.models import Comment, CommentStatus, utcnow

HONEYPOT_FIELD = "website_url"  # hidden from people; bots fill every field they find
NAME_MAX = 100
EMAIL_MAX = 254
WEBSITE_MAX = 500
BODY_MAX = 5000
RATE_LIMIT = 3  # comments per client ...
RATE_WINDOW = timedelta(minutes=10)  # ... within this window (replies count as comments)
TOP_LEVEL_PER_PAGE = 50  # top-level comments on one page of an article's comments
REPLIES_SHOWN = 50  # replies shown under one comment, the oldest first

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CommentError(ValueError):
    """A comment that cannot be accepted as sent; the message says what to change."""


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        minutes = max(1, round(self.retry_after / 60))
        super().__init__(
            f"Too many comments from your connection: at most {RATE_LIMIT} every "
            f"{int(RATE_WINDOW.total_seconds() // 60)} minutes. "
            f"Please try again in about {minutes} minute{'s' if minutes != 1 else ''}."
        )


@dataclass(frozen=True)
class CommentDraft:
    name: str
    email: str
    website: str | None
    body: str


def is_bot(fields: dict[str, str]) -> bool:
    return bool(fields.get(HONEYPOT_FIELD, "").strip())


def validate(name: str, email: str, website: str, body: str) -> CommentDraft:
    """The comment cleaned up, or CommentError naming the first thing wrong with it."""
    name, email, website, body = name.strip(), email.strip(), website.strip(), body.strip()
    if not name:
        raise CommentError("Please give your name (required).")
    if len(name) > NAME_MAX:
        raise CommentError(f"Your name is too long (at most {NAME_MAX} characters).")
    if not email:
        raise CommentError("Please give your email address (required; it is never published).")
    if len(email) > EMAIL_MAX or not _EMAIL.match(email):
        raise CommentError("That email address does not look right; please check it.")
    if len(website) > WEBSITE_MAX:
        raise CommentError(f"The website address is too long (at most {WEBSITE_MAX} characters).")
    if website and not _is_web_url(website):
        raise CommentError("The website must be an http:// or https:// address.")
    if not body:
        raise CommentError("Please write a comment (required).")
    if len(body) > BODY_MAX:
        raise CommentError(f"The comment is too long (at most {BODY_MAX} characters).")
    return CommentDraft(name, email, website or None, body)


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def retry_after(session: Session, client: str, now: datetime | None = None) -> float:
    """Seconds until `client` (an address hash) may post again; 0 when it may now."""
    now = now or utcnow()
    recent = session.scalars(
        select(Comment.created_at)
        .where(Comment.client == client, Comment.created_at > now - RATE_WINDOW)
        .order_by(Comment.created_at.desc())
        .limit(RATE_LIMIT)
    ).all()
    if len(recent) < RATE_LIMIT:
        return 0.0
    return (recent[-1] + RATE_WINDOW - now).total_seconds()


def reply_target(session: Session, article_id: int, raw: str) -> int:
    """The id of the comment a reply answers, or CommentError: it must be a published
    top-level comment of this story (replies go one level deep)."""
    if (not raw.strip().isascii() or not raw.strip().isdigit() or len(raw.strip()) > 18
            or int(raw.strip()) > MAX_INTEGER):  # fmt: skip
        raise CommentError("The comment to reply to is not a comment number.")
    parent = session.get(Comment, int(raw.strip()))
    if (
        parent is None
        or parent.article_id != article_id
        or (parent.status != CommentStatus.approved)
    ):
        raise CommentError("The comment you replied to is not on this story (any more).")
    if parent.parent_id is not None:
        raise CommentError(
            "Replies go one level deep: you cannot reply to a reply. "
            "Reply to the comment it answers instead."
        )
    return parent.id


def post(session: Session, article_id: int, draft: CommentDraft, client: str,
         now: datetime | None = None, parent_id: int | None = None) -> Comment:  # fmt: skip
    """Store the comment (a reply to comment `parent_id`, checked by `reply_target`):
    approved at once when this email was approved before, else pending. Raises RateLimited
    when the client has posted too much lately."""
    now = now or utcnow()
    if (wait := retry_after(session, client, now)) > 0:
        raise RateLimited(wait)
    trusted = session.scalar(
        select(Comment.id)
        .where(func.lower(Comment.email) == draft.email.lower())
        .where(Comment.status == CommentStatus.approved)
        .limit(1)
    )
    status = CommentStatus.approved if trusted else CommentStatus.pending
    comment = Comment(article_id=article_id, name=draft.name, email=draft.email,
                      website=draft.website, body=draft.body, client=client, created_at=now,
                      status=status, parent_id=parent_id)  # fmt: skip
    session.add(comment)
    session.flush()
    return comment


@dataclass(frozen=True)
class Thread:
    """A published top-level comment with its first REPLIES_SHOWN published replies."""

    comment: Comment
    replies: list[Comment]
    more_replies: int  # published replies not shown


def _approved(article_id: int) -> Any:
    return select(Comment).where(
        Comment.article_id == article_id, Comment.status == CommentStatus.approved
    )


def top_level_count(session: Session, article_id: int) -> int:
    query = _approved(article_id).where(Comment.parent_id.is_(None))
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def threads(session: Session, article_id: int, page: int = 1) -> list[Thread]:
    """One page of the published conversation, oldest first: TOP_LEVEL_PER_PAGE top-level
    comments, each with at most REPLIES_SHOWN replies (two bounded queries)."""
    tops = list(
        session.scalars(
            _approved(article_id)
            .where(Comment.parent_id.is_(None))
            .order_by(Comment.created_at, Comment.id)
            .offset((page - 1) * TOP_LEVEL_PER_PAGE)
            .limit(TOP_LEVEL_PER_PAGE)
        )
    )
    if not tops:
        return []
    ranked = (
        _approved(article_id)
        .where(Comment.parent_id.in_([top.id for top in tops]))
        .add_columns(
            func.row_number()
            .over(partition_by=Comment.parent_id, order_by=(Comment.created_at, Comment.id))
            .label("n"),
            func.count().over(partition_by=Comment.parent_id).label("total"),
        )
        .subquery()
    )
    replied = select(Comment, ranked.c.total).join(ranked, ranked.c.id == Comment.id)
    rows = session.execute(
        replied.where(ranked.c.n <= REPLIES_SHOWN).order_by(ranked.c.parent_id, ranked.c.n)
    ).all()
    replies: dict[int, list[Comment]] = {}
    totals: dict[int, int] = {}
    for reply, total in rows:
        assert reply.parent_id is not None
        replies.setdefault(reply.parent_id, []).append(reply)
        totals[reply.parent_id] = total
    return [
        Thread(top, replies.get(top.id, []), totals.get(top.id, 0) - len(replies.get(top.id, [])))
        for top in tops
    ]


def approved_count(session: Session, article_id: int) -> int:
    """The published comments and the published replies to them (a reply under a comment
    taken down is not shown, nor counted)."""
    shown_tops = _approved(article_id).where(Comment.parent_id.is_(None))
    shown = _approved(article_id).where(
        Comment.parent_id.is_(None)
        | Comment.parent_id.in_(shown_tops.with_only_columns(Comment.id).scalar_subquery())
    )
    return session.scalar(select(func.count()).select_from(shown.subquery())) or 0


def public(comment: Comment) -> dict[str, Any]:
    """What anyone may see of a comment: never the email, nor the client hash."""
    return {"id": comment.id, "name": comment.name, "website": comment.website,
            "body": comment.body, "created_at": comment.created_at.isoformat(),
            "reply_to": comment.parent_id}  # fmt: skip
