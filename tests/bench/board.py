"""Listener statistics after a year on air: the board, the player page and the hosts'
charts with 1 000 000 and 10 000 000 listening sessions in the database.

For each size: a database at migration 0006 (before the running totals) gets a year of
sessions of a station with 20 000 regular listeners (2 000 of them named on the board; a
few listen a lot, most a little) and 15 % players without a cookie, plus a year of plays,
written by SQLite itself in large transactions; then the migrations run, which backfill the
totals (timed); then the real station starts on that database, and each page is asked for
one after the other on a kept-alive connection. Reported: p50/p99 per page, and the memory
of the station's processes together (the station and every descendant; RSS and PSS).

    python -m tests.bench.board [--sessions 1000000,10000000] [--requests 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from app.db import MIGRATIONS, make_engine, upgrade
from app.listeners.identity import COOKIE_NAME, listener_hash
from tests.bench.common import (
    Processes,
    machine_info,
    make_music_mp3,
    markdown_table,
    start_station,
    terminate_on_sigterm,
    write_results,
)
from tests.processes import descendants

REGULARS = 20_000
NAMED_EVERY = 10  # every 10th regular listener has a name on the board: 2 000
ANONYMOUS_PERCENT = 15
YEAR_SECONDS = 365 * 24 * 3600
PLAY_EVERY_SECONDS = 210
ADMIN, PASSWORD = "bench", "bench-password-1234"
PAGES = [
    ("/api/listeners/board", False),
    ("/", False),
    ("/api/listeners/history?hours=168", True),
    ("/api/listeners/tracks?days=7", True),
]
TARGET_P99_MS, TARGET_RSS_MB = 100.0, 150.0


def cookie(number: int) -> str:
    return f"bench-listener-{number:08d}"


def seed(database: Path, sessions: int, now: datetime) -> dict[str, float]:
    """A year of sessions and plays up to `now`, at migration 0006; returns timings."""
    engine = make_engine(f"sqlite:///{database}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    engine.dispose()
    began = time.perf_counter()
    db = sqlite3.connect(database)
    db.executescript("PRAGMA synchronous=OFF; PRAGMA cache_size=-800000; PRAGMA temp_store=FILE;")
    db.execute("CREATE TEMP TABLE regulars (k INTEGER PRIMARY KEY, hash TEXT)")
    db.executemany("INSERT INTO regulars VALUES (?, ?)",
                   ((k, listener_hash(cookie(k))) for k in range(REGULARS)))  # fmt: skip
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.000000")
    db.executemany(
        "INSERT INTO listener_names (listener, display_name, name_key, on_board, updated_at)"
        " VALUES (?, ?, ?, 1, ?)",
        ((listener_hash(cookie(k)), f"Listener {k}", f"listener {k}", stamp)
         for k in range(0, REGULARS, NAMED_EVERY)),
    )  # fmt: skip
    start = int(now.timestamp()) - YEAR_SECONDS
    spacing = (YEAR_SECONDS - 3 * 3600) / sessions
    step = 1_000_000
    for first in range(0, sessions, step):
        count = min(step, sessions - first)
        # Who: a product of two uniform draws, so a few regulars listen a lot; how long: the
        # same, 5 s to 2.5 h (a mean of about 38 minutes).
        db.execute(
            """
            WITH RECURSIVE seq(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM seq
                                      WHERE i < :last)
            INSERT INTO listening_sessions (listener, client, user_agent, started_at, ended_at,
                                            bytes_sent, last_seen_at)
            SELECT (SELECT hash FROM regulars WHERE k = who), 'client-' || (who % 7919),
                   'Mozilla/5.0 (bench)',
                   strftime('%Y-%m-%d %H:%M:%S', st, 'unixepoch') || '.000000',
                   strftime('%Y-%m-%d %H:%M:%S', st + dur, 'unixepoch') || '.000000',
                   dur * 16000, NULL
            FROM (SELECT :start + CAST(i * :spacing AS INTEGER) + abs(random()) % 600 AS st,
                         5 + (abs(random()) % 3000) * (abs(random()) % 3000) / 1000 AS dur,
                         CASE WHEN abs(random()) % 100 < :anonymous THEN -1
                              ELSE (abs(random()) % :regulars) * (abs(random()) % :regulars)
                                   / :regulars END AS who
                  FROM seq)
            """,
            {"first": first, "last": first + count - 1, "start": start, "spacing": spacing,
             "anonymous": ANONYMOUS_PERCENT, "regulars": REGULARS},
        )  # fmt: skip
        db.commit()
    db.execute(
        """
        WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :last)
        INSERT INTO plays (track_id, kind, artist, title, album, duration, started_at)
        SELECT NULL, CASE WHEN i % 5 = 4 THEN 'jingle' ELSE 'music' END,
               'Artist ' || (i * 7 % 300), 'Song ' || (i * 13 % 1500), '', 200 + i % 30,
               strftime('%Y-%m-%d %H:%M:%S', :start + i * :every, 'unixepoch') || '.000000'
        FROM seq
        """,
        {"last": YEAR_SECONDS // PLAY_EVERY_SECONDS - 1, "start": start,
         "every": PLAY_EVERY_SECONDS},
    )  # fmt: skip
    db.commit()
    db.close()
    seeded = time.perf_counter() - began
    began = time.perf_counter()
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)  # 0007: the backfill of the running totals
    engine.dispose()
    return {"seed_s": seeded, "backfill_s": time.perf_counter() - began}


def sign_in(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"username": ADMIN, "password": PASSWORD})
    connection.request("POST", "/api/session", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
    cookies = response.headers.get_all("Set-Cookie") or []
    return "; ".join(c.split(";", 1)[0] for c in cookies)


def signed(port: int, identifier: str) -> str:
    """The listener's cookie as the station signs it: a seeded listener's unsigned cookie
    (from before the station signed them) gets its signed form from the player page."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/", headers={"Cookie": f"{COOKIE_NAME}={identifier}"})
    response = connection.getresponse()
    response.read()
    cookie = (response.headers.get_all("Set-Cookie") or [""])[0].split(";", 1)[0]
    assert cookie.startswith(f"{COOKIE_NAME}={identifier}."), cookie
    return cookie


