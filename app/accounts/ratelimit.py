"""Throttling sign-ins, per client address and per username, so passwords cannot be guessed
at speed; and sliding-window counts for any other per-key limit. Pure logic over an
injectable clock; memory stays bounded; safe to call from the event loop and from threads."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

Clock = Callable[[], float]


class FailureWindow:
    """At most `limit` events (failures, attempts, votes) per key within a sliding `window`
    of seconds. `take` checks and records in one step, so parallel callers cannot all pass."""

    def __init__(self, limit: int, window: float, clock: Clock = time.monotonic,
                 max_keys: int = 10_000) -> None:  # fmt: skip
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        with self._lock:
            return self._wait(key)

    def fail(self, key: str) -> None:
        with self._lock:
            self._record(key)

    def take(self, key: str) -> float:
        """Record an event for `key` if it is under the limit and return 0; else record
        nothing and return the seconds to wait. Check and record are one atomic step."""
        with self._lock:
            if wait := self._wait(key):
                return wait
            self._record(key)
            return 0.0

    def give_back(self, key: str) -> None:
        """Undo one `take` (the newest): the event it stood for did not count after all."""
        with self._lock:
            failures = self._failures.get(key)
            if failures:
                failures.pop()

    def forget(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _wait(self, key: str) -> float:
        failures = self._recent(key)
        if len(failures) < self.limit:
            return 0.0
        return failures[-self.limit] + self.window - self._clock()

    def _record(self, key: str) -> None:
        failures = self._recent(key)
        failures.append(self._clock())
        self._failures[key] = failures
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:  # forget the stalest, never grow unbounded
            self._failures.popitem(last=False)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key, deque())
        horizon = self._clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures


class LoginThrottle:
    """Sign-in attempts limited per client address and per username. An attempt is reserved
    before the password is checked (argon2 costs 64 MiB and a good fraction of a second), so
    parallel guesses cannot all slip through; a success gives the address's attempt back and
    clears the username's count, so one good account cannot launder guesses. Beside it, a
    cap on the checks in flight at once keeps a flood from tying up the worker threads."""

    def __init__(self, clock: Clock = time.monotonic, per_user: int = 5, per_address: int = 20,
                 window: float = 60.0, max_checking: int = 8) -> None:  # fmt: skip
        self._users = FailureWindow(per_user, window, clock)
        self._addresses = FailureWindow(per_address, window, clock)
        self._lock = threading.Lock()
        self._checking = 0
        self._max_checking = max_checking

    def attempt(self, address: str, username: str) -> int:
        """Reserve one attempt for this address and name: 0 when reserved (go on and check the
        password), else the whole seconds to wait (for Retry-After) and nothing is reserved."""
        with self._lock:
            wait = max(self._addresses.retry_after(address), self._users.retry_after(username))
            if wait > 0:
                return math.ceil(wait)
            self._addresses.fail(address)
            self._users.fail(username)
            return 0

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._addresses.give_back(address)
            self._users.forget(username)

    def not_checked(self, address: str, username: str) -> None:
        """The reserved attempt was refused before its password was checked: give it back."""
        with self._lock:
            self._addresses.give_back(address)
            self._users.give_back(username)

    def start_check(self) -> bool:
        """One more password check in flight, unless `max_checking` are already; then False."""
        with self._lock:
            if self._checking >= self._max_checking:
                return False
            self._checking += 1
            return True

    def end_check(self) -> None:
        with self._lock:
            self._checking -= 1
