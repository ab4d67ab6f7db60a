"""The queue of upcoming items, kept in the database so it survives restarts.

Positions are 0..n-1 in play order; every change renumbers, which is cheap for a queue of
tens of entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.models import PlaylistEntry, QueueEntry, Track, TrackStatus

HOST = "host"
REQUEST = "request"  # a listener's request (app/scheduler/requests.py)
PINNED = (HOST, REQUEST)  # placed by people: planning anew leaves them where they are
# A clock item whose minute passed while the station was off the air (or that missed its
# turn) still airs this late; later, it is dropped rather than airing out of its hour. One
# whose minute passed during the item on air always airs next, however long that item was.
CLOCK_GRACE = timedelta(minutes=20)


class QueueError(ValueError):
    """A queue change that cannot be made; the message says why."""


def entries(session: Session) -> list[QueueEntry]:
    return list(session.scalars(select(QueueEntry).order_by(QueueEntry.position, QueueEntry.id)))


def length(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(QueueEntry)) or 0


def insert(session: Session, new: Sequence[QueueEntry], position: int | None = None) -> None:
    """Put entries at `position` (0 = play next; None = at the end)."""
    current = entries(session)
    at = len(current) if position is None else max(0, min(position, len(current)))
    for entry in new:
        session.add(entry)
    _renumber(current[:at] + list(new) + current[at:])


def playable_track(session: Session, track_id: int) -> Track:
    track = session.get(Track, track_id)
    if track is None:
        raise QueueError(f"no track {track_id}")
    if track.status != TrackStatus.ready:
        raise QueueError(f"track {track_id} cannot go on air: {track.error or track.status.value}")
    return track


def host_entries_for_playlist(
    session: Session, playlist_id: int, host_id: int | None
) -> list[QueueEntry]:
    rows = session.execute(
        select(PlaylistEntry.track_id)
        .join(Track, Track.id == PlaylistEntry.track_id)
        .where(PlaylistEntry.playlist_id == playlist_id, Track.status == TrackStatus.ready)
        .order_by(PlaylistEntry.position)
    ).scalars()
    return [
        QueueEntry(track_id=t, playlist_id=playlist_id, reason=HOST, added_by=host_id) for t in rows
    ]


def remove(session: Session, entry_id: int) -> None:
    entry = session.get(QueueEntry, entry_id)
    if entry is None:
        raise QueueError(f"no queue entry {entry_id}")
    session.delete(entry)
    session.flush()
    _renumber(entries(session))


def move(session: Session, entry_id: int, position: int) -> None:
    """Move an entry; a host's move pins it, so the scheduler will not re-plan it."""
    current = entries(session)
    entry = next((e for e in current if e.id == entry_id), None)
    if entry is None:
        raise QueueError(f"no queue entry {entry_id}")
    current.remove(entry)
    current.insert(max(0, min(position, len(current))), entry)
    _renumber(current)


def clear(session: Session) -> int:
    return session.execute(delete(QueueEntry)).rowcount or 0  # type: ignore[attr-defined]


def clear_planned(session: Session) -> None:
    """Drop what the scheduler planned (not what hosts put there), to plan it anew."""
    session.execute(delete(QueueEntry).where(QueueEntry.reason.not_in(PINNED)))
    session.flush()
    _renumber(entries(session))


def take(session: Session, now: datetime, previous_take: datetime | None) -> QueueEntry | None:
    """Remove and return the entry that should start now.

    A clock entry that is due jumps ahead; one whose time has not come is passed over until
    it has; one that could have aired before the item now ending but did not (the station
    was off the air) is dropped once its grace has passed.
    """
    stale = [
        e
        for e in entries(session)
        if e.due_at is not None
        and e.due_at < now - CLOCK_GRACE
        and (previous_take is None or e.due_at < previous_take)
    ]
    for entry in stale:
        session.delete(entry)
    session.flush()
    current = entries(session)
    due = next((e for e in current if e.due_at is not None and e.due_at <= now), None)
    chosen = due or next((e for e in current if e.due_at is None), None)
    if chosen is None:
        return None
    session.delete(chosen)
    session.flush()
    _renumber([e for e in current if e is not chosen])
    return chosen


def _renumber(ordered: Sequence[QueueEntry]) -> None:
    for position, entry in enumerate(ordered):
        entry.position = position
