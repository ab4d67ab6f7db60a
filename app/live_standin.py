"""STAND-IN for `station.live`, on the webdj branch only: drop this module when merging the
**live** branch (issue 13 item 2), which builds the real one in `app/live/`.

It keeps the contract of COMMON.md ("Issue 13 items 2-6") just far enough for the browser's
"Go live" route (app/api/live_ws.py) to run and be tested: one live source at a time (a
second is refused), a feed that counts what it is sent, says it is on air from its first
bytes, and refuses bytes once ended. It takes nothing over: the air never hears it.

Dropping it: delete this file, its two lines in app/station.py (the import and
`self.live = StandinLive()`), and import `LiveRefused` in app/api/live_ws.py from where the
live branch defines it (`from app.live import LiveRefused`).
"""

from __future__ import annotations

import threading


class LiveRefused(Exception):  # the contract's name
    """The station will not take (or no longer takes) a live source: `status` as HTTP would
    answer it, `message` a sentence to show the host."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StandinFeed:
    def __init__(self, live: StandinLive, host_name: str, via: str) -> None:
        self._live = live
        self.host_name = host_name
        self.via = via
        self.received = 0  # bytes fed
        self.titles: list[str] = []
        self.on_air = False
        self.ended = False

    def feed(self, data: bytes) -> None:
        if self.ended:
            raise LiveRefused(409, "This live show has ended.")
        self.received += len(data)
        self.on_air = True

    def title(self, text: str) -> None:
        self.titles.append(text)

    def end(self) -> None:
        self.ended, self.on_air = True, False
        self._live._ended(self)


class StandinLive:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: StandinFeed | None = None

    def begin(self, host_id: int, host_name: str, content_type: str, via: str) -> StandinFeed:
        with self._lock:
            if self.current is not None:
                raise LiveRefused(
                    409,
                    f"Another source is live: {self.current.host_name} (from "
                    f"{self.current.via}). Try again when they have handed back.",
                )
            self.current = StandinFeed(self, host_name, via)
            return self.current

    def _ended(self, feed: StandinFeed) -> None:
        with self._lock:
            if self.current is feed:
                self.current = None
