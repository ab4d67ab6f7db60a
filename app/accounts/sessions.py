"""Browser sessions for the dashboard: a random secret in an HttpOnly cookie, its sha256 in
host_sessions, and a per-session CSRF token that unsafe requests must echo back."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.accounts.tokens import digest
from app.models import Host, HostSession

COOKIE_NAME = "radio_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class NewSession:
    session: HostSession
    secret: str  # goes into the cookie, never into the database


def start_session(db: Session, host: Host, now: datetime, lifetime: timedelta) -> NewSession:
    secret = secrets.token_urlsafe(32)
    session = HostSession(host_id=host.id, token_hash=digest(secret),
                          csrf_token=secrets.token_urlsafe(32), created_at=now,
                          expires_at=now + lifetime)  # fmt: skip
    db.add(session)
    db.flush()
    return NewSession(session, secret)


def find_session(db: Session, secret: str, now: datetime) -> tuple[HostSession, Host] | None:
    """The live session behind a cookie and its host; None when unknown or expired."""
    session = db.scalar(select(HostSession).where(HostSession.token_hash == digest(secret)))
    if session is None or session.expires_at <= now:
        return None
    host = db.get(Host, session.host_id)
    return (session, host) if host is not None else None


def csrf_matches(session: HostSession, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(
        session.csrf_token.encode(), presented.encode()
    )


def end_session(db: Session, session_id: int) -> None:
    db.execute(delete(HostSession).where(HostSession.id == session_id))


def end_sessions_of(db: Session, host: Host, keep: int | None = None) -> None:
    """Sign a host out everywhere (after a password change), except session `keep`."""
    query = delete(HostSession).where(HostSession.host_id == host.id)
    if keep is not None:
        query = query.where(HostSession.id != keep)
    db.execute(query)


def purge_expired(db: Session, now: datetime) -> None:
    db.execute(delete(HostSession).where(HostSession.expires_at <= now))
