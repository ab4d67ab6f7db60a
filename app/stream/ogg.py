"""Ogg pages and Opus in Ogg: enough to re-chain one encoder's stream at each title change.

One long-lived ffmpeg Opus encoder makes one logical Ogg stream. An Ogg stream carries its
titles only in its headers (OpusTags), so a new title needs a new logical stream: a chain
(RFC 7845 section 3, as Icecast relays it). `OpusChainer` takes the encoder's pages and
gives them out re-serialised: at each title change a new serial number, a BOS page with the
encoder's OpusHead (pre-skip 0 after the first chain: the audio goes on gaplessly), an
OpusTags page with TITLE and ARTIST, then the audio pages with their granule positions
rebased to the chain's start, their sequence numbers renumbered and their CRCs recomputed;
the last page of the chain before gets the EOS flag. The header pages of the chain in force
are what a listener joining mid-chain needs first (StreamHub.publish's `headers`).
Standard library only: the playout process imports it.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

CAPTURE = b"OggS"
HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, segs
CONTINUED, BOS, EOS = 0x01, 0x02, 0x04
OPUS_RATE = 48000
MAX_COMMENT_BYTES = 1024  # a title longer than this is cut (Icecast's own limit is lower)


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_TABLE = _crc_table()


def crc32(data: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04c11db7, not reflected, initial value 0)."""
    crc = 0
    table = _TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


@dataclass
class Page:
    flags: int
    granule: int
    serial: int
    sequence: int
    segments: bytes  # the lacing values
    body: bytes

    def packets_complete(self) -> bool:
        return bool(self.segments) and self.segments[-1] != 255

    def to_bytes(self) -> bytes:
        head = HEADER.pack(CAPTURE, 0, self.flags, self.granule, self.serial, self.sequence, 0,
                           len(self.segments))  # fmt: skip
        page = head + self.segments + self.body
        crc = crc32(page)
        return page[:22] + struct.pack("<I", crc) + page[26:]


def page_for(packet: bytes, flags: int, granule: int, serial: int, sequence: int) -> Page:
    """One page holding one whole packet (a header packet: less than 255 * 255 bytes)."""
    full, rest = divmod(len(packet), 255)
    if full >= 255:
        raise ValueError("packet too long for one page")
    return Page(flags, granule, serial, sequence, bytes([255] * full + [rest]), packet)


class PageReader:
    """Cuts a byte stream into Ogg pages (checked: a stream that is not Ogg raises)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Page]:
        self._buffer += data
        pages = []
        while len(self._buffer) >= HEADER.size:
            capture, _version, flags, granule, serial, sequence, _crc, count = HEADER.unpack_from(
                self._buffer
            )
            if capture != CAPTURE:
                raise ValueError("not an Ogg page")
            if len(self._buffer) < HEADER.size + count:
                break
            segments = bytes(self._buffer[HEADER.size : HEADER.size + count])
            end = HEADER.size + count + sum(segments)
            if len(self._buffer) < end:
                break
            pages.append(Page(flags, granule, serial, sequence, segments,
                              bytes(self._buffer[HEADER.size + count : end])))  # fmt: skip
            del self._buffer[:end]
        return pages


def opus_tags(vendor: str, comments: list[tuple[str, str]]) -> bytes:
    """An OpusTags packet: the vendor string, then NAME=value comments (Vorbis comments)."""
    packet = bytearray(b"OpusTags")
    encoded = vendor.encode()
    packet += struct.pack("<I", len(encoded)) + encoded
    packet += struct.pack("<I", len(comments))
    for name, value in comments:
        text = f"{name}={value}".encode()[:MAX_COMMENT_BYTES]
        text = text.decode("utf-8", errors="ignore").encode()
        packet += struct.pack("<I", len(text)) + text
    return bytes(packet)


def with_pre_skip(opus_head: bytes, pre_skip: int) -> bytes:
    """The OpusHead packet with another pre-skip (bytes 10-11)."""
    return opus_head[:10] + struct.pack("<H", pre_skip) + opus_head[12:]


def pre_skip_of(opus_head: bytes) -> int:
    return int(struct.unpack_from("<H", opus_head, 10)[0])


@dataclass
class Output:
    data: bytes  # whole pages
    headers: bytes | None  # the chain's header pages when `data` begins a chain, else None
    first_granule: int  # encoder granule (48 kHz, pre-skip included) where its audio begins


class OpusChainer:
    """Re-serialises one Opus encoder's Ogg stream into chains (see the module docstring).

    `feed` takes the encoder's pages; `chain(comments)` makes the next audio page begin a new
    chain with these comments. One audio page is held back, so the last page of a chain can
    be marked EOS when the next chain begins."""

    def __init__(self, vendor: str = "radio-station") -> None:
        self._vendor = vendor
        self._head: bytes | None = None  # the encoder's OpusHead packet
        self._seen_tags = False
        self._comments: list[tuple[str, str]] = []
        self._chain_due = True
        self._chains = 0
        self._serial = 0
        self._sequence = 0
        self._base = 0  # encoder granule where the current chain begins
        self._end = 0  # encoder granule at the end of the latest audio page
        self._held: Page | None = None
        self._held_start = 0
        self.headers = b""  # the header pages of the chain in force

    @property
    def granule_end(self) -> int:
        """Encoder granule at the end of the audio given to `feed` so far."""
        return self._end

    def chain(self, comments: list[tuple[str, str]]) -> None:
        self._comments = comments
        self._chain_due = True

    def feed(self, page: Page) -> list[Output]:
        if self._head is None:  # the encoder's own headers: OpusHead, then OpusTags
            if not page.body.startswith(b"OpusHead"):
                raise ValueError("the Opus stream does not begin with OpusHead")
            self._head = page.body
            self._end = 0
            return []
        if not self._seen_tags:
            self._seen_tags = True  # replaced by the chains' own
            return []
        out: list[Output] = []
        start = self._end
        self._end = page.granule if page.granule >= 0 else self._end
        if self._chain_due:
            self._chain_due = False
            if self._held is not None:
                self._held.flags |= EOS
                out.append(Output(self._held.to_bytes(), None, self._held_start))
                self._held = None
            out.append(self._begin_chain(start))
        if self._held is not None:
            out.append(Output(self._held.to_bytes(), None, self._held_start))
        self._held = Page(page.flags & CONTINUED, self._rebased(page.granule), self._serial,
                          self._next_sequence(), page.segments, page.body)  # fmt: skip
        self._held_start = start
        return out

    def _begin_chain(self, start: int) -> Output:
        assert self._head is not None
        first = self._chains == 0
        self._chains += 1
        self._serial = random.getrandbits(32)
        self._sequence = 0
        # The first chain keeps the encoder's pre-skip (its priming); later ones start where
        # the audio is, with nothing to skip.
        self._base = 0 if first else start
        head = self._head if first else with_pre_skip(self._head, 0)
        tags = opus_tags(self._vendor, self._comments)
        pages = page_for(head, BOS, 0, self._serial, self._next_sequence()).to_bytes()
        pages += page_for(tags, 0, 0, self._serial, self._next_sequence()).to_bytes()
        self.headers = pages
        return Output(pages, pages, start)

    def _rebased(self, granule: int) -> int:
        return granule - self._base if granule >= 0 else granule

    def _next_sequence(self) -> int:
        sequence = self._sequence
        self._sequence += 1
        return sequence
