"""ICY metadata blocks and their placement in a listener's byte stream."""

from __future__ import annotations

import random
import re

from app.stream.icy import IcyFramer, metadata_block, sanitise


def parse(block: bytes) -> str:
    assert len(block) == 1 + block[0] * 16
    return block[1:].rstrip(b"\0").decode()


def test_block_is_length_byte_then_padded_text() -> None:
    block = metadata_block("Artist - Title", "https://radio.example/news/x")
    assert parse(block) == "StreamTitle='Artist - Title';StreamUrl='https://radio.example/news/x';"


def test_quote_semicolon_in_a_title_cannot_end_it_early() -> None:
    text = parse(metadata_block("Don't Stop';Believe \"Live\""))
    title = re.match(r"StreamTitle='(.*?)';", text)
    assert title is not None
    assert title.group(1) == "Don't Stop' ;Believe \"Live\""
    assert "';" not in sanitise("a';b';c")


def test_control_characters_never_reach_a_block() -> None:
    # A NUL ends the block for players that read it as a C string (ffmpeg): the title
    # would never change there; BEL and ESC would ring and recolour terminals.
    block = metadata_block("Tones - Be\x00li\x07ev\x1be\tIt\n", "https://radio.example/\x1bx")
    assert parse(block) == "StreamTitle='Tones - Believe It';StreamUrl='https://radio.example/x';"


def test_a_title_too_long_for_a_block_is_cut_and_keeps_its_url() -> None:
    block = metadata_block("x" * 5000, "https://radio.example/news/x")
    text = parse(block)
    assert block[0] == 255
    title = re.fullmatch(r"StreamTitle='(x+)';StreamUrl='https://radio.example/news/x';", text)
    assert title is not None
    assert len(text.encode()) > 255 * 16 - 16  # cut to fit, not to nothing


def test_very_long_titles_are_cut_to_the_largest_block_on_a_character_boundary() -> None:
    block = metadata_block("é" * 5000)
    assert block[0] == 255
    assert parse(block).endswith("';")


def test_blocks_land_exactly_every_metaint_bytes_and_repeat_only_changes() -> None:
    framer = IcyFramer(metaint=100)
    one, two = metadata_block("one"), metadata_block("two")
    audio = random.Random(7).randbytes(400)  # no two stretches alike: a shifted block shows
    pieces = []
    for start, end, block in ((0, 70, one), (70, 140, one), (140, 270, two), (270, 400, two)):
        pieces += framer.frame(audio[start:end], block)  # chunk sizes unrelated to metaint
    # Built by hand: the block in force after every 100 audio bytes, an empty one (a single
    # zero byte) when the title has not changed since the last block.
    expected = b"".join(
        (audio[:100], one, audio[100:200], two, audio[200:300], b"\0", audio[300:], b"\0")
    )
    assert b"".join(pieces) == expected
