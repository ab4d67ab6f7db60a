"""Keeping the tracks table in step with the files under media_dir.

Two phases: tags for every new or changed file (fast, mutagen), then one ffmpeg analysis per
track still `new`, in parallel threads. Results are written as they arrive, so a scan that is
interrupted loses little and the next one resumes with the tracks still `new`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import SessionFactory
from app.library.analysis import Analysis, analyse
from app.library.errors import AnalysisError, UnreadableAudio
from app.library.tags import read_tags
from app.models import Play, Track, TrackKind, TrackStatus, utcnow
from app.text import clean_tag

AUDIO_EXTENSIONS = frozenset({".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".wav"})
JINGLES_DIR = "jingles"
NEWS_DIR = "news"  # generated speech, owned by the news desk, not the library
RECORDINGS_DIR = "recordings"  # live shows as they aired (app/live/recording.py): not music
COMMIT_EVERY = 200

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass
class ScanReport:
    """What one scan did. `ready` and `unplayable` count the tracks analysed by this scan."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    cleaned: int = 0  # unchanged files whose stored tags an older version had not cleaned
    ready: int = 0
    unplayable: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def mark_unplayable(self, path: str, reason: str) -> None:
        log.info("unplayable: %s: %s", path, reason)
        self.unplayable += 1
        self.problems.append((path, reason))


@dataclass(frozen=True, slots=True)
class LibraryStats:
    ready: int
    new: int
    unplayable: int


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    relative: str  # POSIX, relative to media_dir: the key in the tracks table
    size: int
    mtime: float


def scan(
    media_dir: Path,
    sessions: SessionFactory,
    ffmpeg: str,
    silence_threshold_db: float,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ScanReport:
    """Bring the tracks table up to date with media_dir; never raises for one bad file."""
    report = ScanReport()
    if not media_dir.is_dir():
        # An unmounted or mistyped media dir must not wipe the library and its analyses.
        log.warning("media dir %s does not exist; library left as it is", media_dir)
        return report
    files = list(_audio_files(media_dir))
    _sync_rows(files, sessions, report, progress)
    _analyse_new(media_dir, sessions, ffmpeg, silence_threshold_db, report, progress, workers)
    return report


def add_file(
    media_dir: Path,
    path: Path,
    sessions: SessionFactory,
    ffmpeg: str,
    silence_threshold_db: float,
    progress: Progress | None = None,
) -> Track:
    """Add (or refresh) one file under media_dir and analyse it now, as a scan would.

    Returns the stored track, `ready` or `unplayable` with the reason in `error`."""
    relative = path.relative_to(media_dir).as_posix()
    stat = path.stat()
    file = _File(path, relative, stat.st_size, stat.st_mtime)
    report = ScanReport()
    track_id = _upsert_row(file, sessions, report)
    _report(progress, "tags", 1, 1)
    with sessions() as session:
        track = session.get(Track, track_id)
        pending = track is not None and track.status is TrackStatus.new
        duration = track.duration if track is not None else None
    if pending:
        _report(progress, "analysis", 0, 1)
        outcome: Analysis | AnalysisError
        try:
            outcome = analyse(path, ffmpeg, silence_threshold_db, duration)
        except AnalysisError as exc:
            outcome = exc
        _store_result(sessions, track_id, outcome, report)
        _report(progress, "analysis", 1, 1)
    with sessions() as session:
        track = session.get(Track, track_id)
        if track is None:
            raise UnreadableAudio("the file was removed while it was being added")
        return track


def _upsert_row(file: _File, sessions: SessionFactory, report: ScanReport) -> int:
    # A periodic scan may insert the same path at the same moment: then refresh its row.
    for _attempt in range(2):
        with sessions() as session:
            track = session.scalar(select(Track).where(Track.path == file.relative))
            if track is None:
                track = Track(path=file.relative, kind=track_kind(file.relative))
                session.add(track)
            _read_into(track, file, report)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
            return track.id
    raise UnreadableAudio("the library is busy with this file; try again")


def library_stats(sessions: SessionFactory) -> LibraryStats:
    with sessions() as session:
        rows = session.execute(select(Track.status, func.count()).group_by(Track.status))
        counts: dict[TrackStatus, int] = {status: count for status, count in rows}
    return LibraryStats(
        ready=counts.get(TrackStatus.ready, 0),
        new=counts.get(TrackStatus.new, 0),
        unplayable=counts.get(TrackStatus.unplayable, 0),
    )


def count_ready(sessions: SessionFactory) -> int:
    return library_stats(sessions).ready


def has_music_files(media_dir: Path) -> bool:
    """Whether media_dir holds any music file (jingles, generated news, recordings and hidden
    files aside)."""
    if not media_dir.is_dir():
        return False
    skipped = {JINGLES_DIR, NEWS_DIR, RECORDINGS_DIR}
    for path in media_dir.rglob("*"):
        parts = path.relative_to(media_dir).parts
        if parts[0] in skipped or any(part.startswith(".") for part in parts):
            continue
        if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file():
            return True
    return False


TOP_DIR_KINDS = {JINGLES_DIR: TrackKind.jingle, RECORDINGS_DIR: TrackKind.recording}


def track_kind(relative: str) -> TrackKind:
    """By the top folder under media/: jingles/, recordings/, else music."""
    return TOP_DIR_KINDS.get(relative.split("/", 1)[0], TrackKind.music)


def _audio_files(media_dir: Path) -> Iterator[_File]:
    for root, dirs, names in os.walk(media_dir):
        top = Path(root) == media_dir
        # Pruning in place stops os.walk from descending into hidden dirs and news/.
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (top and d == NEWS_DIR))
        for name in sorted(names):
            if name.startswith(".") or Path(name).suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            path = Path(root, name)
            try:
                stat = path.stat()
            except OSError:
                continue  # vanished between listing and stat: the next scan sees it as removed
            relative = path.relative_to(media_dir).as_posix()
            yield _File(path, relative, stat.st_size, stat.st_mtime)


