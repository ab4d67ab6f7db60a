"""The programme operator, driven block by block with in-memory PCM sources."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.item import Item, ItemKind
from app.playout.sequencer import Sequencer
from app.playout.source import Pcm

RATE = 1000  # frames per second: small numbers keep the arithmetic readable


class ToneSource:
    """A finite source whose left channel is a constant `level`, so mixes can be read back."""

    def __init__(self, item: Item, frames: int, level: float) -> None:
        self.item = item
        self._left = frames
        self._level = level
        self.closed = False

    def read(self, frames: int) -> Pcm:
        n = min(frames, self._left)
        self._left -= n
        return np.full((n, 2), self._level, dtype=np.float32)

    def close(self) -> None:
        self.closed = True


class EndlessSource(ToneSource):
    def __init__(self, level: float) -> None:
        super().__init__(Item(kind=ItemKind.safety, title="safety"), 10**9, level)


def item(title: str) -> Item:
    return Item(kind=ItemKind.music, title=title)


class Programme:
    """A queue of (title, frames, level) items; titles starting with 'broken' fail to open."""

    def __init__(self, entries: list[tuple[str, int, float]]) -> None:
        self.entries = list(entries)
        self.failures: list[tuple[str, str]] = []
        self.opened: list[ToneSource] = []

    def next_item(self) -> Item | None:
        if not self.entries:
            return None
        title, _, _ = self.entries[0]
        return item(title)

    def open(self, it: Item) -> ToneSource:
        title, frames, level = self.entries.pop(0)
        assert title == it.title
        if title.startswith("missing"):
            raise FileNotFoundError("file is missing")
        source = ToneSource(it, 0 if title.startswith("broken") else frames, level)
        self.opened.append(source)
        return source

    def sequencer(self, crossfade: float = 0.0, skip_fade: float = 0.1) -> Sequencer:
        return Sequencer(
            next_item=self.next_item,
            open_source=self.open,
            safety=EndlessSource(0.05),
            sample_rate=RATE,
            crossfade_seconds=crossfade,
            skip_fade_seconds=skip_fade,
            on_failure=lambda it, reason: self.failures.append((it.title, reason)),
            clock=lambda: 0.0,
        )


def play(sequencer: Sequencer, seconds: float, block: int = 100) -> tuple[Pcm, list]:
    blocks = [sequencer.read(block) for _ in range(round(seconds * RATE / block))]
    starts = [(i * block + pos, it.title) for i, b in enumerate(blocks) for pos, it in b.starts]
    return np.concatenate([b.pcm for b in blocks])[:, 0], starts


def test_items_follow_each_other_without_a_gap_when_crossfade_is_off() -> None:
    programme = Programme([("a", 1000, 0.5), ("b", 1000, 0.25)])
    left, starts = play(programme.sequencer(crossfade=0), 2)
    assert starts == [(0, "a"), (1000, "b")]
    assert np.all(left[:1000] == 0.5)
    assert np.all(left[1000:2000] == 0.25)


def test_crossfade_overlaps_the_end_of_one_item_with_the_start_of_the_next() -> None:
    programme = Programme([("a", 3000, 0.5), ("b", 3000, 0.5)])
    left, starts = play(programme.sequencer(crossfade=1.0), 5)
    # b starts one crossfade before a ends; the safety source follows b the same way.
    assert starts == [(0, "a"), (2000, "b"), (4000, "safety")]
    overlap = left[2000:3000]
    # Equal-power: the sum of two faded copies of the same level bulges, never dips.
    assert overlap.min() >= 0.5 - 1e-3
    assert overlap.max() > 0.6
    assert np.all(left[3000:4000] == 0.5)  # then b alone


def test_skip_fades_out_quickly_and_starts_the_next_item() -> None:
    programme = Programme([("a", 10_000, 0.5), ("b", 10_000, 0.25)])
    sequencer = programme.sequencer(crossfade=1.0, skip_fade=0.1)
    play(sequencer, 1)
    sequencer.skip()
    left, starts = play(sequencer, 1)
    assert starts == [(0, "b")]
    assert abs(left[0] - 0.5) < 0.05  # no click: the fade starts where the audio was
    assert np.all(left[100:] == 0.25)  # after 0.1 s only b
    assert programme.opened[0].closed


def test_failing_items_are_reported_and_passed_over_without_a_gap() -> None:
    programme = Programme(
        [("a", 1000, 0.5), ("broken-1", 1000, 0.9), ("missing-2", 1000, 0.9), ("c", 1000, 0.25)]
    )
    left, starts = play(programme.sequencer(crossfade=0), 2)
    assert starts == [(0, "a"), (1000, "c")]
    assert [title for title, _ in programme.failures] == ["broken-1", "missing-2"]
    assert np.all(left[1000:2000] == 0.25)


def test_an_empty_programme_airs_the_safety_source_then_music_once_it_exists() -> None:
    programme = Programme([])
    sequencer = programme.sequencer(crossfade=0.5)
    left, starts = play(sequencer, 1)
    assert starts == [(0, "safety")]
    assert np.all(left == 0.05)
    programme.entries.append(("a", 5000, 0.5))
    sequencer._last_retry = -10.0  # the retry interval has passed
    left, starts = play(sequencer, 2)
    assert starts == [(0, "a")]
    assert np.all(left[500:] == 0.5)


def test_a_track_shorter_than_the_crossfade_is_still_heard() -> None:
    programme = Programme([("a", 3000, 0.5), ("tiny", 200, 0.25), ("c", 3000, 0.5)])
    _, starts = play(programme.sequencer(crossfade=1.0), 4)
    assert [title for _, title in starts] == ["a", "tiny", "c"]
    assert starts[2][0] - starts[1][0] >= 100  # tiny played at least half its length


@pytest.mark.parametrize("block", [7, 100, 1024])
def test_output_is_continuous_whatever_the_block_size(block: int) -> None:
    programme = Programme([("a", 1500, 0.5), ("b", 1500, 0.25), ("c", 1500, 0.5)])
    left, _ = play(programme.sequencer(crossfade=0.3), 4, block=block)
    # Never a dip between items; c fades into the safety source from 3 x 1500 - 3 x 300.
    assert left[:3600].min() > 0.2
