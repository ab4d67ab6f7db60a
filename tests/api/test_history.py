"""The public song history (/history, /api/history) through the real app: days in the
station's time zone, search, bounded pages, "listen from here" only inside the archive, and
a play's page to share. The history is written straight into the station's database, as
months on air would have left it."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from app.api.history_pages import (
    DAY_LIMIT,
    SEARCH_PAGE,
    day_window,
    neighbour_days,
    plays_of_day,
    search_plays,
)
from app.db import SessionFactory
from app.models import Play, Track, TrackKind, TrackStatus
from tests.accounts.harness import running_app

AUCKLAND = "Pacific/Auckland"  # UTC+13 in March (daylight time), far from UTC on purpose


def add_track(sessions: SessionFactory, title: str, artist: str) -> int:
    with sessions() as session:
        track = Track(path=f"music/{title}.mp3", kind=TrackKind.music, status=TrackStatus.ready,
                      size=1, mtime=0.0, artist=artist, title=title)  # fmt: skip
        session.add(track)
        session.commit()
        return track.id


def add_plays(sessions: SessionFactory, plays: list[dict[str, Any]]) -> list[int]:
    """Plays as the station records them; each track's last play is kept up to date."""
    with sessions() as session:
        rows = [Play(kind="music", album="", duration=180.0, **play) for play in plays]
        session.add_all(rows)
        session.flush()
        for row in rows:
            track = session.get(Track, row.track_id) if row.track_id else None
            if track and (track.last_played_at is None or track.last_played_at < row.started_at):
                track.last_played_at = row.started_at
        session.commit()
        return [row.id for row in rows]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_day_is_a_day_in_the_stations_time_zone(tmp_path: Path, sessions: SessionFactory) -> None:
    # 10:30 UTC is 23:30 in Auckland on the 10th; 11:30 UTC is already 00:30 on the 11th.
    late, early = add_plays(sessions, [
        {"title": "Late Song", "artist": "Night Owls", "started_at": at("2026-03-10T10:30:00Z")},
        {"title": "Early Song", "artist": "Larks", "started_at": at("2026-03-10T11:30:00Z")},
    ])  # fmt: skip
    add_plays(sessions, [
        {"title": "Older Song", "artist": "A", "started_at": at("2026-03-01T01:00:00Z")},
        {"title": "Newer Song", "artist": "B", "started_at": at("2026-03-20T01:00:00Z")},
    ])  # fmt: skip
    with running_app(tmp_path, admin=False, timezone=AUCKLAND) as client:
        tenth = client.get("/api/history", params={"date": "2026-03-10"}).json()
        eleventh = client.get("/api/history", params={"date": "2026-03-11"}).json()
        page = client.get("/history", params={"date": "2026-03-10"})
        empty = client.get("/history", params={"date": "2026-03-15"})

    assert [item["title"] for item in tenth["items"]] == ["Late Song"]
    assert tenth["items"][0]["local_time"] == "2026-03-10T23:30:00+13:00"
    assert tenth["items"][0]["started_at"] == "2026-03-10T10:30:00.000Z"
    assert tenth["timezone"] == AUCKLAND
    assert [item["title"] for item in eleventh["items"]] == ["Early Song"]
    # The neighbours are the nearest days that have plays, skipping the empty ones.
    assert (tenth["earlier"], tenth["later"]) == ("2026-03-01", "2026-03-11")
    assert eleventh["later"] == "2026-03-20"

    assert page.status_code == 200
    body = page.text
    assert "Late Song" in body
    assert "Early Song" not in body
    assert re.search(r"<h3 id=\"h23\">23:00</h3>", body), "grouped under its local hour"
    assert ">23:30</time>" in body, "a 24-hour local time"
    assert f'href="/history/{late}"' in body
    assert f"/history/{early}" not in body
    assert 'href="/history?date=2026-03-01"' in body
    assert 'href="/history?date=2026-03-11"' in body
    assert "Nothing was played on this day." in empty.text


