"""The simple rotation: shuffle through the library, no track again until the rest have played.

The full scheduler (playlists, clock rules) replaces this later; the playout only needs
`next_item()` and `peek()`.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from app.db import SessionFactory
from app.library.analysis import gain_db
from app.models import Track, TrackKind, TrackStatus
from app.scheduler.item import Item, ItemKind


class ShuffleBag:
    """Deals ids in random order; refills when empty, never starting with the id just dealt."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._bag: list[int] = []
        self._last: int | None = None

    def deal(self, available: Sequence[int]) -> int | None:
        if not available:
            return None
        present = set(available)
        self._bag = [i for i in self._bag if i in present]
        if not self._bag:
            self._bag = list(available)
            self._rng.shuffle(self._bag)
            # The bag is dealt from the end; keep the last track of the old round off the start.
            if len(self._bag) > 1 and self._bag[-1] == self._last:
                self._bag[0], self._bag[-1] = self._bag[-1], self._bag[0]
        self._last = self._bag.pop()
        return self._last


def should_play_jingle(songs_since_jingle: int, jingle_every: int) -> bool:
    return jingle_every > 0 and songs_since_jingle >= jingle_every


class Rotation:
    """Picks the next item from the ready tracks in the database. Thread-safe."""

    def __init__(
        self,
        sessions: SessionFactory,
        media_dir: Path,
        target_lufs: float,
        jingle_every: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._media_dir = media_dir
        self._target_lufs = target_lufs
        self._jingle_every = jingle_every
        rng = rng or random.Random()
        self._music = ShuffleBag(rng)
        self._jingles = ShuffleBag(rng)
        self._songs_since_jingle = 0
        self._upcoming: Item | None = None
        self._lock = threading.Lock()

    def next_item(self) -> Item | None:
        with self._lock:
            item = self._upcoming or self._pick()
            self._upcoming = None
            return item

    def peek(self) -> Item | None:
        """The item that `next_item()` will return, chosen now so that it stays stable."""
        with self._lock:
            if self._upcoming is None:
                self._upcoming = self._pick()
            return self._upcoming

    def forget_upcoming(self) -> None:
        """Drop the chosen upcoming item, e.g. after the library changed under it."""
        with self._lock:
            self._upcoming = None

    def _pick(self) -> Item | None:
        if should_play_jingle(self._songs_since_jingle, self._jingle_every):
            jingle = self._deal(TrackKind.jingle, self._jingles)
            if jingle is not None:
                self._songs_since_jingle = 0
                return jingle
        song = self._deal(TrackKind.music, self._music)
        if song is not None:
            self._songs_since_jingle += 1
        return song

    def _deal(self, kind: TrackKind, bag: ShuffleBag) -> Item | None:
        with self._sessions() as session:
            ids = session.scalars(
                select(Track.id).where(Track.kind == kind, Track.status == TrackStatus.ready)
            ).all()
            track_id = bag.deal(ids)
            track = session.get(Track, track_id) if track_id is not None else None
            return self.item_for(track) if track is not None else None

    def item_for(self, track: Track) -> Item:
        cue_out = track.cue_out if track.cue_out is not None else track.duration
        loudness = track.loudness_lufs
        return Item(
            kind=ItemKind(track.kind.value),
            title=track.title,
            artist=track.artist,
            album=track.album,
            duration=(cue_out - track.cue_in) if cue_out is not None else None,
            track_id=track.id,
            path=self._media_dir / track.path,
            gain_db=gain_db(loudness, self._target_lufs) if loudness is not None else 0.0,
            cue_in=track.cue_in,
            cue_out=cue_out,
        )
