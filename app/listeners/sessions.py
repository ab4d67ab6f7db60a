"""Recording listening sessions from the stream hub's own connections.

The hub tells us when a listener joins and leaves; the row is written on a worker thread so
the event loop (and with it every listener's stream) never waits for the database. While a
listener is connected, a heartbeat every minute writes the bytes sent so far, so a session
cut off by a crash is closed where it really ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
    ) -> None:
        self.sessions = sessions
        self.timezone = timezone
        self.min_seconds = min_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._clock = clock
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="listening")
        self._rows: dict[int, int] = {}  # id(Listener) -> row id; the writer thread's own
        self._connected: dict[int, Listener] = {}  # the event loop's own
        self._heartbeat: asyncio.TimerHandle | None = None
        self._closing = False

    def on_listener(self, listener: Listener, event: str) -> None:
        """The hub's callback, on the event loop: hand the write to the worker thread."""
        now = self._clock()
        if event == "joined":
            self._connected[id(listener)] = listener
            self._writer.submit(self._logged, self._open, id(listener), listener, now)
            self._keep_beating()
        elif event == "left":
            self._connected.pop(id(listener), None)
            sent = listener.bytes_sent
            self._writer.submit(self._logged, self._close, id(listener), now, sent)

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

    def _totals(self, session: Session) -> Totals:
        return Totals(session, self.timezone, self.min_seconds)

    @staticmethod
    def _heard(totals: Totals, row: ListeningSession, until: datetime) -> None:
        totals.heard(row.id, row.listener, row.started_at, row.last_seen_at, until)

    def _record_heartbeat(self, now: datetime, sent: dict[int, int]) -> None:
        # Writes run in order on this one thread: a listener that left before the heartbeat
        # was taken is not in `sent`, and one that leaves after is closed after this write.
        counts = {self._rows[key]: count for key, count in sent.items() if key in self._rows}
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
