"""Faults never reach the air: each one injected into a real station while a listener reads
the stream, which the real ffmpeg decodes afterwards.

For every fault: the stream goes on (no stretch of silence, and no stall a player would
hear, of 0.5 s or more), the fault is logged once with its cause (not once per retry), hosts
see it in the problem list (GET /api/station/problems, shown by the dashboard), and when the
cause goes away the problem is marked cleared and the normal programme comes back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests import database
from tests.audio import write_tone
from tests.conftest import tone_library
from tests.listen import (
    BYTES_PER_SECOND,
    RATE,
    StreamCapture,
    decode,
    dominant_tone,
    longest_quiet_run,
    mp3_frames_valid,
    tone_levels,
    whole_frames,
)
from tests.processes import children, command_line
from tests.station import RunningStation

pytestmark = pytest.mark.realtime

Launch = Callable[..., RunningStation]

GAP_SECONDS = 0.5
SAFETY_ROOT = 261.63  # the safety source's first chord is built on middle C
# A player starts once it holds this much audio, as browsers do; with the station's burst
# it then has seconds in hand, so only a stream that really stops makes it wait.
PLAYER_START_SECONDS = 1.0
BURST_BYTES = 60_000  # nearly the station's 64 KiB burst: about 4 s of audio


# -- what a listener hears -------------------------------------------------------------------


def longest_stall(capture: StreamCapture) -> float:
    """The longest a player reading this capture would have waited for audio, in seconds:
    it starts once it holds PLAYER_START_SECONDS, then plays one second a second, pausing
    (and resuming where it was) whenever it has played all it received."""
    started: float | None = None
    position = 0.0  # seconds of audio played, at `at`
    at = 0.0
    longest = 0.0
    received = 0.0
    for when, total in capture.arrivals:
        if started is None:
            if total / BYTES_PER_SECOND >= PLAYER_START_SECONDS:
                started = at = when
            received = total / BYTES_PER_SECOND
            continue
        can_play = received - position  # audio in hand since the last arrival
        if when - at > can_play:
            longest = max(longest, when - at - can_play)
            position = received
        else:
            position += when - at
        at = when
        received = total / BYTES_PER_SECOND
    return longest


def assert_the_stream_went_on(capture: StreamCapture) -> Any:
    """No error decoding it, valid frames from the first byte, no silence and no stall of
    GAP_SECONDS or more; returns the decoded (mono) audio."""
    body = whole_frames(bytes(capture.body))
    assert mp3_frames_valid(body) > 0
    audio, errors = decode(body)
    assert errors == "", errors
    quiet = longest_quiet_run(audio)
    assert quiet < GAP_SECONDS, f"{quiet:.2f} s of silence on air"
    stall = longest_stall(capture)
    assert stall < GAP_SECONDS, f"a player would have waited {stall:.2f} s for the stream"
    print(f"{len(audio) / RATE:.1f} s heard: longest quiet {quiet:.2f} s, longest stall "
          f"{stall:.2f} s")  # fmt: skip
    return audio


def listen(station: RunningStation, timeout: float = 60) -> StreamCapture:
    """A listener that got the full burst (a station that just went on air has less to
    give): with seconds of audio in hand from the start, only a stream that stops makes
    its player wait, not a busy machine's jitter."""
    deadline = time.monotonic() + timeout
    while True:
        capture = StreamCapture(station.port)
        burst_until = time.monotonic() + 2
        while len(capture.body) < BURST_BYTES and time.monotonic() < burst_until:
            time.sleep(0.05)
        if capture.bytes_at(capture.connected_at + 0.5) >= BURST_BYTES:
            return capture
        capture.stop()
        assert time.monotonic() < deadline, "the station never had a full burst to give"
        time.sleep(0.5)


def wait_for_audio(capture: StreamCapture, seconds: float, timeout: float = 60) -> None:
    """Until `seconds` more of audio arrived (however long a busy machine takes)."""
    target = len(capture.body) + seconds * BYTES_PER_SECOND
    deadline = time.monotonic() + timeout
    while len(capture.body) < target:
        assert capture.closed_at is None, "the listener was disconnected"
        assert time.monotonic() < deadline, "the stream stopped"
        time.sleep(0.1)


# -- what hosts see --------------------------------------------------------------------------


def problems(station: RunningStation) -> list[dict[str, Any]]:
    response = station.get("/api/station/problems", headers=station.auth())
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def wait_for_problem(station: RunningStation, key: str, *, cleared: bool,
                     timeout: float = 60) -> dict[str, Any]:  # fmt: skip
    """The problem under `key` (the newest), once it is open, or cleared."""
    deadline = time.monotonic() + timeout
    listed: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listed = problems(station)
        found = next((p for p in listed if p["key"] == key), None)
        if found is not None and (found["cleared_at"] is not None) == cleared:
            return found
        time.sleep(0.2)
    state = "cleared" if cleared else "open"
    raise AssertionError(f"no {state} problem {key!r}: {listed}\n{station.log.read_text()}")


