"""Time-shifted listening: `GET /stream?at=<ISO time>` plays the archive from that moment.

The answer is the live stream's in every way a client can see: the same head, whole MP3
frames from the first byte, a join burst (`burst_bytes`) so players start at once, then
real time paced by absolute time (start + bytes / byte rate), and with `Icy-MetaData: 1`
the title of the item being heard, changing where it changed on air. Reading the files is
done on the archive's reader threads; the event loop only writes what was read.

A time-shifted listener counts as a listener for the listening statistics and the board
(the hub's `on_listener` callbacks are told of it as of any listener), but it is not one of
the hub's listeners: it has no part in the skip votes, which are about the item on air.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.stream.archive import Archive, ArchiveGone, Piece, Position
from app.stream.hub import request_cookie, tell_listeners
from app.stream.icy import IcyFramer
from app.stream.response import StreamInfo, response_head, wants_icy

log = logging.getLogger(__name__)

TICK_SECONDS = 0.4  # between writes, as the live stream's hub gathers them
LIVE_WITHIN_SECONDS = 1.0  # an `at` this close to now (or later) gets the live stream
WAIT_AT_END_SECONDS = 0.5  # at the archive's end (after a gap was skipped), look again
MAX_READ_BYTES = 256 * 1024  # one disk read at most (a backlog comes in several)


def parse_at(value: str) -> float:
    """An ISO 8601 time with an offset (or Z) as a POSIX timestamp; ValueError otherwise."""
    moment = datetime.fromisoformat(value.strip().replace(" ", "+"))
    if moment.tzinfo is None:
        raise ValueError("the time needs an offset or Z, such as 2026-11-30T06:00:00Z")
    return moment.astimezone(UTC).timestamp()


class TimeShift:
    def __init__(
        self,
        archive: Archive,
        info: Callable[[], StreamInfo],  # the hub's, as it is now (hosts may rename the station)
        burst_bytes: int,
        on_listener: list[Callable[[Any], None]],
        listener_cookie: str,
        verify_listener: Callable[[str], str | None],
    ) -> None:
        self.archive = archive
        self.info = info
        self.burst_bytes = burst_bytes
        self.on_listener = on_listener  # the hub's own list: the same sessions and board
        self.listener_cookie = listener_cookie
        self.verify_listener = verify_listener
        self.listeners: set[ShiftedListener] = set()
        self.byte_rate = info().bitrate_kbps * 1000 / 8

    def is_listening(self, listener_id: str) -> bool:
        return any(listener.listener_id == listener_id for listener in self.listeners)

    def listeners_now(self, counted: Callable[[str], bool]) -> int:
        """Time-shifted listeners not `counted` already (live too), each cookie once, every
        cookieless client once."""
        ids: set[str] = set()
        anonymous = 0
        for listener in self.listeners:
            if listener.listener_id is None:
                anonymous += 1
            elif not counted(listener.listener_id):
                ids.add(listener.listener_id)
        return len(ids) + anonymous

    def attach(self, transport: asyncio.Transport, method: str, headers: list[tuple[bytes, bytes]],
               client: str, at: float) -> None:  # fmt: skip
        """Answer a stream request for the archive from `at` (within the archive)."""
        icy = wants_icy(headers)
        info = self.info()
        transport.write(response_head(info, icy))
        if method == "HEAD":
            transport.close()
            return
        user_agent = next((v.decode("latin-1") for n, v in headers if n == b"user-agent"), "")
        listener = ShiftedListener(self, transport, IcyFramer(info.metaint) if icy else None,
                                   client, user_agent)  # fmt: skip
        cookie = request_cookie(headers, self.listener_cookie)
        listener.listener_id = self.verify_listener(cookie) if cookie else None
        transport.set_protocol(listener)
        self.listeners.add(listener)
        tell_listeners(self.on_listener, listener, "joined")
        listener.task = asyncio.get_running_loop().create_task(self._serve(listener, at))

    def detach(self, listener: ShiftedListener) -> None:
        if listener in self.listeners:
            self.listeners.discard(listener)
            tell_listeners(self.on_listener, listener, "left")
        if listener.task is not None and not listener.task.done():
            listener.task.cancel()

    def close(self) -> None:
        for listener in list(self.listeners):
            self.detach(listener)
            listener.transport.abort()

    async def _serve(self, listener: ShiftedListener, at: float) -> None:
        loop = asyncio.get_running_loop()
        archive = self.archive
        try:
            position: Position = await loop.run_in_executor(archive.readers, archive.locate, at)
            started = loop.time()
            least = int(TICK_SECONDS * self.byte_rate / 2)  # no read for less than this
            while not listener.transport.is_closing():
                if listener.paused:
                    await listener.drained.wait()
                    continue
                # Audio owed by now: the burst, then real time (absolute: it never drifts).
                elapsed = loop.time() - started
                want = int(self.burst_bytes + elapsed * self.byte_rate) - listener.audio_sent
                if want >= least:
                    asked = min(want, MAX_READ_BYTES)
                    pieces, after = await loop.run_in_executor(
                        archive.readers, archive.read, position, asked
                    )
                    moved, position = after != position, after
                    if pieces:
                        listener.send(pieces)
                    if moved and sum(len(piece.data) for piece in pieces) < want:
                        continue  # a segment's end, or a backlog: read on at once
                    if not moved:
                        await asyncio.sleep(WAIT_AT_END_SECONDS)  # at the archive's end
                        continue
                next_tick = started + (int(elapsed / TICK_SECONDS) + 1) * TICK_SECONDS
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
        except ArchiveGone:
            listener.transport.close()  # the audio it was behind has been pruned
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("time-shifted listener %s: stopped", listener.client)
            listener.transport.abort()


class ShiftedListener(asyncio.Protocol):
    """One client of the archive: what the listening statistics need of a listener."""

    def __init__(self, shift: TimeShift, transport: asyncio.Transport, framer: IcyFramer | None,
                 client: str, user_agent: str) -> None:  # fmt: skip
        self.shift = shift
        self.transport = transport
        self.framer = framer
        self.client = client
        self.user_agent = user_agent
        self.listener_id: str | None = None
        self.audio_sent = 0
        self.bytes_sent = 0  # audio and ICY blocks, head aside
        self.paused = False
        self.drained = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def send(self, pieces: list[Piece]) -> None:
        out: list[bytes] = []
        for piece in pieces:
            self.audio_sent += len(piece.data)
            if self.framer is None:
                out.append(piece.data)
            else:
                out.extend(self.framer.frame(piece.data, piece.metadata))
        data = b"".join(out)
        self.bytes_sent += len(data)
        self.transport.write(data)

    def pause_writing(self) -> None:
        self.paused = True
        self.drained.clear()

    def resume_writing(self) -> None:
        self.paused = False
        self.drained.set()

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return True  # a half-closed client may still be listening

    def connection_lost(self, exc: Exception | None) -> None:
        with contextlib.suppress(RuntimeError):
            self.shift.detach(self)
