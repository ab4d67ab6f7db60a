"""The one real-time clock: pulls the programme block by block and hands it on, encoded.

It paces by absolute time (start + frames / rate), so rounding and scheduling jitter never
add up to drift. It runs whether or not anyone listens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from app.playout.source import Block, silence
from app.scheduler.item import Item

log = logging.getLogger(__name__)

MAX_LAG_SECONDS = 1.0  # behind by more (a suspended machine): resume from now, don't rush


class PlayoutClock:
    def __init__(
        self,
        read: Callable[[int], Block],
        encode: Callable[..., bytes],
        publish: Callable[[bytes, list[tuple[int, Item]]], None],
        sample_rate: int,
        block_seconds: float,
        now: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        self._read = read
        self._encode = encode
        self._publish = publish
        self._rate = sample_rate
        self._frames = round(block_seconds * sample_rate)
        self._now = now
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._thread = threading.Thread(target=self.run, name="playout-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stop_soon()
        self._thread.join(timeout=5)

    def stop_soon(self) -> None:
        """Ask the loop to end after the current block (safe from inside a callback)."""
        self._stop.set()

    def tick(self) -> None:
        """Produce, encode and publish one block."""
        try:
            block = self._read(self._frames)
        except Exception:
            log.exception("the programme failed to produce a block; airing silence for it")
            block = Block(silence(self._frames))
        self._publish(self._encode(block.pcm), block.starts)

    def run(self) -> None:
        """The clock loop; `start()` runs it on its own thread."""
        started = self._now()
        produced = 0
        while not self._stop.is_set():
            self.tick()
            produced += self._frames
            delay = started + produced / self._rate - self._now()
            if delay < -MAX_LAG_SECONDS:
                log.warning("playout fell %.1f s behind real time; resuming from now", -delay)
                # Re-anchor the clock so the block just published starts its slot now.
                started -= delay - self._frames / self._rate
                delay = self._frames / self._rate
            if delay > 0:
                self._wait(delay)
