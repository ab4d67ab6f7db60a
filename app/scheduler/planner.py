"""The planner: keeps the queue topped up with the scheduler's picks, hands the playout its
next item, and forecasts the programme.

The scheduler itself (app/scheduler/engine.py) is pure; this is where it meets the
database and the wall clock. The scheduler's state is the state *after the last planned
entry*, so planning continues where it left off, also after a restart. Programme other than
the library's tracks (news bulletins) comes in as segments (app/scheduler/segments.py) that
the station hands over: the planner does not know what they are.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.item import Item, ItemKind
from app.db import SessionFactory, wait_for_locks
from app.library.analysis import gain_db
from app.models import (
    Playlist,
    PlaylistEntry,
    QueueEntry,
    SchedulerMemory,
    SongRequest,
    Track,
    TrackStatus,
)
from app.scheduler import queue, requests
from app.scheduler.engine import Pick, Scheduler, SchedulerState
from app.scheduler.segments import Segment, last_at_minute
from app.scheduler.snapshot import load_scheduler

log = logging.getLogger(__name__)

MEMORY_ID = 1

# A planned item that starts this far from its planned time has the rest planned anew, so
# clock items, intervals and dayparts are decided on the times that really happen.
REPLAN_DRIFT = timedelta(seconds=30)

# Forecasts are CPU work (a week of picks): this many at once, the others wait their turn
# up to PREVIEW_WAIT_SECONDS, then are told the station is busy.
PREVIEWS_AT_ONCE = 2
PREVIEW_WAIT_SECONDS = 20.0
# A forecast holds at most this many items: a week of three-minute songs with jingles and
# hourly news is about 4500. A station of shorter items gets fewer hours than it asked for,
# not an answer of megabytes that takes a busy machine half a minute.
PREVIEW_MAX_ITEMS = 5000

# While a live input has the air, a clock segment (the hourly news) takes it from the live
# input at its time; one whose time passed longer ago than this (before the live input
# began, waiting for a long item to end) waits for the live input to end instead.
LIVE_BREAK_GRACE = timedelta(seconds=60)


class PreviewBusy(Exception):
    """Too many forecasts are being computed; try again shortly."""


class PlannerBusy(Exception):
    """The next item could not be taken in the time the playout can wait: the queue was
    being changed by another request, or the database was locked."""


@dataclass(frozen=True)
class _Plan:
    at: datetime  # when the scheduler expected the entry to start
    state_before: dict[str, Any]  # its memory just before it picked the entry


@dataclass(frozen=True)
class Upcoming:
    entry_id: int | None  # None in a forecast beyond the queue
    position: int
    item: Item
    reason: str
    expected_start: datetime
    playlist_id: int | None


@dataclass(frozen=True)
class Forecast:
    items: list[Upcoming]
    cut_short: bool  # PREVIEW_MAX_ITEMS were reached before the hours asked for


class Planner:
    def __init__(self, sessions: SessionFactory, settings: Settings,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), *,
                 segments: Sequence[Segment] = ()) -> None:  # fmt: skip
        self._sessions = sessions
        self._segments = {segment.kind: segment for segment in segments}
        # Which segment makes each kind of part (a bulletin's stories and stings).
        self._part_of = {part: segment for segment in segments for part in segment.parts}
        kinds = [segment.kind for segment in segments]
        if len(set(kinds)) != len(kinds) or set(kinds) & {*self._part_of, "track"}:
            raise ValueError(f"segments need kinds of their own: {kinds}")
        self._settings = settings
        self._now = now
        self._zone = ZoneInfo(settings.timezone)
        self._lock = threading.RLock()
        self._scheduler: Scheduler | None = None
        self._state: SchedulerState | None = None
        self._playlist_minutes: dict[int, int] = {}
        self._durations_by_track: dict[int, float] = {}
        self._fingerprint: tuple[object, ...] | None = None
        self._previews = threading.BoundedSemaphore(PREVIEWS_AT_ONCE)
        self._previous_take: datetime | None = None  # None after a restart
        self._plans: dict[int, _Plan] = {}  # by queue entry id; empty after a restart
        self._next_up: Item | None = None  # see next_up
        self._breaking: set[int] = set()  # queue entries of the segment airing over a live input
        # When the item on air ends, as far as the playout knows: planning starts there.
        self.on_air_until: Callable[[], datetime] = self._now
        # What next_item() handed out, by (item kind, why: the queue entry's reason), and
        # ("none", "empty") when nothing could play: the station's metrics.
        self.decisions: Counter[tuple[str, str]] = Counter()

    # -- what the playout calls --------------------------------------------------------------

    def next_item(self, wait: float | None = None) -> Item | None:
        """Take the item that starts now out of the queue, and plan further ahead. With
        `wait`, give up after about that many seconds of waiting for the queue or the
        database (PlannerBusy; on SQLite, "database is locked" as an OperationalError)."""
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            raise PlannerBusy(f"the queue was busy with another request for {wait:.0f} s")
        try:
            item = self._next_item(wait)
            try:
                self.upcoming(limit=1, wait=wait)  # what follows it, for next_up
            except OperationalError:
                if wait is None:
                    raise  # (with a wait, next_up stays as it was: the item is what counts)
            return item
        finally:
            self._lock.release()

    @property
    def next_up(self) -> Item | None:
        """The queue's first item as last planned (by next_item, upcoming or peek). It never
        waits for the planner or the database: now-playing reads it on the event loop."""
        return self._next_up

    def take_clock_item(self, by: datetime, kinds: Collection[str], wait: float | None = None
                        ) -> Item | None:  # fmt: skip
        """While a live input has the air: the first item of a clock segment of `kinds` (the
        hourly news) due by `by`, or the next part of the one airing; None when there is none
        (the live input keeps the air, or takes it back). What it takes leaves the queue, as
        next_item's items do; the rest of the queue waits for the live input to end. A
        segment the rules hold (a show the news does not interrupt) is never due. `wait`: as
        next_item's."""
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            raise PlannerBusy(f"the queue was busy with another request for {wait:.0f} s")
        try:
            with self._sessions.begin() as session:
                if wait is not None:
                    wait_for_locks(session, wait)
                entry = self._next_break_part(session) or self._open_break(session, by, kinds)
                while entry is not None:
                    queue.remove(session, entry.id)
                    self._breaking.discard(entry.id)
                    item = self._entry_item(session, entry)
                    if item is not None:
                        self.decisions[item.kind.value, entry.reason] += 1
                        return item
                    entry = self._next_break_part(session)
                return None
        finally:
            self._lock.release()

    def _next_break_part(self, session: Session) -> QueueEntry | None:
        return next((e for e in queue.entries(session) if e.id in self._breaking), None)

    def _open_break(self, session: Session, by: datetime, kinds: Collection[str]
                    ) -> QueueEntry | None:  # fmt: skip
        """The clock segment of `kinds` due by `by`, opened up into its parts: the first."""
        self._breaking.clear()
        if by >= self._planned_horizon(session):
            # Nothing is taken while a live input has the air: the plan ran out; plan on.
            self._replan(session)
            self._top_up(session, by)
        entry = next((e for e in queue.entries(session) if e.kind in kinds and e.reason == "clock"
                      and e.due_at is not None and by - LIVE_BREAK_GRACE <= e.due_at <= by),
                     None)  # fmt: skip
        if entry is None:
            return None
        queue.remove(session, entry.id)
        if self._plans.pop(entry.id, None) is not None:
            # What follows is planned anew (when the live input ends), the segment fired.
            self._replan(session, fired=entry.id)
        parts = self._segments[entry.kind].open(session, by, entry.due_at, entry.reason)
        queue.insert(session, parts, 0)
        session.flush()
        self._breaking = {part.id for part in parts}
        log.info("%s due at %s takes the air from the live input (%d parts)", entry.kind,
                 entry.due_at.isoformat(), len(parts))  # fmt: skip
        return parts[0] if parts else None

    def _planned_horizon(self, session: Session) -> datetime:
        """Where the queue's plan runs out (as planned: it is stale while nothing is taken)."""
        entries = queue.entries(session)
        first = next((self._plans[e.id].at for e in entries if e.id in self._plans), None)
        if first is None:
            return datetime.min.replace(tzinfo=UTC)  # nothing planned: plan now
        return self._planned_until(session, first)

    def _next_item(self, wait: float | None) -> Item | None:
        now = self._now()
        starts = max(now, self.on_air_until())
        with self._sessions.begin() as session:
            if wait is not None:
                wait_for_locks(session, wait)
            self._top_up(session, starts)
            entry = self._take(session, starts)
            if entry is None:
                self.decisions["none", "empty"] += 1
                return None
            if entry.reason in queue.PINNED and entry.track_id is not None:
                self._scheduler_for(session).record(now, entry.track_id, self._memory(session))
                self._save(session)
            item = self._entry_item(session, entry)
            if entry.reason == queue.REQUEST:
                for request in session.scalars(
                    select(SongRequest).where(
                        SongRequest.entry_id == entry.id, SongRequest.status == requests.PENDING
                    )
                ):
                    request.status, request.aired_at = requests.AIRED, starts  # fmt: skip
            self.decisions[item.kind.value if item else "none", entry.reason] += 1
            ends = starts + (self._air_time(item) if item else timedelta(0))
            self._top_up(session, ends)
        return item

    def _take(self, session: Session, starts: datetime) -> QueueEntry | None:
        """The entry that starts at `starts`; a segment opens up into its parts as it airs."""
        refilled = False
        while True:
            # Due clock items are due by when the next item starts, not by when it is asked
            # for (the playout asks while it decodes ahead of the air).
            entry = queue.take(session, starts, self._previous_take)
            self._previous_take = starts
            if entry is None:
                if refilled:
                    return None
                # A replan, or a segment with nothing to air (a bulletin without a story
                # ready), may have emptied the queue.
                self._top_up(session, starts)
                refilled = True
                continue
            planned = self._plans.pop(entry.id, None)
            if planned is not None and abs(planned.at - starts) > REPLAN_DRIFT:
                # Skips or long items moved the clock, or a due clock item jumped ahead of
                # its place: plan anew (that clock item has fired, whatever came before it).
                self._replan(session, fired=entry.id if entry.due_at is not None else None)
            segment = self._segments.get(entry.kind)
            if segment is None:
                return entry
            parts = segment.open(session, starts, entry.due_at, entry.reason)
            queue.insert(session, parts, 0)
            session.flush()

    def peek(self, wait: float | None = None) -> Item | None:
        """The next item in the queue; with `wait`, None when the queue or the database is
        busy for longer than that (what comes next is not worth waiting for)."""
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            return None
        try:
            upcoming = self.upcoming(limit=1, wait=wait)
        except OperationalError:
            if wait is None:
                raise
            return None
        finally:
            self._lock.release()
        return upcoming[0].item if upcoming else None

    # -- what hosts see and change ------------------------------------------------------------

    def upcoming(self, limit: int | None = None, wait: float | None = None) -> list[Upcoming]:
        """The queue, with the time each entry is expected to start."""
        with self._lock, self._sessions.begin() as session:
            if wait is not None:
                wait_for_locks(session, wait)
            self._top_up(session, self.on_air_until())
            rows = queue.entries(session)[:limit]
            start = self.on_air_until()
            out = []
            for entry in rows:
                item = self._entry_item(session, entry)
                if item is None:
                    continue
                if entry.due_at is not None and entry.due_at > start:
                    start = entry.due_at
                out.append(Upcoming(entry.id, entry.position, item, entry.reason, start,
                                    entry.playlist_id))  # fmt: skip
                start += self._air_time(item)
            if limit != 0:
                self._next_up = out[0].item if out else None
            return out

    def preview(self, hours: float) -> Forecast:
        """The coming programme: the queue, then what the scheduler would pick, untouched;
        at most PREVIEW_MAX_ITEMS of it.

        At most PREVIEWS_AT_ONCE run at once (PreviewBusy when none is free in time), and
        the simulation runs outside the planner's lock, so the playout's questions for its
        next item never wait for a forecast."""
        if not self._previews.acquire(timeout=PREVIEW_WAIT_SECONDS):
            raise PreviewBusy(f"{PREVIEWS_AT_ONCE} forecasts are being computed; try again "
                              "in a few seconds")  # fmt: skip
        try:
            return self._preview(hours)
        finally:
            self._previews.release()

    def _preview(self, hours: float) -> Forecast:
        upcoming = self.upcoming()
        start = (
            upcoming[-1].expected_start + self._air_time(upcoming[-1].item)
            if upcoming
            else self.on_air_until()
        )
        until = self._now() + timedelta(hours=hours)
        with self._lock, self._sessions() as session:
            scheduler = self._scheduler_for(session)
            state = copy.deepcopy(self._memory(session))
        # The scheduler is immutable; the copy of its memory is this forecast's own.
        room = max(PREVIEW_MAX_ITEMS + 1 - len(upcoming), 0)  # one more: cut short or not
        picks = scheduler.simulate(start, until, state, self._settings.crossfade_seconds, room)
        with self._sessions() as session:
            tracks = self._tracks(session, [pick.track_id for _, pick in picks])
        position = len(upcoming)
        for at, pick in picks:
            track = tracks.get(pick.track_id)
            segment = self._segments.get(pick.kind)
            if segment is not None:
                item: Item | None = segment.placeholder(None, at)
            else:
                item = self._item(track, pick.is_jingle) if track is not None else None
            if item is not None:
                upcoming.append(Upcoming(None, position, item, pick.reason, at, pick.playlist_id))
                position += 1
        items = [u for u in upcoming if u.expected_start <= until]
        return Forecast(items[:PREVIEW_MAX_ITEMS], cut_short=len(items) > PREVIEW_MAX_ITEMS)

    def library_changed(self) -> None:
        """Tracks or playlists changed: reload the scheduler and plan the queue anew."""
        with self._lock, self._sessions.begin() as session:
            self._scheduler = None
            self._replan(session)
            self._top_up(session, self.on_air_until())

    def add_track(
        self, track_id: int, position: int | None, host_id: int | None = None
    ) -> str | None:
        """Queue a host's pick. It airs even within the separation window (a host may mean
        it), but then the answer is a warning saying so (also when the scheduler planned the
        same track nearby); the picks planned from now on keep separation with it."""
        with self._lock, self._sessions.begin() as session:
            track = queue.playable_track(session, track_id)
            entry = QueueEntry(track_id=track_id, reason=queue.HOST, added_by=host_id)
            queue.insert(session, [entry], position)
            session.flush()
            warning = self._separation_warning(session, track, entry)
            self._top_up(session, self.on_air_until())
            return warning

    def _last_aired(self, session: Session, track: Track) -> datetime | None:
        """When the track last went on air (the station's record) or was taken for the air
        (the scheduler's memory, which also holds the times of picks still to come)."""
        taken = self._memory(session).track_played.get(track.id)
        last = track.last_played_at
        if taken is not None and taken <= self._now().timestamp():
            taken_at = datetime.fromtimestamp(taken, UTC)
            last = taken_at if last is None else max(last, taken_at)
        return last

    def _separation_warning(self, session: Session, track: Track, entry: QueueEntry) -> str | None:
        """Why a queued track breaks separation with what aired or is queued, in a sentence."""
        starts = self._expected_starts(session, self.on_air_until())
        at = starts.get(entry.id, self.on_air_until())
        gap = timedelta(hours=self._settings.track_separation_hours)
        name = f"“{track.title}”" + (f" by {track.artist}" if track.artist else "")
        last = self._last_aired(session, track)
        if last is not None and at - last < gap:
            ago = _minutes(at - last)
            return (f"{name} played {ago} before it would air again; the station keeps "
                    f"{_hours(gap)} between plays of a track.")  # fmt: skip
        for other in queue.entries(session):
            other_at = starts.get(other.id)
            if other is entry or other.track_id != track.id or other_at is None:
                continue
            if abs(other_at - at) < gap:
                return (f"{name} is already in the queue {_minutes(abs(other_at - at))} "
                        f"from there; the station keeps {_hours(gap)} between plays of a "
                        "track.")  # fmt: skip
        return None

    # -- listeners' requests ------------------------------------------------------------------

    def add_request(self, track_id: int, listener: str, client: str, name: str) -> Upcoming:
        """Plan a listener's request at the first point it keeps the limits and separation
        (app/scheduler/requests.py); RequestRefused says why it cannot be."""
        with self._lock, self._sessions.begin() as session:
            now = self._now()
            rules = requests.limits(session, self._settings)
            track = requests.requestable(session, rules, track_id)
            self._sweep_requests(session)
            requests.check_counts(session, rules, listener, client, now)
            start = self.on_air_until()
            self._top_up(session, start)
            entries = queue.entries(session)
            starts = self._expected_starts(session, start)
            pending = self._request_entries(session)
            mine = [e for e in entries if e.track_id == track.id]
            last = self._last_aired(session, track)
            why = requests.refusal_for_track(
                track.title,
                last.astimezone(self._zone) if last else None,
                starts[mine[0].id].astimezone(self._zone) if mine else None,
                any(e.id in pending for e in mine),
                now,
                timedelta(hours=self._settings.track_separation_hours),
            )
            if why is not None:
                raise requests.RequestRefused(why)
            tracks = self._tracks(session, [e.track_id for e in entries if e.track_id])
            slots = [
                requests.Slot(starts[e.id], _artists(tracks.get(e.track_id or 0), e.is_jingle),
                              e.id in pending)
                for e in entries
            ]  # fmt: skip
            durations = self._durations(session)
            end = (starts[entries[-1].id] + self._entry_air_time(entries[-1], durations)
                   if entries else start)  # fmt: skip
            artists = requests.artists_of(track.artist)
            memory = self._memory(session).artist_played
            aired = {a: datetime.fromtimestamp(memory[a], UTC) for a in artists
                     if a in memory and memory[a] <= now.timestamp()}  # fmt: skip
            gap = timedelta(minutes=self._settings.artist_separation_minutes)
            position = requests.place(slots, end, artists, aired, gap)
            if position is None:
                raise requests.RequestRefused(
                    f"Another song by {track.artist} is on around then: please ask again in "
                    f"{round(gap.total_seconds() / 60)} minutes."
                )
            entry = QueueEntry(track_id=track.id, reason=queue.REQUEST)
            queue.insert(session, [entry], position)
            session.flush()
            session.add(SongRequest(track_id=track.id, listener=listener, client=client,
                                    name=name, status=requests.PENDING, entry_id=entry.id,
                                    created_at=now))  # fmt: skip
            session.flush()
            at = self._expected_starts(session, start)[entry.id]
            item = self._entry_item(session, entry)
            assert item is not None
            return Upcoming(entry.id, entry.position, item, entry.reason, at, None)

    def requests_of(
        self, listener: str, since: datetime
    ) -> list[tuple[SongRequest, Track, datetime | None]]:
        """A listener's requests since `since`, newest first, each with its expected start
        while it waits."""
        with self._lock, self._sessions.begin() as session:
            self._sweep_requests(session)
            starts = self._expected_starts(session, self.on_air_until())
            rows = session.execute(
                select(SongRequest, Track).join(Track, Track.id == SongRequest.track_id)
                .where(SongRequest.listener == listener, SongRequest.created_at >= since)
                .order_by(SongRequest.id.desc()).limit(20)
            ).all()  # fmt: skip
            return [(r, t, starts.get(r.entry_id or 0) if r.status == requests.PENDING else None)
                    for r, t in rows]  # fmt: skip

    def pending_requests(self) -> list[tuple[SongRequest, Upcoming]]:
        """The requests waiting to air, in queue order, for hosts."""
        with self._lock:
            upcoming = {u.entry_id: u for u in self.upcoming()}
            with self._sessions.begin() as session:
                self._sweep_requests(session)
                rows = session.scalars(select(SongRequest).where(
                    SongRequest.status == requests.PENDING)).all()  # fmt: skip
            found = [(r, upcoming[r.entry_id]) for r in rows if r.entry_id in upcoming]
            return sorted(found, key=lambda pair: pair[1].position)

    def remove_request(self, request_id: int) -> None:
        with self._lock, self._sessions.begin() as session:
            request = session.get(SongRequest, request_id)
            if request is None or request.status != requests.PENDING:
                raise queue.QueueError(f"no waiting request {request_id}")
            request.status = requests.REMOVED
            if request.entry_id is not None and session.get(QueueEntry, request.entry_id):
                queue.remove(session, request.entry_id)
            self._top_up(session, self.on_air_until())

    def move_request(self, request_id: int, position: int) -> None:
        with self._lock, self._sessions.begin() as session:
            request = session.get(SongRequest, request_id)
            if request is None or request.status != requests.PENDING or request.entry_id is None:
                raise queue.QueueError(f"no waiting request {request_id}")
            queue.move(session, request.entry_id, position)

    def _request_entries(self, session: Session) -> set[int]:
        waiting = select(SongRequest.entry_id).where(
            SongRequest.status == requests.PENDING, SongRequest.entry_id.is_not(None)
        )
        return {entry_id for entry_id in session.scalars(waiting) if entry_id is not None}

    def _sweep_requests(self, session: Session) -> None:
        """Requests whose queue entry went without airing (a host cleared the queue, or
        deleted the track) are removed."""
        session.execute(
            update(SongRequest)
            .where(SongRequest.status == requests.PENDING,
                   SongRequest.entry_id.not_in(select(QueueEntry.id)))
            .values(status=requests.REMOVED)
        )  # fmt: skip

    def _expected_starts(self, session: Session, start: datetime) -> dict[int, datetime]:
        """When each queue entry is expected to start (as `upcoming` tells hosts)."""
        at, starts = start, {}
        durations = self._durations(session)
        for entry in queue.entries(session):
            if entry.due_at is not None and entry.due_at > at:
                at = entry.due_at
            starts[entry.id] = at
            at += self._entry_air_time(entry, durations)
        return starts

    def add_playlist(
        self, playlist_id: int, position: int | None, host_id: int | None = None
    ) -> int:
        with self._lock, self._sessions.begin() as session:
            if session.get(Playlist, playlist_id) is None:
                raise queue.QueueError(f"no playlist {playlist_id}")
            new = queue.host_entries_for_playlist(session, playlist_id, host_id)
            if not new:
                raise queue.QueueError(f"playlist {playlist_id} has no playable tracks")
            queue.insert(session, new, position)
            return len(new)

    def add_entries(
        self, make: Callable[[Session], Sequence[QueueEntry]], position: int | None
    ) -> None:
        """Queue the entries `make` builds in the queue's own transaction (a segment's part
        on its own: a story a host puts on air); QueueError from `make` says why not."""
        with self._lock, self._sessions.begin() as session:
            queue.insert(session, list(make(session)), position)

    def add_segment(self, kind: str, position: int | None, host_id: int | None = None) -> None:
        """A segment of that kind (a bulletin of the freshest stories), made up when it airs."""
        segment = self._segments.get(kind)
        if segment is None:
            raise queue.QueueError(f"this station airs no {kind}")
        with self._lock, self._sessions.begin() as session:
            now = self._now()
            entry = QueueEntry(kind=kind, title=segment.placeholder(None, now).title,
                               reason=queue.HOST, added_by=host_id,
                               duration=segment.expected_seconds(session, now))  # fmt: skip
            queue.insert(session, [entry], position)

    def remove(self, entry_id: int) -> None:
        with self._lock, self._sessions.begin() as session:
            queue.remove(session, entry_id)
            self._top_up(session, self.on_air_until())

    def move(self, entry_id: int, position: int) -> None:
        with self._lock, self._sessions.begin() as session:
            queue.move(session, entry_id, position)
            entry = session.get(QueueEntry, entry_id)
            if entry is not None and entry.due_at is None and entry.reason != queue.REQUEST:
                entry.reason = queue.HOST  # a host placed it: it stays where they put it

    def clear(self) -> int:
        with self._lock, self._sessions.begin() as session:
            removed = queue.clear(session)
            self._top_up(session, self.on_air_until())
            return removed

    # -- inside -------------------------------------------------------------------------------

    def _top_up(self, session: Session, start: datetime) -> None:
        """Plan until the queue holds queue_length entries."""
        self._notice_programme_changes(session)
        missing = self._settings.queue_length - queue.length(session)
        if missing <= 0:
            return
        scheduler = self._scheduler_for(session)
        state = self._memory(session)
        # What hosts and listeners queued counts for separation from when it should air.
        starts = self._expected_starts(session, start)
        for entry in queue.entries(session):
            if entry.reason in queue.PINNED and entry.track_id is not None:
                scheduler.reserve(starts[entry.id], entry.track_id, state)
        at = max(start, self._planned_until(session, start))
        new: list[tuple[QueueEntry, _Plan]] = []
        durations = self._durations(session)
        for _ in range(missing):
            before = state.to_json()
            pick = scheduler.next(at, state)
            if pick is None:
                break
            entry = self._entry(session, pick, at)
            new.append((entry, _Plan(at, before)))
            at += self._entry_air_time(entry, durations)
        if new:
            queue.insert(session, [entry for entry, _ in new])
            session.flush()
            self._plans.update({entry.id: plan for entry, plan in new})
            self._save(session)

    def _replan(self, session: Session, fired: int | None = None) -> None:
        """Forget the planned entries and the scheduler's memory of planning them. `fired`:
        a clock entry taken ahead of entries planned before it; the rules' memory keeps it
        (else it would be planned, and taken, again and again while it is due)."""
        planned = [e for e in queue.entries(session) if e.reason != queue.HOST]
        first = next((self._plans[e.id] for e in planned if e.id in self._plans), None)
        if first is not None:
            state = SchedulerState.from_json(first.state_before)
            # Plays since that plan (hosts' and listeners' items, taken after it was made)
            # still count for separation; the picks being dropped (not yet aired) do not.
            now = self._now().timestamp()
            current = self._memory(session)
            for track_id, ts in current.track_played.items():
                if ts <= now and ts > state.track_played.get(track_id, -math.inf):
                    state.track_played[track_id] = ts
            for artist, ts in current.artist_played.items():
                if ts <= now and ts > state.artist_played.get(artist, -math.inf):
                    state.artist_played[artist] = ts
            if fired is not None:  # the rules' memory just after planning it
                after = next((self._plans[i].state_before for i in sorted(self._plans)
                              if i > fired), None)  # fmt: skip
                rules = after["rules"] if after else self._memory(session).rules
                state.rules = copy.deepcopy(rules)
            self._state = state
        self._plans.clear()
        queue.clear_planned(session)

    def _notice_programme_changes(self, session: Session) -> None:
        """Playlists edited anywhere (API, CLI, a sync): plan with them from now on."""
        fingerprint = programme_fingerprint(session)
        if fingerprint != self._fingerprint:
            if self._fingerprint is not None:
                self._scheduler = None
                self._replan(session)
            self._fingerprint = fingerprint

    def _planned_until(self, session: Session, start: datetime) -> datetime:
        at = start
        durations = self._durations(session)
        for entry in queue.entries(session):
            if entry.due_at is not None and entry.due_at > at:
                at = entry.due_at
            at += self._entry_air_time(entry, durations)
        return at

    def _entry_air_time(self, entry: QueueEntry, durations: dict[int, float]) -> timedelta:
        seconds = durations.get(entry.track_id, 0.0) if entry.track_id else (entry.duration or 0)
        return timedelta(seconds=max(seconds - self._settings.crossfade_seconds, 1.0))

    def _entry(self, session: Session, pick: Pick, at: datetime) -> QueueEntry:
        due = self._clock_due(pick, at) if pick.reason == "clock" else None
        segment = self._segments.get(pick.kind)
        if segment is not None:
            return QueueEntry(kind=pick.kind, title=segment.placeholder(None, due or at).title,
                              reason=pick.reason, due_at=due,
                              duration=segment.expected_seconds(session, at))  # fmt: skip
        return QueueEntry(track_id=pick.track_id, playlist_id=pick.playlist_id,
                          reason=pick.reason, is_jingle=pick.is_jingle, due_at=due)  # fmt: skip

    def _entry_item(self, session: Session, entry: QueueEntry) -> Item | None:
        """What the playout plays for a queue entry (None: its track is gone)."""
        segment = self._segments.get(entry.kind)
        if segment is not None:
            return segment.placeholder(entry.duration, entry.due_at)
        if entry.track_id is None:
            maker = self._part_of.get(entry.kind)
            return maker.item(session, entry) if maker is not None else None
        track = session.get(Track, entry.track_id)
        if track is None:
            return None
        item = self._item(track, entry.is_jingle)
        if entry.reason == queue.REQUEST:
            name = session.scalar(select(SongRequest.name).where(SongRequest.entry_id == entry.id))
            item = replace(item, requested_by=name or "a listener")
        return item

    def _clock_due(self, pick: Pick, at: datetime) -> datetime:
        """The time of the hour the clock item belongs to, at or before `at`."""
        segment = self._segments.get(pick.kind)
        if segment is not None:
            return segment.due_at(at)
        return last_at_minute(at, self._playlist_minutes.get(pick.playlist_id or -1, 0), self._zone)

    def _scheduler_for(self, session: Session) -> Scheduler:
        if self._scheduler is None:
            rules = [rule for segment in self._segments.values() for rule in segment.rules()]
            self._scheduler = load_scheduler(self._sessions, self._settings, extra_rules=rules)
            self._playlist_minutes = {
                p.id: p.minute for p in session.scalars(select(Playlist)) if p.minute is not None
            }
            rows = session.execute(select(Track.id, Track.duration, Track.cue_in, Track.cue_out)
                                   .where(Track.status == TrackStatus.ready))  # fmt: skip
            self._durations_by_track = {
                i: (out if out is not None else (d or 0.0)) - cue for i, d, cue, out in rows
            }
        return self._scheduler

    def _durations(self, session: Session) -> dict[int, float]:
        self._scheduler_for(session)
        return self._durations_by_track

    def _memory(self, session: Session) -> SchedulerState:
        if self._state is None:
            row = session.get(SchedulerMemory, MEMORY_ID)
            self._state = (
                SchedulerState.from_json(row.state) if row and row.state else SchedulerState()
            )
        return self._state

    def _save(self, session: Session) -> None:
        assert self._state is not None
        row = session.get(SchedulerMemory, MEMORY_ID)
        if row is None:
            session.add(SchedulerMemory(id=MEMORY_ID, state=self._state.to_json()))
        else:
            row.state = self._state.to_json()

    def _tracks(self, session: Session, ids: list[int]) -> dict[int, Track]:
        if not ids:
            return {}
        return {t.id: t for t in session.scalars(select(Track).where(Track.id.in_(set(ids))))}

    def _air_time(self, item: Item) -> timedelta:
        return timedelta(
            seconds=max((item.duration or 0.0) - self._settings.crossfade_seconds, 1.0)
        )

    def _item(self, track: Track, is_jingle: bool) -> Item:
        cue_out = track.cue_out if track.cue_out is not None else track.duration
        loudness = track.loudness_lufs
        target = self._settings.loudness_target_lufs
        return Item(
            kind=ItemKind.jingle if is_jingle or track.kind.value == "jingle" else ItemKind.music,
            title=track.title,
            artist=track.artist,
            album=track.album,
            duration=(cue_out - track.cue_in) if cue_out is not None else None,
            track_id=track.id,
            path=self._settings.media_dir / track.path,
            gain_db=gain_db(loudness, target) if loudness is not None else 0.0,
            cue_in=track.cue_in,
            cue_out=cue_out,
        )


def programme_fingerprint(session: Session) -> tuple[object, ...]:
    """Changes whenever a playlist, its rules or its entries change."""
    playlists = session.execute(
        select(func.count(Playlist.id), func.max(Playlist.updated_at))
    ).one()
    entries = session.execute(
        select(func.count(PlaylistEntry.id), func.max(PlaylistEntry.id),
               func.sum(PlaylistEntry.track_id * (PlaylistEntry.position + 1)))
    ).one()  # fmt: skip
    return (*playlists, *entries)


def _artists(track: Track | None, is_jingle: bool) -> frozenset[str]:
    if track is None or is_jingle or track.kind.value == "jingle":
        return frozenset()
    return requests.artists_of(track.artist)


def _minutes(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g} h"
