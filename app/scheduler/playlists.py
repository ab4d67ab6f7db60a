"""Playlists as hosts edit them: the service over the playlists tables, and playlist files.

Functions take a Session and leave committing to the caller, so one request is one
transaction. Bad input raises PlaylistError with a message a host can act on.

Paths in playlist files: an entry resolves relative to the playlist file's folder (when it
has one) or to media/, and only ever lexically: nothing is opened or followed, an entry is
matched to a Track row by its path relative to media/. Anything that lands outside media/
(`..`, absolute paths, URLs, NUL bytes) is a reported problem, as is an unknown file.

Exports write paths relative to media/ (`music/song.mp3`): they round-trip through an
upload (which has no folder) and through playlists/ (where the file's folder is tried first
and media/ next), wherever either folder lives.

Files in playlists/ (see `sync_playlists`) own their entries: each sync replaces a synced
playlist's entries with the file's. Rule, weight, schedule and the rest are not in the files
and stay as hosts set them. An API edit of a synced playlist is written back to its file by
default, so the next sync does not undo it; see app/api/playlists.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app import files
from app.config import Settings
from app.db import SessionFactory
from app.models import Playlist, PlaylistEntry, PlaylistOrder, PlaylistRule, Track, utcnow
from app.scheduler.playlist_files import (
    FileEntry,
    ParsedPlaylist,
    PlaylistFileError,
    PlaylistFormat,
    Problem,
    decode,
    format_for,
    format_playlist,
    parse,
)

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 128  # the column's size
MAX_WEIGHT = 25
MAX_FILE_BYTES = 5 * 1024 * 1024  # some 50 000 entries; anything bigger is not a playlist
PLAYLIST_SUFFIXES = frozenset({".m3u", ".m3u8", ".pls"})
EDITABLE_FIELDS = frozenset(
    {"name", "description", "enabled", "rule", "order", "weight", "every", "minute",
     "window_minutes", "schedule", "is_jingle"}
)  # fmt: skip

NULLABLE_FIELDS = frozenset({"every", "minute", "schedule"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


_Choice = TypeVar("_Choice", PlaylistRule, PlaylistOrder)


class PlaylistError(ValueError):
    """A request that cannot be done as asked; the message says why."""


class PlaylistConflict(PlaylistError):
    """The name (or file) is already taken."""


class PlaylistNotFound(LookupError):
    pass


# --- Playlists and their entries ----------------------------------------------------------


def list_playlists(session: Session) -> list[Playlist]:
    return list(session.scalars(select(Playlist).order_by(Playlist.name)))


def entry_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(PlaylistEntry.playlist_id, func.count()).group_by(PlaylistEntry.playlist_id)
    )
    return {playlist_id: count for playlist_id, count in rows}


def get_playlist(session: Session, playlist_id: int) -> Playlist:
    playlist = session.get(Playlist, playlist_id)
    if playlist is None:
        raise PlaylistNotFound(f"no playlist with id {playlist_id}")
    return playlist


def find_playlist(session: Session, name: str) -> Playlist | None:
    return session.scalars(select(Playlist).where(Playlist.name == name.strip())).first()


def create_playlist(session: Session, name: str, **fields: Any) -> Playlist:
    playlist = Playlist(name=name, description="", enabled=True, rule=PlaylistRule.rotation,
                        order=PlaylistOrder.shuffle, weight=3, window_minutes=10, schedule=[],
                        is_jingle=False)  # fmt: skip
    _apply(session, playlist, {"name": name, **fields})
    session.add(playlist)
    session.flush()
    return playlist


def update_playlist(session: Session, playlist: Playlist, **changes: Any) -> Playlist:
    _apply(session, playlist, changes)
    session.flush()
    return playlist


def delete_playlist(session: Session, playlist: Playlist) -> None:
    session.delete(playlist)  # entries go with it (ON DELETE CASCADE, and below for safety)
    session.execute(delete(PlaylistEntry).where(PlaylistEntry.playlist_id == playlist.id))
    session.flush()


def entry_tracks(session: Session, playlist_id: int) -> list[Track]:
    """The playlist's tracks in order (a track listed twice appears twice)."""
    rows = session.execute(
        select(Track)
        .join(PlaylistEntry, PlaylistEntry.track_id == Track.id)
        .where(PlaylistEntry.playlist_id == playlist_id)
        .order_by(PlaylistEntry.position, PlaylistEntry.id)
    )
    return list(rows.scalars())


