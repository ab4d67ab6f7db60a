"""The scheduler engine: what plays next, decided by pure rules on an injected clock.

Nothing here reads the wall clock or the database: `Scheduler.next(at, state)` answers
for the moment `at` from the library and playlists it was built with and the `state` it is
given (which it updates), so a week of programme can be simulated in a test, and a restart
that reloads the saved state continues exactly where it stopped. Randomness comes from a
`random.Random` seeded with the scheduler's seed and the state's pick counter.

Precedence. At each pick the first due rule in this order decides:

1. **clock** items: an hourly playlist at minute M of every hour. It fires at the first
   pick at or after hh:M that is at most `window_minutes` (default 10) late, or that
   follows without a gap an item that ran over the minute, whatever its length; never twice
   for the same hour. Several due clock items play one after the other.
2. **interval** items: "every N songs" (counting only non-jingle songs from rotation and
   hosts, see `record`) and "every N minutes" (since the last item of that playlist, or
   since the scheduler started). An interval item that is due while a clock item plays
   simply plays next: neither crowds the other out.
3. **rotation**: a weighted choice among the rotation playlists inside their dayparts, then
   a track in the playlist's order (shuffle, random, sequential) that keeps the track and
   artist separation; when nothing qualifies, the least recently played candidate
   ("fallback"). Outside every rotation daypart, all rotation playlists are eligible
   ("fallback").

Dayparts limit every kind of playlist; they compare local wall-clock times in the rules'
time zone. Clock items and jingle playlists' interval items ignore separation (a station ID
has to repeat) but their plays count for it; interval items of songs keep it, and wait (the
rule stays due) while none of their tracks can. Hosts' and listeners' items that are queued but
not yet on air count for separation from when they are expected to start (`reserve`), so no
automatic pick repeats them. Jingle playlists' picks carry `is_jingle`: they neither count as songs
nor change the now-playing title.

New kinds of items (news bulletins) are rules: anything with a `key`, a `precedence`,
`due(now, state)` and `fire(now, context)` (see app/scheduler/rules.py), passed as
`extra_rules`; the planner takes them from its segments (app/scheduler/segments.py).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from app.scheduler.dayparts import Daypart
from app.scheduler.rules import Context, Moment, Precedence, Rule, playlist_rules
from app.scheduler.separation import split_artists
from app.scheduler.state import SchedulerState
from app.scheduler.types import Pick, PlaylistInfo, Rules, TrackInfo

MIN_STEP_SECONDS = 1.0  # a simulation always moves on, even past items of no length


class Scheduler:
    def __init__(
        self,
        tracks: Mapping[int, TrackInfo],
        playlists: Sequence[PlaylistInfo],
        rules: Rules,
        seed: int = 0,
        extra_rules: Sequence[Rule] = (),
    ) -> None:
        self.tracks = tracks
        self.playlists = tuple(playlists)
        self.rules = rules
        self.seed = seed
        # sorted() is stable: rules of equal precedence keep the playlists' order.
        self._rules: list[Rule] = sorted(
            [*playlist_rules(self.playlists, tracks), *extra_rules],
            key=lambda rule: rule.precedence,
        )

    def next(self, at: datetime, state: SchedulerState) -> Pick | None:
        """The item to start at `at` (aware); recorded in `state` as played at `at`."""
        now = self._moment(at)
        if state.started is None:
            state.started = now.ts
        context = Context(now, state, self._rng(state), self.rules, self.tracks)
        for rule in self._opening_rules() if state.last_start is None else self._rules:
            if rule.due(now, state):
                pick = rule.fire(now, context)
                if pick is not None:
                    state.picks += 1
                    self._played(now, pick.track_id, state, counts=_counts_as_song(pick))
                    return pick
        return None

    def _opening_rules(self) -> list[Rule]:
        """A station opens with music: a clock item due before anything has aired (a bulletin
        at the top of the hour) follows the first song instead, unless nothing else can play."""
        return sorted(self._rules, key=lambda rule: rule.precedence is Precedence.CLOCK)

    def record(self, at: datetime, track_id: int, state: SchedulerState) -> None:
        """A play the scheduler did not choose (a host's item): separation and the song
        count see it."""
        now = self._moment(at)
        if state.started is None:
            state.started = now.ts
        track = self.tracks.get(track_id)
        self._played(now, track_id, state, counts=track is None or not track.is_jingle)

    def reserve(self, at: datetime, track_id: int, state: SchedulerState) -> None:
        """A track queued by a host or a listener, expected to start at `at`: separation
        counts it from then (automatic picks keep away from it), nothing else changes."""
        ts = self._moment(at).ts
        state.track_played[track_id] = max(state.track_played.get(track_id, ts), ts)
        track = self.tracks.get(track_id)
        if track is not None and not track.is_jingle:
            for artist in split_artists(track.artist):
                state.artist_played[artist] = max(state.artist_played.get(artist, ts), ts)

    def due_clock(self, at: datetime, state: SchedulerState) -> bool:
        """Is a clock item due at `at`? The live queue puts it first when it is."""
        now = self._moment(at)
        return any(
            rule.due(now, state) for rule in self._rules if rule.precedence is Precedence.CLOCK
        )

    def simulate(
        self, start: datetime, until: datetime, state: SchedulerState, crossfade: float = 0.0,
        limit: int | None = None,
    ) -> list[tuple[datetime, Pick]]:  # fmt: skip
        """Picks from `start` until `until` (UTC start times), each item followed by the next
        after its duration less the crossfade; at most `limit` of them. Updates `state` like
        the live station would."""
        plan: list[tuple[datetime, Pick]] = []
        at, end = start.astimezone(UTC), until.astimezone(UTC)
        while at < end and (limit is None or len(plan) < limit):
            pick = self.next(at, state)
            if pick is None:
                break
            plan.append((at, pick))
            at += timedelta(seconds=max(self.duration(pick) - crossfade, MIN_STEP_SECONDS))
        return plan

    def duration(self, pick: Pick) -> float:
        track = self.tracks.get(pick.track_id)
        return track.duration if track is not None else 0.0

    def _moment(self, at: datetime) -> Moment:
        if at.tzinfo is None:
            raise ValueError("the scheduler needs an aware datetime")
        return Moment(ts=at.timestamp(), local=at.astimezone(self.rules.timezone))

    def _rng(self, state: SchedulerState) -> random.Random:
        return random.Random(self.seed * 1_000_003 + state.picks)

    def _played(self, now: Moment, track_id: int, state: SchedulerState, counts: bool) -> None:
        state.track_played[track_id] = now.ts
        track = self.tracks.get(track_id)
        if track is not None and not track.is_jingle:
            for artist in split_artists(track.artist):
                state.artist_played[artist] = now.ts
        if counts:
            state.songs += 1
        state.last_start = now.ts
        state.last_end = now.ts + (track.duration if track is not None else 0.0)


def _counts_as_song(pick: Pick) -> bool:
    return pick.reason in ("rotation", "fallback") and not pick.is_jingle


__all__ = [
    "Daypart",
    "Pick",
    "PlaylistInfo",
    "Precedence",
    "Rule",
    "Rules",
    "Scheduler",
    "SchedulerState",
    "TrackInfo",
]
