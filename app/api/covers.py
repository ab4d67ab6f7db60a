"""Album art for the player: a track's embedded picture, else a generated cover."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from app.api.deps import RowId, StationDep
from app.library.artwork import (
    GENERATED_COVER_PATH,
    TRACK_COVER_PATH,
    generated_cover,
    read_picture,
)
from app.library.errors import UnreadableAudio
from app.models import Track
from app.station import Station

router = APIRouter(tags=["covers"])

# A track's cover changes only with its file, and the ETag says which file: after a day the
# browser asks again and usually gets a 304.
TRACK_CACHE = "public, max-age=86400"
GENERATED_CACHE = "public, max-age=604800"  # the same names always draw the same picture
SVG = "image/svg+xml"
# If someone opens a cover on its own, nothing in it may run or load: app.headers says so.

TextQuery = Annotated[str, Query(max_length=1000)]


@router.get(GENERATED_COVER_PATH, response_class=Response,
            responses={200: {"content": {SVG: {}}}})  # fmt: skip
def get_generated_cover(
    request: Request, title: TextQuery = "", artist: TextQuery = ""
) -> Response:
    """A cover drawn from the names: a colour chosen by their hash, and their initials."""
    svg = generated_cover(artist, title).encode()
    return _image(request, svg, SVG, _etag(svg), GENERATED_CACHE)


TRACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/*": {}, SVG: {}}},
    404: {"description": "no such track (a generated cover is sent)", "content": {SVG: {}}},
}


@router.get(TRACK_COVER_PATH, response_class=Response, responses=TRACK_RESPONSES)
def get_track_cover(track_id: RowId, request: Request, station: StationDep) -> Response:
    """The picture embedded in the track's file, or a generated cover when it has none."""
    with station.sessions() as session:
        track = session.get(Track, track_id)
        found = (track.artist, track.title, track.path, track.size, track.mtime) if track else None
    if found is None:
        # The player's <img> still shows something, and the browser will ask again.
        body = generated_cover("", "").encode()
        return Response(body, status.HTTP_404_NOT_FOUND, media_type=SVG,
                        headers={"Cache-Control": "no-cache"})  # fmt: skip
    artist, title, relative, size, mtime = found
    etag = _etag(f"{track_id}:{relative}:{size}:{mtime}".encode())
    if _not_modified(request, etag):  # answered without opening the file
        return _unchanged(etag, TRACK_CACHE)
    picture = _picture_of(station, relative)
    if picture is None:
        return _image(request, generated_cover(artist, title).encode(), SVG, etag, TRACK_CACHE)
    data, mime = picture
    return _image(request, data, mime, etag, TRACK_CACHE)


def _picture_of(station: Station, relative: str) -> tuple[bytes, str] | None:
    media = station.settings.media_dir.resolve()
    path = (media / relative).resolve()
    if not path.is_relative_to(media) or not path.is_file():
        return None
    try:
        picture = read_picture(path)
    except UnreadableAudio:
        return None
    return (picture.data, picture.mime) if picture else None


def _etag(seed: bytes) -> str:
    return '"' + hashlib.sha256(seed).hexdigest()[:20] + '"'


def _not_modified(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return etag in (tag.strip().removeprefix("W/") for tag in wanted.split(","))


def _unchanged(etag: str, cache: str) -> Response:
    headers = {"Cache-Control": cache, "ETag": etag}
    return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)


def _image(request: Request, body: bytes, media_type: str, etag: str, cache: str) -> Response:
    if _not_modified(request, etag):
        return _unchanged(etag, cache)
    headers = {"Cache-Control": cache, "ETag": etag}
    return Response(body, media_type=media_type, headers=headers)
