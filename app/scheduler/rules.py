"""The rules the scheduler evaluates at each pick, and the protocol for adding new kinds.

A rule says whether it is *due* at a moment (pure: it only reads the state) and, when the
scheduler asks it, *fires*: returns a Pick and notes what it must remember in the state.
Playlists are one source of rules (see `playlist_rules`); segments are another (news
bulletins: `TriggeredRule("news-hourly", Precedence.CLOCK, Hourly(0, 10), <a source that
picks a bulletin>)`, in app/news/bulletins.py).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.models import PlaylistRule
from app.scheduler.dayparts import Daypart, in_dayparts
from app.scheduler.orders import Deal, Deck
from app.scheduler.separation import split_artists
from app.scheduler.state import SchedulerState
from app.scheduler.types import Pick, PlaylistInfo, Rules, TrackInfo

# How late after its minute an hourly item may still start: the default of
# PlaylistInfo.window_minutes (10) is longer than nearly every song, so the item after a song
# that runs over the minute still starts inside it. An item longer than the window that runs
# over the minute does not make the hourly item miss its hour either (see Hourly).
OVERRUN_GAP_SECONDS = 60.0  # "continuous programme": the next item starts this soon after


class Precedence(enum.IntEnum):
    """Lower goes first when several rules are due at the same pick."""

    CLOCK = 0  # at a time of the hour: station IDs, news
    INTERVAL = 1  # every N songs or minutes: jingles
    ROTATION = 2  # everything else

    @property
    def reason(self) -> str:
        return {0: "clock", 1: "interval", 2: "rotation"}[self.value]


@dataclass(frozen=True)
class Moment:
    """One instant, in the forms the rules need."""

    ts: float  # POSIX seconds
    local: datetime  # wall clock in the station's zone


class Context:
    """What a firing rule can use: the library, separation, the state and this pick's rng."""

    def __init__(
        self,
        now: Moment,
        state: SchedulerState,
        rng: random.Random,
        rules: Rules,
        tracks: Mapping[int, TrackInfo],
    ) -> None:
        self.now = now
        self.state = state
        self.rng = rng
        self.tracks = tracks
        self._track_gap = rules.track_separation.total_seconds()
        self._artist_gap = rules.artist_separation.total_seconds()

    def artists(self, track_id: int) -> frozenset[str]:
        track = self.tracks.get(track_id)
        return split_artists(track.artist) if track is not None else frozenset()

    def qualifies(self, track_id: int) -> bool:
        """Keeps the track and artist separation at this moment."""
        now, played = self.now.ts, self.state.track_played.get(track_id)
        if played is not None and now - played < self._track_gap:
            return False
        artist_played = self.state.artist_played
        for artist in self.artists(track_id):
            last = artist_played.get(artist)
            if last is not None and now - last < self._artist_gap:
                return False
        return True

    def last_played(self, track_id: int) -> float:
        """The latest play of the track or any of its artists; -inf if never."""
        latest = self.state.track_played.get(track_id, -math.inf)
        for artist in self.artists(track_id):
            latest = max(latest, self.state.artist_played.get(artist, -math.inf))
        return latest

    def deal(self, playlist: PlaylistInfo, deck: Deck, separate: bool, strict: bool = False
             ) -> Deal | None:  # fmt: skip
        memory = self.state.playlists.setdefault(playlist.id, {})
        qualifies = self.qualifies if separate else None
        return deck.deal(memory, self.rng, qualifies, self.last_played, strict)


def pick_from(playlist: PlaylistInfo, deal: Deal, reason: str) -> Pick:
    return Pick(
        track_id=deal.track_id,
        playlist_id=playlist.id if playlist.id > 0 else None,
        reason=reason if deal.qualified else "fallback",
        is_jingle=playlist.is_jingle,
    )


class Rule(Protocol):
    key: str  # names the rule's memory in SchedulerState.rules; stable across restarts
    precedence: Precedence

    def due(self, now: Moment, state: SchedulerState) -> bool: ...

    def fire(self, now: Moment, context: Context) -> Pick | None: ...


# --- triggers: when a rule is due --------------------------------------------------------


class Trigger(Protocol):
    def due(self, now: Moment, memory: Mapping[str, Any], state: SchedulerState) -> bool: ...

    def fired(self, now: Moment, memory: dict[str, Any], state: SchedulerState) -> None: ...


