"""Live shows: a host on air from their own software (an Icecast source on /live,
app/live/icecast.py) or from the browser, through one door: `station.live`.

`Live.begin` checks who may go live now (one live input at a time; a show's slot when the
station has shows) and hands the playout process a live input; `LiveFeed.feed` passes the
encoded audio on, bounded by the bitrate limit. The playout decodes it and takes over the
air only once its audio decodes (app/playout/live.py), and returns to the programme with a
fade when the feed ends, falls silent, or a host hands back. When the hourly news is due
during a live show (unless the show holds the news) the playout airs it over the live input
and then gives the air back: `status()` says "news" meanwhile. Every refusal is logged once
and shown to hosts (the Problems list, and `status()` at GET /api/live). All of it runs on
the event loop.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from app.core.item import Item, ItemKind
from app.live.oggtags import OggTitles
from app.problems import Problems

log = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 5.0  # the bitrate limit is measured over this
BURST_BYTES = 256 * 1024  # what a source may send at once on top (its encoder's start)
MAX_BACKLOG_BYTES = 4 << 20  # bytes the playout process has not taken yet: beyond, refused
LIVE_PROBLEM = "live"
KEEP_REFUSALS = 10


class LiveRefused(Exception):
    """A live source is refused: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Playout(Protocol):
    """What the live door needs of the playout process (app/stream/playout_process.py)."""

    def live_begin(self, item: Item, content_type: str, silence_seconds: float) -> None: ...
    def live_data(self, data: bytes) -> None: ...
    def live_title(self, item: Item) -> None: ...
    def live_end(self, reason: str) -> None: ...
    @property
    def pipe_backlog(self) -> int: ...


class Slot(Protocol):
    """A show's slot on air now (app/shows/)."""

    @property
    def name(self) -> str: ...
    @property
    def host_names(self) -> Sequence[str]: ...


class ShowRules(Protocol):
    """What the live door asks of the station's shows (app/shows/)."""

    def may_go_live(self, host_id: int, at: datetime) -> str | None: ...
    def current(self, at: datetime) -> Slot | None: ...


@dataclass
class Refusal:
    at: datetime
    host: str
    via: str
    status: int
    message: str


@dataclass
class LiveFeed:
    """One host's live input, from `Live.begin` until it ends."""

    live: Live
    host_id: int
    host_name: str
    content_type: str
    via: str
    item: Item
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: str = "starting"  # starting, on_air, ending, ended
    news: str | None = None  # while on air: the news that has the air from it (its title)
    ended_reason: str = ""
    on_end: list[Callable[[str], None]] = field(default_factory=list)
    _sent: deque[tuple[float, int]] = field(default_factory=deque)
    _window_bytes: int = 0
    _first_byte: float | None = None
    _ogg: OggTitles | None = None  # the titles in an Ogg input's comment headers
    _ogg_title: str = ""

    def __post_init__(self) -> None:
        if "ogg" in self.content_type.lower() or "opus" in self.content_type.lower():
            self._ogg = OggTitles()

    @property
    def on_air(self) -> bool:
        return self.state == "on_air"

    def feed(self, data: bytes) -> None:
        """The source's encoded audio as it arrives. Never blocks; raises LiveRefused when
        it comes faster than the bitrate limit, or after the station ended the feed."""
        if self.state in ("ending", "ended"):
            raise LiveRefused(410, f"the live input has ended: {self.ended_reason}")
        now = time.monotonic()
        if self._first_byte is None:
            self._first_byte = now
        self._sent.append((now, len(data)))
        self._window_bytes += len(data)
        while self._sent and self._sent[0][0] < now - RATE_WINDOW_SECONDS:
            self._window_bytes -= self._sent.popleft()[1]
        limit_kbps = self.live.max_kbps
        # The window fills from the first byte: a source sending far too fast is cut at once.
        window = min(RATE_WINDOW_SECONDS, now - self._first_byte)
        allowed = limit_kbps * 125 * window + BURST_BYTES
        if self._window_bytes > allowed:
            message = (f"the source sends more than the limit of {limit_kbps} kbps "
                       f"({self._window_bytes * 8 / 1000 / RATE_WINDOW_SECONDS:.0f} kbps over "
                       f"{RATE_WINDOW_SECONDS:.0f} s)")  # fmt: skip
            self.live._cut_off(self, 413, message)
            raise LiveRefused(413, message)
        if self.live.playout.pipe_backlog > MAX_BACKLOG_BYTES:
            message = "the playout cannot take the source's audio as fast as it comes"
            self.live._cut_off(self, 503, message)
            raise LiveRefused(503, message)
        self.live.playout.live_data(data)
        if self._ogg is not None:
            for title in self._ogg.feed(data):
                if title != self._ogg_title:
                    self._ogg_title = title
                    self.title(title)

    def title(self, text: str) -> None:
        """The source's new title: now playing, ICY titles and the push channel."""
        if self.state == "ended" or not text.strip():
            return
        artist, sep, title = text.strip().partition(" - ")  # Icecast's "Artist - Title"
        if not sep or not artist.strip() or not title.strip():
            artist, title = self.host_name, text.strip()
        self.item = Item(kind=ItemKind.live, title=title.strip(), artist=artist.strip())
        self.live.playout.live_title(self.item)

    def end(self, reason: str = "the source disconnected") -> None:
        """The source is done (it hung up): the programme returns with a fade."""
        self.live._end(self, reason)


