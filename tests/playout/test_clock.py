"""The playout clock, driven by a fake clock: pace by absolute time, never drift."""

from __future__ import annotations

import random

import numpy as np

from app.playout.clock import PlayoutClock
from app.playout.source import Block, silence
from app.scheduler.item import Item


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def wait(self, seconds: float) -> None:
        self.now += seconds


def run_clock(fake: FakeTime, blocks: int, work: list[float]) -> list[float]:
    """Run `blocks` ticks whose production takes `work[i]` seconds; return publish times."""
    published: list[float] = []
    clock: PlayoutClock

    def read(frames: int) -> Block:
        fake.now += work[len(published)]
        return Block(silence(frames))

    def publish(data: bytes, starts: list[tuple[int, Item]]) -> None:
        published.append(fake.now)
        if len(published) == blocks:
            clock.stop_soon()

    clock = PlayoutClock(read, lambda pcm: b"", publish, 1000, 0.2, now=lambda: fake.now,
                         wait=fake.wait)  # fmt: skip
    clock.run()
    return published


def test_uneven_work_never_accumulates_into_drift() -> None:
    fake = FakeTime()
    rng = random.Random(5)
    blocks = 3000  # ten minutes of programme
    work = [rng.uniform(0.0, 0.15) for _ in range(blocks)]
    published = run_clock(fake, blocks, work)
    start = published[0] - work[0]
    lateness = np.array(published) - (start + 0.2 * np.arange(blocks)) - np.array(work)
    assert np.abs(lateness).max() < 1e-6  # each block leaves exactly on its slot
    assert abs(fake.now - (start + 0.2 * blocks)) < 0.2


def test_after_a_long_stall_the_clock_resumes_from_now_instead_of_rushing() -> None:
    fake = FakeTime()
    work = [0.0] * 10 + [5.0] + [0.0] * 9  # the machine froze for five seconds
    published = run_clock(fake, 20, work)
    gaps = np.diff(published)
    assert gaps.min() > 0.19  # no burst of blocks to catch up