def set_entries(session: Session, playlist: Playlist, track_ids: Sequence[int]) -> None:
    """Replace the entries with these tracks, in this order. Unknown ids change nothing."""
    _check_tracks(session, track_ids)
    session.execute(delete(PlaylistEntry).where(PlaylistEntry.playlist_id == playlist.id))
    _add_entries(session, playlist, track_ids, first=0)


def append_entries(session: Session, playlist: Playlist, track_ids: Sequence[int]) -> None:
    _check_tracks(session, track_ids)
    last = session.scalar(
        select(func.max(PlaylistEntry.position)).where(PlaylistEntry.playlist_id == playlist.id)
    )
    _add_entries(session, playlist, track_ids, first=0 if last is None else last + 1)


def move_entry(session: Session, playlist: Playlist, position: int, to: int) -> None:
    """Move the entry at `position` (0-based) to `to`, shifting the ones between."""
    ids = [track.id for track in entry_tracks(session, playlist.id)]
    if not (0 <= position < len(ids) and 0 <= to < len(ids)):
        raise PlaylistError(f"positions must be between 0 and {len(ids) - 1}")
    ids.insert(to, ids.pop(position))
    set_entries(session, playlist, ids)


def _add_entries(
    session: Session, playlist: Playlist, track_ids: Sequence[int], first: int
) -> None:
    session.add_all(
        PlaylistEntry(playlist_id=playlist.id, position=position, track_id=track_id)
        for position, track_id in enumerate(track_ids, start=first)
    )
    playlist.updated_at = utcnow()  # new entries are an edit of the playlist too
    session.flush()


def _check_tracks(session: Session, track_ids: Sequence[int]) -> None:
    wanted = set(track_ids)
    found = set(session.scalars(select(Track.id).where(Track.id.in_(wanted)))) if wanted else set()
    unknown = sorted(wanted - found)
    if unknown:
        raise PlaylistError(f"unknown track ids: {', '.join(map(str, unknown))}")


# --- Validation ---------------------------------------------------------------------------


