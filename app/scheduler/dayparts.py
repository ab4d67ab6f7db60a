"""Dayparts: the days and local times in which a playlist may play.

Times are compared as local wall-clock times in the station's time zone, so a daypart
"06:00-10:00" starts at 06:00 on the clock on the wall also on the days the clocks change.
A daypart whose end is not after its start runs past midnight into the next day; start ==
end is a whole day from the start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Daypart:
    days: frozenset[int]  # Monday=0 … Sunday=6: the days on which the daypart *starts*
    start: dt.time
    end: dt.time  # end <= start: runs past midnight into the next day

    def contains(self, local: dt.datetime) -> bool:
        """Is the wall-clock time `local` (already in the station's zone) inside?"""
        clock = local.time().replace(tzinfo=None)
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= clock < self.end
        return (day in self.days and clock >= self.start) or (
            (day - 1) % 7 in self.days and clock < self.end
        )


def in_dayparts(dayparts: Iterable[Daypart], local: dt.datetime) -> bool:
    """No dayparts means always."""
    found = False
    for part in dayparts:
        if part.contains(local):
            return True
        found = True
    return not found


def parse_time(text: Any) -> dt.time:
    """'HH:MM' (00:00-24:00; 24:00 is midnight at the end of the day)."""
    if not isinstance(text, str):
        raise ValueError(f"a time must be a string 'HH:MM', not {text!r}")
    if text.strip() == "24:00":
        return dt.time(0, 0)
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
        return dt.time(hours, minutes)
    except ValueError:
        raise ValueError(f"a time must look like 'HH:MM' (00:00-24:00), not {text!r}") from None


def parse_daypart(data: Mapping[str, Any]) -> Daypart:
    """One entry of Playlist.schedule: {"days": [0..6], "start": "06:00", "end": "10:00"}."""
    if not isinstance(data, Mapping):
        raise ValueError(f"a daypart must be an object with days, start and end, not {data!r}")
    days = data.get("days", list(range(7)))
    if not isinstance(days, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days
    ):
        raise ValueError(f"days must be a list of 0 (Monday) to 6 (Sunday), not {days!r}")
    if not days:
        raise ValueError("a daypart needs at least one day")
    return Daypart(frozenset(days), parse_time(data.get("start")), parse_time(data.get("end")))


def parse_dayparts(schedule: Iterable[Mapping[str, Any]] | None) -> tuple[Daypart, ...]:
    return tuple(parse_daypart(part) for part in schedule or ())
