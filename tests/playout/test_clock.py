"""The playout clock, driven by a fake clock: air on time, read ahead, catch up, never skip."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest

from app.core.item import Item
from app.playout.clock import PlayoutClock
from app.playout.lost import SKIPPED_AUDIO
from app.playout.source import Block, Pcm, silence
from tests.playout.test_sequencer import RATE, Programme

BLOCK = 0.2  # seconds
FRAMES = round(BLOCK * RATE)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def wait(self, seconds: float) -> None:
        self.now += seconds


class Counter:
    """A programme whose left channel counts frames: what airs shows what was lost."""

    def __init__(self) -> None:
        self.frame = 0
        self.current: Item | None = None

    def read(self, frames: int) -> Block:
        pcm = silence(frames)
        pcm[:, 0] = np.arange(self.frame, self.frame + frames)
        self.frame += frames
        return Block(pcm)

    def skip(self) -> None:
        raise AssertionError("not skipped here")

    def cut(self, heard: Pcm, skip_current: bool) -> None:
        raise AssertionError("not skipped here")


Aired = list[tuple[float, Pcm, list[str]]]


def make_clock(fake: FakeTime, programme: object, aired: Aired, lead: float = 4.0,
               max_lag: float = 60.0) -> PlayoutClock:  # fmt: skip
    def publish(data: Pcm, starts: list[tuple[int, Item]]) -> None:
        aired.append((fake.now, data[:, 0], [item.title for _, item in starts]))

    return PlayoutClock(programme, lambda pcm: pcm, publish, RATE, BLOCK, lead_seconds=lead,  # type: ignore[arg-type]
                        skip_fade_seconds=0.1, max_lag_seconds=max_lag,
                        now=lambda: fake.now)  # fmt: skip


def drive(clock: PlayoutClock, fake: FakeTime, seconds: float, steps: list[float] | None = None,
          reading: bool = True, airing: bool = True) -> None:  # fmt: skip
    """Step both loops of the clock through `seconds` of fake time, in `steps` (default
    0.01 s); `reading=False` starves the reading loop, `airing=False` the airing loop."""
    end = fake.now + seconds
    steps = list(steps or [])
    while fake.now < end - 1e-9:
        while reading and clock.produce():
            pass
        if airing:
            clock.release_due()
        fake.now = min(end, fake.now + (steps.pop(0) if steps else 0.01))


def aired_on_slots(aired: Aired) -> np.ndarray:
    """How late each block aired after its slot on the first block's schedule."""
    return np.array([t for t, _, _ in aired]) - (aired[0][0] + BLOCK * np.arange(len(aired)))


def test_uneven_steps_never_accumulate_into_drift() -> None:
    fake, aired = FakeTime(), []
    clock = make_clock(fake, Counter(), aired)
    rng = random.Random(5)
    drive(clock, fake, 600, steps=[rng.uniform(0.0, 0.15) for _ in range(10_000)])
    late = aired_on_slots(aired)
    assert late.min() >= 0
    assert late.max() < 0.15  # each block airs at the first step at or after its slot
    assert abs(len(aired) - 600 / BLOCK) <= 1


def test_reading_starved_for_less_than_the_lead_delays_nothing() -> None:
    fake, aired = FakeTime(), []
    clock = make_clock(fake, Counter(), aired, lead=4.0)
    drive(clock, fake, 10)
    drive(clock, fake, 3.5, reading=False)  # a decoder or the scheduler kept it waiting
    drive(clock, fake, 10)
    assert aired_on_slots(aired).max() < 0.011


