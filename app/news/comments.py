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

from app.models import Comment, CommentStatus, utcnow

HONEYPOT_FIELD = "website_url"  # hidden from people; bots fill every field they find
NAME_MAX = 100
EMAIL_MAX = 254
WEBSITE_MAX = 500
BODY_MAX = 5000
RATE_LIMIT = 3  # comments per client ...
RATE_WINDOW = timedelta(minutes=10)  # ... within this window

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


def post(session: Session, article_id: int, draft: CommentDraft, client: str,
         now: datetime | None = None) -> Comment:  # fmt: skip
    """Store the comment: approved at once when this email was approved before, else pending.
    Raises RateLimited when the client has posted too much lately."""
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
                      status=status)  # fmt: skip
    session.add(comment)
    session.flush()
    return comment


def approved(session: Session, article_id: int) -> list[Comment]:
    """The comments the public may read, oldest first like a conversation."""
    return list(
        session.scalars(
            select(Comment)
            .where(Comment.article_id == article_id, Comment.status == CommentStatus.approved)
            .order_by(Comment.created_at, Comment.id)
        )
    )


def approved_count(session: Session, article_id: int) -> int:
    return (
        session.scalar(
            select(func.count(Comment.id)).where(
                Comment.article_id == article_id, Comment.status == CommentStatus.approved
            )
        )
        or 0
    )


def public(comment: Comment) -> dict[str, Any]:
    """What anyone may see of a comment: never the email, nor the client hash."""
    return {"id": comment.id, "name": comment.name, "website": comment.website,
            "body": comment.body, "created_at": comment.created_at.isoformat()}  # fmt: skip
