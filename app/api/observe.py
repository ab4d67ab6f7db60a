"""Is the station alive, is it on air, and how is it doing: /healthz, /readyz, /metrics.

- `/healthz`: the process answers (nothing else is looked at: cheap enough for a probe every
  second, and true while the process can serve anything at all).
- `/readyz`: on air and able to work: the playout process has handed the hub audio within
  READY_AUDIO_SECONDS, and the database takes a write lock within READY_DATABASE_SECONDS.
  200, or 503 with the reasons in JSON.
- `/metrics`: Prometheus text, for hosts only (a personal token as a bearer token, as a
  Prometheus scrape config's `authorization` sends it): listener counts and the bytes they
  were sent say who listens, which is not for everyone. Read from counters the station keeps
  anyway, with no database query.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.api.auth import HostDep
from app.api.deps import StationDep
from app.db import check_writable
from app.metrics import (
    CONTENT_TYPE,
    Family,
    Histogram,
    Labels,
    child_pids,
    cpu_seconds,
    render,
    resident_bytes,
)
from app.station import Station

router = APIRouter(tags=["health"])

READY_AUDIO_SECONDS = 5.0  # the playout airs a block every 0.2 s; a restart takes < 1 s
READY_DATABASE_SECONDS = 2.0  # how long the readiness check waits for another writer
MOUNT = "/stream"  # the default mount (/stream.mp3 is the same stream), which the archive keeps
LATENCY_KEY = "request_latency"  # where the app's lifespan state keeps the histogram
STATUSES_KEY = "request_statuses"  # ... and the request counts by status


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Alive: the process answers requests."""
    return {"status": "ok"}


NOT_READY = {503: {"description": "not on air, or the database unreachable: `reasons` says why"}}
METRICS_TEXT = {200: {"content": {CONTENT_TYPE: {}},
                      "description": "Prometheus text exposition format 0.0.4"}}  # fmt: skip


@router.get("/readyz", responses=NOT_READY)
async def readyz(station: StationDep) -> JSONResponse:
    """Ready: on air (the playout feeds the stream) and the database reachable."""
    reasons: list[str] = []
    age = station.hub.audio_age()
    if age is None:
        reasons.append("not on air yet: no audio from the playout")
    elif age > READY_AUDIO_SECONDS:
        reasons.append(f"no audio from the playout for {age:.1f} s")
    database = await asyncio.to_thread(check_writable, station.sessions, READY_DATABASE_SECONDS)
    if database is not None:
        reasons.append(f"database unreachable: {database}")
    body: dict[str, Any] = {
        "status": "not ready" if reasons else "ready",
        "on_air": age is not None and age <= READY_AUDIO_SECONDS,
        "audio_age_seconds": None if age is None else round(age, 3),
        "database": database or "ok",
        "reasons": reasons,
    }
    return JSONResponse(body, status_code=503 if reasons else 200)


@router.get("/metrics", dependencies=[HostDep], response_class=Response,
            responses=METRICS_TEXT)  # fmt: skip
def metrics(request: Request, station: StationDep) -> Response:
    """Prometheus metrics of the station (hosts only)."""
    latency: Histogram = request.state.request_latency
    statuses: dict[Labels, int] = request.state.request_statuses
    families = [*station_families(station), *relay_families(station),
                *request_families(latency, statuses), *process_families(station)]  # fmt: skip
    return Response(render(families), media_type=CONTENT_TYPE)


