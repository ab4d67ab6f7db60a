"""The messages between the station and its playout process, over a pair of pipes.

Every message is one kind byte, a 4-byte big-endian payload length, and the payload.
Items travel as JSON under a token the station picks, so both ends can name the same item.
Kept to the standard library and the Item dataclass: the playout process imports it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.core.item import Item, ItemKind

HEADER = struct.Struct(">cI")
STARTS = struct.Struct(">H")

# From the playout process to the station.
AUDIO = b"A"  # STARTS length, JSON [[frame, token], ...] of items that begin here, then MP3
MOUNT_AUDIO = b"B"  # STARTS length, JSON {"mount", "starts", "headers", "sample"}, then audio
NEXT = b"N"  # what plays next? (empty)
FAILED = b"F"  # {"token", "reason"}: the item could not play
STATE = b"S"  # {"next": token or null}: what follows the item listeners hear
PROBLEM = b"P"  # {"key", "what", "cause"}: a fault it lives with; cause null: it is over
STATS = b"M"  # {name: number}: the playout's counters and gauges (PLAYOUT_STATS), each second
LIVE_STATE = b"L"  # {"state": "on_air" | "refused" | "ended", "reason"}: the live input
# ... and "news" (reason: its title) when a clock item takes the air from it, "on_air" again
# when it is back.
BREAK = b"C"  # {"by": POSIX seconds}: a clock item due by then, to air over the live input?
# From the station to the playout process.
ITEM = b"I"  # {"token", "item"}: the answer to NEXT; item null when nothing can play
BREAK_ITEM = b"J"  # {"token", "item"}: the answer to BREAK; item null: the live input keeps on
SKIP = b"K"  # {"token": token or null}: skip what listeners hear (if it is still that item)
# A live input (app/playout/live.py): it takes over once its audio decodes, and ends with a
# fade on LIVE_END, when it ends or falls silent; LIVE_STATE tells the station each step.
LIVE_BEGIN = b"G"  # {"token", "item", "content_type", "silence_seconds"}: a live input begins
LIVE_DATA = b"D"  # the live input's encoded bytes, as they arrive (raw, not JSON)
LIVE_TITLE = b"T"  # {"token", "item"}: the live input's new title
LIVE_END = b"E"  # {"reason"}: the live input ends (or is abandoned before it aired)

SAFETY_TOKEN = 0  # the safety source, which each end makes for itself

# What STATS carries. Counters (the *_total ones) start at 0 in each playout process; the
# station adds up those of the processes before (app/stream/playout_process.py).
PLAYOUT_COUNTERS = ("blocks_aired", "late_blocks", "catch_ups", "skips_ahead", "skipped_seconds")
PLAYOUT_GAUGES = ("lead_seconds", "lag_seconds", "on_safety")


def pack(kind: bytes, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def pack_json(kind: bytes, value: Any) -> bytes:
    return pack(kind, json.dumps(value).encode())


def pack_audio(starts: list[tuple[int, int]], mp3: bytes) -> bytes:
    """`starts`: (PCM frame in the block the MP3 encodes, token) of each item beginning there."""
    encoded = json.dumps(starts).encode()
    return pack(AUDIO, STARTS.pack(len(encoded)) + encoded + mp3)


def unpack_audio(payload: bytes | memoryview) -> tuple[list[tuple[int, int]], bytes]:
    (length,) = STARTS.unpack_from(payload)
    end = STARTS.size + length
    starts = json.loads(bytes(payload[STARTS.size : end]))
    return [(frame, token) for frame, token in starts], bytes(payload[end:])


def pack_mount_audio(mount: str, starts: list[tuple[int, int]], headers: int | None,
                     sample: int, data: bytes) -> bytes:  # fmt: skip
    """An extra mount's audio: `starts` as in pack_audio (frame 0: where `data` begins);
    `headers`: when `data` begins an Ogg chain, the length of its header pages at its start;
    `sample`: the playout process's programme sample where the audio in `data` begins."""
    head = {"mount": mount, "starts": starts, "headers": headers, "sample": sample}
    encoded = json.dumps(head).encode()
    return pack(MOUNT_AUDIO, STARTS.pack(len(encoded)) + encoded + data)


def unpack_mount_audio(payload: bytes | memoryview) -> tuple[dict[str, Any], bytes]:
    (length,) = STARTS.unpack_from(payload)
    end = STARTS.size + length
    return json.loads(bytes(payload[STARTS.size : end])), bytes(payload[end:])


class Reader:
    """Cuts a byte stream into (kind, payload) messages."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buffer += data
        messages = []
        pos = 0
        while len(self._buffer) - pos >= HEADER.size:
            kind, length = HEADER.unpack_from(self._buffer, pos)
            end = pos + HEADER.size + length
            if end > len(self._buffer):
                break
            messages.append((kind, bytes(self._buffer[pos + HEADER.size : end])))
            pos = end
        del self._buffer[:pos]
        return messages


def item_to_json(item: Item) -> dict[str, Any]:
    fields = asdict(item)
    fields["kind"] = item.kind.value
    fields["path"] = str(item.path) if item.path is not None else None
    return fields


def item_from_json(fields: dict[str, Any]) -> Item:
    path = fields.get("path")
    return Item(**{**fields, "kind": ItemKind(fields["kind"]),
                   "path": Path(path) if path is not None else None})  # fmt: skip