def test_a_search_finds_a_songs_plays_newest_first_a_page_at_a_time(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    wanted = add_track(sessions, "Blue Monday", "New Order")
    other = add_track(sessions, "Temptation", "New Order")
    unrelated = add_track(sessions, "Yellow", "Coldplay")
    start = at("2026-02-01T08:00:00Z")
    plays = [
        {"track_id": track, "title": title, "artist": artist,
         "started_at": start + timedelta(hours=index)}
        for index in range(SEARCH_PAGE + 5)
        for track, title, artist in [(wanted, "Blue Monday", "New Order")]
    ]  # fmt: skip
    plays += [
        {"track_id": other, "title": "Temptation", "artist": "New Order",
         "started_at": start + timedelta(minutes=30)},
        {"track_id": unrelated, "title": "Yellow", "artist": "Coldplay",
         "started_at": start + timedelta(minutes=40)},
    ]  # fmt: skip
    add_plays(sessions, plays)
    with running_app(tmp_path, admin=False) as client:
        first = client.get("/api/history/search", params={"q": "blue"}).json()
        second = client.get("/api/history/search",
                            params={"q": "blue", "before": first["more"]}).json()  # fmt: skip
        by_artist = client.get("/api/history/search", params={"q": "COLDplay"}).json()
        nothing = client.get("/api/history/search", params={"q": "%"}).json()
        blank = client.get("/api/history/search", params={"q": "   "})
        page = client.get("/history", params={"q": "blue"}).text

    times = [item["started_at"] for item in first["items"] + second["items"]]
    assert len(first["items"]) == SEARCH_PAGE
    assert len(second["items"]) == 5
    assert times == sorted(times, reverse=True)
    assert len(set(times)) == SEARCH_PAGE + 5
    assert {item["title"] for item in first["items"] + second["items"]} == {"Blue Monday"}
    assert second["more"] is None
    assert [item["title"] for item in by_artist["items"]] == ["Yellow"]
    assert nothing["items"] == [], "% is a character to find, not a wildcard"
    assert blank.status_code == 422
    assert page.count('<li class="play"') == SEARCH_PAGE
    more = re.search(r'href="([^"]*)">Earlier plays', page)
    assert more
    assert parse_qs(urlsplit(html.unescape(more[1])).query)["before"] == [str(first["more"])]


def test_a_busy_day_comes_in_bounded_pages(tmp_path: Path, sessions: SessionFactory) -> None:
    start = at("2026-01-05T00:00:00Z")
    extra = 7
    add_plays(sessions, [
        {"title": f"Jingle {n}", "artist": "", "started_at": start + timedelta(seconds=10 * n)}
        for n in range(DAY_LIMIT + extra)
    ])  # fmt: skip
    with running_app(tmp_path, admin=False) as client:
        first = client.get("/api/history", params={"date": "2026-01-05"}).json()
        more = {"date": "2026-01-05", "before": first["more"]}
        rest = client.get("/api/history", params=more).json()
        page = client.get("/history", params={"date": "2026-01-05"}).text
        missing = client.get("/api/history", params={"before": 10**9})

    assert len(first["items"]) == DAY_LIMIT
    assert len(rest["items"]) == extra
    titles = [item["title"] for item in first["items"] + rest["items"]]
    assert titles == [f"Jingle {n}" for n in reversed(range(DAY_LIMIT + extra))]
    assert rest["more"] is None
    assert page.count('<li class="play"') == DAY_LIMIT
    assert "Earlier on this day" in page
    assert missing.status_code == 404


def test_listen_from_here_only_while_the_archive_keeps_it(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    (old,) = add_plays(sessions, [
        {"title": "Long Gone", "artist": "X",
         "started_at": datetime.now(UTC) - timedelta(hours=30)},
    ])  # fmt: skip
    with running_app(tmp_path, admin=False, public_url="https://radio.example") as client:
        # The archive keeps what aired since the station came on air: a play inside it.
        deadline = time.monotonic() + 120
        while client.get("/api/archive").json()["oldest"] is None:
            assert time.monotonic() < deadline, "the station never began its archive"
            time.sleep(0.1)
        now = datetime.now(UTC)
        (recent,) = add_plays(sessions, [{"title": "On Air", "artist": "Y", "started_at": now}])
        gone = client.get(f"/api/history/{old}").json()
        kept = client.get(f"/api/history/{recent}").json()
        page = client.get(f"/history/{recent}").text
        history = client.get("/history").text

    assert gone["listen_url"] is None
    assert gone["stream_url"] is None
    listen = urlsplit(kept["listen_url"])
    assert (listen.netloc, listen.path) == ("radio.example", "/")
    moment = datetime.fromisoformat(parse_qs(listen.query)["at"][0])
    assert abs((moment - now).total_seconds()) < 0.01
    assert parse_qs(urlsplit(kept["stream_url"]).query)["at"] == parse_qs(listen.query)["at"]
    assert "Listen from here" in page
    assert f'href="/?at={parse_qs(listen.query)["at"][0]}"' in history


def test_a_play_has_a_page_to_share_with_its_cover(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    track = add_track(sessions, "Heart of Glass", "Blondie")
    now = datetime.now(UTC)
    (play,) = add_plays(sessions, [
        {"track_id": track, "title": "Heart of Glass", "artist": "Blondie",
         "started_at": now - timedelta(seconds=5)},
    ])  # fmt: skip
    with running_app(tmp_path, admin=False, public_url="https://radio.example") as client:
        page = client.get(f"/history/{play}").text
        history = client.get("/history").text
        missing = client.get("/history/999999")
    url = f"https://radio.example/history/{play}"
    meta = dict(re.findall(r'<meta property="(og:[a-z:]+)" content="([^"]*)"', page))
    assert meta["og:title"] == "Blondie – Heart of Glass"
    assert meta["og:url"] == url
    assert meta["og:image"] == f"https://radio.example/covers/track/{track}"
    assert meta["og:type"] == "music.song"
    found = re.findall(r'href="(https://(?:twitter|www\.facebook|www\.linkedin)[^"]*)"', page)
    shares = [html.unescape(href) for href in found]
    assert len(shares) == 3  # X, Facebook, LinkedIn (and an email)
    for href in shares:
        query = parse_qs(urlsplit(href).query)
        assert url in query.get("u", []) + query.get("url", []), href
    # The history page offers the song on air to share, with the same permalink.
    on_air = history[history.index("On air now") : history.index("history-search")]
    assert "Heart of Glass" in on_air
    assert "twitter.com/intent/tweet?url=https%3A%2F%2Fradio.example%2Fhistory%2F" in on_air
    assert missing.status_code == 404


@pytest.fixture
def query_plans(sessions: SessionFactory) -> Iterator[list[str]]:
    """The query plan of every statement the sessions run: SQLite's EXPLAIN QUERY PLAN, or
    PostgreSQL's EXPLAIN with sequential scans and sorts priced out (with a few rows it
    would rightly choose them; this asks whether an index can serve the query at all)."""
    plans: list[str] = []
    engine = sessions.kw["bind"]
    sqlite = engine.dialect.name == "sqlite"

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            if not sqlite:
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                conn.exec_driver_sql("SET LOCAL enable_sort = off")
            how = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (COSTS OFF) "
            rows = conn.exec_driver_sql(how + statement, parameters).all()
            plans.append(statement + "\n  " + "\n  ".join(row[-1] for row in rows))

    assert isinstance(engine, Engine)
    event.listen(engine, "before_cursor_execute", explain)
    yield plans
    event.remove(engine, "before_cursor_execute", explain)


def test_every_history_query_reads_plays_through_an_index(
    sessions: SessionFactory, query_plans: list[str]
) -> None:
    """A full scan of the plays costs more each day on air: none may happen."""
    track = add_track(sessions, "Indexed", "Tables")
    add_plays(sessions, [{"track_id": track, "title": "Indexed", "artist": "Tables",
                          "started_at": at("2026-01-05T10:00:00Z")}])  # fmt: skip
    query_plans.clear()
    window = day_window(datetime(2026, 1, 5).date(), ZoneInfo(AUCKLAND))
    with sessions() as session:
        (play,), _ = plays_of_day(session, window, None)
        plays_of_day(session, window, play)
        neighbour_days(session, window, ZoneInfo(AUCKLAND))
        search_plays(session, "index", None)
        search_plays(session, "index", play)
        assert session.execute(text("SELECT 1")).scalar() == 1
    plays = [plan for plan in query_plans if "FROM plays" in plan]
    assert len(plays) >= 6, query_plans
    for plan in plays:
        steps = [step.strip(" ->") for step in plan.split("\n  ")[1:]]
        assert not any(step.startswith(("SCAN plays", "Seq Scan on plays")) for step in steps), plan
        # (PostgreSQL's Incremental Sort reads the index in order and sorts the ties of one
        # moment by id, where SQLite's index holds the rowid: no sort of the whole window.)
        assert not any("TEMP B-TREE" in step or step == "Sort" for step in steps), plan
