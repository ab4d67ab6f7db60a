"""The time-shift archive through the real station: `/stream?at=`, `GET /api/archive`, its
bounds, restarts and crashes. The oracles are the test's own: tones of known frequencies
decoded by the real ffmpeg, ICY blocks split by tests.listen, the archive's files read
with `os`, and the plays table read directly (sqlite3 or psycopg)."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.item import Item, ItemKind
from app.stream.archive import LISTED_ITEMS, Archive
from tests import database
from tests.conftest import tone_library
from tests.listen import (
    BYTES_PER_SECOND,
    RATE,
    StreamCapture,
    common_start,
    decode,
    dominant_tone,
    mp3_frames_valid,
    split_icy,
    whole_frames,
)
from tests.prometheus import parse as parse_metrics
from tests.station import RunningStation, start_station

# Distinct tones, each long enough that a moment inside one is far from its crossfades.
TONES = [(330.0, 10, "Three"), (550.0, 10, "Five"), (770.0, 10, "Seven")]
BLOCK_SECONDS = 0.2  # the playout's block (its default)
FREQS = [f for f, _, _ in TONES]
TITLE_FREQ = {f"Tones - {title}": freq for freq, _, title in TONES}


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def parse(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def archive(station: RunningStation) -> dict[str, Any]:
    response = station.get("/api/archive")
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def wait_for_items(station: RunningStation, count: int, timeout: float = 90) -> dict[str, Any]:
    """Until the archive lists `count` items with their play ids."""
    deadline = time.monotonic() + timeout
    listing: dict[str, Any] = {}
    while time.monotonic() < deadline:
        listing = archive(station)
        if len(listing["items"]) >= count and all(i["play_id"] for i in listing["items"]):
            return listing
        time.sleep(0.2)
    raise AssertionError(f"the archive lists only {listing}")


def capture_at(station: RunningStation, at: float, seconds: float, icy: bool = True,
               headers: str = "") -> StreamCapture:  # fmt: skip
    capture = StreamCapture(station.port, icy=icy, path=f"/stream?at={iso(at)}",
                            extra_headers=headers)  # fmt: skip
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and capture.closed_at is None:
        time.sleep(0.1)
    capture.stop()
    return capture


def archive_files(state: Path, suffix: str) -> list[Path]:
    return sorted((state / "archive").glob(f"*{suffix}"))


def test_too_old_is_416_naming_the_oldest_time_and_now_is_the_live_stream(
    tmp_path: Path,
) -> None:
    tone_library(tmp_path / "media", TONES)
    station = start_station(tmp_path)
    try:
        time.sleep(3)
        hour_ago = time.time() - 3600
        refused = httpx.get(station.url + "/stream", params={"at": iso(hour_ago)}, timeout=10)
        assert refused.status_code == 416
        assert refused.headers["content-type"] == "application/json"
        oldest = parse(refused.json()["oldest"])
        assert oldest <= time.time() - 2  # the audio since the station went on air is kept
        assert refused.json()["oldest"] in refused.json()["detail"]
        assert archive(station)["oldest"] == refused.json()["oldest"]
        # Just inside the archive it plays; just before it, it is refused.
        assert httpx.get(station.url + "/stream", params={"at": iso(oldest - 0.5)},
                         timeout=10).status_code == 416  # fmt: skip
        inside = capture_at(station, oldest + 0.1, 1.5)
        assert inside.status_line == "HTTP/1.0 200 OK"
        assert mp3_frames_valid(split_icy(bytes(inside.body), 16000).audio) > 20

        bad = httpx.get(station.url + "/stream", params={"at": "yesterday"}, timeout=10)
        assert bad.status_code == 400
        assert "not a time" in bad.json()["detail"]
        naive = httpx.get(station.url + "/stream", params={"at": "2026-11-30T06:00:00"},
                          timeout=10)  # fmt: skip
        assert naive.status_code == 400
        assert "offset" in naive.json()["detail"]

        # Later than now: the live stream, which starts where a plain /stream starts.
        live = StreamCapture(station.port)
        future = StreamCapture(station.port, path=f"/stream?at={iso(time.time() + 3600)}")
        shifted = StreamCapture(station.port, path=f"/stream?at={iso(oldest + 0.1)}")
        time.sleep(1.5)
        for capture in (live, future, shifted):
            capture.stop()
        assert future.head == live.head == shifted.head
        # A station the hosts renamed: the time-shifted head says so as the live one does.
        renamed = httpx.patch(station.url + "/api/station/identity", json={"name": "Rewind FM"},
                              headers=station.auth(), timeout=10)  # fmt: skip
        assert renamed.status_code == 200, renamed.text
        shifted = capture_at(station, oldest + 0.1, 0.5)
        assert shifted.headers["icy-name"] == "Rewind FM"
        i, j = common_start(bytes(live.body), bytes(future.body))
        assert abs(i - j) < BYTES_PER_SECOND  # the same burst, give or take one write
    finally:
        station.stop()


def test_the_archive_is_pruned_by_age(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", TONES)
    window = 12.0
    station = start_station(tmp_path, archive_hours=window / 3600, archive_segment_seconds=2)
    state = tmp_path / "state"
    try:
        started = time.time()
        time.sleep(window + 14)
        kept = sum(path.stat().st_size for path in archive_files(state, ".mp3"))
        # The window and at most the segment being written and the one pruning waits on.
        assert kept <= (window + 2 * 2 + 1) * BYTES_PER_SECOND, kept
        assert kept >= (window - 2) * BYTES_PER_SECOND, kept
        oldest = parse(archive(station)["oldest"])
        assert oldest >= time.time() - window - 2 * 2 - 1 > started
        assert httpx.get(station.url + "/stream", params={"at": iso(started + 1)},
                         timeout=10).status_code == 416  # fmt: skip
        assert len(archive_files(state, ".idx")) == len(archive_files(state, ".mp3"))
    finally:
        station.stop()


def test_the_archive_is_pruned_by_size(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", TONES)
    bound = 0.2 * 1024 * 1024  # about 13 s of audio
    station = start_station(tmp_path, archive_max_mb=0.2, archive_segment_seconds=2,
                            block_seconds=BLOCK_SECONDS)  # fmt: skip
    try:
        time.sleep(bound / BYTES_PER_SECOND + 10)
        kept = sum(path.stat().st_size for path in archive_files(tmp_path / "state", ".mp3"))
        # Within the bound, but for the segment being written: 2 s, and the block that
        # began inside them (a segment ends on a playout block).
        most = bound + (2 + BLOCK_SECONDS) * BYTES_PER_SECOND
        assert bound - 2 * 2 * BYTES_PER_SECOND <= kept <= most, kept
        oldest = parse(archive(station)["oldest"])
        assert time.time() - oldest <= bound / BYTES_PER_SECOND + 3
    finally:
        station.stop()


def test_item_boundaries_and_their_audio_survive_a_restart(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", TONES)
    station = start_station(tmp_path)
    try:
        before = wait_for_items(station, 3)["items"]
    finally:
        station.stop()
    station = start_station(tmp_path, port=station.port)
    try:
        after = archive(station)["items"]
        # The items of the first run are still there, newest first, with their play ids and
        # times, the one that was on air ended by the restart at the latest.
        kept = {item["play_id"]: item for item in after}
        for item in before[1:]:
            assert kept[item["play_id"]] == item
        assert kept[before[0]["play_id"]]["starts"] == before[0]["starts"]
        # Play ids are those of the history, stored by the station (read directly).
        plays = dict(database.rows(tmp_path / "state", "SELECT id, title FROM plays"))
        for item in before:
            assert plays[item["play_id"]] == item["title"]

        # The middle of a finished item of the first run plays that item, under its title.
        item = before[1]
        starts, ends = parse(item["starts"]), parse(item["ends"])
        capture = capture_at(station, (starts + ends) / 2, 3)
        icy = split_icy(bytes(capture.body), 16000)
        assert icy.titles[0][1] == f"{item['artist']} - {item['title']}"
        samples, errors = decode(whole_frames(icy.audio))
        assert errors == ""
        heard = dominant_tone(samples[: 2 * RATE], FREQS)
        expected = TITLE_FREQ[f"{item['artist']} - {item['title']}"]
        assert heard.count(expected) >= 0.9 * len(heard), heard
    finally:
        station.stop()


def test_a_kill_nine_mid_write_leaves_an_archive_that_plays(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", TONES)
    station = start_station(tmp_path, own_group=True, archive_segment_seconds=3)
    state = tmp_path / "state"
    try:
        wait_for_items(station, 2)
        killed_at = time.time()
        os.killpg(station.process.pid, signal.SIGKILL)
        station.process.wait()
        # What a kill in the middle of a write leaves: part of a block, half an index record.
        with (archive_files(state, ".mp3")[-1]).open("ab") as audio:
            audio.write(b"\xff\xfb\x90" + os.urandom(200))
        with (archive_files(state, ".idx")[-1]).open("ab") as index:
            index.write(os.urandom(7))
        station = start_station(tmp_path, own_group=True, port=station.port,
                                archive_segment_seconds=3)  # fmt: skip
        time.sleep(2)
        # From 4 s before the kill, across it and into the audio of the new run.
        capture = capture_at(station, killed_at - 4, 8, icy=False)
        body = bytes(capture.body)
        assert len(body) >= BYTES_PER_SECOND * 7
        frames = mp3_frames_valid(body)  # whole frames of the stream's format throughout
        assert frames * 417 >= len(body) - 418 * 2
        _, errors = decode(whole_frames(body))
        assert errors == ""
    finally:
        with_group_stopped(station)


def with_group_stopped(station: RunningStation) -> None:
    if station.process.poll() is None:
        os.killpg(station.process.pid, signal.SIGTERM)
        station.process.wait(10)


def test_the_listing_is_bounded_and_newest_first(tmp_path: Path) -> None:
    shelf = Archive(tmp_path / "archive", hours=2, max_bytes=10**8, segment_seconds=60,
                    bitrate_kbps=128, sample_rate=44100, station_name="R")  # fmt: skip
    shelf.start()
    try:
        frame = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(413)  # one 128 kbps frame
        for number in range(LISTED_ITEMS + 100):
            shelf.record(frame, [(0, Item(ItemKind.music, f"T{number}", "A"))])
        deadline = time.monotonic() + 10
        while shelf.blocks_written < LISTED_ITEMS + 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        items = shelf.listing()["items"]
    finally:
        shelf.stop()
    assert len(items) == LISTED_ITEMS
    assert [item["title"] for item in items[:2]] == [f"T{LISTED_ITEMS + 99}",
                                                     f"T{LISTED_ITEMS + 98}"]  # fmt: skip
    assert items[0]["ends"] is None
    assert items[1]["ends"] == items[0]["starts"]


@pytest.mark.realtime
def test_time_shifted_listening_counts_on_the_board_but_its_vote_does_not(
    tmp_path: Path, launch: Any
) -> None:
    tone_library(tmp_path / "media", TONES)
    station = launch(listener_min_seconds=2)
    ann = station.new_listener()
    assert httpx.post(station.url + "/api/listeners/me/name", json={"name": "Ann"},
                      headers={"Cookie": f"radio_listener={ann}"}).status_code == 200  # fmt: skip
    time.sleep(4)
    cookie = f"Cookie: radio_listener={ann}\r\n"
    capture = StreamCapture(station.port, path=f"/stream?at={iso(time.time() - 3)}",
                            extra_headers=cookie)  # fmt: skip
    try:
        time.sleep(3)
        assert station.get("/api/listeners/board").json()["listeners_now"] == 1
        assert station.now_playing()["listeners"] == 1
        vote = httpx.post(station.url + "/api/skip", headers={"Cookie": f"radio_listener={ann}"})
        assert vote.status_code == 409
        assert "behind live" in vote.json()["detail"]
    finally:
        capture.stop()
    deadline = time.monotonic() + 10
    board: dict[str, Any] = {}
    while time.monotonic() < deadline:
        board = station.get("/api/listeners/board").json()
        if board["all_time"]:
            break
        time.sleep(0.2)
    assert [entry["name"] for entry in board["all_time"]] == ["Ann"], board
    assert board["all_time"][0]["seconds"] >= 2


@pytest.mark.realtime
def test_a_time_shifted_stream_bursts_then_keeps_real_time(tmp_path: Path, launch: Any) -> None:
    tone_library(tmp_path / "media", TONES)
    station = launch()
    deadline = time.monotonic() + 90
    while (oldest := archive(station)["oldest"]) is None or parse(oldest) > time.time() - 32:
        assert time.monotonic() < deadline, oldest
        time.sleep(0.5)
    capture = StreamCapture(station.port, path=f"/stream?at={iso(time.time() - 30)}")
    time.sleep(26)
    capture.stop()
    started = capture.connected_at
    # The audio's lead on the wall clock: the burst at once, then it stays (its trend read
    # on the tops of the saw that writes a few tenths of a second apart make).
    lead = [(t - started, audio / BYTES_PER_SECOND - (t - started)) for t, audio in
            capture.arrivals if t - started >= 2.0]  # fmt: skip
    assert 3.0 < lead[0][1] < 5.0, lead[0]  # 64 KiB: 4.1 s
    first = max(x for wall, x in lead if wall < 8.0)
    last = max(x for wall, x in lead if wall >= 18.0)
    assert abs(last - first) < 0.5, (first, last)
    assert mp3_frames_valid(bytes(capture.body)) > 25 * 38


def test_an_archive_that_cannot_write_is_a_problem_for_hosts_and_never_stops_the_stream(
    tmp_path: Path,
) -> None:
    tone_library(tmp_path / "media", TONES)
    drills = tmp_path / "drills"
    drills.mkdir()
    station = start_station(tmp_path, fault_drill_dir=drills)
    wait_for_items(station, 1)
    live = StreamCapture(station.port)
    try:
        (drills / "archive").write_text("No space left on device (a drill)")
        problem = wait_for_problem(station, cleared=False)
        failing_from = time.monotonic()
        assert problem["cause"] == "No space left on device (a drill)"
        stuck = sum(path.stat().st_size for path in archive_files(tmp_path / "state", ".mp3"))
        time.sleep(3)
        assert metric(station, "radio_archive_write_failing") == 1
        assert stuck == sum(p.stat().st_size for p in archive_files(tmp_path / "state", ".mp3"))
        (drills / "archive").unlink()
        wait_for_problem(station, cleared=True)
        failing_until = time.monotonic()
        time.sleep(2)
        live.stop()
        # The live listener heard on throughout (a write of 0.4 s either side aside); the
        # archive keeps writing after.
        assert live.closed_at is None
        heard = live.bytes_at(failing_until) - live.bytes_at(failing_from)
        assert heard >= (failing_until - failing_from - 1) * BYTES_PER_SECOND
        _, errors = decode(whole_frames(bytes(live.body)))
        assert errors == ""
        assert metric(station, "radio_archive_write_failing") == 0
        counted = metric(station, "radio_archive_bytes")
        kept = sum(path.stat().st_size for path in archive_files(tmp_path / "state", ".mp3"))
        assert kept > stuck
        assert 0 <= kept - counted <= BYTES_PER_SECOND  # (it writes on meanwhile)
    finally:
        live.stop()
        station.stop()


def wait_for_problem(station: RunningStation, *, cleared: bool) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    listed: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = station.get("/api/station/problems", headers=station.auth())
        response.raise_for_status()
        listed = response.json()["items"]
        found = next((p for p in listed if p["key"] == "archive"), None)
        if found is not None and (found["cleared_at"] is not None) == cleared:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {'cleared' if cleared else 'open'} archive problem: {listed}")


def metric(station: RunningStation, name: str) -> float:
    response = station.get("/metrics", headers=station.auth())
    response.raise_for_status()
    return parse_metrics(response.text)[name].samples[0][2]
