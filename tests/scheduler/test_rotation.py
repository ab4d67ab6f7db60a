"""The simple rotation: shuffle through the library, no repeat until the rest have played."""

from __future__ import annotations

import itertools
import random

from app.scheduler.rotation import ShuffleBag, should_play_jingle


def test_every_track_plays_once_before_any_repeats() -> None:
    bag = ShuffleBag(random.Random(7))
    ids = list(range(20))
    for _ in range(5):
        round_ = [bag.deal(ids) for _ in ids]
        assert sorted(round_) == ids  # type: ignore[type-var]


def test_no_track_plays_twice_in_a_row_across_rounds() -> None:
    bag = ShuffleBag(random.Random(1))
    dealt = [bag.deal([1, 2, 3]) for _ in range(300)]
    assert all(a != b for a, b in itertools.pairwise(dealt))


def test_removed_tracks_are_never_dealt_and_new_ones_join_the_next_round() -> None:
    bag = ShuffleBag(random.Random(3))
    first = bag.deal([1, 2, 3, 4])
    remaining = [i for i in [1, 2, 3, 4] if i != first]
    gone = remaining[0]
    library = [i for i in [1, 2, 3, 4, 5] if i != gone]
    dealt = [bag.deal(library) for _ in range(8)]
    assert gone not in dealt
    assert 5 in dealt


def test_an_empty_library_deals_nothing() -> None:
    assert ShuffleBag(random.Random()).deal([]) is None


def test_jingle_after_every_n_songs() -> None:
    assert not should_play_jingle(3, 4)
    assert should_play_jingle(4, 4)
    assert not should_play_jingle(100, 0)
