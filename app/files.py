"""Writing files so that a crash never leaves half of one: the one way the station writes.

Every file the station makes (a synced playlist, a speech render, a sting, the demo library,
a tag edit, an upload, a backup, a restore) is written to a hidden temp file in the folder
of its destination, flushed to disk (fsync), renamed over the destination (atomic on POSIX:
a reader sees the old file or the new one, never a mix), and the folder is flushed so the
rename itself survives a power cut. A temp file is locked (flock) while it is written; the
kernel drops the lock when its process ends however it ends, so `sweep_temp_files` at
start-up removes exactly the ones a crash left and passes over one still being written.

Temp files are named `.radio-tmp-<random>-<name>`: hidden (the scanner and the playlist sync
skip dot files) and ending like the destination (ffmpeg and mutagen go by the extension).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".radio-tmp-"
TEMP_PATTERN = f"{TEMP_PREFIX}*"
_NAME_ROOM = 120  # of the destination's name kept in the temp's: file names stop at 255 bytes
NEW_FILE_MODE = 0o644


def temp_file(directory: Path, name: str = "", *, prefix: str = TEMP_PREFIX,
              suffix: str = "") -> tuple[int, Path]:  # fmt: skip
    """A new, empty, locked temp file in `directory` (created if need be): (fd, path). The
    caller owns the fd; closing it drops the lock."""
    directory.mkdir(parents=True, exist_ok=True)
    tail = name[-_NAME_ROOM:] if name else ""
    fd, temp = tempfile.mkstemp(prefix=prefix, suffix=f"-{tail}{suffix}" if tail else suffix,
                                dir=directory)  # fmt: skip
    fcntl.flock(fd, fcntl.LOCK_EX)  # a new file: nobody else can hold it
    return fd, Path(temp)


def fsync_dir(directory: Path) -> None:
    """Make a rename, link or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_path(path: Path) -> None:
    """Flush a file written by someone else (ffmpeg, mutagen) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path, *, copy_existing: bool = False) -> Iterator[Path]:
    """Yield a temp path beside `path` to write (by this process or a child such as
    ffmpeg); when the block ends without error it is flushed and renamed over `path`.
    On error the temp file is removed and `path` is untouched. `copy_existing` starts the
    temp as a copy of `path` (to edit a file in place, e.g. its tags)."""
    fd, temp = temp_file(path.parent, path.name)
    try:
        if copy_existing:
            shutil.copyfile(path, temp)
            shutil.copymode(path, temp)
        else:
            os.fchmod(fd, NEW_FILE_MODE)
        yield temp
        fsync_path(temp)
        os.replace(temp, path)
        fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()  # only when something failed: after the rename it is gone
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` as the whole of `path`, atomically and durably."""
    with atomic_path(path) as temp, temp.open("wb") as file:
        file.write(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def link_new(temp: Path, path: Path) -> None:
    """Give the finished, flushed file `temp` the name `path` only if nothing has that name
    yet (FileExistsError otherwise), then drop the temp name: a reader sees all or nothing."""
    fsync_path(temp)
    os.link(temp, path)  # fails if the name is taken, unlike a rename
    temp.unlink()
    fsync_dir(path.parent)
    if temp.parent != path.parent:
        fsync_dir(temp.parent)


def sweep_temp_files(
    directory: Path, pattern: str = TEMP_PATTERN, *, recursive: bool = True
) -> list[tuple[Path, int]]:
    """Remove the temp files matching `pattern` in `directory` (and below it, unless not
    `recursive`) that nobody is writing (left by a crash), and say which (path, size). A
    file some process holds locked, a symlink, or anything but a regular file is left."""
    if not directory.is_dir():
        return []
    found = directory.rglob(pattern) if recursive else directory.glob(pattern)
    removed: list[tuple[Path, int]] = []
    for path in sorted(found):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # gone meanwhile, or a symlink: not ours
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # BlockingIOError: a live writer holds it
        else:
            size = os.fstat(fd).st_size
            path.unlink(missing_ok=True)
            removed.append((path, size))
        finally:
            os.close(fd)
    return removed
