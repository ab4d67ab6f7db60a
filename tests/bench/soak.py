"""Soak: a real station on air for a long time under everything at once, and what it cost.

    python -m tests.bench.soak [--minutes 30] [--warmup-minutes 5] [--wave-size 100]

For --minutes the station (`radio serve`, JSON log) plays a synthesized library with news
bulletins (RADIO_BULLETIN_EVERY_SONGS) while:
- listeners come and go in waves: every --wave-every seconds a load client
  (tests/bench/loadclient.py) opens --wave-size listeners that stay --wave-life seconds,
  so hundreds are connected at once and some join or leave every minute;
- slow listeners (--slow of them, spread over the run) read an eighth of real time: each
  must be dropped once it falls RADIO_BUFFER_SECONDS behind;
- one listener reads the whole stream, which is decoded afterwards by the real ffmpeg;
- hosts skip, upload tracks and publish stories (spoken by the news desk); listeners vote
  to skip (with the cookie an article page gave them, over their own stream connection) and
  comment on stories;
- every few seconds the memory (RSS and PSS) of every process of the station is read.

It reports stream drift (the decoding listener's audio against the wall clock), gaps
(silence in the decoded stream, by what was on air; decode errors; the longest wait
between arrivals), normal listeners dropped (must be 0), slow listeners dropped (must be
all), memory after warm-up (its slope, MB per hour), what each action answered, and the
warnings and errors in the log. Results go to tests/bench/results/soak-*.json.
tests/test_soak.py runs a 2-minute version in the suite and asserts the same things.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.ffmpeg import ffmpeg_path
from app.stream.http import KEEP_ALIVE_SECONDS
from tests import database
from tests.bench.common import (
    BYTE_RATE,
    Processes,
    load_average,
    machine_info,
    machine_line,
    make_music_mp3,
    raise_nofile,
    start_station,
    terminate_on_sigterm,
    tree_usage,
    write_results,
)
from tests.listen import StreamCapture, whole_frames
from tests.station import ADMIN_TOKEN, bootstrap_admin

# The soak's HTTP clients keep connections alive, as browsers do, but drop an idle one well
# before the station does: with httpx's default (5 s, the station's own limit) a request could
# go out on a connection the station was closing that instant and meet a reset.
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=KEEP_ALIVE_SECONDS / 2)

SLOW_READ_BYTES = 2000  # a slow listener reads this much per second: an eighth of real time
SILENCE_DB = -60  # a gap: the decoded stream under this level ...
SILENCE_SECONDS = 0.5  # ... for at least this long
LOG_PROBLEMS = ("warning", "error", "critical")


@dataclass
class Plan:
    minutes: float = 30.0
    warmup_minutes: float = 5.0  # memory slope is measured after this
    wave_size: int = 100  # listeners per wave
    wave_every: float = 45.0  # seconds between waves
    wave_life: float = 180.0  # seconds each wave stays
    slow: int = 20  # slow listeners over the run
    buffer_seconds: float = 30.0  # RADIO_BUFFER_SECONDS
    skip_every: float = 150.0  # a host skip
    vote_every: float = 20.0  # a listener's skip vote
    voters: int = 3
    comment_every: float = 30.0
    upload_every: float = 300.0
    article_every: float = 240.0
    memory_every: float = 10.0
    metrics_every: float = 30.0
    tracks: int = 8
    track_seconds: tuple[float, float] = (60.0, 100.0)
    bulletin_every_songs: int = 3
    seed: int = 7

    @property
    def seconds(self) -> float:
        return self.minutes * 60


@dataclass
class Slow:
    sock: socket.socket
    started: float
    received: int = 0
    dropped_at: float | None = None
    error: str = ""


class SlowListeners(threading.Thread):
    """Listeners that read SLOW_READ_BYTES a second: the station must drop each of them."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.listeners: list[Slow] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.start()

    def add(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.connect(("127.0.0.1", self.port))
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: soak-slow\r\n\r\n")
        sock.setblocking(False)
        with self._lock:
            self.listeners.append(Slow(sock, time.monotonic()))

    def run(self) -> None:
        step = 0.25
        while not self._stopping.wait(step):
            with self._lock:
                live = [s for s in self.listeners if s.dropped_at is None]
            for slow in live:
                try:
                    data = slow.sock.recv(int(SLOW_READ_BYTES * step))
                except BlockingIOError:
                    continue
                except OSError as error:
                    slow.dropped_at, slow.error = time.monotonic(), str(error)
                    continue
                if not data:
                    slow.dropped_at = time.monotonic()
                else:
                    slow.received += len(data)

    def stop(self) -> None:
        self._stopping.set()
        self.join(5)
        for slow in self.listeners:
            slow.sock.close()


class Voter:
    """A listener with the station's cookie (from an article page) and a stream of its own,
    who votes to skip now and then."""

    def __init__(self, url: str, port: int, slug: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30, limits=CLIENT_LIMITS)
        self.client.get(f"/news/{slug}").raise_for_status()
        cookie = self.client.cookies.get("radio_listener")
        assert cookie, "the article page gave no listener cookie"
        self.stream = StreamCapture(port, extra_headers=f"Cookie: radio_listener={cookie}\r\n")

    def vote(self) -> int:
        return self.client.post("/api/skip").status_code

    def close(self) -> None:
        self.stream.stop()
        self.client.close()


@dataclass
class Tally:
    """What each action answered: {action: {status or error: count}}, and the failures."""

    answers: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def record(self, action: str, outcome: str, failed: bool = False, detail: str = "") -> None:
        self.answers.setdefault(action, Counter())[outcome] += 1
        if failed:
            self.failures.append(f"{action}: {outcome} {detail}"[:300])


def run_soak(plan: Plan, tmp: Path, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the soak in `tmp`; return its results (the report's JSON)."""
    raise_nofile()
    rng = np.random.default_rng(plan.seed)
    root = tmp / "station"
    music = root / "media" / "music"
    say(f"synthesizing {plan.tracks} tracks and {_uploads(plan)} uploads ...")
    for i in range(plan.tracks):
        make_music_mp3(music / f"soak-{i}.mp3", float(rng.uniform(*plan.track_seconds)),
                       seed=plan.seed + i, bpm=float(rng.uniform(90, 140)),
                       key_hz=float(rng.choice([196.0, 220.0, 247.0, 262.0])))  # fmt: skip
    uploads = [make_music_mp3(tmp / "uploads" / f"upload-{i}.mp3",
                              float(rng.uniform(*plan.track_seconds)), seed=100 + i)
               for i in range(_uploads(plan))]  # fmt: skip
    bootstrap_admin(root / "state")
    results: dict[str, Any] = {"benchmark": "soak", "plan": asdict(plan), "machine": machine_info()}
    load_before = load_average()
    with Processes() as procs:
        say("starting the station ...")
        process, port, log = start_station(
            procs, root, log_format="json", sample_news="true",
            bulletin_every_songs=plan.bulletin_every_songs, buffer_seconds=plan.buffer_seconds,
            scan_interval_seconds=3600,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        host = httpx.Client(base_url=url, timeout=60, limits=CLIENT_LIMITS,
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})  # fmt: skip
        tally = Tally()
        slugs = _wait_for_stories(host)
        capture = StreamCapture(port)
        wall_offset = time.time() - time.monotonic()
        slow = SlowListeners(port)
        voters = [Voter(url, port, slugs[i % len(slugs)]) for i in range(plan.voters)]
        waves: list[tuple[subprocess.Popen[bytes], Path]] = []
        memory: list[dict[str, float]] = []
        scrapes: list[dict[str, float]] = []
        loads: list[str] = [load_before]
        start = time.monotonic()
        end = start + plan.seconds
        slow_every = max(1.0, (plan.seconds - _slow_margin(plan)) / max(1, plan.slow))
        due = dict.fromkeys(("wave", "skip", "vote", "comment", "upload", "article", "memory",
                             "metrics", "slow", "load"), start)  # fmt: skip
        due["skip"] += plan.skip_every / 2
        due["upload"] += plan.upload_every / 3
        due["article"] += plan.article_every / 2
        every = {"wave": plan.wave_every, "skip": plan.skip_every, "vote": plan.vote_every,
                 "comment": plan.comment_every, "upload": plan.upload_every,
                 "article": plan.article_every, "memory": plan.memory_every,
                 "metrics": plan.metrics_every, "slow": slow_every, "load": 60.0}  # fmt: skip
        jobs: list[str] = []
        say(f"soaking for {plan.minutes:g} min on {url} ...")
        try:
            while (now := time.monotonic()) < end:
                if process.poll() is not None:
                    raise RuntimeError(f"the station exited with {process.returncode}")
                for action, at in sorted(due.items(), key=lambda kv: kv[1]):
                    if at > now:
                        continue
                    due[action] = at + every[action]
                    if action == "wave" and now + plan.wave_life <= end - 2:
                        waves.append(_wave(port, plan, len(waves), tmp))
                    elif action == "slow" and len(slow.listeners) < plan.slow:
                        slow.add()
                    elif action == "memory":
                        memory.append(_memory(process.pid, now - start))
                    elif action == "metrics":
                        scrapes.append(_scrape(host, now - start, tally))
                    elif action == "load":
                        loads.append(load_average())
                    elif action == "skip":
                        _call(tally, "host skip", lambda: host.post("/api/queue/skip"))
                    elif action == "vote":
                        voter = voters[int(now) % len(voters)]
                        _outcome(tally, "listener vote", voter.vote, ok=(200, 409))
                    elif action == "comment":
                        slug = slugs[int(rng.integers(len(slugs)))]
                        _call(tally, "comment", lambda slug=slug: host.post(
                            f"/news/{slug}/comments", headers={"Accept": "application/json"},
                            data={"name": "Soak", "email": "soak@example.org",
                                  "comment": f"Still listening at {time.strftime('%T')}."}),
                            ok=(202, 429))  # fmt: skip
                    elif action == "upload" and uploads:
                        job = _upload(host, uploads.pop(0), tally)
                        if job:
                            jobs.append(job)
                    elif action == "article":
                        slug = _publish_story(host, tally, len(scrapes))
                        if slug:
                            slugs.append(slug)
                time.sleep(0.1)
            finished = time.monotonic()
            memory.append(_memory(process.pid, finished - start))
            scrapes.append(_scrape(host, finished - start, tally))
            results["jobs"] = _jobs(host, jobs)
        finally:
            capture.stop()
            slow.stop()
            for voter in voters:
                voter.close()
            for wave, _ in waves:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    wave.wait(timeout=60)
                if wave.poll() is None:
                    wave.kill()
                    wave.wait()
            host.close()
        loads.append(load_average())
        results["log"] = _log_problems(log)
    results["plays"] = _plays(root / "state")
    results["duration_s"] = round(finished - start, 1)
    results["load_average"] = {"before": load_before, "samples": loads}
    results["listeners"] = _listeners(waves, slow, voters, plan)
    results["stream"] = _stream(capture, wall_offset, results["plays"], tmp)
    results["memory"] = _memory_report(memory, plan.warmup_minutes * 60)
    results["metrics"] = scrapes[-1] if scrapes else {}
    results["metrics_samples"] = scrapes
    results["actions"] = {action: dict(counts) for action, counts in tally.answers.items()}
    results["failures"] = tally.failures
    return results


def _uploads(plan: Plan) -> int:
    return max(1, int(plan.seconds / plan.upload_every))


def _slow_margin(plan: Plan) -> float:
    """Time a slow listener needs to be dropped: its backlog over what it does not read."""
    backlog = plan.buffer_seconds * BYTE_RATE + 65536 + 2 * 65536 + 65536
    return 1.5 * backlog / (BYTE_RATE - SLOW_READ_BYTES) + 10


def _wait_for_stories(host: httpx.Client, timeout: float = 300) -> list[str]:
    """The sample stories' slugs, once each has its speech (the bulletins need them)."""
    deadline = time.monotonic() + timeout
    while True:
        items = host.get("/api/articles", params={"status": "published", "limit": 100}).json()
        items = items["items"]
        if items and all((a.get("speech") or {}).get("status") == "ready" for a in items):
            return [a["slug"] for a in items]
        if time.monotonic() > deadline:
            raise RuntimeError(f"sample stories not ready: {items}")
        time.sleep(1)


def _wave(port: int, plan: Plan, index: int, tmp: Path) -> tuple[subprocess.Popen[bytes], Path]:
    start_at = time.monotonic() + 1.0
    ramp = min(10.0, plan.wave_life / 4)
    out = tmp / f"wave-{index}.json"
    command = [sys.executable, "-m", "tests.bench.loadclient", "--port", str(port),
               "--clients", str(plan.wave_size), "--start-at", repr(start_at),
               "--ramp", str(ramp), "--window-start", repr(start_at + ramp + 5),
               "--end-at", repr(start_at + plan.wave_life), "--poll", "0.5",
               "--out", str(out)]  # fmt: skip
    return subprocess.Popen(command, start_new_session=True), out


def _call(tally: Tally, action: str, request: Callable[[], httpx.Response],
          ok: tuple[int, ...] = (200, 201, 202)) -> httpx.Response | None:  # fmt: skip
    try:
        response = request()
    except httpx.HTTPError as error:
        tally.record(action, type(error).__name__, failed=True, detail=str(error))
        return None
    tally.record(action, str(response.status_code), failed=response.status_code not in ok,
                 detail=response.text)  # fmt: skip
    return response


def _outcome(tally: Tally, action: str, call: Callable[[], int], ok: tuple[int, ...]) -> None:
    try:
        code = call()
    except httpx.HTTPError as error:
        tally.record(action, type(error).__name__, failed=True, detail=str(error))
        return
    tally.record(action, str(code), failed=code not in ok)


def _upload(host: httpx.Client, path: Path, tally: Tally) -> str | None:
    with path.open("rb") as f:
        response = _call(tally, "upload", lambda: host.post(
            "/api/tracks/upload", files={"file": (path.name, f, "audio/mpeg")}))  # fmt: skip
    return response.json()["job"]["id"] if response and response.status_code == 202 else None


def _publish_story(host: httpx.Client, tally: Tally, n: int) -> str | None:
    body = ("The soak test reports that the station is still on air. Listeners came and went, "
            f"hosts skipped and uploaded, and this is story number {n}. ") * 3  # fmt: skip
    created = _call(tally, "article", lambda: host.post("/api/articles", json={
        "title": f"Soak report {n} at {time.strftime('%H:%M:%S')}", "body": body,
        "category": "Station"}), ok=(201,))  # fmt: skip
    if created is None or created.status_code != 201:
        return None
    article = created.json()
    published = _call(tally, "publish", lambda: host.post(f"/api/articles/{article['id']}/publish"))
    return article["slug"] if published is not None and published.status_code == 200 else None


def _jobs(host: httpx.Client, jobs: list[str], timeout: float = 120) -> dict[str, int]:
    """How the uploads' analysis jobs ended (waiting up to `timeout` for the last ones)."""
    states: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    for job in jobs:
        while True:
            state = host.get(f"/api/jobs/{job}").json().get("state", "unknown")
            if state in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(1)
        states[state] += 1
    return dict(states)


# -- measuring ------------------------------------------------------------------------------


def _memory(pid: int, at: float) -> dict[str, float]:
    """RSS and PSS (MB) of the station's processes, by role: the web process, its playout
    process, the playout's decoders, and anything else (speech renders, analyses)."""
    usage = tree_usage(pid)
    playout = {p.pid for p in usage.processes if _is_playout(p.pid)}
    sample: dict[str, float] = {"t": round(at, 1)}
    for p in usage.processes:
        role = ("web" if p.pid == pid else "playout" if p.pid in playout
                else "decoders" if _parent(p.pid) in playout else "other")  # fmt: skip
        for kind, value in (("rss", p.rss_mb), ("pss", p.pss_mb)):
            key = f"{role}_{kind}"
            sample[key] = round(sample.get(key, 0.0) + value, 2)
    sample["total_rss"] = round(usage.rss_mb, 2)
    sample["total_pss"] = round(usage.pss_mb, 2)
    return sample


def _is_playout(pid: int) -> bool:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
        return b"app.stream.playout_child" in f.read()
    return False


def _parent(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{pid}/stat") as f:
        text = f.read()
        return int(text[text.rindex(")") + 2 :].split()[1])
    return -1


def _memory_report(samples: list[dict[str, float]], warmup: float) -> dict[str, Any]:
    """Per series, after warm-up: first, last, min, max and the least-squares slope (MB/h)."""
    after = [s for s in samples if s["t"] >= warmup]
    report: dict[str, Any] = {"samples": samples, "warmup_s": warmup,
                              "after_warmup": {}}  # fmt: skip
    if len(after) < 3:
        return report
    for key in ("web_pss", "playout_pss", "web_rss", "playout_rss", "total_pss", "total_rss"):
        points = [(s["t"], s[key]) for s in after if key in s]
        if len(points) < 3:
            continue
        t = np.array([p[0] for p in points]) / 3600
        y = np.array([p[1] for p in points])
        slope = float(np.polyfit(t, y, 1)[0])
        report["after_warmup"][key] = {
            "first": y[0], "last": y[-1], "min": float(y.min()), "max": float(y.max()),
            "slope_mb_per_hour": round(slope, 2),
        }  # fmt: skip
    web_playout = [(s["t"], s["web_pss"] + s.get("playout_pss", 0.0)) for s in after]
    t = np.array([p[0] for p in web_playout]) / 3600
    y = np.array([p[1] for p in web_playout])
    report["after_warmup"]["web_playout_pss"] = {
        "first": float(y[0]), "last": float(y[-1]), "min": float(y.min()), "max": float(y.max()),
        "slope_mb_per_hour": round(float(np.polyfit(t, y, 1)[0]), 2),
    }  # fmt: skip
    return report


def _scrape(host: httpx.Client, at: float, tally: Tally) -> dict[str, float]:
    """A few of /metrics' numbers (the station's own view; the soak's oracles are its
    clients and /proc)."""
    response = _call(tally, "metrics", lambda: host.get("/metrics"), ok=(200,))
    if response is None or response.status_code != 200:
        return {"t": round(at, 1)}
    wanted = ("radio_listeners", "radio_listeners_paused", "radio_listeners_dropped_total",
              "radio_playout_catch_ups_total", "radio_playout_late_blocks_total",
              "radio_playout_skipped_audio_total", "radio_playout_restarts_total",
              "radio_playout_lead_seconds", "radio_stream_sent_bytes_total",
              "radio_playout_failed_items_total")  # fmt: skip
    found: dict[str, float] = {"t": round(at, 1)}
    for line in response.text.splitlines():
        name = re.split(r"[{ ]", line, maxsplit=1)[0]
        if name in wanted:
            found[name] = found.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


def _listeners(waves: list[tuple[subprocess.Popen[bytes], Path]], slow: SlowListeners,
               voters: list[Voter], plan: Plan) -> dict[str, Any]:  # fmt: skip
    """Normal listeners (the waves, the voters): none may be dropped or fail; slow ones:
    every one must be dropped."""
    clients: list[dict[str, Any]] = []
    for _, out in waves:
        with contextlib.suppress(OSError, ValueError):
            clients += json.loads(out.read_text())["clients"]
    dropped = [c for c in clients if c["closed_early"]]
    failed = [c for c in clients if c["error"] and not c["closed_early"]]
    rates = [c["rate"] / BYTE_RATE for c in clients if c["rate"] is not None]
    voters_dropped = sum(1 for v in voters if v.stream.closed_at is not None)
    drops = [s.dropped_at - s.started for s in slow.listeners if s.dropped_at is not None]
    return {
        "waves": len(waves),
        "normal": len(clients) + len(voters),
        "normal_dropped": len(dropped) + voters_dropped,
        "normal_failed": len(failed),
        "normal_errors": dict(Counter(c["error"] for c in dropped + failed).most_common(5)),
        "concurrent_planned": round(plan.wave_size * plan.wave_life / plan.wave_every),
        "rate_share": {"min": round(min(rates), 4) if rates else None,
                       "p1": round(float(np.percentile(rates, 1)), 4) if rates else None,
                       "p50": round(float(np.percentile(rates, 50)), 4) if rates else None},
        "below_real_time": sum(1 for r in rates if r < 0.98),
        "slow": len(slow.listeners),
        "slow_dropped": len(drops),
        "slow_received_share": round(
            sum(s.received for s in slow.listeners)
            / max(1.0, sum((s.dropped_at or time.monotonic()) - s.started
                           for s in slow.listeners) * BYTE_RATE), 3),
        "slow_seconds_to_drop": {"min": round(min(drops), 1) if drops else None,
                                 "max": round(max(drops), 1) if drops else None},
    }  # fmt: skip


def _stream(capture: StreamCapture, wall_offset: float, plays: dict[str, Any],
            tmp: Path) -> dict[str, Any]:  # fmt: skip
    """Drift and gaps of the one listener that read it all, decoded by the real ffmpeg."""
    body = whole_frames(bytes(capture.body))
    arrivals = capture.arrivals
    if not arrivals:
        return {"error": "the decoding listener got nothing"}
    first_at = arrivals[0][0]
    burst = max(n for t, n in arrivals if t <= first_at + 0.3)  # the join burst, at once
    last_at, total = arrivals[-1]
    wall = last_at - first_at
    audio_after_burst = (total - burst) / BYTE_RATE
    path = tmp / "capture.mp3"
    path.write_bytes(body)
    decoded, errors, silences = _decode(path)
    gaps = [0.0] + [b[0] - a[0] for a, b in itertools.pairwise(arrivals)]
    kinds = plays.get("timeline", [])
    classified = []
    for start, length in silences:
        wall_at = _arrival_time(arrivals, int(start * BYTE_RATE)) + wall_offset
        classified.append({"at_s": round(start, 2), "seconds": round(length, 2),
                           "on_air": _on_air(kinds, wall_at)})  # fmt: skip
    return {
        "wall_s": round(wall, 2),
        "audio_s": round(total / BYTE_RATE, 2),
        "decoded_s": round(decoded, 2),
        "burst_s": round(burst / BYTE_RATE, 2),
        # Audio received after the burst, less the time it took: 0 for a stream that keeps
        # real time (give or take one 0.4 s write at each end).
        "drift_s": round(audio_after_burst - wall, 3),
        "drift_ppm": round(1e6 * (audio_after_burst - wall) / wall, 1) if wall > 0 else None,
        "decode_errors": errors[:10],
        "decode_error_count": len(errors),
        "silences": classified[:50],
        "silences_in_music": sum(1 for s in classified if s["on_air"] in ("music", "jingle")),
        "max_arrival_gap_s": round(max(gaps), 2),
        "closed_by_station": capture.closed_at is not None,
    }


def _decode(path: Path) -> tuple[float, list[str], list[tuple[float, float]]]:
    """(seconds decoded, decode errors, (start, length) of each silence) by the real ffmpeg."""
    command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info",
               "-f", "mp3", "-i", str(path),
               "-af", f"silencedetect=noise={SILENCE_DB}dB:duration={SILENCE_SECONDS}",
               "-f", "s16le", "-ac", "1", "-ar", "44100", "pipe:1"]  # fmt: skip
    with (tempfile.TemporaryFile() as stderr,
          subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr) as process):  # fmt: skip
        assert process.stdout is not None
        samples = 0
        while chunk := process.stdout.read(1 << 20):
            samples += len(chunk) // 2
        process.wait()
        stderr.seek(0)
        lines = stderr.read().decode(errors="replace").splitlines()
    errors = [line for line in lines if line.startswith(("[error]", "[fatal]"))
              or "[error]" in line[:60]]  # fmt: skip
    silences: list[tuple[float, float]] = []
    opened: float | None = None
    for line in lines:
        if m := re.search(r"silence_start: (-?[\d.]+)", line):
            opened = float(m.group(1))
        elif m := re.search(r"silence_end: ([\d.]+) \| silence_duration: ([\d.]+)", line):
            silences.append((float(m.group(1)) - float(m.group(2)), float(m.group(2))))
            opened = None
    if opened is not None:  # silent to the end
        silences.append((opened, samples / 44100 - opened))
    return samples / 44100, errors, silences


def _arrival_time(arrivals: list[tuple[float, int]], offset: int) -> float:
    for t, total in arrivals:
        if total >= offset:
            return t
    return arrivals[-1][0]


def _on_air(timeline: list[tuple[float, str]], wall_at: float) -> str:
    kind = "unknown"
    for started, what in timeline:
        if started > wall_at:
            break
        kind = what
    return kind


def _plays(state: Path) -> dict[str, Any]:
    """What aired, from the station's database (read directly): counts by kind and the
    timeline."""
    rows = database.rows(state, "select started_at, kind from plays order by started_at")
    timeline = []
    for started, kind in rows:
        when = datetime.fromisoformat(str(started))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        timeline.append((when.timestamp(), kind))
    counts = Counter(kind for _, kind in timeline)
    return {"by_kind": dict(counts), "timeline": timeline}


def _log_problems(log: Path) -> dict[str, Any]:
    """Warnings and errors in the station's JSON log, by event; lines that are not JSON."""
    by_level: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    not_json: list[str] = []
    last: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            not_json.append(line[:300])
            continue
        level = event.get("level", "?")
        by_level[level] += 1
        if level in LOG_PROBLEMS:
            problems[f"{level}: {event.get('event')}"] += 1
            last.append(str(event.get("message"))[:300])
    return {"lines": sum(by_level.values()) + len(not_json), "by_level": dict(by_level),
            "problems": dict(problems.most_common(20)), "last_problems": last[-10:],
            "not_json": not_json[:10], "not_json_count": len(not_json)}  # fmt: skip


# -- the report -----------------------------------------------------------------------------


def report(results: dict[str, Any]) -> str:
    listeners, stream = results["listeners"], results["stream"]
    memory = results["memory"]["after_warmup"]
    plan = results["plan"]

    def slope(key: str) -> str:
        found = memory.get(key)
        if not found:
            return "n/a"
        return (
            f"{found['slope_mb_per_hour']:+.1f} MB/h ({found['first']:.0f} → "
            f"{found['last']:.0f} MB, range {found['min']:.0f}–{found['max']:.0f})"
        )

    lines = [
        f"# Soak: {plan['minutes']:g} min ({results['duration_s']} s)",
        "",
        machine_line(results["machine"]),
        f"load average: before {results['load_average']['before']}; samples "
        f"{', '.join(results['load_average']['samples'])}",
        "",
        f"- listeners: {listeners['normal']} normal in {listeners['waves']} waves "
        f"(~{listeners['concurrent_planned']} at once), dropped {listeners['normal_dropped']}, "
        f"failed {listeners['normal_failed']}, below real time {listeners['below_real_time']} "
        f"(rate share min {listeners['rate_share']['min']}, p1 {listeners['rate_share']['p1']})",
        f"- slow listeners: {listeners['slow_dropped']} of {listeners['slow']} dropped, after "
        f"{listeners['slow_seconds_to_drop']['min']}–{listeners['slow_seconds_to_drop']['max']} s",
        f"- stream drift: {stream.get('drift_s')} s over {stream.get('wall_s')} s "
        f"({stream.get('drift_ppm')} ppm); decoded {stream.get('decoded_s')} s of "
        f"{stream.get('audio_s')} s received",
        f"- gaps: {len(stream.get('silences', []))} silences ≥ {SILENCE_SECONDS} s "
        f"({stream.get('silences_in_music')} in music), "
        f"{stream.get('decode_error_count')} decode errors, longest wait between arrivals "
        f"{stream.get('max_arrival_gap_s')} s",
        f"- memory after {results['memory']['warmup_s']:.0f} s warm-up, PSS web + playout: "
        f"{slope('web_playout_pss')}; web {slope('web_pss')}; playout {slope('playout_pss')}; "
        f"all processes {slope('total_pss')}",
        f"- aired: {results['plays']['by_kind']}",
        f"- actions: {results['actions']}",
        f"- upload jobs: {results.get('jobs')}",
        f"- station metrics at the end: {results['metrics']}",
        f"- log: {results['log']['by_level']}; problems {results['log']['problems']}; "
        f"non-JSON lines {results['log']['not_json_count']}",
        f"- failures: {results['failures'][:10]}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = Plan()
    parser.add_argument("--minutes", type=float, default=defaults.minutes)
    parser.add_argument("--warmup-minutes", type=float, default=defaults.warmup_minutes)
    parser.add_argument("--wave-size", type=int, default=defaults.wave_size)
    parser.add_argument("--wave-every", type=float, default=defaults.wave_every)
    parser.add_argument("--wave-life", type=float, default=defaults.wave_life)
    parser.add_argument("--slow", type=int, default=defaults.slow)
    args = parser.parse_args(argv)
    if not 1 <= args.minutes <= 600 or not 0 < args.wave_size <= 2000:
        parser.error("bounded: 1 to 600 minutes, at most 2000 listeners a wave")
    if args.wave_life >= args.minutes * 60:
        parser.error("--wave-life must be shorter than the run")
    plan = Plan(minutes=args.minutes, warmup_minutes=min(args.warmup_minutes, args.minutes / 2),
                wave_size=args.wave_size, wave_every=args.wave_every,
                wave_life=args.wave_life, slow=args.slow)  # fmt: skip
    with terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="radio-soak-") as tmp:
        results = run_soak(plan, Path(tmp))
    path = write_results("soak", results)
    print()
    print(report(results))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