@dataclass(frozen=True)
class Hourly:
    """At minute `minute` of every hour: the first pick at or after it fires, as long as it
    is at most `window_minutes` late, or follows without a gap the item that ran over the
    minute (so an overrun never skips the hour). Once per hour of real time, so also once in
    each of the two 02:00 hours when the clocks go back."""

    minute: int
    window_minutes: int = 10

    def slot(self, now: Moment) -> float:
        """The latest hh:minute at or before now, as POSIX seconds."""
        slot = now.local.replace(minute=self.minute, second=0, microsecond=0).timestamp()
        if slot > now.ts:
            earlier = datetime.fromtimestamp(now.ts - 3600, now.local.tzinfo)
            slot = earlier.replace(minute=self.minute, second=0, microsecond=0).timestamp()
        return slot

    def due(self, now: Moment, memory: Mapping[str, Any], state: SchedulerState) -> bool:
        slot = self.slot(now)
        if memory.get("slot", -math.inf) >= slot:
            return False
        if now.ts - slot <= self.window_minutes * 60:
            return True
        overran = (
            state.last_start is not None
            and state.last_end is not None
            and state.last_start < slot
            and now.ts - state.last_end <= OVERRUN_GAP_SECONDS
        )
        return overran

    def fired(self, now: Moment, memory: dict[str, Any], state: SchedulerState) -> None:
        memory["slot"] = self.slot(now)


@dataclass(frozen=True)
class EverySongs:
    """After every `every` songs (non-jingle songs from rotation or hosts)."""

    every: int

    def due(self, now: Moment, memory: Mapping[str, Any], state: SchedulerState) -> bool:
        return state.songs - int(memory.get("songs", 0)) >= self.every

    def fired(self, now: Moment, memory: dict[str, Any], state: SchedulerState) -> None:
        memory["songs"] = state.songs


@dataclass(frozen=True)
class EveryMinutes:
    """Once `every` minutes have passed since the last (or since the scheduler started)."""

    every: int

    def due(self, now: Moment, memory: Mapping[str, Any], state: SchedulerState) -> bool:
        since = memory.get("at", state.started if state.started is not None else now.ts)
        return now.ts - float(since) >= self.every * 60

    def fired(self, now: Moment, memory: dict[str, Any], state: SchedulerState) -> None:
        memory["at"] = now.ts


# --- rules -------------------------------------------------------------------------------


Source = Callable[[Context, str], Pick | None]


@dataclass(frozen=True)
class TriggeredRule:
    """Fires when its trigger is due (inside its dayparts); the source says what plays."""

    key: str
    precedence: Precedence
    trigger: Trigger
    source: Source
    dayparts: tuple[Daypart, ...] = ()

    def due(self, now: Moment, state: SchedulerState) -> bool:
        return in_dayparts(self.dayparts, now.local) and self.trigger.due(
            now, state.rules.get(self.key, {}), state
        )

    def fire(self, now: Moment, context: Context) -> Pick | None:
        pick = self.source(context, self.precedence.reason)
        if pick is not None:
            self.trigger.fired(now, context.state.rules.setdefault(self.key, {}), context.state)
        return pick


@dataclass(frozen=True)
class PlaylistSource:
    """Clock and interval items play the playlist in its order. Clock items (a time of the
    hour a host chose, like a top-of-the-hour ID) and jingle playlists ignore separation (a
    station ID has to repeat); an interval playlist of songs deals only a track that keeps
    it, and when none does, does not fire: the rule stays due and fires at the first pick
    where one does, and rotation fills the time meanwhile."""

    playlist: PlaylistInfo
    deck: Deck

    def __call__(self, context: Context, reason: str) -> Pick | None:
        separate = reason != Precedence.CLOCK.reason and not self.playlist.is_jingle
        deal = context.deal(self.playlist, self.deck, separate=separate, strict=separate)
        return pick_from(self.playlist, deal, reason) if deal is not None else None


