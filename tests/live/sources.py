"""Real ffmpeg as a host's Icecast source on /live, and the station's live state: shared by
the live tests (tests/live/test_icecast_source.py, tests/live/test_recording.py)."""

from __future__ import annotations

import subprocess
import time

from app.ffmpeg import ffmpeg_path
from tests.station import ADMIN_NAME, ADMIN_PASSWORD, RunningStation

SOURCE_TONE = 880
MP3 = ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3", "-content_type", "audio/mpeg"]


def source(station: RunningStation, *lavfi: str, password: str = ADMIN_PASSWORD,
           user: str = ADMIN_NAME, output: list[str] = MP3,
           realtime: bool = True) -> subprocess.Popen[bytes]:  # fmt: skip
    """Real ffmpeg as a source client, sending MP3 (or `output`) at real-time pace."""
    url = f"icecast://{user}:{password}@127.0.0.1:{station.port}/live"
    return subprocess.Popen(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error",
         *(["-re"] if realtime else []),
         "-f", "lavfi", "-i", ",".join(lavfi) if lavfi else f"sine=f={SOURCE_TONE}:r=44100",
         *output, url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def live_state(station: RunningStation) -> dict:
    return station.get("/api/live", headers=station.auth()).json()


def wait_live(station: RunningStation, state: str | tuple[str, ...], timeout: float = 20) -> dict:
    """The live input's status once its state is `state` (or one of them)."""
    states = (state,) if isinstance(state, str) else state
    deadline = time.monotonic() + timeout
    while (status := live_state(station))["state"] not in states:
        assert time.monotonic() < deadline, f"live never became {state!r}: {status}"
        time.sleep(0.05)
    return status
