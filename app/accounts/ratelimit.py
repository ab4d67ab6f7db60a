"""Throttling failed logins, per client address and per username, so passwords cannot be
guessed at speed. Pure logic over an injectable clock; memory stays bounded."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

Clock = Callable[[], float]


class FailureWindow:
    """At most `limit` failures per key within a sliding `window` of seconds."""

    def __init__(self, limit: int, window: float, clock: Clock = time.monotonic,
                 max_keys: int = 10_000) -> None:  # fmt: skip
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        failures = self._recent(key)
        if len(failures) < self.limit:
            return 0.0
        return failures[-self.limit] + self.window - self._clock()

    def fail(self, key: str) -> None:
        failures = self._recent(key)
        failures.append(self._clock())
        self._failures[key] = failures
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:  # forget the stalest, never grow unbounded
            self._failures.popitem(last=False)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key, deque())
        horizon = self._clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures


class LoginThrottle:
    """Failed logins limited per client address and per username. A success clears the
    username's count but not the address's, so one good account cannot launder guesses."""

    def __init__(self, clock: Clock = time.monotonic, per_user: int = 5, per_address: int = 20,
                 window: float = 60.0) -> None:  # fmt: skip
        self._users = FailureWindow(per_user, window, clock)
        self._addresses = FailureWindow(per_address, window, clock)

    def retry_after(self, address: str, username: str) -> int:
        """Whole seconds to wait before trying again (for Retry-After); 0: go ahead."""
        wait = max(self._addresses.retry_after(address), self._users.retry_after(username))
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, address: str, username: str) -> None:
        self._addresses.fail(address)
        self._users.fail(username)

    def succeeded(self, username: str) -> None:
        self._users.forget(username)
