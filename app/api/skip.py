"""Skip: a listener's skip is a vote; a signed-in host's skip is at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from app.accounts.sessions import COOKIE_NAME as HOST_COOKIE
from app.api.auth import Authenticated, authenticate, bearer, presented_csrf
from app.api.deps import StationDep
from app.listeners.identity import client_network, listener_id

router = APIRouter(tags=["listeners"])


def host_if_signed_in(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    csrf: Annotated[str | None, Depends(presented_csrf)],
) -> Authenticated | None:
    """The host, when the request carries host credentials; None when it carries none.

    Credentials that are sent but wrong, expired or without their CSRF token fail as on any
    host route: a host whose sign-in has lapsed must not be counted as a listener's vote."""
    sent = "authorization" in request.headers or request.cookies.get(HOST_COOKIE)
    return authenticate(request, credentials, csrf) if sent else None


OptionalHost = Annotated[Authenticated | None, Depends(host_if_signed_in)]


@router.post(
    "/api/skip",
    responses={
        409: {"description": "the vote did not count: `detail` says why; the counts as now"},
    },
)
async def skip(request: Request, station: StationDep, auth: OptionalHost) -> Any:
    """Skip what is on air. A host skips at once; a listener's skip is a vote, counted
    when they are tuned in to the stream (by the `radio_listener` cookie the station signed)
    and have heard enough of it; one address adds only a few votes to an item."""
    if auth is not None:
        station.skip()
        return {"skipped": True, "by": "host", "host": auth.host.username}
    result = station.vote_skip(listener_id(request, station.listener_keys), client_network(request))
    counts = {"votes": result.votes, "needed": result.needed}
    if not result.accepted:
        headers = {"Retry-After": str(result.retry_after)} if result.retry_after else None
        return JSONResponse({"detail": result.refused, **counts},
                            status.HTTP_409_CONFLICT, headers)  # fmt: skip
    return {"skipped": result.skip, "by": "listeners", **counts}