def timings(port: int, path: str, headers: dict[str, str], requests: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    spent = []
    for number in range(requests + 5):
        began = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status}")
        if number >= 5:  # the first few warm the caches
            spent.append((time.perf_counter() - began) * 1000)
    connection.close()
    return spent


def memory(pid: int) -> dict[str, Any]:
    """RSS and PSS of the station and every descendant, summed, in MB, and per process."""
    rss = pss = 0.0
    each_process = []
    for each in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{each}/comm") as f:
                name = f.read().strip()
            values = {}
            with open(f"/proc/{each}/smaps_rollup") as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in ("Rss", "Pss"):
                        values[key] = int(rest.split()[0]) * 1024 / 1e6
        except OSError:
            continue
        rss, pss = rss + values.get("Rss", 0.0), pss + values.get("Pss", 0.0)
        each_process.append({"name": name, "rss_mb": values.get("Rss", 0.0)})
    return {"rss_mb": rss, "pss_mb": pss, "processes": each_process}


def run_size(sessions: int, requests: int, root: Path) -> dict[str, Any]:
    state = root / "state"
    state.mkdir(parents=True)
    music = root / "media" / "music"
    music.mkdir(parents=True)
    for number in range(2):
        make_music_mp3(music / f"song{number}.mp3", 40.0, seed=number + 1)
    database = state / "radio.sqlite3"
    now = datetime.now(UTC) - timedelta(minutes=5)
    print(f"  seeding {sessions} sessions ...", flush=True)
    result: dict[str, Any] = {"sessions": sessions, **seed(database, sessions, now)}
    result["database_mb"] = database.stat().st_size / 1e6
    print(f"  seeded in {result['seed_s']:.0f} s, backfilled in {result['backfill_s']:.0f} s;"
          " starting the station ...", flush=True)  # fmt: skip
    with Processes() as procs:
        process, port, _ = start_station(procs, root, setup_admin=f"{ADMIN}:{PASSWORD}")
        host = {"Cookie": sign_in(port)}
        # A listener of middling rank who is not on the board: their rank is counted.
        you = {"Cookie": signed(port, cookie(REGULARS // 3 + 1))}
        result["pages"] = {}
        for path, for_hosts in PAGES:
            spent = timings(port, path, host if for_hosts else you, requests)
            quantiles = statistics.quantiles(spent, n=100)
            result["pages"][path] = {"p50_ms": statistics.median(spent), "p99_ms": quantiles[98],
                                     "max_ms": max(spent)}  # fmt: skip
        result["memory"] = memory(process.pid)
    result["load_after"] = _load()
    return result


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(results: dict[str, Any], info: dict[str, Any]) -> str:
    rows = []
    for size in results["sizes"]:
        pages = size["pages"]
        rows.append([
            f"{size['sessions']:,}", f"{size['seed_s']:.0f}", f"{size['backfill_s']:.0f}",
            f"{size['database_mb']:.0f}", size["load_after"],
            *(f"{pages[path]['p50_ms']:.1f} / {pages[path]['p99_ms']:.1f}" for path, _ in PAGES),
            f"{size['memory']['rss_mb']:.0f} / {size['memory']['pss_mb']:.0f} ("
            + ", ".join(f"{p['name']} {p['rss_mb']:.0f}" for p in size["memory"]["processes"])
            + ")",
        ])  # fmt: skip
    header = ["sessions", "seed s", "backfill s", "db MB", "load after",
              *(f"{path} p50 / p99 ms" for path, _ in PAGES),
              "RSS / PSS MB, all processes (RSS each)"]  # fmt: skip
    return "\n".join([
        f"Listener statistics: {REGULARS} regular listeners ({REGULARS // NAMED_EVERY} named), "
        f"{ANONYMOUS_PERCENT} % without a cookie, a year of sessions and plays; "
        f"{results['requests']} requests per page, one at a time; load before: {results['load']}",
        f"Machine: {info['date']} · {info['nproc']} CPU ({info['cpu_model']}) · "
        f"{info['mem_total_mb']} MB RAM · kernel {info['kernel']} · Python {info['python']}",
        "",
        markdown_table(header, rows),
        "",
        f"targets: p99 < {TARGET_P99_MS:.0f} ms and RSS < {TARGET_RSS_MB:.0f} MB at 10 000 000",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", default="1000000,10000000",
                        help="comma-separated session counts")  # fmt: skip
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    try:
        sizes = [int(n) for n in args.sessions.split(",")]
    except ValueError:
        parser.error("--sessions: comma-separated whole numbers")
    if not all(1000 <= n <= 50_000_000 for n in sizes) or not 20 <= args.requests <= 10_000:
        parser.error("--sessions: 1000 to 50000000 each; --requests: 20 to 10000")
    info = machine_info()
    results: dict[str, Any] = {"benchmark": "board", "machine": info, "requests": args.requests,
                               "load": _load(), "sizes": []}  # fmt: skip
    with terminate_on_sigterm():
        for sessions in sizes:
            print(f"running {sessions} sessions ...", flush=True)
            with tempfile.TemporaryDirectory(prefix="radio-bench-") as tmp_dir:
                results["sizes"].append(run_size(sessions, args.requests, Path(tmp_dir)))
            print(json.dumps(results["sizes"][-1]), flush=True)  # in case a later size fails
    path = write_results("board", results)
    print()
    print(report(results, info))
    print(f"\nresults: {path}")
    largest = results["sizes"][-1]
    met = all(page["p99_ms"] < TARGET_P99_MS for page in largest["pages"].values())
    return 0 if met and largest["memory"]["rss_mb"] < TARGET_RSS_MB else 1


if __name__ == "__main__":
    sys.exit(main())
