"""A session cut off by a crash ends at its last heartbeat, with the bytes sent by then."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.db import SessionFactory
from app.listeners.accounting import Session, totals
from app.listeners.identity import hashed_listener
from app.listeners.sessions import SessionRecorder
from app.models import ListeningSession

COOKIE = "ann-listener-cookie-0001"
START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@dataclass(eq=False)
class Connected:
    """What the recorder reads of the hub's Listener (which needs a live socket)."""

    listener_id: str | None = COOKIE
    client: str = "203.0.113.7"
    user_agent: str = "Firefox"
    bytes_sent: int = 0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def only_row(sessions: SessionFactory) -> ListeningSession:
    with sessions() as db:
        return db.scalars(select(ListeningSession)).one()


def heard_for(recorder: SessionRecorder, clock: Clock, seconds: float, sent: int) -> Connected:
    """Ann joins as the hub has her join, on an event loop (where the heartbeat timer lives);
    `seconds` later she has been sent `sent` bytes and a heartbeat records them."""
    ann = Connected()

    async def join() -> None:
        recorder.on_listener(ann, "joined")  # type: ignore[arg-type]

    asyncio.run(join())
    clock.advance(seconds)
    ann.bytes_sent = sent
    recorder.beat()
    return ann


def test_a_crash_ends_the_session_at_its_last_heartbeat(sessions: SessionFactory) -> None:
    clock = Clock()
    recorder = SessionRecorder(sessions, clock=clock)
    heard_for(recorder, clock, 600, 16000 * 600)
    clock.advance(30)  # the station dies here, before the next heartbeat
    recorder.shutdown()

    assert SessionRecorder(sessions).close_open_sessions() == 1

    row = only_row(sessions)
    assert row.ended_at == START + timedelta(seconds=600)
    assert row.bytes_sent == 16000 * 600
    # And the board counts those ten minutes.
    board = totals([Session(row.listener or "", row.started_at, row.ended_at)], clock(), "UTC")
    assert board[hashed_listener(COOKIE) or ""].all_time == 600


def test_leaving_after_a_heartbeat_keeps_the_real_end(sessions: SessionFactory) -> None:
    clock = Clock()
    recorder = SessionRecorder(sessions, clock=clock)
    ann = heard_for(recorder, clock, 60, 1000)
    clock.advance(20)
    ann.bytes_sent = 2000
    recorder.on_listener(ann, "left")  # type: ignore[arg-type]
    recorder.beat()  # nobody connected: nothing to write
    recorder.shutdown()

    row = only_row(sessions)
    assert (row.ended_at, row.bytes_sent) == (START + timedelta(seconds=80), 2000)


def test_the_heartbeat_runs_by_itself_while_someone_listens(sessions: SessionFactory) -> None:
    recorder = SessionRecorder(sessions, heartbeat_seconds=0.05)
    ann = Connected(bytes_sent=4096)

    async def listen_a_while() -> None:
        recorder.on_listener(ann, "joined")  # type: ignore[arg-type]
        await asyncio.sleep(0.3)

    asyncio.run(listen_a_while())
    recorder.shutdown()

    row = only_row(sessions)
    assert row.ended_at is None
    assert row.last_seen_at is not None
    assert row.bytes_sent == 4096
