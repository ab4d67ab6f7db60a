"""Fan-out benchmark: 1000, 3000 and 10 000 concurrent 128 kbps listeners on our station and
on Icecast 2, in one run.

    python -m tests.bench.listeners [--counts 1000,3000,10000] [--seconds 30]

Case "station": `radio serve` playing one synthesized 5-minute MP3 (decode, 2 s crossfade
into itself, LAME encode, fan-out: the station process and every process it runs).
Case "icecast": icecast2 with a temp config (burst 64 KiB like ours, queue 512 KiB), fed
the same MP3 in real time by `ffmpeg -re -c copy` (no re-encode: its CPU is shown apart).

For each listener count, each case gets a fresh server: it runs idle for --idle-seconds (CPU
with no listeners), then the load client (tests/bench/loadclient.py, one process per
CLIENTS_PER_WORKER listeners) opens the connections at --ramp-rate per second, and all of
them read until the end. The window starts BURST_SECONDS after the last connection was
opened (past the 64 KiB join burst) and lasts --seconds; server CPU and memory (the whole
process tree, from /proc) and each listener's rate are measured over that same window.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from app.ffmpeg import ffmpeg_path
from tests.bench.common import (
    BYTE_RATE,
    Processes,
    TreeUsage,
    icecast_source_url,
    icecast_sources,
    listen_drops,
    load_average,
    machine_busy_seconds,
    machine_line,
    make_music_mp3,
    markdown_table,
    open_files_limit,
    raise_nofile,
    run_benchmark,
    set_nice,
    share_priority,
    sleep_until,
    start_icecast,
    start_station,
    tree_cpu_percent,
    tree_usage,
    tree_wait_seconds,
    wait_until,
)
from tests.processes import children, playout_pid

# A listener is "at real-time rate" when it received at least this share of 16000 B/s over
# the window. Why 2 %: the rate is measured between two reads, each of which returns what had
# arrived by then, so a listener fed exactly in real time can read short by at most one
# server write at each end: the station writes 0.2 s blocks, Icecast relays ~26 ms MP3
# frames, so at most 0.4 s of 30 s = 1.3 % for the station. A 2 % shortfall is 0.6 s of
# audio missing from 30 s: a real gap (a player's 4 s burst would drain in 200 s).
REAL_TIME_SHARE = 0.98
# ... measured over the window less the first and last read's delay and 1 s of slack (so
# not a listener closed early or one whose audio began late)
SPAN_SLACK_SECONDS = 1.0
MIN_EXACT_SECONDS = 20  # shorter windows are for debugging: 2 blocks of 0.2 s exceed 2 %
BURST_SECONDS = 5.0  # the window starts this long after the last connection was opened
CLIENTS_PER_WORKER = 2500  # listeners per load-client process (by default)
MEMORY_SAMPLE_SECONDS = 5.0  # the trees' RSS/PSS are sampled this often in the window
DEFAULT_COUNTS = "1000,3000,10000"
# The benchmark, the servers and the load clients run at this priority where allowed (root),
# so that other jobs on a shared machine take less CPU from them: both servers alike.
DEFAULT_NICE = -10
CASES = ("station", "icecast")
MAX_CLIENTS = 20000
MAX_SECONDS = 600
_LOG_PROBLEM = {
    "station": re.compile(r"\b(WARNING|ERROR|CRITICAL)\b"),
    "icecast": re.compile(r"\] (WARN|EROR) "),
}


def run_load(args: argparse.Namespace, port: int, clients: int, watch: dict[str, int],
             tmp: Path) -> dict[str, Any]:  # fmt: skip
    """Run the load client against 127.0.0.1:port/stream and measure the process trees of
    `watch` (name -> pid) over the same window."""
    ramp = clients / args.ramp_rate
    workers = args.workers or math.ceil(clients / CLIENTS_PER_WORKER)
    start_at = time.monotonic() + 1.5  # time for the workers to start up
    window_start = start_at + ramp + BURST_SECONDS
    end_at = window_start + args.seconds
    outs = [tmp / f"load-{port}-{k}.json" for k in range(workers)]
    shares = [clients // workers + (1 if k < clients % workers else 0) for k in range(workers)]
    procs: list[subprocess.Popen[bytes]] = []
    drops_before = listen_drops()
    try:
        for k, (share, out) in enumerate(zip(shares, outs, strict=True)):
            # Each worker ramps its share over the whole ramp, offset so that together they
            # open connections evenly.
            offset = ramp * k / clients
            command = [
                sys.executable, "-m", "tests.bench.loadclient", "--port", str(port),
                "--clients", str(share), "--start-at", repr(start_at + offset),
                "--ramp", str(ramp), "--window-start", repr(window_start),
                "--end-at", repr(end_at), "--poll", str(args.poll), "--out", str(out),
            ]  # fmt: skip
            procs.append(subprocess.Popen(command, start_new_session=True))
            share_priority(procs[-1].pid)
        sleep_until(window_start)
        before = {name: tree_usage(pid) for name, pid in watch.items()}
        wait_before = {name: tree_wait_seconds(pid) for name, pid in watch.items()}
        busy_before, busy_t0 = machine_busy_seconds(), time.monotonic()
        peaks = {name: (usage.rss_mb, usage.pss_mb) for name, usage in before.items()}
        while time.monotonic() + MEMORY_SAMPLE_SECONDS < end_at:
            time.sleep(MEMORY_SAMPLE_SECONDS)
            for name, pid in watch.items():
                usage = tree_usage(pid)
                peaks[name] = (max(peaks[name][0], usage.rss_mb), max(peaks[name][1], usage.pss_mb))
        sleep_until(end_at)
        after = {name: tree_usage(pid) for name, pid in watch.items()}
        busy = 100 * (machine_busy_seconds() - busy_before) / (time.monotonic() - busy_t0)
        waited = {name: tree_wait_seconds(pid) - wait_before[name] for name, pid in watch.items()}
        drops = listen_drops() - drops_before
        for proc in procs:
            proc.wait(timeout=max(30.0, end_at - time.monotonic() + 60))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    reports = [json.loads(out.read_text()) for out in outs]
    listeners = [client for report in reports for client in report["clients"]]
    client_cpu = [report["client_cpu_percent"] for report in reports]
    return {
        "clients": clients,
        "window_s": round(end_at - window_start, 3),
        "ramp_s": round(ramp, 3),
        "workers": workers,
        "poll_s": args.poll,
        # The whole process tree of each watched process, % of one core over the window.
        "cpu_percent": {
            name: round(tree_cpu_percent(before[name], after[name]), 2) for name in watch
        },
        "cpu_by_process": {name: _by_process(before[name], after[name]) for name in watch},
        # Time its threads were runnable but not running (waiting for a CPU), % of the window.
        "cpu_wait_percent": {
            name: round(100 * waited[name] / (after[name].at - before[name].at), 2)
            for name in watch
        },
        "memory": {
            name: {
                "rss_mb": round(after[name].rss_mb, 1),
                "pss_mb": round(after[name].pss_mb, 1),
                "peak_rss_mb": round(max(peaks[name][0], after[name].rss_mb), 1),
                "peak_pss_mb": round(max(peaks[name][1], after[name].pss_mb), 1),
                "processes": [
                    {
                        "pid": p.pid,
                        "name": p.name,
                        "rss_mb": round(p.rss_mb, 1),
                        "pss_mb": round(p.pss_mb, 1),
                    }
                    for p in after[name].processes
                ],
            }
            for name in watch
        },
        # Everything that ran on the machine in the window (all cores, % of one core):
        # servers + load client + anything else (another job on the machine shows here).
        "machine_busy_percent": round(busy, 1),
        # Connection attempts dropped on a full accept queue, ramp and window: machine-wide,
        # so another job's listeners count too (see connect_retried for ours).
        "listen_drops": drops,
        "client_cpu_percent": client_cpu,
        "client_cpu_percent_total": round(sum(c for c in client_cpu if c is not None), 1),
        "client_pass_lag_ms_max": max(report["pass_lag_ms_max"] for report in reports),
        "summary": summarize(listeners, end_at - window_start, args.poll),
        "listeners": listeners,
    }


def _by_process(before: TreeUsage, after: TreeUsage) -> dict[str, float]:
    """CPU % of each process of a tree that lived through the window (name[pid])."""
    start = {p.pid: p.cpu_seconds for p in before.processes}
    seconds = after.at - before.at
    return {
        f"{p.name}[{p.pid}]": round(100.0 * (p.cpu_seconds - start[p.pid]) / seconds, 2)
        for p in after.processes
        if p.pid in start
    }


def summarize(listeners: list[dict[str, Any]], window: float, poll: float) -> dict[str, Any]:
    def percentiles(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"p50": None, "p99": None, "max": None}
        array = np.asarray(values)
        return {
            "p50": round(float(np.percentile(array, 50)), 2),
            "p99": round(float(np.percentile(array, 99)), 2),
            "max": round(float(array.max()), 2),
        }

    def at_real_time(c: dict[str, Any]) -> bool:
        return (
            c["rate"] is not None
            and _fast(c["rate"])
            and c["rate_window_s"] >= window - 2 * poll - SPAN_SLACK_SECONDS
            and not c["late_audio"]
            and not c["closed_early"]
        )

    rates = [c["rate"] for c in listeners if c["rate"] is not None]
    rate_array = np.asarray(rates) / BYTE_RATE if rates else np.asarray([0.0])
    errors = Counter(c["error"] for c in listeners if c["error"])
    with_audio = [c for c in listeners if c["ttfb_audio_ms"] is not None]
    return {
        "listeners": len(listeners),
        "with_audio": len(with_audio),
        "at_real_time": sum(1 for c in listeners if at_real_time(c)),
        # Why the others are not: (a listener can be in more than one of these)
        "connect_failed": sum(1 for c in listeners if c["error"].startswith("connect")),
        "no_audio": len(listeners) - len(with_audio),
        "late_audio": sum(1 for c in listeners if c["late_audio"]),
        "closed_early": sum(1 for c in listeners if c["closed_early"]),
        "below_rate": sum(1 for c in listeners if c["rate"] is not None and not _fast(c["rate"])),
        "rate_share": {
            "min": round(float(rate_array.min()), 4),
            "p1": round(float(np.percentile(rate_array, 1)), 4),
            "p50": round(float(np.percentile(rate_array, 50)), 4),
            "max": round(float(rate_array.max()), 4),
        },
        "connect_ms": percentiles([c["connect_ms"] for c in listeners if c["connect_ms"]]),
        # Linux sends a dropped SYN again after 1 s (then 2, 4, ... s later).
        "connect_retried": sum(1 for c in listeners if (c["connect_ms"] or 0) >= 1000),
        "ttfb_head_ms": percentiles([c["ttfb_head_ms"] for c in listeners if c["ttfb_head_ms"]]),
        "ttfb_audio_ms": percentiles([c["ttfb_audio_ms"] for c in with_audio]),
        "errors": dict(errors.most_common(5)),
    }


def _fast(rate: float) -> bool:
    return rate >= REAL_TIME_SHARE * BYTE_RATE


def idle_cpu(watch: dict[str, int], seconds: float) -> dict[str, float]:
    before = {name: tree_usage(pid) for name, pid in watch.items()}
    time.sleep(seconds)
    after = {name: tree_usage(pid) for name, pid in watch.items()}
    return {name: round(tree_cpu_percent(before[name], after[name]), 2) for name in watch}


def _log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


def _log_problems(case: str, log: Path, since: int) -> dict[str, Any]:
    """Warnings and errors the server logged from byte `since` of its log on: from the idle
    phase to the end of the load, not the start-up (the last few kept)."""
    try:
        with log.open("rb") as f:
            f.seek(since)
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return {"count": None, "last": []}
    found = [line for line in lines if _LOG_PROBLEM[case].search(line)]
    return {"count": len(found), "last": found[-5:]}


def _case(case: str, load: dict[str, Any], pid: int, idle: dict[str, float], log: Path,
          log_start: int, load_before: str) -> dict[str, Any]:  # fmt: skip
    load["case"] = case
    load["idle_cpu_percent"] = idle
    load["open_files_limit"] = open_files_limit(pid)
    load["log_problems"] = _log_problems(case, log, log_start)
    load["load_average"] = {"before": load_before, "after": load_average()}
    return load


def _only_the_playout(pid: int) -> bool:
    """The station runs no child but its playout process: no start-up work under way."""
    playout = playout_pid(pid)
    return playout is not None and children(pid) == [playout]


def station_case(args: argparse.Namespace, clients: int, mp3: Path, tmp: Path) -> dict[str, Any]:
    load_before = load_average()
    root = Path(tempfile.mkdtemp(prefix=f"station-{clients}-", dir=tmp))
    (root / "media" / "music").mkdir(parents=True)
    os.link(mp3, root / "media" / "music" / mp3.name)
    with Processes() as procs:
        process, port, log = start_station(procs, root)
        # A fresh station's start-up work (its news stings: ~1.7 s of CPU in a child) ends
        # before the idle window, which is for the station as it runs from then on.
        wait_until(partial(_only_the_playout, process.pid), 120, "start-up work done",
                   process, log)  # fmt: skip
        # The station and every process it runs (playout, ffmpeg decoders, renders).
        watch = {"server": process.pid}
        log_start = _log_size(log)
        idle = idle_cpu(watch, args.idle_seconds)
        load = run_load(args, port, clients, watch, tmp)
        return _case("station", load, process.pid, idle, log, log_start, load_before)


def icecast_case(args: argparse.Namespace, clients: int, mp3: Path, tmp: Path) -> dict[str, Any]:
    load_before = load_average()
    root = Path(tempfile.mkdtemp(prefix=f"icecast-{clients}-", dir=tmp))
    with Processes() as procs:
        icecast, port, _ = start_icecast(procs, root, clients)
        feed_log = root / "feeder.log"
        feeder = procs.start(
            [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "warning", "-re",
             "-stream_loop", "-1", "-i", str(mp3), "-c", "copy",
             "-content_type", "audio/mpeg", "-f", "mp3", icecast_source_url(port, "/stream")],
            feed_log,
        )  # fmt: skip

        def mounted() -> bool:
            return any(s.get("listenurl", "").endswith("/stream") for s in icecast_sources(port))

        wait_until(mounted, 20, "icecast /stream mount", feeder, feed_log)
        time.sleep(BURST_SECONDS)  # let icecast fill its burst buffer, as our station has
        watch = {"server": icecast.pid, "feeder": feeder.pid}
        log = root / "icecast-log" / "error.log"
        log_start = _log_size(log)
        idle = idle_cpu(watch, args.idle_seconds)
        load = run_load(args, port, clients, watch, tmp)
        return _case("icecast", load, icecast.pid, idle, log, log_start, load_before)


# --- the report ----------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "–"
    return f"{a / b:.2f}"


def _p(stats: dict[str, float | None]) -> str:
    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    return f"{ms(stats['p50'])} / {ms(stats['p99'])}"


def _count_table(station: dict[str, Any] | None, icecast: dict[str, Any] | None) -> str:
    """One listener count: a row per measure, station and Icecast side by side."""
    cols = [c for c in (station, icecast) if c is not None]
    names = [c["case"] for c in cols]

    both = station is not None and icecast is not None

    def row(label: str, get: Any, ratio: Any = None) -> list[str]:
        values = [get(c) for c in cols]
        shown = [v if isinstance(v, str) else f"{v:.1f}" for v in values]
        if both:
            shown.append(ratio(station, icecast) if ratio else "")
        return [label, *shown]

    def failures(c: dict[str, Any]) -> str:
        s = c["summary"]
        return (f"{s['connect_failed']} / {s['no_audio']} / {s['late_audio']} / "
                f"{s['closed_early']} / {s['below_rate']}")  # fmt: skip

    def cpu(c: dict[str, Any]) -> float:
        return float(c["cpu_percent"]["server"])

    def everything(c: dict[str, Any]) -> float:
        return float(sum(c["cpu_percent"].values()))

    def fanout(c: dict[str, Any]) -> float:
        return float(c["cpu_percent"]["server"] - c["idle_cpu_percent"]["server"])

    def mem(c: dict[str, Any], key: str) -> str:
        m = c["memory"]["server"]
        return f"{m[key + '_mb']:.1f} ({m['peak_' + key + '_mb']:.1f})"

    def client_cpu(c: dict[str, Any]) -> str:
        per = [x for x in c["client_cpu_percent"] if x is not None]
        busiest = max(per) if per else 0.0
        return f"{c['client_cpu_percent_total']:.1f} ({len(per)} × ≤ {busiest:.1f})"

    rows = [
        row("at real-time rate", lambda c: f"{c['summary']['at_real_time']}/{c['clients']}"),
        row("not: connect failed / no audio / late / closed / slow", failures),
        row("rate ÷ real time: min / p50",
            lambda c: f"{c['summary']['rate_share']['min']:.4f} / "
                      f"{c['summary']['rate_share']['p50']:.4f}"),
        row("first audio byte p50 / p99 ms", lambda c: _p(c["summary"]["ttfb_audio_ms"])),
        row("TCP connect p50 / p99 ms", lambda c: _p(c["summary"]["connect_ms"])),
        row("connects that took ≥ 1 s (SYN dropped, sent again)",
            lambda c: str(c["summary"]["connect_retried"])),
        row("server CPU % of a core (whole tree)", cpu,
            lambda s, i: _ratio(cpu(s), cpu(i))),
        row("  idle CPU % (no listeners)", lambda c: float(c["idle_cpu_percent"]["server"])),
        row("  listeners only (loaded − idle)", fanout,
            lambda s, i: _ratio(fanout(s), fanout(i))),
        row("  waiting for a CPU % (runnable, not running)",
            lambda c: float(c["cpu_wait_percent"]["server"])),
        row("  incl. Icecast's feeder", everything,
            lambda s, i: _ratio(everything(s), everything(i))),
        row("RSS MB, sum over the tree (peak)", lambda c: mem(c, "rss"),
            lambda s, i: _ratio(s["memory"]["server"]["rss_mb"], i["memory"]["server"]["rss_mb"])),
        row("PSS MB, sum over the tree (peak)", lambda c: mem(c, "pss"),
            lambda s, i: _ratio(s["memory"]["server"]["pss_mb"], i["memory"]["server"]["pss_mb"])),
        row("processes in the tree", lambda c: str(len(c["memory"]["server"]["processes"]))),
        row("server log warnings/errors (idle + load)", lambda c: str(c["log_problems"]["count"])),
        row("load client CPU % (workers × busiest)", client_cpu),
        row("machine busy % (all cores)", lambda c: float(c["machine_busy_percent"])),
        row("load average before → after",
            lambda c: f"{c['load_average']['before']} → {c['load_average']['after']}"),
    ]  # fmt: skip
    header = ["", *names, *(["station ÷ icecast"] if both else [])]
    return markdown_table(header, rows)


def _targets(count: int, station: dict[str, Any], icecast: dict[str, Any] | None) -> str:
    s = station["summary"]
    checks = [f"every listener at real-time rate: {'yes' if s['at_real_time'] == count else 'NO'}"
              f" ({s['at_real_time']}/{count})"]  # fmt: skip
    if icecast is not None and icecast["cpu_percent"]["server"] > 0:
        ratio = station["cpu_percent"]["server"] / icecast["cpu_percent"]["server"]
        checks.append(f"CPU ratio ≤ 1.0: {'yes' if ratio <= 1.0 else 'NO'} ({ratio:.2f})")
    if count == 1000:
        rss, pss = station["memory"]["server"]["rss_mb"], station["memory"]["server"]["pss_mb"]
        checks.append(f"RSS of all processes < 100 MB: {'yes' if rss < 100 else 'NO'} "
                      f"({rss:.1f} MB; PSS {pss:.1f} MB)")  # fmt: skip
    return f"Targets at {count}: " + "; ".join(checks)


def report(results: dict[str, Any], info: dict[str, Any]) -> str:
    by_count: dict[int, dict[str, dict[str, Any]]] = {}
    for r in results["cases"].values():
        by_count.setdefault(r["clients"], {})[r["case"]] = r
    first = next(iter(results["cases"].values()))
    last = list(results["cases"].values())[-1]
    lines = [
        f"Listeners: {results['counts']} listeners, window {results['seconds']:g} s each "
        f"(connections opened at {results['ramp_rate']:g}/s, window from {BURST_SECONDS:g} s "
        "after the last)",
        f"Machine: {machine_line(info)}",
        f"Load average (1/5/15 min): {first['load_average']['before']} at the start, "
        f"{last['load_average']['after']} at the end",
    ]
    if results["seconds"] < MIN_EXACT_SECONDS:
        lines.append(f"NOTE: a window under {MIN_EXACT_SECONDS} s is too short for the 2 % "
                     "real-time check (one 0.2 s block is more than 1 % of it): use it to "
                     "debug, not to judge")  # fmt: skip
    for count, cases in by_count.items():
        station, icecast = cases.get("station"), cases.get("icecast")
        lines += ["", f"### {count} listeners", "", _count_table(station, icecast)]
        if station is not None:
            lines += ["", _targets(count, station, icecast)]
        for case in (station, icecast):
            if case is None:
                continue
            s = case["summary"]
            procs = ", ".join(f"{k} {v:.1f}" for k, v in case["cpu_by_process"]["server"].items())
            lines.append(f"{case['case']}: errors {s['errors'] or 'none'}; CPU by process: "
                         f"{procs}; open-files limit {case['open_files_limit']}")  # fmt: skip
            for problem in case["log_problems"]["last"]:
                lines.append(f"  log: {problem[:200]}")
    lines += ["", "### Summary", "", _summary_table(by_count)]
    return "\n".join(lines)


def _summary_table(by_count: dict[int, dict[str, dict[str, Any]]]) -> str:
    """One row per count: the numbers the targets are about, station against Icecast."""

    def get(case: dict[str, Any] | None, what: Any) -> str:
        return "–" if case is None else what(case)

    rows = []
    for count, cases in by_count.items():
        station, icecast = cases.get("station"), cases.get("icecast")
        ratio = "–"
        if station is not None and icecast is not None:
            ratio = _ratio(station["cpu_percent"]["server"], icecast["cpu_percent"]["server"])
        rows.append([
            count,
            get(station, lambda c: f"{c['summary']['at_real_time']}"),
            get(icecast, lambda c: f"{c['summary']['at_real_time']}"),
            get(station, lambda c: f"{c['cpu_percent']['server']:.1f}"),
            get(icecast, lambda c: f"{c['cpu_percent']['server']:.1f}"),
            ratio,
            get(station, lambda c: f"{c['memory']['server']['rss_mb']:.0f} / "
                                   f"{c['memory']['server']['pss_mb']:.0f}"),
            get(icecast, lambda c: f"{c['memory']['server']['rss_mb']:.0f} / "
                                   f"{c['memory']['server']['pss_mb']:.0f}"),
            get(station, lambda c: _p(c["summary"]["ttfb_audio_ms"])),
            get(icecast, lambda c: _p(c["summary"]["ttfb_audio_ms"])),
            " / ".join(get(c, lambda c: f"{c['cpu_wait_percent']['server']:.0f}")
                       for c in (station, icecast)),
        ])  # fmt: skip
    header = [
        "listeners", "station at real-time", "icecast at real-time", "station CPU %",
        "icecast CPU %", "CPU ratio", "station RSS / PSS MB", "icecast RSS / PSS MB",
        "station first byte p50 / p99 ms", "icecast first byte p50 / p99 ms",
        "waiting for a CPU % station / icecast",
    ]  # fmt: skip
    return markdown_table(header, rows)


def parse_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from None
    if not counts or not all(0 < c <= MAX_CLIENTS for c in counts):
        raise argparse.ArgumentTypeError(f"listener counts from 1 to {MAX_CLIENTS}: {text!r}")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    counts_help = f"comma-separated listener counts (default {DEFAULT_COUNTS})"
    parser.add_argument("--counts", type=parse_counts, default=parse_counts(DEFAULT_COUNTS),
                        help=counts_help)  # fmt: skip
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window per case")
    parser.add_argument("--ramp-rate", type=float, default=500.0,
                        help="new connections per second while the listeners join")  # fmt: skip
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    workers_help = f"load client processes (default: one per {CLIENTS_PER_WORKER} listeners)"
    parser.add_argument("--workers", type=int, default=0, help=workers_help)
    parser.add_argument("--poll", type=float, default=0.5, help="client read interval (s)")
    nice_help = (f"priority of the benchmark and every process it starts (default "
                 f"{DEFAULT_NICE} where allowed; 0: share the CPU evenly)")  # fmt: skip
    parser.add_argument("--nice", type=int, default=DEFAULT_NICE, help=nice_help)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--track-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    if not 3 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds: 3 to {MAX_SECONDS}")
    if not 10 <= args.ramp_rate <= 10000:
        parser.error("--ramp-rate: 10 to 10000 connections per second")
    if not 0 <= args.workers <= 32:
        parser.error("--workers: 0 (automatic) to 32")
    if not -20 <= args.nice <= 19:
        parser.error("--nice: -20 to 19")
    if not 0.01 <= args.poll <= 5:
        parser.error("--poll: 0.01 to 5 s")
    cases = args.cases.split(",")
    if not cases or any(case not in CASES for case in cases):
        parser.error(f"--cases: some of {','.join(CASES)}")
    nice = set_nice(args.nice)
    # The servers and the load clients inherit the limit (as root the hard one is raised too).
    needed = max(args.counts) + 200
    if raise_nofile() < needed:
        print(f"warning: open-files limit below {needed}; listeners will fail to connect "
              "(run as root, or raise `ulimit -Hn`)", file=sys.stderr)  # fmt: skip
    runners = {"station": station_case, "icecast": icecast_case}
    selected = {f"{case}@{count}": partial(runners[case], args, count)
                for count in args.counts for case in cases}  # fmt: skip
    return run_benchmark(
        "listeners",
        {
            "counts": args.counts,
            "seconds": args.seconds,
            "ramp_rate": args.ramp_rate,
            "poll_s": args.poll,
            "real_time_share": REAL_TIME_SHARE,
            "nice": nice,
        },
        ",".join(selected),
        selected,
        lambda tmp: make_music_mp3(tmp / "bench.mp3", args.track_seconds),
        f"{args.seconds:g} s window",
        report,
    )


if __name__ == "__main__":
    sys.exit(main())
