"""The host dashboard page (/host): a sign-in screen that drives the HTTP API.

The page itself is public: it shows a sign-in form, or, when the browser's session cookie is
live, the dashboard's sections, which web/static/host.js fills from the host routes. Knowing
here whether the host is signed in (and which optional routes exist) spares the page requests
that would be expected to fail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import iter_route_contexts

from app.accounts.sessions import COOKIE_NAME, CSRF_HEADER, find_session
from app.api.deps import SettingsDep, StationDep
from app.api.pages import _render
from app.models import HostRole
from app.station import Station

router = APIRouter(tags=["dashboard"])

# Routes the dashboard uses only when the running app has them.
OPTIONAL_ROUTES = {
    "listener_history": "/api/listeners/history",
    "listener_tracks": "/api/listeners/tracks",
}


@dataclass(frozen=True)
class SignedIn:
    username: str
    is_admin: bool
    csrf_token: str


def signed_in_host(request: Request, station: Station) -> SignedIn | None:
    """The host behind this browser's session cookie, if the session is live."""
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie:
        return None
    with station.sessions() as db:
        found = find_session(db, cookie, datetime.now(UTC))
    if found is None:
        return None
    session, host = found
    return SignedIn(host.username, host.role == HostRole.admin, session.csrf_token)


def available_routes(request: Request) -> dict[str, bool]:
    paths = {context.path for context in iter_route_contexts(request.app.routes)}
    return {name: path in paths for name, path in OPTIONAL_ROUTES.items()}


@router.get("/host", response_class=HTMLResponse)
def dashboard(request: Request, station: StationDep, settings: SettingsDep) -> HTMLResponse:
    """The dashboard: sign in, then run the queue, library, playlists, news and accounts."""
    host = signed_in_host(request, station)
    response = _render(
        request,
        settings,
        "host.html",
        host=host,
        csrf_header=CSRF_HEADER,
        features=available_routes(request),
        upload_max_mb=settings.upload_max_mb,
    )
    # The page carries the session's CSRF token: never keep it in a shared cache.
    response.headers["Cache-Control"] = "no-store"
    return response
