"""The hosts' listener statistics through the real app, on sessions and plays in its database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.db import SessionFactory
from app.listeners.totals import rebuild
from app.models import ListeningSession, Play
from tests.accounts.harness import TestClient, bearer, running_app


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


@pytest.fixture
def client(tmp_path: Path, sessions: SessionFactory) -> Iterator[TestClient]:
    """Ann listens in two tabs, a VLC joins during "Hit", and Ann leaves during "Flop": sessions
    from before the totals, which the migration's backfill counts."""
    with sessions.begin() as db:
        db.add_all([
            ListeningSession(listener="ann", client="c1", started_at=ago(50), ended_at=ago(20)),
            ListeningSession(listener="ann", client="c1", started_at=ago(45), ended_at=ago(10)),
            ListeningSession(listener=None, client="c2", started_at=ago(32), ended_at=ago(5)),
            # The safety source on air as Ann tuned in: it gained her, yet it is no track.
            Play(kind="safety", artist="", title="Radio Station will be right back",
                 duration=120, started_at=ago(51)),
            Play(kind="music", artist="Mira", title="Hit", duration=300, started_at=ago(35)),
            Play(kind="music", artist="Elin", title="Flop", duration=300, started_at=ago(15)),
            # Cut short by a jingle just as the VLC leaves: it ends where the jingle starts.
            Play(kind="music", artist="Ode", title="Cut", duration=600, started_at=ago(6)),
            Play(kind="jingle", artist="", title="Station ID", duration=None, started_at=ago(4)),
        ])  # fmt: skip
    with sessions.begin() as db:
        rebuild(db.connection(), "UTC", 30)  # as the migration does for the sessions it finds
    with running_app(tmp_path) as client:
        yield client


def test_a_host_sees_listeners_over_the_last_day(client: TestClient) -> None:
    response = client.get("/api/listeners/history", headers=bearer())

    assert response.status_code == 200
    body = response.json()
    assert body["step_seconds"] == 300
    assert 288 <= len(body["points"]) <= 289
    assert max(point["listeners"] for point in body["points"]) == 2  # two tabs count once
    assert datetime.fromisoformat(body["points"][-1]["at"]) <= datetime.now(UTC)


def test_a_week_is_charted_by_the_hour(client: TestClient) -> None:
    body = client.get("/api/listeners/history", params={"hours": 168}, headers=bearer()).json()

    assert body["step_seconds"] == 3600
    assert 168 <= len(body["points"]) <= 169


@pytest.mark.parametrize("hours", [0, 169, "a day"])
def test_a_window_out_of_range_is_refused(client: TestClient, hours: object) -> None:
    response = client.get("/api/listeners/history", params={"hours": hours}, headers=bearer())

    assert response.status_code == 422


def test_a_host_sees_which_tracks_won_and_lost_listeners(client: TestClient) -> None:
    response = client.get("/api/listeners/tracks", params={"days": 7}, headers=bearer())

    assert response.status_code == 200
    body = response.json()
    assert body["gainers"] == [{"track_id": None, "artist": "Mira", "title": "Hit", "plays": 1,
                                "change": 1, "average_change": 1.0}]  # fmt: skip
    assert [(t["title"], t["change"]) for t in body["losers"]] == [("Cut", -1), ("Flop", -1)]
    # Only Hit gained: the safety source, on air while Ann tuned in, is not a track.


@pytest.mark.parametrize("path", ["/api/listeners/history", "/api/listeners/tracks"])
def test_listeners_may_not_see_the_statistics(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Cookie": "radio_listener=ann-listener-cookie-0001"})

    assert response.status_code == 401
