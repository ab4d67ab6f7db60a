"""Shared pieces of the benchmarks: test audio, processes, /proc readings, reports.

Everything here runs on loopback only, and every process a benchmark starts is put in its
own process group and killed (group and all) when the benchmark ends, even on errors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.ffmpeg import ffmpeg_path
from tests import database
from tests.processes import descendants

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPO_ROOT = BENCH_DIR.parent.parent
SAMPLE_RATE = 44100
BYTE_RATE = 128_000 // 8  # the stream: MP3 128 kbps CBR
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
ICECAST_PASSWORD = "benchpass"


# --- the machine -------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_mb": round(mem_kb / 1024),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "icecast": _version(["icecast2", "-v"]),
        "liquidsoap": _version(["liquidsoap", "--version"]),
    }


def _version(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return "not installed"
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"{info['date']} · {info['nproc']} CPU ({info['cpu_model']}) · "
        f"{info['mem_total_mb']} MB RAM · kernel {info['kernel']} · Python {info['python']} · "
        f"{info['icecast']} · {info['liquidsoap']}"
    )


NOFILE_WANTED = 65536  # open files per process: 10 000 listeners need 10 000 sockets and more


def raise_nofile(wanted: int = NOFILE_WANTED) -> int:
    """Raise this process's open-files limit to `wanted` (soft and hard) where allowed, else
    the soft limit to the hard one; returns the soft limit now in force. Only root (or
    CAP_SYS_RESOURCE) may raise the hard limit, up to /proc/sys/fs/nr_open; children inherit
    the limits, so the servers and load clients get them when started after this call."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    with contextlib.suppress(OSError, ValueError):  # not allowed: keep the hard limit
        target = max(wanted, hard) if hard != resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, target))
        return wanted
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def set_nice(nice: int) -> int:
    """Set this process's scheduling priority (children inherit it); returns the one in force.
    A priority above normal (below 0) needs root; without it the current one is kept."""
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return os.getpriority(os.PRIO_PROCESS, 0)


def share_priority(pid: int) -> None:
    """Give process `pid`'s session our priority. With autogroup scheduling (Linux's default
        for desktops and many VMs: /proc/sys/kernel/sched_autogroup_enabled) the CPU is first
        shared between sessions, each at its autogroup's nice (0 for a new one), and a process's
        own nice only counts inside its session; every process we start has a session of its own
        (start_new_session, to kill its group), so it gets our priority here. (Only the processes
    we start: the session we were started from keeps its own.)"""
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    if nice < 0:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(nice))


def open_files_limit(pid: int) -> int | None:
    """The soft open-files limit a running process has ("Max open files" in /proc/PID/limits)."""
    with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                value = line.split()[3]
                return -1 if value == "unlimited" else int(value)
    return None


