"""Fan-out benchmark: N concurrent 128 kbps listeners on our station, then on Icecast 2.

    python -m tests.bench.listeners [--clients 1000] [--seconds 30]

Case "station": `radio serve` playing one synthesized 5-minute MP3 (decode, 2 s crossfade
into itself, LAME encode, fan-out all in that process and its ffmpeg decoder children).
Case "icecast": icecast2 with a temp config (burst 64 KiB like ours, queue 512 KiB), fed
the same MP3 in real time by `ffmpeg -re -c copy` (no re-encode: its CPU is shown apart).

Each case: the server runs idle for --idle-seconds (CPU with no listeners), then the load
client (tests/bench/loadclient.py, separate processes) opens --clients connections spread
over --ramp seconds, and all of them read for --seconds. The steady-state window starts 5 s
after the last connection was opened (past the 64 KiB burst) and ends with the load; server
CPU (utime+stime from /proc) and each listener's rate are measured over that same window.
"""

from __future__ import annotations

import argparse
import json
import os
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
    cpu_percent,
    cpu_sample,
    icecast_source_url,
    icecast_sources,
    machine_busy_seconds,
    machine_line,
    make_music_mp3,
    markdown_table,
    memory_mb,
    raise_nofile,
    run_benchmark,
    sleep_until,
    start_icecast,
    start_station,
    wait_until,
)

REAL_TIME_SHARE = 0.98  # a listener at >= 98% of 16000 B/s is "at real-time rate"
BURST_SECONDS = 5.0  # the window starts this long after the last connection was opened
MAX_CLIENTS = 20000
MAX_SECONDS = 600


