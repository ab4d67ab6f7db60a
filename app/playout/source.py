"""The source protocol: everything that yields PCM in the engine's one format.

PCM inside the engine is float32, shape (frames, 2), at the station's sample rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from app.core.item import Item

Pcm = npt.NDArray[np.float32]
CHANNELS = 2


def silence(frames: int) -> Pcm:
    return np.zeros((frames, CHANNELS), dtype=np.float32)


class Source(Protocol):
    """A finite or endless source of PCM for one item."""

    item: Item

    def read(self, frames: int) -> Pcm:
        """Up to `frames` frames; fewer means the source has ended."""
        ...

    def close(self) -> None: ...


@dataclass
class Block:
    """What the programme produced for one tick of the clock."""

    pcm: Pcm
    # (frame offset in pcm, item) for every item that begins inside this block.
    starts: list[tuple[int, Item]] = field(default_factory=list)
