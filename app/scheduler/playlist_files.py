"""Playlist files, M3U/M3U8 (with #EXTINF) and PLS: parsing and writing, nothing else.

Pure text in, text out: where the entries point and whether they may be played is the
playlists service's business (app/scheduler/playlists.py). A bad line is a `Problem` with its
line number, never an exception; only a file that is not a playlist at all raises.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field


class PlaylistFormat(enum.StrEnum):
    m3u = "m3u"
    m3u8 = "m3u8"
    pls = "pls"


MEDIA_TYPES = {
    PlaylistFormat.m3u: "audio/x-mpegurl",
    PlaylistFormat.m3u8: "audio/x-mpegurl",
    PlaylistFormat.pls: "audio/x-scpls",
}

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PLS_KEY = re.compile(r"^(file|title|length)(\d+)$")


class PlaylistFileError(ValueError):
    """The text is not a playlist of the given format."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    location: str  # as written in the file: a path or a URL
    title: str | None = None  # "Artist - Title" from #EXTINF or TitleN
    duration: float | None = None  # seconds; None when unknown (-1 in the file)
    line: int = 0  # where the location stands in the file, 1-based


@dataclass(frozen=True, slots=True)
class Problem:
    line: int  # 1-based; 0 for the file as a whole
    reason: str
    entry: str = ""  # the offending text, when there is one


