"""The processes under a station, read from /proc: the one place the tests and benchmarks
find a station's children (its playout process; the decoders and encoders under that; the
workers that render and exit) and read a process's memory.

A process or thread that ends while it is being read is left out, never an error: a
station's children come and go all the time."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

PLAYOUT = b"app.stream.playout_child"  # the playout process runs `python -m` this module


def children(pid: int) -> list[int]:
    """The live children of `pid`, started from any of its threads; none once it has ended."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(child) for child in f.read().split()]
        except OSError:
            continue  # the thread ended meanwhile
    return found


def descendants(pid: int) -> list[int]:
    """Every live process under `pid`: its children, theirs, and so on."""
    found: list[int] = []
    todo = [pid]
    while todo:
        below = children(todo.pop())
        found += below
        todo += below
    return found


def command_line(pid: int) -> list[bytes]:
    """The arguments `pid` was started with (the program first); none once it has ended."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[:-1]
    except OSError:
        return []


def playout_pid(station_pid: int) -> int | None:
    """The playout process of the station whose web process is `station_pid`, if running."""
    return next((pid for pid in children(station_pid) if PLAYOUT in command_line(pid)), None)


def rss_bytes(pid: int) -> int:
    """The resident memory of `pid` now (VmRSS), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@contextmanager
def peak_rss(pid: int) -> Iterator[dict[str, int]]:
    """Samples the RSS while the block runs: {"before": ..., "peak": ...} once it ends."""
    seen = {"before": rss_bytes(pid), "peak": rss_bytes(pid)}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            seen["peak"] = max(seen["peak"], rss_bytes(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield seen
    finally:
        done.set()
        sampler.join()
        seen["peak"] = max(seen["peak"], rss_bytes(pid))