def _apply(session: Session, playlist: Playlist, changes: dict[str, Any]) -> None:
    """Set the fields, then check the playlist as a whole (rules need their fields)."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise PlaylistError(f"unknown fields: {', '.join(sorted(unknown))}")
    # null clears `every`, `minute` and the dayparts; the other fields always have a value.
    nulls = sorted(k for k, v in changes.items() if v is None and k not in NULLABLE_FIELDS)
    if nulls:
        raise PlaylistError(f"{', '.join(nulls)} cannot be null: leave a field out to keep it")
    if "name" in changes:
        changes["name"] = check_name(changes["name"])
        other = find_playlist(session, changes["name"])
        if other is not None and other is not playlist:
            raise PlaylistConflict(f"a playlist named {changes['name']!r} already exists")
    if "rule" in changes:
        changes["rule"] = _choice(PlaylistRule, changes["rule"], "rule")
    if "order" in changes:
        changes["order"] = _choice(PlaylistOrder, changes["order"], "order")
    if "schedule" in changes:
        changes["schedule"] = check_schedule(changes["schedule"])
    for key, value in changes.items():
        setattr(playlist, key, value)
    validate(playlist)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise PlaylistError("a playlist needs a name")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise PlaylistError(
            f"a playlist name has at most {MAX_NAME_LENGTH} characters, this one {len(name)}"
        )
    if _CONTROL.search(name):
        raise PlaylistError("a playlist name cannot contain control characters")
    return name


def validate(playlist: Playlist) -> None:
    """The rule-specific fields, and the ranges the scheduler relies on."""
    _int_in("weight", playlist.weight, 1, MAX_WEIGHT)
    _int_in("window_minutes", playlist.window_minutes, 1, 59)
    if playlist.every is not None:
        _int_in("every", playlist.every, 1, None)
    if playlist.minute is not None:
        _int_in("minute", playlist.minute, 0, 59)
    interval = playlist.rule in (PlaylistRule.every_songs, PlaylistRule.every_minutes)
    if interval and playlist.every is None:
        unit = "songs" if playlist.rule is PlaylistRule.every_songs else "minutes"
        raise PlaylistError(f"rule {playlist.rule.value} needs `every` (a number of {unit})")
    if playlist.rule is PlaylistRule.hourly and playlist.minute is None:
        raise PlaylistError("rule hourly needs `minute` (0-59), the minute of the hour")


def check_schedule(schedule: Any) -> list[dict[str, Any]]:
    """Dayparts: [{"days": [0-6, Monday=0], "start": "HH:MM", "end": "HH:MM"}]."""
    if schedule is None:
        return []
    if not isinstance(schedule, list):
        raise PlaylistError("schedule must be a list of dayparts")
    return [_check_daypart(index, part) for index, part in enumerate(schedule)]


def _check_daypart(index: int, part: Any) -> dict[str, Any]:
    where = f"schedule[{index}]"
    if not isinstance(part, dict) or set(part) != {"days", "start", "end"}:
        raise PlaylistError(f'{where} must be {{"days": [0-6], "start": "HH:MM", "end": "HH:MM"}}')
    days = part["days"]
    if (
        not isinstance(days, list)
        or not days
        or any(type(day) is not int or not 0 <= day <= 6 for day in days)
    ):
        raise PlaylistError(f"{where}.days must be a non-empty list of 0-6 (Monday is 0)")
    for key in ("start", "end"):
        if not isinstance(part[key], str) or not _TIME.match(part[key]):
            raise PlaylistError(f"{where}.{key} must be a time HH:MM (00:00-23:59)")
    if part["start"] == part["end"]:
        raise PlaylistError(f"{where}: start and end are the same time")
    return {"days": sorted(set(days)), "start": part["start"], "end": part["end"]}


def _int_in(name: str, value: Any, low: int, high: int | None) -> None:
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise PlaylistError(f"{name} must be a whole number {bound}, not {value!r}")


def _choice(kind: type[_Choice], value: Any, name: str) -> _Choice:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise PlaylistError(f"{name} must be one of {choices}, not {value!r}") from None


# --- Playlist files in ----------------------------------------------------------------------


@dataclass
class ImportResult:
    playlist: Playlist
    problems: list[Problem]  # entries left out, with their line and why
    created: bool
    changed: bool  # whether the entries differ from what the playlist had


def read_playlist_file(data: bytes, filename: str) -> ParsedPlaylist:
    """Decode and parse; raises PlaylistFileError for a file that is no playlist at all."""
    if len(data) > MAX_FILE_BYTES:
        raise PlaylistFileError(f"a playlist file may be at most {MAX_FILE_BYTES} bytes")
    fmt = format_for(filename)
    return parse(decode(data, fmt), fmt)


def name_from_filename(filename: str) -> str:
    """The playlist name a file gives: its name without folder and extension."""
    base = PurePosixPath(filename.replace("\\", "/")).name
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return check_name(stem)


def import_playlist(
    session: Session,
    media_dir: Path,
    data: bytes,
    filename: str,
    *,
    name: str | None = None,
    base_dir: Path | None = None,
    replace: bool = False,
) -> ImportResult:
    """Make (or with `replace`, refill) the playlist `name` (default: the file's stem) from a
    playlist file. Entries that cannot be used are reported, the rest imported."""
    parsed = read_playlist_file(data, filename)
    name = check_name(name) if name is not None else name_from_filename(filename)
    track_ids, problems = resolve_entries(session, parsed.entries, media_dir, base_dir)
    playlist = find_playlist(session, name)
    created = playlist is None
    if playlist is None:
        playlist = create_playlist(session, name)
    elif not replace:
        raise PlaylistConflict(f"a playlist named {name!r} already exists (replace it?)")
    changed = [t.id for t in entry_tracks(session, playlist.id)] != track_ids
    if changed:
        set_entries(session, playlist, track_ids)
    return ImportResult(playlist, parsed.problems + problems, created, changed)


def resolve_entries(
    session: Session,
    entries: Iterable[FileEntry],
    media_dir: Path,
    base_dir: Path | None,
    known: dict[str, int] | None = None,
) -> tuple[list[int], list[Problem]]:
    """Track ids for the entries that name a known file inside media/; problems for the rest."""
    if known is None:
        known = track_paths(session)
    track_ids: list[int] = []
    problems: list[Problem] = []
    for entry in entries:
        found = _resolve(entry.location, media_dir, base_dir, known)
        if isinstance(found, int):
            track_ids.append(found)
        else:
            problems.append(Problem(entry.line, found, entry.location))
    return track_ids, problems


def track_paths(session: Session) -> dict[str, int]:
    return {path: id_ for id_, path in session.execute(select(Track.id, Track.path))}


def _resolve(
    location: str, media_dir: Path, base_dir: Path | None, known: dict[str, int]
) -> int | str:
    """A track id, or the reason there is none. Lexical only: nothing is opened."""
    if "\0" in location:
        return "contains a NUL byte"
    if location.lower().startswith("file:"):
        path = _file_url_path(location)
        if path is None:
            return "a file URL of another machine; only files under media/ are played"
        location = path
    elif _URL.match(location):
        return "a URL; only files under media/ are played"
    if _WINDOWS_DRIVE.match(location):
        return "a Windows drive path; use a path relative to media/"
    location = location.replace("\\", "/")
    bases = [media_dir] if base_dir is None or location.startswith("/") else [base_dir, media_dir]
    inside = [r for r in (_inside(base, location, media_dir) for base in bases) if r is not None]
    if not inside:
        return "outside media/; only files under media/ are played"
    for relative in inside:
        if relative in known:
            return known[relative]
    return f"not in the library: {inside[-1]}"


def _inside(base: Path, location: str, media_dir: Path) -> str | None:
    """`location` relative to media_dir when, taken from `base`, it stays inside media_dir."""
    full = PurePosixPath(os.path.normpath(os.path.join(base, location)))
    if not full.is_relative_to(media_dir) or full == PurePosixPath(media_dir):
        return None
    return full.relative_to(media_dir).as_posix()


def _file_url_path(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path)


# --- Playlist files out ---------------------------------------------------------------------


def export_playlist(session: Session, playlist: Playlist, fmt: PlaylistFormat) -> str:
    """The playlist as M3U8 or PLS text, with paths relative to media/."""
    entries = []
    for track in entry_tracks(session, playlist.id):
        if _CONTROL.search(track.path):
            log.warning("playlist %s: cannot write %r to a file", playlist.name, track.path)
            continue
        title = f"{track.artist} - {track.title}" if track.artist else track.title
        entries.append(FileEntry(track.path, title or None, track.duration))
    return format_playlist(entries, fmt)


def file_name_for(name: str, fmt: PlaylistFormat = PlaylistFormat.m3u8) -> str:
    """A file name for the playlist `name`, refused when the name cannot be one safely."""
    if "/" in name or "\\" in name or name.startswith(".") or len(name.encode()) > 200:
        raise PlaylistError(
            f"the name {name!r} cannot be a file name in playlists/ "
            "(no slashes, no leading dot, at most 200 bytes)"
        )
    return f"{name}.{fmt.value}"


def write_back(session: Session, settings: Settings, playlist: Playlist) -> Path:
    """Write the playlist's entries to its file in playlists/, creating `<name>.m3u8` (and
    recording it as the source file) when it has none. Atomic: a reader sees old or new."""
    directory = settings.playlists_dir
    if playlist.source_file is None:
        filename = file_name_for(playlist.name)
        if (directory / filename).exists():
            raise PlaylistConflict(f"playlists/{filename} exists and belongs to no playlist")
        playlist.source_file = filename
    path = _source_path(settings, playlist.source_file)
    text = export_playlist(session, playlist, format_for(path.name))
    files.write_text(path, text)
    session.flush()
    return path


def remove_source_file(settings: Settings, playlist: Playlist) -> None:
    if playlist.source_file is not None:
        _source_path(settings, playlist.source_file).unlink(missing_ok=True)


def _source_path(settings: Settings, source_file: str) -> Path:
    path = settings.playlists_dir / source_file
    # source_file is a bare name we wrote ourselves; refuse anything else all the same.
    if path.parent != settings.playlists_dir or source_file.startswith("."):
        raise PlaylistError(f"source file {source_file!r} is not a file in playlists/")
    return path


# --- playlists/ in step with the database ---------------------------------------------------


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)  # playlist names
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # source files gone; playlists kept
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    problems: dict[str, list[Problem]] = field(default_factory=dict)  # file -> entries left out

    def __str__(self) -> str:
        skipped = sum(len(p) for p in self.problems.values())
        return (
            f"created={len(self.created)} updated={len(self.updated)} "
            f"unchanged={len(self.unchanged)} missing={len(self.missing)} "
            f"failed={len(self.failed)} entries_skipped={skipped}"
        )


def sync_playlists(settings: Settings, sessions: SessionFactory) -> SyncReport:
    """Import every .m3u/.m3u8/.pls file in playlists/ (the name is the file's stem). A
    playlist whose file is gone is reported and left alone; a bad file fails alone."""
    report = SyncReport()
    files = _playlist_files(settings.playlists_dir)
    with sessions() as session:
        known = track_paths(session)
        for path in files:
            try:
                _sync_file(session, settings, path, known, report)
                session.commit()
            except (PlaylistError, PlaylistFileError, OSError) as error:
                session.rollback()
                report.failed.append((path.name, str(error)))
        names = {path.name for path in files}
        sources = session.scalars(
            select(Playlist.source_file).where(Playlist.source_file.is_not(None))
        )
        report.missing = sorted(source for source in sources if source and source not in names)
    for filename, reason in report.failed:
        log.warning("playlists/%s not synced: %s", filename, reason)
    for filename in report.missing:
        log.warning("playlists/%s is gone; its playlist is kept", filename)
    return report


async def sync_playlists_at_startup(settings: Settings, sessions: SessionFactory) -> None:
    """For the station's start-up: a failure is logged, never fatal."""
    try:
        report = await asyncio.to_thread(sync_playlists, settings, sessions)
    except Exception:
        log.exception("syncing playlists/ failed")
        return
    log.info("playlists/: %s", report)


def _playlist_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix.lower() in PLAYLIST_SUFFIXES and not path.name.startswith(".")
        and path.is_file()
    )  # fmt: skip


def _sync_file(
    session: Session, settings: Settings, path: Path, known: dict[str, int], report: SyncReport
) -> None:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise PlaylistFileError(f"bigger than {MAX_FILE_BYTES} bytes")
    parsed = read_playlist_file(path.read_bytes(), path.name)
    track_ids, problems = resolve_entries(
        session, parsed.entries, settings.media_dir, path.parent, known
    )
    playlist = session.scalars(select(Playlist).where(Playlist.source_file == path.name)).first()
    if playlist is None:
        name = name_from_filename(path.name)
        if find_playlist(session, name) is not None:
            raise PlaylistConflict(
                f"a playlist named {name!r} exists and does not come from this file; "
                "rename one of them"
            )
        playlist = create_playlist(session, name)
        playlist.source_file = path.name
        report.created.append(playlist.name)
    elif [t.id for t in entry_tracks(session, playlist.id)] != track_ids:
        report.updated.append(playlist.name)
    else:
        report.unchanged.append(playlist.name)
    set_entries(session, playlist, track_ids)
    if parsed.problems or problems:
        report.problems[path.name] = parsed.problems + problems
