"""Who a listener is, without an account: a random id in a cookie the station signs, stored
only as a hash, and a hash of the client address for rate limits. Neither can be turned back
into a person.

The one home of the cookie's name, the id's shape, its signature and the hashes. The cookie
is `<id>.<signature>`: an HMAC-SHA256 of the id under a per-station key kept in the state
folder (`listener-key`, mode 0600, made on first start). A cookie without a good signature
is no identity at all, so nobody can make identities up: each one was issued by this station.
The stream hub sits below app/listeners and is handed COOKIE_NAME and ListenerKeys.verify by
the station; the news desk stores ratings and comments under hashes the API layer makes
here, so app/news needs none of it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import tempfile
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from app.models import ListenerName, ListeningSession, Rating

log = logging.getLogger(__name__)

COOKIE_NAME = "radio_listener"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEY_FILE = "listener-key"
KEY_BYTES = 32
_KEY_TEXT = re.compile(r"^[0-9a-f]{64}$")


class ListenerKeys:
    """Signs listener ids and checks signatures, with the station's own key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"a listener key needs at least {KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:
        return "ListenerKeys(...)"  # never the key, in a log or a traceback

    @classmethod
    def load(cls, state_dir: Path) -> ListenerKeys:
        """The station's key from `state_dir`, made on first start. Made atomically: written
        to a private temp file and linked into place, so a crash leaves no half-written key
        and two processes starting at once end up with the same one."""
        path = state_dir / KEY_FILE
        if not path.exists():
            state_dir.mkdir(parents=True, exist_ok=True)
            descriptor, temp = tempfile.mkstemp(dir=state_dir, prefix=f".{KEY_FILE}.")  # 0600
            try:
                os.write(descriptor, secrets.token_hex(KEY_BYTES).encode())
                os.fsync(descriptor)
                os.close(descriptor)
                with contextlib.suppress(FileExistsError):  # another start made one first
                    os.link(temp, path)  # never replaces an existing key
            finally:
                os.unlink(temp)
            log.info("made a new key for listener cookies in %s", path)
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)  # only the station's own user may read it
        text = path.read_text().strip()
        if not _KEY_TEXT.match(text):
            raise ValueError(
                f"{path} is not a listener key (64 hex digits); delete it and a new one is "
                "made at start (listeners then get new identities)"
            )
        return cls(bytes.fromhex(text))

    def _signature(self, identifier: str) -> str:
        mac = hmac.new(self._key, f"{COOKIE_NAME}:{identifier}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def sign(self, identifier: str) -> str:
        """The cookie's value for this id."""
        return f"{identifier}.{self._signature(identifier)}"

    def verify(self, value: str | None) -> str | None:
        """The id in a cookie this station signed; None for a missing, unsigned, tampered or
        foreign one (signed with another station's key)."""
        if not value or len(value) > 128:
            return None
        identifier, _, signature = value.rpartition(".")
        if valid_id(identifier) is None:
            return None
        good = hmac.compare_digest(signature.encode(), self._signature(identifier).encode())
        return identifier if good else None


def valid_id(value: str | None) -> str | None:
    """The id itself when it has the shape we hand out; anything else is no id at all."""
    return value if value is not None and ID_PATTERN.match(value) else None


def listener_id(request: Request, keys: ListenerKeys) -> str | None:
    """The id in the request's cookie, when the station signed it."""
    return keys.verify(request.cookies.get(COOKIE_NAME))


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


def client_network(request: Request) -> str:
    """The peer's address as one machine's: an IPv4 address, or an IPv6 address's /64 (one
    home or phone gets a whole /64, and can pick any address in it)."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def remember_listener(response: Response, request: Request, keys: ListenerKeys,
                      identifier: str) -> None:  # fmt: skip
    response.set_cookie(COOKIE_NAME, keys.sign(identifier), max_age=COOKIE_MAX_AGE, path="/",
                        httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")  # fmt: skip


def unsigned_id(request: Request) -> str | None:
    """A well-formed id in an unsigned cookie: what the station handed out before it signed
    them (or a made-up one)."""
    return valid_id(request.cookies.get(COOKIE_NAME))


def known_listener(db: Session, hashed: str) -> bool:
    """Whether the station has seen this listener: they listened, took a name or rated."""
    return any(
        db.scalar(select(exists().where(column == hashed)))
        for column in (ListeningSession.listener, ListenerName.listener, Rating.listener)
    )


def issue_identity(request: Request, keys: ListenerKeys, db: Session) -> str:
    """The id to sign into a request's new cookie, for a request without a signed one. A
    cookie from before the station signed them keeps its id when the station has seen that
    listener (their name, time on the board and ratings stay theirs); any other gets a new
    id, so an id made up by a client never gets signed."""
    old = unsigned_id(request)
    if old is not None and known_listener(db, listener_hash(old)):
        return old
    return new_listener_id()
