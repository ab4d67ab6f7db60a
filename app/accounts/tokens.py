"""Personal API tokens for scripts and the CLI: the secret is shown once, only its sha256 is
stored, and a revoked token stops working at once. A token may be given a lifetime when it
is made ("30d"); once it has passed, the token is refused with a message that says so."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken, Host

SECRET_PREFIX = "radio_"
PREFIX_LENGTH = 12  # "radio_" and six characters of the secret: enough to tell tokens apart
MIN_SECRET_LENGTH = 20
LAST_USED_RESOLUTION = timedelta(minutes=1)  # not one database write per request
LIFETIME_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
                  "w": timedelta(weeks=1)}  # fmt: skip
LIFETIME_PATTERN = r"^[1-9][0-9]{0,5}[mhdw]$"
MAX_LIFETIME = timedelta(days=3660)  # ten years; longer, make it never expire
LIFETIME_HELP = "a whole number and a unit: m (minutes), h (hours), d (days), w (weeks), e.g. 30d"


class TokenExpired(Exception):
    """The token is right, but its lifetime is over."""

    def __init__(self, expired_at: datetime) -> None:
        super().__init__(f"token expired at {expired_at:%Y-%m-%d %H:%M} UTC")
        self.expired_at = expired_at


def parse_lifetime(text: str) -> timedelta:
    """ "30d" -> 30 days; a ValueError that says what is accepted for anything else."""
    if not re.match(LIFETIME_PATTERN, text.strip()):
        raise ValueError(f"a token lifetime is {LIFETIME_HELP}; not {text!r}")
    text = text.strip()
    lifetime = int(text[:-1]) * LIFETIME_UNITS[text[-1]]
    if lifetime > MAX_LIFETIME:
        raise ValueError("a token lifetime is at most 3660 days; for longer, give none")
    return lifetime


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the only time anybody sees it


def digest(secret: str) -> str:
    # A plain sha256 is enough: the secret has 256 random bits, nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def issue_token(
    db: Session,
    host: Host,
    name: str,
    secret: str | None = None,
    lifetime: timedelta | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """A new token for `host`, working for `lifetime` from `now` (None: until revoked).
    `secret` is for bootstrapping a known value (the test harness); everyone else gets a
    fresh random one."""
    name = name.strip()
    if not name or len(name) > 128:
        raise ValueError("a token needs a name of 1 to 128 characters")
    secret = secret or new_secret()
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"a token secret needs at least {MIN_SECRET_LENGTH} characters")
    now = now or datetime.now(UTC)
    expires_at = now + lifetime if lifetime is not None else None
    token = ApiToken(host_id=host.id, name=name, token_hash=digest(secret),
                     prefix=secret[:PREFIX_LENGTH], created_at=now,
                     expires_at=expires_at)  # fmt: skip
    db.add(token)
    db.flush()
    return IssuedToken(token, secret)


def find_token(db: Session, secret: str) -> ApiToken | None:
    return db.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))


def authenticate_token(db: Session, secret: str, now: datetime) -> tuple[ApiToken, Host] | None:
    """A live token and its host, or None for an unknown or revoked token. Raises
    TokenExpired for a token whose lifetime is over."""
    token = find_token(db, secret)
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenExpired(token.expires_at)
    host = db.get(Host, token.host_id)
    if host is None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token, host


def list_tokens(db: Session, host: Host | None = None) -> list[ApiToken]:
    """The tokens of `host`, or of every host; revoked ones too, marked as such."""
    query = select(ApiToken).order_by(ApiToken.id)
    if host is not None:
        query = query.where(ApiToken.host_id == host.id)
    return list(db.scalars(query))


def revoke_token(db: Session, token: ApiToken, now: datetime) -> None:
    if token.revoked_at is None:
        token.revoked_at = now
        db.flush()
