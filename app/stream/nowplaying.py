"""Now playing, as heard at the live point of the stream, and its push channel."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.core.item import Item, ItemKind
from app.library.artwork import cover_url

HISTORY_SIZE = 10
SUBSCRIBER_QUEUE = 16
NO_SKIP_VOTES: dict[str, Any] = {"votes": 0, "needed": 0, "votable": False}
# A push channel's last update (by identity): the station is stopping, the channel ends.
CLOSED: dict[str, Any] = {}


@dataclass(frozen=True)
class Aired:
    item: Item
    started_at: datetime
    # Where its first audio is in the stream, in seconds of audio from the stream's first byte
    # (StreamHub.stream_seconds): players place it against their own position in the stream.
    stream_at: float | None = None


def item_json(item: Item | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {
        "kind": item.kind.value,
        "artist": item.artist,
        "title": item.title,
        "album": item.album,
        "display_title": item.display_title,
        "duration": round(item.duration, 3) if item.duration is not None else None,
        "track_id": item.track_id,
        "url": item.url or None,  # a story's article page
        "article_id": item.article_id,
        "cover": cover_url(item.track_id, item.artist, item.title),
        "requested_by": item.requested_by or None,  # a listener's request: their name
    }


class NowPlaying:
    def __init__(
        self,
        upcoming: Callable[[], Item | None],
        listener_count: Callable[[], int],
        history: list[Aired],
        record: Callable[[Aired], None] = lambda aired: None,
        clock: Callable[[], float] = time.time,
        skip_votes: Callable[[], dict[str, Any]] = lambda: NO_SKIP_VOTES,
        mount_listeners: Callable[[], dict[str, int]] = dict,
        show: Callable[[], dict[str, Any] | None] = lambda: None,
    ) -> None:
        self._show = show  # the show whose slot is on (app/shows/), or None
        self._upcoming = upcoming
        self._listener_count = listener_count
        self._mount_listeners = mount_listeners  # live listeners by mount path
        self._skip_votes = skip_votes
        self._record = record
        self._clock = clock
        self.current: Aired | None = None  # what listeners are told is playing
        self.airing: Aired | None = None  # what really is on air: a jingle too
        self.history: deque[Aired] = deque(history[:HISTORY_SIZE], maxlen=HISTORY_SIZE)
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._announced: dict[str, Any] | None = None  # the latest pushed snapshot
        self._closed = False

    def on_item_live(self, item: Item, stream_at: float | None = None) -> None:
        """The first audio of `item` has just reached the live point, at `stream_at`."""
        started_at = datetime.fromtimestamp(self._clock(), UTC)
        stream_at = None if stream_at is None else round(stream_at, 3)
        current = self.current
        if (current is not None and current.item.kind is ItemKind.safety and self.history
                and self.history[0].item is item):  # fmt: skip
            # The item goes on after the safety source stood in for a while (the playout's
            # encoder failed): the same play, not a new one.
            self.airing = self.current = Aired(item, self.history.popleft().started_at, stream_at)
            self.announce()
            return
        self.airing = Aired(item, started_at, stream_at)
        self._record(self.airing)
        if not item.keeps_title:
            # The safety source is no programme: "recently played" never lists it.
            if self.current is not None and self.current.item.kind is not ItemKind.safety:
                self.history.appendleft(self.current)
            self.current = self.airing
        # A jingle keeps the title, but is announced too: the skip votes start over with it.
        self.announce()

    def announce(self) -> None:
        """Push a fresh snapshot to every subscriber, now (on the event loop)."""
        snapshot = self._announced = self.snapshot()
        for queue in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):  # a stuck subscriber misses updates
                queue.put_nowait(snapshot)

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        current = None
        if self.current is not None:
            current = item_json(self.current.item) or {}
            current["started_at"] = self.current.started_at.isoformat()
            current["stream_at"] = self.current.stream_at
            current["elapsed"] = round(now - self.current.started_at.timestamp(), 3)
        return {
            "current": current,
            "next": item_json(self._upcoming()),
            "history": [
                {
                    **(item_json(aired.item) or {}),
                    "started_at": aired.started_at.isoformat(),
                    "stream_at": aired.stream_at,
                }
                for aired in self.history
            ],
            "listeners": self._listener_count(),
            "mounts": self._mount_listeners(),
            "skip": self._skip_votes(),
            "show": self._show(),
        }

    def announced(self) -> dict[str, Any]:
        """The latest snapshot pushed, its elapsed time brought up to now: for pages rendered
        off the event loop (one reference read, so any thread may ask). Before the first item
        nothing is on air."""
        snapshot = self._announced
        if snapshot is None:
            return {"current": None, "next": None, "history": [], "listeners": 0,
                    "mounts": {}, "skip": NO_SKIP_VOTES, "show": self._show()}  # fmt: skip
        current = snapshot["current"]
        if current is not None:
            started = datetime.fromisoformat(current["started_at"]).timestamp()
            current = {**current, "elapsed": round(self._clock() - started, 3)}
        return {**snapshot, "current": current, "show": self._show()}

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A queue of the snapshots pushed from now on, and CLOSED when the station stops (at
        once, if it is stopping already): nothing after it is read."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        if self._closed:
            _end(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def close(self) -> None:
        """The station is stopping (on the event loop): every push channel ends now, rather
        than hold the server's stop until its grace runs out. Players reconnect."""
        self._closed = True
        for queue in self._subscribers:
            _end(queue)


def _end(queue: asyncio.Queue[dict[str, Any]]) -> None:
    """CLOSED is next in `queue`, full or not: what it holds is stale."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(CLOSED)
