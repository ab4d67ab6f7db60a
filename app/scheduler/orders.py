"""How a playlist deals its tracks: shuffle, random or sequential, with separation.

Each order looks at a small sample of candidates (SAMPLE), never the whole playlist, so a
pick costs the same on a 10 000-track library as on ten tracks. `qualifies` says whether a
candidate keeps the separation rules; `strict` deals only a qualifying one (None if the
sample has none, and nothing is dealt); otherwise the least recently
played candidate of the sample is dealt when none qualifies.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.models import PlaylistOrder

SAMPLE = 32

Qualifies = Callable[[int], bool]
Staleness = Callable[[int], float]  # when a track (or its artists) last played; lower = older


@dataclass(frozen=True)
class Deal:
    track_id: int
    qualified: bool  # False: dealt as the least recently played, breaking separation


@dataclass(frozen=True)
class Deck:
    """A playlist's tracks, precomputed once per scheduler."""

    order: PlaylistOrder
    ids: tuple[int, ...]  # never empty
    members: frozenset[int]

    def deal(
        self,
        memory: dict[str, Any],
        rng: random.Random,
        qualifies: Qualifies | None,
        played: Staleness,
        strict: bool = False,
    ) -> Deal | None:
        if self.order is PlaylistOrder.sequential:
            return self._sequential(memory, qualifies, played, strict)
        if self.order is PlaylistOrder.random:
            return self._random(rng, qualifies, played, strict)
        return self._shuffle(memory, rng, qualifies, played, strict)

    def _shuffle(
        self,
        memory: dict[str, Any],
        rng: random.Random,
        qualifies: Qualifies | None,
        played: Staleness,
        strict: bool,
    ) -> Deal | None:
        # The bag is dealt from its end. Tracks that left the playlist are skipped lazily.
        bag: list[int] = memory.setdefault("bag", [])
        while bag and bag[-1] not in self.members:
            bag.pop()
        if not bag:
            self._refill(bag, memory.get("last"), rng)
        candidates = self._bag_candidates(bag)
        chosen = self._first_qualifying(bag, candidates, qualifies)
        if chosen is None and len(candidates) < SAMPLE:
            # The round is nearly through and its rest is blocked: open the next round
            # underneath, so the rest still plays first once it may.
            in_bag = set(bag)
            fresh = [i for i in self.ids if i not in in_bag]
            rng.shuffle(fresh)
            bag[:0] = fresh
            candidates = self._bag_candidates(bag)
            chosen = self._first_qualifying(bag, candidates, qualifies)
        qualified = chosen is not None
        if chosen is None:
            if strict:
                return None
            chosen = min(candidates, key=lambda index: played(bag[index]))
        bag[chosen], bag[-1] = bag[-1], bag[chosen]
        track_id = bag.pop()
        memory["last"] = track_id
        return Deal(track_id, qualified)

    def _refill(self, bag: list[int], last: int | None, rng: random.Random) -> None:
        bag.extend(self.ids)
        rng.shuffle(bag)
        # Never start a round with the track that ended the previous one.
        if len(bag) > 1 and bag[-1] == last:
            bag[0], bag[-1] = bag[-1], bag[0]

    def _bag_candidates(self, bag: list[int]) -> list[int]:
        """Indexes of the next SAMPLE tracks still in the playlist, next first."""
        candidates: list[int] = []
        index = len(bag) - 1
        while index >= 0 and len(candidates) < SAMPLE:
            if bag[index] in self.members:
                candidates.append(index)
            index -= 1
        return candidates

    @staticmethod
    def _first_qualifying(
        bag: list[int], candidates: list[int], qualifies: Qualifies | None
    ) -> int | None:
        if qualifies is None:
            return candidates[0]
        return next((index for index in candidates if qualifies(bag[index])), None)

    def _random(
        self, rng: random.Random, qualifies: Qualifies | None, played: Staleness, strict: bool
    ) -> Deal | None:
        drawn: list[int] = []
        for _ in range(SAMPLE if qualifies is not None else 1):
            track_id = self.ids[rng.randrange(len(self.ids))]
            if qualifies is None or qualifies(track_id):
                return Deal(track_id, True)
            drawn.append(track_id)
        return None if strict else Deal(min(drawn, key=played), False)

    def _sequential(
        self,
        memory: dict[str, Any],
        qualifies: Qualifies | None,
        played: Staleness,
        strict: bool,
    ) -> Deal | None:
        # Continues where it left off; a blocked track is passed over for this round.
        count = len(self.ids)
        position = int(memory.get("position", 0)) % count
        window = [(position + step) % count for step in range(min(SAMPLE, count))]
        chosen = next(
            (i for i in window if qualifies is None or qualifies(self.ids[i])),
            None,
        )
        qualified = chosen is not None
        if chosen is None:
            if strict:
                return None
            chosen = min(window, key=lambda i: played(self.ids[i]))
        memory["position"] = (chosen + 1) % count
        return Deal(self.ids[chosen], qualified)