@pytest.mark.parametrize("reading", [False, True])
def test_after_a_stall_the_backlog_airs_at_once_and_nothing_is_lost(
    reading: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fake, aired = FakeTime(), []
    clock = make_clock(fake, Counter(), aired, lead=4.0)
    drive(clock, fake, 10)
    with caplog.at_level(logging.WARNING):
        # The whole process stopped; or only airing did, the lead read ahead.
        drive(clock, fake, 8, reading=reading, airing=False)
        drive(clock, fake, 10)
    counted = np.concatenate([pcm for _, pcm, _ in aired])
    assert np.array_equal(counted, np.arange(len(counted)))  # every frame, in order
    # Late blocks are sent back to back until air time is reached again, and the
    # schedule stays anchored where it was: the last block airs on its original slot.
    late = aired_on_slots(aired)
    assert late.max() > 7.5
    assert late[-1] < 0.011
    assert len(aired) >= 27.9 / BLOCK
    assert SKIPPED_AUDIO not in caplog.text


def test_only_an_absurd_lag_skips_audio_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    fake, aired = FakeTime(), []
    clock = make_clock(fake, Counter(), aired, lead=4.0, max_lag=15.0)
    drive(clock, fake, 10)
    with caplog.at_level(logging.WARNING):
        drive(clock, fake, 30, reading=False, airing=False)  # a suspended machine
        drive(clock, fake, 10)
    assert SKIPPED_AUDIO in caplog.text
    assert aired_on_slots(aired)[-1] > 10  # re-anchored: the lost time is not made up


def test_a_skip_takes_back_the_lead_and_is_heard_at_the_next_block() -> None:
    fake, aired = FakeTime(), []
    programme = Programme([("a", 100 * RATE, 0.5), ("b", 100 * RATE, 0.25)])
    sequencer = programme.sequencer(crossfade=1.0, skip_fade=0.1)
    clock = make_clock(fake, sequencer, aired, lead=4.0)
    drive(clock, fake, 4)
    assert clock.lead > 3.5
    skipped = len(aired)
    clock.skip(clock.heard)
    drive(clock, fake, 0.2)
    clock.skip(programme.opened[0].item)  # a late vote for a: gone, so nothing happens
    drive(clock, fake, 4)
    assert [starts for _, _, starts in aired if starts] == [["a"], ["b"]]
    assert aired[skipped][2] == ["b"]  # the block right after the skip starts b
    left = np.concatenate([pcm for _, pcm, _ in aired])
    cut = skipped * FRAMES
    assert np.all(left[:cut] == 0.5)
    assert abs(left[cut] - 0.5) < 0.05  # it fades from where a was: no click
    assert np.all(left[cut + 100 :] == 0.25)  # then only b, which was never skipped
    assert aired_on_slots(aired).max() < 0.011  # the skip kept the schedule


def test_a_skip_during_a_crossfade_in_the_lead_never_skips_the_item_after() -> None:
    fake, aired = FakeTime(), []
    # a ends three seconds after it starts airing: the lead already holds b's start.
    programme = Programme([("a", 3 * RATE, 0.5), ("b", 100 * RATE, 0.25), ("c", RATE, 0.9)])
    sequencer = programme.sequencer(crossfade=1.0, skip_fade=0.1)
    clock = make_clock(fake, sequencer, aired, lead=4.0)
    drive(clock, fake, 0.4)
    assert clock.heard is not None
    assert clock.heard.title == "a"
    assert sequencer.current is not None
    assert sequencer.current.title == "b"
    skipped = len(aired)
    clock.skip(clock.heard)
    drive(clock, fake, 5)
    assert [starts for _, _, starts in aired if starts] == [["a"], ["b"]]
    assert aired[skipped][2] == ["b"]  # b is announced at the skip, and plays on
    left = np.concatenate([pcm for _, pcm, _ in aired])
    assert np.all(left[skipped * FRAMES + 100 :] == 0.25)


def test_the_counters_say_how_often_airing_fell_behind_and_caught_up() -> None:
    """What the station's metrics show (radio_playout_*): each stall is one catch-up of the
    blocks that aired late, counted against the blocks' own schedule."""
    fake, aired = FakeTime(), []
    clock = make_clock(fake, Counter(), aired, lead=4.0, max_lag=5.0)
    drive(clock, fake, 10)
    assert (clock.catch_ups, clock.late_blocks, clock.skips_ahead) == (0, 0, 0)
    for _ in range(2):
        drive(clock, fake, 3, airing=False)  # stopped for 3 s: caught up after
        drive(clock, fake, 10)
    late = aired_on_slots(aired)
    assert clock.catch_ups == 2
    assert clock.late_blocks == int((late > BLOCK + 1e-9).sum())
    assert clock.late_blocks >= 2 * (3 / BLOCK - 2)
    assert clock.blocks_aired == len(aired)
    assert clock.lag < BLOCK  # on time again
    assert clock.skips_ahead == 0
    drive(clock, fake, 8, airing=False)  # beyond max_lag: aired from now, and counted
    drive(clock, fake, 1)
    assert clock.skips_ahead == 1
    assert 7.9 < clock.skipped_seconds < 8.1
    assert clock.catch_ups == 2  # airing from now is no catch-up: nothing was sent late
