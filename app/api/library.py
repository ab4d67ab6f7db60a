"""Host routes for the music library: list and search tracks, edit tags, upload, delete, and
watch the background jobs that uploads start."""

from __future__ import annotations

import asyncio
import errno
import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.exc import OperationalError

from app.api.auth import HostDep
from app.api.deps import MAX_SQL_INT, RowId, StationDep
from app.api.limits import STREAMED_BODY_LIMIT
from app.core.jobs import Job, JobContext, JobRegistry, JobState
from app.db import deadlocked
from app.library.errors import UnreadableAudio
from app.library.scanner import JINGLES_DIR, add_file
from app.library.tags import read_tags, write_tags
from app.library.uploads import (
    UploadRefused,
    audio_filename,
    format_size,
    place_file,
    receive_upload,
    sniff_audio,
)
from app.models import PlaylistEntry, Track, TrackKind, TrackStatus
from app.station import Station
from app.text import MAX_TAG_LENGTH, clean_tag, has_control_characters

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", dependencies=[HostDep], tags=["library"])

DISK_PROBLEM = "disk:media"  # uploads cannot be written
UPLOAD_DIRS = {TrackKind.music: "music/uploads", TrackKind.jingle: JINGLES_DIR}
# Room for the multipart boundaries and headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
DELETE_ATTEMPTS = 3  # a deleted track meeting a deadlock (PostgreSQL) is deleted again


# --- Schemas -----------------------------------------------------------------------------


class TrackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    path: str = Field(description="relative to media/")
    kind: TrackKind
    status: TrackStatus
    error: str | None = Field(description="why the track cannot go on air")
    artist: str
    title: str
    album: str
    duration: float | None
    loudness_lufs: float | None
    cue_in: float
    cue_out: float | None
    size: int
    added_at: datetime
    analysed_at: datetime | None
    last_played_at: datetime | None


class TrackPage(BaseModel):
    total: int = Field(description="tracks matching the filters, across all pages")
    limit: int
    offset: int
    items: list[TrackOut]


class TagEdit(BaseModel):
    """Only the fields given are changed; they are written into the file itself."""

    model_config = ConfigDict(extra="forbid")

    artist: str | None = Field(None, max_length=MAX_TAG_LENGTH)
    title: str | None = Field(None, min_length=1, max_length=MAX_TAG_LENGTH)
    album: str | None = Field(None, max_length=MAX_TAG_LENGTH)

    @field_validator("artist", "title", "album")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if has_control_characters(value):
            raise ValueError("control characters (tabs, line breaks, NUL...) are not allowed "
                             "in tags")  # fmt: skip
        return clean_tag(value)  # the rule every tag follows: single spaces, trimmed

    def changes(self) -> dict[str, str]:
        return {key: value for key, value in self.model_dump().items() if value is not None}


class JobOut(BaseModel):
    id: str
    kind: str
    state: JobState
    progress: float = Field(ge=0, le=1)
    message: str
    track_id: int | None = Field(None, description="the track the job made, once known")
    result: dict[str, Any] = Field(default_factory=dict, description="what the job produced")
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(id=job.id, kind=job.kind, state=job.state, progress=job.progress,
                   message=job.message, track_id=job.result.get("track_id"), result=job.result,
                   created_at=job.created_at, finished_at=job.finished_at)  # fmt: skip


class UploadAccepted(BaseModel):
    job: JobOut
    path: str = Field(description="where the file was stored, relative to media/")
    size: int


# --- Dependencies ------------------------------------------------------------------------


def _jobs(station: StationDep) -> JobRegistry:
    return station.jobs


JobsDep = Annotated[JobRegistry, Depends(_jobs)]


# --- Tracks ------------------------------------------------------------------------------


