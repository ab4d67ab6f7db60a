"""Host routes for playlists: edit them, import and export playlist files, sync playlists/.

Writing back to playlists/: a playlist synced from a file there (`source_file` is set) has
its file rewritten whenever its entries change through the API, and removed when the
playlist is deleted; otherwise the next sync would undo the edit. `?write_back=false` skips
that (the next sync then restores the file's entries); `?write_back=true` also writes a
playlist that has no file yet, as playlists/<name>.m3u8, which then becomes its source file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.api.auth import HostDep
from app.api.deps import MAX_SQL_INT, DbDep, RowId, SettingsDep, SqlInt, StationDep
from app.api.errors import error
from app.api.limits import LARGE_BODY_LIMIT
from app.config import Settings
from app.models import Playlist, PlaylistOrder, PlaylistRule
from app.scheduler import playlists as service
from app.scheduler.playlist_files import MEDIA_TYPES, PlaylistFileError, PlaylistFormat, Problem

router = APIRouter(prefix="/api/playlists", dependencies=[HostDep], tags=["playlists"],
                   max_body_size=LARGE_BODY_LIMIT,
                   responses={409: error("a playlist with this name exists")})  # fmt: skip

MAX_TRACKS = 50_000
TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
IMPORT_FRAMING = 64 * 1024  # room for multipart framing around a playlist file

# --- Schemas: the API's shapes, apart from the ORM models -----------------------------------


class Daypart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: list[SqlInt] = Field(min_length=1, max_length=7, description="0-6, Monday is 0")
    start: str = Field(pattern=TIME_PATTERN, max_length=5, examples=["06:00"])
    end: str = Field(
        pattern=TIME_PATTERN,
        max_length=5,
        examples=["10:00"],
        description="before start: past midnight",
    )


class PlaylistUpdate(BaseModel):
    """Only the fields given change."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=service.MAX_NAME_LENGTH)
    description: str | None = Field(None, max_length=10_000)
    enabled: bool | None = None
    rule: PlaylistRule | None = None
    order: PlaylistOrder | None = None
    weight: int | None = Field(None, ge=1, le=service.MAX_WEIGHT)
    every: int | None = Field(
        None, ge=1, le=MAX_SQL_INT, description="songs or minutes, for every_* rules"
    )
    minute: int | None = Field(None, ge=0, le=59, description="minute of the hour, for hourly")
    window_minutes: int | None = Field(None, ge=1, le=59)
    schedule: list[Daypart] | None = Field(None, description="dayparts; empty: always")
    is_jingle: bool | None = None


class PlaylistCreate(PlaylistUpdate):
    name: str = Field(min_length=1, max_length=service.MAX_NAME_LENGTH)  # type: ignore[assignment]
    track_ids: list[RowId] = Field(default_factory=list, max_length=MAX_TRACKS)


class TrackIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    track_ids: list[RowId] = Field(max_length=MAX_TRACKS)


class EntryOut(BaseModel):
    position: int
    track_id: int
    path: str
    artist: str
    title: str
    duration: float | None


class PlaylistOut(BaseModel):
    id: int
    name: str
    description: str
    enabled: bool
    rule: PlaylistRule
    order: PlaylistOrder
    weight: int
    every: int | None
    minute: int | None
    window_minutes: int
    schedule: list[dict[str, Any]]
    is_jingle: bool
    source_file: str | None
    entry_count: int
    created_at: datetime
    updated_at: datetime


class PlaylistDetail(PlaylistOut):
    entries: list[EntryOut]


class ProblemOut(BaseModel):
    line: int = Field(description="1-based line in the file; 0 for the file as a whole")
    entry: str
    reason: str


class ImportOut(BaseModel):
    playlist: PlaylistDetail
    created: bool
    problems: list[ProblemOut] = Field(description="entries left out, and why")


class FailedFile(BaseModel):
    file: str
    reason: str


