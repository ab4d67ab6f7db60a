"""A player's probe and its real connection are paired among a crowd of other listeners:
the recorder looks only at the connections of the same client that joined in the last
PROBE_SECONDS (so a join costs the same with 10 000 listeners), and finds the right one.
The end-to-end replay of VLC against a real station is tests/listeners/test_probe_sessions.py;
here the hub's side is played on an event loop with the recorder's own clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from app.db import SessionFactory
from app.listeners.sessions import PROBE_SECONDS, SessionRecorder
from app.models import ListeningSession
from tests.listeners.test_heartbeat import START, Clock, Connected

CROWD = 400  # other listeners, each a client of its own


def test_a_probe_among_a_crowd_and_its_real_connection_are_one_session(
    sessions: SessionFactory,
) -> None:
    clock = Clock()
    recorder = SessionRecorder(sessions, clock=clock)
    crowd = [Connected(listener_id=None, client=f"198.51.100.{i % 250}", user_agent=f"Player/{i}")
             for i in range(CROWD)]  # fmt: skip
    probe = Connected(listener_id=None, client="203.0.113.7", user_agent="VLC/3.0.24")
    real = Connected(listener_id=None, client="203.0.113.7", user_agent="VLC/3.0.24")
    other_vlc = Connected(listener_id=None, client="203.0.113.8", user_agent="VLC/3.0.24")

    async def hub() -> None:
        for listener in crowd[: CROWD // 2]:  # long connected
            recorder.on_listener(listener, "joined")  # type: ignore[arg-type]
        clock.advance(PROBE_SECONDS * 3)
        recorder.on_listener(other_vlc, "joined")  # type: ignore[arg-type]
        recorder.on_listener(probe, "joined")  # type: ignore[arg-type]
        for listener in crowd[CROWD // 2 :]:  # joining in the same second
            recorder.on_listener(listener, "joined")  # type: ignore[arg-type]
        clock.advance(0.4)
        recorder.on_listener(real, "joined")  # type: ignore[arg-type]
        clock.advance(0.3)
        probe.bytes_sent = 8192
        recorder.on_listener(probe, "left")  # type: ignore[arg-type]
        clock.advance(PROBE_SECONDS * 3)
        real.bytes_sent = 160_000
        for listener in [real, other_vlc, *crowd]:
            recorder.on_listener(listener, "left")  # type: ignore[arg-type]

    asyncio.run(hub())
    recorder.shutdown()
    with sessions() as db:
        rows = db.scalars(select(ListeningSession)).all()
    by_address = [row for row in rows if row.user_agent == "VLC/3.0.24"]
    # One session for the probe and the real connection, one for the other address's VLC.
    assert len(by_address) == 2, [(r.client, r.started_at, r.ended_at) for r in by_address]
    paired = next(r for r in by_address if r.bytes_sent == 8192 + 160_000)
    joined = START + timedelta(seconds=PROBE_SECONDS * 3)
    assert paired.started_at.replace(tzinfo=joined.tzinfo) == joined  # from the probe's start
    assert len(rows) == CROWD + 2
