"""Who a listener is, without an account: a random id in a cookie, stored only as a hash,
and a hash of the client address for rate limits. Neither can be turned back into a person.

The one home of the cookie's name, the id's shape and the hashes. The stream hub sits below
app/listeners and is handed COOKIE_NAME by the station; the news desk stores ratings and
comments under hashes the API layer makes here, so app/news needs none of it."""

from __future__ import annotations

import hashlib
import re
import secrets

from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "radio_listener"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def valid_id(value: str | None) -> str | None:
    """The id itself when it has the shape we hand out; anything else is no cookie at all."""
    return value if value is not None and ID_PATTERN.match(value) else None


def listener_id(request: Request) -> str | None:
    """The id in the request's cookie, when it has a well-formed one."""
    return valid_id(request.cookies.get(COOKIE_NAME))


def new_listener_id() -> str:
    return secrets.token_urlsafe(24)


def listener_hash(identifier: str) -> str:
    # Hashed so a leaked database cannot be replayed as someone's cookie.
    return hashlib.sha256(f"listener:{identifier}".encode()).hexdigest()


def hashed_listener(identifier: str | None) -> str | None:
    """The hash of a well-formed id; None for a missing or malformed one."""
    valid = valid_id(identifier)
    return listener_hash(valid) if valid is not None else None


def address_hash(address: str) -> str:
    """A hash of a peer address: the address itself is never stored."""
    return hashlib.sha256(f"client:{address}".encode()).hexdigest()


def client_hash(request: Request) -> str:
    """A hash of the peer address: the proxy headers are not trusted, anyone can forge them."""
    return address_hash(request.client.host if request.client else "unknown")


def remember_listener(response: Response, request: Request, identifier: str) -> None:
    response.set_cookie(COOKIE_NAME, identifier, max_age=COOKIE_MAX_AGE, path="/",
                        httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")  # fmt: skip