def run_load(port: int, clients: int, seconds: float, ramp: float, workers: int, poll: float,
             watch: dict[str, tuple[int, bool]], tmp: Path) -> dict[str, Any]:  # fmt: skip
    """Run the load client against 127.0.0.1:port/stream; measure `watch` over the window.

    `watch` maps a name to (pid, with_children)."""
    start_at = time.monotonic() + 1.5  # time for the workers to start up
    window_start = start_at + ramp + BURST_SECONDS
    end_at = start_at + ramp + seconds
    outs = [tmp / f"load-{port}-{k}.json" for k in range(workers)]
    shares = [clients // workers + (1 if k < clients % workers else 0) for k in range(workers)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for share, out in zip(shares, outs, strict=True):
            command = [
                sys.executable, "-m", "tests.bench.loadclient", "--port", str(port),
                "--clients", str(share), "--start-at", repr(start_at), "--ramp", str(ramp),
                "--window-start", repr(window_start), "--end-at", repr(end_at),
                "--poll", str(poll), "--out", str(out),
            ]  # fmt: skip
            procs.append(subprocess.Popen(command, start_new_session=True))
        sleep_until(window_start)
        before = {name: cpu_sample(pid) for name, (pid, _) in watch.items()}
        busy_before, busy_t0 = machine_busy_seconds(), time.monotonic()
        sleep_until(end_at)
        after = {name: cpu_sample(pid) for name, (pid, _) in watch.items()}
        busy = 100 * (machine_busy_seconds() - busy_before) / (time.monotonic() - busy_t0)
        memory = {name: memory_mb(pid) for name, (pid, _) in watch.items()}
        for proc in procs:
            proc.wait(timeout=max(30.0, end_at - time.monotonic() + 60))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    reports = [json.loads(out.read_text()) for out in outs]
    listeners = [client for report in reports for client in report["clients"]]
    cpu = {
        name: round(cpu_percent(before[name], after[name], with_children), 2)
        for name, (_, with_children) in watch.items()
    }
    cpu_own = {name: round(cpu_percent(before[name], after[name]), 2) for name in watch}
    return {
        "clients": clients,
        "seconds": seconds,
        "ramp_s": ramp,
        "window_s": round(end_at - window_start, 3),
        "workers": workers,
        "poll_s": poll,
        "cpu_percent": cpu,  # with children where asked
        "cpu_percent_own": cpu_own,  # the process alone
        "memory": memory,
        # Everything that ran on the machine in the window (all cores, % of one core):
        # servers + load client + anything else (another job on the machine shows here).
        "machine_busy_percent": round(busy, 1),
        "client_cpu_percent": [report["client_cpu_percent"] for report in reports],
        "summary": summarize(listeners),
        "listeners": listeners,
    }


def summarize(listeners: list[dict[str, Any]]) -> dict[str, Any]:
    def percentiles(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"p50": None, "p99": None, "max": None}
        array = np.asarray(values)
        return {
            "p50": round(float(np.percentile(array, 50)), 2),
            "p99": round(float(np.percentile(array, 99)), 2),
            "max": round(float(array.max()), 2),
        }

    rates = [c["rate"] for c in listeners if c["rate"] is not None]
    at_rate = sum(1 for rate in rates if rate >= REAL_TIME_SHARE * BYTE_RATE)
    rate_array = np.asarray(rates) / BYTE_RATE if rates else np.asarray([0.0])
    errors = Counter(c["error"] for c in listeners if c["error"])
    return {
        "listeners": len(listeners),
        "with_audio": sum(1 for c in listeners if c["ttfb_audio_ms"] is not None),
        "at_real_time": at_rate,
        "rate_share": {
            "min": round(float(rate_array.min()), 4),
            "p1": round(float(np.percentile(rate_array, 1)), 4),
            "p50": round(float(np.percentile(rate_array, 50)), 4),
            "max": round(float(rate_array.max()), 4),
        },
        "connect_ms": percentiles([c["connect_ms"] for c in listeners if c["connect_ms"]]),
        "ttfb_head_ms": percentiles([c["ttfb_head_ms"] for c in listeners if c["ttfb_head_ms"]]),
        "ttfb_audio_ms": percentiles([c["ttfb_audio_ms"] for c in listeners if c["ttfb_audio_ms"]]),
        "closed_early": sum(1 for c in listeners if c["closed_early"]),
        "errors": dict(errors.most_common(5)),
    }


def idle_cpu(watch: dict[str, tuple[int, bool]], seconds: float) -> dict[str, float]:
    before = {name: cpu_sample(pid) for name, (pid, _) in watch.items()}
    time.sleep(seconds)
    after = {name: cpu_sample(pid) for name, (pid, _) in watch.items()}
    return {
        name: round(cpu_percent(before[name], after[name], with_children), 2)
        for name, (_, with_children) in watch.items()
    }


def station_case(args: argparse.Namespace, mp3: Path, tmp: Path) -> dict[str, Any]:
    root = tmp / "station"
    (root / "media" / "music").mkdir(parents=True)
    os.link(mp3, root / "media" / "music" / mp3.name)
    with Processes() as procs:
        process, port, _ = start_station(procs, root)
        pid = process.pid
        # "server": the station process alone; "server_with_children": plus its ffmpeg decoders.
        watch = {"server": (pid, False), "server_with_children": (pid, True)}
        idle = idle_cpu(watch, args.idle_seconds)
        load = run_load(port, args.clients, args.seconds, args.ramp, args.workers, args.poll,
                        watch, tmp)  # fmt: skip
        load["idle_cpu_percent"] = idle
        return load


def icecast_case(args: argparse.Namespace, mp3: Path, tmp: Path) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="icecast-", dir=tmp))
    with Processes() as procs:
        icecast, port, _ = start_icecast(procs, root, args.clients)
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
        watch = {"server": (icecast.pid, False), "feeder": (feeder.pid, False)}
        idle = idle_cpu(watch, args.idle_seconds)
        load = run_load(port, args.clients, args.seconds, args.ramp, args.workers, args.poll,
                        watch, tmp)  # fmt: skip
        load["idle_cpu_percent"] = idle
        return load