@dataclass(frozen=True)
class Rotation:
    """General rotation: a weighted choice among the rotation playlists in their dayparts,
    then a track of that playlist that keeps separation. If the chosen playlist has none in
    its sample, the others are tried (in weighted order), then every track of the eligible
    playlists, then of all rotation playlists, whatever their dayparts ("fallback"): an
    automatic pick keeps separation whenever any rotation track can. Only when none can
    does the least recently played track (then by its artists' last plays) play
    ("fallback"), so the station never falls silent and never repeats what just played
    while anything else could. Outside every daypart, all rotation playlists are eligible
    ("fallback")."""

    playlists: tuple[tuple[PlaylistInfo, Deck], ...]
    key: str = "rotation"
    precedence: Precedence = Precedence.ROTATION

    def due(self, now: Moment, state: SchedulerState) -> bool:
        return bool(self.playlists)

    def fire(self, now: Moment, context: Context) -> Pick | None:
        eligible = [p for p in self.playlists if in_dayparts(p[0].dayparts, now.local)]
        reason = "rotation" if eligible else "fallback"
        order = _weighted_order(eligible or list(self.playlists), context.rng)
        for playlist, deck in order:
            deal = context.deal(playlist, deck, separate=True, strict=True)
            if deal is not None:
                return pick_from(playlist, deal, reason)
        if not order:
            return None
        # Each deal above looked at a sample of its playlist: look at all of them before
        # breaking separation (rare, and bounded by the rotation playlists' size).
        for group, why in ((order, reason), (list(self.playlists), "fallback")):
            qualifying = [(p, t) for p, deck in group for t in deck.ids if context.qualifies(t)]
            if qualifying:
                playlist, track_id = qualifying[context.rng.randrange(len(qualifying))]
                return pick_from(playlist, Deal(track_id, True), why)
        # Nothing in rotation keeps separation: the least recently played track plays (of
        # those, the one whose artists were heard least recently), so the station never falls
        # silent, never repeats what just played while anything else can play, and plays
        # every track once before one comes back (artist first would bring a lone other
        # artist's song back every other item).
        played = context.state.track_played
        playlist, track_id = min(
            ((p, t) for p, deck in order for t in deck.ids),
            key=lambda pair: (played.get(pair[1], -math.inf), context.last_played(pair[1])),
        )
        return pick_from(playlist, Deal(track_id, False), "fallback")


def _weighted_order(
    playlists: Sequence[tuple[PlaylistInfo, Deck]], rng: random.Random
) -> list[tuple[PlaylistInfo, Deck]]:
    """A weighted shuffle: the first by weight among all, the second among the rest, …
    Weight 0 never plays while a weighted playlist can; if none can, all play equally."""
    rest = [p for p in playlists if p[0].weight > 0]
    if not rest:
        return list(playlists)
    order: list[tuple[PlaylistInfo, Deck]] = []
    while rest:
        index = rng.choices(range(len(rest)), weights=[p[0].weight for p in rest])[0]
        order.append(rest.pop(index))
    return order


def playlist_rules(
    playlists: Sequence[PlaylistInfo], tracks: Mapping[int, TrackInfo]
) -> list[TriggeredRule | Rotation]:
    """The rules the playlists make. Playlists without playable tracks make none."""
    rules: list[TriggeredRule | Rotation] = []
    rotation: list[tuple[PlaylistInfo, Deck]] = []
    for playlist in playlists:
        ids = tuple(i for i in playlist.track_ids if i in tracks)
        if not ids:
            continue
        deck = Deck(playlist.order, ids, frozenset(ids))
        if playlist.rule is PlaylistRule.rotation:
            rotation.append((playlist, deck))
            continue
        trigger = _trigger(playlist)
        if trigger is None:
            continue
        precedence = (
            Precedence.CLOCK if playlist.rule is PlaylistRule.hourly else Precedence.INTERVAL
        )
        rules.append(
            TriggeredRule(
                key=f"playlist:{playlist.id}:{playlist.rule.value}",
                precedence=precedence,
                trigger=trigger,
                source=PlaylistSource(playlist, deck),
                dayparts=playlist.dayparts,
            )
        )
    rules.append(Rotation(tuple(rotation)))
    return rules


def _trigger(playlist: PlaylistInfo) -> Trigger | None:
    if playlist.rule is PlaylistRule.hourly:
        minute = playlist.minute if playlist.minute is not None else 0
        return Hourly(minute % 60, max(playlist.window_minutes, 0))
    if not playlist.every or playlist.every <= 0:
        return None  # "every 0" means never
    if playlist.rule is PlaylistRule.every_songs:
        return EverySongs(playlist.every)
    return EveryMinutes(playlist.every)


__all__ = [
    "Context",
    "EveryMinutes",
    "EverySongs",
    "Hourly",
    "Moment",
    "Precedence",
    "Rotation",
    "Rule",
    "Trigger",
    "TriggeredRule",
    "playlist_rules",
]
