"""The host dashboard page (/host): a sign-in screen that drives the HTTP API.

The page itself is public: it shows a sign-in form, or, when the browser's session cookie is
live, the dashboard's sections, which web/static/host.js fills from the host routes. Knowing
here whether the host is signed in spares the page requests that would be expected to fail."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from app.accounts.sessions import CSRF_HEADER
from app.api.auth import page_session
from app.api.deps import SettingsDep
from app.api.templating import render_page
from app.config import Settings
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
    return host_page(request, settings, host)


def host_page(
    request: Request,
    settings: Settings,
    host: SignedIn | None,
    refused: HTTPException | None = None,
    username: str = "",
) -> HTMLResponse:
    """The page; without a host, the sign-in form, and after a refused sign-in from that form
    (a browser without script) the reason, with the refusal's status and headers."""
    response = render_page(request, settings, "host.html",
                           refused.status_code if refused else 200, host=host,
                           csrf_header=CSRF_HEADER, upload_max_mb=settings.upload_max_mb,
                           error=refused.detail if refused else None,
                           username=username, timezone=settings.timezone)  # fmt: skip
    if refused is not None and refused.headers:
        response.headers.update(refused.headers)
    # The page carries the session's CSRF token: never keep it in a shared cache.
    response.headers["Cache-Control"] = "no-store"
    # No site may frame it (app.headers): host controls inside somebody else's frame could be
    # clicked on by trickery.
    return response
