"""Shows as a segment of the programme (app.scheduler.segments.Segment): the planner marks
the start of each show's slot in the queue and the forecast ("On air: Morning Show with
Ann"), at the first item boundary inside the slot, with the precedence of clock items.

The mark takes no air time and opens up into nothing: during a slot the automation goes on
playing the programme until a host of the show goes live (app/live/ takes over the air),
and what is on air is labelled with the show (now-playing asks `Shows.current`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.core.item import Item, ItemKind
from app.models import QueueEntry
from app.scheduler.rules import Moment, Precedence, Rule, TriggeredRule
from app.scheduler.state import SchedulerState
from app.scheduler.types import Pick
from app.shows.timetable import ShowSlot

log = logging.getLogger(__name__)

KIND = "show"
TITLE_LENGTH = 300  # a queue entry's title column
NO_SHOW = "Live show"  # a mark whose show is gone


@dataclass(frozen=True)
class SlotStarts:
    """Due once in each show's slot, from its start to its end (so a station started in the
    middle of a slot marks it at once)."""

    current: Callable[[datetime], ShowSlot | None]

    def due(self, now: Moment, memory: Mapping[str, Any], state: SchedulerState) -> bool:
        slot = self.current(datetime.fromtimestamp(now.ts, UTC))
        return slot is not None and memory.get("starts") != slot.starts.timestamp()

    def fired(self, now: Moment, memory: dict[str, Any], state: SchedulerState) -> None:
        slot = self.current(datetime.fromtimestamp(now.ts, UTC))
        if slot is not None:
            memory["starts"] = slot.starts.timestamp()


def _mark(_context: object, reason: str) -> Pick:
    return Pick(track_id=0, playlist_id=None, reason=reason, kind=KIND)


class LiveShow:
    """The segment the station hands the planner; `current` is `Shows.current`."""

    kind = KIND
    parts: frozenset[str] = frozenset()

    def __init__(self, current: Callable[[datetime], ShowSlot | None]) -> None:
        self._current = current

    def rules(self) -> Sequence[Rule]:
        return [TriggeredRule("show-start", Precedence.CLOCK, SlotStarts(self._current), _mark)]

    def due_at(self, at: datetime) -> datetime:
        slot = self._current(at)
        return slot.starts if slot is not None else at

    def expected_seconds(self, session: Session, at: datetime) -> float:
        return 0.0  # the programme goes on under the show's name

    def placeholder(self, duration: float | None, at: datetime | None = None) -> Item:
        slot = self._current(at) if at is not None else None
        title = slot.label if slot is not None else NO_SHOW
        return Item(kind=ItemKind.live, title=title[:TITLE_LENGTH], duration=duration)

    def open(self, session: Session, at: datetime, due_at: datetime | None, reason: str
             ) -> list[QueueEntry]:  # fmt: skip
        slot = self._current(due_at or at)
        if slot is not None:
            log.info("shows: %s", slot.label)
        return []  # nothing airs in its place: the automation goes on until a host goes live

    def item(self, session: Session, entry: QueueEntry) -> Item | None:
        return None  # it opens up into no parts
