"""Failed logins are throttled per address and per username, on a fake clock."""

from __future__ import annotations

from app.accounts.ratelimit import FailureWindow, LoginThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_for_a_name_block_it_until_the_window_passes() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(5):
        assert throttle.retry_after("10.0.0.1", "alice") == 0
        throttle.failed("10.0.0.1", "alice")
        clock.now += 1
    assert throttle.retry_after("10.0.0.1", "alice") == 55  # the first failure was 5 s ago
    assert throttle.retry_after("10.0.0.2", "alice") == 55  # another address: same name
    assert throttle.retry_after("10.0.0.1", "bob") == 0  # another name, under the address cap
    clock.now += 55
    assert throttle.retry_after("10.0.0.1", "alice") == 0


def test_one_address_guessing_many_names_is_blocked() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for i in range(20):
        throttle.failed("10.0.0.1", f"name{i}")
    assert throttle.retry_after("10.0.0.1", "fresh-name") == 60
    assert throttle.retry_after("10.0.0.9", "fresh-name") == 0


def test_a_success_clears_the_name_but_not_the_address() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock, per_user=2, per_address=3)
    throttle.failed("10.0.0.1", "alice")
    throttle.failed("10.0.0.1", "alice")
    throttle.succeeded("alice")
    assert throttle.retry_after("10.0.0.2", "alice") == 0
    throttle.failed("10.0.0.1", "alice")
    assert throttle.retry_after("10.0.0.1", "carol") == 60


def test_memory_stays_bounded_under_a_flood_of_names() -> None:
    window = FailureWindow(limit=1, window=60, clock=FakeClock(), max_keys=100)
    for i in range(10_000):
        window.fail(f"name{i}")
    assert len(window._failures) == 100
    assert window.retry_after("name9999") > 0
