"""A station that stops ends its playout process by telling it to (EOF on its pipe): the
process ends by itself, whether it was still waiting for the station's first item (or still
starting, on a busy machine) or airing music, and the station is not left waiting out the
grace it gives before a kill."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from tests.accounts.harness import TestClient, running_app
from tests.audio import write_tone
from tests.station import STARTUP_SECONDS


def title_on_air(client: TestClient) -> str | None:
    return (client.get("/api/now-playing").json()["current"] or {}).get("title")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("music", [False, True], ids=["before-its-first-item", "music"])
def test_a_stopping_station_s_playout_ends_by_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, music: bool
) -> None:
    if music:
        write_tone(tmp_path / "media" / "music" / "tone.mp3", 60, 440,
                   tags={"artist": "Artist", "title": "Tone"})  # fmt: skip
    caplog.set_level(logging.INFO)
    with running_app(tmp_path) as client:
        deadline = time.monotonic() + STARTUP_SECONDS
        while music and title_on_air(client) != "Tone":
            assert time.monotonic() < deadline, "the tone did not come on air"
            time.sleep(0.1)
        pid = client.app_state["station"].playout.pid
        assert pid is not None
    assert "did not end" not in caplog.text, "the playout was killed, not stopped"
    assert gone(pid)
