"""The running totals equal a count from scratch over the raw sessions.

Random sessions around two week boundaries in Europe/Berlin, one of them right after the
change from summer time, go through the live recorder (joins, leaves, a heartbeat every
minute, a crash with sessions open, the restart that closes them) and through the
migration's backfill. The expected values are counted here second by second from the
session rows, with no code from app/listeners: a listener's seconds are a set (two tabs
count once), a session under the minimum adds none, a week starts at Monday 00:00 on the
Berlin wall clock."""

from __future__ import annotations

import asyncio
import bisect
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, select, text

from app.db import MIGRATIONS, make_engine, make_sessions, upgrade
from app.listeners.sessions import SessionRecorder
from app.listeners.totals import state_matches
from app.listeners.track_totals import changes_between
from app.models import ListeningSession, Play
from tests import database as test_database

ZONE = "Europe/Berlin"
MIN_SECONDS = 30
COOKIES = [f"listener-cookie-{n:04d}-abcdef" for n in range(4)]
# Mondays 00:00 in Berlin: 19 October (summer time, 22:00 UTC the day before) and 26 October
# (winter time since the night before: 23:00 UTC). The clocks go back on 25 October at 01:00
# UTC. One window sits on each Monday, one on the change itself; the station crashes at the
# end of the last one.
WINDOWS = [
    (datetime(2026, 10, 18, 21, 0, tzinfo=UTC), 9000),
    (datetime(2026, 10, 25, 0, 10, tzinfo=UTC), 7200),
    (datetime(2026, 10, 25, 22, 0, tzinfo=UTC), 9000),
]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 24 * 3600 * 1_000_000


@dataclass(eq=False)
class Connected:
    """What the recorder reads of the hub's Listener."""

    listener_id: str | None
    client: str = "198.51.100.1"
    user_agent: str = "test"
    bytes_sent: int = 0


class Clock:
    def __init__(self) -> None:
        self.now = WINDOWS[0][0]

    def __call__(self) -> datetime:
        return self.now


def seconds(moment: datetime) -> int:
    return int((moment.astimezone(UTC) - EPOCH).total_seconds())


def random_sessions(
    rng: random.Random, plays: list[tuple[int, float | None]]
) -> list[tuple[str | None, int, int, bool]]:
    """(cookie, start, end, left): whole seconds; `left` False for those open at the crash.
    Some tune in or out just as a song starts, as listeners do."""
    made = []
    starts = [at for at, _ in plays]
    for number, (start, length) in enumerate(WINDOWS):
        first, last = seconds(start), seconds(start) + length
        crash = number == len(WINDOWS) - 1
        for _ in range(30):
            cookie = rng.choice([*COOKIES, None])
            begin = rng.randrange(first, last - 60)
            at_songs = [at for at in starts if first <= at < last - 60]
            if at_songs and rng.random() < 0.2:
                begin = rng.choice(at_songs)
            kind = rng.random()
            if kind < 0.25:
                duration = rng.randrange(1, MIN_SECONDS)  # too short for the board
            elif kind < 0.35:
                duration = MIN_SECONDS  # just long enough
            else:
                duration = rng.randrange(MIN_SECONDS + 1, 5400)
            end = begin + duration
            later = [at for at in starts if begin + MIN_SECONDS <= at < last]
            if duration >= MIN_SECONDS and later and rng.random() < 0.2:
                end = rng.choice(later)
            if end < last:
                made.append((cookie, begin, end, True))
            elif crash:
                made.append((cookie, begin, last, False))  # still connected at the crash
            else:
                made.append((cookie, begin, last - 1, True))
    return made


def random_plays(rng: random.Random) -> list[tuple[int, float | None]]:
    plays = []
    for start, length in WINDOWS:
        moment = seconds(start) + rng.randrange(0, 300)
        while moment < seconds(start) + length:
            duration = rng.choice([None, 180.0, 240.5, 400.25])
            plays.append((moment, duration))
            moment += rng.randrange(60, 420)
    return plays


def play_kind(at: int) -> str:
    return "jingle" if at % 5 == 0 else "music"


def play_title(at: int) -> str:
    return f"Song {at % 4}"  # four songs, each played many times a day


