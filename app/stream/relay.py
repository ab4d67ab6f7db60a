"""Relay outputs: push a mount to Icecast 2.4/2.5 servers as a source, as libshout does.

Each output (`RADIO_RELAYS`, parsed in app/outputs.py) is a sink of its mount's hub
(app/stream/hub.py) while it is connected: the hub hands it every chunk and each title on
the event loop, and it only queues them, up to `queue_seconds` of audio. A task writes the
queue to Icecast over a raw connection (`PUT /mount` with Basic auth and `ice-*` headers,
then the bytes as they are, never chunked), and sends each title, when the audio before it
has been written, to Icecast's `GET /admin/metadata?mode=updinfo` on a connection of its own
(MP3 and AAC; Icecast reads an Ogg stream's titles from the stream itself). An Icecast that
falls behind (the queue full) is dropped and connected again; one that goes away is
connected again after an exponential backoff with jitter, capped. The hub, and so the local
listeners, never wait for any of it.

Passwords never leave this module: the status, the log and every error name a target by
`RelayTarget.target` (no credentials).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import re
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from app.outputs import RelayTarget

if TYPE_CHECKING:
    from app.stream.hub import StreamHub

log = logging.getLogger(__name__)

CONNECT_SECONDS = 10.0  # to connect and have Icecast's answer to the PUT
METADATA_SECONDS = 10.0  # for a title update's answer
STABLE_SECONDS = 30.0  # a connection that lasted this long starts the backoff over
RETRY_FIRST_SECONDS = 1.0
RELAY_SNDBUF_BYTES = 64 * 1024  # so a stalled Icecast shows as a full queue within seconds
MAX_ANSWER_BYTES = 16 * 1024
# Content types whose titles Icecast takes from /admin/metadata (not from the stream).
TITLE_BY_REQUEST = ("audio/mpeg", "audio/aac", "audio/aacp", "audio/x-aac")
USER_AGENT = "radio-station relay"


class RelayError(Exception):
    """Why a connection to Icecast failed or ended, in words for a host."""


@dataclass
class _Title:
    title: str


class _Connection:
    """The hub's sink while one connection lasts: queues what the hub hands it, bounded."""

    def __init__(self, limit_bytes: int, on_overflow: Callable[[], None]) -> None:
        self.queue: deque[bytes | _Title] = deque()
        self.queued_bytes = 0
        self.limit_bytes = limit_bytes
        self.ready = asyncio.Event()
        self.overflowed = False
        self._on_overflow = on_overflow

    def write(self, data: bytes) -> None:
        if self.overflowed:
            return
        if self.queued_bytes + len(data) > self.limit_bytes:
            self.overflowed = True
            self.queue.clear()
            self._on_overflow()
            return
        self.queue.append(data)
        self.queued_bytes += len(data)
        self.ready.set()

    def title(self, title: str, url: str) -> None:
        if not self.overflowed:
            self.queue.append(_Title(title))
            self.ready.set()


