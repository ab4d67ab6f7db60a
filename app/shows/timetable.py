"""The shows' weekly slots as times: which show is on at a moment, and when.

Pure: built from plain records (`WeeklySlot`) and a time zone, so a week can be worked out
in a test. A slot is wall-clock time in the station's zone: "Monday 07:00 for 120 minutes"
runs from 07:00 to 09:00 local time every Monday, in winter and in summer. On the night the
clocks change, a start that does not exist (02:30 when 02:00 jumps to 03:00) begins at the
same distance past the change (03:30), and a start that happens twice (02:30 when 03:00
falls back to 02:00) begins at its first occurrence; the end is the wall-clock start plus
the length, so a show "01:00-03:00" ends at 03:00 that night too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
DAYS_KEPT = 64  # days of occurrences a timetable keeps worked out
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class ShowInfo:
    """A show as the timetable sees it."""

    id: int
    name: str
    host_ids: tuple[int, ...] = ()
    host_names: tuple[str, ...] = ()
    interrupt_news: bool = True
    record: bool = False


@dataclass(frozen=True)
class WeeklySlot:
    show: ShowInfo
    weekday: int  # Monday is 0
    start_minute: int  # minutes after local midnight
    minutes: int  # its length, 1 to a day

    @property
    def week_start(self) -> int:
        return self.weekday * MINUTES_PER_DAY + self.start_minute

    def describe(self) -> str:
        """ "Monday 07:00-09:00" (wall clock)."""
        end = (self.start_minute + self.minutes) % MINUTES_PER_DAY
        return f"{WEEKDAYS[self.weekday]} {hhmm(self.start_minute)}-{hhmm(end)}"


@dataclass(frozen=True)
class ShowSlot:
    """One occurrence of a show's slot: the show on air from `starts` to `ends` (UTC)."""

    show_id: int
    name: str
    host_ids: tuple[int, ...]
    host_names: tuple[str, ...]
    interrupt_news: bool
    record: bool
    starts: datetime
    ends: datetime

    @property
    def label(self) -> str:
        """What listeners see: "On air: Morning Show with Ann and Bo"."""
        return f"On air: {self.name}" + (f" with {and_list(self.host_names)}"
                                         if self.host_names else "")  # fmt: skip

    def to_json(self) -> dict[str, object]:
        return {"id": self.show_id, "name": self.name, "hosts": list(self.host_names),
                "label": self.label, "starts": self.starts.isoformat(),
                "ends": self.ends.isoformat(), "interrupt_news": self.interrupt_news}  # fmt: skip


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def and_list(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def overlaps(a: WeeklySlot, b: WeeklySlot) -> bool:
    """Whether two weekly slots share a minute of the week's wall clock (a slot may run
    past midnight, and Sunday night's into Monday)."""
    for shift in (-MINUTES_PER_WEEK, 0, MINUTES_PER_WEEK):
        start = b.week_start + shift
        if a.week_start < start + b.minutes and start < a.week_start + a.minutes:
            return True
    return False


class Timetable:
    """The week's slots, in memory. Every question is answered without the database."""

    def __init__(self, slots: Sequence[WeeklySlot], zone: ZoneInfo) -> None:
        self.slots = tuple(sorted(slots, key=lambda s: s.week_start))
        self.zone = zone
        self._by_weekday: dict[int, list[WeeklySlot]] = {}
        self._days: dict[date, tuple[ShowSlot, ...]] = {}  # see on_day
        for slot in self.slots:
            self._by_weekday.setdefault(slot.weekday, []).append(slot)

    def occurrence(self, slot: WeeklySlot, day: date) -> ShowSlot:
        """The slot on `day` (a date of its weekday), in UTC."""
        wall = datetime.combine(day, time()) + timedelta(minutes=slot.start_minute)
        starts = _utc(wall, self.zone)
        ends = _utc(wall + timedelta(minutes=slot.minutes), self.zone)
        show = slot.show
        return ShowSlot(show.id, show.name, show.host_ids, show.host_names,
                        show.interrupt_news, show.record, starts, ends)  # fmt: skip

    def on_day(self, day: date) -> tuple[ShowSlot, ...]:
        """The occurrences that start on `day` (local), in order; kept for the days asked
        most recently (the scheduler asks at every pick of a week's forecast)."""
        found = self._days.get(day)
        if found is None:
            if len(self._days) >= DAYS_KEPT:
                self._days.clear()
            slots = self._by_weekday.get(day.weekday(), ())
            found = self._days[day] = tuple(self.occurrence(slot, day) for slot in slots)
        return found

    def between(self, start: datetime, end: datetime) -> Iterator[ShowSlot]:
        """The occurrences that overlap [start, end), in order."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)  # one may run past midnight
        last = end.astimezone(self.zone).date()
        while day <= last:
            for occurrence in self.on_day(day):
                if occurrence.starts < end and start < occurrence.ends:
                    yield occurrence
            day += timedelta(days=1)

    def current(self, at: datetime) -> ShowSlot | None:
        """The show on at `at` (its slot holds `at`), if any."""
        day = at.astimezone(self.zone).date()
        for occurrence in (*self.on_day(day - timedelta(days=1)), *self.on_day(day)):
            if occurrence.starts <= at < occurrence.ends:
                return occurrence
        return None

    def next_change(self, at: datetime, within: timedelta = timedelta(days=8)) -> datetime | None:
        """The first time after `at` when a show starts or ends."""
        times = [t for o in self.between(at, at + within) for t in (o.starts, o.ends) if t > at]
        return min(times, default=None)


def _utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive local wall-clock time in `zone`, as UTC. A time the clocks skip is read with
    the offset before the change (02:30 -> 03:30 summer time); a repeated one is its first."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
