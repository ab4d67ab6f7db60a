"""How big a request body may be. Every route gets the small default; a router or route that
needs more says so with `max_body_size=` (FastAPI's own limit: a 413 at once when the
Content-Length is too big, before a byte of the body is read, and as soon as a chunked body
without one passes the limit). The limits are on the wire bytes, so they leave room for
JSON's escapes on top of the field lengths the request models allow."""

from __future__ import annotations

from fastapi import HTTPException, status
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import HTTPConnection

BODY_LIMIT = 64 * 1024  # every route: sign-in, ratings, comments, names, small host edits
LARGE_BODY_LIMIT = 4 * 1024 * 1024  # host routes that take a whole article or playlist
# The audio upload streams its body to disk and refuses past RADIO_UPLOAD_MAX_MB itself
# (a setting, so it cannot be a route's fixed limit): the framework does not cap it again.
STREAMED_BODY_LIMIT = 1 << 50


def refuse_declared_oversize(connection: HTTPConnection) -> None:
    """Every route's first dependency: a body declared (Content-Length) bigger than the
    route's limit is refused before the route acts. The framework refuses such a body when a
    route reads it, but a route that never reads its body would act first and only its
    answer would be swapped for the 413. (A connection, not a request: the WebSocket route,
    app/api/live_ws.py, gets it too, and has no body.)"""
    limit = connection.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    declared = connection.headers.get("content-length", "")
    if isinstance(limit, int) and declared.isdigit() and int(declared) > limit:
        message = f"the body is larger than this route's limit of {limit} bytes"
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, message)
