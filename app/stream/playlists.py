"""Playlist files that point players at the stream: one entry per mount, the default first."""

from __future__ import annotations


def m3u(entries: list[tuple[str, str]]) -> str:
    """`entries`: (title, url) of each mount."""
    lines = ["#EXTM3U"]
    for title, url in entries:
        lines += [f"#EXTINF:-1,{_one_line(title)}", url]
    return "\n".join(lines) + "\n"


def pls(entries: list[tuple[str, str]]) -> str:
    lines = ["[playlist]"]
    for number, (title, url) in enumerate(entries, 1):
        lines += [f"File{number}={url}", f"Title{number}={_one_line(title)}",
                  f"Length{number}=-1"]  # fmt: skip
    lines += [f"NumberOfEntries={len(entries)}", "Version=2"]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())
