"""Taking in audio files that hosts upload: the streamed save, content sniffing, safe names.

An upload is written to a hidden temp file inside media/ (the scanner skips dot files), so
the final move is a rename on one file system. Every refusal removes that temp file; one that
a crash left behind (`kill -9`, a power cut) is removed when the station next starts
(sweep_stale_uploads), before the station takes requests. While an upload's body is being
received its temp file is locked (flock: the kernel drops the lock when the process ends,
however it ends), so the sweep passes over one that another process is receiving.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import unicodedata
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from pathlib import Path

import mutagen
from mutagen.aac import AAC
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggflac import OggFLAC
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from app.files import link_new, sweep_temp_files, temp_file

MAX_NAME_LENGTH = 120  # what we store
MAX_FILENAME_BYTES = 255  # what we accept: the limit of common file systems
MAX_FIELD_BYTES = 1024
MAX_FIELDS = 16
SNIFF_TIMEOUT_SECONDS = 30.0
TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".part"

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_RUNS = re.compile(r"[_ ]{2,}")
_DOTS = re.compile(r"\.{2,}")
# Letters NFKD does not decompose into a base letter plus accents.
_TRANSLITERATE = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE",
     "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D"}
)  # fmt: skip
_AUDIO_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: Audio: (\S+)", re.MULTILINE)


class UploadRefused(Exception):
    """An upload that is not taken; `reason` is shown to the host as is."""

    status_code = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UploadTooLarge(UploadRefused):
    status_code = 413


class NotAudio(UploadRefused):
    status_code = 415


@dataclass(frozen=True, slots=True)
class AudioFormat:
    name: str  # as hosts know it: "MP3", "Ogg Vorbis", ...
    extensions: tuple[str, ...]  # the first is used when the upload's own does not fit


# What mutagen recognises, tried in this order for each kind of file header.
_FORMATS: dict[type[mutagen.FileType], AudioFormat] = {
    MP3: AudioFormat("MP3", (".mp3",)),
    AAC: AudioFormat("AAC", (".aac",)),
    FLAC: AudioFormat("FLAC", (".flac",)),
    OggVorbis: AudioFormat("Ogg Vorbis", (".ogg", ".oga")),
    OggOpus: AudioFormat("Ogg Opus", (".opus", ".ogg")),
    OggFLAC: AudioFormat("Ogg FLAC", (".oga", ".ogg")),
    WAVE: AudioFormat("WAV", (".wav",)),
    MP4: AudioFormat("MP4/AAC", (".m4a",)),
}
SUPPORTED = "MP3, AAC, FLAC, Ogg (Vorbis, Opus, FLAC), WAV or M4A"


# --- Safe names --------------------------------------------------------------------------


def check_filename(name: str) -> None:
    """Refuse names no honest client sends: folders, `..`, control characters (NUL...), or
    longer than any file system allows. Other oddities are fixed by safe_filename()."""
    shown = repr(name[:60] + ("..." if len(name) > 60 else ""))
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise UploadRefused(f"refused file name {shown}: it contains control characters "
                            "such as NUL")  # fmt: skip
    if "/" in name or ".." in name.replace("\\", "/").split("/"):
        raise UploadRefused(f"refused file name {shown}: give a plain file name, without "
                            "folders or '..'")  # fmt: skip
    if len(name.encode("utf-8", "replace")) > MAX_FILENAME_BYTES:
        raise UploadRefused(f"refused file name of {len(name)} characters: at most "
                            f"{MAX_FILENAME_BYTES} bytes, please")  # fmt: skip
    if not name.strip():
        raise UploadRefused("the file has no name")


def safe_filename(name: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """A plain file name made of [A-Za-z0-9._ -], never hidden, never a path, at most
    `max_length` characters, keeping the extension."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Control and format characters (NUL, newlines, bidi overrides) go before anything else.
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = unicodedata.normalize("NFKD", name.translate(_TRANSLITERATE))
    name = "".join(ch for ch in name if not unicodedata.combining(ch))
    name = _RUNS.sub("_", _DOTS.sub(".", _UNSAFE.sub("_", name)))
    stem, suffix = split_suffix(name)
    return _join(stem, suffix, max_length)


