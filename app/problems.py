"""Faults the station met and lives with, for hosts: what, why, since when, cleared when.

A fault is reported under a key, one per thing that can go wrong ("database", "encoder",
"track:12", ...). The first report of an open problem logs it once, with its cause; reports
while it stays open (a retry loop meeting the same fault) only count. Clearing it (the cause
went away, the station is back to normal) logs once too, and keeps it in the list, marked
cleared, until newer problems push it out: the list holds at most `limit` problems, and the
oldest cleared ones go first. Safe from any thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

log = logging.getLogger(__name__)

MAX_PROBLEMS = 100
MAX_TEXT = 500  # characters of `what` and `cause` kept (an error may quote a whole file)


@dataclass(frozen=True)
class Problem:
    id: int
    key: str
    what: str  # what went wrong, and what the station does about it
    cause: str  # why: the error as the failing part gave it
    since: datetime
    last_seen: datetime
    count: int  # reports while open: one per retry that met the fault again
    cleared_at: datetime | None = None
    cleared: str = ""  # how it cleared


class Problems:
    def __init__(self, limit: int = MAX_PROBLEMS,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self._limit = limit
        self._now = now
        self._lock = threading.Lock()
        self._problems: list[Problem] = []  # oldest first
        self._last_id = 0

    def report(self, key: str, what: str, cause: str) -> bool:
        """The fault under `key` happened (again). True when it was not open before: then
        it is logged, with its cause."""
        what, cause = what[:MAX_TEXT], cause[:MAX_TEXT]
        now = self._now()
        with self._lock:
            index = self._open_index(key)
            if index is not None:
                old = self._problems[index]
                self._problems[index] = replace(old, last_seen=now, count=old.count + 1)
                return False
            self._last_id += 1
            self._problems.append(Problem(self._last_id, key, what, cause, now, now, 1))
            self._trim()
        log.warning("problem: %s: %s", what, cause)
        return True

    def clear(self, key: str, how: str = "") -> bool:
        """The fault under `key` is over. True when it was open: then that is logged."""
        with self._lock:
            index = self._open_index(key)
            if index is None:
                return False
            problem = replace(self._problems[index], cleared_at=self._now(), cleared=how)
            self._problems[index] = problem
        log.info("problem cleared: %s%s", problem.what, f" ({how})" if how else "")
        return True

    def is_open(self, key: str) -> bool:
        with self._lock:
            return self._open_index(key) is not None

    def open_keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [p.key for p in self._problems if p.cleared_at is None
                    and p.key.startswith(prefix)]  # fmt: skip

    def snapshot(self) -> list[Problem]:
        """Every problem kept, newest first."""
        with self._lock:
            return self._problems[::-1]

    def _open_index(self, key: str) -> int | None:
        for index in range(len(self._problems) - 1, -1, -1):
            problem = self._problems[index]
            if problem.key == key and problem.cleared_at is None:
                return index
        return None

    def _trim(self) -> None:
        while len(self._problems) > self._limit:
            cleared = next((i for i, p in enumerate(self._problems) if p.cleared_at), None)
            del self._problems[cleared if cleared is not None else 0]