def station_families(station: Station) -> list[Family]:
    playout = station.playout.stats()
    families = [
        Family("radio_listeners", "gauge", "Stream connections now, by mount."),
        Family("radio_listeners_paused", "gauge",
               "Listeners whose socket is full: written to again when it drains, dropped if "
               "the buffer moves past them."),
        Family("radio_listeners_peak", "gauge", "The most stream connections at once."),
        Family("radio_listeners_joined_total", "counter", "Stream connections taken."),
        Family("radio_listeners_dropped_total", "counter",
               "Listeners the station disconnected, by reason (a slow reader falls behind "
               "the buffer)."),
        Family("radio_stream_sent_bytes_total", "counter",
               "Bytes written to listeners' connections (audio and ICY metadata)."),
        Family("radio_stream_bytes_total", "counter", "Bytes of audio the stream has aired."),
        Family("radio_stream_buffer_seconds", "gauge",
               "Audio kept in the shared buffer for listeners that fall behind."),
        Family("radio_stream_buffer_limit_seconds", "gauge",
               "How far behind a listener may fall before it is dropped (RADIO_BUFFER_SECONDS)."),
        Family("radio_stream_paused_behind_seconds_max", "gauge",
               "How far the paused listener furthest behind is from the live point."),
    ]  # fmt: skip
    age_family = Family("radio_stream_audio_age_seconds", "gauge",
                        "Seconds since the playout last handed the stream audio.")  # fmt: skip
    for path, mount in station.mounts.items():  # MOUNT ("/stream") first
        hub = mount.hub.stats()
        (listeners, paused, peak, joined, dropped, sent, aired, buffer, limit, behind) = families
        listeners.add(hub["listeners"], mount=path)
        paused.add(hub["listeners_paused"], mount=path)
        peak.add(mount.hub.listener_peak, mount=path)
        joined.add(mount.hub.joined_total, mount=path)
        for reason, count in sorted(mount.hub.dropped_total.items()):
            dropped.add(count, mount=path, reason=reason)
        sent.add(hub["bytes_sent"], mount=path)
        aired.add(hub["stream_bytes"], mount=path)
        buffer.add(hub["buffer_seconds"], mount=path)
        limit.add(hub["buffer_limit_seconds"], mount=path)
        behind.add(hub["paused_behind_seconds_max"], mount=path)
        age = mount.hub.audio_age()
        if age is not None:
            age_family.add(age, mount=path)
    if station.hub.audio_age() is not None:
        families.append(age_family)
    archive = station.archive.stats()
    families += [
        Family("radio_archive_bytes", "gauge",
               "Bytes of the stream kept in the time-shift archive (RADIO_ARCHIVE_MAX_MB).")
        .add(archive["bytes"], mount=MOUNT),
        Family("radio_archive_seconds", "gauge",
               "How far back the time-shift archive reaches (RADIO_ARCHIVE_HOURS).")
        .add(archive["seconds"], mount=MOUNT),
        Family("radio_archive_write_failing", "gauge",
               "1 while the archive cannot write (a full disk): the stream goes on unkept.")
        .add(archive["failing"], mount=MOUNT),
        Family("radio_listeners_timeshifted", "gauge",
               "Connections listening to the archive (/stream?at=), behind live.")
        .add(len(station.timeshift.listeners), mount=MOUNT),
    ]  # fmt: skip
    families += [
        Family("radio_playout_lead_seconds", "gauge",
               "Programme read ahead of air time (a busy machine may take this much without a "
               "gap).").add(playout.get("lead_seconds", 0.0)),
        Family("radio_playout_lag_seconds", "gauge",
               "How late the latest block aired (0 when on time).")
        .add(playout.get("lag_seconds", 0.0)),
        Family("radio_playout_blocks_total", "counter", "Blocks of audio aired.")
        .add(playout["blocks_aired"]),
        Family("radio_playout_catch_ups_total", "counter",
               "Times airing fell more than a block behind and sent the backlog to catch up.")
        .add(playout["catch_ups"]),
        Family("radio_playout_late_blocks_total", "counter",
               "Blocks aired more than a block late (sent as backlog).")
        .add(playout["late_blocks"]),
        Family("radio_playout_skipped_audio_total", "counter",
               "Times programme audio was lost: the playout aired from now instead of catching "
               "up, or its process died ('playout skipped audio' in the log).")
        .add(playout["skips_ahead"] + playout["restarts"]),
        Family("radio_playout_skipped_seconds_total", "counter",
               "Programme seconds never aired because the playout skipped ahead (a dead "
               "process's gap is not counted here).").add(playout["skipped_seconds"]),
        Family("radio_playout_restarts_total", "counter",
               "Times the playout process died and was started again.")
        .add(playout["restarts"]),
        Family("radio_playout_failed_items_total", "counter",
               "Items the playout could not play (passed over).").add(playout["failures"]),
        Family("radio_playout_on_safety", "gauge",
               "1 while the safety source covers because nothing else can play.")
        .add(playout.get("on_safety", 0.0)),
    ]  # fmt: skip
    decisions = Family("radio_scheduler_decisions_total", "counter",
                       "Items the scheduler handed the playout, by kind and reason (host, "
                       "rotation, clock, interval, fallback, ...).")  # fmt: skip
    for (kind, reason), count in sorted(station.planner.decisions.items()):
        decisions.add(count, kind=kind, reason=reason)
    jobs = Family("radio_jobs", "gauge", "Background jobs not finished, by kind and state.")
    for (kind, state), count in sorted(station.jobs.counts().items()):
        jobs.add(count, kind=kind, state=state)
    finished = Family("radio_jobs_finished_total", "counter",
                      "Background jobs finished, by kind and outcome.")  # fmt: skip
    for (kind, state), count in sorted(station.jobs.finished_total.items()):
        finished.add(count, kind=kind, state=state)
    families += [
        decisions,
        jobs,
        finished,
        Family("radio_speech_rendering", "gauge",
               "Stories whose speech is being rendered or waits its turn.")
        .add(station.speech.rendering),
    ]  # fmt: skip
    return families


