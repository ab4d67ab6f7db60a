"""`radio backup` and `radio restore`: the station's state in one archive, and back.

What is backed up: the database (a consistent snapshot taken with SQLite's online backup
API, safe while the station runs and writes) and every other file of the state folder but
the lock; with `media=True` also media/ (music, uploads, jingles, stings, rendered speech)
and playlists/. An archive is a plain tar file: `manifest.json` first (format, when, the
schema's migration, each file's size and SHA-256), then the files.

A restore checks the whole archive before it changes anything, refuses while a station runs
on the state folder (it holds the state lock itself, so none can start meanwhile), writes
every file to a temp file beside its destination, and only then renames them into place;
the database last, after the old one's write-ahead log is folded in and removed (a stale
log must never be replayed onto the restored database). Files that are not in the archive
are left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import files
from app.config import Settings
from app.statelock import LOCK_NAME

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "database/radio.sqlite3"
CHUNK = 1 << 20
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

Progress = Callable[[int], None]  # bytes done since the last call


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why."""


@dataclass(frozen=True)
class Member:
    name: str  # in the archive: database/..., state/..., media/..., playlists/...
    source: Path  # where it is on disk (for a backup) or goes (for a restore)


def database_path(settings: Settings) -> Path:
    url = settings.sqlalchemy_url
    if not url.startswith("sqlite:///"):
        raise BackupError(
            f"`radio backup` and `radio restore` cover a SQLite database only, and this "
            f"station's database is {url.split(':', 1)[0].split('+')[0]}: back it up with its "
            f"own tools (for PostgreSQL: pg_dump -Fc, and pg_restore), and the folders "
            f"{settings.state_dir} and {settings.media_dir} with tar or rsync"
        )
    return Path(url.removeprefix("sqlite:///"))


def _members(settings: Settings, media: bool) -> list[Member]:
    database = database_path(settings)
    skipped = {LOCK_NAME, *(database.name + side for side in _SQLITE_SIDE_FILES)}
    folders = [("state", settings.state_dir)]
    if media:
        folders += [("media", settings.media_dir), ("playlists", settings.playlists_dir)]
    found: list[Member] = []
    for label, folder in folders:
        for path in sorted(_walk(folder)):
            if path == database or (folder == settings.state_dir and path.name in skipped):
                continue
            if path.name.startswith((files.TEMP_PREFIX, ".upload-")):
                continue  # half-written: not part of the state
            found.append(Member(f"{label}/{path.relative_to(folder).as_posix()}", path))
    return found


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in names:
            path = Path(root, name)
            if path.is_file() and not path.is_symlink():
                yield path


def backup(settings: Settings, archive: Path, *, media: bool = False,
           progress: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    """Write the archive (atomically: a crash leaves no half archive under its name) and
    return its manifest."""
    database = database_path(settings)
    if not database.exists():
        raise BackupError(f"no database at {database}: nothing to back up")
    members = _members(settings, media)
    with tempfile.TemporaryDirectory(prefix="radio-backup-") as scratch:
        snapshot = Path(scratch) / "radio.sqlite3"
        _snapshot(database, snapshot)
        entries = [Member(DATABASE, snapshot), *members]
        sized = [(entry, entry.source.stat().st_size) for entry in entries]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "migration": _migration(snapshot),
            "media": media,
            "files": [],
        }
        with files.atomic_path(archive) as temp, tarfile.open(temp, "w") as tar:
            for entry, size in sized:
                digest = _add(tar, entry, size, progress)
                manifest["files"].append({"name": entry.name, "size": size, "sha256": digest})
            # Last: an archive cut short has none, and is refused as a whole.
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(data), int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))
    return manifest


def _snapshot(database: Path, target: Path) -> None:
    """A consistent copy of a live database: SQLite's online backup API, which copies the
    pages of one read transaction (not a file copy, which may catch a write half done)."""
    source = sqlite3.connect(database, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            copy.close()
    finally:
        source.close()
    check = sqlite3.connect(target)
    try:
        result = check.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        check.close()
    if result != "ok":
        raise BackupError(f"the database snapshot fails its integrity check: {result}")


def _migration(database: Path) -> str | None:
    db = sqlite3.connect(database)
    try:
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        db.close()
    return row[0] if row else None


def _add(tar: tarfile.TarFile, entry: Member, size: int, progress: Progress | None) -> str:
    digest = hashlib.sha256()
    with entry.source.open("rb") as source:
        info = tar.gettarinfo(fileobj=source, arcname=entry.name)
        info.size = size  # a file that grew meanwhile is taken as long as it was
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, _Hashing(source, size, digest, progress))
    return digest.hexdigest()


