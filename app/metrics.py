"""Prometheus metrics in the text exposition format (version 0.0.4), with no dependency.

Most of the station's metrics are read when scraped, from counters its parts keep anyway
(app/api/observe.py gathers them); only request latencies are recorded as they happen, by
`RequestMetrics`, in a `Histogram` per (method, route template): never a raw path, so a
client inventing URLs cannot grow the station's memory.
"""

from __future__ import annotations

import bisect
import math
import os
import resource
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds to the response's start: from a cached page (~1 ms) to a slow forecast (~10 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "unmatched"  # a request no route took (404s): one label for all of them

Labels = tuple[tuple[str, str], ...]


@dataclass
class Family:
    """One metric with its samples: `add(value, **labels)` (a histogram's samples carry
    their own suffix: _bucket, _sum, _count)."""

    name: str
    kind: str  # counter | gauge | histogram
    help: str
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: object) -> Family:
        self.samples.append((suffix, tuple((k, str(v)) for k, v in labels.items()), value))
        return self


def render(families: Iterable[Family]) -> str:
    """The exposition text: # HELP and # TYPE, then one line per sample."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for suffix, labels, value in family.samples:
            text = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels)
            lines.append(f"{family.name}{suffix}{{{text}}} {_number(value)}" if text
                         else f"{family.name}{suffix} {_number(value)}")  # fmt: skip
    return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class Histogram:
    """Observations counted into fixed buckets, per label set. Used on the event loop only."""

    def __init__(self, name: str, help: str, labelnames: Sequence[str],
                 buckets: Sequence[float] = LATENCY_BUCKETS) -> None:  # fmt: skip
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)
        self.buckets = tuple(sorted(buckets))
        # Per label set: a count per bucket, one beyond the last bucket, the sum, the count.
        self._series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, value: float, *labels: str) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [0.0] * (len(self.buckets) + 3)
        series[bisect.bisect_left(self.buckets, value)] += 1  # the first bucket value fits
        series[-2] += value
        series[-1] += 1

    def family(self) -> Family:
        family = Family(self.name, "histogram", self.help)
        for labels, series in sorted(self._series.items()):
            named = dict(zip(self.labelnames, labels, strict=True))
            running = 0.0
            for bound, count in zip(self.buckets, series, strict=False):
                running += count
                family.add(running, "_bucket", **named, le=_number(bound))
            family.add(series[-1], "_bucket", **named, le="+Inf")
            family.add(series[-2], "_sum", **named)
            family.add(series[-1], "_count", **named)
        return family


class RequestMetrics:
    """ASGI middleware: each HTTP request's time to its response's start, by method and
    route template (`/api/tracks/{track_id}`), and the requests by status. Stream listeners
    never pass here (app/stream/http.py takes them over before the app)."""

    def __init__(self, app: ASGIApp, latency: Histogram, statuses: dict[Labels, int]) -> None:
        self.app = app
        self.latency = latency
        self.statuses = statuses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception with no response at all is the server's error

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.latency.observe(time.perf_counter() - started, scope["method"],
                                     route_template(scope))  # fmt: skip
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            key = (("method", scope["method"]), ("route", route_template(scope)),
                   ("status", str(status)))  # fmt: skip
            self.statuses[key] = self.statuses.get(key, 0) + 1


def route_template(scope: Scope) -> str:
    """The path template of the route that took the request (set by the router, in place)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


# -- processes ---------------------------------------------------------------------------------

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes(pid: int | str = "self") -> int | None:
    """A process's resident set (RSS) from /proc; None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        if pid == "self":  # not Linux: the peak, which is what the platform offers
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return None


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (Linux), e.g. the playout's ffmpeg decoders."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(child) for child in f.read().split())
        except (OSError, ValueError):
            continue
    return found


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system