class SyncOut(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    missing: list[str] = Field(description="source files that are gone; their playlists stay")
    failed: list[FailedFile]
    problems: dict[str, list[ProblemOut]]


# --- Dependencies and errors --------------------------------------------------------------


WriteBack = Annotated[
    bool | None,
    Query(description="write playlists/ too: default only for playlists synced from a file"),
]


@contextmanager
def _errors() -> Iterator[None]:
    """The service's exceptions as HTTP answers with their message."""
    try:
        yield
    except service.PlaylistNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    except service.PlaylistConflict as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except service.PlaylistError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    except PlaylistFileError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    except OSError as error:
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR, f"could not write to playlists/: {error}"
        ) from None


def _summary(playlist: Playlist, entry_count: int) -> dict[str, Any]:
    fields = PlaylistOut.model_fields.keys() - {"entry_count"}
    return {key: getattr(playlist, key) for key in fields} | {"entry_count": entry_count}


def _detail(db: Session, playlist: Playlist) -> PlaylistDetail:
    tracks = service.entry_tracks(db, playlist.id)
    entries = [
        EntryOut(
            position=position,
            track_id=track.id,
            path=track.path,
            artist=track.artist,
            title=track.title,
            duration=track.duration,
        )
        for position, track in enumerate(tracks)
    ]
    return PlaylistDetail(**_summary(playlist, len(entries)), entries=entries)


def _problems(problems: list[Problem]) -> list[ProblemOut]:
    return [ProblemOut(line=p.line, entry=p.entry, reason=p.reason) for p in problems]


def _save(db: Session, settings: Settings, playlist: Playlist, write: bool) -> None:
    if write:
        service.write_back(db, settings, playlist)
    db.commit()


# --- Routes -------------------------------------------------------------------------------


@router.get("")
def list_playlists(db: DbDep) -> list[PlaylistOut]:
    counts = service.entry_counts(db)
    return [
        PlaylistOut(**_summary(playlist, counts.get(playlist.id, 0)))
        for playlist in service.list_playlists(db)
    ]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_playlist(
    body: PlaylistCreate, db: DbDep, settings: SettingsDep, write_back: WriteBack = None
) -> PlaylistDetail:
    fields = body.model_dump(exclude_unset=True, exclude={"track_ids"}, exclude_none=True)
    with _errors():
        playlist = service.create_playlist(db, **fields)
        service.set_entries(db, playlist, body.track_ids)
        _save(db, settings, playlist, bool(write_back))
    return _detail(db, playlist)


@router.get("/{playlist_id}")
def get_playlist(playlist_id: RowId, db: DbDep) -> PlaylistDetail:
    with _errors():
        return _detail(db, service.get_playlist(db, playlist_id))


@router.patch("/{playlist_id}")
def update_playlist(
    playlist_id: RowId,
    body: PlaylistUpdate,
    db: DbDep,
    settings: SettingsDep,
    write_back: WriteBack = None,
) -> PlaylistDetail:
    """Changes the fields given. Only entries live in playlist files, so a file is written
    here only when asked (`write_back=true`)."""
    with _errors():
        playlist = service.get_playlist(db, playlist_id)
        service.update_playlist(db, playlist, **body.model_dump(exclude_unset=True))
        _save(db, settings, playlist, bool(write_back))
    return _detail(db, playlist)


@router.delete("/{playlist_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_playlist(
    playlist_id: RowId, db: DbDep, settings: SettingsDep, write_back: WriteBack = None
) -> None:
    """Deletes the playlist, and its file in playlists/ unless `write_back=false`."""
    with _errors():
        playlist = service.get_playlist(db, playlist_id)
        service.delete_playlist(db, playlist)
        db.commit()
        if write_back is not False:
            service.remove_source_file(settings, playlist)


@router.put("/{playlist_id}/entries")
def set_entries(
    playlist_id: RowId,
    body: TrackIds,
    db: DbDep,
    settings: SettingsDep,
    write_back: WriteBack = None,
) -> PlaylistDetail:
    """Replaces the entries with these tracks, in this order (also how to reorder)."""
    with _errors():
        playlist = service.get_playlist(db, playlist_id)
        service.set_entries(db, playlist, body.track_ids)
        _save(db, settings, playlist, _entries_write_back(playlist, write_back))
    return _detail(db, playlist)


