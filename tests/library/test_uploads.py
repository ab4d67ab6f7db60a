from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.core.jobs import JobContext, JobRegistry, JobState
from app.library.errors import AnalysisError
from app.library.uploads import (
    AudioFormat,
    NotAudio,
    StreamedFile,
    UploadRefused,
    audio_filename,
    check_filename,
    place_file,
    receive_upload,
    safe_filename,
    sniff_audio,
    sweep_stale_uploads,
)
from tests.audio import write_tone

MP3 = AudioFormat("MP3", (".mp3",))


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("Elin Vass - Slow River.mp3", "Elin Vass - Slow River.mp3"),
        ("C:\\Users\\me\\Music\\song.mp3", "song.mp3"),
        ("Ünïcödé Straße.flac", "Unicode Strasse.flac"),
        ("Ærø – 東京 <live>?.ogg", "AEro_live.ogg"),
        (".hidden.mp3", "hidden.mp3"),
        ("a...b.mp3", "a.b.mp3"),
        ("..", "upload"),
        ("東京.mp3", "upload.mp3"),
        ("tab\there.mp3", "tabhere.mp3"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_long_names_are_capped_keeping_the_extension() -> None:
    name = safe_filename("x" * 200 + ".flac")
    assert len(name) == 120
    assert name.endswith("x.flac")


def test_the_extension_follows_the_content() -> None:
    assert audio_filename("song.txt", MP3) == "song.mp3"
    assert audio_filename("song.MP3", MP3) == "song.mp3"
    assert audio_filename("song", MP3) == "song.mp3"
    ogg = AudioFormat("Ogg Vorbis", (".ogg", ".oga"))
    assert audio_filename("song.oga", ogg) == "song.oga"
    assert audio_filename("song.mp3", ogg) == "song.ogg"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../etc/passwd", "without folders or '..'"),
        ("..\\..\\boot.ini", "without folders or '..'"),
        ("music/song.mp3", "without folders"),
        ("evil\x00.mp3", "control characters such as NUL"),
        ("two\nlines.mp3", "control characters"),
        ("x" * 300 + ".mp3", "at most 255 bytes"),
        ("   ", "no name"),
    ],
)
def test_hostile_names_are_refused(name: str, why: str) -> None:
    with pytest.raises(UploadRefused, match=why):
        check_filename(name)


def test_ordinary_names_pass_the_check() -> None:
    for name in ("song.mp3", "Ünïcödé – 東京.mp3", "a..b.mp3", "x" * 250 + ".mp3"):
        check_filename(name)


def test_place_file_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "music" / "uploads"
    placed = []
    for content in (b"one", b"two", b"three"):
        temp = tmp_path / ".upload-x.part"
        temp.write_bytes(content)
        placed.append(place_file(temp, target, "song.mp3"))
        assert not temp.exists()
    assert [p.name for p in placed] == ["song.mp3", "song-1.mp3", "song-2.mp3"]
    assert [p.read_bytes() for p in placed] == [b"one", b"two", b"three"]


def test_numbered_names_stay_within_the_cap(tmp_path: Path) -> None:
    name = safe_filename("y" * 300 + ".mp3")
    for _ in range(2):
        temp = tmp_path / ".t"
        temp.write_bytes(b"x")
        last = place_file(temp, tmp_path, name)
    assert last.name.endswith("-1.mp3")
    assert len(last.name) == 120


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".opus", ".flac", ".wav", ".m4a", ".aac"])
def test_sniff_recognises_audio_by_content(tmp_path: Path, ffmpeg: str, suffix: str) -> None:
    real = write_tone(tmp_path / f"tone{suffix}", 1.0)
    disguised = real.rename(tmp_path / "disguised.txt")
    assert suffix in sniff_audio(disguised, ffmpeg).extensions


def test_sniff_refuses_text_renamed_mp3(tmp_path: Path, ffmpeg: str) -> None:
    fake = tmp_path / "song.mp3"
    fake.write_text("Dear diary, today I renamed a text file.\n" * 50)
    with pytest.raises(NotAudio, match="not an audio file") as refused:
        sniff_audio(fake, ffmpeg)
    assert refused.value.status_code == 415


def test_sniff_refuses_a_fake_header(tmp_path: Path, ffmpeg: str) -> None:
    fake = tmp_path / "song.mp3"
    fake.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"not mpeg frames " * 200)
    with pytest.raises(NotAudio, match="not a readable MP3"):
        sniff_audio(fake, ffmpeg)


def test_sniff_refuses_a_picture_named_like_audio(tmp_path: Path, ffmpeg: str) -> None:
    png = tmp_path / "cover.mp3"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(NotAudio):
        sniff_audio(png, ffmpeg)


def _multipart(files: dict, data: dict | None = None) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://station/", files=files, data=data)
    return request.read(), request.headers["content-type"]