def assert_logged_once(station: RunningStation, problem: dict[str, Any]) -> None:
    """The station's log has the problem once, with its cause, and its end once."""
    log = station.log.read_text()
    line = f"problem: {problem['what']}: {problem['cause']}"
    assert log.count(line) == 1, f"{log.count(line)} times {line!r} in:\n{log}"
    assert log.count(f"problem: {problem['what']}") == 1
    if problem["cleared_at"] is not None:
        assert log.count(f"problem cleared: {problem['what']}") == 1


def decoder_pid(station: RunningStation, path: Path) -> int:
    """The ffmpeg decoding `path` for the playout process."""
    for child in children(station.playout_pid()):
        if str(path).encode() in command_line(child):
            return child
    raise AssertionError(f"no decoder of {path} is running")


# -- the faults ------------------------------------------------------------------------------


def test_a_decoder_killed_mid_track_is_started_again_where_it_stopped(
    tmp_path: Path, launch: Launch
) -> None:
    tones = {440.0: "Long A", 660.0: "Long B"}
    paths = tone_library(tmp_path / "media", [(f, 40, title) for f, title in tones.items()])
    station = launch(crossfade_seconds=1)
    station.wait_for_music()
    listener = listen(station)
    state = station.wait_for(lambda s: 4 < s["current"]["elapsed"] < 20, timeout=60)
    title = state["current"]["title"]
    freq = next(f for f, t in tones.items() if t == title)
    os.kill(decoder_pid(station, paths[title]), signal.SIGKILL)
    killed_at = listener.bytes_at(time.monotonic()) / BYTES_PER_SECOND
    # The decoder was killed while reading ahead of air time: 12 s more take the listener
    # well past the point where it stopped.
    wait_for_audio(listener, 12)
    listener.stop()
    audio = assert_the_stream_went_on(listener)
    heard = dominant_tone(audio[int(killed_at * RATE) :], list(tones), window=0.1)
    assert set(heard) == {freq}, f"after the kill the listener heard {sorted(set(heard), key=str)}"
    assert station.now_playing()["current"]["title"] == title  # not cut short
    problem = wait_for_problem(station, "decoder", cleared=True)
    assert "SIGKILL" in problem["cause"]
    assert_logged_once(station, problem)


def _delete(path: Path) -> None:
    path.unlink()


def _truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 4)


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


@pytest.mark.parametrize("damage", [_delete, _truncate, _garbage],
                         ids=["deleted", "truncated", "garbage"])  # fmt: skip
def test_a_queued_file_that_breaks_is_passed_over_reported_and_plays_again_once_mended(
    tmp_path: Path, launch: Launch, damage: Callable[[Path], None]
) -> None:
    tones = {330.0: "T330", 440.0: "T440", 550.0: "T550", 660.0: "T660"}
    paths = tone_library(tmp_path / "media", [(f, 12, title) for f, title in tones.items()])
    station = launch(crossfade_seconds=1, scan_interval_seconds=3600)
    station.wait_for_music()
    listener = listen(station)
    # Early in an item, with the next one known: the playout asks for it later.
    state = station.wait_for(lambda s: s["current"]["elapsed"] < 3 and s["next"], timeout=30)
    victim = state["next"]
    damage(paths[victim["title"]])
    key = f"track:{victim['track_id']}"
    problem = wait_for_problem(station, key, cleared=False)
    passed = (victim["title"], state["current"]["title"])
    station.wait_for(lambda s: s["current"]["title"] not in passed, timeout=30)
    wait_for_audio(listener, 2)
    # The cause goes away: the file is written again and scanned.
    freq = next(f for f, t in tones.items() if t == victim["title"])
    write_tone(paths[victim["title"]], 12, freq,
               tags={"artist": "Tones", "title": victim["title"], "album": "Test"})  # fmt: skip
    station.post("/api/library/scan").raise_for_status()
    cleared = wait_for_problem(station, key, cleared=True)
    track = station.get(f"/api/tracks/{victim['track_id']}", headers=station.auth()).json()
    assert track["status"] == "ready"
    station.post("/api/queue", json={"track_id": victim["track_id"], "position": "next"})
    station.wait_for(lambda s: s["current"]["title"] == victim["title"], timeout=40)
    wait_for_audio(listener, 3)
    listener.stop()
    audio = assert_the_stream_went_on(listener)
    assert dominant_tone(audio[-2 * RATE :], [freq], window=0.1).count(freq) >= 15
    if damage is _truncate:  # it played what was left of it, and ended early
        assert "ended" in problem["what"]
    else:  # it never aired broken
        assert "could not play" in problem["what"]
    assert cleared["cleared"] == "playable again"
    assert_logged_once(station, cleared)


