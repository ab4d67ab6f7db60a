"""ICY (Shoutcast/Icecast) in-band metadata: the title blocks interleaved with the audio.

A block is `StreamTitle='...';StreamUrl='...';` as Icecast writes it. Players find a value's
end at the first `';` (ffmpeg, VLC, mpv) and read the block as a C string (a NUL ends it), so
a title goes through the station's cleaning rule (no control characters) and its `';` are
split. Icecast refuses a title longer than a block holds (255 * 16 bytes) and keeps the old
one; here it is cut to fit on a character boundary, so the title still changes.
"""

from __future__ import annotations

from app.text import clean_text

MAX_BLOCK = 255 * 16
_TITLE, _END = b"StreamTitle='", b"';"


def sanitise(text: str) -> str:
    """One line without control characters, and no `';` to end the value early."""
    return clean_text(text).replace("';", "' ;")


def metadata_block(title: str, url: str = "") -> bytes:
    """One metadata block: a length byte L, then L*16 bytes of text padded with NULs. A title
    too long for the block is cut to fit (the URL goes first if even that is not enough)."""
    tail = f"StreamUrl='{sanitise(url)}';".encode() if url else b""
    if len(tail) > MAX_BLOCK // 2:
        tail = b""
    room = MAX_BLOCK - len(_TITLE) - len(_END) - len(tail)
    payload = _TITLE + _truncate_utf8(sanitise(title).encode(), room) + _END + tail
    blocks = -(-len(payload) // 16)
    return bytes([blocks]) + payload.ljust(blocks * 16, b"\0")


EMPTY_BLOCK = b"\0"  # L=0: the title has not changed


def _truncate_utf8(data: bytes, limit: int) -> bytes:
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", errors="ignore").encode()


class IcyFramer:
    """Interleaves metadata into one listener's byte stream every `metaint` audio bytes."""

    def __init__(self, metaint: int) -> None:
        self.metaint = metaint
        self._until_block = metaint
        self._last_sent: bytes | None = None

    def frame(self, audio: bytes, block: bytes) -> list[bytes]:
        """Pieces to write for `audio`; `block` is the metadata in force for this audio."""
        if len(audio) < self._until_block:  # no block falls in it: the audio as it is
            self._until_block -= len(audio)
            return [audio]
        pieces: list[bytes] = []
        view = memoryview(audio)
        while len(view) >= self._until_block:
            pieces.append(view[: self._until_block].tobytes())
            view = view[self._until_block :]
            pieces.append(block if block != self._last_sent else EMPTY_BLOCK)
            self._last_sent = block
            self._until_block = self.metaint
        if len(view):
            pieces.append(view.tobytes())
            self._until_block -= len(view)
        return pieces
