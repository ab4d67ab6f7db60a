"""What the scheduler engine works on: plain frozen records, loaded from the database by
app/scheduler/snapshot.py or built by hand in tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from app.models import PlaylistOrder, PlaylistRule
from app.scheduler.dayparts import Daypart


@dataclass(frozen=True)
class TrackInfo:
    id: int
    artist: str
    title: str
    duration: float  # seconds on air (after silence trimming)
    is_jingle: bool = False  # a jingle does not count as a song, nor separates artists


@dataclass(frozen=True)
class PlaylistInfo:
    """A playlist as the scheduler sees it. Ids below 1 are implicit playlists that are not
    in the database (see snapshot.py); their picks carry playlist_id None."""

    id: int
    name: str
    rule: PlaylistRule
    order: PlaylistOrder
    weight: int = 3
    every: int | None = None  # songs (every_songs) or minutes (every_minutes)
    minute: int | None = None  # hourly: the minute of the hour
    window_minutes: int = 10  # hourly: how late after the minute it may still fire
    dayparts: tuple[Daypart, ...] = ()
    track_ids: tuple[int, ...] = ()
    is_jingle: bool = False


@dataclass(frozen=True)
class Rules:
    timezone: ZoneInfo
    track_separation: timedelta
    artist_separation: timedelta


@dataclass(frozen=True)
class Pick:
    track_id: int
    playlist_id: int | None
    reason: str  # "clock" | "interval" | "rotation" | "fallback"
    is_jingle: bool = False
    kind: str = "track"  # or a segment's kind (app/scheduler/segments.py): "bulletin"