@dataclass
class ParsedPlaylist:
    entries: list[FileEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def format_for(filename: str) -> PlaylistFormat:
    """The format named by a file's extension."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    try:
        return PlaylistFormat(suffix)
    except ValueError:
        raise PlaylistFileError(
            f"{filename!r} is not a playlist file: expected .m3u, .m3u8 or .pls"
        ) from None


def decode(data: bytes, fmt: PlaylistFormat) -> str:
    """Bytes to text. M3U8 is UTF-8 by definition; old M3U and PLS files are often Latin-1."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if fmt is PlaylistFormat.m3u8:
            raise PlaylistFileError(
                f"not UTF-8 text (byte {error.start}): an .m3u8 file must be UTF-8"
            ) from None
        text = data.decode("cp1252", errors="replace")
    if _looks_binary(text):
        raise PlaylistFileError("this looks like a binary file, not a playlist")
    return text


def _looks_binary(text: str) -> bool:
    # One stray control character is a bad line; many of them is not a text file at all.
    controls = sum(1 for c in text if (c < " " and c not in "\t\r\n") or c == "\x7f")
    return controls > max(8, len(text) // 20)


def parse(text: str, fmt: PlaylistFormat) -> ParsedPlaylist:
    text = text.removeprefix("\ufeff")  # a BOM, common in files from Windows tools
    if fmt is PlaylistFormat.pls:
        return _parse_pls(text)
    return _parse_m3u(text)


def format_m3u(entries: Iterable[FileEntry]) -> str:
    """Extended M3U (UTF-8, so also M3U8): #EXTM3U, then #EXTINF and a location per entry."""
    lines = ["#EXTM3U"]
    for entry in entries:
        _check_location(entry.location)
        duration = -1 if entry.duration is None else round(entry.duration)
        lines.append(f"#EXTINF:{duration},{_one_line(entry.title or '')}")
        lines.append(entry.location)
    return "\n".join(lines) + "\n"


def format_pls(entries: Iterable[FileEntry]) -> str:
    lines = ["[playlist]"]
    count = 0
    for count, entry in enumerate(entries, start=1):
        _check_location(entry.location)
        lines.append(f"File{count}={entry.location}")
        if entry.title:
            lines.append(f"Title{count}={_one_line(entry.title)}")
        duration = -1 if entry.duration is None else round(entry.duration)
        lines.append(f"Length{count}={duration}")
    lines += [f"NumberOfEntries={count}", "Version=2"]
    return "\n".join(lines) + "\n"


def format_playlist(entries: Iterable[FileEntry], fmt: PlaylistFormat) -> str:
    return format_pls(entries) if fmt is PlaylistFormat.pls else format_m3u(entries)


def _parse_m3u(text: str) -> ParsedPlaylist:
    parsed = ParsedPlaylist()
    pending: tuple[int, float | None, str | None] | None = None  # the last #EXTINF
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.upper().startswith("#EXTINF:"):
            if pending is not None:
                parsed.problems.append(Problem(pending[0], "#EXTINF without a location after it"))
            pending = _parse_extinf(line, number, parsed.problems)
        elif line.startswith("#"):
            continue  # #EXTM3U and the many extensions players add; comments otherwise
        else:
            _, duration, title = pending if pending is not None else (0, None, None)
            parsed.entries.append(FileEntry(line, title, duration, number))
            pending = None
    if pending is not None:
        parsed.problems.append(Problem(pending[0], "#EXTINF without a location after it"))
    return parsed


def _parse_extinf(
    line: str, number: int, problems: list[Problem]
) -> tuple[int, float | None, str | None]:
    """`#EXTINF:<seconds>[ attributes],<title>`; a bad duration loses only the duration."""
    body = line[len("#EXTINF:") :]
    head, _, title = body.partition(",")
    words = head.split()
    duration: float | None = None
    try:
        seconds = float(words[0]) if words else -1.0
        duration = seconds if seconds >= 0 else None
    except ValueError:
        problems.append(Problem(number, "#EXTINF duration is not a number", line))
    return number, duration, title.strip() or None


def _parse_pls(text: str) -> ParsedPlaylist:
    parsed = ParsedPlaylist()
    fields: dict[int, dict[str, tuple[int, str]]] = {}
    declared: tuple[int, str] | None = None
    seen_header = False
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            continue
        if not seen_header:
            if line.lower() != "[playlist]":
                raise PlaylistFileError(
                    f"line {number}: a PLS file starts with [playlist], not {line[:40]!r}"
                )
            seen_header = True
            continue
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        match = _PLS_KEY.match(key)
        if not sep:
            parsed.problems.append(Problem(number, "not a key=value line", line))
        elif match:
            slot = fields.setdefault(int(match[2]), {})
            if match[1] in slot:
                parsed.problems.append(Problem(number, f"{key} given twice", line))
            slot.setdefault(match[1], (number, value.strip()))
        elif key == "numberofentries":
            declared = (number, value.strip())
        elif key != "version":
            parsed.problems.append(Problem(number, f"unknown key {key!r}", line))
    if not seen_header:
        raise PlaylistFileError("an empty file: a PLS file starts with [playlist]")
    for index in sorted(fields):
        entry = _pls_entry(index, fields[index], parsed.problems)
        if entry is not None:
            parsed.entries.append(entry)
    _check_count(declared, len(fields), parsed.problems)
    return parsed


def _pls_entry(
    index: int, slot: dict[str, tuple[int, str]], problems: list[Problem]
) -> FileEntry | None:
    if "file" not in slot:
        first_line = min(number for number, _ in slot.values())
        problems.append(Problem(first_line, f"Title{index}/Length{index} without File{index}"))
        return None
    number, location = slot["file"]
    duration: float | None = None
    if "length" in slot:
        length_line, length = slot["length"]
        try:
            seconds = float(length)
            duration = seconds if seconds >= 0 else None
        except ValueError:
            problems.append(Problem(length_line, f"Length{index} is not a number", length))
    title = slot["title"][1] if "title" in slot else None
    return FileEntry(location, title or None, duration, number)


def _check_count(declared: tuple[int, str] | None, found: int, problems: list[Problem]) -> None:
    if declared is None:
        return
    number, value = declared
    if not value.isdigit():
        problems.append(Problem(number, "NumberOfEntries is not a number", value))
    elif int(value) != found:
        problems.append(Problem(number, f"NumberOfEntries says {value} but {found} are listed"))


def _check_location(location: str) -> None:
    # A line break would let a path or title inject lines of its own into the file.
    if not location or any(c in location for c in "\r\n\0"):
        raise PlaylistFileError(f"cannot write the location {location!r} into a playlist file")


def _one_line(text: str) -> str:
    return " ".join(text.replace("\0", "").split())
