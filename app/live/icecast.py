"""An Icecast source on /live: BUTT, Mixxx, ffmpeg and any other source client.

The station's HTTP layer (app/stream/http.py) hands over a connection whose request is
`PUT /live` or the older `SOURCE /live`, with its parsed head; from then on the connection's
bytes come here raw (a source sends no Content-Length and no chunked framing). The answers
are Icecast's: 401 with `WWW-Authenticate` for wrong or missing credentials, 403 "Mountpoint
in use" for a second source, `HTTP/1.1 100 Continue` for `Expect: 100-continue`, else
`HTTP/1.0 200 OK`; then the body is the audio, until the source hangs up.

Credentials are Basic auth: the host's own name and password, or a personal token as the
password (any name). They are checked off the event loop by `authenticate`, which applies the
sign-in throttle (app/api/live.py gives it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.live import Live, LiveFeed, LiveRefused

log = logging.getLogger(__name__)

LIVE_PATHS = frozenset({b"/live"})
PENDING_BYTES = 512 * 1024  # audio kept while the credentials are checked


@dataclass(frozen=True)
class SourceHost:
    host_id: int
    name: str


class AuthRefused(Exception):
    def __init__(self, status: int, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


# (client address, username, password) -> the host; raises AuthRefused.
Authenticate = Callable[[str, str, str], Awaitable[SourceHost]]


def basic_credentials(headers: dict[str, str]) -> tuple[str, str] | None:
    """(name, password) from an `Authorization: Basic` header, or None."""
    value = headers.get("authorization", "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        name, sep, password = decoded.partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (name, password) if sep else None


class IcecastIngest:
    """What app/stream/http.py calls for a source request on a live path."""

    def __init__(self, live: Live, authenticate: Authenticate) -> None:
        self.live = live
        self.authenticate = authenticate

    def connect(self, transport: asyncio.Transport, method: str, headers: dict[str, str],
                client: str) -> SourceConnection:  # fmt: skip
        connection = SourceConnection(self, transport, method, headers, client)
        connection.task = asyncio.get_running_loop().create_task(connection.start())
        return connection


class SourceConnection:
    def __init__(self, ingest: IcecastIngest, transport: asyncio.Transport, method: str,
                 headers: dict[str, str], client: str) -> None:  # fmt: skip
        self._ingest = ingest
        self._transport = transport
        self._method = method
        self._headers = headers
        self._client = client
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._feed: LiveFeed | None = None
        self._closed = False
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        credentials = basic_credentials(self._headers)
        address = self._client.rpartition(":")[0]
        if credentials is None:
            self._answer(401, "Authentication required")
            return
        name, password = credentials
        try:
            host = await self._ingest.authenticate(address, name, password)
        except AuthRefused as error:
            log.warning("live: refused a source from %s as %r: %d %s", self._client, name,
                        error.status, error.message)  # fmt: skip
            self._answer(error.status, error.message, error.retry_after)
            return
        if self._closed:
            return
        content_type = self._headers.get("content-type", "")
        try:
            feed = self._ingest.live.begin(host.host_id, host.name, content_type,
                                           f"{self._method} /live")  # fmt: skip
        except LiveRefused as error:
            self._answer(error.status, error.message)
            return
        self._feed = feed
        feed.on_end.append(self._ended)
        expect = self._headers.get("expect", "").lower() == "100-continue"
        self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n" if expect
                              else b"HTTP/1.0 200 OK\r\n\r\n")  # fmt: skip
        pending, self._pending = self._pending, []
        for data in pending:
            self.data(data)

    def data(self, data: bytes) -> None:
        """The source's bytes (its body), as they arrive."""
        if self._closed:
            return
        feed = self._feed
        if feed is None:  # the credentials are being checked
            if self._pending_bytes + len(data) <= PENDING_BYTES:
                self._pending.append(data)
                self._pending_bytes += len(data)
            return
        try:
            feed.feed(data)
        except LiveRefused as error:
            log.warning("live: cut off the source of %s from %s: %s", feed.host_name,
                        self._client, error.message)  # fmt: skip
            self._close()

    def lost(self) -> None:
        """The source hung up."""
        self._closed = True
        if self._feed is not None:
            self._feed.end("the source disconnected")
        elif self.task is not None:
            self.task.cancel()

    def _ended(self, reason: str) -> None:
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport.close()

    def _answer(self, status: int, message: str, retry_after: int = 0) -> None:
        reason = {
            401: "Unauthorized",
            403: "Forbidden",
            409: "Conflict",
            413: "Too Large",
            429: "Too Many Requests",
            503: "Service Unavailable",
        }.get(status, "Error")
        body = f"{message}\n".encode()
        head = [f"HTTP/1.0 {status} {reason}", "Content-Type: text/plain; charset=utf-8",
                f"Content-Length: {len(body)}", "Connection: close"]  # fmt: skip
        if status == 401:
            head.append('WWW-Authenticate: Basic realm="Icecast2 Server"')
        if retry_after:
            head.append(f"Retry-After: {retry_after}")
        self._transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        self._close()