def relay_families(station: Station) -> list[Family]:
    """The relay outputs (RADIO_RELAYS), by output name."""
    connected = Family(
        "radio_relay_connected",
        "gauge",
        "1 while the relay output is connected to its Icecast server.",
    )
    sent = Family(
        "radio_relay_sent_bytes_total",
        "counter",
        "Audio bytes the relay output sent to its Icecast server.",
    )
    reconnects = Family(
        "radio_relay_reconnects_total",
        "counter",
        "Times the relay output connected again after losing its connection.",
    )
    for status in station.relays.status():
        labels = {"name": status["name"], "mount": status["mount"]}
        connected.add(int(status["connected"]), **labels)
        sent.add(status["bytes_sent"], **labels)
        reconnects.add(status["reconnects"], **labels)
    return [connected, sent, reconnects]


def request_families(latency: Histogram, statuses: dict[Labels, int]) -> list[Family]:
    requests = Family("radio_http_requests_total", "counter",
                      "HTTP requests answered by the app, by method, route template and "
                      "status (stream listeners are counted by radio_listeners_*).")  # fmt: skip
    for labels, count in sorted(statuses.items()):
        requests.add(count, **dict(labels))
    return [latency.family(), requests]


def process_families(station: Station) -> list[Family]:
    memory = Family("radio_process_resident_memory_bytes", "gauge",
                    "Resident memory (RSS) of the station's processes: the web process, its "
                    "playout process and the playout's decoders (summed).")  # fmt: skip
    web = resident_bytes()
    if web is not None:
        memory.add(web, process="web")
    playout_pid = station.playout.pid
    if playout_pid is not None:
        playout = resident_bytes(playout_pid)
        if playout is not None:
            memory.add(playout, process="playout")
        decoders = [resident_bytes(pid) for pid in child_pids(playout_pid)]
        memory.add(sum(rss for rss in decoders if rss is not None), process="decoders")
    families = [memory]
    if web is not None:
        families.append(Family("process_resident_memory_bytes", "gauge",
                               "Resident memory size in bytes.").add(web))  # fmt: skip
    families += [
        Family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent "
               "in seconds.").add(cpu_seconds()),
        Family("process_start_time_seconds", "gauge", "Start time of the station since unix "
               "epoch in seconds.").add(station.started_at.timestamp()),
    ]  # fmt: skip
    return families