def test_an_encoder_that_fails_is_covered_by_the_safety_source_until_it_works_again(
    tmp_path: Path, launch: Launch
) -> None:
    tone_library(tmp_path / "media", [(440, 60, "Long")])
    drills = tmp_path / "drills"
    drills.mkdir()
    station = launch(fault_drill_dir=drills)
    station.wait_for_music()
    listener = listen(station)
    wait_for_audio(listener, 5)
    (drills / "encoder").write_text("lame_encode_buffer: -2 (out of memory; a drill)")
    wait_for_problem(station, "encoder", cleared=False)
    wait_for_audio(listener, 6)  # the safety source on air meanwhile
    during = len(listener.body) / BYTES_PER_SECOND
    (drills / "encoder").unlink()
    problem = wait_for_problem(station, "encoder", cleared=True)
    after = len(listener.body) / BYTES_PER_SECOND
    wait_for_audio(listener, 6)
    listener.stop()
    audio = assert_the_stream_went_on(listener)
    drill = audio[int((during - 4) * RATE) : int(during * RATE)]
    chord, music = tone_levels(drill, [SAFETY_ROOT, 440.0], window=0.1).mean(axis=0)
    assert chord > 10 * music, "the safety source was not on air during the drill"
    heard = dominant_tone(audio[int((after + 2) * RATE) :], [440.0], window=0.1)
    assert heard.count(440.0) >= len(heard) - 1, "the music did not come back"
    assert station.now_playing()["current"]["title"] == "Long"
    assert problem["cause"] == "lame_encode_buffer: -2 (out of memory; a drill)"
    assert_logged_once(station, problem)


def test_a_locked_database_never_stops_the_stream(tmp_path: Path, launch: Launch) -> None:
    """Another process holds the database's write lock across item changes: the playout
    asks, the scheduler gives up in time, the safety source covers; then music again."""
    tones = {330.0: "T330", 440.0: "T440", 550.0: "T550", 660.0: "T660"}
    tone_library(tmp_path / "media", [(f, 6, title) for f, title in tones.items()])
    station = launch(crossfade_seconds=1)
    station.wait_for_music()
    listener = listen(station)
    wait_for_audio(listener, 5)
    with database.write_lock(station.state):
        wait_for_problem(station, "scheduler", cleared=False)
        station.wait_for(lambda s: s["current"]["kind"] == "safety", timeout=30)
        wait_for_audio(listener, 2)
    released = time.time()
    problem = wait_for_problem(station, "scheduler", cleared=True)
    state = station.wait_for(lambda s: s["current"]["kind"] == "music"
                             and _started(s) > released, timeout=30)  # fmt: skip
    wait_for_audio(listener, 3)
    listener.stop()
    audio = assert_the_stream_went_on(listener)
    freq = next(f for f, t in tones.items() if t == state["current"]["title"])
    assert dominant_tone(audio[-RATE:], [freq], window=0.1).count(freq) >= 8
    assert problem["cause"] == database.LOCKED
    assert_logged_once(station, problem)


def _started(state: dict[str, Any]) -> float:
    return datetime.fromisoformat(state["current"]["started_at"]).timestamp()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """media/ on a tmpfs of its own, 8 MB: a disk that can be filled without harm."""
    media = tmp_path / "media"
    media.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(media)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small disk here: {mounted.stderr.strip()}")
    try:
        yield media
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)


def fill(disk: Path) -> Path:
    """A file that takes all the room left on `disk`."""
    ballast = disk / "ballast.bin"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return ballast


def publish(station: RunningStation, title: str, body: str) -> int:
    created = station.post("/api/articles", json={"title": title, "body": body,
                                                  "category": "Local"})  # fmt: skip
    assert created.status_code == 201, created.text
    article_id: int = created.json()["id"]
    station.post(f"/api/articles/{article_id}/publish").raise_for_status()
    return article_id


def speech_status(station: RunningStation, article_id: int) -> dict[str, Any]:
    response = station.get(f"/api/articles/{article_id}", headers=station.auth())
    response.raise_for_status()
    speech: dict[str, Any] = response.json()["speech"] or {}
    return speech


