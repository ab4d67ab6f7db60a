"""The one real-time clock: reads the programme a few seconds ahead, airs each block on time.

The contract (the playout process in app/stream/playout_child.py runs it):

- Air time is absolute: the block that starts at frame n of the stream airs at
  anchor + n / rate, the anchor being when the first block aired. Rounding and scheduling
  jitter never add up to drift. It runs whether or not anyone listens.
- A lead: the programme is read up to `lead_seconds` ahead of air time and kept as PCM, so
  a clock starved of CPU (or waiting on the scheduler) for less than the lead costs nothing.
- Release at air time: a block is encoded only when it airs, and handed to `publish` with
  the items that begin in it. So `publish` sees each chunk at (about) its air time, and an
  item's first audio reaches the live point when it airs.
- Catch up, never skip ahead: when airing fell behind (the machine was busy, the process
  was stopped), the late blocks are released at once, back to back, until air time is
  reached again; listeners get the backlog and their players buffer it. Only a lag beyond
  `max_lag_seconds` (a machine that was suspended: more than listeners could take) moves
  the anchor, and that is logged as "playout skipped audio" (SKIPPED_AUDIO), the one
  message that means audio was lost.
- A skip (`skip()`) takes back the lead: its first `skip_fade_seconds` (what listeners
  would have heard next) fade out while the next item fades in, so the skip is heard at
  the next block, and the MP3 stream stays one unbroken encoding. A skip aimed at an item
  names it, and does nothing once that item is no longer on air (never the item after).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from app.core.item import Item
from app.playout.lost import SKIPPED_AUDIO
from app.playout.source import Block, Pcm, silence

log = logging.getLogger(__name__)


class Programme(Protocol):
    """What the clock reads: the sequencer."""

    @property
    def current(self) -> Item | None: ...

    def read(self, frames: int) -> Block: ...

    def skip(self) -> None: ...

    def cut(self, heard: Pcm, skip_current: bool) -> None: ...


class PlayoutClock:
    """Two loops: `produce()` reads the programme into the lead (on a thread of its own, as
    the programme may block: a decoder starting, the scheduler answering), `release_due()`
    airs what is due (on the thread that calls `run()`). Either can be stepped by hand."""

    def __init__(
        self,
        programme: Programme,
        encode: Callable[[Pcm], bytes],
        publish: Callable[[bytes, list[tuple[int, Item]]], None],
        sample_rate: int,
        block_seconds: float,
        lead_seconds: float,
        skip_fade_seconds: float,
        max_lag_seconds: float,
        now: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        self._programme = programme
        self._encode = encode
        self._publish = publish
        self._rate = sample_rate
        self._frames = max(1, round(block_seconds * sample_rate))
        self._lead_frames = max(self._frames, round(lead_seconds * sample_rate))
        self._skip_fade = round(skip_fade_seconds * sample_rate)
        self._max_lag = max_lag_seconds
        self._now = now
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._lock = threading.Condition()
        self._lead: deque[Block] = deque()
        self._anchor: float | None = None
        self._released = 0  # frames aired since the anchor
        self._skips: deque[Item | _Interrupt | None] = deque()
        self.heard: Item | None = None  # the item at the live point
        # What happened so far, for the station's metrics (read from any thread).
        self.blocks_aired = 0
        self.late_blocks = 0  # aired more than a block after their time (a catch-up's blocks)
        self.catch_ups = 0  # runs of late blocks: each time airing fell behind and caught up
        self.skips_ahead = 0  # times it aired from now instead (SKIPPED_AUDIO)
        self.skipped_seconds = 0.0  # programme never aired by those
        self.lag = 0.0  # how late the latest block aired, in seconds
        self.on_produced: Callable[[], None] = lambda: None  # wakes a `wait` early

    @property
    def lead(self) -> float:
        """Seconds of programme read but not yet aired."""
        with self._lock:
            return self._lead_length() / self._rate

    def lead_items(self) -> list[Item]:
        """The items that begin in the programme read but not yet aired, in order."""
        with self._lock:
            return [item for block in self._lead for _, item in block.starts]

    def set_lead(self, seconds: float) -> None:
        """Read at most this far ahead from now on (while a live input is on: what follows
        it, the news, is read no further ahead than the live input itself, so that when it
        comes back its audio airs near its live point)."""
        with self._lock:
            self._lead_frames = max(self._frames, round(seconds * self._rate))
            self._lock.notify_all()

    def air_time(self) -> float:
        """When the next block airs (monotonic seconds); now before the first."""
        if self._anchor is None:
            return self._now()
        return self._anchor + self._released / self._rate

    def stop_soon(self) -> None:
        """Ask both loops to end (safe from inside a callback)."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()

    def skip(self, item: Item | None = None) -> None:
        """Skip what listeners hear (only if that is still `item`, when given)."""
        with self._lock:
            self._skips.append(item)
            self._lock.notify_all()

    def interrupt(self, fade_seconds: float) -> None:
        """Cut to what the programme has next whatever is on air (a live input taking over):
        the lead is taken back, its first `fade_seconds` fading out under what comes next."""
        with self._lock:
            self._skips.append(_Interrupt(round(fade_seconds * self._rate)))
            self._lock.notify_all()

    def run(self) -> None:
        """Read on a thread of its own, air on this one, until `stop_soon()`."""
        producer = threading.Thread(target=self._produce_until_stopped, name="playout-read",
                                    daemon=True)  # fmt: skip
        producer.start()
        try:
            while not self._stop.is_set():
                self.release_due()
                with self._lock:
                    idle = not self._lead
                self._wait(0.05 if idle else max(0.0, self.air_time() - self._now()))
        finally:
            self.stop_soon()
            producer.join(5)

    def produce(self) -> bool:
        """Apply skips, then read one block if the lead is short. False: nothing to do."""
        self._apply_skips()
        with self._lock:
            if self._lead_length() >= self._lead_frames:
                return False
        block = self._read()
        with self._lock:
            self._lead.append(block)
        self.on_produced()
        return True

    def release_due(self) -> None:
        """Air every block whose time has come: late ones back to back (catching up)."""
        while True:
            with self._lock:
                if not self._lead:
                    return
                if self._anchor is None:  # the first block airs as soon as it exists
                    self._anchor = self._now()
                lag = self._now() - self.air_time()
                if lag < 0:
                    return
                if lag > self._max_lag:
                    log.warning("%s: %.1f s behind real time, more than listeners can take; "
                                "airing from now, %.1f s of programme never aired",
                                SKIPPED_AUDIO, lag, lag,
                                extra={"event": "playout_skipped_audio",
                                       "skipped_seconds": round(lag, 3)})  # fmt: skip
                    self._anchor += lag
                    self.skips_ahead += 1
                    self.skipped_seconds += lag
                    lag = 0.0
                block = self._lead.popleft()
                self._count(lag, len(block.pcm))
                self._released += len(block.pcm)
                if block.starts:
                    self.heard = block.starts[-1][1]
                self._lock.notify_all()
            self._publish(self._encode(block.pcm), block.starts)

    def _count(self, lag: float, frames: int) -> None:
        """Count an aired block that was `lag` seconds late (hold _lock)."""
        late = lag > frames / self._rate
        if late and self.lag <= frames / self._rate:
            self.catch_ups += 1
        self.late_blocks += late
        self.blocks_aired += 1
        self.lag = max(0.0, lag)

    def _produce_until_stopped(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.produce()
            except Exception:  # e.g. a skip that could not open the next item
                log.exception("reading the programme failed; trying again")
                busy = False
            if not busy:
                with self._lock:
                    if not self._skips and not self._stop.is_set():
                        self._lock.wait(1.0)

    def _lead_length(self) -> int:
        return sum(len(block.pcm) for block in self._lead)

    def _read(self) -> Block:
        try:
            return self._programme.read(self._frames)
        except Exception:
            log.exception("the programme failed to produce a block; airing silence for it")
            return Block(silence(self._frames))

    def _apply_skips(self) -> None:
        while True:
            with self._lock:
                if not self._skips:
                    return
                target = self._skips.popleft()
                fade = self._skip_fade
                if isinstance(target, _Interrupt):  # whatever is on air: cut to what is next
                    fade, target, skip_current = target.frames, None, True
                elif target is not None and target is not self.heard:
                    log.info("skip of %r not applied: it is no longer on air",
                             target.display_title)  # fmt: skip
                    continue
                else:
                    skip_current = self.heard is None or self.heard is self._programme.current
                taken = [block.pcm for block in self._lead]
                self._lead.clear()
            if not taken:
                self._programme.skip()  # nothing read ahead: the programme is at air time
                continue
            self._programme.cut(np.concatenate(taken)[:fade], skip_current)


class _Interrupt:
    """A cut asked for by `interrupt`, fading over `frames`."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
