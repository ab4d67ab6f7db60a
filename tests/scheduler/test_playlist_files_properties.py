"""Properties of the M3U/M3U8/PLS reader and writer: what the station writes it reads back
unchanged, and whatever bytes a playlist file holds, reading it either gives entries and
problems with their line numbers or refuses the file with PlaylistFileError, nothing else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.scheduler.playlist_files import (
    FileEntry,
    PlaylistFileError,
    PlaylistFormat,
    decode,
    format_playlist,
    parse,
)

FORMATS = st.sampled_from(list(PlaylistFormat))
# Printable text of any script: no control characters, no surrogates.
TEXT = st.characters(blacklist_categories=("Cc", "Cs"))
locations = (
    st.text(TEXT, min_size=1, max_size=40)
    .map(str.strip)
    .filter(lambda s: s and not s.startswith(("#", ";")))
)
titles = st.one_of(st.none(), st.text(TEXT, max_size=40))
durations = st.one_of(st.none(), st.integers(0, 10**6).map(float))
entries = st.lists(st.builds(FileEntry, locations, titles, durations), max_size=12)


def one_line(title: str | None) -> str | None:
    """The title as a file can hold it: whitespace runs become one space; empty is none."""
    flat = " ".join((title or "").split())
    return flat or None


@settings(max_examples=300, deadline=None)
@given(entries, FORMATS)
def test_a_written_playlist_reads_back_the_same(
    written: list[FileEntry], fmt: PlaylistFormat
) -> None:
    data = format_playlist(written, fmt).encode()
    parsed = parse(decode(data, fmt), fmt)
    assert parsed.problems == []
    assert [(e.location, e.title, e.duration) for e in parsed.entries] == [
        (e.location, one_line(e.title), e.duration) for e in written
    ]
    lines = data.decode().split("\n")
    for entry in parsed.entries:  # each entry's line number is where its location stands
        assert entry.location in lines[entry.line - 1]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)), FORMATS)
def test_any_bytes_give_entries_and_problems_or_a_clear_refusal(
    data: bytes, fmt: PlaylistFormat
) -> None:
    try:
        parsed = parse(decode(data, fmt), fmt)
    except PlaylistFileError as error:
        refusal = str(error)
    else:
        refusal = ""
    if refusal:
        return
    line_count = len(data.splitlines()) + 1
    for entry in parsed.entries:
        assert entry.location == entry.location.strip()
        assert entry.location
        assert not any(c in entry.location for c in "\r\n")
        assert 1 <= entry.line <= line_count
        assert entry.duration is None or entry.duration >= 0
    for problem in parsed.problems:
        assert 0 <= problem.line <= line_count
        assert problem.reason


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(locations, st.sampled_from(["-1", "12", "3.5", "x", ""])), max_size=8))
def test_a_bad_extinf_duration_loses_only_the_duration(rows: list[tuple[str, str]]) -> None:
    text = "#EXTM3U\n" + "".join(f"#EXTINF:{d},Title\n{loc}\n" for loc, d in rows)
    parsed = parse(text, PlaylistFormat.m3u)
    assert [e.location for e in parsed.entries] == [loc for loc, _ in rows]
    assert [e.duration for e in parsed.entries] == [
        float(d) if d in ("12", "3.5") else None for _, d in rows
    ]
    bad = [d for _, d in rows if d == "x"]  # an empty duration is an unknown one
    assert len(parsed.problems) == len(bad)