@router.post("/{playlist_id}/entries")
def append_entries(
    playlist_id: RowId,
    body: TrackIds,
    db: DbDep,
    settings: SettingsDep,
    write_back: WriteBack = None,
) -> PlaylistDetail:
    """Adds these tracks at the end."""
    with _errors():
        playlist = service.get_playlist(db, playlist_id)
        service.append_entries(db, playlist, body.track_ids)
        _save(db, settings, playlist, _entries_write_back(playlist, write_back))
    return _detail(db, playlist)


def _entries_write_back(playlist: Playlist, asked: bool | None) -> bool:
    return asked if asked is not None else playlist.source_file is not None


_IMPORT_BODY = {
    "requestBody": {
        "description": "the playlist file: a multipart field `file`, or the raw text with "
        "`?filename=name.m3u8`",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


@router.post("/import", status_code=status.HTTP_201_CREATED, openapi_extra=_IMPORT_BODY,
             max_body_size=service.MAX_FILE_BYTES + IMPORT_FRAMING)  # fmt: skip
async def import_playlist(
    request: Request,
    station: StationDep,
    filename: Annotated[str | None, Query(description="for a raw body: gives the format")] = None,
    name: Annotated[str | None, Query(description="default: the file's name")] = None,
    replace: Annotated[bool, Query(description="refill an existing playlist")] = False,
) -> ImportOut:
    """Makes a playlist from an M3U, M3U8 or PLS file. Entries must name files of the
    library under media/; the others are left out and listed in `problems`."""
    data, filename = await _read_upload(request, filename)

    def run() -> ImportOut:
        with station.sessions() as db, _errors():
            result = service.import_playlist(db, station.settings.media_dir, data, filename,
                                             name=name, replace=replace)  # fmt: skip
            db.commit()
            return ImportOut(playlist=_detail(db, result.playlist), created=result.created,
                             problems=_problems(result.problems))  # fmt: skip

    return await run_in_threadpool(run)


async def _read_upload(request: Request, filename: str | None) -> tuple[bytes, str]:
    limit = service.MAX_FILE_BYTES
    too_big = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"a playlist file may be at most {limit} bytes"
    )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + IMPORT_FRAMING:
        raise too_big
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "send the playlist as field `file`")
        data = await upload.read(limit + 1)
        filename = filename or upload.filename
    else:
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise too_big
    if len(data) > limit:
        raise too_big
    if not filename:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "give ?filename=NAME.m3u8 (or .m3u, .pls)")
    return data, filename


@router.get(
    "/{playlist_id}/export",
    response_class=Response,
    responses={200: {"content": {"audio/x-mpegurl": {}, "audio/x-scpls": {}}}},
)
def export_playlist(
    playlist_id: RowId,
    db: DbDep,
    fmt: Annotated[PlaylistFormat, Query(alias="format")] = PlaylistFormat.m3u8,
) -> Response:
    """The playlist as a file to download, with paths relative to media/ (imports back)."""
    with _errors():
        playlist = service.get_playlist(db, playlist_id)
        text = service.export_playlist(db, playlist, fmt)
    return Response(
        text.encode(),
        media_type=f"{MEDIA_TYPES[fmt]}; charset=utf-8",
        headers={"Content-Disposition": _attachment(f"{playlist.name}.{fmt.value}")},
    )


def _attachment(filename: str) -> str:
    """Both forms, so every browser gets a safe name: ASCII fallback and RFC 5987 UTF-8."""
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.post("/sync")
def sync_playlists(station: StationDep) -> SyncOut:
    """Imports every playlist file in playlists/, as at start-up."""
    report = service.sync_playlists(station.settings, station.sessions)
    return SyncOut(
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        missing=report.missing,
        failed=[FailedFile(file=file, reason=reason) for file, reason in report.failed],
        problems={file: _problems(problems) for file, problems in report.problems.items()},
    )