class Live:
    def __init__(self, playout: Playout, problems: Problems, *, silence_seconds: float,
                 max_kbps: int, shows: ShowRules | None = None) -> None:  # fmt: skip
        self.playout = playout
        self.problems = problems
        self.silence_seconds = silence_seconds
        self.max_kbps = max_kbps
        self._shows = shows
        self.feed: LiveFeed | None = None
        self.refusals: deque[Refusal] = deque(maxlen=KEEP_REFUSALS)
        self.last_ended: dict[str, Any] | None = None

    @property
    def on_air(self) -> bool:
        return self.feed is not None and self.feed.on_air

    def begin(self, host_id: int, host_name: str, content_type: str, via: str) -> LiveFeed:
        """A host's live input begins (it takes over once its audio decodes). Raises
        LiveRefused: another live input is on (403, Icecast's "Mountpoint in use"), or the
        station's shows allow this host no live input now (403)."""
        current = self.feed
        if current is not None and current.state == "ending":
            self.refuse(host_name, via, 403, f"Mountpoint in use: {current.host_name}'s live "
                        "input is ending (the programme fades back in); go live again in a "
                        "moment")  # fmt: skip
        if current is not None:
            self.refuse(host_name, via, 403, f"Mountpoint in use: {current.host_name} is live "
                        f"(via {current.via}) until they end")  # fmt: skip
        shows = self._shows
        if shows is not None:
            sentence = shows.may_go_live(host_id, datetime.now(UTC))
            if sentence:
                self.refuse(host_name, via, 403, sentence)
        item = Item(kind=ItemKind.live, title=f"Live with {host_name}")
        slot = shows.current(datetime.now(UTC)) if shows is not None else None
        if slot is not None:
            item = Item(kind=ItemKind.live, title=slot.name, artist=", ".join(slot.host_names))
        feed = LiveFeed(self, host_id, host_name, content_type, via, item)
        self.feed = feed
        log.info("live: %s begins via %s (%s)", host_name, via, content_type or "probed")
        self.playout.live_begin(item, content_type, self.silence_seconds)
        return feed

    def refuse(self, host: str, via: str, status: int, message: str) -> None:
        """Log and show a refusal (the air is not touched), then raise it."""
        self.refusals.append(Refusal(datetime.now(UTC), host, via, status, message))
        self.problems.report(LIVE_PROBLEM, f"A live source was refused ({host or 'unknown'}, "
                             f"via {via})", f"{status}: {message}")  # fmt: skip
        self.problems.clear(LIVE_PROBLEM, "the air was not touched")
        raise LiveRefused(status, message)

    def hand_back(self, by: str) -> bool:
        """A host hands the air back to the programme (the dashboard). False: nobody is live."""
        feed = self.feed
        if feed is None:
            return False
        self._end(feed, f"{by} handed back to the programme")
        return True

    def status(self) -> dict[str, Any]:
        """The live input as hosts see it; its state is "news" while the news has the air
        from it (`news`: its title)."""
        feed = self.feed
        state = feed.state if feed is not None else "off"
        news = feed.news if feed is not None and state == "on_air" else None
        return {
            "state": "news" if news is not None else state,
            "news": news,
            "host": feed.host_name if feed is not None else None,
            "via": feed.via if feed is not None else None,
            "since": feed.started_at.isoformat() if feed is not None else None,
            "title": feed.item.display_title if feed is not None else None,
            "max_kbps": self.max_kbps,
            "silence_seconds": self.silence_seconds,
            "last_ended": self.last_ended,
            "refusals": [
                {
                    "at": r.at.isoformat(),
                    "host": r.host,
                    "via": r.via,
                    "status": r.status,
                    "message": r.message,
                }
                for r in reversed(self.refusals)
            ],
        }

    # -- the playout's answers (PlayoutProcess's on_live, on the event loop) ------------------

    def on_playout(self, state: str, reason: str) -> None:
        feed = self.feed
        if feed is None:
            return
        if state == "on_air":
            if feed.news is not None:
                log.info("live: %s has the air back after the news", feed.host_name)
            else:
                log.info("live: %s is on air", feed.host_name)
            feed.state, feed.news = "on_air", None
        elif state == "news":
            feed.news = reason or "News"
            log.info("live: the news (%s) has the air from %s", feed.news, feed.host_name)
        elif state == "refused":
            self.feed = None
            self._finish(feed, reason)
            self.refusals.append(
                Refusal(
                    datetime.now(UTC),
                    feed.host_name,
                    feed.via,
                    415,
                    f"its audio could not be decoded: {reason}",
                )
            )
            self.problems.report(
                LIVE_PROBLEM,
                f"A live source was refused ({feed.host_name}, "
                f"via {feed.via}): its audio could not be decoded",
                reason,
            )
            self.problems.clear(LIVE_PROBLEM, "the air was not touched")
        else:  # ended: the programme is back
            self.feed = None
            self._finish(feed, reason)
            log.info("live: %s ended (%s); the programme is back", feed.host_name, reason)

    # -- inside -------------------------------------------------------------------------------

    def _end(self, feed: LiveFeed, reason: str) -> None:
        if self.feed is not feed or feed.state in ("ending", "ended"):
            return
        feed.state, feed.ended_reason = "ending", reason
        self.playout.live_end(reason)

    def _cut_off(self, feed: LiveFeed, status: int, message: str) -> None:
        self.refusals.append(Refusal(datetime.now(UTC), feed.host_name, feed.via, status, message))
        self.problems.report(LIVE_PROBLEM, f"A live source was cut off ({feed.host_name}, via "
                             f"{feed.via})", message)  # fmt: skip
        self.problems.clear(LIVE_PROBLEM, "the programme returned")
        self._end(feed, message)

    def _finish(self, feed: LiveFeed, reason: str) -> None:
        feed.state = "ended"
        feed.ended_reason = feed.ended_reason or reason
        self.last_ended = {"host": feed.host_name, "via": feed.via, "reason": reason,
                           "at": datetime.now(UTC).isoformat()}  # fmt: skip
        for callback in feed.on_end:
            try:
                callback(reason)
            except Exception:
                log.exception("a live feed's end callback failed")
