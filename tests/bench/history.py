"""The song history's queries after a year on air: a day page, the neighbouring days and
the search, with a year of plays in the database.

A migrated SQLite database gets `--plays` plays (one every 31.5 s back from now: about a
year at a million) of `--tracks` library tracks, written by SQLite itself; then the queries
behind /history and /api/history (app/api/history_pages.py) run `--requests` times each on
random days and two searches. Reported: p50/p99/max per query, and the load average.
(Through a station the first start on such a database settles a year of per-track listener
totals first; the queries are what each request costs.)

    python -m tests.bench.history [--plays 1000000] [--tracks 5000] [--requests 100]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.api.history_pages import day_window, neighbour_days, plays_of_day, search_plays
from app.db import make_engine, make_sessions, upgrade
from tests.bench.common import machine_info, markdown_table, terminate_on_sigterm, write_results

PLAY_EVERY_SECONDS = 31.5
TARGET_P99_MS = 100.0
STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how the UTC column is stored in SQLite


def seed(database: Path, plays: int, tracks: int, now: datetime) -> None:
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    rng = random.Random(1)
    connection = sqlite3.connect(database)
    connection.executemany(
        "INSERT INTO tracks (id, path, kind, status, size, mtime, artist, title, album, cue_in,"
        " added_at) VALUES (?, ?, 'music', 'ready', 1, 0, ?, ?, '', 0, ?)",
        [(n, f"music/{n}.mp3", f"Artist {n % 700}", f"Song number {n}",
          now.strftime(STAMP)) for n in range(1, tracks + 1)],
    )  # fmt: skip
    last: dict[int, str] = {}
    start = now - timedelta(seconds=PLAY_EVERY_SECONDS * plays)
    rows = []
    for n in range(plays):
        track = rng.randint(1, tracks)
        at = (start + timedelta(seconds=PLAY_EVERY_SECONDS * n)).strftime(STAMP)
        rows.append((track, f"Artist {track % 700}", f"Song number {track}", at))
        last[track] = at
    connection.executemany(
        "INSERT INTO plays (track_id, kind, artist, title, album, duration, started_at)"
        " VALUES (?, 'music', ?, ?, '', 200, ?)",
        rows,
    )
    connection.executemany("UPDATE tracks SET last_played_at = ? WHERE id = ?",
                           [(at, track) for track, at in last.items()])  # fmt: skip
    connection.commit()
    connection.close()


def timed(query: Callable[[], object], requests: int) -> dict[str, float]:
    spent = []
    for number in range(requests + 5):
        began = time.perf_counter()
        query()
        if number >= 5:  # the first few warm the caches
            spent.append((time.perf_counter() - began) * 1000)
    return {"p50_ms": statistics.median(spent), "p99_ms": statistics.quantiles(spent, n=100)[98],
            "max_ms": max(spent)}  # fmt: skip


def run(plays: int, tracks: int, requests: int, root: Path) -> dict[str, Any]:
    database = root / "radio.sqlite3"
    now = datetime.now(UTC)
    print(f"  seeding {plays} plays of {tracks} tracks ...", flush=True)
    seed(database, plays, tracks, now)
    zone = ZoneInfo("Europe/Berlin")
    first = (now - timedelta(seconds=PLAY_EVERY_SECONDS * plays)).date()
    days = (now.date() - first).days
    rng = random.Random(2)
    engine = make_engine(f"sqlite:///{database}")
    result: dict[str, Any] = {"plays": plays, "tracks": tracks, "queries": {}}
    try:
        with make_sessions(engine)() as session:

            def day() -> object:
                window = day_window(first + timedelta(days=rng.randint(1, days - 1)), zone)
                return plays_of_day(session, window, None)

            middle = day_window(first + timedelta(days=days // 2), zone)
            queries: dict[str, Callable[[], object]] = {
                "a day's plays (a random day)": day,
                "the neighbouring days": lambda: neighbour_days(session, middle, zone),
                "search 'number 42' (111 tracks match)": lambda: search_plays(session,
                                                                              "number 42", None),
                "search 'artist' (every track matches)": lambda: search_plays(session, "artist",
                                                                              None),
            }  # fmt: skip
            for name, query in queries.items():
                result["queries"][name] = timed(query, requests)
                session.expunge_all()
    finally:
        engine.dispose()
    result["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return result


def report(result: dict[str, Any], info: dict[str, Any], load: str) -> str:
    rows = [[name, f"{p['p50_ms']:.1f}", f"{p['p99_ms']:.1f}", f"{p['max_ms']:.1f}"]
            for name, p in result["queries"].items()]  # fmt: skip
    return "\n".join([
        f"Song history: {result['plays']:,} plays of {result['tracks']:,} tracks; "
        f"load before: {load}, "
        f"after: {result['load_after']}",
        f"Machine: {info['date']} · {info['nproc']} CPU ({info['cpu_model']}) · "
        f"{info['mem_total_mb']} MB RAM · Python {info['python']}",
        "",
        markdown_table(["query", "p50 ms", "p99 ms", "max ms"], rows),
        "",
        f"target: p99 < {TARGET_P99_MS:.0f} ms",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--tracks", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args(argv)
    info = machine_info()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        result = run(args.plays, args.tracks, args.requests, Path(tmp))
    print(report(result, info, load))
    write_results("history", {"machine": info, "load": load, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
