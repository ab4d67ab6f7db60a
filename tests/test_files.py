"""app/files.py: every file the station writes appears whole or not at all."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app import files

# A child that starts replacing `path` with 10 MB and stops half way, as a crash would find it.
_HALF_WRITER = """
import sys, time
from pathlib import Path
from app.files import atomic_path
with atomic_path(Path(sys.argv[1])) as temp, temp.open("wb") as out:
    out.write(b"n" * 5_000_000)
    out.flush()
    print(temp, flush=True)
    time.sleep(600)
    out.write(b"n" * 5_000_000)
"""


def test_a_write_killed_half_way_leaves_the_old_file_and_a_temp_the_sweep_removes(
    tmp_path: Path,
) -> None:
    target = tmp_path / "music" / "song.mp3"
    target.parent.mkdir()
    target.write_bytes(b"old" * 1000)
    child = subprocess.Popen([sys.executable, "-c", _HALF_WRITER, str(target)],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None
    temp = Path(child.stdout.readline().strip())
    assert temp.parent == target.parent
    assert temp.name.startswith(".")
    assert temp.name.endswith(".mp3"), "ffmpeg and mutagen go by the extension"
    assert files.sweep_temp_files(tmp_path) == [], "a temp still being written is left"

    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()

    assert target.read_bytes() == b"old" * 1000
    assert files.sweep_temp_files(tmp_path) == [(temp, 5_000_000)]
    assert sorted(p.name for p in target.parent.iterdir()) == ["song.mp3"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "list.m3u8"
    target.write_text("old")

    def fail_half_way() -> None:
        with files.atomic_path(target) as temp:
            temp.write_text("half")
            raise RuntimeError("ffmpeg failed")

    with pytest.raises(RuntimeError):
        fail_half_way()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["list.m3u8"]

    files.write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["list.m3u8"]
    assert stat.S_IMODE(target.stat().st_mode) == files.NEW_FILE_MODE


def test_an_edit_in_place_keeps_the_mode_and_starts_from_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "song.ogg"
    target.write_bytes(b"audio")
    target.chmod(0o640)
    with files.atomic_path(target, copy_existing=True) as copy:
        assert copy.read_bytes() == b"audio"
        with copy.open("ab") as out:
            out.write(b"+tags")
    assert target.read_bytes() == b"audio+tags"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_the_data_reaches_the_disk_before_the_rename_and_the_rename_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a kill -9 cannot show (the page cache survives it; a power cut does not): the
    order of the system calls. The file's data is flushed before it takes the name, and the
    folder after, so neither a half file nor a lost rename can follow a power cut."""
    target = tmp_path / "speech.mp3"
    calls: list[str] = []
    real_fsync, real_replace, real_link = os.fsync, os.replace, os.link

    def fsync(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        calls.append("fsync dir" if stat.S_ISDIR(mode) else f"fsync {os.fstat(fd).st_size}")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        calls.append(f"rename to {Path(dst).name}")
        real_replace(src, dst)

    def link(src: str | Path, dst: str | Path) -> None:
        calls.append(f"link to {Path(dst).name}")
        real_link(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "link", link)
    files.write_bytes(target, b"x" * 1234)
    assert calls == ["fsync 1234", "rename to speech.mp3", "fsync dir"]

    calls.clear()
    fd, temp = files.temp_file(tmp_path, prefix=".upload-", suffix=".part")
    os.write(fd, b"y" * 99)
    files.link_new(temp, tmp_path / "upload.mp3")
    os.close(fd)
    assert calls == ["fsync 99", "link to upload.mp3", "fsync dir"]


def test_the_sweep_takes_only_the_stations_temp_files(tmp_path: Path) -> None:
    deep = tmp_path / "news" / "ab"
    deep.mkdir(parents=True)
    stale = [tmp_path / ".radio-tmp-x1-a.mp3", deep / ".radio-tmp-x2-b.mp3"]
    for path in stale:
        path.write_bytes(b"half")
    kept = [tmp_path / "radio-tmp-x3.mp3", tmp_path / ".radio-notes", deep / "b.mp3"]
    for path in kept:
        path.write_bytes(b"mine")
    (tmp_path / ".radio-tmp-link").symlink_to(kept[0])
    fd, writing = files.temp_file(deep, "c.mp3")
    try:
        removed = files.sweep_temp_files(tmp_path)
    finally:
        os.close(fd)
    assert removed == sorted((path, 4) for path in stale)
    assert all(path.read_bytes() == b"mine" for path in kept)
    assert writing.exists()
    assert (tmp_path / ".radio-tmp-link").is_symlink()
    assert files.sweep_temp_files(tmp_path / "absent") == []