def report(results: dict[str, Any], info: dict[str, Any]) -> str:
    header = [
        "case", "clients", "at real-time", "TTFB head p50/p99 ms", "TTFB audio p50/p99 ms",
        "server CPU %", "incl. children / feeder CPU %", "idle CPU %", "RSS MB (peak)",
        "load client CPU %", "machine busy %",
    ]  # fmt: skip
    rows = []
    for case, r in results["cases"].items():
        s = r["summary"]
        mem = r["memory"]["server"]
        extra = r["cpu_percent"].get("server_with_children", r["cpu_percent"].get("feeder"))
        extra_label = "incl. children" if case == "station" else "feeder"
        rows.append([
            case, r["clients"], f"{s['at_real_time']}/{s['listeners']}",
            f"{s['ttfb_head_ms']['p50']} / {s['ttfb_head_ms']['p99']}",
            f"{s['ttfb_audio_ms']['p50']} / {s['ttfb_audio_ms']['p99']}",
            r["cpu_percent"]["server"], f"{extra:.1f} ({extra_label})",
            r["idle_cpu_percent"]["server"],
            f"{mem['rss_mb']:.1f} ({mem['peak_rss_mb']:.1f})",
            "/".join(f"{c:.1f}" for c in r["client_cpu_percent"] if c is not None),
            r["machine_busy_percent"],
        ])  # fmt: skip
    lines = [
        f"Listeners: {results['clients']} clients × {results['seconds']} s, "
        f"window {next(iter(results['cases'].values()))['window_s']:.1f} s",
        f"Machine: {machine_line(info)}",
        "",
        markdown_table(header, rows),
    ]
    cases = results["cases"]
    if "station" in cases and "icecast" in cases:
        station_cpu = cases["station"]["cpu_percent"]
        ice_cpu = cases["icecast"]["cpu_percent"]
        everything = ice_cpu["server"] + ice_cpu["feeder"]
        if ice_cpu["server"] > 0:
            lines += [
                "",
                "CPU ratio station/icecast: "
                f"{station_cpu['server'] / ice_cpu['server']:.2f} (server processes); "
                f"fan-out only (minus idle) "
                f"{_fanout(cases['station']) / max(_fanout(cases['icecast']), 0.01):.2f}; "
                "everything (station + decoders vs icecast + feeder) "
                f"{station_cpu['server_with_children'] / everything:.2f}",
            ]
    for case, r in cases.items():
        s = r["summary"]
        lines.append(
            f"{case}: rate/real-time min {s['rate_share']['min']} p1 {s['rate_share']['p1']} "
            f"p50 {s['rate_share']['p50']}; connect p99 {s['connect_ms']['p99']} ms; "
            f"closed early {s['closed_early']}; errors {s['errors'] or 'none'}"
        )
    return "\n".join(lines)


def _fanout(case: dict[str, Any]) -> float:
    return float(case["cpu_percent"]["server"] - case["idle_cpu_percent"]["server"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration per case")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds to open all clients")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="load client processes")
    parser.add_argument("--poll", type=float, default=0.1, help="client read interval (s)")
    parser.add_argument("--cases", default="station,icecast")
    parser.add_argument("--track-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    if not 0 < args.clients <= MAX_CLIENTS:
        parser.error(f"--clients: 1 to {MAX_CLIENTS}")
    if not BURST_SECONDS + 3 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds: {BURST_SECONDS + 3} to {MAX_SECONDS}")
    raise_nofile()
    return run_benchmark(
        "listeners",
        {"clients": args.clients, "seconds": args.seconds},
        args.cases,
        {"station": partial(station_case, args), "icecast": partial(icecast_case, args)},
        lambda tmp: make_music_mp3(tmp / "bench.mp3", args.track_seconds),
        f"{args.clients} clients × {args.seconds:g} s",
        report,
    )


if __name__ == "__main__":
    sys.exit(main())