def wait_for_speech(station: RunningStation, article_id: int, status: str,
                    timeout: float = 120) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + timeout
    speech: dict[str, Any] = {}
    while time.monotonic() < deadline:
        speech = speech_status(station, article_id)
        if speech.get("status") == status:
            return speech
        time.sleep(0.3)
    raise AssertionError(f"speech of {article_id} not {status}: {speech}")


def upload(station: RunningStation, path: Path) -> Any:
    with path.open("rb") as f:
        return station.post("/api/tracks/upload", files={"file": (path.name, f, "audio/mpeg")})


def test_a_full_disk_refuses_uploads_and_speech_and_heals_when_there_is_room(
    tmp_path: Path, small_disk: Path, launch: Launch
) -> None:
    tone_library(small_disk, [(440, 20, "A"), (550, 20, "B")])
    station = launch(crossfade_seconds=1)
    station.wait_for_music()
    listener = listen(station)
    first = publish(station, "Before", "The tram line opens on Monday morning.")
    wait_for_speech(station, first, "ready")  # the news desk works
    song = write_tone(tmp_path / "upload.mp3", 8, 770,
                      tags={"artist": "Tones", "title": "Uploaded", "album": "Test"})  # fmt: skip
    ballast = fill(small_disk)
    refused = upload(station, song)
    assert refused.status_code == 507, refused.text
    assert not list(small_disk.glob(".upload-*")), "the refused upload left its temp file"
    disk = wait_for_problem(station, "disk:media", cleared=False)
    story = publish(station, "During", "The harbour festival starts on Friday at noon.")
    failed = wait_for_speech(station, story, "failed")
    speech = wait_for_problem(station, f"speech:{story}", cleared=False)
    assert "No space left on device" in speech["cause"], speech
    assert "No space left on device" in failed["error"]  # what the story's answer says too
    wait_for_audio(listener, 2)
    ballast.unlink()  # the cause goes away
    wait_for_speech(station, story, "ready")  # tried again by itself
    speech = wait_for_problem(station, f"speech:{story}", cleared=True)
    stored = upload(station, song)
    assert stored.status_code == 202, stored.text
    disk = wait_for_problem(station, "disk:media", cleared=True)
    wait_for_audio(listener, 2)
    listener.stop()
    assert_the_stream_went_on(listener)
    assert disk["cause"] == "No space left on device"
    assert_logged_once(station, disk)
    assert_logged_once(station, speech)


def test_a_speech_engine_that_fails_leaves_the_story_out_until_it_speaks_again(
    tmp_path: Path, launch: Launch
) -> None:
    tone_library(tmp_path / "media", [(440, 20, "A"), (550, 20, "B")])
    drills = tmp_path / "drills"
    drills.mkdir()
    station = launch(crossfade_seconds=1, fault_drill_dir=drills)
    station.wait_for_music()
    listener = listen(station)
    (drills / "speech").write_text("espeak_Synth: EE_INTERNAL_ERROR (a drill)")
    story = publish(station, "Tram line", "The tram line opens on Monday morning.")
    failed = wait_for_speech(station, story, "failed")
    problem = wait_for_problem(station, f"speech:{story}", cleared=False)
    assert failed["error"] == problem["cause"] == "espeak_Synth: EE_INTERNAL_ERROR (a drill)"
    # A bulletin now goes on without the story: the stream never waits for it.
    station.post("/api/queue", json={"bulletin": True, "position": "next"}).raise_for_status()
    station.post("/api/queue/skip").raise_for_status()
    wait_for_audio(listener, 8)
    assert "Tram line" not in [e["title"] for e in station.now_playing()["history"]]
    (drills / "speech").unlink()  # the engine works again
    wait_for_speech(station, story, "ready")
    problem = wait_for_problem(station, f"speech:{story}", cleared=True)
    listener.stop()
    assert_the_stream_went_on(listener)
    # The story is on air in the next bulletin. (Speech has pauses of its own: from here
    # on, the stream is checked for stalls and errors, not for quiet.)
    listener = listen(station)
    station.post("/api/queue", json={"bulletin": True, "position": "next"}).raise_for_status()
    station.post("/api/queue/skip").raise_for_status()
    station.wait_for(lambda s: s["current"]["title"] == "Tram line", timeout=60)
    wait_for_audio(listener, 2)
    listener.stop()
    _, errors = decode(whole_frames(bytes(listener.body)))
    assert errors == ""
    assert longest_stall(listener) < GAP_SECONDS
    assert_logged_once(station, problem)


def test_the_problem_list_is_for_hosts_only(tmp_path: Path, launch: Launch) -> None:
    tone_library(tmp_path / "media", [(440, 20, "A")])
    station = launch()
    assert station.get("/api/station/problems").status_code == 401
    assert problems(station) == []
