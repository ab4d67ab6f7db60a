"""Serving the stream at the HTTP layer, beside the ASGI app, and bounding request heads.

uvicorn frames every ASGI response without a length as chunked, which Icecast never does and
some directories reject; and one `await` per chunk per listener costs too much CPU. So GET and
HEAD on the stream paths are answered here, on the raw connection, which is then handed to
the stream hub. Every other request goes to the ASGI app as usual.

uvicorn bounds neither how long a request head may take nor how large it may grow (httptools
keeps every header it is given), so a client that sends half a head and stops holds its
connection for good, and one that sends header lines without end grows the server. Every
connection here, on the stream paths and the app's alike, gets HEAD_TIMEOUT_SECONDS from its
first byte (or from connecting) to the blank line ending its head, and MAX_HEAD_BYTES for
that head, as Icecast and nginx do. A listener's connection is unbounded once its head is in.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.stream.archive import iso_time
from app.stream.timeshift import LIVE_WITHIN_SECONDS, parse_at

STREAM_PATHS = frozenset({b"/stream", b"/stream.mp3"})
HUB_STATE_KEY = "stream_hub"  # where the app's lifespan state keeps the hub
MOUNTS_STATE_KEY = "stream_mounts"  # ...and the extra mounts' hubs, by path (bytes)
SHIFT_STATE_KEY = "stream_timeshift"  # ...and the time-shifted listening (`/stream?at=`)
# ...and the live input (app/live/icecast.py's IcecastIngest): `PUT` and `SOURCE` on /live
# are Icecast sources, whose body (no length, no chunks) is read raw until they hang up.
LIVE_STATE_KEY = "live_ingest"
# ...and what to call when the server starts to stop, before it waits for the responses under
# way: the push channels end then (NowPlaying.close), not at the end of the server's grace.
STOPPING_STATE_KEY = "stream_stopping"
LIVE_PATHS = frozenset({b"/live"})
SOURCE_STARTS = (b"SOURCE ", b"PUT /live")

# The request line and header lines of one request, all told (nginx's default buffers: 1 KiB,
# then 4 of 8 KiB; Icecast's: 8 KiB). Beyond it the answer is 431 and the connection closes.
MAX_HEAD_BYTES = 16 * 1024
# From connecting, or from the first byte of a request on a kept-alive connection, to the end
# of its head (nginx's client_header_timeout is 60 s, Icecast's header timeout 15 s).
HEAD_TIMEOUT_SECONDS = 10.0
# How long a kept-alive connection may sit idle between a response and its next request.
KEEP_ALIVE_SECONDS = 5


class StationHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, but stream requests become hub listeners, and request
    heads are bounded in time and size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._detached = False  # handed to the hub, or refused: the parser is done with it
        self._in_head = True  # between requests, or inside a request's head
        self._head_bytes = 0  # bytes received since the last request ended (its upper bound)
        self._head_timer: asyncio.TimerHandle | None = None
        self._source_head: bytearray | None = None  # a live source's head, being read
        self._source: Any = None  # ...and then its connection (app/live/icecast.py)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that never sends a byte is closed too

    def shutdown(self) -> None:
        """The server is stopping (uvicorn calls this for each open connection first)."""
        stopping = self.app_state.get(STOPPING_STATE_KEY)
        if stopping is not None:
            stopping()
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._source is not None:
            self._source.lost()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._source is not None:
            self._source.data(data)
            return
        if self._source_head is not None or (
            self._in_head
            and self._head_bytes == 0
            and data.startswith(SOURCE_STARTS)
            and self.app_state.get(LIVE_STATE_KEY) is not None
        ):
            self._read_source_head(data)
            return
        if self._detached:
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._arm_head_timer()
        super().data_received(data)
        # Still in a head after all of it: every byte counted belongs to that head.
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self._finished():
            self._refuse(431, "Request header fields too large.")

    def on_headers_complete(self) -> None:
        if self._detached:
            return
        self._in_head = False
        self._cancel_head_timer()
        if _head_size(self.url, self.headers) > MAX_HEAD_BYTES:  # a whole head in one read
            self._refuse(431, "Request header fields too large.")
            return
        method = self.parser.get_method()
        path, _, query = self.url.partition(b"?")
        default = path in STREAM_PATHS
        hub = (self.app_state.get(HUB_STATE_KEY) if default
               else self.app_state.get(MOUNTS_STATE_KEY, {}).get(path))  # fmt: skip
        if hub is None or method not in (b"GET", b"HEAD"):
            super().on_headers_complete()
            return
        # The time-shift archive keeps the default mount: `?at=` is for it alone.
        at_value = parse_qs(query.decode("latin-1")).get("at", [""])[0] if default else ""
        at = None
        if at_value:
            try:
                at = parse_at(at_value)
            except ValueError as error:
                self._refuse_json(400, {"detail": f"at={at_value!r} is not a time: {error}"})
                return
            if at >= time.time() - LIVE_WITHIN_SECONDS:
                at = None  # now or later: the live stream
        shift = self.app_state.get(SHIFT_STATE_KEY)
        if at is not None:
            oldest = shift.archive.oldest() if shift is not None else None
            if oldest is None or at < oldest:
                since = iso_time(oldest) if oldest is not None else None
                detail = (f"the archive begins at {since}: ask for that time or later"
                          if since else "there is no time-shift archive to play yet")  # fmt: skip
                self._refuse_json(416, {"detail": detail, "oldest": since})
                return
        self._detached = True
        self._unset_keepalive_if_required()
        self.connections.discard(self)  # the hub closes its listeners at shutdown
        client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
        if at is not None:
            shift.attach(self.transport, method.decode(), self.headers, client, at)
        else:
            hub.attach(self.transport, method.decode(), self.headers, client, query)

    def _read_source_head(self, data: bytes) -> None:
        """A live source's request (PUT or SOURCE): its head is read here, as its body will
        be (raw), and the connection goes to the live ingest."""
        head = self._source_head = (self._source_head or bytearray()) + data
        self._head_bytes += len(data)
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > MAX_HEAD_BYTES:
                self._refuse(431, "Request header fields too large.")
            return
        lines = bytes(head[:end]).decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        target = rest.rpartition(" ")[0] or rest
        if target.partition("?")[0].encode("latin-1") not in LIVE_PATHS:
            self._source_head = None  # another path: the app answers it as usual
            self._head_bytes = 0
            super().data_received(bytes(head))
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self._detached, self._in_head = True, False
        self._cancel_head_timer()
        self.connections.discard(self)
        client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
        ingest = self.app_state[LIVE_STATE_KEY]
        self._source = ingest.connect(self.transport, method, headers, client)
        body = bytes(head[end + 4 :])
        self._source_head = None
        if body:
            self._source.data(body)

    def on_body(self, body: bytes) -> None:
        if not self._detached:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._detached:
            return
        self._in_head, self._head_bytes = True, 0  # what comes next is the next request
        super().on_message_complete()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self._finished():
            return
        answering = self.cycle is not None and not self.cycle.response_complete
        if self._head_bytes and not answering:  # never in the middle of another response
            self._refuse(408, "Request head not received in time.")
        else:  # nothing asked (a preconnect, an idle socket), or an answer under way: close
            self._detached = True
            self.transport.close()

    def _finished(self) -> bool:
        """Handed over, refused, or closing (uvicorn answered a malformed request itself)."""
        return self._detached or self.transport.is_closing()

    def _refuse_json(self, status: int, answer: dict[str, Any]) -> None:
        """Answer a stream request `status` with a JSON body, as the API's errors are."""
        self._refuse(status, json.dumps(answer), b"application/json", log=False)

    def _refuse(self, status: int, message: str, content_type: bytes = b"text/plain; charset=utf-8",
                log: bool = True) -> None:  # fmt: skip
        """Answer `status` with a plain `message`, close the connection, and parse no more."""
        self._detached = True
        self._cancel_head_timer()
        body = message.encode("utf-8")
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        if content_type == b"application/json":  # a web player reads why
            head += [b"access-control-allow-origin: *\r\n"]
        head += [
            b"content-type: " + content_type + b"\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        if log:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            self.logger.warning("refused a request head from %s: %d %s", client, status, message)


def _head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """About the size of a parsed head on the wire: the request line and "name: value" lines."""
    return len(url) + 16 + sum(len(name) + len(value) + 4 for name, value in headers)
