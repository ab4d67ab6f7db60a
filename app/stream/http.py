"""Serving the stream at the HTTP layer, beside the ASGI app.

uvicorn frames every ASGI response without a length as chunked, which Icecast never does and
some directories reject; and one `await` per chunk per listener costs too much CPU. So GET and
HEAD on the stream paths are answered here, on the raw connection, which is then handed to
the stream hub. Every other request goes to the ASGI app as usual.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

STREAM_PATHS = frozenset({b"/stream", b"/stream.mp3"})
HUB_STATE_KEY = "stream_hub"  # where the app's lifespan state keeps the hub


class StationHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, but stream requests become hub listeners."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handed_over = False

    def on_headers_complete(self) -> None:
        method = self.parser.get_method()
        hub = self.app_state.get(HUB_STATE_KEY)
        path, _, query = self.url.partition(b"?")
        if hub is None or method not in (b"GET", b"HEAD") or path not in STREAM_PATHS:
            super().on_headers_complete()
            return
        self._handed_over = True
        self._unset_keepalive_if_required()
        self.connections.discard(self)  # the hub closes its listeners at shutdown
        client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
        hub.attach(self.transport, method.decode(), self.headers, client, query)

    def data_received(self, data: bytes) -> None:
        if not self._handed_over:
            super().data_received(data)

    def on_body(self, body: bytes) -> None:
        if not self._handed_over:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._handed_over:
            super().on_message_complete()
