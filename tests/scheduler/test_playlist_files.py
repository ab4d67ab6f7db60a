"""Reading and writing M3U, M3U8 and PLS files as real players and tools write them."""

from __future__ import annotations

import pytest

from app.scheduler.playlist_files import (
    FileEntry,
    PlaylistFileError,
    PlaylistFormat,
    Problem,
    decode,
    format_for,
    format_m3u,
    format_pls,
    parse,
)

M3U8 = PlaylistFormat.m3u8
PLS = PlaylistFormat.pls


def test_extended_m3u_gives_locations_titles_and_durations() -> None:
    text = (
        "#EXTM3U\n"
        "#EXTINF:215,Nina Simone - Feeling Good\n"
        "music/feeling good.mp3\n"
        "\n"
        "# a comment\n"
        '#EXTINF:-1 tvg-logo="x.png",Station ID\n'
        "jingles/id.ogg\n"
        "music/no-extinf.flac\n"
    )
    parsed = parse(text, M3U8)
    assert parsed.problems == []
    assert [(e.location, e.title, e.duration, e.line) for e in parsed.entries] == [
        ("music/feeling good.mp3", "Nina Simone - Feeling Good", 215.0, 3),
        ("jingles/id.ogg", "Station ID", None, 7),
        ("music/no-extinf.flac", None, None, 8),
    ]


def test_windows_line_endings_and_a_byte_order_mark_are_read_like_any_file() -> None:
    data = "#EXTM3U\r\n#EXTINF:10,Ünïcode – Tïtle\r\nmusic/a.mp3\r\nmusic/b.mp3\r\n"
    text = decode(b"\xef\xbb\xbf" + data.encode(), M3U8)
    parsed = parse(text, M3U8)
    assert [e.location for e in parsed.entries] == ["music/a.mp3", "music/b.mp3"]
    assert parsed.entries[0].title == "Ünïcode – Tïtle"
    # A BOM that survived decoding elsewhere is dropped too, so line 1 is still #EXTM3U.
    assert parse("\ufeffmusic/a.mp3\n", M3U8).entries[0].location == "music/a.mp3"


def test_an_old_latin1_m3u_is_read_but_an_m3u8_must_be_utf8() -> None:
    latin1 = "Caf\xe9/chanson.mp3\n".encode("latin-1")
    assert parse(decode(latin1, PlaylistFormat.m3u), PlaylistFormat.m3u).entries[0].location == (
        "Café/chanson.mp3"
    )
    with pytest.raises(PlaylistFileError, match="UTF-8"):
        decode(latin1, M3U8)


def test_bad_lines_are_problems_with_their_line_number_and_the_rest_is_kept() -> None:
    text = "#EXTM3U\n#EXTINF:abc,Title\nmusic/a.mp3\n#EXTINF:5,Dangling\n"
    parsed = parse(text, M3U8)
    assert [e.location for e in parsed.entries] == ["music/a.mp3"]
    assert parsed.entries[0].title == "Title"  # the bad duration loses only the duration
    assert [(p.line, p.reason) for p in parsed.problems] == [
        (2, "#EXTINF duration is not a number"),
        (4, "#EXTINF without a location after it"),
    ]


def test_pls_entries_come_in_their_number_order() -> None:
    text = (
        "[playlist]\r\n"
        "File2=music/b.mp3\r\n"
        "Title2=Two\r\n"
        "File1=music/a.mp3\r\n"
        "Title1=One\r\n"
        "Length1=61\r\n"
        "Length2=-1\r\n"
        "NumberOfEntries=2\r\n"
        "Version=2\r\n"
    )
    parsed = parse(text, PLS)
    assert parsed.problems == []
    assert [(e.location, e.title, e.duration, e.line) for e in parsed.entries] == [
        ("music/a.mp3", "One", 61.0, 4),
        ("music/b.mp3", "Two", None, 2),
    ]


def test_pls_problems_are_reported_not_fatal() -> None:
    text = (
        "[playlist]\n"
        "File1=music/a.mp3\n"
        "Title2=no file for me\n"
        "Length1=long\n"
        "garbage line\n"
        "NumberOfEntries=5\n"
    )
    parsed = parse(text, PLS)
    assert [e.location for e in parsed.entries] == ["music/a.mp3"]
    assert parsed.entries[0].duration is None
    reasons = {p.line: p.reason for p in parsed.problems}
    assert reasons == {
        3: "Title2/Length2 without File2",
        4: "Length1 is not a number",
        5: "not a key=value line",
        6: "NumberOfEntries says 5 but 2 are listed",
    }


def test_a_file_that_is_no_playlist_gets_a_clear_error() -> None:
    with pytest.raises(PlaylistFileError, match=r"starts with \[playlist\]"):
        parse("File1=music/a.mp3\n", PLS)
    with pytest.raises(PlaylistFileError, match="empty"):
        parse("", PLS)
    with pytest.raises(PlaylistFileError, match="binary"):
        decode(bytes(range(256)) * 8, PlaylistFormat.m3u)
    with pytest.raises(PlaylistFileError, match=r"\.m3u, \.m3u8 or \.pls"):
        format_for("songs.txt")
    assert format_for("Morning.M3U8") is M3U8


def test_one_nul_byte_is_a_bad_entry_not_a_binary_file() -> None:
    text = decode(b"music/a.mp3\nmusic/evil\x00.mp3\nmusic/b.mp3\n", PlaylistFormat.m3u)
    assert [e.location for e in parse(text, PlaylistFormat.m3u).entries] == [
        "music/a.mp3",
        "music/evil\x00.mp3",  # the playlists service refuses it, with its line number
        "music/b.mp3",
    ]


@pytest.mark.parametrize("fmt", [M3U8, PLS])
def test_what_is_written_reads_back_the_same(fmt: PlaylistFormat) -> None:
    entries = [
        FileEntry("music/a b.mp3", "Artist - Title, with comma", 215.0),
        FileEntry("jingles/ü.ogg", None, None),
        FileEntry("music/c.flac", "Multi\nline = title", 3.0),
    ]
    text = format_m3u(entries) if fmt is M3U8 else format_pls(entries)
    back = parse(text, fmt)
    assert back.problems == []
    assert [(e.location, e.title, e.duration) for e in back.entries] == [
        ("music/a b.mp3", "Artist - Title, with comma", 215.0),
        ("jingles/ü.ogg", None, None),
        ("music/c.flac", "Multi line = title", 3.0),  # no line of its own for the title
    ]


def test_pls_output_has_the_fields_players_expect() -> None:
    text = format_pls([FileEntry("music/a.mp3", "A", 5.4)])
    assert text == (
        "[playlist]\nFile1=music/a.mp3\nTitle1=A\nLength1=5\nNumberOfEntries=1\nVersion=2\n"
    )


def test_a_location_that_would_inject_lines_is_never_written() -> None:
    with pytest.raises(PlaylistFileError):
        format_m3u([FileEntry("music/a.mp3\n#EXTINF:1,x\n/etc/passwd")])


def test_problem_records_the_offending_text() -> None:
    parsed = parse("[playlist]\nnonsense\n", PLS)
    assert parsed.problems == [Problem(2, "not a key=value line", "nonsense")]
