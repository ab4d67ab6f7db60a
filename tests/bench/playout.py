"""Playout benchmark: CPU of decode + crossfade + normalise + MP3 encode, no listeners.

    python -m tests.bench.playout [--seconds 60]

The same playlist of 4 synthesized MP3 files (30-45 s each, so a 60 s window holds one
or two transitions and decoder start-ups), 2 s crossfade, MP3 128 kbps CBR 44.1 kHz stereo
out, LAME quality 5, in real time:

- station: `radio serve` with those files in media/music (per-track gain from its EBU R128
  scan, applied by the ffmpeg decoder; crossfade in numpy; LAME via lameenc, in the
  station's playout process). CPU counted: the station process, its playout process
  (app.stream.playout_child) and the ffmpeg decoders that one runs, including decoders that
  ended and were reaped during the window; RSS reported for the station process, the
  playout process and all children together.
- liquidsoap: Liquidsoap 2 script: playlist() of the same files, each annotated with the
  same kind of gain (target -16 LUFS minus the file's integrated loudness, measured with
  ffmpeg's ebur128 like our scan) and applied by amplify(); crossfade(duration=2.,
  fade_in=2., fade_out=2.); output.file(%mp3(bitrate=128, samplerate=44100, stereo=true,
  internal_quality=5)) to a temp file, flushed after each write. Liquidsoap's main clock
  is paced by the CPU clock; the growth of the output file over the window (least-squares
  slope of its size) proves the real-time rate. Our station's rate is checked by listening
  to /stream for 12 s after the window.

Both run alone, one after the other; each is measured over --seconds after --warmup seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from tests.bench.common import (
    BYTE_RATE,
    Processes,
    children_rss_mb,
    cpu_percent,
    cpu_sample,
    loudness_lufs,
    machine_busy_seconds,
    machine_line,
    make_music_mp3,
    markdown_table,
    memory_mb,
    run_benchmark,
    start_station,
    wait_until,
)
from tests.processes import playout_pid

TRACKS = [  # (seconds, bpm, key Hz): different material, so different loudness and gains
    (30.0, 120.0, 220.0),
    (35.0, 96.0, 196.0),
    (40.0, 132.0, 246.9),
    (45.0, 108.0, 174.6),
]
TARGET_LUFS = -16.0  # the station's default RADIO_LOUDNESS_TARGET_LUFS
MAX_GAIN_DB = 12.0
MP3_QUALITY = 5  # the station's default RADIO_MP3_QUALITY

LIQUIDSOAP_SCRIPT = """\
settings.init.allow_root.set(true)
settings.log.stdout.set(true)
settings.log.file.set(false)
settings.log.level.set(3)
s = playlist(mode="normal", reload_mode="never", {playlist})
# Per-track gain from the playlist annotation liq_amplify="<x> dB" (EBU R128, ahead of time).
s = amplify(override="liq_amplify", 1., s)
s = crossfade(duration=2., fade_in=2., fade_out=2., s)
output.file(
  %mp3(bitrate=128, samplerate=44100, stereo=true, internal_quality={quality}),
  {out}, fallible=true, flush=true, s)
