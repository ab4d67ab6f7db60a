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
    """The shape of Icecast's status-json.xsl, for tools written against Icecast."""
    current = station.now_playing.current
    identity = station_identity(request, settings)
    return {
        "icestats": {
            "admin": "",
            "host": settings.host,
            "location": "",
            "server_id": "radio-station",
            "source": {
                "audio_info": f"channels=2;samplerate={settings.sample_rate};"
                f"bitrate={settings.bitrate_kbps}",
                "bitrate": settings.bitrate_kbps,
                "channels": 2,
                "genre": settings.station_genre,
                "listener_peak": station.hub.listener_peak,
                "listeners": len(station.hub.listeners),
                "listenurl": _stream_url(request, settings),
                "samplerate": settings.sample_rate,
                "server_description": identity.tagline,
                "server_name": identity.name,
                "server_type": "audio/mpeg",
                "server_url": identity.website,
                "stream_start_iso8601": station.started_at.isoformat(),
                "title": current.item.display_title if current else "",
            },
        }
    }


@router.get("/listen.m3u", response_class=Response,
            responses={200: {"content": {"audio/x-mpegurl": {}}}})  # fmt: skip
@router.head("/listen.m3u", include_in_schema=False)  # players and directories probe
def listen_m3u(request: Request, settings: SettingsDep) -> Response:
    name = station_identity(request, settings).name
    return Response(m3u(name, _stream_url(request, settings)),
                    media_type="audio/x-mpegurl")  # fmt: skip


@router.get("/listen.pls", response_class=Response,
            responses={200: {"content": {"audio/x-scpls": {}}}})  # fmt: skip
@router.head("/listen.pls", include_in_schema=False)
def listen_pls(request: Request, settings: SettingsDep) -> Response:
    name = station_identity(request, settings).name
    return Response(pls(name, _stream_url(request, settings)),
                    media_type="audio/x-scpls")  # fmt: skip


def _stream_url(request: Request, settings: Settings) -> str:
    return f"{public_base_url(request, settings)}/stream"
