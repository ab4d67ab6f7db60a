"""Album art: the picture embedded in an audio file, or a cover generated from its names."""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from mutagen.flac import Picture as FlacPicture
from mutagen.id3 import ID3

from app.library.tags import open_audio

FRONT_COVER = 3  # the picture type of ID3 APIC and FLAC picture blocks
MAX_PICTURE_BYTES = 16 * 1024 * 1024  # beyond this, a picture is not worth sending
TEXT_MAX = 120  # of artist and title, for a generated cover and its URL
TRACK_COVER_PATH = "/covers/track/{track_id}"
GENERATED_COVER_PATH = "/covers/generated.svg"

# The content type comes from the bytes, never from the tag: a tag may claim anything, and
# an image served as text/html would be a page anyone who uploads a file can write.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True, slots=True)
class Picture:
    data: bytes
    mime: str


def image_type(data: bytes) -> str | None:
    """The image's content type from its first bytes, for PNG, JPEG, GIF and WebP."""
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_picture(path: Path) -> Picture | None:
    """The file's front cover (else its first picture); None if it has no usable picture.

    Raises UnreadableAudio when the file cannot be read as audio at all.
    """
    return embedded_picture(open_audio(path, easy=False))


def embedded_picture(audio: Any) -> Picture | None:
    """The best picture of a mutagen file object (opened with easy=False)."""
    candidates = sorted(_pictures(audio), key=lambda c: c[0] != FRONT_COVER)
    for _, data in candidates:
        mime = image_type(data)
        if mime is not None and len(data) <= MAX_PICTURE_BYTES:
            return Picture(data, mime)
    return None


def _pictures(audio: Any) -> Iterator[tuple[int, bytes]]:
    """(picture type, bytes) of every picture the file carries, in any tag format."""
    yield from ((p.type, p.data) for p in getattr(audio, "pictures", None) or [])  # FLAC
    tags = audio.tags
    if tags is None:
        return
    if isinstance(tags, ID3):  # MP3, WAV, AIFF
        yield from ((frame.type, frame.data) for frame in tags.getall("APIC"))
        return
    yield from ((FRONT_COVER, bytes(cover)) for cover in _values(tags, "covr"))  # MP4
    for encoded in _values(tags, "metadata_block_picture"):  # Vorbis comments: Ogg, Opus
        block = _base64(encoded)
        if block is not None:
            try:
                picture = FlacPicture(block)
            except Exception:  # a malformed block is skipped, like a missing one
                continue
            yield picture.type, picture.data
    for encoded in _values(tags, "coverart"):  # the older, unofficial Vorbis field
        data = _base64(encoded)
        if data is not None:
            yield FRONT_COVER, data


def _values(tags: Any, key: str) -> list[Any]:
    try:
        return list(tags.get(key) or [])
    except (KeyError, ValueError, TypeError):
        return []


def _base64(text: Any) -> bytes | None:
    try:
        return base64.b64decode(str(text), validate=False)
    except (binascii.Error, ValueError):
        return None


# Generated covers.


def cover_url(track_id: int | None, artist: str, title: str) -> str:
    """Where the player finds an item's cover: the track's own, else a generated one."""
    if track_id is not None:
        return TRACK_COVER_PATH.format(track_id=track_id)
    query = urlencode({"artist": artist[:TEXT_MAX], "title": title[:TEXT_MAX]})
    return f"{GENERATED_COVER_PATH}?{query}"


def generated_cover(artist: str, title: str) -> str:
    """A small square SVG: a gradient chosen by a hash of the names, and their initials.

    The same names always give the same picture; any text is safe to pass.
    """
    artist, title = _printable(artist), _printable(title)
    digest = hashlib.sha256(f"{artist}\n{title}".encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    other = (hue + 40 + digest[2] % 100) % 360
    x2, y2 = ((1, 1), (0, 1), (1, 0), (0.5, 1))[digest[3] % 4]
    label = html.escape(f"{artist} - {title}" if artist else title or "Cover", quote=True)
    letters = html.escape(initials(artist or title) or "\u266a")
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 300" width="300" '
        f'height="300" role="img" aria-label="{label}"><title>{label}</title>'
        f'<defs><linearGradient id="g" x1="0" y1="0" x2="{x2}" y2="{y2}">'
        f'<stop offset="0" stop-color="hsl({hue},62%,48%)"/>'
        f'<stop offset="1" stop-color="hsl({other},58%,22%)"/></linearGradient></defs>'
        '<rect width="300" height="300" fill="url(#g)"/>'
        '<circle cx="150" cy="150" r="112" fill="#fff" fill-opacity=".08"/>'
        '<text x="150" y="150" dy=".35em" text-anchor="middle" fill="#fff" '
        'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" font-size="120" '
        f'font-weight="700">{letters}</text></svg>'
    )


def initials(text: str) -> str:
    """The first letters of the first two words, upper-cased: "Daft Punk" gives "DP"."""
    words = re.findall(r"[^\W_]+", text)
    return "".join(word[0] for word in words[:2]).upper()[:2]


def _printable(text: str) -> str:
    # Control and format characters are not allowed in XML or would scramble the label;
    # whitespace runs collapse so a title of newlines cannot stretch the label.
    kept = "".join(" " if char.isspace() else char for char in text[:TEXT_MAX]
                   if char.isspace() or not unicodedata.category(char).startswith("C"))  # fmt: skip
    return " ".join(kept.split())
