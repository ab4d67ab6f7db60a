from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import pytest

from app.core.item import Item, ItemKind
from app.library import UnreadableAudio, read_tags
from app.text import clean_tag
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


# --- The cleaning rule every tag follows -----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Be\x00li\x07ev\x1be It", "Believe It"),  # NUL, BEL, ESC: dropped
        ("Tab\tand\nnew\r\nlines", "Tab and new lines"),  # white space controls: a space
        ("  runs   of\u00a0 spaces  ", "runs of spaces"),
        ("C1\x85next\x9b[31mred\x7f", "C1 next[31mred"),  # NEL is a line break; CSI, DEL go
        ("lone \ud800 surrogate", "lone surrogate"),  # cannot be written as UTF-8
        ("Ünïcödé ☂ — 東京 'quoted';", "Ünïcödé ☂ — 東京 'quoted';"),  # the rest is kept
    ],
)
def test_control_characters_go_and_white_space_is_single(raw: str, clean: str) -> None:
    assert clean_tag(raw) == clean
    assert clean_tag(clean) == clean


def test_tags_are_cut_to_300_characters_with_an_ellipsis() -> None:
    exactly = "x" * 300
    cut = clean_tag("La " * 1000)

    assert clean_tag(exactly) == exactly
    assert cut == "La " * 99 + "La…"
    assert len(cut) == 300
    assert clean_tag(cut) == cut


@pytest.mark.parametrize("suffix", [".ogg", ".mp3"])
def test_file_tags_are_cleaned_and_capped_when_read(tmp_path: Path, suffix: str) -> None:
    # ID3 uses NUL between the values of a frame: an MP3 carries BEL and ESC only.
    controlled = "Be\x00li\x07ev\x1be It" if suffix == ".ogg" else "Be\x07li\x1bev\x1be It"
    tags = {"artist": "Ed\tNoise\n", "title": "La " * 350_000, "album": controlled}
    path = write_tone(tmp_path / f"hostile{suffix}", 0.5, tags=tags)
    assert path.stat().st_size > 1_000_000  # the title, as the file holds it

    read = read_tags(path)

    assert (read.artist, read.title, read.album) == ("Ed Noise", "La " * 99 + "La…", "Believe It")


def test_a_file_name_standing_in_for_a_title_is_cleaned_too(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "Ed\x1bNoise - Slow\tRiver.ogg", 0.5)

    read = read_tags(path)

    assert (read.artist, read.title) == ("EdNoise", "Slow River")


def test_every_item_on_air_follows_the_rule_whatever_made_it() -> None:
    # E.g. a row an older version stored uncleaned, read before the next scan cleans it.
    item = Item(kind=ItemKind.music, title="La " * 1000, artist="Ed\x1bNoise", album="\tBig\n")

    assert (item.title, item.artist, item.album) == ("La " * 99 + "La…", "EdNoise", "Big")
    assert item.display_title == "EdNoise - " + "La " * 99 + "La…"


def test_whatever_the_input_a_cleaned_tag_is_one_tidy_line() -> None:
    pieces = ["a", "Zé", "東", "'", ";", " ", "  ", "\t", "\n", "\r", "\x00", "\x07", "\x1b",
              "\x1c", "\x7f", "\x85", "\x9b", "\xa0", "\u2028", "\u3000", "\ud800",
              "\u200b"]  # fmt: skip
    rng = random.Random(10)
    for _ in range(20_000):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) * rng.choice([1, 40])
        clean = clean_tag(raw)
        assert len(clean) <= 300
        assert clean == clean.strip(" ")
        assert "  " not in clean
        # No control character, surrogate or white space but the plain space is left.
        assert not any(
            unicodedata.category(ch) in ("Cc", "Cs") or (ch.isspace() and ch != " ") for ch in clean
        ), repr(clean)
        assert clean_tag(clean) == clean