def audio_filename(name: str, audio: AudioFormat, max_length: int = MAX_NAME_LENGTH) -> str:
    """safe_filename, with an extension that matches the content (the scanner and the
    decoders go by it), whatever the uploaded name said."""
    stem, suffix = split_suffix(safe_filename(name, max_length))
    suffix = suffix.lower() if suffix.lower() in audio.extensions else audio.extensions[0]
    return _join(stem, suffix, max_length)


def split_suffix(name: str) -> tuple[str, str]:
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or not suffix or len(suffix) > 8 or " " in suffix:
        return name, ""
    return stem, "." + suffix


def _join(stem: str, suffix: str, max_length: int) -> str:
    # Leading dots would hide the file; trailing dots and spaces trouble other systems.
    stem = stem.strip(" ._-")[: max(1, max_length - len(suffix))].rstrip(" ._-")
    return (stem or "upload") + suffix


def place_file(temp: Path, directory: Path, name: str, max_length: int = MAX_NAME_LENGTH) -> Path:
    """Move `temp` into `directory` as `name`, or name-1, name-2 ... : never overwrites."""
    directory.mkdir(parents=True, exist_ok=True)
    stem, suffix = split_suffix(name)
    for number in itertools.count():
        candidate = directory / (name if number == 0 else _numbered(stem, suffix, number,
                                                                   max_length))  # fmt: skip
        try:
            link_new(temp, candidate)  # flushed, then named only if the name is free
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")


def _numbered(stem: str, suffix: str, number: int, max_length: int) -> str:
    tail = f"-{number}{suffix}"
    return stem[: max(1, max_length - len(tail))] + tail


# --- Content sniffing --------------------------------------------------------------------


def sniff_audio(path: Path, ffmpeg: str) -> AudioFormat:
    """What audio format the content is, whatever the file is called; NotAudio otherwise.

    Three checks: the header's magic bytes, mutagen parses the container, and ffmpeg finds
    an audio stream in it."""
    with path.open("rb") as file:
        head = file.read(64)
    candidates = _candidates(head)
    if not candidates:
        raise NotAudio(f"not an audio file: its content is not {SUPPORTED} (the name and "
                       "extension do not count)")  # fmt: skip
    audio = _parse(path, candidates)
    codec = _audio_stream(path, ffmpeg)
    if codec is None:
        raise NotAudio(f"no audio stream in this {audio.name} file")
    return audio


def _candidates(head: bytes) -> list[type[mutagen.FileType]]:
    if head.startswith(b"ID3"):  # an ID3v2 tag may precede MPEG, AAC or FLAC data
        return [MP3, AAC, FLAC]
    if head.startswith(b"OggS"):
        return [OggVorbis, OggOpus, OggFLAC]
    if head.startswith(b"fLaC"):
        return [FLAC]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return [WAVE]
    if head[4:8] == b"ftyp":
        return [MP4]
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG frame sync
        return [AAC, MP3] if head[1] & 0x06 == 0 else [MP3]  # layer bits 00: ADTS AAC
    return []


def _parse(path: Path, candidates: list[type[mutagen.FileType]]) -> AudioFormat:
    problems: list[str] = []
    for kind in candidates:
        try:
            parsed = kind(path)
        except Exception as exc:  # mutagen raises more than MutagenError on bad data
            problems.append(str(exc) or type(exc).__name__)
            continue
        if parsed.info is not None and getattr(parsed.info, "length", 0):
            return _FORMATS[kind]
        problems.append("no audio frames")
    names = " or ".join(dict.fromkeys(_FORMATS[kind].name for kind in candidates))
    raise NotAudio(f"not a readable {names} file: {problems[0] if problems else 'empty'}")