def _sync_rows(
    files: list[_File], sessions: SessionFactory, report: ScanReport, progress: Progress | None
) -> None:
    """Phase one: insert new files, re-read changed ones, delete rows of removed ones."""
    with sessions() as session:
        known = {track.path: track for track in session.scalars(select(Track))}
        for done, file in enumerate(files, start=1):
            track = known.pop(file.relative, None)
            if track is None:
                track = Track(path=file.relative, kind=track_kind(file.relative))
                session.add(track)
                report.added += 1
            elif track.size != file.size or track.mtime != file.mtime:
                report.changed += 1
            else:
                report.unchanged += 1
                report.cleaned += _clean_stored_tags(session, track)
                _report(progress, "tags", done, len(files))
                continue
            _read_into(track, file, report)
            if done % COMMIT_EVERY == 0:
                session.commit()
            _report(progress, "tags", done, len(files))
        if known:
            removed = [track.id for track in known.values()]
            session.execute(delete(Track).where(Track.id.in_(removed)))
            report.removed = len(removed)
        session.commit()


def _clean_stored_tags(session: Session, track: Track) -> int:
    """1 if the row held tags the cleaning rule changes (stored by a version before it, as
    the file has them): the row is cleaned, and so are the plays that copied them."""
    cleaned = 0
    for name in ("artist", "title", "album"):
        stored = getattr(track, name)
        clean = clean_tag(stored)
        if clean != stored:
            setattr(track, name, clean)
            column = getattr(Play, name)
            session.execute(update(Play).where(Play.track_id == track.id, column == stored)
                            .values({name: clean}))  # fmt: skip
            cleaned = 1
    return cleaned


def _read_into(track: Track, file: _File, report: ScanReport) -> None:
    """Fresh tags for a new or changed file; its old analysis no longer applies."""
    track.size, track.mtime = file.size, file.mtime
    track.loudness_lufs, track.cue_in, track.cue_out, track.analysed_at = None, 0.0, None, None
    try:
        tags = read_tags(file.path)
    except UnreadableAudio as exc:
        track.artist, track.title, track.album = "", clean_tag(file.path.stem), ""
        track.duration = None
        track.status, track.error = TrackStatus.unplayable, exc.reason
        report.mark_unplayable(file.relative, exc.reason)
        return
    track.artist, track.title, track.album = tags.artist, tags.title, tags.album
    track.duration = tags.duration
    track.status, track.error = TrackStatus.new, None


def _analyse_new(
    media_dir: Path,
    sessions: SessionFactory,
    ffmpeg: str,
    silence_threshold_db: float,
    report: ScanReport,
    progress: Progress | None,
    workers: int | None,
) -> None:
    """Phase two: one ffmpeg process per track, `workers` at a time; the caller's thread
    does all the writing, so the database sees a single writer."""
    with sessions() as session:
        pending = session.execute(
            select(Track.id, Track.path, Track.duration).where(Track.status == TrackStatus.new)
        ).all()
    if not pending:
        return
    _report(progress, "analysis", 0, len(pending))
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        futures: dict[Future[Analysis], int] = {
            pool.submit(analyse, media_dir / path, ffmpeg, silence_threshold_db, duration): id_
            for id_, path, duration in pending
        }
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                _store_result(sessions, futures[future], _outcome(future), report)
                _report(progress, "analysis", done, len(pending))
        except BaseException:
            # Not a bad file (those are AnalysisError) but a broken setup, e.g. no ffmpeg.
            pool.shutdown(cancel_futures=True)
            raise


def _outcome(future: Future[Analysis]) -> Analysis | AnalysisError:
    try:
        return future.result()
    except AnalysisError as exc:
        return exc


def _store_result(
    sessions: SessionFactory,
    track_id: int,
    outcome: Analysis | AnalysisError,
    report: ScanReport,
) -> None:
    with sessions() as session:
        track = session.get(Track, track_id)
        if track is None:  # removed by a concurrent scan meanwhile
            return
        if isinstance(outcome, AnalysisError):
            track.status, track.error = TrackStatus.unplayable, outcome.reason
            report.mark_unplayable(track.path, outcome.reason)
        else:
            _apply(track, outcome)
            report.ready += 1
        track.analysed_at = utcnow()
        session.commit()


def _apply(track: Track, analysis: Analysis) -> None:
    track.status, track.error = TrackStatus.ready, None
    track.loudness_lufs = analysis.loudness_lufs
    track.cue_in, track.cue_out = analysis.cue_in, analysis.cue_out
    if track.duration is None:  # some containers (raw AAC) carry no length in their headers
        track.duration = analysis.decoded_duration


def _report(progress: Progress | None, phase: str, done: int, total: int) -> None:
    if progress is not None:
        progress(phase, done, total)
