"""Audio frames of the two codecs HLS packed audio carries here: MP3 and AAC in ADTS.

Enough of each header to cut a byte stream on frame boundaries and to count its samples."""

from __future__ import annotations

from dataclasses import dataclass

from app.stream.mp3 import frame_length, frame_samples

# ADTS sampling_frequency_index -> Hz (ISO/IEC 14496-3, table 1.18)
_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025,
               8000, 7350)  # fmt: skip


@dataclass(frozen=True)
class Codec:
    name: str  # "mp3" or "aac"
    extension: str  # of the segment files
    content_type: str
    codecs: str  # the RFC 6381 name an HLS playlist gives it


MP3 = Codec("mp3", "mp3", "audio/mpeg", "mp4a.40.34")
AAC = Codec("aac", "aac", "audio/aac", "mp4a.40.2")
CODECS = {codec.name: codec for codec in (MP3, AAC)}


def adts_frame(header: bytes) -> tuple[int, int, int] | None:
    """(length in bytes, samples per channel, sample rate) of the ADTS frame starting with
    these 7 bytes, or None if they are no ADTS header."""
    if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0:
        return None  # 12 sync bits, then the layer (always 00)
    rate_index = (header[2] >> 2) & 0x0F
    length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
    header_size = 7 if header[1] & 0x01 else 9  # protection_absent, else a CRC follows
    if rate_index >= len(_ADTS_RATES) or length < header_size:
        return None
    blocks = (header[6] & 0x03) + 1
    return length, 1024 * blocks, _ADTS_RATES[rate_index]


def mp3_frame(header: bytes) -> tuple[int, int, int] | None:
    """(length in bytes, samples per channel, sample rate) of the MP3 frame starting with
    these bytes, or None."""
    length = frame_length(header)
    if length is None:
        return None
    samples, rate = frame_samples(header)
    return length, samples, rate


def detect(data: bytes) -> Codec | None:
    """The codec of a stream starting at a frame (as a hub's first chunk to a sink does)."""
    if mp3_frame(data[:4]) is not None:
        return MP3
    if adts_frame(data[:7]) is not None:
        return AAC
    return None


def split(codec: Codec, data: bytes | bytearray) -> tuple[list[tuple[int, int, int]], int]:
    """The whole frames at the start of `data`, each as (offset, length, samples), and where
    the incomplete rest begins. Bytes that are no frame header are skipped up to the next
    sync word (a stream carries none; a sink must never fail on one)."""
    parse = mp3_frame if codec is MP3 else adts_frame
    need = 4 if codec is MP3 else 7
    frames: list[tuple[int, int, int]] = []
    position = 0
    while position + need <= len(data):
        found = parse(bytes(data[position : position + need]))
        if found is None:
            position = data.find(b"\xff", position + 1)
            if position < 0:
                return frames, len(data)
            continue
        length, samples, _rate = found
        if position + length > len(data):
            break
        frames.append((position, length, samples))
        position += length
    return frames, position


def sample_rate(codec: Codec, data: bytes) -> int:
    """The sample rate of the frame `data` starts with."""
    found = (mp3_frame if codec is MP3 else adts_frame)(data[:7])
    if found is None:
        raise ValueError(f"no {codec.name} frame header")
    return found[2]
