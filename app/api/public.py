"""What listeners and their players may read: now playing, status, playlist files."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from app.api.deps import SettingsDep, StationDep
from app.api.templating import public_base_url, station_identity
from app.config import Settings
from app.outputs import DEFAULT_MOUNT
from app.station import Station
from app.stream.nowplaying import CLOSED
from app.stream.playlists import m3u, pls

router = APIRouter(tags=["listeners"])

KEEPALIVE_SECONDS = 15.0


@router.get("/api/health")
def health(station: StationDep, settings: SettingsDep) -> dict[str, Any]:
    """Up; `on_air` once the first audio reached the stream; `launch` echoes the nonce this
    station was started with (RADIO_LAUNCH_NONCE)."""
    return {"status": "ok", "on_air": station.hub.end > 0, "launch": settings.launch_nonce}


@router.get("/api/now-playing")
def now_playing(station: StationDep) -> dict[str, Any]:
    return station.now_playing.snapshot()


@router.get("/api/now-playing/events", response_class=Response,
            responses={200: {"content": {"text/event-stream": {}}}})  # fmt: skip
async def now_playing_events(request: Request, station: StationDep) -> StreamingResponse:
    """Server-Sent Events: one `now-playing` event when an item reaches the live point."""

    async def events() -> AsyncIterator[str]:
        async with station.now_playing.subscribe() as queue:
            yield _sse(station.now_playing.snapshot())
            while not await request.is_disconnected():
                try:
                    snapshot = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if snapshot is CLOSED:  # the station is stopping: the player reconnects
                    return
                yield _sse(snapshot)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(snapshot: dict[str, Any]) -> str:
    return f"event: now-playing\ndata: {json.dumps(snapshot)}\n\n"


@router.get("/status-json.xsl")
def icecast_status(request: Request, station: StationDep, settings: SettingsDep) -> dict[str, Any]:
    """The shape of Icecast's status-json.xsl, for tools written against Icecast: `source`
    is one object with one mount, a list of them (one per mount) with more, as Icecast's."""
    current = station.now_playing.current
    identity = station_identity(request, settings)
    base = public_base_url(request, settings)
    sources = []
    for path, mount in station.mounts.items():
        info = mount.hub.info
        sources.append({
            "audio_info": f"channels={info.channels};samplerate={info.sample_rate};"
            f"bitrate={info.bitrate_kbps}",
            "bitrate": info.bitrate_kbps,
            "channels": info.channels,
            "genre": settings.station_genre,
            "listener_peak": mount.hub.listener_peak,
            "listeners": len(mount.hub.listeners),
            "listenurl": base + path,
            "samplerate": info.sample_rate,
            "server_description": identity.tagline,
            "server_name": identity.name,
            "server_type": info.content_type,
            "server_url": identity.website,
            "stream_start_iso8601": station.started_at.isoformat(),
            "title": current.item.display_title if current else "",
        })  # fmt: skip
    return {
        "icestats": {
            "admin": "",
            "host": settings.host,
            "location": "",
            "server_id": "radio-station",
            "source": sources[0] if len(sources) == 1 else sources,
        }
    }


@router.get("/listen.m3u", response_class=Response,
            responses={200: {"content": {"audio/x-mpegurl": {}}}})  # fmt: skip
@router.head("/listen.m3u", include_in_schema=False)  # players and directories probe
def listen_m3u(request: Request, station: StationDep, settings: SettingsDep) -> Response:
    return Response(m3u(_entries(request, station, settings)), media_type="audio/x-mpegurl")


@router.get("/listen.pls", response_class=Response,
            responses={200: {"content": {"audio/x-scpls": {}}}})  # fmt: skip
@router.head("/listen.pls", include_in_schema=False)
def listen_pls(request: Request, station: StationDep, settings: SettingsDep) -> Response:
    return Response(pls(_entries(request, station, settings)), media_type="audio/x-scpls")


def _entries(request: Request, station: Station, settings: Settings) -> list[tuple[str, str]]:
    """(title, URL) of every mount, the default first: its title is the station's name."""
    name = station_identity(request, settings).name
    base = public_base_url(request, settings)
    entries = []
    for path, mount in station.mounts.items():
        spec = mount.spec
        title = name if path == DEFAULT_MOUNT else (
            f"{name} ({spec.codec.upper()} {spec.bitrate_kbps} kbps"
            f"{', mono' if spec.channels == 1 else ''})"
        )  # fmt: skip
        entries.append((title, base + path))
    return entries