"""


def make_tracks(directory: Path) -> list[Path]:
    return [
        make_music_mp3(directory / f"track{i + 1}.mp3", seconds, seed=10 + i, bpm=bpm, key_hz=key)
        for i, (seconds, bpm, key) in enumerate(TRACKS)
    ]


def reaped_cpu_seconds(pid: int) -> float:
    """CPU seconds of the children `pid` has reaped (cutime + cstime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def measure(pid: int, warmup: float, seconds: float, with_children: bool,
            output: Path | None = None) -> dict[str, Any]:  # fmt: skip
    time.sleep(warmup)
    playout = playout_pid(pid)
    before = cpu_sample(pid)
    playout_before = cpu_sample(playout) if playout else None
    reaped_before = reaped_cpu_seconds(playout) if playout else 0.0
    busy_before = machine_busy_seconds()
    sizes: list[tuple[float, int]] = []
    while time.monotonic() < before.at + seconds:
        if output is not None:
            sizes.append((time.monotonic(), output.stat().st_size))
        time.sleep(min(0.25, max(0.0, before.at + seconds - time.monotonic())))
    after = cpu_sample(pid)
    busy = 100 * (machine_busy_seconds() - busy_before) / (after.at - before.at)
    window = after.at - before.at
    result: dict[str, Any] = {
        "window_s": round(window, 3),
        "cpu_percent_own": round(cpu_percent(before, after), 2),
        "cpu_percent": round(cpu_percent(before, after, with_children), 2),
        "memory": memory_mb(pid),
        "children_rss_mb": round(children_rss_mb(pid), 1),
    }
    if playout is not None and playout_before is not None:
        # cpu_sample counts a descendant's own time only: the decoders the playout process
        # reaped in the window are added here.
        reaped = reaped_cpu_seconds(playout) - reaped_before
        playout_after = cpu_sample(playout)
        result["cpu_percent"] = round(result["cpu_percent"] + 100 * reaped / window, 2)
        result["playout_cpu_percent"] = round(
            cpu_percent(playout_before, playout_after, with_children=True), 2
        )
        result["playout_cpu_percent_own"] = round(cpu_percent(playout_before, playout_after), 2)
        result["playout_memory"] = memory_mb(playout)
    result["machine_busy_percent"] = round(busy, 1)
    if len(sizes) >= 2:
        # The file grows in buffered steps: the least-squares slope of size over time.
        t, size = np.array(sizes, dtype=float).T
        slope = float(np.polyfit(t - t[0], size, 1)[0])
        result["output_rate_share"] = round(slope / BYTE_RATE, 4)
    return result


def stream_rate_share(port: int, seconds: float = 12.0, skip: float = 2.0) -> float:
    """Listen to our station's /stream for `seconds`; the rate after `skip` s (past the
    burst), as a share of 16000 B/s. Proves the playout kept real time."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        start = time.monotonic()
        total = 0
        first: tuple[float, int] | None = None
        last: tuple[float, int] | None = None
        while (now := time.monotonic()) < start + seconds:
            sock.settimeout(max(0.05, start + seconds - now))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            now = time.monotonic()
            total += len(data)
            if now >= start + skip:
                if first is None:
                    first = (now, total)
                last = (now, total)
    if first is None or last is None or last[0] <= first[0]:
        return 0.0
    return round((last[1] - first[1]) / (last[0] - first[0]) / BYTE_RATE, 4)


def station_case(args: argparse.Namespace, tracks: list[Path], tmp: Path) -> dict[str, Any]:
    root = tmp / "station"
    music = root / "media" / "music"
    music.mkdir(parents=True)
    for track in tracks:
        os.link(track, music / track.name)
    with Processes() as procs:
        process, port, _ = start_station(
            procs, root, mp3_quality=MP3_QUALITY, loudness_target_lufs=TARGET_LUFS
        )
        result = measure(process.pid, args.warmup, args.seconds, with_children=True)
        result["output_rate_share"] = stream_rate_share(port)
        return result


def liquidsoap_case(args: argparse.Namespace, tracks: list[Path], tmp: Path) -> dict[str, Any]:
    binary = shutil.which("liquidsoap")
    if binary is None:
        raise RuntimeError("liquidsoap is not installed: run `bash tests/bench/install.sh`")
    root = tmp / "liquidsoap"
    root.mkdir()
    gains = {}
    lines = []
    for track in tracks:
        gain = min(TARGET_LUFS - loudness_lufs(track), MAX_GAIN_DB)
        gains[track.name] = round(gain, 2)
        lines.append(f'annotate:liq_amplify="{gain:.2f} dB":{track}')
    playlist = root / "playlist.m3u"
    playlist.write_text("\n".join(lines) + "\n")
    out = root / "out.mp3"
    script = root / "playout.liq"
    script.write_text(LIQUIDSOAP_SCRIPT.format(playlist=json.dumps(str(playlist)),
                                               out=json.dumps(str(out)),
                                               quality=MP3_QUALITY))  # fmt: skip
    log = root / "liquidsoap.log"
    with Processes() as procs:
        process = procs.start([binary, str(script)], log, cwd=root)
        wait_until(lambda: out.exists() and out.stat().st_size > 0, 60,
                   "liquidsoap writing", process, log)  # fmt: skip
        result = measure(process.pid, args.warmup, args.seconds, with_children=True, output=out)
    result["gains_db"] = gains
    result["log_tail"] = log.read_text(errors="replace").splitlines()[-15:]
    return result


def report(results: dict[str, Any], info: dict[str, Any]) -> str:
    header = ["case", "window s", "CPU % (process)", "CPU % (incl. children)",
              "playout process CPU % (own; with decoders)", "RSS MB (peak)",
              "playout process RSS MB (peak)", "RSS MB, all processes",
              "output rate / real time", "machine busy %"]  # fmt: skip
    rows = []
    for case, r in results["cases"].items():
        mem = r["memory"]
        playout_mem = r.get("playout_memory")
        rows.append([case, r["window_s"], r["cpu_percent_own"], r["cpu_percent"],
                     f"{r['playout_cpu_percent_own']}; {r['playout_cpu_percent']}"
                     if "playout_cpu_percent" in r else "",
                     f"{mem['rss_mb']:.1f} ({mem['peak_rss_mb']:.1f})",
                     f"{playout_mem['rss_mb']:.1f} ({playout_mem['peak_rss_mb']:.1f})"
                     if playout_mem else "",
                     f"{mem['rss_mb'] + r['children_rss_mb']:.1f}",
                     f"{r.get('output_rate_share', 0.0):.4f}",
                     r["machine_busy_percent"]])  # fmt: skip
    lines = [
        f"Playout: 4 tracks, 2 s crossfade, MP3 128 kbps q{MP3_QUALITY}, "
        f"{results['seconds']:g} s after {results['warmup']:g} s warm-up, no listeners",
        f"Machine: {machine_line(info)}",
        "",
        markdown_table(header, rows),
    ]
    cases = results["cases"]
    if "station" in cases and "liquidsoap" in cases and cases["liquidsoap"]["cpu_percent"] > 0:
        ratio = cases["station"]["cpu_percent"] / cases["liquidsoap"]["cpu_percent"]
        lines += ["", f"CPU ratio station/liquidsoap (incl. children): {ratio:.2f}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--cases", default="station,liquidsoap")
    args = parser.parse_args(argv)
    if not 5 <= args.seconds <= 600 or not 0 <= args.warmup <= 120:
        parser.error("--seconds: 5 to 600; --warmup: 0 to 120")
    return run_benchmark(
        "playout",
        {"seconds": args.seconds, "warmup": args.warmup},
        args.cases,
        {"station": partial(station_case, args), "liquidsoap": partial(liquidsoap_case, args)},
        lambda tmp: make_tracks(tmp / "tracks"),
        f"{args.warmup:g} s warm-up + {args.seconds:g} s",
        report,
    )


if __name__ == "__main__":
    sys.exit(main())
