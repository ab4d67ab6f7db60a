"""ICY metadata blocks and their placement in a listener's byte stream."""

from __future__ import annotations

import re

from app.stream.icy import IcyFramer, metadata_block, sanitise
from tests.listen import split_icy


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


def test_very_long_titles_are_cut_to_the_largest_block_on_a_character_boundary() -> None:
    block = metadata_block("é" * 5000)
    assert block[0] == 255
    assert parse(block).endswith("';")


def test_blocks_land_exactly_every_metaint_bytes_and_repeat_only_changes() -> None:
    framer = IcyFramer(metaint=100)
    first, second = metadata_block("one"), metadata_block("two")
    body = b"".join(framer.frame(bytes(range(70)), first))  # chunk sizes unrelated to metaint
    body += b"".join(framer.frame(bytes(70), first))
    body += b"".join(framer.frame(bytes(130), second))
    stream = split_icy(body, 100)
    assert stream.block_offsets == [100, 200]
    assert stream.titles == [(100, "one"), (200, "two")]
    blocks = len(metadata_block("one")) + len(metadata_block("two"))
    assert len(body) == 270 + blocks  # the audio itself is untouched
