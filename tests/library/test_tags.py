from __future__ import annotations

from pathlib import Path

import pytest

from app.library import UnreadableAudio, read_tags
from tests.audio import write_tone


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".flac", ".wav"])
def test_reads_tags_in_every_format(tmp_path: Path, suffix: str) -> None:
    tags = {"artist": "Mira Okafor", "title": "Harbour Lights", "album": "Coast"}
    path = write_tone(tmp_path / f"x{suffix}", 1.0, tags=tags)

    read = read_tags(path)

    assert (read.artist, read.title, read.album) == ("Mira Okafor", "Harbour Lights", "Coast")
    assert read.duration == pytest.approx(1.0, abs=0.06)


@pytest.mark.parametrize(
    ("stem", "artist", "title"),
    [
        ("Elin Vass - Slow River", "Elin Vass", "Slow River"),
        ("07 - Slow River", "", "Slow River"),
        ("03 - Elin Vass - Slow River", "Elin Vass", "Slow River"),
        ("just a title", "", "just a title"),
    ],
)
def test_missing_title_falls_back_to_file_name(
    tmp_path: Path, stem: str, artist: str, title: str
) -> None:
    path = write_tone(tmp_path / f"{stem}.ogg", 0.5)

    read = read_tags(path)

    assert (read.artist, read.title, read.album) == (artist, title, "")


def test_artist_tag_wins_over_file_name(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "Someone - Song.flac", 0.5, tags={"artist": "Tagged"})

    assert (read_tags(path).artist, read_tags(path).title) == ("Tagged", "Song")


def test_unreadable_files_say_why(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp3"
    empty.touch()
    text = tmp_path / "text.ogg"
    text.write_text("not music at all\n" * 10)

    with pytest.raises(UnreadableAudio, match="empty file"):
        read_tags(empty)
    with pytest.raises(UnreadableAudio, match="not an audio file"):
        read_tags(text)
