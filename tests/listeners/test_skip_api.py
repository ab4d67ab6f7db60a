"""POST /api/skip through the real station: listeners' votes, and hosts who skip at once."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import tone_library
from tests.listen import StreamCapture
from tests.station import ADMIN_NAME, ADMIN_PASSWORD, RunningStation

pytestmark = pytest.mark.realtime

ANN = "ann-skip-voter-cookie-01"
BEE = "bee-skip-voter-cookie-02"
CAT = "cat-not-listening-cookie"
TONES = [(330.0, 60, "T330"), (440.0, 60, "T440"), (550.0, 60, "T550"), (660.0, 60, "T660")]


def vote(station: RunningStation, cookie: str | None) -> httpx.Response:
    cookies = {"radio_listener": cookie} if cookie else None
    return httpx.post(station.url + "/api/skip", cookies=cookies, timeout=10)


@contextlib.contextmanager
def listening(station: RunningStation, *cookies: str) -> Iterator[None]:
    """Tune in one stream connection per cookie, until the station counts them all."""
    captures = [StreamCapture(station.port, extra_headers=f"Cookie: radio_listener={cookie}\r\n")
                for cookie in cookies]  # fmt: skip
    try:
        station.wait_for(lambda s: s["listeners"] == len(cookies), timeout=5)
        yield
    finally:
        for capture in captures:
            capture.stop()


def pushed_events(station: RunningStation) -> list[dict[str, Any]]:
    """Subscribe to the push channel in the background; returns the list it fills."""
    events: list[dict[str, Any]] = []
    subscribed = threading.Event()

    def read() -> None:
        url = station.url + "/api/now-playing/events"
        with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", url, timeout=None) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    subscribed.set()

    threading.Thread(target=read, daemon=True).start()
    assert subscribed.wait(5), "no first event from the push channel"
    return events


def wait_until(condition: Any, timeout: float = 2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_two_listeners_vote_an_item_off_air(tmp_path: Path, launch: Any) -> None:
    tone_library(tmp_path / "media", TONES)
    station = launch(skip_vote_minimum=2, scan_interval_seconds=3600)
    before = station.wait_for_music()["current"]["title"]
    assert station.now_playing()["skip"] == {"votes": 0, "needed": 2, "votable": True}

    with listening(station, ANN, BEE):
        events = pushed_events(station)
        first = vote(station, ANN)
        assert first.status_code == 200, first.text
        assert first.json() == {"skipped": False, "by": "listeners", "votes": 1, "needed": 2}
        assert wait_until(lambda: events[-1]["skip"]["votes"] == 1), "the vote was not pushed"
        state = station.now_playing()
        assert state["current"]["title"] == before
        assert state["skip"] == {"votes": 1, "needed": 2, "votable": True}

        again = vote(station, ANN)
        assert again.status_code == 409
        assert again.json() == {"detail": "you have already voted to skip this item",
                                "votes": 1, "needed": 2}  # fmt: skip
        for outsider in (CAT, None):  # a cookie not on the stream, and no cookie at all
            refused = vote(station, outsider)
            assert refused.status_code == 409
            assert "tuned in to the stream" in refused.json()["detail"]
        assert station.now_playing()["skip"]["votes"] == 1

        second = vote(station, BEE)
        assert second.json() == {"skipped": True, "by": "listeners", "votes": 2, "needed": 2}
        after = station.wait_for(lambda s: s["current"]["title"] != before, timeout=3)
        assert after["skip"] == {"votes": 0, "needed": 2, "votable": True}

        cooling = vote(station, ANN)  # the next item, within the cooldown
        assert cooling.status_code == 409
        assert "you can vote again in" in cooling.json()["detail"]
        assert 1 <= int(cooling.headers["retry-after"]) <= 30


def tune_in(station: RunningStation, cookie: str) -> StreamCapture:
    return StreamCapture(station.port, extra_headers=f"Cookie: radio_listener={cookie}\r\n")


def test_listeners_who_leave_change_the_count(tmp_path: Path, launch: Any) -> None:
    tone_library(tmp_path / "media", TONES)
    station = launch(skip_vote_share=1.0, scan_interval_seconds=3600)
    first = station.wait_for_music()["current"]["title"]
    ann, bee, cat = (tune_in(station, cookie) for cookie in (ANN, BEE, CAT))
    try:
        station.wait_for(lambda s: s["listeners"] == 3, timeout=5)
        assert vote(station, ANN).json()["votes"] == 1
        assert vote(station, CAT).json() == {"skipped": False, "by": "listeners",
                                             "votes": 2, "needed": 3}  # fmt: skip
        cat.stop()  # CAT's vote leaves with CAT: 1 of 2
        state = station.wait_for(lambda s: s["listeners"] == 2, timeout=5)
        assert state["skip"] == {"votes": 1, "needed": 2, "votable": True}
        assert state["current"]["title"] == first
        bee.stop()  # now ANN alone is every listener, and ANN has voted: skipped
        station.wait_for(lambda s: s["current"]["title"] != first, timeout=5)
    finally:
        for capture in (ann, bee, cat):
            capture.stop()


def test_a_host_skips_at_once_and_bad_credentials_are_no_vote(tmp_path: Path, launch: Any) -> None:
    tone_library(tmp_path / "media", TONES)
    station = launch(skip_vote_minimum=5, scan_interval_seconds=3600)
    before = station.wait_for_music()["current"]["title"]

    with listening(station, ANN):
        wrong = httpx.post(station.url + "/api/skip", cookies={"radio_listener": ANN},
                           headers=station.auth("radio_wrong-token"), timeout=10)  # fmt: skip
        assert wrong.status_code == 401
        expired = httpx.post(station.url + "/api/skip", timeout=10,
                             cookies={"radio_listener": ANN, "radio_session": "gone"})  # fmt: skip
        assert expired.status_code == 401
        assert station.now_playing()["skip"]["votes"] == 0  # neither counted as Ann's vote

        by_token = station.post("/api/skip")
        assert by_token.json() == {"skipped": True, "by": "host", "host": ADMIN_NAME}
        middle = station.wait_for(lambda s: s["current"]["title"] != before, timeout=3)
        skipped_by_token = middle["current"]["title"]

        with httpx.Client(base_url=station.url, timeout=10) as browser:
            admin = {"username": ADMIN_NAME, "password": ADMIN_PASSWORD}
            signed_in = browser.post("/api/session", json=admin)
            csrf = signed_in.json()["csrf_token"]
            assert browser.post("/api/skip").status_code == 403  # a cookie alone: maybe forged
            by_cookie = browser.post("/api/skip", headers={"X-CSRF-Token": csrf})
            assert by_cookie.json()["by"] == "host"
        station.wait_for(lambda s: s["current"]["title"] != skipped_by_token, timeout=3)
