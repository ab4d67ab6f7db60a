"""Listeners' song requests: the limits a request must keep, and where in the queue it goes.

`place` is pure: given the queue with each entry's expected start and the artists it holds,
it answers the first position where the requested track keeps the artist separation with
everything around it and comes after the requests already waiting (first come, first
served). The track separation is checked before (`refusal_for_track`): a track that aired
within the window, or is in the queue already, is refused with the time it may be asked for
again. The limits per listener and per client address count the requests of the last hour
in the database, so a restart forgets none. Every refusal is a sentence for the listener.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import PlaylistEntry, RequestRules, SongRequest, Track, TrackKind, TrackStatus
from app.scheduler.separation import split_artists

PENDING, AIRED, REMOVED = "pending", "aired", "removed"
HOUR = timedelta(hours=1)
RULES_ID = 1


class RequestRefused(Exception):
    """A request that cannot be taken; the message says why, for the listener."""

    def __init__(self, message: str, status: int = 409, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    enabled: bool
    playlist_ids: tuple[int, ...]  # empty: any music track
    per_listener_hour: int
    per_address_hour: int
    max_pending: int


@dataclass(frozen=True)
class Slot:
    """One queue entry as placement sees it."""

    start: datetime
    artists: frozenset[str]
    is_request: bool


def limits(session: Session, settings: Settings) -> Limits:
    row = session.get(RequestRules, RULES_ID)
    if row is None:
        row = RequestRules(enabled=settings.requests_enabled, playlist_ids=[])
    return Limits(
        enabled=bool(row.enabled),
        playlist_ids=tuple(int(i) for i in (row.playlist_ids or [])),
        per_listener_hour=_or(row.per_listener_hour, settings.request_per_listener_hour),
        per_address_hour=_or(row.per_address_hour, settings.request_per_address_hour),
        max_pending=_or(row.max_pending, settings.request_max_pending),
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def requestable(session: Session, rules: Limits, track_id: int) -> Track:
    """The track, if listeners may request it; else RequestRefused saying why."""
    if not rules.enabled:
        raise RequestRefused("Requests are closed at the moment.", status=403)
    track = session.get(Track, track_id)
    if track is None or track.status is not TrackStatus.ready or track.kind is not TrackKind.music:
        raise RequestRefused("That song is not in the library.", status=404)
    if rules.playlist_ids:
        allowed = session.scalar(
            select(func.count()).select_from(PlaylistEntry).where(
                PlaylistEntry.track_id == track_id,
                PlaylistEntry.playlist_id.in_(rules.playlist_ids),
            )
        )  # fmt: skip
        if not allowed:
            raise RequestRefused("Only songs from the station's request playlists can be "
                                 "requested just now.", status=403)  # fmt: skip
    return track


def check_counts(session: Session, rules: Limits, listener: str, client: str,
                 now: datetime) -> None:  # fmt: skip
    """The per-hour limits and the maximum of waiting requests."""
    since = now - HOUR
    for column, key, limit, who in (
        (SongRequest.listener, listener, rules.per_listener_hour, "you"),
        (SongRequest.client, client, rules.per_address_hour, "your network"),
    ):
        times = list(session.scalars(
            select(SongRequest.created_at).where(column == key, SongRequest.created_at > since)
            .order_by(SongRequest.created_at)
        ))  # fmt: skip
        if len(times) >= limit:
            wait = (times[-limit] + HOUR - now) if limit else HOUR
            minutes = max(1, round(wait.total_seconds() / 60))
            what = "request" if limit == 1 else "requests"
            raise RequestRefused(
                f"That's {limit} {what} an hour from {who}: you can request again in "
                f"{_minutes(minutes)}."
                if limit
                else "Requests are closed at the moment.",
                status=429,
                retry_after=max(wait.total_seconds(), 1.0),
            )
    pending = session.scalar(
        select(func.count()).select_from(SongRequest).where(SongRequest.status == PENDING)
    )
    if (pending or 0) >= rules.max_pending:
        raise RequestRefused(f"{pending} requests are already waiting to play: try again "
                             "once one of them has aired.", status=429,
                             retry_after=60.0)  # fmt: skip


def refusal_for_track(
    title: str,
    last_aired: datetime | None,
    queued_at: datetime | None,
    requested: bool,
    now: datetime,
    track_gap: timedelta,
) -> str | None:
    """Why the track cannot be requested now (track separation), or None."""
    if requested and queued_at is not None:
        return f"“{title}” has been requested already: it plays at about {_clock(queued_at)}."
    if queued_at is not None:
        return f"“{title}” is coming up anyway, at about {_clock(queued_at)}."
    if last_aired is not None and now - last_aired < track_gap:
        return (f"“{title}” played at {_clock(last_aired)}; it can be requested again from "
                f"{_clock(last_aired + track_gap)}.")  # fmt: skip
    return None


def place(slots: Sequence[Slot], end: datetime, artists: frozenset[str],
          aired: dict[str, datetime], artist_gap: timedelta) -> int | None:  # fmt: skip
    """The first queue position (0: next) where a track by `artists` keeps the artist
    separation with what aired (`aired`: each artist's latest play) and with every queue
    entry (those after it start later by the track's length, which only widens the gap), and
    comes after every waiting request. `end`: when the last entry ends. None: nowhere."""
    first = max((i + 1 for i, slot in enumerate(slots) if slot.is_request), default=0)
    for position in range(first, len(slots) + 1):
        start = slots[position].start if position < len(slots) else end
        if _keeps(start, artists, slots, aired, artist_gap):
            return position
    return None


def _keeps(start: datetime, artists: frozenset[str], slots: Sequence[Slot],
           aired: dict[str, datetime], gap: timedelta) -> bool:  # fmt: skip
    for artist in artists:
        last = aired.get(artist)
        if last is not None and abs(start - last) < gap:
            return False
    return not any(slot.artists & artists and abs(slot.start - start) < gap for slot in slots)


def artists_of(artist: str) -> frozenset[str]:
    return split_artists(artist)


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M")


def _minutes(count: int) -> str:
    return "1 minute" if count == 1 else f"{count} minutes"
