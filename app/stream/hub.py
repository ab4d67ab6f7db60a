"""The fan-out hub: one shared buffer of encoded chunks, a cursor per listener.

Runs in the event loop. The playout thread hands it blocks at real-time pace; the hub
gathers them into writes of about `write_seconds` of audio and writes each straight to
every listener's transport: fewer, larger writes cost the fan-out less CPU. A block holding
the start of an item is written at once, and the title changes with it. A listener whose
socket is full stops being written to and keeps only its cursor; when it drains it catches
up from the buffer, and if the buffer has moved past its cursor it is disconnected. So a
slow listener costs no memory beyond its socket and never holds up anyone else.

Sinks are the hub's consumers inside the station (relay outputs, the HLS segmenter): a sink
added with `add_sink` is told the title in force at once, then every chunk as it is written
to the listeners (`write`, in stream order, on the event loop) and each title change just
before the audio it belongs to (`title`). A sink must return at once (queue the bytes, do
its I/O elsewhere) and must not raise; one that does is removed and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import socket
import sys
import termios
import time
from collections import Counter, deque
from collections.abc import Callable, KeysView
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs

from starlette.requests import cookie_parser

from app.core.item import Item
from app.stream.icy import IcyFramer, metadata_block
from app.stream.mp3 import HEARD_DELAY_FRAMES
from app.stream.response import StreamInfo, response_head, wants_icy

log = logging.getLogger(__name__)

WRITE_HIGH_WATER = 64 * 1024
WRITE_LOW_WATER = 16 * 1024
PROBE_SECONDS = 0.05  # after a write, when a closed client's reset has surely come back


@dataclass(frozen=True)
class Chunk:
    offset: int  # of its first byte, counted from the start of the stream
    data: bytes
    metadata: bytes  # the ICY block in force while this chunk plays
    # What a listener starting at this chunk is sent first: the header pages of the Ogg
    # chain it belongs to (empty for MP3 and AAC, and for a chunk that begins a chain).
    headers: bytes = b""
    at: float | None = None  # where it begins in stream seconds, when not by its offset


class Sink(Protocol):
    """A consumer of the stream inside the station (see the module's docstring)."""

    def write(self, data: bytes) -> None: ...

    def title(self, title: str, url: str) -> None: ...


class StreamHub:
    def __init__(
        self,
        info: StreamInfo,
        buffer_bytes: int,
        burst_bytes: int,
        sndbuf_bytes: int,
        listener_cookie: str,  # the cookie that says who the listener is (app.listeners.identity)
        verify_listener: Callable[[str], str | None],  # the id in a cookie the station signed
        write_seconds: float = 0.4,
    ) -> None:
        self.info = info
        self.listener_cookie = listener_cookie
        self.verify_listener = verify_listener
        self.listeners: set[Listener] = set()
        # The listeners being written to, by kind: a plain one's write is all it costs.
        self._plain: dict[Listener, Callable[[bytes], object]] = {}
        self._icy: set[Listener] = set()
        self._paused: set[Listener] = set()
        # Listeners whose client sent EOF: gone, or only half-closed and still listening.
        self._half_closed: set[Listener] = set()
        self.listener_peak = 0
        # Told (item, stream_at) when an item's first audio reaches the live point; stream_at
        # is where it is heard, in seconds of the stream's audio (see stream_seconds()).
        self.on_item_live: list[Callable[[Item, float], None]] = []
        # Told (listener, "joined" | "left") as listeners come and go, for the listening stats.
        self.on_listener: list[Callable[[Listener, str], None]] = []
        self._buffer_bytes = buffer_bytes
        self._burst_bytes = burst_bytes
        self._sndbuf_bytes = sndbuf_bytes
        self._chunks: deque[Chunk] = deque()
        self._buffered = 0
        self._end = 0
        self._metadata = metadata_block(info.name)
        self._headers = b""  # of the Ogg chain in force (StreamHub.publish's `headers`)
        self._chunk_opens = False  # the pending chunk begins with them
        self._pending_at: float | None = None
        self._title = (info.name, "")  # the title in force, and its page
        self._sinks: list[Sink] = []
        self._tagged: dict[str, Listener] = {}  # by the `sync` tag of their stream request
        # Who is connected, kept as they come and go so that counting them, or asking
        # whether one listens, costs the same with 10 000 listeners (votes ask on every
        # leave): connections per listener cookie, and those without one.
        self._ids: Counter[str] = Counter()
        self.anonymous = 0
        self._write_bytes = max(1, round(write_seconds * info.bitrate_kbps * 1000 / 8))
        self._pending: list[bytes] = []  # blocks taken but not yet written
        self._pending_bytes = 0
        # For the metrics (app/api/observe.py): counted as it happens, read when asked.
        self.joined_total = 0
        self.dropped_total: Counter[str] = Counter()  # by reason
        self._bytes_sent_by_gone = 0  # to listeners no longer connected
        self.last_publish: float | None = None  # time.monotonic() of the latest block

    def stats(self) -> dict[str, float]:
        """How the fan-out is doing right now: listeners, what they were sent, the buffer,
        and how close the worst paused listener is to being dropped."""
        byte_rate = self.info.bitrate_kbps * 1000 / 8
        behind = max((self._end - listener.cursor for listener in self._paused), default=0)
        return {
            "listeners": len(self.listeners),
            "listeners_paused": len(self._paused),
            "bytes_sent": self._bytes_sent_by_gone
            + sum(listener.bytes_sent for listener in self.listeners),
            "stream_bytes": self._end,
            "buffer_bytes": self._buffered,
            "buffer_seconds": self._buffered / byte_rate,
            "buffer_limit_seconds": self._buffer_bytes / byte_rate,
            "paused_behind_seconds_max": behind / byte_rate,
        }

    def audio_age(self) -> float | None:
        """Seconds since the playout last handed over audio; None before the first block."""
        return None if self.last_publish is None else time.monotonic() - self.last_publish

    @property
    def start(self) -> int:
        """Offset of the oldest byte still buffered."""
        return self._chunks[0].offset if self._chunks else self._end

    @property
    def end(self) -> int:
        return self._end

    def listeners_now(self) -> int:
        """Connected listeners, a browser with two tabs once; every cookieless client once."""
        return len(self._ids) + self.anonymous

    def listener_ids(self) -> KeysView[str]:
        """The listener cookies of the open connections (each once)."""
        return self._ids.keys()

    def is_listening(self, listener_id: str) -> bool:
        """Whether a stream connection carrying this listener cookie is open right now."""
        return listener_id in self._ids

    def _counted(self, listener: Listener, step: int) -> None:
        if not listener.listener_id:
            self.anonymous += step
            return
        self._ids[listener.listener_id] += step
        if self._ids[listener.listener_id] <= 0:
            del self._ids[listener.listener_id]

    def heard_seconds(self, listener_id: str) -> float | None:
        """How much of the stream past the live point where it joined the best open connection
        of this listener has received, in seconds of audio; None when none is open.

        Received means acknowledged by the client's TCP: written, out of this process's
        buffer and out of the kernel's send queue. The burst a listener gets on joining is
        not counted, and the live point moves at real time, so this grows no faster than
        the clock, and only while the client takes the audio in. A client that never reads
        stops at what its receive buffer holds (measured on Linux's defaults: 6 s past the
        burst)."""
        heard = [
            listener.received_past_join() / self.byte_rate
            for listener in self.listeners
            if listener.listener_id == listener_id
        ]
        return max(heard, default=None)

    @property
    def byte_rate(self) -> float:
        return self.info.bitrate_kbps * 1000 / 8

    def stream_seconds(self, offset: int) -> float:
        """Where the byte at `offset` is in the stream's audio, in seconds from its first byte
        (exact for CBR at a frame boundary: players count time in frames from where they
        joined)."""
        return offset * 8 / (self.info.bitrate_kbps * 1000)

    def joined_at(self, tag: str) -> float | None:
        """Stream seconds of the first byte sent to the open connection whose request said
        `?sync=<tag>`: a player adds its own clock to it to know where in the stream it is."""
        listener = self._tagged.get(tag)
        if listener is None:
            return None
        if listener.first_at is not None:
            return listener.first_at
        return self.stream_seconds(listener.first)

    def publish(self, data: bytes, starts: list[tuple[int, Item]], headers: bytes | None = None,
                at: float | None = None) -> None:  # fmt: skip
        """Take the next block from the playout: the live point moves on. `starts` are the
        items that begin in the PCM this block encodes, each with the PCM frame it begins at.
        Blocks are written out together once they hold `write_seconds` of audio; a block where
        items start goes out at once with their title, `on_item_live` told just before it.

        An Ogg mount's block that begins a chain gives its header pages as `headers` (`data`
        begins with them): a listener joining later in that chain is sent them first. `at`:
        where the block begins in stream seconds, for a mount whose bytes are not CBR (the
        default mount's offsets say it)."""
        self.last_publish = time.monotonic()
        if starts or headers is not None:
            self._flush()  # the audio before the item, with the title in force for it
        if headers is not None:
            self._headers = headers
            self._chunk_opens = True
        if starts:
            for frame, item in starts:
                if not item.keeps_title:
                    self._metadata = metadata_block(item.display_title, item.url)
                    self._title = (item.display_title, item.url)
                    self._tell_sinks("title", *self._title)
                # A place in the bytes (self._end: where `data` will begin), not a time: it
                # holds however the bytes are paced, gathered or written.
                heard = frame + HEARD_DELAY_FRAMES
                stream_at = self.stream_seconds(self._end) + heard / self.info.sample_rate
                for callback in self.on_item_live:
                    callback(item, stream_at)
        if data:
            if not self._pending:
                self._pending_at = at
            self._pending.append(data)
            self._pending_bytes += len(data)
        if starts or self._pending_bytes >= self._write_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        headers = b"" if self._chunk_opens else self._headers
        self._chunk_opens = False
        chunk = Chunk(self._end, data, self._metadata, headers, self._pending_at)
        self._chunks.append(chunk)
        self._end += len(data)
        self._buffered += len(data)
        while self._buffered - len(self._chunks[0].data) >= self._buffer_bytes:
            self._buffered -= len(self._chunks.popleft().data)
        # A write may pause its listener (the socket filled), which takes it off these.
        for write in list(self._plain.values()):
            write(data)
        if self._icy:
            for listener in list(self._icy):
                listener.send([chunk])
        start = self.start
        for listener in [x for x in self._paused if x.cursor < start]:
            listener.drop("fell behind the buffer")
        if self._sinks:
            self._tell_sinks("write", data)
        if self._half_closed:
            # A client that closed answers the write with a reset: notice it now, not a
            # write later (writes are write_seconds apart).
            asyncio.get_running_loop().call_later(PROBE_SECONDS, self._probe)

    def add_sink(self, sink: Sink) -> None:
        """From now on `sink` is told the title and every chunk (see the module docstring)."""
        self._sinks.append(sink)
        self._tell_sinks("title", *self._title, only=sink)
        if self._headers and not self._chunk_opens:  # an Ogg mount, mid-chain: headers first
            self._tell_sinks("write", self._headers, only=sink)

    def remove_sink(self, sink: Sink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    @property
    def title(self) -> tuple[str, str]:
        """The title in force on the live stream, and its page's URL ("" when none)."""
        return self._title

    def _tell_sinks(self, what: str, *args: str | bytes, only: Sink | None = None) -> None:
        for sink in [only] if only is not None else list(self._sinks):
            try:
                getattr(sink, what)(*args)
            except Exception:  # a consumer's fault must never cost the listeners the stream
                log.exception("stream sink %r failed on %s: removed", sink, what)
                self.remove_sink(sink)

    def half_closed(self, listener: Listener) -> None:
        self._half_closed.add(listener)

    def _probe(self) -> None:
        for listener in list(self._half_closed):
            sock = listener.transport.get_extra_info("socket")
            if sock is not None and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                listener.transport.abort()  # connection_lost detaches it

    def attach(self, transport: asyncio.Transport, method: str, headers: list[tuple[bytes, bytes]],
               client: str, query: bytes = b"") -> None:  # fmt: skip
        """Answer a stream request on this connection and keep it as a listener."""
        icy = wants_icy(headers) and self.info.in_band_titles
        transport.write(response_head(self.info, icy))
        if method == "HEAD":
            transport.close()
            return
        _shrink_send_buffer(transport, self._sndbuf_bytes)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        user_agent = next((v.decode("latin-1") for n, v in headers if n == b"user-agent"), "")
        listener = Listener(self, transport, IcyFramer(self.info.metaint) if icy else None,
                            client, user_agent)  # fmt: skip
        cookie = request_cookie(headers, self.listener_cookie)
        listener.listener_id = self.verify_listener(cookie) if cookie else None
        transport.set_protocol(listener)
        burst = self._burst()
        listener.cursor = listener.first = burst[0].offset if burst else self._end
        listener.first_at = burst[0].at if burst else None
        listener.joined = self._end
        self.listeners.add(listener)
        self._counted(listener, 1)
        self.joined_total += 1
        self.listener_peak = max(self.listener_peak, len(self.listeners))
        tell_listeners(self.on_listener, listener, "joined")
        listener.tag = _sync_tag(query)
        if listener.tag:
            self._tagged[listener.tag] = listener
        if burst:
            if burst[0].headers:  # joining an Ogg chain in its middle: its headers first
                listener.send_headers(burst[0].headers)
            listener.send(burst)
        if not listener.paused:
            self._writing(listener)

    def catch_up(self, listener: Listener) -> None:
        if listener.cursor < self.start:
            listener.drop("fell behind the buffer")
            return
        pending = [chunk for chunk in self._chunks if chunk.offset >= listener.cursor]
        if pending:
            listener.send(pending)
        if not listener.paused and listener in self.listeners:
            self._writing(listener)

    def paused(self, listener: Listener) -> None:
        """The listener's socket is full: it keeps its cursor (all it was sent so far)."""
        self._plain.pop(listener, None)
        self._icy.discard(listener)
        self._paused.add(listener)
        listener.cursor = self._end

    def _writing(self, listener: Listener) -> None:
        """From now on every chunk is written to the listener as it comes."""
        self._paused.discard(listener)
        if listener.framer is None:
            self._plain[listener] = listener.transport.write
        else:
            self._icy.add(listener)

    def detach(self, listener: Listener) -> None:
        if self._plain.pop(listener, None) is not None:
            listener.cursor = self._end  # it was sent every chunk
        self._icy.discard(listener)
        self._paused.discard(listener)
        self._half_closed.discard(listener)
        if listener in self.listeners:  # a dropped listener's connection_lost comes after
            self.listeners.discard(listener)
            self._counted(listener, -1)
            self._bytes_sent_by_gone += listener.bytes_sent  # (counts its cursor, once gone)
            if listener.tag and self._tagged.get(listener.tag) is listener:
                del self._tagged[listener.tag]
            tell_listeners(self.on_listener, listener, "left")

    def close(self) -> None:
        for listener in list(self.listeners):
            self.detach(listener)
            listener.transport.abort()
        self.listeners.clear()

    def _burst(self) -> list[Chunk]:
        """The newest chunks holding at least burst_bytes, so a new player starts at once."""
        burst: list[Chunk] = []
        size = 0
        for chunk in reversed(self._chunks):
            if size >= self._burst_bytes:
                break
            burst.append(chunk)
            size += len(chunk.data)
        burst.reverse()
        return burst


class Listener(asyncio.Protocol):
    """One connected stream client. Holds a cursor into the hub's buffer, never a queue."""

    def __init__(self, hub: StreamHub, transport: asyncio.Transport, framer: IcyFramer | None,
                 client: str, user_agent: str) -> None:  # fmt: skip
        self.hub = hub
        self.transport = transport
        self.framer = framer
        self.client = client
        self.user_agent = user_agent
        self.listener_id: str | None = None  # from a listener cookie the station signed
        # Offset of the next byte to send; kept up to date only while paused (the hub
        # writes every chunk to the others as it comes, so they are at its end).
        self.cursor = 0
        self.first = 0  # offset of the first byte sent
        self.first_at: float | None = None  # ...in stream seconds, when the hub says so
        self._header_bytes = 0  # an Ogg chain's header pages sent before the burst
        self.joined = 0  # offset of the live point when it joined (the burst ends there)
        self._metadata_bytes = 0  # ICY blocks sent
        self.tag = ""  # its request's `sync` tag, if any
        self.paused = False

    @property
    def bytes_sent(self) -> int:
        """Bytes written to the connection (audio and ICY blocks), head aside."""
        at = self.cursor if self.paused or self not in self.hub.listeners else self.hub.end
        return at - self.first + self._metadata_bytes + self._header_bytes

    def received_past_join(self) -> int:
        """Audio bytes past the live point at joining that the client's TCP acknowledged."""
        written = self.bytes_sent - self.transport.get_write_buffer_size()
        received = written - _unacknowledged(self.transport, self.hub._sndbuf_bytes)
        past = received - self._metadata_bytes - self._header_bytes - (self.joined - self.first)
        return max(0, past)

    def send_headers(self, headers: bytes) -> None:
        """What a decoder needs before the first chunk (an Ogg chain's header pages)."""
        self._header_bytes += len(headers)
        self.transport.write(headers)

    def send(self, chunks: list[Chunk]) -> None:
        """Write these chunks (a burst, a catch-up, or an ICY listener's next chunk)."""
        self.cursor = chunks[-1].offset + len(chunks[-1].data)
        if self.framer is None:
            pieces = [chunk.data for chunk in chunks]
        else:
            framer = self.framer
            pieces = [
                piece for chunk in chunks for piece in framer.frame(chunk.data, chunk.metadata)
            ]
            self._metadata_bytes += sum(map(len, pieces)) - sum(len(c.data) for c in chunks)
        self.transport.write(pieces[0] if len(pieces) == 1 else b"".join(pieces))

    def drop(self, reason: str) -> None:
        log.info("dropping listener %s: %s", self.client, reason,
                 extra={"event": "listener_dropped", "client": self.client,
                        "reason": reason})  # fmt: skip
        self.hub.dropped_total[reason] += 1
        self.hub.detach(self)
        self.transport.abort()

    # asyncio.Protocol: the transport tells us when its buffer is full and when it drained.
    def pause_writing(self) -> None:
        self.paused = True
        self.hub.paused(self)

    def resume_writing(self) -> None:
        self.paused = False
        self.hub.catch_up(self)

    def data_received(self, data: bytes) -> None:
        pass  # stream clients have nothing more to say

    def eof_received(self) -> bool:
        self.hub.half_closed(self)
        return True  # a half-closed client may still be listening

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.detach(self)


def tell_listeners(callbacks: list[Callable[[Any, str], None]], listener: object, event: str
                   ) -> None:  # fmt: skip
    """Tell the listening callbacks (statistics, votes) that `listener` "joined" or "left";
    one that fails is logged: keeping statistics must never cost anyone the stream."""
    for callback in callbacks:
        try:
            callback(listener, event)
        except Exception:
            log.exception("listener %s callback failed", event)


def request_cookie(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for header, value in headers:
        if header == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(name)
            if found:
                return found
    return None


def _unacknowledged(transport: asyncio.Transport, fallback: int) -> int:
    """Bytes in the socket's send queue the peer has not acknowledged (Linux SIOCOUTQ);
    elsewhere `fallback`, the whole send buffer, so nothing is counted that may not have
    arrived."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return fallback
    try:
        answer = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return fallback
    return int.from_bytes(answer, sys.byteorder, signed=True)


def _sync_tag(query: bytes) -> str:
    """The `sync` tag a player puts in its stream URL, to ask later where its audio began."""
    values = parse_qs(query.decode("latin-1")).get("sync", [""])
    return values[0][:64]


def _shrink_send_buffer(transport: asyncio.Transport, size: int) -> None:
    # The kernel's auto-tuned buffers could hold minutes of audio for a stalled client;
    # a small fixed one makes a stalled client show up as backpressure within seconds.
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