def _audio_stream(path: Path, ffmpeg: str) -> str | None:
    command = [ffmpeg, "-nostdin", "-hide_banner", "-i", str(path)]
    try:
        # Without an output ffmpeg exits 1 after printing what it found: that is all we need.
        result = subprocess.run(command, capture_output=True, timeout=SNIFF_TIMEOUT_SECONDS,
                                check=False)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise NotAudio("ffmpeg could not read the file in time") from exc
    found = _AUDIO_STREAM.search(result.stderr.decode(errors="replace"))
    return found.group(1).rstrip(",") if found else None


# --- The streamed save -------------------------------------------------------------------


class StreamedFile:
    """A hidden temp file in `directory` that refuses to grow past `max_bytes`."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        fd, self.path = temp_file(directory, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
        self.size = 0
        self.max_bytes = max_bytes
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise UploadTooLarge(f"the file is larger than the upload limit of "
                                 f"{format_size(self.max_bytes)}")  # fmt: skip
        self._file.write(data)

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def sweep_stale_uploads(directory: Path) -> list[tuple[Path, int]]:
    """Remove the upload temp files in `directory` that no upload is writing (left by a
    crash), and say which (path, size). Only the station's own pattern, only at this level,
    where StreamedFile puts them; nothing else is touched."""
    return sweep_temp_files(directory, f"{TEMP_PREFIX}*{TEMP_SUFFIX}", recursive=False)


def format_size(size: float) -> str:
    for unit in ("bytes", "KB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


@dataclass
class ReceivedFile:
    """The one file of a multipart upload, saved to `path` (a temp file the caller owns)."""

    path: Path
    filename: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)


async def receive_upload(
    chunks: AsyncIterable[bytes], content_type: str, directory: Path, max_bytes: int
) -> ReceivedFile:
    """Stream a multipart/form-data body with one file part into a temp file in `directory`,
    counting bytes as they arrive; on any refusal nothing is left behind."""
    media_type, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise UploadRefused("send the file as multipart/form-data (e.g. curl -F file=@song.mp3)")
    reader = _MultipartReader(directory, max_bytes)
    parser = MultipartParser(boundary, reader.callbacks())
    try:
        async for chunk in chunks:
            # Small blocking writes into the page cache: cheaper than a thread hop per chunk.
            parser.write(chunk)
        parser.finalize()
        return reader.result()
    except FormParserError as exc:
        reader.discard()
        raise UploadRefused("malformed multipart/form-data body") from exc
    except BaseException:
        reader.discard()
        raise


class _MultipartReader:
    """python-multipart callbacks: the file part goes to a StreamedFile, text fields to a
    small dict, and anything unexpected is refused."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._directory = directory
        self._max_bytes = max_bytes
        self._file: StreamedFile | None = None
        self._filename = ""
        self._fields: dict[str, str] = {}
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field: tuple[str, bytearray] | None = None
        self._in_file = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._disposition, self._field, self._in_file = b"", None, False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self._fields) >= MAX_FIELDS:
                raise UploadRefused("too many form fields")
            self._field = (name, bytearray())
            return
        if self._file is not None:
            raise UploadRefused("one file per upload, please")
        # Checked before a byte of the file is read; stored only through safe_filename().
        self._filename = options[b"filename"].decode("utf-8", "replace")
        check_filename(self._filename)
        self._file = StreamedFile(self._directory, self._max_bytes)
        self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            assert self._file is not None
            self._file.write(data[start:end])
        elif self._field is not None:
            value = self._field[1]
            value += data[start:end]
            if len(value) > MAX_FIELD_BYTES:
                raise UploadRefused(f"form field {self._field[0]!r} is too long")

    def _part_end(self) -> None:
        if self._field is not None:
            self._fields[self._field[0]] = self._field[1].decode("utf-8", "replace")
        self._field, self._in_file = None, False

    def result(self) -> ReceivedFile:
        if self._file is None:
            raise UploadRefused("no file in the upload: send it as a form field with a filename")
        self._file.close()
        if self._file.size == 0:
            self._file.discard()
            raise UploadRefused("the uploaded file is empty")
        return ReceivedFile(self._file.path, self._filename, self._file.size, self._fields)

    def discard(self) -> None:
        if self._file is not None:
            self._file.discard()