def load_average() -> str:
    """`uptime`'s load averages (1, 5, 15 min): how busy the machine was around a run."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- test audio ----------------------------------------------------------------------------

_SCALE = [0, 2, 3, 5, 7, 8, 10]  # natural minor


def _music_block(rng: np.random.Generator, seconds: float, bpm: float, key_hz: float,
                 start: int) -> np.ndarray:  # fmt: skip
    """One bar-ish block of music-like audio: a chord with harmonics, bass, kick, hi-hat."""
    n = int(seconds * SAMPLE_RATE)
    t = (start + np.arange(n)) / SAMPLE_RATE
    local = np.arange(n) / SAMPLE_RATE
    root = int(rng.choice([0, 3, 5, 7, 8, 10]))
    left = np.zeros(n)
    right = np.zeros(n)
    for step, pan in ((0, 0.3), (2, 0.7), (4, 0.5)):  # a triad, spread across the stereo field
        semis = root + _SCALE[step % 7] + 12 * (step // 7)
        freq = key_hz * 2 ** (semis / 12) * (1 + rng.normal(0, 0.001))
        note = sum(np.sin(2 * np.pi * freq * h * t + rng.uniform(0, 6)) / h**1.3
                   for h in range(1, 7))  # fmt: skip
        note *= 0.12 * (0.6 + 0.4 * np.exp(-local * 1.5))
        left += note * (1 - pan)
        right += note * pan
    beat = 60.0 / bpm
    phase = local % beat
    bass_freq = key_hz / 2 * 2 ** (root / 12)
    bass = 0.25 * np.sin(2 * np.pi * bass_freq * t) * np.exp(-phase * 3)
    kick = 0.5 * np.sin(2 * np.pi * (50 + 120 * np.exp(-phase * 30)) * phase) * np.exp(-phase * 12)
    half = local % (beat / 2)
    hat = rng.normal(0, 1, n)
    hat = np.diff(hat, prepend=0.0) * 0.05 * np.exp(-half * 60)  # a crude high-pass
    melody_freq = key_hz * 2 * 2 ** (_SCALE[int(rng.integers(0, 7))] / 12)
    melody = 0.08 * np.sin(2 * np.pi * melody_freq * t) * (0.5 + 0.5 * np.sin(2 * np.pi * t / 3))
    left += bass + kick + hat * 0.8 + melody * 0.7
    right += bass + kick + hat + melody * 0.3
    return np.stack([left, right], axis=1) * 0.8


def make_music_mp3(path: Path, seconds: float, seed: int = 1, bpm: float = 120.0,
                   key_hz: float = 220.0) -> Path:  # fmt: skip
    """Synthesize `seconds` of music-like stereo audio, MP3 128 kbps CBR 44.1 kHz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    command = [
        ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "2", "-i", "pipe:0",
        "-c:a", "libmp3lame", "-b:a", "128k", "-ar", str(SAMPLE_RATE), "-ac", "2",
        "-map_metadata", "-1", "-id3v2_version", "0", "-write_xing", "0", str(path),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert process.stdin is not None
    block = 4 * 60.0 / bpm  # one bar
    done = 0
    total = int(seconds * SAMPLE_RATE)
    try:
        while done < total:
            pcm = _music_block(rng, block, bpm, key_hz, done)[: total - done]
            process.stdin.write(pcm.astype("<f4").tobytes())
            done += len(pcm)
    finally:
        process.stdin.close()
        if process.wait(120) != 0:
            raise RuntimeError(f"ffmpeg failed to write {path}")
    return path


def loudness_lufs(path: Path) -> float:
    """Integrated loudness (EBU R128) of a file, as the station's library scan measures it."""
    out = subprocess.run(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-i", str(path), "-af", "ebur128",
         "-f", "null", "-"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    for line in reversed(out.stderr.splitlines()):
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "I:" and parts[2] == "LUFS":
            return float(parts[1])
    raise RuntimeError(f"no loudness for {path}")


# --- processes -----------------------------------------------------------------------------


class Processes:
    """Starts processes in their own process groups; `close()` kills every group."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, command: Sequence[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
        out = log.open("ab")
        try:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=raise_nofile,
                **kwargs,
            )
        finally:
            out.close()
        share_priority(process.pid)
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 8.0) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        # The group may hold children (ffmpeg decoders) even after the leader has gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)

    def close(self) -> None:
        for process in reversed(self.started):
            self.stop(process)
        self.started.clear()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so that `finally` blocks still kill our processes."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def http_get(url: str, timeout: float = 5.0) -> bytes:
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data: bytes = response.read()
        return data


def wait_until(condition: Any, timeout: float, what: str, process: Any = None,
               log: Path | None = None) -> Any:  # fmt: skip
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"{what}: process exited with {process.returncode}\n{tail}")
        try:
            result = condition()
            if result:
                return result
        except Exception as error:  # any failure means "not yet"
            last_error = error
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log else ""
    raise RuntimeError(f"timed out waiting for {what} (last error: {last_error})\n{tail}")


# --- the station ---------------------------------------------------------------------------


def start_station(procs: Processes, root: Path, **settings: Any) -> tuple[Any, int, Path]:
    """`radio serve` with media/ and state/ under `root`; returns (process, port, log)."""
    port = free_port()
    env = {
        **os.environ,
        "RADIO_MEDIA_DIR": str(root / "media"),
        "RADIO_STATE_DIR": str(root / "state"),
        "RADIO_PLAYLISTS_DIR": str(root / "playlists"),
        "RADIO_PORT": str(port),
        "RADIO_HOST": "127.0.0.1",
        "RADIO_DEMO_LIBRARY": "false",
        "RADIO_JINGLE_EVERY": "0",
        "RADIO_CROSSFADE_SECONDS": "2",
        # A rescan every 30 s (the default) is library upkeep, not playout or fan-out.
        "RADIO_SCAN_INTERVAL_SECONDS": "3600",
        # Icecast and Liquidsoap read no news: neither does the station while measured.
        "RADIO_SAMPLE_NEWS": "false",
        "RADIO_BULLETIN_MINUTE": "-1",
    }
    if database.POSTGRES:  # under pytest on PostgreSQL (tests/test_soak.py runs the soak)
        env["RADIO_DATABASE_URL"] = database.url_for(root / "state")
    env.update({f"RADIO_{key.upper()}": str(value) for key, value in settings.items()})
    log = root / "station.log"
    process = procs.start([sys.executable, "-m", "app.cli", "serve"], log, env=env,
                          cwd=REPO_ROOT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def playing_music() -> bool:
        state = json.loads(http_get(base + "/api/now-playing"))
        return bool((state.get("current") or {}).get("kind") == "music")

    wait_until(playing_music, 120, "station playing music", process, log)
    return process, port, log


# --- icecast -------------------------------------------------------------------------------

ICECAST_CONFIG = """<icecast>
  <location>benchmark</location>
  <admin>bench@localhost</admin>
  <limits>
    <clients>{clients}</clients>
    <sources>4</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect>
    <burst-size>65536</burst-size>
  </limits>
  <authentication>
    <source-password>{password}</source-password>
    <relay-password>{password}</relay-password>
    <admin-user>admin</admin-user>
    <admin-password>{password}</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket>
    <port>{port}</port>
    <bind-address>127.0.0.1</bind-address>
  </listen-socket>
  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir>
    <logdir>{logdir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>2</loglevel>
  </logging>
  <security>
    <chroot>0</chroot>
    {changeowner}
  </security>
</icecast>
"""


def start_icecast(procs: Processes, root: Path, clients: int) -> tuple[Any, int, Path]:
    """icecast2 with its own config on a free port; returns (process, port, log)."""
    binary = shutil.which("icecast2") or shutil.which("icecast")
    if binary is None:
        raise RuntimeError("icecast2 is not installed: run `bash tests/bench/install.sh`")
    port = free_port()
    logdir = root / "icecast-log"
    logdir.mkdir(parents=True, exist_ok=True)
    changeowner = ""
    if os.geteuid() == 0:
        # Icecast refuses to run as root; it drops to nobody, who must reach its log dir.
        changeowner = "<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
        # (`root` is in mkdtemp directories under /tmp: 0700 until we open them up.)
        tmp = Path(tempfile.gettempdir()).resolve()
        for directory in (root.resolve(), *root.resolve().parents):
            if tmp not in directory.parents:
                break
            directory.chmod(0o755)
        logdir.chmod(0o777)
    config = root / "icecast.xml"
    config.write_text(ICECAST_CONFIG.format(clients=clients + 100, password=ICECAST_PASSWORD,
                                            port=port, logdir=logdir,
                                            changeowner=changeowner))  # fmt: skip
    log = root / "icecast.out"
    process = procs.start([binary, "-c", str(config)], log)
    wait_until(lambda: http_get(f"http://127.0.0.1:{port}/status-json.xsl"), 20,
               "icecast up", process, log)  # fmt: skip
    return process, port, log


def icecast_source_url(port: int, mount: str) -> str:
    return f"icecast://source:{ICECAST_PASSWORD}@127.0.0.1:{port}{mount}"


def icecast_sources(port: int) -> list[dict[str, Any]]:
    stats = json.loads(http_get(f"http://127.0.0.1:{port}/status-json.xsl"))
    sources = stats.get("icestats", {}).get("source") or []
    return sources if isinstance(sources, list) else [sources]


# --- /proc ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    at: float  # time.monotonic()
    own: float  # CPU seconds of the process itself (utime + stime, all threads)
    with_children: float  # plus reaped children (cutime + cstime) and live descendants


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def cpu_sample(pid: int) -> CpuSample:
    at = time.monotonic()
    fields = _stat_fields(pid)
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    own = (utime + stime) / CLK_TCK
    total = own + (cutime + cstime) / CLK_TCK
    for child in descendants(pid):
        with contextlib.suppress(OSError, ValueError):
            child_fields = _stat_fields(child)
            # Only the child's own time: its reaped children are counted by their parents.
            total += (int(child_fields[11]) + int(child_fields[12])) / CLK_TCK
    return CpuSample(at, own, total)


def cpu_percent(start: CpuSample, end: CpuSample, with_children: bool = False) -> float:
    """CPU use between two samples, in % of one core."""
    used = (end.with_children - start.with_children) if with_children else (end.own - start.own)
    return 100.0 * used / (end.at - start.at)


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of one process, in MB (10^6 bytes)."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024 / 1e6
    return {"rss_mb": values.get("VmRSS", 0.0), "peak_rss_mb": values.get("VmHWM", 0.0)}


def children_rss_mb(pid: int) -> float:
    total = 0.0
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            total += memory_mb(child)["rss_mb"]
    return total


@dataclass(frozen=True)
class ProcessUsage:
    pid: int
    name: str  # the command name from /proc/PID/comm
    rss_mb: float  # resident set (10^6 bytes)
    pss_mb: float  # proportional set: shared pages divided among the processes sharing them
    cpu_seconds: float  # utime + stime + the CPU of its reaped (waited-for) children


@dataclass(frozen=True)
class TreeUsage:
    """RSS, PSS and CPU time of a process and all its live descendants, at one moment."""

    at: float  # time.monotonic()
    processes: tuple[ProcessUsage, ...]  # the root first

    @property
    def rss_mb(self) -> float:
        """Sum of RSS: what `ps` would add up (shared pages counted once per process)."""
        return sum(p.rss_mb for p in self.processes)

    @property
    def pss_mb(self) -> float:
        """Sum of PSS: the tree's real share of memory (shared pages counted once)."""
        return sum(p.pss_mb for p in self.processes)

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds of the whole tree since the root started, including every child that
        has already exited (as long as its parent in the tree waited for it)."""
        return sum(p.cpu_seconds for p in self.processes)


def _process_usage(pid: int) -> ProcessUsage:
    fields = _stat_fields(pid)
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    with open(f"/proc/{pid}/comm") as f:
        name = f.read().strip()
    rss_kb = pss_kb = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key == "Rss":
                    rss_kb = int(rest.split()[0])
                elif key == "Pss":
                    pss_kb = int(rest.split()[0])
    except OSError:  # no smaps_rollup (old kernel, a zombie): RSS only, PSS taken as RSS
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss_kb = pss_kb = int(line.split()[1])
    return ProcessUsage(pid=pid, name=name, rss_mb=rss_kb * 1024 / 1e6,
                        pss_mb=pss_kb * 1024 / 1e6,
                        cpu_seconds=(utime + stime + cutime + cstime) / CLK_TCK)  # fmt: skip


def tree_usage(pid: int) -> TreeUsage:
    """RSS, PSS and CPU time of process `pid` and every live descendant (children,
    grandchildren, ...), from /proc. CPU counts each process's own time plus that of its
    children it has reaped, so a child that ran and exited between two samples still counts
    (in its parent's total) and nothing is counted twice. Raises OSError if `pid` is gone;
    descendants that exit while being read are skipped."""
    at = time.monotonic()
    processes = [_process_usage(pid)]
    for child in descendants(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            processes.append(_process_usage(child))
    return TreeUsage(at=at, processes=tuple(processes))


def tree_cpu_percent(start: TreeUsage, end: TreeUsage) -> float:
    """CPU use of a process tree between two `tree_usage` samples, in % of one core."""
    return 100.0 * (end.cpu_seconds - start.cpu_seconds) / (end.at - start.at)


def listen_drops() -> int:
    """SYNs and connections this machine's TCP listeners dropped because their accept queue
    was full (TcpExt ListenDrops in /proc/net/netstat): machine-wide, since boot."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=False))["ListenDrops"])
    return 0


def tree_wait_seconds(pid: int) -> float:
    """Seconds the threads of a process and its live descendants have spent runnable but
    waiting for a CPU (the run queue delay in /proc/PID/task/TID/schedstat, summed over
    threads). If it grows over a window the machine, not the process, held it back."""
    total_ns = 0
    for process in (pid, *descendants(pid)):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{process}/task"):
                path = f"/proc/{process}/task/{task}/schedstat"
                with contextlib.suppress(OSError, ValueError, IndexError), open(path) as f:
                    total_ns += int(f.read().split()[1])
    return total_ns / 1e9


def sleep_until(at: float) -> None:
    delay = at - time.monotonic()
    if delay > 0:
        time.sleep(delay)


# --- reports -------------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


Case = Callable[[Any, Path], dict[str, Any]]  # (what prepare made, a temp dir) -> its numbers


def run_benchmark(name: str, parameters: dict[str, Any], selected: str, cases: dict[str, Case],
                  prepare: Callable[[Path], Any], banner: str,
                  report: Callable[[dict[str, Any], dict[str, Any]], str]) -> int:  # fmt: skip
    """Run the selected cases one after the other on the same prepared material, then write
    the JSON results and print the report with the machine's description."""
    info = machine_info()
    results: dict[str, Any] = {"benchmark": name, "machine": info, **parameters, "cases": {}}
    with terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="radio-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        material = prepare(tmp)
        for case in selected.split(","):
            print(f"running {case}: {banner} ...", flush=True)
            results["cases"][case] = cases[case](material, tmp)
    path = write_results(name, results)
    print()
    print(report(results, info))
    print(f"\nresults: {path}")
    return 0
