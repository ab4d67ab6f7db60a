"""Live shows (app/live): how the live input stands, the hand-back, and Icecast's title
update for source clients (`/admin/metadata?mode=updinfo`), with the source's credentials."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app import accounts
from app.accounts.ratelimit import LoginThrottle
from app.accounts.tokens import TokenExpired, authenticate_token
from app.api.auth import CurrentHost, HostDep
from app.api.deps import StationDep
from app.api.errors import error
from app.db import SessionFactory
from app.live.icecast import AuthRefused, SourceHost, basic_credentials

router = APIRouter(prefix="/api", dependencies=[HostDep], tags=["station"])
icecast = APIRouter(tags=["station"])

TOKEN_PREFIX = "radio_"  # personal tokens (app/accounts/tokens.py) start with it


def source_authenticator(sessions: SessionFactory, throttle: LoginThrottle):  # type: ignore[no-untyped-def]
    """The check of a source's credentials: a host's name and password, or a personal token
    as the password. Off the event loop (argon2), throttled as the sign-in is."""

    async def authenticate(address: str, name: str, password: str) -> SourceHost:
        username = name.strip().lower()
        if wait := throttle.attempt(address, username):
            raise AuthRefused(429, f"too many failed sign-ins: try again in {wait} seconds", wait)
        if not throttle.start_check():
            throttle.not_checked(address, username)
            raise AuthRefused(503, "too many sign-ins at once: try again in a second", 1)
        try:
            host = await run_in_threadpool(_check, sessions, username, password)
        finally:
            throttle.end_check()
        if host is None:
            raise AuthRefused(401, "wrong username, password or token")
        throttle.succeeded(address, username)
        return host

    return authenticate


def _check(sessions: SessionFactory, username: str, password: str) -> SourceHost | None:
    with sessions() as db:
        if password.startswith(TOKEN_PREFIX):
            try:
                found = authenticate_token(db, password, datetime.now(UTC))
            except TokenExpired:
                return None
            if found is None:
                return None
            host = found[1]
        else:
            host = accounts.hosts.authenticate(db, username, password)
            if host is None:
                return None
        db.commit()
        return SourceHost(host.id, host.display_name or host.username)


@router.get("/live")
def live_status(station: StationDep) -> dict[str, Any]:
    """The live input: off, starting (decoding), on_air, news (the hourly news has the air
    from it: `news` is its title) or ending; who, since when, its title; the latest
    refusals (wrong credentials aside, which the sign-in throttle counts)."""
    return station.live.status()  # type: ignore[no-any-return]


@router.post("/live/end", responses={409: error("nobody is live")})
def live_end(station: StationDep, host: CurrentHost) -> dict[str, Any]:
    """Hand the air back to the programme (it returns with a fade)."""
    if not station.live.hand_back(host.display_name or host.username):
        raise HTTPException(status.HTTP_409_CONFLICT, "nobody is live")
    return station.live.status()  # type: ignore[no-any-return]


@icecast.get("/admin/metadata", include_in_schema=False)
async def update_metadata(request: Request, station: StationDep) -> Response:
    """Icecast's title update: `?mode=updinfo&mount=/live&song=...`, with the live source's
    credentials (Basic auth). Answers Icecast's XML."""
    credentials = basic_credentials({k.lower(): v for k, v in request.headers.items()})
    if credentials is None:
        return _iceresponse(401, "Authentication required")
    address = request.client.host if request.client else ""
    try:
        host = await request.state.source_authenticate(address, *credentials)
    except AuthRefused as error:
        return _iceresponse(error.status, error.message)
    query = request.query_params
    if query.get("mode") != "updinfo" or query.get("mount", "/live") != "/live":
        return _iceresponse(400, "only mode=updinfo on mount /live is supported")
    feed = station.live.feed
    if feed is None or feed.host_id != host.host_id:
        return _iceresponse(400, "Source does not exist")
    title = query.get("song") or " - ".join(
        part for part in (query.get("artist", ""), query.get("title", "")) if part)  # fmt: skip
    feed.title(title)
    return _iceresponse(200, "Metadata update successful")


def _iceresponse(code: int, message: str) -> Response:
    body = (f'<?xml version="1.0"?>\n<iceresponse><message>{message}</message>'
            f"<return>{1 if code == 200 else 0}</return></iceresponse>\n")  # fmt: skip
    headers = {"WWW-Authenticate": 'Basic realm="Icecast2 Server"'} if code == 401 else None
    return Response(body, status_code=code, media_type="text/xml", headers=headers)
