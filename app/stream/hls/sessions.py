"""HLS listeners: sessions named in the playlist URL, alive while their player fetches.

An HLS player makes no lasting connection: it fetches the playlist every target duration and
each new segment. `/hls/live.m3u8` hands each player a session id in the URL of its media
playlist (`/hls/<sid>/live.m3u8`, whose segment URIs are relative, so every fetch carries the
sid). Each fetch refreshes the session; one not refreshed within `timeout` seconds (about
three target durations) has left. A session is told to the hub's `on_listener` callbacks as
any listener ("joined", "left"), so it counts in now-playing, the board and the statistics.

One address holds at most `per_address` sessions: beyond that a new player gets the
address's least recently seen session, so a client asking again and again cannot inflate the
count (players behind one address keep playing, counted together). Everything here runs on
the event loop, where the callbacks expect to be called.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from app.stream.hub import tell_listeners

SID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,32}$")


class HlsListener:
    """One HLS session, with what the listening statistics read from a listener."""

    def __init__(self, sid: str, address: str, client: str, user_agent: str,
                 listener_id: str | None, now: float) -> None:  # fmt: skip
        self.sid = sid
        self.address = address  # the machine it counts against (client_network)
        self.client = client  # "host:port" of its first request, as a stream listener's
        self.user_agent = user_agent
        self.listener_id = listener_id  # from a listener cookie the station signed
        self.bytes_sent = 0  # segment bytes served to it
        self.seen = now


class HlsSessions:
    def __init__(
        self,
        on_listener: list[Callable[[Any, str], None]],
        timeout: float,
        per_address: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_listener = on_listener  # the hub's own list: the same sessions and board
        self.timeout = timeout
        self.per_address = per_address
        self._clock = clock
        self.sessions: dict[str, HlsListener] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self.started_total = 0

    def open(self, address: str) -> str:
        """A new player asks for the stream: the session id for its playlist URL. The session
        begins with its first fetch of that playlist (a client that only asks begins none)."""
        mine = [s for s in self.sessions.values() if s.address == address]
        if len(mine) >= self.per_address:
            return min(mine, key=lambda session: session.seen).sid
        return secrets.token_urlsafe(12)

    def touch(self, sid: str, address: str, client: str, user_agent: str,
              listener_id: str | None, sent: int = 0) -> None:  # fmt: skip
        """A fetch of the playlist or a segment under `sid`: the session begins or goes on.
        One that ended (its player paused longer than the timeout, or the station restarted)
        begins again under the same id. No address begins more than its share."""
        now = self._clock()
        session = self.sessions.get(sid)
        if session is None:
            if not SID_PATTERN.match(sid):
                return
            if sum(1 for s in self.sessions.values() if s.address == address) >= self.per_address:
                return
            session = self._join(sid, address, client, user_agent, listener_id, now)
        session.seen = now
        session.bytes_sent += sent

    def listeners_now(self, counted: Callable[[str], bool]) -> int:
        """Sessions not `counted` already (listening otherwise too), each cookie once, every
        cookieless session once."""
        ids: set[str] = set()
        anonymous = 0
        for session in self.sessions.values():
            if session.listener_id is None:
                anonymous += 1
            elif not counted(session.listener_id):
                ids.add(session.listener_id)
        return len(ids) + anonymous

    def is_listening(self, listener_id: str) -> bool:
        return any(s.listener_id == listener_id for s in self.sessions.values())

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for sid in list(self.sessions):
            self._leave(sid)

    def _join(self, sid: str, address: str, client: str, user_agent: str,
              listener_id: str | None, now: float) -> HlsListener:  # fmt: skip
        session = HlsListener(sid, address, client, user_agent, listener_id, now)
        self.sessions[sid] = session
        self.started_total += 1
        tell_listeners(self.on_listener, session, "joined")
        if self._sweeper is None:
            self._sweep_later()
        return session

    def _leave(self, sid: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is not None:
            tell_listeners(self.on_listener, session, "left")

    def _sweep_later(self) -> None:
        loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(max(0.5, self.timeout / 4), self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = self._clock()
        for sid, session in list(self.sessions.items()):
            if now - session.seen > self.timeout:
                self._leave(sid)
        if self.sessions:
            self._sweep_later()