class RelayOutput:
    """One relay output: connects, pushes, updates titles, reconnects; `status()` says how."""

    def __init__(self, target: RelayTarget, hub: StreamHub, *, public: bool,
                 queue_seconds: float, retry_max_seconds: float) -> None:  # fmt: skip
        self.target = target
        self.hub = hub
        self.public = public if target.public is None else target.public
        self.queue_seconds = queue_seconds
        self.retry_max_seconds = retry_max_seconds
        self.connected = False
        self.since = datetime.now(UTC)  # when it connected, or when it last lost its connection
        self.bytes_sent = 0
        self.connects = 0
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.titles_sent = 0
        self._task: asyncio.Task[None] | None = None
        self._pending_title: str | None = None
        self._title_ready = asyncio.Event()

    @property
    def reconnects(self) -> int:
        """Times it connected again after losing a connection."""
        return max(self.connects - 1, 0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"relay {self.target.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def status(self) -> dict[str, Any]:
        return {
            "name": self.target.name,
            "target": self.target.target,
            "mount": self.target.mount,
            "connected": self.connected,
            "since": self.since,
            "bytes_sent": self.bytes_sent,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }

    def _failed(self, error: str) -> None:
        self.last_error = error
        self.last_error_at = datetime.now(UTC)

    async def _run(self) -> None:
        failures = 0
        titles = asyncio.create_task(self._send_titles())
        try:
            while True:
                started = time.monotonic()
                try:
                    await self._push()
                except RelayError as error:
                    self._failed(str(error))
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
                    self._failed(_describe(error))
                if self.connected:
                    self.connected = False
                    self.since = datetime.now(UTC)
                if time.monotonic() - started >= STABLE_SECONDS:
                    failures = 0
                failures += 1
                delay = min(self.retry_max_seconds, RETRY_FIRST_SECONDS * 2 ** (failures - 1))
                delay *= random.uniform(0.5, 1.0)  # jitter: many stations, one Icecast
                log.warning("relay %s to %s: %s; trying again in %.1f s", self.target.name,
                            self.target.target, self.last_error, delay)  # fmt: skip
                await asyncio.sleep(delay)
        finally:
            titles.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await titles

    async def _push(self) -> None:
        """One connection: the PUT, then the hub's audio until it ends."""
        info = self.hub.info
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.target.host, self.target.port), CONNECT_SECONDS
        )
        sink: _Connection | None = None
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, RELAY_SNDBUF_BYTES)
            writer.write(self._put_head(info))
            status, reason, _ = await asyncio.wait_for(_read_answer(reader), CONNECT_SECONDS)
            if status not in (100, 200):
                # Icecast 2.4 says why in the page only ("Mountpoint in use" is a 403 Forbidden)
                with contextlib.suppress(TimeoutError, OSError):
                    reason += " " + _page_text(await asyncio.wait_for(
                        reader.read(MAX_ANSWER_BYTES), CONNECT_SECONDS))  # fmt: skip
                raise RelayError(_refusal(status, reason.strip()))
            limit = max(1, round(self.queue_seconds * info.bitrate_kbps * 1000 / 8))
            sink = _Connection(limit, writer.transport.abort)
            self.connected = True
            self.connects += 1
            self.since = datetime.now(UTC)
            log.info("relay %s: pushing %s to %s", self.target.name, self.target.mount,
                     self.target.target)  # fmt: skip
            self.hub.add_sink(sink)
            watch = asyncio.create_task(_until_closed(reader))
            pump = asyncio.create_task(self._pump(sink, writer))
            done, _ = await asyncio.wait({watch, pump}, return_when=asyncio.FIRST_COMPLETED)
            for task in (watch, pump):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if sink.overflowed:
                behind = f"more than {self.queue_seconds:g} s of audio waiting to be sent"
                raise RelayError(f"Icecast fell behind: {behind}; dropped, connecting again")
            failure = pump.exception() if pump in done else None
            if failure is not None:
                raise failure
            raise RelayError("Icecast closed the connection")
        finally:
            if sink is not None:
                self.hub.remove_sink(sink)
            writer.transport.abort()

    async def _pump(self, sink: _Connection, writer: asyncio.StreamWriter) -> None:
        while True:
            await sink.ready.wait()
            sink.ready.clear()
            while sink.queue:
                batch: list[bytes] = []
                while sink.queue and isinstance(sink.queue[0], bytes):
                    batch.append(sink.queue.popleft())  # type: ignore[arg-type]
                if batch:
                    data = b"".join(batch)
                    writer.write(data)
                    await writer.drain()
                    sink.queued_bytes -= len(data)
                    self.bytes_sent += len(data)
                if sink.queue and isinstance(sink.queue[0], _Title):
                    self._title(sink.queue.popleft().title)  # type: ignore[union-attr]

    def _title(self, title: str) -> None:
        """The audio before this title is out: Icecast is told it (by its admin request)."""
        if self.hub.info.content_type.split(";")[0].strip() in TITLE_BY_REQUEST:
            self._pending_title = title
            self._title_ready.set()

    async def _send_titles(self) -> None:
        """Sends the latest title waiting, one request at a time (a newer one replaces an
        older one not yet sent)."""
        while True:
            await self._title_ready.wait()
            self._title_ready.clear()
            title, self._pending_title = self._pending_title, None
            if title is None or not self.connected:
                continue  # connecting again tells it the title in force
            try:
                await asyncio.wait_for(self._update_title(title), METADATA_SECONDS)
                self.titles_sent += 1
            except RelayError as error:
                self._failed(str(error))
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
                self._failed(f"title update: {_describe(error)}")

    async def _update_title(self, title: str) -> None:
        query = (f"mode=updinfo&mount={quote(self.target.path, safe='/')}"
                 f"&song={quote(title, safe='')}&charset=UTF-8")  # fmt: skip
        head = (f"GET /admin/metadata?{query} HTTP/1.0\r\n"
                f"Host: {self._host_header()}\r\n"
                f"Authorization: {self._authorization()}\r\n"
                f"User-Agent: {USER_AGENT}\r\n\r\n")  # fmt: skip
        reader, writer = await asyncio.open_connection(self.target.host, self.target.port)
        try:
            writer.write(head.encode("utf-8"))
            status, reason, body = await _read_answer(reader, with_body=True)
        finally:
            writer.transport.abort()
        if status != 200:
            raise RelayError(f"title update: {_refusal(status, reason)}")
        if b"<return>1</return>" not in body and b"<return>" in body:
            message = re.search(rb"<message>(.*?)</message>", body)
            said = message.group(1).decode("utf-8", "replace") if message else "no reason"
            raise RelayError(f"title update refused by Icecast: {said}")

    def _host_header(self) -> str:
        host = f"[{self.target.host}]" if ":" in self.target.host else self.target.host
        return f"{host}:{self.target.port}"

    def _authorization(self) -> str:
        pair = f"{self.target.user}:{self.target.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _put_head(self, info: Any) -> bytes:
        channels = getattr(info, "channels", 2)
        lines = [
            f"PUT {quote(self.target.path, safe='/')} HTTP/1.1",
            f"Host: {self._host_header()}",
            f"Authorization: {self._authorization()}",
            f"User-Agent: {USER_AGENT}",
            f"Content-Type: {info.content_type}",
            "Expect: 100-continue",
            f"ice-name: {_header_safe(info.name)}",
            f"ice-description: {_header_safe(info.description)}",
            f"ice-genre: {_header_safe(info.genre)}",
            f"ice-url: {_header_safe(info.url)}",
            f"ice-public: {int(self.public)}",
            f"ice-bitrate: {info.bitrate_kbps}",
            f"ice-audio-info: ice-samplerate={info.sample_rate};ice-bitrate={info.bitrate_kbps};"
            f"ice-channels={channels}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class Relays:
    """Every relay output of the station."""

    def __init__(self, targets: tuple[RelayTarget, ...], *, public: bool,
                 queue_seconds: float, retry_max_seconds: float) -> None:  # fmt: skip
        self.targets = targets
        self.public = public
        self.queue_seconds = queue_seconds
        self.retry_max_seconds = retry_max_seconds
        self.outputs: list[RelayOutput] = []

    def start(self, hub_for: Callable[[str], StreamHub | None], mounts: list[str]) -> None:
        """Start pushing; `hub_for` finds a mount's hub by its path. Raises ValueError for an
        output whose mount the station does not have."""
        for target in self.targets:
            hub = hub_for(target.mount)
            if hub is None:
                raise ValueError(f"RADIO_RELAYS: output {target.name!r} pushes mount "
                                 f"{target.mount!r}, which the station does not have "
                                 f"(its mounts: {', '.join(mounts)})")  # fmt: skip
            self.outputs.append(RelayOutput(target, hub, public=self.public,
                                            queue_seconds=self.queue_seconds,
                                            retry_max_seconds=self.retry_max_seconds))  # fmt: skip
        for output in self.outputs:
            output.start()

    async def stop(self) -> None:
        for output in self.outputs:
            await output.stop()

    def status(self) -> list[dict[str, Any]]:
        return [output.status() for output in self.outputs]


async def _read_answer(reader: asyncio.StreamReader, with_body: bool = False
                       ) -> tuple[int, str, bytes]:  # fmt: skip
    """An HTTP answer's status, reason and (asked for, up to MAX_ANSWER_BYTES) body."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_ANSWER_BYTES:
        raise RelayError("Icecast's answer has an oversized head")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    match = re.match(r"(?:HTTP/\d\.\d|ICY) (\d{3}) ?(.*)", status_line)
    if not match:
        raise RelayError(f"not an HTTP answer: {status_line[:80]!r}")
    body = b""
    if with_body:
        with contextlib.suppress(asyncio.IncompleteReadError):
            body = await reader.read(MAX_ANSWER_BYTES)
    return int(match.group(1)), match.group(2).strip(), body


def _refusal(status: int, reason: str) -> str:
    said = f" ({reason})" if reason else ""
    reason = reason.lower()
    if status == 401:
        return f"Icecast refused the user or password{said}: check the URL in RADIO_RELAYS"
    if status == 409 or (status == 403 and "in use" in reason):
        return f"the mount is in use on Icecast by another source{said}"
    if status == 403:
        return (f"Icecast refused the source{said}: too many sources, a content type it does "
                "not take, or a mount it forbids")  # fmt: skip
    return f"Icecast answered {status}{said}"


def _page_text(body: bytes) -> str:
    """The words of an error page, without its markup (a few of them)."""
    text = re.sub(r"<[^>]*>", " ", body.decode("utf-8", "replace"))
    return " ".join(text.split())[:200]


async def _until_closed(reader: asyncio.StreamReader) -> None:
    """Returns when Icecast closes the connection (a source gets nothing more to read)."""
    while await reader.read(4096):
        pass


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is Icecast running?)"
    if isinstance(error, asyncio.IncompleteReadError):
        return "Icecast closed the connection"
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return str(error)


def _header_safe(value: str) -> str:
    return " ".join(value.split())
