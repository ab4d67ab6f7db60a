"""Reading and writing artist/title/album tags with mutagen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from mutagen.id3 import ID3, TALB, TIT2, TPE1

from app.library.errors import UnreadableAudio

# WAV and AIFF carry plain ID3 even with easy=True: mutagen has no easy wrapper for them.
_ID3_FRAMES: dict[str, type[TPE1 | TIT2 | TALB]] = {"artist": TPE1, "title": TIT2, "album": TALB}


@dataclass(frozen=True, slots=True)
class TrackTags:
    artist: str
    title: str
    album: str
    duration: float | None  # seconds, from the container headers


def read_tags(path: Path) -> TrackTags:
    """Tags of an audio file; the file name stands in for a missing title."""
    audio = open_audio(path)
    artist, title, album = (_first(audio.tags, key) for key in ("artist", "title", "album"))
    if not title:
        stem_artist, title = split_stem(path.stem)
        artist = artist or stem_artist
    length = getattr(audio.info, "length", None)
    duration = float(length) if length and length > 0 else None
    return TrackTags(artist=artist, title=title, album=album, duration=duration)


def split_stem(stem: str) -> tuple[str, str]:
    """("Artist", "Title") from "Artist - Title"; a leading track number is not an artist."""
    left, sep, right = stem.partition(" - ")
    left, right = left.strip(), right.strip()
    if not sep or not right:
        return "", stem.strip()
    if left.isdigit():
        return split_stem(right) if " - " in right else ("", right)
    return left, right


def write_tags(path: Path, tags: Mapping[str, str]) -> None:
    """Set tags such as artist, title, album (EasyID3/Vorbis comment names) in place."""
    audio = open_audio(path)
    if audio.tags is None:
        audio.add_tags()
    if isinstance(audio.tags, ID3):
        for key, value in tags.items():
            audio.tags.add(_ID3_FRAMES[key](encoding=3, text=[value]))
    else:
        for key, value in tags.items():
            audio.tags[key] = [value]
    audio.save()


def open_audio(path: Path, *, easy: bool = True) -> Any:
    """The file as mutagen sees it; easy=False gives the format's own tags (pictures too)."""
    try:
        if path.stat().st_size == 0:
            raise UnreadableAudio("empty file")
        audio = mutagen.File(path, easy=easy)
    except UnreadableAudio:
        raise
    except OSError as exc:
        raise UnreadableAudio(f"cannot read file: {exc.strerror or exc}") from exc
    except Exception as exc:  # mutagen raises more than MutagenError on malformed files
        raise UnreadableAudio(f"cannot read tags: {exc}") from exc
    if audio is None or audio.info is None:
        raise UnreadableAudio("not an audio file (unrecognised format)")
    return audio


def _first(tags: Any, key: str) -> str:
    if tags is None:
        return ""
    if isinstance(tags, ID3):
        frames = tags.getall(_ID3_FRAMES[key].__name__)
        values = [str(text) for frame in frames for text in frame.text]
    else:
        try:
            values = [str(value) for value in tags.get(key) or []]
        except (KeyError, ValueError):
            return ""
    return next((value.strip() for value in values if value.strip()), "")