class _Hashing(io.RawIOBase):
    """Reads at most `size` bytes of `source`, hashing and reporting them as they pass."""

    def __init__(self, source: Any, size: int, digest: Any, progress: Progress | None) -> None:
        self._source, self._left, self._digest, self._progress = source, size, digest, progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        data = self._source.read(size)
        if len(data) < size:
            raise BackupError(f"{self._source.name} shrank while it was being backed up")
        self._left -= len(data)
        self._digest.update(data)
        if self._progress is not None:
            self._progress(len(data))
        return bytes(data)


def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive) as tar:
            try:
                found = tar.getmember(MANIFEST)
            except KeyError:
                raise BackupError(f"{archive} is not a whole station backup (it has no "
                                  f"{MANIFEST})") from None  # fmt: skip
            reader = tar.extractfile(found)
            assert reader is not None
            manifest: dict[str, Any] = json.loads(reader.read())
    except (tarfile.TarError, ValueError) as error:
        raise BackupError(f"{archive} is not a whole station backup: {error}") from error
    except OSError as error:
        raise BackupError(f"cannot read {archive}: {error.strerror or error}") from error
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} has backup format {manifest.get('format')!r}; this "
                          f"station reads format {FORMAT}")  # fmt: skip
    return manifest


def restore(settings: Settings, archive: Path, progress: Progress | None = None) -> dict:
    """Put the archive's state back. The caller holds the state lock (no station runs)."""
    manifest = read_manifest(archive)
    listed = {entry["name"]: entry for entry in manifest["files"]}
    if DATABASE not in listed:
        raise BackupError(f"{archive} holds no database")
    targets = {name: _target(settings, name) for name in listed}
    with contextlib.ExitStack() as stack:
        ready: list[tuple[Path, Path]] = []  # (temp, destination), all checked
        with tarfile.open(archive) as tar:
            for info in tar:
                if info.name == MANIFEST:
                    continue
                entry = listed.pop(info.name, None)
                if entry is None or not info.isfile():
                    raise BackupError(f"{archive} holds {info.name!r}, which its manifest "
                                      "does not list")  # fmt: skip
                destination = targets[info.name]
                fd, temp = files.temp_file(destination.parent, destination.name)
                stack.callback(os.close, fd)
                stack.callback(temp.unlink, missing_ok=True)
                _extract(tar, info, entry, temp, progress)
                ready.append((temp, destination))
        if listed:
            raise BackupError(f"{archive} is missing {', '.join(sorted(listed))}")
        database = database_path(settings)
        database_temp = next(temp for temp, destination in ready if destination == database)
        _check_database(database_temp)
        _fold_log(database)  # the last step that may refuse: nothing is replaced before it
        for temp, destination in ready:
            if destination != database:
                _install(temp, destination)
        _install(database_temp, database)
    return manifest


def _target(settings: Settings, name: str) -> Path:
    if name == DATABASE:
        return database_path(settings)
    label, _, relative = name.partition("/")
    roots = {"state": settings.state_dir, "media": settings.media_dir,
             "playlists": settings.playlists_dir}  # fmt: skip
    root = roots.get(label)
    parts = Path(relative).parts
    if root is None or not relative or ".." in parts or Path(relative).is_absolute():
        raise BackupError(f"refusing the archive member {name!r}")
    if label == "state" and relative == LOCK_NAME:
        raise BackupError("refusing to restore the state lock")
    return root / relative


def _extract(tar: tarfile.TarFile, info: tarfile.TarInfo, entry: dict[str, Any], temp: Path,
             progress: Progress | None) -> None:  # fmt: skip
    reader = tar.extractfile(info)
    assert reader is not None
    digest = hashlib.sha256()
    with temp.open("wb") as out:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            if progress is not None:
                progress(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != entry["sha256"] or info.size != entry["size"]:
        raise BackupError(f"{info.name} in the archive is damaged (its checksum differs)")


def _check_database(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as error:
        result = str(error)
    finally:
        db.close()
    if result != "ok":
        raise BackupError(f"the database in the archive fails its check: {result}")


def _fold_log(database: Path) -> None:
    """Fold the old database's write-ahead log in and remove it and its index, so that
    nothing of the old database is replayed onto the restored one."""
    if database.exists():
        db = sqlite3.connect(database, timeout=5)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as error:
            raise BackupError(f"the current database is in use ({error})") from error
        finally:
            db.close()
    for side in _SQLITE_SIDE_FILES:
        Path(f"{database}{side}").unlink(missing_ok=True)


def _install(temp: Path, destination: Path) -> None:
    os.chmod(temp, files.NEW_FILE_MODE)
    os.replace(temp, destination)
    files.fsync_dir(destination.parent)
