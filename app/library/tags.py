"""Reading and writing artist/title/album tags with mutagen, and the one rule that cleans
every name a listener may see, whatever its source.

The rule (clean_tag): control characters (C0, DEL, C1) go, those that stand for white space
(tab, line and paragraph breaks) become a space, runs of white space become one space, and
the text is cut to MAX_TAG_LENGTH characters with an ellipsis. Lone surrogates (bytes that
were not valid UTF-16) go too: they cannot be written as UTF-8. Tags read from files, tags
hosts edit, article and feed titles, and every item the scheduler hands to the playout pass
through it (`app.core.item.Item`), so now-playing, the push channel, pages and the ICY
metadata never carry a megabyte title or a NUL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from mutagen.id3 import ID3, TALB, TIT2, TPE1

from app.files import atomic_path
from app.library.errors import UnreadableAudio
from app.text import clean_tag

# Artist, title, album: the length API requests may give (titles 300, as for articles) and
# the length a file's own tags are cut to.

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
        stem_artist, title = (clean_tag(name) for name in split_stem(path.stem))
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
    """Set tags such as artist, title, album (EasyID3/Vorbis comment names). Edited in a
    copy that replaces the file when done: a crash mid-save never damages the audio."""
    with atomic_path(path, copy_existing=True) as copy:
        audio = open_audio(copy)
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
    return next((clean for clean in map(clean_tag, values) if clean), "")
