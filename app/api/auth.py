"""Who is asking. A host authenticates with a personal API token (`Authorization: Bearer`)
or, in a browser, with the session cookie; a cookie request with an unsafe method must also
carry the session's CSRF token, because the browser attaches the cookie on its own.

Routers guard their routes with `dependencies=[HostDep]` (any host) or `[AdminDep]`; a
route that needs the host itself takes a `CurrentHost` (or `CurrentAdmin`) parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.accounts.sessions import COOKIE_NAME, CSRF_FIELD, CSRF_HEADER, csrf_matches, find_session
from app.accounts.tokens import TokenExpired, authenticate_token
from app.db import SessionFactory, wait_for_locks
from app.models import ApiToken, Host, HostRole, HostSession

LAST_USED_WAIT_SECONDS = 0.5  # a token's last use is stored unless the database is locked
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Only plain forms may carry the CSRF token as a field: a multipart body (an upload) must
# send the header, so no file is read before the request is known to be genuine.
FORM_TYPES = ("application/x-www-form-urlencoded",)


@dataclass(frozen=True)
class Authenticated:
    host: Host
    session: HostSession | None = None  # the browser session, when signed in by cookie
    token_id: int | None = None  # the personal token, when sent as a bearer token


bearer = HTTPBearer(auto_error=False, description="a personal API token (POST /api/tokens)")


def unauthenticated(detail: str, error: str = "") -> HTTPException:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, {"WWW-Authenticate": challenge})


async def presented_csrf(request: Request) -> str | None:
    """The CSRF token a cookie request carries: the header, else a form field. Async only
    because reading a form is; the form is parsed once and cached for the route."""
    if request.method in SAFE_METHODS or "authorization" in request.headers:
        return None
    if COOKIE_NAME not in request.cookies:
        return None
    if header := request.headers.get(CSRF_HEADER):
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _note_use(db: Session, live: tuple[ApiToken, Host] | None) -> None:
    """Store a token's last use, unless the database is locked: that can wait for the next
    request, the request itself should not wait."""
    if live is None or live[0] not in db.dirty:
        return
    token = live[0]
    db.expunge_all()  # the token and host stay as they were read, whatever happens below
    try:
        wait_for_locks(db, LAST_USED_WAIT_SECONDS)
        db.execute(update(ApiToken).where(ApiToken.id == token.id)
                   .values(last_used_at=token.last_used_at))  # fmt: skip
        db.commit()
    except OperationalError:
        db.rollback()


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    csrf: Annotated[str | None, Depends(presented_csrf)],
) -> Authenticated:
    token = credentials.credentials if credentials is not None else None
    auth = identify(request.state.station.sessions, token, request.cookies.get(COOKIE_NAME))
    cookie_request = auth.session is not None and request.method not in SAFE_METHODS
    if cookie_request and not csrf_matches(auth.session, csrf):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"missing or wrong CSRF token: send it in the {CSRF_HEADER} header "
            f"or the {CSRF_FIELD} form field",
        )
    return auth


def identify(sessions: SessionFactory, token: str | None, cookie: str | None) -> Authenticated:
    """The host behind a personal token, else behind a session cookie; 401 saying why when
    neither names a live one. The CSRF check is the caller's: it depends on what is asked
    (a WebSocket, app/api/live_ws.py, has it in its first message)."""
    now = datetime.now(UTC)
    if token is not None:
        with sessions() as db:
            try:
                live = authenticate_token(db, token, now)
            except TokenExpired as expired:
                raise unauthenticated(
                    f"this token expired at {expired.expired_at:%Y-%m-%d %H:%M} UTC: create "
                    "a new one (POST /api/tokens, or `radio tokens create`)",
                    "invalid_token",
                ) from None
            _note_use(db, live)
        if live is None:
            raise unauthenticated("invalid or revoked token", "invalid_token")
        row, host = live
        return Authenticated(host, token_id=row.id)
    if cookie:
        with sessions() as db:
            found = find_session(db, cookie, now)
        if found is None:
            raise unauthenticated("your session has ended: sign in again")
        session, host = found
        return Authenticated(host, session=session)
    raise unauthenticated("sign in, or send a personal API token as 'Authorization: Bearer …'")


AuthDep = Annotated[Authenticated, Depends(authenticate)]


def current_host(auth: AuthDep) -> Host:
    return auth.host


def current_admin(auth: AuthDep) -> Host:
    if auth.host.role != HostRole.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin may do this")
    return auth.host


CurrentHost = Annotated[Host, Depends(current_host)]
CurrentAdmin = Annotated[Host, Depends(current_admin)]
HostDep = Depends(current_host)
AdminDep = Depends(current_admin)


def page_session(request: Request) -> tuple[HostSession, Host] | None:
    """The host signed in by this browser, for a page that shows more to hosts (the player's
    skip, the dashboard). No error when there is none: a listener is not a failed host."""
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie:
        return None
    sessions: SessionFactory = request.state.station.sessions
    with sessions() as db:
        return find_session(db, cookie, datetime.now(UTC))
