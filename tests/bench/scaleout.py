"""Scale-out benchmark: listeners per CPU served by the station directly and through local
Icecast relays it feeds, and the station's CPU for each extra mount and for HLS.

    python -m tests.bench.scaleout [--listeners 1000] [--edges 2] [--seconds 30]
        [--config-seconds 30] [--parts direct,relays,configs] [--quick]

- **direct**: `radio serve` (one synthesized 5-minute MP3, as tests/bench/listeners.py) and
  N listeners on its /stream (the load client of tests/bench/loadclient.py): the station's
  CPU, its whole process tree, idle and loaded.
- **relays**: the same station with `RADIO_RELAYS` pushing /stream to E local icecast2
  servers (the relay outputs of app/stream/relay.py), and the N listeners spread evenly
  over the Icecast edges: CPU of the station tree plus every Icecast, idle and loaded.
- **configs**: the station with no listeners in a baseline configuration (no extra mount,
  `RADIO_HLS=off`), then with one extra mount at a time (`RADIO_MOUNTS=...`) and with
  `RADIO_HLS=/stream`: the station tree's CPU each time, and its difference from the
  baseline. A configuration the station does not serve (the mount or `/hls/live.m3u8` not
  answered) is reported "not available".

From the CPU and the listeners at real-time rate: CPU seconds per listener-hour and
listeners per core, both all told (idle included) and for the listeners alone (loaded minus
idle). `--quick` runs everything smaller, in about three minutes (where a configuration is
not available sooner).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.common import (
    ICECAST_PASSWORD,
    Processes,
    http_get,
    icecast_sources,
    load_average,
    machine_line,
    make_music_mp3,
    markdown_table,
    raise_nofile,
    run_benchmark,
    set_nice,
    share_priority,
    sleep_until,
    start_icecast,
    start_station,
    tree_cpu_percent,
    tree_usage,
    wait_until,
)
from tests.bench.listeners import BURST_SECONDS, CLIENTS_PER_WORKER, DEFAULT_NICE, summarize

PARTS = ("direct", "relays", "configs")
BASELINE = {"hls": "off"}  # RADIO_HLS is on (/stream) by default where HLS has landed
# (name, RADIO_* settings on top of the baseline, the path that shows they took effect)
CONFIGS: list[tuple[str, dict[str, str], str]] = [
    ("baseline: /stream MP3 128k, no HLS", {}, "/stream"),
    ("+ /mobile.mp3 MP3 64k mono", {"mounts": "/mobile.mp3=mp3:64:mono"}, "/mobile.mp3"),
    ("+ /stream.aac AAC-LC 96k", {"mounts": "/stream.aac=aac:96"}, "/stream.aac"),
    ("+ /stream.opus Opus 96k (Ogg)", {"mounts": "/stream.opus=opus:96"}, "/stream.opus"),
    ("+ HLS from /stream (RADIO_HLS=/stream)", {"hls": "/stream"}, "/hls/live.m3u8"),
]
WARMUP_SECONDS = 5.0  # after the station is on air (and the HLS segmenter under way)
# How long a configuration's path may take to answer once the station is on air: a mount at
# once, an HLS playlist after its first segment (4-6 s).
AVAILABLE_SECONDS = {"stream": 5.0, "hls": 30.0}
HOUR = 3600.0


# --- measuring -------------------------------------------------------------------------------


def window_cpu(watch: dict[str, int], seconds: float) -> dict[str, float]:
    """CPU % of a core of each process tree in `watch` over the next `seconds`."""
    before = {name: tree_usage(pid) for name, pid in watch.items()}
    time.sleep(seconds)
    after = {name: tree_usage(pid) for name, pid in watch.items()}
    return {name: round(tree_cpu_percent(before[name], after[name]), 2) for name in watch}


def run_listeners(args: argparse.Namespace, ports: list[int], watch: dict[str, int],
                  tmp: Path) -> dict[str, Any]:  # fmt: skip
    """`args.listeners` listeners spread evenly over `ports` (each /stream), opened at
    --ramp-rate, measured over a window of --seconds from BURST_SECONDS after the last one
    (as tests/bench/listeners.py does); the trees in `watch` measured over the same window."""
    clients = args.listeners
    ramp = clients / args.ramp_rate
    start_at = time.monotonic() + 1.5
    window_start = start_at + ramp + BURST_SECONDS
    end_at = window_start + args.seconds
    shares = [clients // len(ports) + (1 if k < clients % len(ports) else 0)
              for k in range(len(ports))]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    outs: list[Path] = []
    try:
        for port, share in zip(ports, shares, strict=True):
            workers = max(1, math.ceil(share / CLIENTS_PER_WORKER))
            for k in range(workers):
                part = share // workers + (1 if k < share % workers else 0)
                out = tmp / f"scaleout-{port}-{k}-{time.monotonic_ns()}.json"
                outs.append(out)
                command = [
                    sys.executable, "-m", "tests.bench.loadclient", "--port", str(port),
                    "--clients", str(part), "--start-at", repr(start_at + ramp * k / clients),
                    "--ramp", str(ramp), "--window-start", repr(window_start),
                    "--end-at", repr(end_at), "--poll", str(args.poll), "--out", str(out),
                ]  # fmt: skip
                procs.append(subprocess.Popen(command, start_new_session=True))
                share_priority(procs[-1].pid)
        sleep_until(window_start)
        cpu = window_cpu(watch, end_at - time.monotonic())
        for proc in procs:
            proc.wait(timeout=120)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    reports = [json.loads(out.read_text()) for out in outs]
    listeners = [client for report in reports for client in report["clients"]]
    return {
        "cpu_percent": cpu,
        "client_cpu_percent": [r["client_cpu_percent"] for r in reports],
        "summary": summarize(listeners, end_at - window_start, args.poll),
    }


def serves(port: int, path: str) -> bool:
    """Whether the station answers `path` with 200 and content (a stream's first bytes, or
    an HLS playlist)."""
    if path.endswith(".m3u8"):
        return b"#EXTM3U" in http_get(f"http://127.0.0.1:{port}{path}")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 1024:
            chunk = sock.recv(65536)
            if not chunk:
                return False
            data += chunk
        return data.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))


def _station_root(tmp: Path, name: str, mp3: Path) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"scaleout-{name}-", dir=tmp))
    (root / "media" / "music").mkdir(parents=True)
    os.link(mp3, root / "media" / "music" / mp3.name)
    return root


# --- the parts -------------------------------------------------------------------------------


def direct_part(args: argparse.Namespace, mp3: Path, tmp: Path) -> dict[str, Any]:
    load_before = load_average()
    with Processes() as procs:
        station, port, _ = start_station(procs, _station_root(tmp, "direct", mp3), **BASELINE)
        watch = {"station": station.pid}
        time.sleep(WARMUP_SECONDS)
        idle = window_cpu(watch, args.idle_seconds)
        loaded = run_listeners(args, [port], watch, tmp)
    return {"part": "direct", "edges": 0, "idle_cpu_percent": idle, **loaded,
            "load_average": {"before": load_before, "after": load_average()}}  # fmt: skip


def relays_part(args: argparse.Namespace, mp3: Path, tmp: Path) -> dict[str, Any]:
    load_before = load_average()
    with Processes() as procs:
        edges = []
        for k in range(args.edges):
            root = Path(tempfile.mkdtemp(prefix=f"scaleout-icecast-{k}-", dir=tmp))
            process, port, _ = start_icecast(procs, root, args.listeners)
            edges.append((process, port))
        relays = [{"url": f"http://source:{ICECAST_PASSWORD}@127.0.0.1:{port}/stream",
                   "name": f"edge-{k}"} for k, (_, port) in enumerate(edges)]  # fmt: skip
        station, _, log = start_station(procs, _station_root(tmp, "relays", mp3),
                                        relays=json.dumps(relays), **BASELINE)  # fmt: skip

        def all_fed() -> bool:
            return all(any(s.get("listenurl", "").endswith("/stream") for s in icecast_sources(p))
                       for _, p in edges)  # fmt: skip

        wait_until(all_fed, 60, "every Icecast edge fed by the station", station, log)
        time.sleep(WARMUP_SECONDS)  # past Icecast's 64 KiB burst buffer filling
        watch = {
            "station": station.pid,
            **{f"icecast-{k}": process.pid for k, (process, _) in enumerate(edges)},
        }
        idle = window_cpu(watch, args.idle_seconds)
        loaded = run_listeners(args, [port for _, port in edges], watch, tmp)
    return {"part": "relays", "edges": args.edges, "idle_cpu_percent": idle, **loaded,
            "load_average": {"before": load_before, "after": load_average()}}  # fmt: skip


def configs_part(args: argparse.Namespace, mp3: Path, tmp: Path) -> dict[str, Any]:
    rows = []
    for name, settings, path in CONFIGS:
        load_before = load_average()
        row: dict[str, Any] = {"config": name, "settings": settings, "path": path}
        print(f"  configuration: {name}", flush=True)
        with Processes() as procs:
            root = _station_root(tmp, "config", mp3)
            try:
                station, port, log = start_station(procs, root, **{**BASELINE, **settings})
                patience = AVAILABLE_SECONDS["hls" if path.endswith(".m3u8") else "stream"]
                wait_until(lambda: serves(port, path), patience,  # noqa: B023
                           f"{path} answered", station, log)  # fmt: skip
            except RuntimeError as error:
                row["available"] = False
                row["why"] = str(error).splitlines()[0][:200]
                rows.append(row)
                continue
            row["available"] = True
            time.sleep(WARMUP_SECONDS)
            cpu = window_cpu({"station": station.pid}, args.config_seconds)["station"]
            row["cpu_percent"] = cpu
            row["processes"] = [p.name for p in tree_usage(station.pid).processes]
        row["load_average"] = {"before": load_before, "after": load_average()}
        rows.append(row)
    return {"part": "configs", "seconds": args.config_seconds, "rows": rows}


# --- the report ------------------------------------------------------------------------------


def _per_listener(cpu_percent: float, listeners: int) -> tuple[str, str]:
    """(CPU seconds per listener-hour, listeners per core) for `listeners` at `cpu_percent`."""
    if listeners <= 0 or cpu_percent <= 0:
        return "–", "–"
    per_hour = cpu_percent / 100 * HOUR / listeners
    return f"{per_hour:.2f}", f"{listeners * 100 / cpu_percent:,.0f}"


def listeners_table(parts: list[dict[str, Any]]) -> str:
    rows = []
    for part in parts:
        served = part["summary"]["at_real_time"]
        station = part["cpu_percent"]["station"]
        icecast = sum(v for k, v in part["cpu_percent"].items() if k.startswith("icecast"))
        total = station + icecast
        idle = sum(part["idle_cpu_percent"].values())
        per_hour, per_core = _per_listener(total, served)
        marginal_hour, marginal_core = _per_listener(total - idle, served)
        how = "station alone" if part["part"] == "direct" else f"through {part['edges']} Icecast"
        rows.append([how, f"{served}/{part['summary']['listeners']}", f"{station:.1f}",
                     f"{icecast:.1f}" if part["edges"] else "–", f"{idle:.1f}", f"{total:.1f}",
                     per_hour, per_core, marginal_hour, marginal_core,
                     _loads(part["load_average"])])  # fmt: skip
    header = ["served", "listeners at real-time rate", "station CPU %", "Icecast CPU % (all)",
              "idle CPU % (no listeners)", "total CPU %", "CPU s per listener-hour",
              "listeners per core", "CPU s per listener-hour (listeners only)",
              "listeners per core (listeners only)", "load average"]  # fmt: skip
    return markdown_table(header, rows)


def _loads(load: dict[str, str]) -> str:
    return f"{load['before']} → {load['after']}"


def configs_table(part: dict[str, Any]) -> str:
    rows = part["rows"]
    baseline = rows[0].get("cpu_percent") if rows and rows[0].get("available") else None
    out = []
    for row in rows:
        if not row.get("available"):
            out.append([row["config"], "not available", "–", "–", "–"])
            continue
        cpu = row["cpu_percent"]
        diff = "–" if baseline is None or row is rows[0] else f"{cpu - baseline:+.1f}"
        out.append([row["config"], f"{cpu:.1f}", diff, str(len(row["processes"])),
                    _loads(row["load_average"])])  # fmt: skip
    header = ["station configuration (no listeners)", "station CPU % (all its processes)",
              "difference from the baseline", "processes", "load average"]  # fmt: skip
    return markdown_table(header, out)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return f"load average: {load_average()}"


def report(results: dict[str, Any], info: dict[str, Any]) -> str:
    cases = results["cases"]
    lines = [
        f"Scale-out: {results['listeners']} listeners, window {results['seconds']:g} s; "
        f"{results['edges']} Icecast edge(s); each configuration measured "
        f"{results['config_seconds']:g} s",
        f"Machine: {machine_line(info)}",
        f"uptime at the start: {results['uptime_before']}",
        f"uptime at the end: {uptime()}",
    ]
    served = [cases[p] for p in ("direct", "relays") if p in cases]
    if served:
        lines += ["", "### Listeners per CPU", "", listeners_table(served)]
        for part in served:
            s = part["summary"]
            lines.append(f"{part['part']}: rate ÷ real time min / p50 "
                         f"{s['rate_share']['min']:.4f} / {s['rate_share']['p50']:.4f}; "
                         f"errors {s['errors'] or 'none'}; "
                         f"CPU by tree {part['cpu_percent']}")  # fmt: skip
    if "configs" in cases:
        lines += ["", "### CPU of each extra mount and of HLS", "", configs_table(cases["configs"])]
        for row in cases["configs"]["rows"]:
            if not row.get("available"):
                lines.append(f"{row['config']}: not available ({row.get('why', '')})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--edges", type=int, default=2, help="Icecast servers the station feeds")
    parser.add_argument("--seconds", type=float, default=30.0, help="the listeners' window")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--config-seconds", type=float, default=30.0,
                        help="window of each station configuration")  # fmt: skip
    parser.add_argument("--ramp-rate", type=float, default=500.0)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--nice", type=int, default=DEFAULT_NICE)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--quick", action="store_true",
                        help="200 listeners, 1 edge, shorter windows: about 3 minutes")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.listeners, args.edges = min(args.listeners, 200), 1
        # 20 s: the shortest window the 98 % real-time check holds for (listeners.py)
        args.seconds, args.config_seconds = 20.0, 10.0
        args.idle_seconds = 5.0
    if not 1 <= args.listeners <= 20000:
        parser.error("--listeners: 1 to 20000")
    if not 1 <= args.edges <= 8:
        parser.error("--edges: 1 to 8")
    if not (3 <= args.seconds <= 600 and 3 <= args.config_seconds <= 600):
        parser.error("--seconds, --config-seconds: 3 to 600")
    parts = args.parts.split(",")
    if not parts or any(part not in PARTS for part in parts):
        parser.error(f"--parts: some of {','.join(PARTS)}")
    nice = set_nice(args.nice)
    raise_nofile()
    runners = {"direct": direct_part, "relays": relays_part, "configs": configs_part}
    return run_benchmark(
        "scaleout",
        {"listeners": args.listeners, "edges": args.edges, "seconds": args.seconds,
         "config_seconds": args.config_seconds, "nice": nice, "uptime_before": uptime()},
        ",".join(parts),
        {part: (lambda material, tmp, run=runners[part]: run(args, material, tmp))
         for part in parts},
        lambda tmp: make_music_mp3(tmp / "bench.mp3", 300.0),
        f"{args.listeners} listeners, {args.edges} edge(s)",
        report,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
