"""Scheduler benchmark: a week of programme on a 10 000-track library, in under a second.

Creates a real SQLite database (migrated with Alembic) in a temp dir with the library (no
audio: records only) and playlists with every kind of rule, loads it with
`load_scheduler` and simulates 7 days (Europe/Berlin, a week with a DST change). Reports
the load time and the simulation time (best and median of --repeat runs).

    python -m tests.bench.scheduler [--tracks 10000] [--days 7] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from app.config import Settings
from app.db import SessionFactory, make_engine, make_sessions, upgrade
from app.models import (
    Playlist,
    PlaylistEntry,
    PlaylistOrder,
    PlaylistRule,
    Track,
    TrackKind,
    TrackStatus,
)
from app.scheduler.engine import SchedulerState
from app.scheduler.snapshot import load_scheduler
from tests.bench.common import machine_info, markdown_table, write_results

TIMEZONE = "Europe/Berlin"
START = datetime(2025, 3, 24, tzinfo=ZoneInfo(TIMEZONE))  # the week of the change to summer time
JINGLES = 20
TARGET_SECONDS = 1.0


def fill(sessions: SessionFactory, tracks: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    artists = max(tracks // 10, 1)
    rows: list[dict[str, Any]] = [
        {"id": i, "path": f"music/{i}.mp3", "kind": TrackKind.music, "status": TrackStatus.ready,
         "size": 1, "mtime": 0.0, "artist": f"Artist {rng.randrange(artists)}",
         "title": f"Song {i}", "album": "", "duration": rng.uniform(120, 420), "cue_in": 0.2,
         "cue_out": None}
        for i in range(1, tracks + 1)
    ]  # fmt: skip
    jingle_ids = range(tracks + 1, tracks + JINGLES + 1)
    rows += [
        {**rows[0], "id": i, "path": f"jingles/{i}.mp3", "kind": TrackKind.jingle,
         "artist": "Radio", "title": f"Jingle {i}", "duration": rng.uniform(5, 20)}
        for i in jingle_ids
    ]  # fmt: skip
    music = list(range(1, tracks + 1))
    split = tracks * 6 // 10
    weekday_mornings = [{"days": [0, 1, 2, 3, 4], "start": "06:00", "end": "10:00"}]
    nights = [{"days": list(range(7)), "start": "23:00", "end": "03:00"}]
    playlists = [  # name, rule, order, fields, tracks
        ("Main", PlaylistRule.rotation, PlaylistOrder.shuffle, {"weight": 3}, music[:split]),
        ("Gold", PlaylistRule.rotation, PlaylistOrder.random, {"weight": 1}, music[split:]),
        ("Mornings", PlaylistRule.rotation, PlaylistOrder.sequential,
         {"weight": 2, "schedule": weekday_mornings}, music[: tracks // 5]),
        ("Nights", PlaylistRule.rotation, PlaylistOrder.shuffle,
         {"weight": 4, "schedule": nights}, music[-tracks // 5 :]),
        ("Jingles", PlaylistRule.every_songs, PlaylistOrder.shuffle,
         {"every": 4, "is_jingle": True}, list(jingle_ids[:10])),
        ("Station ID", PlaylistRule.every_minutes, PlaylistOrder.shuffle,
         {"every": 30, "is_jingle": True}, list(jingle_ids[10:15])),
        ("Top of the hour", PlaylistRule.hourly, PlaylistOrder.sequential,
         {"minute": 0, "is_jingle": True}, list(jingle_ids[15:])),
    ]  # fmt: skip
    with sessions() as session:
        session.execute(insert(Track), rows)
        entries = []
        for playlist_id, (name, rule, order, fields, ids) in enumerate(playlists, start=1):
            session.add(Playlist(id=playlist_id, name=name, rule=rule, order=order, **fields))
            entries += [
                {"playlist_id": playlist_id, "position": n, "track_id": t}
                for n, t in enumerate(ids)
            ]
        session.flush()
        session.execute(insert(PlaylistEntry), entries)
        session.commit()


def run(tracks: int, days: float, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="radio-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        settings = Settings(state_dir=tmp / "state", media_dir=tmp / "media", timezone=TIMEZONE,
                            demo_library=False)  # fmt: skip
        engine = make_engine(settings.sqlalchemy_url)
        try:
            upgrade(engine)
            sessions = make_sessions(engine)
            fill(sessions, tracks)
            loads, sims, items = [], [], 0
            for _ in range(repeat):
                began = time.perf_counter()
                scheduler = load_scheduler(sessions, settings)
                loads.append(time.perf_counter() - began)
                began = time.perf_counter()
                plan = scheduler.simulate(START, START + timedelta(days=days), SchedulerState(),
                                          crossfade=settings.crossfade_seconds)  # fmt: skip
                sims.append(time.perf_counter() - began)
                items = len(plan)
        finally:
            engine.dispose()
    reasons: dict[str, int] = {}
    for _, pick in plan:
        reasons[pick.reason] = reasons.get(pick.reason, 0) + 1
    return {
        "tracks": tracks, "days": days, "repeat": repeat, "items": items, "reasons": reasons,
        "load_s": {"best": min(loads), "median": statistics.median(loads)},
        "simulate_s": {"best": min(sims), "median": statistics.median(sims)},
    }  # fmt: skip


def report(result: dict[str, Any], info: dict[str, Any]) -> str:
    load, sim = result["load_s"], result["simulate_s"]
    rows = [
        ["load_scheduler (SQLite)", f"{load['best'] * 1000:.0f}",
         f"{load['median'] * 1000:.0f}", ""],
        [f"simulate {result['days']:g} days ({result['items']} items)",
         f"{sim['best'] * 1000:.0f}", f"{sim['median'] * 1000:.0f}",
         f"< {TARGET_SECONDS * 1000:.0f}"],
    ]  # fmt: skip
    return "\n".join([
        f"Scheduler: {result['tracks']} ready tracks, 7 playlists (4 rotation with weights and "
        f"dayparts, every 4 songs, every 30 minutes, hourly), {TIMEZONE}, "
        f"{result['repeat']} runs",
        f"Machine: {info['date']} · {info['nproc']} CPU ({info['cpu_model']}) · "
        f"{info['mem_total_mb']} MB RAM · kernel {info['kernel']} · Python {info['python']}",
        f"Picks by reason: {result['reasons']}",
        "",
        markdown_table(["step", "best ms", "median ms", "target ms"], rows),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if not 10 <= args.tracks <= 200_000 or not 0 < args.days <= 60 or not 1 <= args.repeat <= 50:
        parser.error("--tracks: 10 to 200000; --days: up to 60; --repeat: 1 to 50")
    result = run(args.tracks, args.days, args.repeat)
    info = machine_info()
    path = write_results("scheduler", {"benchmark": "scheduler", "machine": info, **result})
    print(report(result, info))
    print(f"\nresults: {path}")
    return 0 if result["simulate_s"]["best"] < TARGET_SECONDS * args.days / 7 else 1


if __name__ == "__main__":
    sys.exit(main())
