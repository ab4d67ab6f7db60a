"""Pictures that hosts upload (the station's logo): what they are, judged by their content.

Only raster formats every browser and link preview shows: PNG, JPEG, GIF and WebP. The type
comes from the bytes, never from the file's name or the Content-Type a client sends, and the
picture's own header must be whole and give its size in pixels: a file that merely starts
like an image is refused. SVG is not taken: it is a document that can carry script, and
link previews (OpenGraph readers) do not show it. Plain Python: no image library is loaded.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAX_SIDE = 4096  # pixels: larger pictures only cost listeners' bandwidth and memory
MIN_SIDE = 16
SUPPORTED = "PNG, JPEG, GIF or WebP"


class NotAnImage(ValueError):
    """The bytes are not a picture the station takes; the message says why, for people."""


@dataclass(frozen=True)
class Picture:
    media_type: str  # image/png, ...
    extension: str  # .png, ...
    width: int
    height: int


def sniff_image(data: bytes) -> Picture:
    """What picture `data` is, from its content; NotAnImage with the reason otherwise."""
    for reader in (_png, _jpeg, _gif, _webp):
        picture = reader(data)
        if picture is not None:
            return _sized(picture)
    if data.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in data[:512].lower():
        raise NotAnImage(f"SVG pictures are not taken (they can carry script): send {SUPPORTED}")
    raise NotAnImage(f"this is not a picture the station takes: send {SUPPORTED}")


def _sized(picture: Picture) -> Picture:
    small, large = min(picture.width, picture.height), max(picture.width, picture.height)
    if small < MIN_SIDE:
        raise NotAnImage(f"the picture is {picture.width}×{picture.height} pixels: at least "
                         f"{MIN_SIDE}×{MIN_SIDE}, please")  # fmt: skip
    if large > MAX_SIDE:
        raise NotAnImage(f"the picture is {picture.width}×{picture.height} pixels: at most "
                         f"{MAX_SIDE} on each side, please")  # fmt: skip
    return picture


def _png(data: bytes) -> Picture | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    # The first chunk is IHDR (13 bytes, checked by its CRC); the last is IEND.
    if len(data) < 8 + 25 + 12 or data[12:16] != b"IHDR" or data[8:12] != b"\x00\x00\x00\x0d":
        raise NotAnImage("a damaged PNG: its header is missing")
    header = data[12:29]
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(header) != crc:
        raise NotAnImage("a damaged PNG: its header does not match its checksum")
    if data[-12:] != b"\x00\x00\x00\x00IEND\xaeB`\x82":
        raise NotAnImage("a cut or damaged PNG: it does not end as a PNG ends")
    width, height = struct.unpack(">II", data[16:24])
    return Picture("image/png", ".png", width, height)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> Picture | None:
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise NotAnImage("a damaged JPEG: its segments do not follow each other")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _SOF:
            if position + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            if b"\xff\xd9" not in data[position:]:
                raise NotAnImage("a cut JPEG: it does not end as a JPEG ends")
            return Picture("image/jpeg", ".jpg", width, height)
        if marker == 0xDA or length < 2:  # the image data before any frame header
            break
        position += 2 + length
    raise NotAnImage("a damaged JPEG: no frame header with its size")


def _gif(data: bytes) -> Picture | None:
    if not data.startswith((b"GIF87a", b"GIF89a")):
        return None
    if len(data) < 14 or not data.rstrip(b"\x00").endswith(b";"):
        raise NotAnImage("a cut or damaged GIF: it does not end as a GIF ends")
    width, height = struct.unpack("<HH", data[6:10])
    return Picture("image/gif", ".gif", width, height)


def _webp(data: bytes) -> Picture | None:
    if not (data.startswith(b"RIFF") and data[8:12] == b"WEBP"):
        return None
    (size,) = struct.unpack("<I", data[4:8])
    if size + 8 != len(data) or len(data) < 30:
        raise NotAnImage("a cut or damaged WebP: its length is not the one it declares")
    chunk = data[12:16]
    body = data[20:]
    if chunk == b"VP8 " and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return Picture("image/webp", ".webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and body[:1] == b"\x2f":
        (bits,) = struct.unpack("<I", body[1:5])
        return Picture("image/webp", ".webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return Picture("image/webp", ".webp", width, height)
    raise NotAnImage("a damaged WebP: no image header with its size")
