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
from tests.listen import BYTES_PER_SECOND, StreamCapture
from tests.station import ADMIN_NAME, ADMIN_PASSWORD, RunningStation

pytestmark = pytest.mark.realtime

TONES = [(330.0, 60, "T330"), (440.0, 60, "T440"), (550.0, 60, "T550"), (660.0, 60, "T660")]


def vote(station: RunningStation, cookie: str | None, source: str = "127.0.0.1") -> httpx.Response:
    """POST /api/skip with this listener cookie, from this (loopback) address."""
    cookies = {"radio_listener": cookie} if cookie else None
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, cookies=cookies, timeout=10) as client:
        return client.post(station.url + "/api/skip")


@contextlib.contextmanager
def listening(station: RunningStation, *cookies: str) -> Iterator[None]:
    """Tune in one stream connection per cookie, until the station counts them all."""
    captures = [tune_in(station, cookie) for cookie in cookies]
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
    station = launch(skip_vote_minimum=2, scan_interval_seconds=3600,
                     skip_vote_listen_seconds=0)  # fmt: skip
    ann, bee, cat = (station.new_listener() for _ in range(3))
    before = station.wait_for_music()["current"]["title"]
    assert station.now_playing()["skip"] == {"votes": 0, "needed": 2, "votable": True}

    with listening(station, ann, bee):
        events = pushed_events(station)
        first = vote(station, ann)
        assert first.status_code == 200, first.text
        assert first.json() == {"skipped": False, "by": "listeners", "votes": 1, "needed": 2}
        assert wait_until(lambda: events[-1]["skip"]["votes"] == 1), "the vote was not pushed"
        state = station.now_playing()
        assert state["current"]["title"] == before
        assert state["skip"] == {"votes": 1, "needed": 2, "votable": True}

        again = vote(station, ann)
        assert again.status_code == 409
        assert again.json() == {"detail": "you have already voted to skip this item",
                                "votes": 1, "needed": 2}  # fmt: skip
        for outsider in (cat, None):  # a cookie not on the stream, and no cookie at all
            refused = vote(station, outsider)
            assert refused.status_code == 409
            assert "tuned in to the stream" in refused.json()["detail"]
        assert station.now_playing()["skip"]["votes"] == 1

        second = vote(station, bee)
        assert second.json() == {"skipped": True, "by": "listeners", "votes": 2, "needed": 2}
        after = station.wait_for(lambda s: s["current"]["title"] != before, timeout=3)
        assert after["skip"] == {"votes": 0, "needed": 2, "votable": True}

        cooling = vote(station, ann)  # the next item, within the cooldown
        assert cooling.status_code == 409
        assert "you can vote again in" in cooling.json()["detail"]
        assert 1 <= int(cooling.headers["retry-after"]) <= 30


def tune_in(station: RunningStation, cookie: str, source: str = "127.0.0.1",
            reading: bool = True) -> StreamCapture:  # fmt: skip
    return StreamCapture(station.port, extra_headers=f"Cookie: radio_listener={cookie}\r\n",
                         source=source, reading=reading)  # fmt: skip


def test_listeners_who_leave_change_the_count(tmp_path: Path, launch: Any) -> None:
    tone_library(tmp_path / "media", TONES)
    station = launch(skip_vote_share=1.0, scan_interval_seconds=3600, skip_vote_listen_seconds=0)
    ann, bee, cat = (station.new_listener() for _ in range(3))
    first = station.wait_for_music()["current"]["title"]
    tabs = [tune_in(station, cookie) for cookie in (ann, bee, cat)]
    try:
        station.wait_for(lambda s: s["listeners"] == 3, timeout=5)
        assert vote(station, ann).json()["votes"] == 1
        assert vote(station, cat).json() == {"skipped": False, "by": "listeners",
                                             "votes": 2, "needed": 3}  # fmt: skip
        tabs[2].stop()  # cat's vote leaves with cat: 1 of 2
        state = station.wait_for(lambda s: s["listeners"] == 2, timeout=5)
        assert state["skip"] == {"votes": 1, "needed": 2, "votable": True}
        assert state["current"]["title"] == first
        tabs[1].stop()  # now ann alone is every listener, and ann has voted: skipped
        station.wait_for(lambda s: s["current"]["title"] != first, timeout=5)
    finally:
        for capture in tabs:
            capture.stop()


def test_a_host_skips_at_once_and_bad_credentials_are_no_vote(tmp_path: Path, launch: Any) -> None:
    tone_library(tmp_path / "media", TONES)
    station = launch(skip_vote_minimum=5, scan_interval_seconds=3600)
    ann = station.new_listener()
    before = station.wait_for_music()["current"]["title"]

    with listening(station, ann):
        wrong = httpx.post(station.url + "/api/skip", cookies={"radio_listener": ann},
                           headers=station.auth("radio_wrong-token"), timeout=10)  # fmt: skip
        assert wrong.status_code == 401
        expired = httpx.post(station.url + "/api/skip", timeout=10,
                             cookies={"radio_listener": ann, "radio_session": "gone"})  # fmt: skip
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


