"""The programme on air, heard through the real stream: timing, skips, failures, fallback."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.ffmpeg import ffmpeg_path
from tests import database
from tests.audio import write_tone
from tests.conftest import tone_library
from tests.listen import (
    BYTES_PER_SECOND,
    RATE,
    StreamCapture,
    decode,
    dominant_tone,
    integrated_loudness,
    longest_quiet_run,
    split_icy,
    tone_levels,
    window_rms_db,
)
from tests.station import RunningStation, start_station

pytestmark = pytest.mark.realtime

Launch = Callable[..., RunningStation]


def test_stream_keeps_real_time_for_a_minute(tmp_path: Path, launch: Launch) -> None:
    """ffmpeg decodes the live stream; its audio clock never drifts from the wall clock."""
    tone_library(tmp_path / "media", [(440, 25, "A"), (550, 25, "B"), (660, 25, "C")])
    station = launch()
    station.wait_for_music()
    time.sleep(5)  # a full burst's worth of programme in the buffer
    ffmpeg = subprocess.Popen(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i",
         f"{station.url}/stream", "-t", "70", "-f", "s16le", "-ac", "1", "-ar", str(RATE),
         "pipe:1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert ffmpeg.stdout is not None
        samples = 0
        points: list[tuple[float, float]] = []  # (wall seconds, audio seconds)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < 64:
            data = ffmpeg.stdout.read(RATE // 5 * 2)
            assert data, "the stream ended"
            samples += len(data) // 2
            points.append((elapsed, samples / RATE))
    finally:  # a failed assertion must not leave ffmpeg reading the stream
        ffmpeg.kill()
        _, errors = ffmpeg.communicate()
    assert errors.decode().strip() == ""
    # After the burst, the audio clock runs with the wall clock. Audio arrives in writes of
    # a few tenths of a second (and a busy machine may deliver a backlog late), so the lead
    # saws up and down by a write: drift is its trend, read on the lead's top (at arrivals)
    # over the first and the last ten seconds.
    lead = [(wall, audio - wall) for wall, audio in points if wall >= 2.0]
    assert 2.0 < lead[0][1] < 6.0  # the burst: seconds of audio at once
    first = max(x for wall, x in lead if wall < 12.0)
    last = max(x for wall, x in lead if wall >= 54.0)
    drift = abs(last - first)
    assert drift < 0.5, f"stream drifted {drift:.2f} s from the wall clock over 52 s"


def test_skip_changes_audio_and_title_within_a_second(tmp_path: Path, launch: Launch) -> None:
    tones = {440.0: "Four Forty", 660.0: "Six Sixty", 880.0: "Eight Eighty"}
    tone_library(tmp_path / "media", [(f, 30, title) for f, title in tones.items()])
    station = launch(crossfade_seconds=2, skip_fade_seconds=0.3)
    before = station.wait_for_music()["current"]["title"]
    events = _collect_events(station)
    listener = StreamCapture(station.port, icy=True)
    # The host's client, connected beforehand: making one (its TLS context) takes a tenth of
    # a second or more on a busy machine, which is the test's time, not the station's.
    host = httpx.Client(base_url=station.url, headers=station.auth(), timeout=10)
    host.get("/api/health").raise_for_status()
    time.sleep(6)  # past the burst: the listener is at the live point
    skip_at = time.monotonic()
    body_at_skip = listener.bytes_at(skip_at)
    try:
        host.post("/api/queue/skip").raise_for_status()
    finally:
        host.close()
    time.sleep(3)
    listener.stop()
    stream = split_icy(bytes(listener.body), 16000)
    skip_position = stream.audio_offset(body_at_skip) / 16000
    # Where a listener is at the skip: a player plays on a steady clock, so its position
    # runs on from every arrival at one second a second, and the latest arrival that ran
    # on time says where the live point is. (Bytes received so far lag it by however much
    # the hub gathers into a write, a lag the player's buffer hides.)
    live_position = max(stream.audio_offset(total) / 16000 + (skip_at - at)
                        for at, total in listener.arrivals if at <= skip_at)  # fmt: skip
    audio, errors = decode(stream.audio)
    assert errors == ""
    tone_by_window = dominant_tone(audio, list(tones), window=0.05)
    old_tone = tone_by_window[int(skip_position / 0.05) - 2]
    first = int(live_position / 0.05)
    assert tones[old_tone] == before  # type: ignore[index]
    assert tone_by_window[first - 1] == old_tone  # still the old item where the listener was
    change = next(i for i in range(first, len(tone_by_window)) if tone_by_window[i] != old_tone)
    heard = (change - first) * 0.05
    assert heard < 1.0, f"the skip was heard {heard:.2f} s after it was asked for"
    new_tone = tone_by_window[change + 10]  # after the short fade, only the new item
    assert new_tone is not None
    assert new_tone != old_tone
    new_title = tones[new_tone]

    # The title in the stream changes by the first metadata block after the audio does.
    def title_at(offset: float) -> str:
        return [title for at, title in stream.titles if at <= offset][-1]

    assert title_at(skip_position * 16000) == f"Tones - {before}"
    assert title_at(change * 0.05 * 16000 + 16000) == f"Tones - {new_title}"
    # The push channel tells the change when it reaches the live point.
    pushed = [(t, e["current"]["title"]) for t, e in events if e["current"]]
    announced = next(t for t, title in pushed if title == new_title)
    assert announced - skip_at < 1.0, f"announced {announced - skip_at:.2f} s after the skip"
    assert [title for _, title in pushed][-1] == new_title


def _collect_events(station: RunningStation) -> list[tuple[float, dict]]:
    """Subscribe to the push channel in the background; returns the list it fills."""
    events: list[tuple[float, dict]] = []
    ready = threading.Event()

    def listen() -> None:
        url = f"{station.url}/api/now-playing/events"
        with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", url, timeout=None) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append((time.monotonic(), json.loads(line[6:])))
                    ready.set()

    threading.Thread(target=listen, daemon=True).start()
    assert ready.wait(10), "no first event from the push channel"
    return events


def test_broken_files_never_reach_air_and_leave_no_gap(tmp_path: Path, launch: Launch) -> None:
    media = tmp_path / "media"
    tones = {330.0: "T330", 440.0: "T440", 550.0: "T550", 660.0: "T660", 770.0: "T770"}
    paths = tone_library(media, [(f, 10, title) for f, title in tones.items()])
    (media / "music" / "empty.mp3").write_bytes(b"")
    (media / "music" / "corrupt.ogg").write_bytes(np.random.default_rng(1).bytes(40_000))
    (media / "music" / "notes.mp3").write_text("not audio at all\n" * 100)
    station = launch(crossfade_seconds=1, scan_interval_seconds=3600)
    station.wait_for_music()
    listener = StreamCapture(station.port)
    sabotaged: list[tuple[str, datetime]] = []
    for damage in (_delete, _corrupt):
        state = station.wait_for(lambda s: s["current"]["elapsed"] < 5 and s["next"], timeout=20)
        victim = state["next"]["title"]
        damage(paths[victim])
        sabotaged.append((victim, datetime.now(UTC)))
        passed = (victim, state["current"]["title"])  # wait until both are behind us
        station.wait_for(lambda s, passed=passed: s["current"]["title"] not in passed, timeout=20)
    time.sleep(1)
    listener.stop()
    history = station.now_playing()["history"]
    for victim, damaged_at in sabotaged:
        aired_since = [
            e["title"] for e in history if datetime.fromisoformat(e["started_at"]) > damaged_at
        ]
        assert victim not in aired_since
    audio, errors = decode(bytes(listener.body))
    assert errors == ""
    assert longest_quiet_run(audio) < 0.5
    unplayable = dict(
        database.rows(station.state, "select path, error from tracks where status='unplayable'")
    )
    for name in ("empty.mp3", "corrupt.ogg", "notes.mp3"):
        assert unplayable[f"music/{name}"], f"{name} has no reason recorded"
    for victim, _ in sabotaged:
        assert f"music/{paths[victim].name}" in unplayable


def _delete(path: Path) -> None:
    path.unlink()


def _corrupt(path: Path) -> None:
    path.write_bytes(b"\0" * path.stat().st_size)


def test_an_empty_library_streams_the_safety_source_until_music_arrives(
    tmp_path: Path, launch: Launch
) -> None:
    station = launch(scan_interval_seconds=0.5)
    time.sleep(1)
    state = station.now_playing()
    assert state["current"]["kind"] == "safety"
    listener = StreamCapture(station.port)
    time.sleep(2)
    safety_audio, errors = decode(bytes(listener.body))
    assert errors == ""
    assert window_rms_db(safety_audio).min() > -40  # never dead air
    staging = tmp_path / "staging"
    tone_library(staging, [(500, 20, "Arrived")])
    shutil.copytree(staging / "music", station.media / "music", dirs_exist_ok=True)
    state = station.wait_for_music(timeout=20)
    assert state["current"]["title"] == "Arrived"
    time.sleep(4)
    listener.stop()
    audio, _ = decode(bytes(listener.body))
    assert dominant_tone(audio[-RATE:], [500.0])[-1] == 500.0
    assert longest_quiet_run(audio) < 0.5
    # The safety source covered, but it is no programme: never in "recently played".
    assert [e["kind"] for e in station.now_playing()["history"]] == []
    assert database.rows(station.state, "select kind, title from plays") == [("music", "Arrived")]


def test_a_fresh_station_starts_with_music_from_its_demo_library(
    tmp_path: Path, launch: Launch
) -> None:
    """An empty media/ and the demo library on: the demo is made and scanned before the
    first item, so the first thing on air, pushed and recorded is music."""
    station = launch(demo_library="true")
    events = _collect_events(station)
    state = station.wait_for(lambda s: s["current"] is not None, timeout=120)
    assert state["current"]["kind"] == "music"
    first_pushed = next(e["current"] for _, e in events if e["current"] is not None)
    assert first_pushed["kind"] == "music"
    kinds = [
        kind
        for (kind,) in database.rows(station.state, "select kind from plays order by started_at")
    ]
    assert kinds[:1] == ["music"]
    assert "safety" not in kinds


def test_a_listener_that_stops_reading_is_dropped_while_others_keep_pace(
    tmp_path: Path, launch: Launch
) -> None:
    tone_library(tmp_path / "media", [(440, 60, "Long")])
    buffer_seconds = 6.0
    station = launch(buffer_seconds=buffer_seconds, listener_sndbuf_bytes=8192)
    station.wait_for_music()
    time.sleep(4)
    steady = StreamCapture(station.port)
    stalled = StreamCapture(station.port, rcvbuf=4096, reading=False)
    stopped_reading = time.time()  # it never reads, from its request on
    client = "{}:{}".format(*stalled.sock.getsockname())
    line = _wait_for_log_line(station, f"dropping listener {client}: ", buffer_seconds + 20)
    assert ": fell behind the buffer" in line, line
    dropped_after = _logged_at(line) - stopped_reading
    print(f"dropped {dropped_after:.2f} s after it stopped reading")
    # Its socket and write buffers fill first (seconds, as the burst was sent at once);
    # from then on the hub keeps its place for the buffer's span, less one playout block
    # (and a margin for a busy machine, whose playout catches up by publishing faster).
    assert dropped_after >= buffer_seconds - 0.5, (
        f"dropped {dropped_after:.1f} s after it stopped reading, inside the buffer's span"
    )
    assert dropped_after < buffer_seconds + 8, f"dropped as late as {dropped_after:.1f} s after"
    assert station.now_playing()["listeners"] == 1
    time.sleep(3)
    steady.stop()
    stalled.stop()
    window = [(t, n) for t, n in steady.arrivals if t - steady.connected_at > 5]
    rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
    assert rate > 0.95 * 16000


def _wait_for_log_line(station: RunningStation, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in station.log.read_text().splitlines():
            if text in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"no log line with {text!r}:\n{station.log.read_text()}")


def _logged_at(line: str) -> float:
    """The POSIX time of a station log line ("2026-11-29 20:01:02,345 INFO ...")."""
    stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")  # local, as logged
    return stamp.timestamp()


@pytest.fixture
def launch_in(tmp_path: Path) -> Iterator[Callable[..., RunningStation]]:
    """Start stations in folders of their own under tmp_path; every one is stopped after
    the test, also when starting a later one or the test itself fails."""
    with contextlib.ExitStack() as started:

        def launch_in(name: str, **settings: object) -> RunningStation:
            station = start_station(tmp_path / name, **settings)
            started.callback(station.stop)
            return station

        yield launch_in


def test_crossfade_overlaps_tracks_and_zero_turns_it_off(
    tmp_path: Path, launch_in: Callable[..., RunningStation]
) -> None:
    tone_library(tmp_path / "fade" / "media", [(440, 7, "A"), (660, 7, "B")])
    tone_library(tmp_path / "cut" / "media", [(440, 7, "A"), (660, 7, "B")])
    stations = [launch_in("fade", crossfade_seconds=2), launch_in("cut", crossfade_seconds=0)]
    for station in stations:
        station.wait_for_music()
    listeners = [StreamCapture(station.port) for station in stations]
    time.sleep(13)  # at least one boundary between A and B after the burst
    for listener in listeners:
        listener.stop()
    overlaps = []
    for listener in listeners:
        audio, errors = decode(bytes(listener.body))
        assert errors == ""
        audio = audio[RATE // 10 :]  # the first frame refers to bits from before the burst
        assert longest_quiet_run(audio, threshold_db=-35) == 0  # never near silence
        both = (tone_levels(audio, [440.0, 660.0], window=0.05) > 0.01).all(axis=1)
        overlaps.append(_longest_true_run(both) * 0.05)
    faded, cut = overlaps
    assert faded >= 1.0, f"with a 2 s crossfade both tracks sounded together only {faded} s"
    assert cut <= 0.15, f"with crossfade 0 the tracks still overlapped {cut} s"


def _longest_true_run(flags: np.ndarray) -> int:
    longest = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        longest = max(longest, run)
    return longest


NEWS = """The council voted on Tuesday to reopen the old river bridge to cyclists and walkers
after two years of repairs. Engineers found that the steel supports had corroded far more than
the first survey suggested. Shop owners on both banks welcomed the news, and the bridge reopens
on Saturday morning with a small ceremony."""


def test_music_and_a_bulletin_air_at_the_station_loudness(tmp_path: Path, launch: Launch) -> None:
    """Measured on the stereo stream as aired, by an EBU R128 meter that is not the station's
    code: each song (one 19 dB quieter than the other, both padded with seconds of silence)
    and the story read in a bulletin between them."""
    target = -16.0  # RADIO_LOUDNESS_TARGET_LUFS's default
    music = tmp_path / "media" / "music"
    music.mkdir(parents=True)
    write_tone(music / "quiet.flac", 9, 440, volume_db=-22, lead_silence=3, tail_silence=3,
               tags={"artist": "Tones", "title": "Quiet"})  # fmt: skip
    write_tone(music / "loud.ogg", 9, 660, volume_db=-3, lead_silence=2, tail_silence=4,
               tags={"artist": "Tones", "title": "Loud"})  # fmt: skip
    station = launch(crossfade_seconds=0)
    headline = _publish_story(station, "Bridge to reopen", NEWS)
    first = station.wait_for_music()["current"]
    events = _collect_events(station)
    listener = StreamCapture(station.port)
    second = station.wait_for(lambda s: s["current"]["started_at"] != first["started_at"])
    station.wait_for(lambda s: s["current"]["started_at"] != second["current"]["started_at"])
    # Two whole songs from here: the one on air now and the one before it.
    added = station.post("/api/queue", json={"bulletin": True, "position": "next"})
    assert added.status_code == 201, added.text
    station.wait_for(lambda s: s["current"]["title"] == headline, timeout=30)
    station.wait_for(lambda s: s["current"]["kind"] == "music", timeout=60)
    time.sleep(1)
    listener.stop()
    stereo, errors = decode(bytes(listener.body), channels=2)
    assert errors == ""
    aired = _items_on_air(events, listener)
    songs = [(title, a, b) for kind, title, a, b in aired if kind == "music" and b]
    story = [(title, a, b) for kind, title, a, b in aired if kind == "news" and title == headline]
    assert {title for title, _, _ in songs} >= {"Quiet", "Loud"}, aired
    assert story, aired
    for title, start, end in [*songs, *story]:
        # The boundaries are known to a playout block; leave out a second at each end.
        part = stereo[int((start + 1) * RATE) : int((end - 1) * RATE)]
        assert len(part) > 3 * RATE, (title, start, end)
        loudness = integrated_loudness(part)
        print(f"{title}: {loudness:.1f} LUFS over {len(part) / RATE:.1f} s")
        assert abs(loudness - target) <= 1.0, f"{title} aired at {loudness:.1f} LUFS"
    # The songs' silence was trimmed: no gap from the first song to the bulletin.
    songs_end = int(max(end for _, _, end in songs) * RATE)
    assert longest_quiet_run(stereo[RATE // 10 : songs_end].mean(axis=1)) < 0.3


def _publish_story(station: RunningStation, title: str, body: str) -> str:
    """Publish a story and wait until its speech is ready; returns its title."""
    created = station.post("/api/articles", json={"title": title, "body": body,
                                                  "author": "Sam Reporter"})  # fmt: skip
    assert created.status_code == 201, created.text
    article = created.json()["id"]
    station.post(f"/api/articles/{article}/publish", json={}).raise_for_status()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        speech = station.get(f"/api/articles/{article}", headers=station.auth()).json()["speech"]
        if speech["status"] == "ready":
            return title
        assert speech["status"] != "failed", speech
        time.sleep(0.2)
    raise AssertionError(f"the story's speech is not ready: {speech}")


def _items_on_air(
    events: list[tuple[float, dict]], listener: StreamCapture
) -> list[tuple[str, str, float, float | None]]:
    """(kind, title, start, end) of each item that began while `listener` listened, in
    seconds of its capture: the push channel announces every item (a jingle too, keeping
    the title before it) as it reaches the live point, where the listener is."""
    starts: list[tuple[str, str, float]] = []
    previous = events[0][1]["current"]  # the snapshot sent on subscribing
    for at, event in events[1:]:
        current = event["current"]
        new = current["started_at"] != previous["started_at"]
        kind, title = (current["kind"], current["title"]) if new else ("jingle", "")
        previous = current
        if at > listener.connected_at:
            starts.append((kind, title, listener.bytes_at(at) / BYTES_PER_SECOND))
    ends: list[float | None] = [start for _, _, start in starts[1:]] + [None]
    return [(*start, end) for start, end in zip(starts, ends, strict=True)]
