"""Sign-in attempts are throttled per address and per username, on a fake clock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from app.accounts.ratelimit import FailureWindow, LoginThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_attempts_for_a_name_block_it_until_the_window_passes() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(5):
        assert throttle.attempt("10.0.0.1", "alice") == 0
        clock.now += 1
    assert throttle.attempt("10.0.0.1", "alice") == 55  # the first attempt was 5 s ago
    assert throttle.attempt("10.0.0.2", "alice") == 55  # another address: same name
    assert throttle.attempt("10.0.0.1", "bob") == 0  # another name, under the address cap
    clock.now += 55
    assert throttle.attempt("10.0.0.1", "alice") == 0


def test_one_address_guessing_many_names_is_blocked() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for i in range(20):
        assert throttle.attempt("10.0.0.1", f"name{i}") == 0
    assert throttle.attempt("10.0.0.1", "fresh-name") == 60
    assert throttle.attempt("10.0.0.9", "fresh-name") == 0


def test_a_success_clears_the_name_and_gives_the_address_its_attempt_back() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock, per_user=2, per_address=3)
    assert throttle.attempt("10.0.0.1", "alice") == 0
    assert throttle.attempt("10.0.0.1", "alice") == 0
    throttle.succeeded("10.0.0.1", "alice")  # the second attempt was the right password
    assert throttle.attempt("10.0.0.2", "alice") == 0
    assert throttle.attempt("10.0.0.1", "bob") == 0
    assert throttle.attempt("10.0.0.1", "carol") == 0  # the address's third: the success freed one
    assert throttle.attempt("10.0.0.1", "dave") == 60


def test_parallel_attempts_cannot_all_pass_the_check() -> None:
    throttle = LoginThrottle(FakeClock(), per_user=5, per_address=20)
    with ThreadPoolExecutor(25) as pool:
        waits = list(pool.map(lambda _: throttle.attempt("10.0.0.1", "alice"), range(200)))
    assert waits.count(0) == 5


def test_an_attempt_refused_before_its_check_is_given_back() -> None:
    throttle = LoginThrottle(FakeClock(), per_user=1, max_checking=1)
    assert throttle.attempt("10.0.0.1", "alice") == 0
    assert throttle.start_check()
    assert throttle.attempt("10.0.0.1", "bob") == 0
    assert not throttle.start_check()  # one check already in flight
    throttle.not_checked("10.0.0.1", "bob")
    throttle.end_check()
    assert throttle.attempt("10.0.0.1", "bob") == 0
    assert throttle.start_check()


def test_memory_stays_bounded_under_a_flood_of_names() -> None:
    window = FailureWindow(limit=1, window=60, clock=FakeClock(), max_keys=100)
    for i in range(10_000):
        window.fail(f"name{i}")
    assert len(window._failures) == 100
    assert window.retry_after("name9999") > 0
