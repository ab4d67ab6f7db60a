"""Playlist files that point players at the stream."""

from __future__ import annotations


def m3u(title: str, url: str) -> str:
    return f"#EXTM3U\n#EXTINF:-1,{_one_line(title)}\n{url}\n"


def pls(title: str, url: str) -> str:
    return (
        "[playlist]\n"
        f"File1={url}\n"
        f"Title1={_one_line(title)}\n"
        "Length1=-1\n"
        "NumberOfEntries=1\n"
        "Version=2\n"
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())
