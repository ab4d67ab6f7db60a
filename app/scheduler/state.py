"""Everything the scheduler remembers between picks, as plain JSON-friendly data.

Times are POSIX timestamps (seconds, float): they survive JSON exactly and compare without
time-zone arithmetic.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

VERSION = 1


@dataclass
class SchedulerState:
    picks: int = 0  # how many picks so far; seeds the random choices of the next one
    songs: int = 0  # non-jingle songs from rotation or hosts, for "every N songs"
    started: float | None = None  # the first moment the scheduler saw
    last_start: float | None = None  # the latest item on air: when it started
    last_end: float | None = None  # … and when it ends
    track_played: dict[int, float] = field(default_factory=dict)
    artist_played: dict[str, float] = field(default_factory=dict)  # split, case-folded names
    playlists: dict[int, dict[str, Any]] = field(default_factory=dict)  # order memory: bag, …
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)  # trigger memory, by rule key

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "picks": self.picks,
            "songs": self.songs,
            "started": self.started,
            "last_start": self.last_start,
            "last_end": self.last_end,
            "track_played": {str(k): v for k, v in self.track_played.items()},
            "artist_played": dict(self.artist_played),
            "playlists": {str(k): copy.deepcopy(v) for k, v in self.playlists.items()},
            "rules": copy.deepcopy(self.rules),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SchedulerState:
        """Also accepts {} (a fresh station) and drops what it does not know."""
        if data.get("version", VERSION) != VERSION:
            return cls()
        return cls(
            picks=int(data.get("picks", 0)),
            songs=int(data.get("songs", 0)),
            started=data.get("started"),
            last_start=data.get("last_start"),
            last_end=data.get("last_end"),
            track_played={int(k): float(v) for k, v in data.get("track_played", {}).items()},
            artist_played={str(k): float(v) for k, v in data.get("artist_played", {}).items()},
            playlists={int(k): copy.deepcopy(v) for k, v in data.get("playlists", {}).items()},
            rules=copy.deepcopy(data.get("rules", {})),
        )
