"""Requests in the planner, on the real database and a fake clock: planned where they keep
separation, aired at the planned time under the listener's name, limits that end after an
hour of the station's clock, and automatic picks that keep away from a request."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import SessionFactory
from app.models import SongRequest
from app.scheduler.planner import Planner
from app.scheduler.requests import RequestRefused
from tests.scheduler.test_planner import add_track
from tests.scheduler.test_separation import OnAir


def station(
    tmp_path: Path, sessions: SessionFactory, **settings: object
) -> tuple[OnAir, list[int]]:
    songs = [add_track(sessions, f"Song {i}", 3, artist=f"Artist {i}") for i in range(40)]
    defaults: dict[str, object] = dict(
        media_dir=tmp_path, state_dir=tmp_path, crossfade_seconds=0, jingle_every=0,
        bulletin_minute=-1, track_separation_hours=3, artist_separation_minutes=30,
        queue_length=10,
    )  # fmt: skip
    return OnAir(Planner(sessions, Settings(**{**defaults, **settings}))), songs


def free_song(on_air: OnAir, songs: list[int]) -> int:
    busy = {t for _, t, _ in on_air.aired} | {u.item.track_id for u in on_air.planner.upcoming()}
    return next(s for s in songs if s not in busy)


def test_a_request_airs_when_planned_under_the_listeners_name(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    on_air, songs = station(tmp_path, sessions)
    on_air.play(2)
    wanted = free_song(on_air, songs)
    planned = on_air.planner.add_request(wanted, "listener-a", "net-1", "Ann")
    assert planned.position == 0
    assert planned.item.requested_by == "Ann"
    assert on_air.planner.upcoming(limit=1)[0].item.requested_by == "Ann"
    assert on_air.planner.next_up is not None
    assert on_air.planner.next_up.requested_by == "Ann"
    on_air.play(1)
    start, track, reason = on_air.aired[-1]
    assert (start, track, reason) == (planned.expected_start, wanted, "request")
    with sessions() as session:
        [request] = session.scalars(select(SongRequest)).all()
        assert (request.status, request.aired_at) == ("aired", planned.expected_start)
    # Rotation keeps the track away from the request (40 songs: no repeat needed).
    on_air.play(35)
    again = [at for at, t, _ in on_air.aired if t == wanted]
    assert again == [planned.expected_start]


def test_a_request_for_an_artist_just_played_waits_the_artist_separation(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    on_air, songs = station(tmp_path, sessions)
    on_air.play(1)
    _, first, _ = on_air.aired[0]
    artist = next(i for i in range(40) if songs[i] == first)
    same_artist = add_track(sessions, "Same artist", 3, artist=f"Artist {artist}")
    on_air.planner.library_changed()
    planned = on_air.planner.add_request(same_artist, "listener-a", "net-1", "")
    assert planned.item.requested_by == "a listener"
    assert planned.expected_start - on_air.aired[0][0] >= timedelta(minutes=30)


def test_the_hourly_limits_count_on_the_stations_clock(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    on_air, songs = station(tmp_path, sessions, request_per_listener_hour=1,
                            request_per_address_hour=2, request_max_pending=10)  # fmt: skip
    on_air.play(1)
    on_air.planner.add_request(free_song(on_air, songs), "ann", "net-1", "Ann")
    with pytest.raises(RequestRefused, match="1 request an hour from you") as refused:
        on_air.planner.add_request(free_song(on_air, songs), "ann", "net-1", "Ann")
    assert (refused.value.status, refused.value.retry_after) == (429, 3600.0)
    on_air.planner.add_request(free_song(on_air, songs), "bob", "net-1", "Bob")
    with pytest.raises(RequestRefused, match="2 requests an hour from your network"):
        on_air.planner.add_request(free_song(on_air, songs), "cat", "net-1", "Cat")
    on_air.play(21)  # 63 minutes later
    on_air.planner.add_request(free_song(on_air, songs), "ann", "net-1", "Ann")


def test_waiting_requests_are_capped(tmp_path: Path, sessions: SessionFactory) -> None:
    on_air, songs = station(tmp_path, sessions, request_max_pending=2,
                            request_per_listener_hour=10)  # fmt: skip
    on_air.play(1)
    for _ in range(2):
        on_air.planner.add_request(free_song(on_air, songs), "ann", "net-1", "Ann")
    with pytest.raises(RequestRefused, match="2 requests are already waiting"):
        on_air.planner.add_request(free_song(on_air, songs), "ann", "net-1", "Ann")
    on_air.play(1)  # the first one aired: room for another
    on_air.planner.add_request(free_song(on_air, songs), "ann", "net-1", "Ann")
