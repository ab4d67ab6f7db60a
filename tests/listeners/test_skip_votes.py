"""Skip votes, driven with a fake clock: thresholds, one vote per item, the cooldown."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.core.item import Item, ItemKind
from app.listeners.skipvotes import (
    ADDRESS_FULL,
    ALREADY_SKIPPING,
    ALREADY_VOTED,
    NOT_LISTENING,
    NOT_VOTABLE,
    NOTHING_ON_AIR,
    SkipVotes,
    Tally,
)

SONG = Item(ItemKind.music, "Song", "Artist")
OTHER_SONG = Item(ItemKind.music, "Other Song", "Artist")
JINGLE = Item(ItemKind.jingle, "Station ID")
STORY = Item(ItemKind.news, "Headline", "Radio News")
HEARD = 60.0  # seconds of the stream each voter below has received, unless a test says


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_votes(clock: FakeClock, *, share: float = 0.5, minimum: int = 1, cooldown: float = 30.0,
               listen: float = 10.0, per_address: int = 2) -> SkipVotes:  # fmt: skip
    votes = SkipVotes(share=share, minimum=minimum, cooldown_seconds=cooldown,
                      kinds={ItemKind.music}, listen_seconds=listen,
                      per_address=per_address, clock=clock)  # fmt: skip
    votes.on_item(SONG)
    return votes


@pytest.mark.parametrize(
    ("share", "minimum", "listeners", "needed"),
    [
        (0.5, 1, 1, 1),
        (0.5, 1, 4, 2),
        (0.5, 1, 5, 3),  # half of five rounds up: a vote short of half never skips
        (0.5, 3, 2, 3),  # the minimum holds when few listen
        (0.5, 2, 0, 2),
        (1.0, 1, 7, 7),
        (0.25, 1, 10, 3),
    ],
)
def test_threshold_is_a_share_of_listeners_with_a_minimum(
    share: float, minimum: int, listeners: int, needed: int
) -> None:
    votes = make_votes(FakeClock(), share=share, minimum=minimum)
    assert votes.needed(listeners) == needed
    assert votes.tally(listeners) == Tally(0, needed, True)


def test_votes_reaching_the_threshold_skip_once() -> None:
    votes = make_votes(FakeClock())
    first = votes.vote("ann", heard=HEARD, address="ann-home", listeners=4)
    assert (first.accepted, first.votes, first.needed, first.skip) == (True, 1, 2, False)
    second = votes.vote("bee", heard=HEARD, address="bee-home", listeners=4)
    assert (second.accepted, second.votes, second.needed, second.skip) == (True, 2, 2, True)

    late = votes.vote("cat", heard=HEARD, address="cat-home", listeners=4)
    assert (late.accepted, late.refused, late.skip) == (False, ALREADY_SKIPPING, False)
    assert votes.tally(4).votes == 2


def test_the_threshold_follows_the_listeners_at_the_time_of_the_vote() -> None:
    votes = make_votes(FakeClock())
    assert votes.vote("ann", heard=HEARD, address="ann-home", listeners=6).skip is False  # 1 of 3
    result = votes.vote("bee", heard=HEARD, address="bee-home", listeners=3)  # four left: 2 of 2
    assert (result.votes, result.needed, result.skip) == (2, 2, True)


def test_a_listener_who_leaves_takes_their_vote_along() -> None:
    votes = make_votes(FakeClock(), share=1.0)
    votes.vote("ann", heard=HEARD, address="ann-home", listeners=3)
    votes.vote("bee", heard=HEARD, address="bee-home", listeners=3)
    votes.withdraw("ann")
    assert votes.tally(2) == Tally(1, 2, True)
    assert votes.recheck(2) is False


def test_when_listeners_leave_the_votes_cast_may_be_enough() -> None:
    votes = make_votes(FakeClock(), share=1.0)
    assert votes.recheck(3) is False  # no votes: nothing to skip
    votes.vote("ann", heard=HEARD, address="ann-home", listeners=3)
    votes.vote("bee", heard=HEARD, address="bee-home", listeners=3)  # 2 of 3
    assert votes.recheck(3) is False
    assert votes.recheck(2) is True  # the third listener left: 2 of 2
    assert votes.recheck(2) is False  # once
    late = votes.vote("cat", heard=HEARD, address="cat-home", listeners=2)
    assert late.refused == ALREADY_SKIPPING


def test_a_listener_votes_once_per_item() -> None:
    votes = make_votes(FakeClock())
    votes.vote("ann", heard=HEARD, address="ann-home", listeners=10)
    again = votes.vote("ann", heard=HEARD, address="ann-home", listeners=10)
    assert (again.accepted, again.refused) == (False, ALREADY_VOTED)
    assert (again.votes, again.needed) == (1, 5)


def test_after_a_vote_the_listener_waits_out_the_cooldown_for_the_next_item() -> None:
    clock = FakeClock()
    votes = make_votes(clock, cooldown=30)
    votes.vote("ann", heard=HEARD, address="ann-home", listeners=10)
    clock.now += 12.5
    votes.on_item(OTHER_SONG)

    early = votes.vote("ann", heard=HEARD, address="ann-home", listeners=10)
    assert early.accepted is False
    assert early.refused == "you voted a moment ago: you can vote again in 18 s"
    assert early.retry_after == 18
    assert votes.vote(
        "bee", heard=HEARD, address="bee-home", listeners=10
    ).accepted  # others are not held up

    clock.now += 17.5
    assert votes.vote("ann", heard=HEARD, address="ann-home", listeners=10).accepted


def test_a_refused_vote_does_not_restart_the_cooldown() -> None:
    clock = FakeClock()
    votes = make_votes(clock, cooldown=30)
    votes.vote("ann", heard=HEARD, address="ann-home", listeners=10)
    votes.on_item(OTHER_SONG)
    clock.now += 20
    assert votes.vote("ann", heard=HEARD, address="ann-home", listeners=10).retry_after == 10
    clock.now += 10
    assert votes.vote("ann", heard=HEARD, address="ann-home", listeners=10).accepted


def test_votes_start_from_nothing_when_the_item_changes() -> None:
    votes = make_votes(FakeClock(), cooldown=0)
    votes.vote("ann", heard=HEARD, address="ann-home", listeners=10)
    votes.vote("bee", heard=HEARD, address="bee-home", listeners=10)
    assert votes.tally(10).votes == 2
    votes.on_item(OTHER_SONG)
    assert votes.tally(10) == Tally(0, 5, True)
    assert (
        votes.vote("ann", heard=HEARD, address="ann-home", listeners=10).votes == 1
    )  # a new item, a new vote


def test_a_skip_is_possible_again_on_the_next_item() -> None:
    votes = make_votes(FakeClock(), cooldown=0)
    assert votes.vote("ann", heard=HEARD, address="ann-home", listeners=1).skip
    votes.on_item(OTHER_SONG)
    assert votes.vote("ann", heard=HEARD, address="ann-home", listeners=1).skip


def test_only_a_listener_tuned_in_may_vote() -> None:
    votes = make_votes(FakeClock())
    result = votes.vote("ann", heard=None, address="ann-home", listeners=3)
    assert (result.accepted, result.refused, result.votes, result.needed) == (
        False, NOT_LISTENING, 0, 2)  # fmt: skip
    assert votes.vote(
        "ann", heard=HEARD, address="ann-home", listeners=3
    ).accepted  # the refusal cost nothing


@pytest.mark.parametrize("item", [JINGLE, STORY], ids=["jingle", "news"])
def test_jingles_and_news_cannot_be_vote_skipped(item: Item) -> None:
    votes = make_votes(FakeClock())
    votes.on_item(item)
    result = votes.vote("ann", heard=HEARD, address="ann-home", listeners=1)
    assert (result.accepted, result.refused, result.skip) == (False, NOT_VOTABLE, False)
    assert votes.tally(1) == Tally(0, 1, False)


def test_the_votable_kinds_are_configurable() -> None:
    votes = SkipVotes(share=0.5, minimum=1, cooldown_seconds=0,
                      kinds=Settings(skip_vote_kinds="music, news").skip_votable_kinds,
                      listen_seconds=0, per_address=1, clock=FakeClock())  # fmt: skip
    votes.on_item(STORY)
    assert votes.vote("ann", heard=HEARD, address="ann-home", listeners=1).skip
    votes.on_item(JINGLE)
    assert votes.vote("ann", heard=HEARD, address="ann-home", listeners=1).refused == NOT_VOTABLE


def test_settings_refuse_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown item kind musik"):
        Settings(skip_vote_kinds="musik")
    assert Settings(skip_vote_kinds="").skip_votable_kinds == frozenset()
    assert Settings().skip_votable_kinds == {ItemKind.music}


def test_nothing_on_air_takes_no_votes() -> None:
    votes = SkipVotes(share=0.5, minimum=1, cooldown_seconds=0, kinds={ItemKind.music},
                      listen_seconds=0, per_address=1, clock=FakeClock())  # fmt: skip
    assert votes.vote("ann", heard=HEARD, address="ann-home", listeners=1).refused == NOTHING_ON_AIR
    assert votes.tally(1) == Tally(0, 1, False)


def test_a_vote_counts_once_the_listener_has_heard_enough_of_the_stream() -> None:
    votes = make_votes(FakeClock(), listen=10.0)
    early = votes.vote("ann", heard=7.4, address="ann-home", listeners=1)
    assert (early.accepted, early.retry_after, early.votes) == (False, 3, 0)
    assert early.refused.startswith("keep listening: a vote counts once you have heard 10 s")
    assert votes.vote("ann", heard=10.0, address="ann-home", listeners=1).skip


def test_one_address_adds_at_most_its_share_of_votes_to_an_item() -> None:
    votes = make_votes(FakeClock(), share=1.0, per_address=2, cooldown=0)
    assert votes.vote("ann", heard=HEARD, address="flat", listeners=9).accepted
    assert votes.vote("bee", heard=HEARD, address="flat", listeners=9).accepted
    third = votes.vote("cat", heard=HEARD, address="flat", listeners=9)
    assert (third.accepted, third.refused, third.votes) == (False, ADDRESS_FULL.format(count=2), 2)
    assert votes.vote("dan", heard=HEARD, address="next-door", listeners=9).votes == 3
    votes.withdraw("bee")  # Bee stopped listening: the flat has a vote to give again
    assert votes.vote("cat", heard=HEARD, address="flat", listeners=9).votes == 3
    votes.on_item(OTHER_SONG)  # every item starts over
    assert votes.vote("eve", heard=HEARD, address="flat", listeners=9).accepted
