"""The host dashboard page (/host): a sign-in screen that drives the HTTP API.

The page itself is public: it shows a sign-in form, or, when the browser's session cookie is
live, the dashboard's sections, which web/static/host.js fills from the host routes. Knowing
here whether the host is signed in spares the page requests that would be expected to fail."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.accounts.sessions import CSRF_HEADER
from app.api.auth import page_session
from app.api.deps import SettingsDep
from app.api.pages import render_page
from app.models import HostRole

router = APIRouter(tags=["dashboard"])


@dataclass(frozen=True)
class SignedIn:
    username: str
    is_admin: bool
    csrf_token: str


@router.get("/host", response_class=HTMLResponse)
async def dashboard(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The dashboard: sign in, then run the queue, library, playlists, news and accounts."""
    found = await asyncio.to_thread(page_session, request)
    host = None
    if found is not None:
        session, account = found
        host = SignedIn(account.username, account.role == HostRole.admin, session.csrf_token)
    response = render_page(request, settings, "host.html", host=host, csrf_header=CSRF_HEADER,
                       upload_max_mb=settings.upload_max_mb)  # fmt: skip
    # The page carries the session's CSRF token: never keep it in a shared cache.
    response.headers["Cache-Control"] = "no-store"
    # Host controls inside somebody else's frame could be clicked on by trickery.
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    response.headers["X-Frame-Options"] = "DENY"
    return response
