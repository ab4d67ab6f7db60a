"""The programme as one endless source: items from the scheduler, crossfaded, with fallback.

Transitions belong here: a natural end overlaps the next item for the crossfade time, a
skip fades the current item out quickly, and when no item can play the safety source
takes over until one can. A failing item is reported and passed over, never aired.

A live input takes over at the next cut (`go_live`). While it is on air the programme's
clock items that interrupt it (the hourly news, `break_item`) are asked for every
BREAK_CHECK_SECONDS: one that comes takes the air with the usual crossfade, its parts follow
one another, and when no part is left the live input takes the air back, at its live point
(what the host sent meanwhile is dropped: they hear the air and wait).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from app.core.item import Item
from app.playout.deck import Deck
from app.playout.fades import fade_in, fade_out
from app.playout.source import Block, Pcm, Source, silence

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # failing items tried in a row before the safety source covers
PREFETCH_SECONDS = 0.5  # an ending track is noticed this long before its crossfade
RETRY_SECONDS = 1.0  # how often the safety source asks the scheduler again
BREAK_CHECK_SECONDS = 1.0  # how often a live input on air asks for a clock item due


class Sequencer:
    def __init__(
        self,
        next_item: Callable[[], Item | None],
        open_source: Callable[[Item], Source],
        safety: Source,
        sample_rate: int,
        crossfade_seconds: float,
        skip_fade_seconds: float,
        on_failure: Callable[[Item, str], None] = lambda item, reason: None,
        clock: Callable[[], float] = time.monotonic,
        break_item: Callable[[], Item | None] = lambda: None,
    ) -> None:
        self._next_item = next_item
        self._open_source = open_source
        self._safety = Deck(safety)
        self._crossfade = round(crossfade_seconds * sample_rate)
        self._skip_fade = round(skip_fade_seconds * sample_rate)
        self._prefetch = round(PREFETCH_SECONDS * sample_rate)
        self._on_failure = on_failure
        self._clock = clock
        self._deck: Deck | None = None
        self._prepared: Deck | None = None
        self._tail = silence(0)  # the outgoing item, already faded, still to be mixed in
        self._tail_pos = 0
        self._fade_in = silence(0)
        self._skip_requested = threading.Event()
        self._last_retry = -RETRY_SECONDS
        self._sample_rate = sample_rate
        self._announce: list[Item] = []  # items to report as starting at the next read
        self._announcing = threading.Lock()
        self._live: Deck | None = None  # a live input that takes over at the next cut
        # While a live input is on air: the clock item due that takes the air from it now,
        # or the next part of the one on air; None: the live input keeps (or takes back) the air.
        self._break_item = break_item
        self._breaking = False  # a clock item is on air over the live input, which waits
        self._last_break_check = -BREAK_CHECK_SECONDS

    @property
    def current(self) -> Item | None:
        return self._deck.item if self._deck is not None else None

    @property
    def upcoming(self) -> Item | None:
        """The item already lined up to follow, if the ending of the current one has begun."""
        prepared = self._prepared
        return prepared.item if prepared is not None else None

    @property
    def on_safety(self) -> bool:
        """Nothing from the scheduler is playing: the safety source covers (or nothing yet)."""
        return self._deck is None or self._deck is self._safety

    @property
    def remaining_seconds(self) -> float | None:
        """How much of the current item is still to be read, by its expected duration."""
        deck = self._deck
        if deck is None or deck is self._safety or deck.item.duration is None:
            return None
        return deck.item.duration - deck.played / self._sample_rate

    @property
    def live_on_air(self) -> bool:
        """A live input is what is being read."""
        return self._live is not None and self._deck is self._live

    @property
    def breaking(self) -> bool:
        """A clock item is being read in place of the live input, which waits for it."""
        return self._breaking

    def go_live(self, source: Source) -> None:
        """A live input takes over at the next cut (the clock's `interrupt`). What was lined
        up to follow is dropped: after the live input the scheduler is asked afresh."""
        self._live = Deck(source)
        self._breaking = False

    def retitle(self, item: Item) -> None:
        """The live input's new title, announced at the next read."""
        live = self._live
        if live is not None:
            live.item = item
            if self._deck is live:  # (during a clock item, it is announced on its return)
                with self._announcing:
                    self._announce.append(item)

    def skip(self) -> None:
        """Ask for the next item; takes effect at the next read. Safe from any thread."""
        self._skip_requested.set()

    def cut(self, heard: Pcm, skip_current: bool) -> None:
        """Take back what was read but never aired, from the frames after `heard`.

        `heard` is the start of what was taken back (it continues what listeners hear): it
        fades out while what comes next fades in. With `skip_current` the item being read is
        skipped; otherwise it goes on (it began in what was taken back, so it is announced
        again at the next read)."""
        self._skip_requested.clear()
        overlap = len(heard)
        self._tail, self._tail_pos = heard * fade_out(overlap), 0
        self._fade_in = fade_in(overlap)
        previous = self._deck
        if skip_current or previous is None:
            if previous is not None and previous is not self._safety:
                previous.close()
            self._deck = self._take_next()
        if self._deck is not previous or not skip_current:
            with self._announcing:
                self._announce.append(self._deck.item)

    def read(self, frames: int) -> Block:
        with self._announcing:
            block = Block(silence(frames), [(0, item) for item in self._announce])
            self._announce.clear()
        pos = 0
        while pos < frames:
            deck = self._deck
            if deck is None or self._skip_requested.is_set():
                self._skip_requested.clear()
                self._transition(self._skip_fade if deck is not None else 0, block, pos)
                continue
            if deck is self._safety and self._music_available():
                self._transition(self._crossfade, block, pos)
                continue
            if deck is self._live and not _ending(deck) and self._break_due():
                self._transition(self._crossfade, block, pos)
                continue
            run = self._frames_before_tail(deck, frames - pos)
            if run == 0:
                self._transition(min(self._crossfade, deck.buffered), block, pos)
                continue
            block.pcm[pos : pos + run] = self._play(run)
            pos += run
        return block

    def close(self) -> None:
        for deck in (self._deck, self._prepared, self._safety):
            if deck is not None:
                deck.close()

    def _frames_before_tail(self, deck: Deck, wanted: int) -> int:
        """How many frames may play before the current item's ending transition starts."""
        if deck is self._safety:
            return wanted
        if deck is self._live:  # no look-ahead: it ends with a fade-out of its own
            deck.fill(wanted)
            if deck.ended and self._prepared is None:
                self._prepared = self._open_next()
            return min(wanted, deck.buffered)
        deck.fill(wanted + self._crossfade + self._prefetch)
        if not deck.ended:
            return min(wanted, deck.buffered - self._crossfade)
        if self._prepared is None:
            self._prepared = self._open_next()  # start decoding early so the overlap is ready
        # A track shorter than two crossfades overlaps for half its length, so it is heard.
        overlap = min(self._crossfade, (deck.played + deck.buffered) // 2)
        return min(wanted, deck.buffered - overlap)

    def _transition(self, overlap: int, block: Block, pos: int) -> None:
        """Fade out what plays over `overlap` frames while the next item fades in."""
        overlap = max(overlap, len(self._tail) - self._tail_pos)
        outgoing = self._play(overlap) * fade_out(overlap) if overlap else silence(0)
        waits = self._deck is self._live and self._breaking  # for the clock item to end
        if self._deck is not None and self._deck is not self._safety and not waits:
            self._deck.close()
        self._tail, self._tail_pos, self._fade_in = outgoing, 0, fade_in(overlap)
        previous, self._deck = self._deck, self._take_next()
        if self._deck is not previous:
            block.starts.append((pos, self._deck.item))

    def _take_next(self) -> Deck:
        """The live input when one waits, else the next deck that really produces audio,
        else the safety source."""
        live = self._live
        if live is not None and self._breaking:
            deck = self._take_break_part()
            if deck is not None:
                return deck
            self._breaking = False  # no part is left: back to the live input, if it is still on
            if _ending(live):  # it ended while it waited (the host hung up): never heard again
                live.close()
            else:
                _catch_up(live)
        if live is not None and not live.ended and not live.source_closed:
            if self._deck is not live and self._prepared is not None:
                self._prepared.close()  # planned before the live input: asked afresh after
                self._prepared = None
            return live
        self._live = None
        for _ in range(MAX_ATTEMPTS):
            deck = self._prepared or self._open_next()
            self._prepared = None
            if deck is None:
                break
            deck.fill(1)
            if not deck.failed:
                return deck
            self._fail(deck.item, _reason(deck))
            deck.close()
        self._last_retry = self._clock()
        return self._safety

    def _break_due(self) -> bool:
        """While the live input is on air: is a clock item due that takes the air from it
        (asked every BREAK_CHECK_SECONDS)? If so it is lined up to follow at once."""
        now = self._clock()
        if now - self._last_break_check < BREAK_CHECK_SECONDS or self._prepared is not None:
            return False
        self._last_break_check = now
        self._breaking = True  # _open_next asks for the clock item
        self._prepared = self._open_next()
        if self._prepared is None:
            self._breaking = False
        return self._breaking

    def _take_break_part(self) -> Deck | None:
        """The clock item's part lined up to follow (one that really produces audio)."""
        for _ in range(MAX_ATTEMPTS):
            deck = self._prepared
            self._prepared = None
            if deck is None:
                return None
            deck.fill(1)
            if not deck.failed:
                return deck
            self._fail(deck.item, _reason(deck))
            deck.close()
            self._prepared = self._open_next()
        return None

    def _open_next(self) -> Deck | None:
        ask = self._break_item if self._breaking else self._next_item
        for _ in range(MAX_ATTEMPTS):
            item = ask()
            if item is None:
                return None
            try:
                return Deck(self._open_source(item))
            except Exception as error:  # one broken item must never stop the station
                self._fail(item, str(error) or type(error).__name__)
        return None

    def _music_available(self) -> bool:
        now = self._clock()
        if now - self._last_retry < RETRY_SECONDS:
            return False
        self._last_retry = now
        self._prepared = self._prepared or self._open_next()
        return self._prepared is not None

    def _play(self, frames: int) -> Pcm:
        """The next frames of what is on air: the current deck plus any fading tail."""
        assert self._deck is not None
        out = self._deck.take(frames)
        remaining = len(self._tail) - self._tail_pos
        if remaining > 0:
            n = min(frames, remaining)
            window = slice(self._tail_pos, self._tail_pos + n)
            out[:n] = out[:n] * self._fade_in[window] + self._tail[window]
            self._tail_pos += n
        return out

    def _fail(self, item: Item, reason: str) -> None:
        # Logged where it is reported (the station's problem list), once: not here too.
        log.debug("skipping %r: %s", item.display_title, reason)
        try:
            self._on_failure(item, reason)
        except Exception:
            log.exception("failure callback raised")


def _ending(deck: Deck) -> bool:
    """A live input that has ended, or is ending (it would only fade out)."""
    return deck.ended or deck.source_closed or bool(getattr(deck.source, "ending", False))


def _catch_up(deck: Deck) -> None:
    """A live input back on air after a clock item: from its live point, not from where it
    was left (the host heard the air and waited)."""
    deck.drop_buffer()
    catch_up = getattr(deck.source, "catch_up", None)
    if callable(catch_up):
        catch_up()


def _reason(deck: Deck) -> str:
    error = getattr(deck.source, "error", None)
    return error() if callable(error) else "produced no audio"
