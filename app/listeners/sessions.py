"""Recording listening sessions from the stream hub's own connections.

The hub tells us when a listener joins and leaves; the row is written on a worker thread so
the event loop (and with it every listener's stream) never waits for the database. While a
listener is connected, a heartbeat every minute writes the bytes sent so far, so a session
cut off by a crash is closed where it really ended.

Players such as VLC open the stream twice: a first connection that reads a little while
the player probes the format, then the real one. A connection that ends within
PROBE_SECONDS is held open for REJOIN_SECONDS; if the same client connects again in that
time, the new connection carries on its session. The same client means the same address,
user agent and (signed) listener cookie, or none, and each held session goes on in at most
one connection: another listener cannot join a session to theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import SessionFactory
from app.listeners.accounting import MIN_SECONDS
from app.listeners.identity import address_hash, hashed_listener
from app.listeners.totals import Totals, micros, prune_spans, rebuild, state_matches
from app.listeners.track_totals import settle
from app.models import ListeningSession
from app.stream.hub import Listener

log = logging.getLogger(__name__)

CRASH_BYTES_PER_SECOND = 16000  # 128 kbit/s: a guess for a session cut before its heartbeat
HEARTBEAT_SECONDS = 60.0
PROBE_SECONDS = 3.0  # a connection this short may be a player probing the stream
REJOIN_SECONDS = 5.0  # ... when the same client connects again this soon: one session

ClientKey = tuple[str, str, str | None]  # address, user agent, listener cookie


@dataclass
class _Held:
    """A short connection's session, waiting for its client's next connection."""

    key: int  # id(Listener) of the connection that ended
    left_at: datetime
    bytes_sent: int
    release: asyncio.TimerHandle | None = None


def client_key(listener: Listener) -> ClientKey:
    """Who a connection is from: its address without the port (each connection has its own
    port), its user agent and its listener cookie."""
    host = listener.client.rsplit(":", 1)[0] if ":" in listener.client else listener.client
    return (host, listener.user_agent, listener.listener_id)


class SessionRecorder:
    """Writes a ListeningSession row when a listener joins, and closes it when it leaves.

    One worker thread does the writing, so a session's end is never written before its
    start. The hub's per-chunk path stays untouched: bytes_sent is read from the listeners
    once per heartbeat and when they leave. Each heartbeat and end also adds the time heard
    to the running totals (app/listeners/totals.py), in the same transaction.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        timezone: str = "UTC",
        min_seconds: float = MIN_SECONDS,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        probe_seconds: float = PROBE_SECONDS,
        rejoin_seconds: float = REJOIN_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.timezone = timezone
        self.min_seconds = min_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._clock = clock
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="listening")
        self.probe_seconds = probe_seconds
        self.rejoin_seconds = rejoin_seconds
        self._rows: dict[int, int] = {}  # id(Listener) -> row id; the writer thread's own
        self._carried: dict[int, int] = {}  # id(Listener) -> bytes of its session before it
        self._connected: dict[int, Listener] = {}  # the event loop's own
        self._joined_at: dict[int, datetime] = {}  # the event loop's own
        self._held: dict[ClientKey, _Held] = {}  # the event loop's own
        # A young connection -> the later one of its client that may go on with its session.
        self._follows: dict[int, tuple[int, asyncio.TimerHandle]] = {}  # the event loop's own
        self._following: dict[int, int] = {}  # the same, follower -> probe
        # Connections that joined in the last probe_seconds, in join order (to let them age
        # out), and by client those a new connection may follow (neither a probe followed
        # nor a follower), with their place in the join order: a join looks at its own
        # client's only, so it costs the same with 10 000 listeners connected or 500 joining
        # a second.
        self._recent: dict[int, tuple[datetime, ClientKey, int]] = {}  # the event loop's own
        self._free: dict[ClientKey, dict[int, int]] = {}  # the event loop's own
        self._joins = itertools.count()
        self._heartbeat: asyncio.TimerHandle | None = None
        self._closing = False

    def on_listener(self, listener: Listener, event: str) -> None:
        """The hub's callback, on the event loop: hand the write to the worker thread."""
        now = self._clock()
        if event == "joined":
            self._joined(listener, now)
            self._keep_beating()
        elif event == "left":
            self._left(listener, now)

    def _joined(self, listener: Listener, now: datetime) -> None:
        key, who = id(listener), client_key(listener)
        self._connected[key] = listener
        self._joined_at[key] = now
        held = self._held.pop(who, None)
        if held is not None:  # its probe left a moment ago: the same session goes on
            if held.release is not None:
                held.release.cancel()
            self._young_now(key, who, now)
            self._writer.submit(self._logged, self._carry_on, held.key, key, held.bytes_sent)
            return
        probe = self._young_probe(who, now)
        self._recent[key] = (now, who, next(self._joins))
        if probe is not None:
            # VLC opens the real connection while its probe is still open: this one's
            # session waits to see whether the probe ends soon (then it goes on with it).
            wait = self.probe_seconds - (now - self._joined_at[probe]).total_seconds()
            loop = asyncio.get_running_loop()
            self._unfree(probe)
            self._following[key] = probe
            self._follows[probe] = (key, loop.call_later(max(0.0, wait), self._alone, probe))
            return
        self._refree(key)
        self._writer.submit(self._logged, self._open, key, listener, now)

    def _young_probe(self, who: ClientKey, now: datetime) -> int | None:
        """The oldest connection of the same client, open for less than PROBE_SECONDS, that
        no other connection follows and that follows none."""
        while self._recent:  # the oldest are no longer young
            oldest, (joined, _, _) = next(iter(self._recent.items()))
            if (now - joined).total_seconds() < self.probe_seconds:
                break
            self._forget_young(oldest)
        free = self._free.get(who)
        return min(free, key=free.__getitem__) if free else None

    def _young_now(self, key: int, who: ClientKey, now: datetime) -> None:
        self._recent[key] = (now, who, next(self._joins))
        self._refree(key)

    def _forget_young(self, key: int) -> None:
        """`key` is young no more (aged out or left): no later connection may follow it."""
        self._unfree(key)
        self._recent.pop(key, None)

    def _refree(self, key: int) -> None:
        """`key` follows none and none follows it (any more): a later connection of its
        client may follow it while it is young."""
        entry = self._recent.get(key)
        if entry is not None and key in self._connected:
            _, who, order = entry
            self._free.setdefault(who, {})[key] = order

    def _unfree(self, key: int) -> None:
        entry = self._recent.get(key)
        if entry is None:
            return
        who = entry[1]
        free = self._free.get(who)
        if free is not None:
            free.pop(key, None)
            if not free:
                del self._free[who]

    def _alone(self, probe: int) -> None:
        """The probe outlived PROBE_SECONDS: its follower is a session of its own, from when
        it joined."""
        follower, _ = self._follows.pop(probe, (None, None))
        if follower is not None:
            self._following.pop(follower, None)
            self._refree(follower)
        self._refree(probe)
        if follower is not None:
            self._alone_now(follower)

    def _left(self, listener: Listener, now: datetime) -> None:
        key, who = id(listener), client_key(listener)
        self._forget_young(key)
        self._connected.pop(key, None)
        joined = self._joined_at.pop(key, now)
        sent = listener.bytes_sent
        short = (now - joined).total_seconds() < self.probe_seconds
        followed = self._follows.pop(key, None)
        if followed is not None:
            follower, decide = followed
            decide.cancel()
            self._following.pop(follower, None)
            self._refree(follower)
            if short:  # a probe: its follower goes on with its session
                self._writer.submit(self._logged, self._carry_on, key, follower, sent)
                return
            self._alone_now(follower)
        probe = self._following.pop(key, None)
        if probe is not None:  # left before its probe did: a session of its own
            _, decide = self._follows.pop(probe)
            decide.cancel()
            self._refree(probe)
            self._writer.submit(self._logged, self._open, key, listener, joined)
        if short and who not in self._held and not self._closing:
            held = _Held(key, now, sent)
            loop = asyncio.get_running_loop()
            held.release = loop.call_later(self.rejoin_seconds, self._release, who, held)
            self._held[who] = held
        else:
            self._writer.submit(self._logged, self._close, key, now, sent)

    def _alone_now(self, follower: int) -> None:
        """The follower is a session of its own, from when it joined (if still connected)."""
        listener = self._connected.get(follower)
        if listener is not None:
            with contextlib.suppress(RuntimeError):  # shut down meanwhile
                self._writer.submit(self._logged, self._open, follower, listener,
                                    self._joined_at[follower])  # fmt: skip

    def _release(self, who: ClientKey, held: _Held) -> None:
        """No connection followed the short one: its session ended when it left."""
        if self._held.get(who) is held:
            del self._held[who]
            with contextlib.suppress(RuntimeError):  # shut down meanwhile
                self._writer.submit(self._logged, self._close, held.key, held.left_at,
                                    held.bytes_sent)  # fmt: skip

    def beat(self) -> None:
        """On the event loop: record every connected listener's bytes so far, and the time."""
        if self._closing or not self._connected:
            return
        sent = {key: listener.bytes_sent for key, listener in self._connected.items()}
        with contextlib.suppress(RuntimeError):  # shut down from its thread a moment ago
            self._writer.submit(self._logged, self._record_heartbeat, self._clock(), sent)

    def shutdown(self) -> None:
        """Finish the writes already handed over (blocking: call it from a thread)."""
        self._closing = True
        for follower, _ in list(self._follows.values()):  # a connection still deciding
            self._alone_now(follower)
        self._follows.clear()
        self._following.clear()
        for held in list(self._held.values()):  # sessions held for a rejoin end as they did
            self._writer.submit(self._logged, self._close, held.key, held.left_at,
                                held.bytes_sent)  # fmt: skip
        self._held.clear()
        self._writer.shutdown(wait=True)

    def _keep_beating(self) -> None:
        if self._heartbeat is None and not self._closing:
            loop = asyncio.get_running_loop()
            self._heartbeat = loop.call_later(self.heartbeat_seconds, self._on_heartbeat)

    def _on_heartbeat(self) -> None:
        self._heartbeat = None
        self.beat()
        if self._connected:  # with no one connected it rests until the next one joins
            self._keep_beating()

    @staticmethod
    def _logged(write: Callable[..., None], *args: object) -> None:
        try:
            write(*args)
        except Exception:
            log.exception("could not record a listening session")

    def _open(self, key: int, listener: Listener, now: datetime) -> None:
        with self.sessions.begin() as session:
            row = ListeningSession(
                listener=hashed_listener(listener.listener_id),
                client=address_hash(listener.client),
                user_agent=listener.user_agent[:300],
                started_at=now,
                bytes_sent=0,
            )
            session.add(row)
            session.flush()
            self._rows[key] = row.id

    def _carry_on(self, held: int, key: int, carried: int) -> None:
        """The connection `key` goes on with the session of the connection `held`."""
        row_id = self._rows.pop(held, None)
        if row_id is not None:
            self._rows[key] = row_id
            self._carried[key] = carried + self._carried.pop(held, 0)

    def _totals(self, session: Session) -> Totals:
        return Totals(session, self.timezone, self.min_seconds)

    @staticmethod
    def _heard(totals: Totals, row: ListeningSession, until: datetime) -> None:
        totals.heard(row.id, row.listener, row.started_at, row.last_seen_at, until)

    def _record_heartbeat(self, now: datetime, sent: dict[int, int]) -> None:
        # Writes run in order on this one thread: a listener that left before the heartbeat
        # was taken is not in `sent`, and one that leaves after is closed after this write.
        counts = {self._rows[key]: count + self._carried.get(key, 0)
                  for key, count in sent.items() if key in self._rows}  # fmt: skip
        if not counts:
            return
        with self.sessions.begin() as session:
            totals = self._totals(session)
            rows = session.scalars(select(ListeningSession)
                                   .where(ListeningSession.id.in_(counts)))  # fmt: skip
            for row in rows:
                self._heard(totals, row, now)
                row.bytes_sent, row.last_seen_at = counts[row.id], now
            totals.finish()
            if len(counts) == len(self._rows):  # every open session heard up to now
                settle(session, micros(now))

    def _close(self, key: int, now: datetime, bytes_sent: int) -> None:
        row_id = self._rows.pop(key, None)
        bytes_sent += self._carried.pop(key, 0)
        if row_id is None:
            return
        with self.sessions.begin() as session:
            row = session.get(ListeningSession, row_id)
            if row is not None:
                totals = self._totals(session)
                self._heard(totals, row, now)
                row.ended_at, row.bytes_sent = now, bytes_sent
                totals.finish()
                if not self._rows:  # the last one left: no session can be heard before now
                    settle(session, micros(now))

    def close_open_sessions(self) -> int:
        """At start-up: after a crash rows stay open; end each at its last heartbeat (a session
        cut before its first one: at the time its bytes took to play). Totals built with
        another time zone or minimum are built again first."""
        with self.sessions.begin() as session:
            if not state_matches(session, self.timezone, self.min_seconds):
                log.info("building the listening totals (time zone %s, minimum %s s)",
                         self.timezone, self.min_seconds)  # fmt: skip
                rebuild(session.connection(), self.timezone, self.min_seconds)
        closed = 0
        with self.sessions.begin() as session:
            totals = self._totals(session)
            for row in session.scalars(
                select(ListeningSession).where(ListeningSession.ended_at.is_(None))
            ):
                seconds = row.bytes_sent / CRASH_BYTES_PER_SECOND
                ended = row.last_seen_at or row.started_at + timedelta(seconds=seconds)
                self._heard(totals, row, ended)
                row.ended_at = ended
                closed += 1
            totals.finish()
            # Nothing is open now, and sessions to come start from now on.
            settle(session, micros(self._clock()))
            prune_spans(session)
        return closed
