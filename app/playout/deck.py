"""A deck holds one source with a look-ahead buffer, so the end of a track is seen coming."""

from __future__ import annotations

import numpy as np

from app.playout.source import Pcm, Source, silence


class Deck:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.item = source.item
        self.ended = False  # the source has no more frames; what is buffered is all that's left
        self.played = 0
        self._buffer = silence(0)
        self._decoded = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def source_closed(self) -> bool:
        """Its source was closed (a live input that was refused or ended)."""
        return bool(getattr(self.source, "closed", False))

    @property
    def failed(self) -> bool:
        """Ended before giving a single frame: a decoder that could not start."""
        return self.ended and self._decoded == 0

    def fill(self, frames: int) -> None:
        """Read ahead until `frames` frames are buffered or the source ends."""
        parts = [self._buffer]
        have = len(self._buffer)
        while have < frames and not self.ended:
            wanted = frames - have
            part = self.source.read(wanted)
            if len(part) < wanted:
                self.ended = True
            parts.append(part)
            have += len(part)
            self._decoded += len(part)
        if len(parts) > 1:
            self._buffer = np.concatenate(parts)

    def take(self, frames: int) -> Pcm:
        """`frames` frames, padded with silence past the end."""
        self.fill(frames)
        out = self._buffer[:frames]
        self._buffer = self._buffer[frames:]
        self.played += len(out)
        if len(out) < frames:
            out = np.concatenate([out, silence(frames - len(out))])
        return out

    def drop_buffer(self) -> None:
        """Forget what was read ahead (a live input going back to its live point)."""
        self._buffer = silence(0)

    def close(self) -> None:
        self.source.close()
