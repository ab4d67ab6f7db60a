"""Speech is rendered in child processes that exit when done: the station that serves the
listeners never loads the speech engine (eSpeak NG's C library). Nor numpy and LAME: the
playout process decodes, mixes and encodes, and what the station synthesizes (the demo
library, the news stings) is made in children that exit."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from app.files import TEMP_PREFIX
from tests import database
from tests.processes import PLAYOUT, command_line, descendants
from tests.station import start_station


def mapped_files(pid: int) -> set[str]:
    with open(f"/proc/{pid}/maps") as maps:
        return {line.split()[-1] for line in maps if len(line.split()) >= 6}


def python_children(pid: int) -> list[str]:
    """Command lines of the live Python processes under `pid`: the workers that render and
    exit (its ffmpeg decoders and its playout process, which lives as long as it does, aside)."""
    commands = [command_line(child) for child in descendants(pid)]
    return [b" ".join(command).decode() for command in commands
            if command and b"python" in os.path.basename(command[0])
            and PLAYOUT not in command]  # fmt: skip


def test_the_serving_process_never_loads_the_speech_engine_or_numpy(tmp_path: Path) -> None:
    station = start_station(
        tmp_path, seed_stings=False, sample_news="true", demo_library=None
    )  # made at start
    try:
        station.wait_for_music()  # the demo library was made, scanned and is on air
        # The sample stories are written at start-up, all in one transaction.
        deadline = time.monotonic() + 60
        while not (articles := station.get("/api/articles", headers=station.auth()).json()
                   ["items"]) and time.monotonic() < deadline:  # fmt: skip
            time.sleep(0.2)
        assert len(articles) >= 3
        ready = station.wait_for_speech(timeout=180)
        # The openings job runs beside the stories: wait until every worker has exited.
        deadline = time.monotonic() + 60
        while (workers := python_children(station.process.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert workers == []
        loaded = mapped_files(station.process.pid)
    finally:
        station.stop()
    assert len(ready) == len(articles)
    assert len(list((station.media / "news").glob("*.mp3"))) >= len(articles)
    assert not [path for path in loaded if "espeak" in path.lower()]
    assert list((station.media / "news" / "stings").glob("*.mp3"))  # made in a child
    assert not [path for path in loaded if "numpy" in path or "lameenc" in path]


def test_an_unknown_voice_stops_the_station_at_start_up_with_the_reason(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuntimeError, match="no voice 'xx-none'"):
        start_station(tmp_path, tts_voice="xx-none")


STOP_SECONDS = 10  # a station asked to stop while it speaks has stopped within this


def test_a_station_stopped_while_it_speaks_stops_at_once_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    """SIGTERM mid-render: the station does not wait for the render (a minute or more for
    an hour of speech), its speech child removes the file it was writing, and the story is
    not marked failed: the next start renders it (`render_pending`, as after a crash)."""
    sentences = [f"Sentence {n} of the long report tells what the council said about the "
                 f"{n}th road, its bridges and its {n + 7} lamps." for n in range(600)]  # fmt: skip
    body = " ".join(sentences)  # about 60 000 characters: an hour of speech
    station = start_station(tmp_path, own_group=True)
    news = station.media / "news"
    try:
        created = station.post("/api/articles", json={"title": "The Long Report", "body": body})
        assert created.status_code == 201, created.text
        article = created.json()["id"]
        station.post(f"/api/articles/{article}/publish", json={}).raise_for_status()
        deadline = time.monotonic() + 180
        while not list(news.glob(f"{TEMP_PREFIX}*")):  # the child is writing the file
            assert time.monotonic() < deadline, "the render never began writing its file"
            time.sleep(0.05)
        asked = time.monotonic()
        station.process.terminate()
        try:
            station.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the station was still speaking {STOP_SECONDS} s after it was asked "
                        "to stop")  # fmt: skip
        stopped_in = time.monotonic() - asked
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(station.process.pid, signal.SIGKILL)  # whatever is left of its group
        station.stop()
    left = list(news.glob(f"{TEMP_PREFIX}*"))
    assert left == [], f"stopped in {stopped_in:.1f} s and left {left}"
    # Cut short, not failed: the story keeps a state the next start renders again.
    [(status, error)] = database.rows(station.state, "SELECT status, error FROM speech")
    assert status in ("pending", "rendering"), error