def play_row(at: int, duration: float | None) -> Play:
    return Play(kind=play_kind(at), artist="A", title=play_title(at), duration=duration,
                started_at=EPOCH + timedelta(seconds=at))  # fmt: skip


async def run_station(
    recorder: SessionRecorder, clock: Clock, sessions_made: list, plays: list, database: Engine
) -> None:
    """Replays the sessions through the recorder second by second where anything happens,
    with a heartbeat at every whole minute while anyone is connected."""
    events: list[tuple[int, int, object]] = []
    for index, (cookie, begin, end, left) in enumerate(sessions_made):
        events.append((begin, 1, (index, cookie)))
        if left:
            events.append((end, 0, index))
    for at, duration in plays:
        events.append((at, 2, (at, duration)))
    for start, length in WINDOWS:
        first = seconds(start) // 60 * 60 + 60
        events.extend((minute, 3, None) for minute in range(first, seconds(start) + length, 60))
    events.sort(key=lambda event: (event[0], event[1]))
    connected: dict[int, tuple[Connected, int]] = {}
    factory = make_sessions(database)
    for at, what, detail in events:
        clock.now = EPOCH + timedelta(seconds=at)
        if what == 1:
            index, cookie = detail  # type: ignore[misc]
            listener = Connected(cookie)
            connected[index] = (listener, at)
            recorder.on_listener(listener, "joined")  # type: ignore[arg-type]
        elif what == 0:
            listener, _ = connected.pop(detail)  # type: ignore[call-overload]
            recorder.on_listener(listener, "left")  # type: ignore[arg-type]
        elif what == 2:
            with factory.begin() as db:  # the play history, written as items air
                db.add(play_row(*detail))  # type: ignore[misc]
        else:
            for listener, began in connected.values():
                listener.bytes_sent = 16000 * (at - began)
            recorder.beat()


