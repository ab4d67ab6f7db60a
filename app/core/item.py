"""An item of the programme: what the scheduler hands to the playout."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from app.text import clean_tag


class ItemKind(enum.StrEnum):
    music = "music"
    jingle = "jingle"
    news = "news"  # a story, or the spoken opening of a bulletin
    safety = "safety"  # the fallback that plays when nothing else can
    live = "live"  # a host on air from their software or the browser (app/live, app/shows)


@dataclass(frozen=True)
class Item:
    kind: ItemKind
    title: str
    artist: str = ""
    album: str = ""
    duration: float | None = None  # seconds on air, after silence trimming
    track_id: int | None = None
    path: Path | None = None
    gain_db: float = 0.0
    cue_in: float = 0.0
    cue_out: float | None = None
    url: str = ""  # a page about the item: a story's article page
    article_id: int | None = None
    requested_by: str = ""  # a listener's request: their display name ("a listener")

    def __post_init__(self) -> None:
        # Every name on air passes the one cleaning rule, whatever made the item: a file's
        # tags, a row an older version stored, an article or a feed, a setting.
        for name in ("title", "artist", "album"):
            value = getattr(self, name)
            clean = clean_tag(value)
            if clean != value:
                object.__setattr__(self, name, clean)

    @property
    def keeps_title(self) -> bool:
        """Jingles play under the title of what they follow, as listeners expect."""
        return self.kind is ItemKind.jingle

    @property
    def display_title(self) -> str:
        """'Artist - Title', the form stream clients show."""
        return f"{self.artist} - {self.title}" if self.artist else self.title


def safety_item(station_name: str) -> Item:
    """The item that stands for the safety source (app.playout.safety) on air."""
    return Item(kind=ItemKind.safety, title=f"{station_name} will be right back")