@router.get("/tracks")
def list_tracks(
    station: StationDep,
    q: Annotated[str | None, Query(description="in artist, title or album; any case")] = None,
    artist: Annotated[str | None, Query(description="exact artist, any case")] = None,
    album: Annotated[str | None, Query(description="exact album, any case")] = None,
    playlist: Annotated[
        RowId | None, Query(description="tracks of this playlist, in order")
    ] = None,
    kind: TrackKind | None = None,
    status_: Annotated[TrackStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INT)] = 0,
) -> TrackPage:
    """List and search the library, a page at a time."""
    query = _filtered(select(Track), q, artist, album, playlist, kind, status_)
    with station.sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        if playlist is not None:
            query = query.order_by(PlaylistEntry.position, PlaylistEntry.id)
        else:
            query = query.order_by(func.lower(Track.artist), func.lower(Track.title), Track.id)
        tracks = session.scalars(query.limit(limit).offset(offset)).all()
    return TrackPage(total=total, limit=limit, offset=offset,
                     items=[TrackOut.model_validate(t) for t in tracks])  # fmt: skip


def _filtered(
    query: Select[tuple[Track]],
    q: str | None,
    artist: str | None,
    album: str | None,
    playlist: int | None,
    kind: TrackKind | None,
    status_: TrackStatus | None,
) -> Select[tuple[Track]]:
    if q:
        pattern = f"%{_escape_like(q.strip())}%"
        columns = (Track.artist, Track.title, Track.album)
        query = query.where(or_(*(column.ilike(pattern, escape="\\") for column in columns)))
    if artist is not None:
        query = query.where(func.lower(Track.artist) == artist.strip().lower())
    if album is not None:
        query = query.where(func.lower(Track.album) == album.strip().lower())
    if playlist is not None:
        query = query.join(PlaylistEntry, PlaylistEntry.track_id == Track.id).where(
            PlaylistEntry.playlist_id == playlist
        )
    if kind is not None:
        query = query.where(Track.kind == kind)
    if status_ is not None:
        query = query.where(Track.status == status_)
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@router.get("/tracks/{track_id}")
def get_track(track_id: RowId, station: StationDep) -> TrackOut:
    with station.sessions() as session:
        return TrackOut.model_validate(_track_or_404(session.get(Track, track_id), track_id))


# A track's file as its format says (by the name the library gave it; its content was
# checked when it came in), for the dashboard's "Go live" panel to play under the microphone.
AUDIO_TYPES = {".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".opus": "audio/ogg",
               ".oga": "audio/ogg", ".flac": "audio/flac", ".m4a": "audio/mp4",
               ".mp4": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav"}  # fmt: skip
OTHER_AUDIO = "application/octet-stream"


@router.get(
    "/tracks/{track_id}/audio",
    response_class=FileResponse,
    responses={
        200: {"description": "the track's file (Range requests work)",
              "content": {kind: {} for kind in [*AUDIO_TYPES.values(), OTHER_AUDIO]}},
        409: {"description": "the track's file is outside media/"},
    },
)  # fmt: skip
def track_audio(track_id: RowId, station: StationDep) -> FileResponse:
    """The track's audio file, to play in the dashboard (under the microphone when live)."""
    with station.sessions() as session:
        track = _track_or_404(session.get(Track, track_id), track_id)
        path = _file_of(station, track)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the file of track {track_id} is gone")
    return FileResponse(path, media_type=AUDIO_TYPES.get(path.suffix.lower(), OTHER_AUDIO))


@router.patch("/tracks/{track_id}", responses={409: {"description": "the file cannot be written"}})
def edit_track(track_id: RowId, edit: TagEdit, station: StationDep) -> TrackOut:
    """Change artist, title or album: written into the file first, then into the library, so
    the next scan finds nothing changed."""
    changes = edit.changes()
    if not changes:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "nothing to change: give artist, title or album")  # fmt: skip
    with station.sessions() as session:
        track = _track_or_404(session.get(Track, track_id), track_id)
        path = _file_of(station, track)
        try:
            write_tags(path, changes)
            tags = read_tags(path)
            stat = path.stat()
        except Exception as exc:  # mutagen raises many kinds; the message is what matters
            session.rollback()
            detail = f"cannot write tags to {track.path}: {_reason(exc)}"
            raise HTTPException(status.HTTP_409_CONFLICT, detail) from exc
        track.artist, track.title, track.album = tags.artist, tags.title, tags.album
        track.size, track.mtime = stat.st_size, stat.st_mtime
        session.commit()
        return TrackOut.model_validate(track)