async def _chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_receive_streams_the_file_and_the_fields(tmp_path: Path) -> None:
    content = bytes(range(256)) * 400
    body, content_type = _multipart({"file": ("a b.mp3", content)}, {"kind": "jingle"})

    received = asyncio.run(receive_upload(_chunks(body), content_type, tmp_path, 200_000))

    assert received.path.parent == tmp_path
    assert received.path.name.startswith(".")  # hidden: the scanner skips it
    assert received.path.read_bytes() == content
    assert (received.filename, received.size) == ("a b.mp3", len(content))
    assert received.fields == {"kind": "jingle"}


@pytest.mark.parametrize(
    ("files", "content_type", "status", "why"),
    [
        ({"file": ("big.mp3", bytes(5000))}, None, 413, "larger than the upload limit of 4.0 KB"),
        ({"file": ("../x.mp3", b"abc")}, None, 400, "refused file name"),
        ({"file": ("empty.mp3", b"")}, None, 400, "empty"),
        ({"file": ("a.mp3", b"1"), "other": ("b.mp3", b"2")}, None, 400, "one file per upload"),
        ({"file": ("a.mp3", b"1")}, "application/octet-stream", 400, "multipart/form-data"),
    ],
)
def test_receive_refusals_leave_nothing_behind(
    tmp_path: Path, files: dict, content_type: str | None, status: int, why: str
) -> None:
    body, multipart_type = _multipart(files)
    with pytest.raises(UploadRefused, match=why) as refused:
        asyncio.run(receive_upload(_chunks(body), content_type or multipart_type, tmp_path, 4000))
    assert refused.value.status_code == status
    assert list(tmp_path.iterdir()) == []


def test_receive_without_a_file_part(tmp_path: Path) -> None:
    body, content_type = _multipart({}, {"kind": "music", "x": "y"})
    if not content_type.startswith("multipart/"):  # httpx sends no-file forms urlencoded
        body, content_type = _multipart({"x": (None, b"y")})
    with pytest.raises(UploadRefused, match="no file"):
        asyncio.run(receive_upload(_chunks(body), content_type, tmp_path, 4000))
    assert list(tmp_path.iterdir()) == []


def test_receive_cleans_up_when_the_client_goes_away(tmp_path: Path) -> None:
    body, content_type = _multipart({"file": ("a.mp3", bytes(50_000))})

    async def broken() -> AsyncIterator[bytes]:
        yield body[:20_000]
        raise ConnectionResetError("client gone")

    with pytest.raises(ConnectionResetError):
        asyncio.run(receive_upload(broken(), content_type, tmp_path, 100_000))
    assert list(tmp_path.iterdir()) == []


def _wait(registry: JobRegistry, job_id: str) -> JobState:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        job = registry.get(job_id)
        assert job is not None
        if job.finished:
            return job.state
        time.sleep(0.01)
    raise AssertionError("job did not finish")


def test_jobs_report_progress_results_and_failures() -> None:
    registry = JobRegistry(keep_finished=2)
    seen: list[float] = []
    submitted = threading.Event()

    def work(context: JobContext) -> str:
        submitted.wait(5)
        context.progress(0.5, "half way")
        job = registry.get(ok.id)
        assert job is not None
        seen.append(job.progress)
        context.set_result(track_id=7)
        return "ready"

    def broken(context: JobContext) -> str:
        raise AnalysisError("silent")

    ok = registry.submit("upload", work)
    bad = registry.submit("upload", broken)
    submitted.set()
    try:
        assert _wait(registry, ok.id) is JobState.done
        assert _wait(registry, bad.id) is JobState.failed
        done, failed = registry.get(ok.id), registry.get(bad.id)
        assert done is not None
        assert failed is not None
        assert seen == [0.5]
        assert (done.progress, done.message, done.result) == (1.0, "ready", {"track_id": 7})
        assert failed.message == "silent"
        assert done.finished_at is not None
        # Only the last two finished jobs are kept.
        third = registry.submit("upload", lambda context: "ok")
        assert _wait(registry, third.id) is JobState.done
        assert registry.get(ok.id) is None
        assert registry.get(third.id) is not None
    finally:
        registry.shutdown()


def test_the_sweep_removes_stale_upload_files_and_nothing_else(tmp_path: Path) -> None:
    stale = tmp_path / ".upload-a1b2c3.part"  # left by a crash: nobody writes it
    stale.write_bytes(bytes(1000))
    in_progress = StreamedFile(tmp_path, 10_000)
    in_progress.write(b"an upload still arriving")
    (tmp_path / "music").mkdir()
    others = [tmp_path / ".upload-notes.txt", tmp_path / "mix.part",
              tmp_path / "music" / ".upload-d4e5f6.part"]  # fmt: skip
    for path in others:
        path.write_text("not the station's temp file")
    (tmp_path / ".upload-link.part").symlink_to(others[0])

    removed = sweep_stale_uploads(tmp_path)

    assert removed == [(stale, 1000)]
    assert not stale.exists()
    assert in_progress.path.exists()
    assert all(path.exists() for path in others)
    in_progress.discard()
