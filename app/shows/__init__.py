"""Shows: named programmes with hosts and weekly slots in the station's time zone.

`Shows` is the station's (`station.shows`): the timetable read once from the database and
kept in memory, read again when a show changes (`changed()`), so the questions asked per
request or per pick (`current`, `may_go_live`, `holds_news`) never query the database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from app.config import Settings
from app.db import SessionFactory
from app.shows import store
from app.shows.timetable import ShowSlot, Timetable, WeeklySlot, and_list, hhmm

log = logging.getLogger(__name__)

__all__ = ["ShowSlot", "Shows"]


class Shows:
    def __init__(self, sessions: SessionFactory, settings: Settings) -> None:
        self._sessions = sessions
        self.require_slot = settings.live_require_slot
        self.zone = ZoneInfo(settings.timezone)
        self.timetable = Timetable((), self.zone)
        self._lock = threading.Lock()
        # Called (on the thread that changed a show) after the timetable was read anew.
        self.on_change: list[Callable[[], None]] = []

    def load(self) -> None:
        """Read the timetable from the database (at start, and after every change)."""
        with self._sessions() as session:
            slots = store.weekly_slots(session)
        with self._lock:
            self.timetable = Timetable(slots, self.zone)

    def changed(self) -> None:
        """A show, its hosts or its slots changed: read them again and tell the station."""
        self.load()
        for callback in self.on_change:
            try:
                callback()
            except Exception:
                log.exception("shows: a listener of show changes failed")

    # -- the questions (from memory) ---------------------------------------------------------

    def current(self, at: datetime) -> ShowSlot | None:
        """The show whose slot holds `at`, if any."""
        return self.timetable.current(at)

    def holds_news(self, at: datetime) -> bool:
        """Whether a show that the hourly news must not interrupt is on at `at`."""
        slot = self.timetable.current(at)
        return slot is not None and not slot.interrupt_news

    def may_go_live(self, host_id: int, at: datetime) -> str | None:
        """None when the host may go live at `at`; else the sentence saying why not. Without
        RADIO_LIVE_REQUIRE_SLOT every host may, any time."""
        if not self.require_slot:
            return None
        slot = self.timetable.current(at)
        if slot is not None and host_id in slot.host_ids:
            return None
        if slot is not None:
            return (f"It is the slot of “{slot.name}” until {self._clock(slot.ends)}: only "
                    f"{and_list(slot.host_names) or 'its hosts'} may go live now.")  # fmt: skip
        mine = self._next_slot_of(host_id, at)
        where = (
            f" Your next slot: “{mine.name}”, {self._day(mine.starts)} {self._clock(mine.starts)}."
            if mine
            else " You host no show with a slot."
        )
        return "The station lets hosts go live only in a slot of one of their shows." + where

    def today(self, now: datetime) -> list[ShowSlot]:
        """The shows on now or later in the station's day."""
        local = now.astimezone(self.zone)
        # (Aware arithmetic is wall-clock: the next midnight also on a 23- or 25-hour day.)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        return list(self.timetable.between(now, midnight))

    def slots(self) -> tuple[WeeklySlot, ...]:
        return self.timetable.slots

    def _next_slot_of(self, host_id: int, at: datetime) -> ShowSlot | None:
        return next((o for o in self.timetable.between(at, at + timedelta(days=8))
                     if host_id in o.host_ids and o.starts > at), None)  # fmt: skip

    def _clock(self, at: datetime) -> str:
        local = at.astimezone(self.zone)
        return hhmm(local.hour * 60 + local.minute)

    def _day(self, at: datetime) -> str:
        return at.astimezone(self.zone).strftime("%A")