def expected(database: Engine, plays: list) -> dict[str, object]:
    """Everything the totals should hold, counted from the raw session rows."""
    with database.connect() as connection:
        rows = connection.execute(
            text("SELECT id, listener, started_at, ended_at FROM listening_sessions")
        ).all()
    zone = ZoneInfo(ZONE)
    mondays = [date(2026, 10, 12) + timedelta(days=7 * n) for n in range(4)]
    week_starts = [seconds(datetime(d.year, d.month, d.day, tzinfo=zone)) for d in mondays]
    board: dict[str, set[int]] = {}
    present: dict[object, set[int]] = {}
    for row in rows:
        begin = seconds(datetime.fromisoformat(str(row.started_at)).replace(tzinfo=UTC))
        end = seconds(datetime.fromisoformat(str(row.ended_at)).replace(tzinfo=UTC))
        assert row.ended_at is not None
        covered = set(range(begin, end))
        owner = row.listener if row.listener is not None else ("anonymous", row.id)
        present.setdefault(owner, set()).update(covered)
        if row.listener is not None and end - begin >= MIN_SECONDS:
            board.setdefault(row.listener, set()).update(covered)
    totals = {listener: len(covered) * 1_000_000 for listener, covered in board.items()}
    weeks: Counter[tuple[str, int]] = Counter()
    for listener, covered in board.items():
        for second in covered:
            week = week_starts[bisect.bisect_right(week_starts, second) - 1]
            weeks[listener, week * 1_000_000] += 1_000_000
    audience: Counter[int] = Counter()
    for covered in present.values():
        audience.update(covered)
    minutes: dict[int, int] = {}
    for second, count in audience.items():
        minutes[second // 60] = max(minutes.get(second // 60, 0), count)
    marks = {}
    for at, duration in plays:
        moments = [at * 1_000_000]
        if duration is not None:
            moments.append(at * 1_000_000 + round(duration * 1_000_000))
        for moment in moments:
            # Listeners there at the moment: a second counts from its start.
            marks[moment] = audience.get(moment // 1_000_000, 0)
    return {"totals": totals, "weeks": dict(weeks), "minutes": minutes, "marks": marks,
            "changes": play_changes(plays, audience)}  # fmt: skip


def play_changes(plays: list, audience: Counter[int]) -> list[tuple[int, int, str, int]]:
    """(start, end, title, listeners at the end minus at the start) of each music play that
    has ended: at the next item's start, or at its own duration if that comes first."""
    ordered = sorted(plays)
    changes = []
    for (at, duration), following in zip(ordered, [*ordered[1:], None], strict=True):
        ends = [] if following is None else [following[0] * 1_000_000]
        if duration is not None:
            ends.append(at * 1_000_000 + round(duration * 1_000_000))
        if play_kind(at) != "music" or not ends:
            continue
        end = min(ends)
        change = audience.get(end // 1_000_000, 0) - audience.get(at, 0)
        changes.append((at * 1_000_000, end, play_title(at), change))
    return changes


def tracks_by_day(changes: list[tuple[int, int, str, int]], last_start: int) -> dict:
    """{(UTC day, title): [plays, change]} of the plays that started before the last one."""
    days: dict[tuple[int, str], list[int]] = {}
    for start, _, title, change in changes:
        if start < last_start:
            total = days.setdefault((start // DAY_US * DAY_US, title), [0, 0])
            total[0], total[1] = total[0] + 1, total[1] + change
    return days


def tracks_in_window(changes: list[tuple[int, int, str, int]], since: int, until: int) -> list:
    """[(title, plays, change)] of the plays that started since `since` and ended by
    `until`, in the order of each title's first play."""
    found: dict[str, list[int]] = {}
    for start, end, title, change in sorted(changes):
        if start >= since and end <= until:
            total = found.setdefault(title, [0, 0])
            total[0], total[1] = total[0] + 1, total[1] + change
    return [(title, plays, change) for title, (plays, change) in found.items()]


def stored(database: Engine) -> dict[str, object]:
    with database.connect() as connection:
        return {
            "totals": dict(connection.execute(
                text("SELECT listener, seconds_us FROM listener_totals")).all()),
            "weeks": {(row.listener, row.week_us): row.seconds_us for row in connection.execute(
                text("SELECT listener, week_us, seconds_us FROM listener_weeks"))},
            "minutes": dict(connection.execute(
                text("SELECT minute, peak FROM audience_minutes")).all()),
            "marks": dict(connection.execute(
                text("SELECT at_us, listeners FROM audience_marks")).all()),
            "track_days": {(row.day_us, row.title): [row.plays, row.change]
                           for row in connection.execute(
                               text("SELECT day_us, title, plays, change FROM track_days"))},
        }  # fmt: skip


def assert_same(found: dict[str, object], wanted: dict[str, object]) -> None:
    for part in ("totals", "weeks", "minutes", "marks"):
        assert found[part] == wanted[part], part
    # The scenario really is what it says: time on both sides of each Monday boundary, and
    # several listeners at once.
    assert len({week for _, week in wanted["weeks"]}) == 3  # type: ignore[union-attr]
    assert max(wanted["minutes"].values()) >= 3  # type: ignore[union-attr]


# (now, days) for the hosts' tracks page: windows starting inside a burst of plays (their
# partial first day read raw, its last play ended by the next day's first), whole UTC days
# with plays (read from the daily totals) and partial last days (raw); Monday 26 October
# 00:00 UTC ends the day of the change to winter time.
TRACK_WINDOWS = [
    (datetime(2026, 10, 25, 22, 30, tzinfo=UTC), 7),
    (datetime(2026, 10, 26, 1, 0, tzinfo=UTC), 7),
    (datetime(2026, 10, 26, 3, 0, tzinfo=UTC), 8),
    (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), 1),
    (datetime(2026, 10, 27, 0, 0, tzinfo=UTC), 30),
    (datetime(2026, 10, 27, 23, 0, tzinfo=UTC), 2),  # the last burst crosses midnight UTC
]


def assert_same_tracks(database: Engine, found: dict[str, object], wanted: dict[str, object],
                       plays: list) -> None:  # fmt: skip
    """The daily track totals hold every play but the last (its end is not known yet), and
    the tracks page counts each window as a count from scratch does."""
    changes = wanted["changes"]
    last_start = max(at for at, _ in plays) * 1_000_000
    by_day = tracks_by_day(changes, last_start)  # type: ignore[arg-type]
    assert found["track_days"] == by_day
    assert len({day for day, _ in by_day}) >= 3  # the scenario spans several UTC days
    with make_sessions(database)() as db:
        for now, days in TRACK_WINDOWS:
            since = now - timedelta(days=days)
            got = [(c.title, c.plays, c.change) for c in changes_between(db, since, now)]
            assert got == tracks_in_window(changes, seconds(since) * 1_000_000,
                                           seconds(now) * 1_000_000), (now, days)  # type: ignore[arg-type]  # fmt: skip
            assert got, (now, days)


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> None:
    # The migration's backfill reads the station's settings from the environment.
    monkeypatch.setenv("RADIO_TIMEZONE", ZONE)
    monkeypatch.setenv("RADIO_LISTENER_MIN_SECONDS", str(MIN_SECONDS))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_live_totals_equal_a_count_from_scratch(tmp_path: Path, berlin: None, seed: int) -> None:
    rng = random.Random(seed)
    plays = random_plays(rng)
    sessions_made = random_sessions(rng, plays)
    database = make_engine(test_database.empty_url(tmp_path))
    upgrade(database)
    factory = make_sessions(database)
    clock = Clock()
    recorder = SessionRecorder(factory, ZONE, MIN_SECONDS, heartbeat_seconds=10**6, clock=clock)

    asyncio.run(run_station(recorder, clock, sessions_made, plays, database))
    recorder.shutdown()  # the crash: open sessions stay open, as after a power cut
    with factory() as db:
        open_rows = db.scalars(select(ListeningSession).where(ListeningSession.ended_at.is_(None)))
        assert len(list(open_rows)) == sum(1 for *_, left in sessions_made if not left) > 0
        assert state_matches(db, ZONE, MIN_SECONDS)  # the restart counts on, builds nothing anew
    restarted = SessionRecorder(factory, ZONE, MIN_SECONDS)
    assert restarted.close_open_sessions() > 0

    found, wanted = stored(database), expected(database, plays)
    assert_same(found, wanted)
    assert_same_tracks(database, found, wanted, plays)
    database.dispose()


def test_the_migration_backfills_the_same_totals(tmp_path: Path, berlin: None) -> None:
    rng = random.Random(7)
    plays = random_plays(rng)
    sessions_made = random_sessions(rng, plays)
    database = make_engine(test_database.empty_url(tmp_path))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")  # a station from before the totals
    with database.begin() as connection:
        for number, (cookie, begin, end, left) in enumerate(sessions_made):
            # Cut by a crash: after a heartbeat, or before the first one (then its bytes say
            # how long it played).
            unbeaten = not left and number % 2 == 0
            connection.execute(
                text("INSERT INTO listening_sessions (listener, client, user_agent, started_at,"
                     " ended_at, bytes_sent, last_seen_at) VALUES (:l, 'c', 'ua', :s, :e, :b, :h)"),
                {"l": hashed(cookie), "s": naive(begin), "e": naive(end) if left else None,
                 "b": 16000 * (end - begin),
                 "h": None if unbeaten else naive(end - 7 if left else end)},
            )  # fmt: skip
        for at, duration in plays:
            connection.execute(
                text("INSERT INTO plays (kind, artist, title, album, duration, started_at)"
                     " VALUES (:k, 'A', :t, '', :d, :s)"),
                {"k": play_kind(at), "t": play_title(at), "d": duration, "s": naive(at)},
            )  # fmt: skip

    upgrade(database)  # 0007 and on: the backfill
    factory = make_sessions(database)
    # The open ones were cut by a crash before the upgrade: the station closes them at start.
    assert SessionRecorder(factory, ZONE, MIN_SECONDS).close_open_sessions() > 0

    found, wanted = stored(database), expected(database, plays)
    assert_same(found, wanted)
    assert_same_tracks(database, found, wanted, plays)
    database.dispose()


def hashed(cookie: str | None) -> str | None:
    return None if cookie is None else f"hash-of-{cookie}"


def naive(at: int) -> str:
    return (EPOCH + timedelta(seconds=at)).strftime("%Y-%m-%d %H:%M:%S.%f")
