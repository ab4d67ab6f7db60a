"""HLS for players: `/hls/live.m3u8` gives each player its session's playlist, whose
segments are files in state/hls (app/stream/hls). The folder itself can be served as it is by
any web server or CDN (its `live.m3u8` is the media playlist); only the station counts the
listeners, by the session id in the URLs it hands out.

- `GET /hls/live.m3u8`: a multivariant playlist naming one stream, `<sid>/live.m3u8`, under
  a new session id (never cached: each player its own).
- `GET /hls/<sid>/live.m3u8`: the media playlist, the same bytes for everyone (its segment
  URIs are relative, so they carry the sid), refreshed each segment: `no-cache`.
- `GET /hls/<sid>/<segment>` and `GET /hls/<segment>`: a segment, immutable once written.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import FileResponse, Response

from app.api.deps import StationDep
from app.listeners.identity import client_network, listener_id
from app.stream.hls import PLAYLIST, SEGMENT_NAME, SID_PATTERN, Hls
from app.stream.hls.frames import CODECS

router = APIRouter(tags=["listeners"])

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
LIVE_CACHE = "no-cache"  # a new segment every few seconds: always ask again
SEGMENT_CACHE = "public, max-age=31536000, immutable"  # a segment never changes
NOT_FOUND = "no such HLS segment (it left the window, or never was)"

Segment = Annotated[str, Path(description="a segment's file name, such as 1764480000000.mp3")]
Sid = Annotated[str, Path(description="the session id /hls/live.m3u8 handed out")]


def _hls(station: StationDep) -> Hls:
    if station.hls is None:
        raise HTTPException(404, "HLS is off on this station (RADIO_HLS=off)")
    return station.hls


def _who(request: Request, station: StationDep) -> tuple[str, str, str, str | None]:
    """(address, client, user agent, listener id) of a request, as a stream listener has."""
    client = f"{request.client.host}:{request.client.port}" if request.client else ""
    return (client_network(request), client, request.headers.get("user-agent", ""),
            listener_id(request, station.listener_keys))  # fmt: skip


@router.get("/hls/live.m3u8", response_class=Response,
            summary="The HLS stream, for one player")  # fmt: skip
@router.head("/hls/live.m3u8", include_in_schema=False)
async def live_playlist(request: Request, station: StationDep) -> Response:
    """A multivariant playlist whose one stream is this player's session playlist: its
    fetches count it as a listener until it stops fetching (about three segments)."""
    hls = _hls(station)
    codec = hls.codec
    if codec is None or not hls.segmenter.playlist():
        retry = {"Retry-After": str(hls.segmenter.segment_seconds)}
        raise HTTPException(503, "HLS is starting: no segment is written yet", headers=retry)
    sid = hls.sessions.open(client_network(request))
    body = ("#EXTM3U\n#EXT-X-VERSION:3\n"
            f'#EXT-X-STREAM-INF:BANDWIDTH={hls.bandwidth},CODECS="{codec.codecs}"\n'
            f"{sid}/{PLAYLIST}\n")  # fmt: skip
    return Response(body, media_type=PLAYLIST_TYPE, headers={"Cache-Control": "no-store"})


@router.get("/hls/{sid}/live.m3u8", response_class=Response,
            summary="A session's HLS media playlist")  # fmt: skip
@router.head("/hls/{sid}/live.m3u8", include_in_schema=False)
async def session_playlist(sid: Sid, request: Request, station: StationDep) -> Response:
    """The rolling media playlist (as long a window as the time-shift archive)."""
    hls = _hls(station)
    if not SID_PATTERN.match(sid):
        raise HTTPException(404, "no such HLS session")
    hls.sessions.touch(sid, *_who(request, station))
    headers = {"Cache-Control": LIVE_CACHE, "Vary": "Accept-Encoding"}
    gzipped = "gzip" in request.headers.get("accept-encoding", "").lower()
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(hls.segmenter.playlist(gzipped), media_type=PLAYLIST_TYPE, headers=headers)


@router.get("/hls/{sid}/{segment}", response_class=FileResponse,
            summary="A segment, fetched in a session")  # fmt: skip
@router.head("/hls/{sid}/{segment}", include_in_schema=False)
async def session_segment(sid: Sid, segment: Segment, request: Request,
                          station: StationDep) -> FileResponse:  # fmt: skip
    hls = _hls(station)
    response = _segment(hls, segment)
    if SID_PATTERN.match(sid):
        sent = hls.segmenter.sizes.get(segment, 0) if request.method == "GET" else 0
        hls.sessions.touch(sid, *_who(request, station), sent=sent)
    return response


@router.get("/hls/{segment}", response_class=FileResponse,
            summary="A segment")  # fmt: skip
@router.head("/hls/{segment}", include_in_schema=False)
async def segment(segment: Segment, station: StationDep) -> FileResponse:
    return _segment(_hls(station), segment)


def _segment(hls: Hls, name: str) -> FileResponse:
    """A segment file of the folder: only names of the segments' shape (nothing else in or
    out of the folder), found there now."""
    found = SEGMENT_NAME.match(name)
    if found is None or name not in hls.segmenter.sizes:  # known without asking the disk
        raise HTTPException(404, NOT_FOUND)
    return FileResponse(hls.directory / name, media_type=CODECS[found.group(2)].content_type,
                        headers={"Cache-Control": SEGMENT_CACHE})  # fmt: skip
