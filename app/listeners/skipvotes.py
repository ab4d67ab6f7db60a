"""Listeners' skip votes for the item on air.

Radio is shared, so a listener's skip is a vote: the item is skipped once
max(minimum, ceil(share * listeners now)) listeners have voted for it. Each listener votes
once per item, and after a vote waits out a cooldown before voting on another item, so one
listener cannot skip through the programme alone.

A vote counts only from a listener really receiving the stream: one of their connections
has taken in `listen_seconds` of audio past the point where it joined. And one client
address (one machine, one home) adds at most `per_address` votes to an item, so one machine
holding many identities and many connections cannot outvote a room. Pure and
clock-injected; the station feeds it the item at the live point, the current listener
count and how much each voter has heard.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from app.core.item import Item, ItemKind

NOT_LISTENING = "only a listener tuned in to the stream can vote to skip: press play first"
NOT_VOTABLE = "this item cannot be vote-skipped"
NOTHING_ON_AIR = "nothing is on air to skip yet"
ALREADY_VOTED = "you have already voted to skip this item"
ALREADY_SKIPPING = "this item is already being skipped"
ADDRESS_FULL = (
    "{count} listeners at your address have voted to skip this item already, "
    "and that is as many as one address may"
)


@dataclass(frozen=True)
class Tally:
    votes: int
    needed: int
    votable: bool  # whether the item on air accepts votes at all


@dataclass(frozen=True)
class VoteResult:
    votes: int
    needed: int
    refused: str = ""  # why the vote did not count; empty when it did
    skip: bool = False  # this vote reached the threshold: skip the item now
    retry_after: int | None = None  # whole seconds of cooldown left, when that is why

    @property
    def accepted(self) -> bool:
        return not self.refused


class SkipVotes:
    def __init__(
        self,
        *,
        share: float,
        minimum: int,
        cooldown_seconds: float,
        kinds: Collection[ItemKind],
        listen_seconds: float,
        per_address: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share = share
        self.minimum = minimum
        self.cooldown_seconds = cooldown_seconds
        self.listen_seconds = listen_seconds
        self.per_address = per_address
        self.kinds = frozenset(kinds)
        self._clock = clock
        self.item: Item | None = None
        self._voters: dict[str, str] = {}  # who voted for the item on air -> their address
        self._last_vote: dict[str, float] = {}  # voter -> clock time of their latest vote
        self._skipping = False

    def on_item(self, item: Item) -> None:
        """A new item reached the live point: its votes start from nothing."""
        self.item = item
        self._voters = {}
        self._skipping = False

    def needed(self, listeners: int) -> int:
        return max(self.minimum, math.ceil(self.share * listeners))

    @property
    def votable(self) -> bool:
        return self.item is not None and self.item.kind in self.kinds

    def tally(self, listeners: int) -> Tally:
        return Tally(len(self._voters), self.needed(listeners), self.votable)

    def vote(self, voter: str, *, heard: float | None, address: str, listeners: int) -> VoteResult:
        """Count `voter`'s skip vote for the item on air, if they may vote now.

        `heard` is how many seconds of audio the voter's best stream connection has
        received since it joined (None: not connected), `address` the client address
        the vote comes from (one machine's), and `listeners` how many listeners are
        connected now, which sets the threshold."""
        refused, retry_after = self._refusal(voter, heard, address)
        if refused:
            return VoteResult(len(self._voters), self.needed(listeners), refused,
                              retry_after=retry_after)  # fmt: skip
        now = self._clock()
        self._forget_cooled_down(now)
        self._voters[voter] = address
        self._last_vote[voter] = now
        votes, needed = len(self._voters), self.needed(listeners)
        self._skipping = votes >= needed
        return VoteResult(votes, needed, skip=self._skipping)

    @property
    def has_votes(self) -> bool:
        return bool(self._voters)

    def withdraw(self, voter: str) -> None:
        """`voter` stopped listening: a vote counts only while its listener is tuned in."""
        self._voters.pop(voter, None)

    def recheck(self, listeners: int) -> bool:
        """Listeners left, so fewer votes may be needed: True when the votes already cast
        are now enough to skip the item (once)."""
        if self._skipping or not self._voters or not self.votable:
            return False
        self._skipping = len(self._voters) >= self.needed(listeners)
        return self._skipping

    def _refusal(self, voter: str, heard: float | None, address: str) -> tuple[str, int | None]:
        if heard is None:
            return NOT_LISTENING, None
        if heard < self.listen_seconds:
            seconds = max(1, math.ceil(self.listen_seconds - heard))
            return (
                f"keep listening: a vote counts once you have heard "
                f"{self.listen_seconds:g} s of the stream (about {seconds} s to go)",
                seconds,
            )
        if self.item is None:
            return NOTHING_ON_AIR, None
        if not self.votable:
            return NOT_VOTABLE, None
        if self._skipping:
            return ALREADY_SKIPPING, None
        if voter in self._voters:
            return ALREADY_VOTED, None
        same_address = sum(1 for at in self._voters.values() if at == address)
        if same_address >= self.per_address:
            return ADDRESS_FULL.format(count=same_address), None
        left = self._cooldown_left(voter)
        if left > 0:
            seconds = math.ceil(left)
            return f"you voted a moment ago: you can vote again in {seconds} s", seconds
        return "", None

    def _cooldown_left(self, voter: str) -> float:
        last = self._last_vote.get(voter)
        if last is None:
            return 0.0
        return last + self.cooldown_seconds - self._clock()

    def _forget_cooled_down(self, now: float) -> None:
        # Keeps memory to the listeners who voted within one cooldown.
        expired = [v for v, at in self._last_vote.items() if at + self.cooldown_seconds <= now]
        for voter in expired:
            del self._last_vote[voter]
