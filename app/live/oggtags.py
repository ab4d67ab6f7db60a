"""Titles inside an Ogg live input: the comment header (Opus `OpusTags`, Vorbis `\\x03vorbis`)
of each chain a source sends. BUTT and Mixxx start a new chain on every title change, with
the new TITLE and ARTIST in it."""

from __future__ import annotations

import struct

MARKERS = (b"OpusTags", b"\x03vorbis")
MAX_COMMENTS_BYTES = 64 * 1024  # a comment header larger than this is not read
U32 = struct.Struct("<I")


class OggTitles:
    """Fed the input's bytes in order; returns the title of each comment header found."""

    def __init__(self) -> None:
        self._pending = b""  # from an incomplete comment header's marker on

    def feed(self, data: bytes) -> list[str]:
        buffer = self._pending + data
        self._pending = b""
        titles: list[str] = []
        pos = 0
        while True:
            found = [(i, m) for m in MARKERS if (i := buffer.find(m, pos)) >= 0]
            if not found:
                tail = max(len(m) for m in MARKERS) - 1  # a marker cut in two
                self._pending = buffer[-tail:] if len(buffer) > tail else buffer
                return titles
            start, marker = min(found)
            comments = _comments(buffer, start + len(marker))
            if comments is None:  # not all here yet
                if len(buffer) - start < MAX_COMMENTS_BYTES:
                    self._pending = buffer[start:]
                return titles
            title = _title(comments)
            if title:
                titles.append(title)
            pos = start + len(marker)


def _comments(buffer: bytes, pos: int) -> dict[str, str] | None:
    """The comments of a header whose vendor length begins at `pos`; None: incomplete."""
    try:
        (vendor,) = U32.unpack_from(buffer, pos)
        pos += 4 + vendor
        (count,) = U32.unpack_from(buffer, pos)
        pos += 4
        if vendor > MAX_COMMENTS_BYTES or count > 1000:
            return {}  # not a comment header after all
        comments: dict[str, str] = {}
        for _ in range(count):
            (length,) = U32.unpack_from(buffer, pos)
            if length > MAX_COMMENTS_BYTES:
                return {}
            if pos + 4 + length > len(buffer):
                return None
            text = buffer[pos + 4 : pos + 4 + length].decode("utf-8", "replace")
            pos += 4 + length
            name, sep, value = text.partition("=")
            if sep:
                comments[name.upper()] = value
        return comments
    except struct.error:
        return None


def _title(comments: dict[str, str]) -> str:
    title, artist = comments.get("TITLE", "").strip(), comments.get("ARTIST", "").strip()
    return f"{artist} - {title}" if artist and title else title