@router.delete("/tracks/{track_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={409: {"description": "the file cannot be deleted"}})  # fmt: skip
def delete_track(track_id: RowId, station: StationDep) -> None:
    """Delete the file and the track; its queue and playlist entries go with it."""
    for attempt in range(DELETE_ATTEMPTS):
        try:
            _delete_track(station, track_id)
            break
        except OperationalError as error:
            # Deleting a track the playout is just taking from the queue: each holds a row
            # the other's cascade or key check waits for, and PostgreSQL undoes one of them.
            if not deadlocked(error) or attempt == DELETE_ATTEMPTS - 1:
                raise
            log.info("deleting track %d met a deadlock; trying again", track_id)
    _library_changed(station)


def _delete_track(station: Station, track_id: int) -> None:
    """The row, then the file before the row's deletion is committed: a file that cannot
    be deleted keeps its row, and a failed transaction keeps the file."""
    with station.sessions() as session:
        track = _track_or_404(session.get(Track, track_id), track_id)
        path = _file_of(station, track)
        session.execute(delete(Track).where(Track.id == track_id))
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"cannot delete {track.path}: {_reason(exc)}") from exc  # fmt: skip
        session.commit()


def _track_or_404(track: Track | None, track_id: int) -> Track:
    if track is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no track {track_id}")
    return track


def _file_of(station: Station, track: Track) -> Path:
    media = station.settings.media_dir
    path = (media / track.path).resolve()
    if not path.is_relative_to(media):  # a row must never lead outside media/
        raise HTTPException(status.HTTP_409_CONFLICT, f"{track.path} is outside media/")
    return path


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnreadableAudio):
        return exc.reason
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


def _library_changed(station: Station) -> None:
    """Let the scheduler drop plans made with the library as it was."""
    station.planner.library_changed()


# --- Uploads and jobs --------------------------------------------------------------------

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"type": "string", "enum": ["music", "jingle"]},
                    },
                }
            }
        },
    }
}


