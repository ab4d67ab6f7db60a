"""Who a listener is, without an account: a random id in a cookie, stored only as a hash,
and a hash of the client address for rate limits. Neither can be turned back into a person."""

from __future__ import annotations

import hashlib
import re
import secrets

from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "radio_listener"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def listener_id(request: Request) -> str | None:
    """The id in the request's cookie, when it has a well-formed one."""
    value = request.cookies.get(COOKIE_NAME, "")
    return value if _ID_PATTERN.match(value) else None


def new_listener_id() -> str:
    return secrets.token_urlsafe(24)


def listener_hash(identifier: str) -> str:
    # Hashed so a leaked database cannot be replayed as someone's cookie.
    return hashlib.sha256(f"listener:{identifier}".encode()).hexdigest()


def client_hash(request: Request) -> str:
    """A hash of the peer address: the proxy headers are not trusted, anyone can forge them."""
    address = request.client.host if request.client else "unknown"
    return hashlib.sha256(f"client:{address}".encode()).hexdigest()


def remember_listener(response: Response, request: Request, identifier: str) -> None:
    response.set_cookie(COOKIE_NAME, identifier, max_age=COOKIE_MAX_AGE, path="/",
                        httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")  # fmt: skip
