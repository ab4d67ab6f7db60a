"""ICY (Shoutcast/Icecast) in-band metadata: the title blocks interleaved with the audio."""

from __future__ import annotations

MAX_BLOCK = 255 * 16


def sanitise(text: str) -> str:
    """VLC and mpv end a value at the first `';`; keep titles from being cut short."""
    return " ".join(text.replace("';", "' ;").split())


def metadata_block(title: str, url: str = "") -> bytes:
    """One metadata block: a length byte L, then L*16 bytes of text padded with NULs."""
    text = f"StreamTitle='{sanitise(title)}';"
    if url:
        text += f"StreamUrl='{sanitise(url)}';"
    payload = _truncate_utf8(text.encode(), MAX_BLOCK)
    blocks = -(-len(payload) // 16)
    return bytes([blocks]) + payload.ljust(blocks * 16, b"\0")


EMPTY_BLOCK = b"\0"  # L=0: the title has not changed


def _truncate_utf8(data: bytes, limit: int) -> bytes:
    if len(data) <= limit:
        return data
    cut = data[: limit - 2].decode("utf-8", errors="ignore").encode()
    return cut + b"';"


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
