"""Properties of ICY framing, checked by a de-framer written here as a player reads the
stream (audio, then after every `metaint` audio bytes a length byte L and L*16 bytes of
metadata): whatever the chunk sizes and title changes, the audio comes back byte for byte,
a block stands after every `metaint` bytes, and each block carries the title in force then,
or is empty when the title has not changed since the last block."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from app.stream.icy import MAX_BLOCK, IcyFramer, metadata_block

TITLE_RE = re.compile(rb"StreamTitle='(.*?)';")


def deframe(stream: bytes, metaint: int) -> tuple[bytes, list[bytes]]:
    """The audio, and the metadata blocks' payloads (b"" for an empty block)."""
    audio, blocks, pos = bytearray(), [], 0
    while pos < len(stream):
        take = stream[pos : pos + metaint]
        audio += take
        pos += len(take)
        if len(take) < metaint or pos == len(stream):
            break
        length = stream[pos] * 16
        payload = stream[pos + 1 : pos + 1 + length]
        assert len(payload) == length, "a metadata block cut short"
        blocks.append(payload)
        pos += 1 + length
    return bytes(audio), blocks


chunks = st.lists(st.tuples(st.binary(max_size=700), st.integers(0, 2)), max_size=25)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 600), chunks)
def test_audio_and_titles_come_back_whatever_the_chunking(
    metaint: int, pieces: list[tuple[bytes, int]]
) -> None:
    titles = [metadata_block(f"Artist - Title {n}") for n in range(3)]
    framer = IcyFramer(metaint)
    stream, sent_audio, expected_blocks = bytearray(), bytearray(), []
    last: bytes | None = None
    for audio, which in pieces:
        block = titles[which]
        for piece in framer.frame(audio, block):
            stream += piece
        # Every metaint-th byte of the audio so far is followed by the block in force.
        before = len(sent_audio)
        sent_audio += audio
        for _ in range(len(sent_audio) // metaint - before // metaint):
            expected_blocks.append(b"" if block == last else block[1:])
            last = block
    audio, blocks = deframe(bytes(stream), metaint)
    assert audio == bytes(sent_audio)
    assert blocks == expected_blocks


# Titles too long for a block, of characters of 1 to 4 bytes: the cut must fall between them.
too_long = st.builds(lambda pad, char, count: "a" * pad + char * count, st.integers(0, 3),
                     st.sampled_from("aé€😀"), st.integers(1000, 4100))  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=5000), too_long), st.one_of(st.just(""), st.text(max_size=300)))
def test_any_title_makes_one_well_formed_block(title: str, url: str) -> None:
    block = metadata_block(title, url)
    assert 1 <= block[0] <= 255
    assert len(block) == 1 + 16 * block[0] <= 1 + MAX_BLOCK
    text = block[1:].rstrip(b"\0")
    assert b"\0" not in text  # a C string ends at the first NUL: it must be the padding
    assert not re.search(rb"[\x01-\x1f\x7f]", text)
    decoded = text.decode("utf-8")  # never cut inside a character
    found = TITLE_RE.match(text)
    assert found, decoded
    shown = found[1].decode()
    # The title as a player reads it (up to the first `';`) is the cleaned title, or the
    # start of it when it is too long for a block.
    cleaned = " ".join(title.split())
    assert len(shown) <= len(cleaned)
    if len(text) < MAX_BLOCK - 64:
        assert " ".join(shown.split()) == " ".join(
            re.sub(r"[\x00-\x1f\x7f-\x9f]", "", cleaned).replace("';", "' ;").split()
        )