@router.post(
    "/tracks/upload",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadAccepted,
    openapi_extra=_UPLOAD_BODY,
    max_body_size=STREAMED_BODY_LIMIT,  # receive_upload streams it and applies the setting
    responses={
        400: {"description": "not a usable multipart upload"},
        413: {"description": "larger than RADIO_UPLOAD_MAX_MB"},
        415: {"description": "the content is not audio, whatever its name"},
        507: {"description": "the disk of media/ is full (shown to hosts as a problem)"},
    },
)
async def upload_track(
    request: Request,
    station: StationDep,
    jobs: JobsDep,
    kind: Annotated[TrackKind | None, Query(description="music (default) or jingle")] = None,
) -> JSONResponse:
    """Upload one audio file (multipart field `file`). It is checked by content, stored
    under media/ with a safe name, and analysed in the background: poll the job."""
    settings = station.settings
    max_bytes = int(settings.upload_max_mb * 1_000_000)
    _refuse_declared_oversize(request, max_bytes)
    try:
        received = await receive_upload(request.stream(), request.headers.get("content-type", ""),
                                        settings.media_dir, max_bytes)  # fmt: skip
    except UploadRefused as exc:
        raise HTTPException(exc.status_code, exc.reason) from exc
    except OSError as exc:
        raise _disk_full(station, exc) from exc
    except RuntimeError as exc:  # "Stream consumed": something read the body as a form first
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the upload was read before it could "
                            "be stored; signed in by cookie, send the CSRF token in the "
                            "X-CSRF-Token header, not as a form field") from exc  # fmt: skip
    try:
        kind = kind or _kind_field(received.fields.get("kind"))
        if kind not in UPLOAD_DIRS:  # recordings are made by the station, never uploaded
            raise UploadRefused(f"kind must be music or jingle, not {kind.value!r}")
        audio = await asyncio.to_thread(sniff_audio, received.path, station.ffmpeg)
        name = audio_filename(received.filename, audio)
        target = settings.media_dir / UPLOAD_DIRS[kind]
        stored = await asyncio.to_thread(place_file, received.path, target, name)
    except UploadRefused as exc:
        received.path.unlink(missing_ok=True)
        raise HTTPException(exc.status_code, exc.reason) from exc
    except OSError as exc:
        received.path.unlink(missing_ok=True)
        raise _disk_full(station, exc) from exc
    except BaseException:
        received.path.unlink(missing_ok=True)
        raise
    station.problems.clear(DISK_PROBLEM, "an upload was stored")
    relative = stored.relative_to(settings.media_dir).as_posix()
    log.info("upload stored: %s (%s)", relative, format_size(received.size))
    job = jobs.submit("upload", lambda context: _analyse_upload(station, stored, context))
    body = UploadAccepted(job=JobOut.of(job), path=relative, size=received.size)
    return JSONResponse(body.model_dump(mode="json"), status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/jobs/{job.id}"})  # fmt: skip


def _disk_full(station: Station, error: OSError) -> Exception:
    """An upload that could not be written: a full disk is the host's problem to see (and a
    507), anything else the error it is."""
    if error.errno not in (errno.ENOSPC, errno.EDQUOT):
        return error
    station.problems.report(DISK_PROBLEM, "The disk of media/ is full: uploads are refused "
                            "until there is room", error.strerror or str(error))  # fmt: skip
    return HTTPException(
        status.HTTP_507_INSUFFICIENT_STORAGE,
        "the station's disk is full: the upload was not stored",
    )


def _refuse_declared_oversize(request: Request, max_bytes: int) -> None:
    # Refuse before reading a byte when the client says up front that it is too big.
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"the file is larger than the upload limit of "
                            f"{format_size(max_bytes)}")  # fmt: skip


def _kind_field(value: str | None) -> TrackKind:
    if not value:
        return TrackKind.music
    try:
        return TrackKind(value)
    except ValueError:
        raise UploadRefused(f"kind must be music or jingle, not {value!r}") from None


def _analyse_upload(station: Station, path: Path, context: JobContext) -> str:
    """The job: tags, then loudness and silence, exactly as a scan would do them."""
    settings = station.settings

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "tags":
            context.progress(0.2, "tags read; analysing loudness and silence")
        elif done == total:
            context.progress(0.95, "analysed")

    context.progress(0.05, "reading tags")
    track = add_file(settings.media_dir, path, station.sessions, station.ffmpeg,
                     settings.silence_threshold_db, progress)  # fmt: skip
    context.set_result(track_id=track.id)
    _library_changed(station)
    if track.status is TrackStatus.unplayable:
        return f"stored, but it cannot go on air: {track.error}"
    return "ready"


@router.post("/library/scan", status_code=status.HTTP_202_ACCEPTED)
def scan_library(station: StationDep, jobs: JobsDep, response: Response) -> JobOut:
    """Scan media/ for added, changed and removed files now (as `radio scan` does), in the
    background; follow its progress at the job's URL."""

    def work(context: JobContext) -> str:
        def progress(phase: str, done: int, total: int) -> None:
            share = 0.2 if phase == "tags" else 0.8
            base = 0.0 if phase == "tags" else 0.2
            context.progress(base + share * done / max(total, 1), f"{phase}: {done} of {total}")

        report = station.scan_library(progress)
        context.set_result(added=report.added, changed=report.changed, removed=report.removed,
                           unplayable=report.unplayable)  # fmt: skip
        return str(report)

    job = jobs.submit("scan", work)
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return JobOut.of(job)


@router.get("/jobs/{job_id}")
def get_job(job_id: str, jobs: JobsDep) -> JobOut:
    """A background job: queued, running (with progress 0..1), done or failed."""
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id} (finished jobs are "
                                                       "kept for a while only)")  # fmt: skip
    return JobOut.of(job)
