"""The ID3 tags at the start of each HLS packed-audio segment.

RFC 8216 (3.4) has every packed audio segment begin with an ID3 PRIV frame owned by
`com.apple.streaming.transportStreamTimestamp`: the 33-bit MPEG-2 timestamp (90 kHz) of its
first sample, in 8 bytes, big-endian. The same tag carries the title as timed metadata
(TIT2, the display title "Artist - Title"), which Safari, hls.js and ffmpeg read."""

from __future__ import annotations

import struct

TIMESTAMP_OWNER = b"com.apple.streaming.transportStreamTimestamp"
CLOCK_HZ = 90_000
TIMESTAMP_MASK = (1 << 33) - 1


def _synchsafe(size: int) -> bytes:
    """ID3v2.4 sizes: 7 bits per byte."""
    return bytes(((size >> shift) & 0x7F) for shift in (21, 14, 7, 0))


def _frame(frame_id: bytes, body: bytes) -> bytes:
    return frame_id + _synchsafe(len(body)) + b"\x00\x00" + body


def segment_tag(timestamp: int, title: str) -> bytes:
    """An ID3v2.4 tag: the PRIV timestamp (in 90 kHz ticks, wrapped to 33 bits) and the title
    (UTF-8; none when empty)."""
    frames = _frame(
        b"PRIV", TIMESTAMP_OWNER + b"\x00" + struct.pack(">Q", timestamp & TIMESTAMP_MASK)
    )
    text = title.replace("\x00", "")
    if text:
        frames += _frame(b"TIT2", b"\x03" + text.encode("utf-8"))
    return b"ID3\x04\x00\x00" + _synchsafe(len(frames)) + frames