# Long enough that no item ends by itself while a test listens long enough to vote.
LONG_TONES = [(330.0, 150, "T330"), (440.0, 150, "T440"), (550.0, 150, "T550")]
BURST = 65536 + 6400  # the station's burst: 64 KiB, in whole writes of 0.4 s (6400 bytes)


def wait_until_heard(captures: list[StreamCapture], seconds: float) -> None:
    """Until each capture has read `seconds` of audio past its burst (what the station counts
    is at least what the client read: bytes the client's TCP acknowledged)."""
    enough = BURST + seconds * BYTES_PER_SECOND
    assert wait_until(lambda: all(len(c.body) >= enough for c in captures), timeout=seconds + 30)


def test_made_up_listeners_on_sockets_that_never_read_cannot_outvote_real_ones(
    tmp_path: Path, launch: Any
) -> None:
    """Issue 10, defect 7: four made-up cookies on four sockets that never read outvoted three
    real listeners. Now they are no listeners at all, and the real ones still skip."""
    tone_library(tmp_path / "media", LONG_TONES)
    station = launch(scan_interval_seconds=3600)  # the shipped vote settings
    before = station.wait_for_music()["current"]["title"]
    real = [station.new_listener() for _ in range(3)]
    rooms = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]  # three machines
    made_up = [f"made-up-listener-{n:04}" for n in range(2)]
    made_up += [
        f"made-up-listener-0002.{'A' * 43}",
        real[0].replace(".", ".x", 1),
    ]  # bad signatures
    attacker = "127.0.0.5"
    listeners = [tune_in(station, cookie, room) for cookie, room in zip(real, rooms, strict=True)]
    stalled = [tune_in(station, cookie, attacker, reading=False) for cookie in made_up]
    try:
        station.wait_for(lambda s: s["listeners"] == 7, timeout=10)
        wait_until_heard(listeners, 11)  # longer than a vote needs: time is not what they lack
        for cookie in made_up:
            refused = vote(station, cookie, attacker)
            assert refused.status_code == 409, refused.text
            assert "tuned in to the stream" in refused.json()["detail"]
        assert station.now_playing()["skip"]["votes"] == 0
        for cookie, room in zip(real, rooms, strict=True):
            assert vote(station, cookie, room).status_code == 200
        state = station.now_playing()
        assert state["current"]["title"] == before
        assert state["skip"] == {"votes": 3, "needed": 4, "votable": True}  # 3 of 7 listeners
        for capture in stalled:
            capture.stop()  # the attacker leaves: 3 of 3
        station.wait_for(lambda s: s["current"]["title"] != before, timeout=10)
    finally:
        for capture in listeners + stalled:
            capture.stop()


def test_a_vote_counts_only_from_a_connection_that_received_enough_audio(
    tmp_path: Path, launch: Any
) -> None:
    tone_library(tmp_path / "media", LONG_TONES)
    station = launch(scan_interval_seconds=3600, skip_vote_listen_seconds=10, skip_vote_minimum=2)
    before = station.wait_for_music()["current"]["title"]
    stalled_cookie, reader_cookie = station.new_listener(), station.new_listener()
    stalled = tune_in(station, stalled_cookie, "127.0.0.2", reading=False)
    reader = tune_in(station, reader_cookie, "127.0.0.3")
    try:
        station.wait_for(lambda s: s["listeners"] == 2, timeout=10)
        early = vote(station, reader_cookie, "127.0.0.3")
        assert early.status_code == 409
        assert early.json()["detail"].startswith("keep listening: a vote counts once you have")
        assert 1 <= int(early.headers["retry-after"]) <= 10
        wait_until_heard([reader], 11)
        # The socket that never read has been connected as long, and its kernel took in what
        # its receive buffer holds: not enough.
        late = time.monotonic() - stalled.connected_at
        assert late > 11
        refused = vote(station, stalled_cookie, "127.0.0.2")
        assert refused.status_code == 409
        assert refused.json()["detail"].startswith("keep listening"), refused.json()
        counted = vote(station, reader_cookie, "127.0.0.3").json()
        assert counted == {"skipped": False, "by": "listeners", "votes": 1, "needed": 2}
        assert station.now_playing()["current"]["title"] == before
    finally:
        stalled.stop()
        reader.stop()


def test_one_address_adds_at_most_two_votes_to_an_item(tmp_path: Path, launch: Any) -> None:
    tone_library(tmp_path / "media", LONG_TONES)
    station = launch(scan_interval_seconds=3600, skip_vote_share=1.0, skip_vote_listen_seconds=0)
    before = station.wait_for_music()["current"]["title"]
    flat = [station.new_listener() for _ in range(3)]  # three identities on one machine
    neighbour = station.new_listener()
    with listening(station, *flat, neighbour):
        assert vote(station, flat[0], "127.0.0.2").json()["votes"] == 1
        assert vote(station, flat[1], "127.0.0.2").json()["votes"] == 2
        third = vote(station, flat[2], "127.0.0.2")
        assert third.status_code == 409
        assert third.json() == {
            "detail": "2 listeners at your address have voted to skip this item already, "
            "and that is as many as one address may",
            "votes": 2,
            "needed": 4,
        }
        assert vote(station, neighbour, "127.0.0.3").json()["votes"] == 3
        assert station.now_playing()["current"]["title"] == before
