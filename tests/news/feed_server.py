"""A real HTTP server on loopback that serves feed documents to the station under test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FeedServer(ThreadingHTTPServer):
    """`documents` maps a path to its body, `redirects` a path to a Location; `requests` lists
    the paths asked for, so a test can tell whether the station connected at all."""

    daemon_threads = True

    def __init__(self, documents: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.documents = dict(documents)
        self.redirects: dict[str, str] = {}
        self.requests: list[str] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def allow(self) -> str:
        """This server as an entry of RADIO_FEED_ALLOW_HOSTS."""
        return f"127.0.0.1:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    """The documents; /huge-unsized without a Content-Length, as a server streaming an
    endless body would send it; /slow answers after the client's timeout; /drip sends each
    byte in time but never ends."""

    server: FeedServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.path in self.server.redirects:
            self.send_response(302)
            self.send_header("Location", self.server.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/drip":
            self.send_response(200)
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.1)
            return
        body = self.server.documents.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        if self.path != "/huge-unsized":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests


@contextmanager
def serving(documents: dict[str, bytes]) -> Iterator[FeedServer]:
    httpd = FeedServer(documents)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
