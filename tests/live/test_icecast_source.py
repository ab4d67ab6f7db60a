"""A host goes live with real ffmpeg as an Icecast source on /live: the stream becomes the
source's tone (decoded from the captured /stream by FFT), its title reaches ICY and the push
channel, and the programme returns on disconnect and on silence; wrong credentials and a
second source are refused without touching the air, and with slots required, a source outside
its show's slot."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import tone_library
from tests.listen import FfmpegTitles, StreamCapture, decode, dominant_tone
from tests.live.sources import SOURCE_TONE, live_state, source, wait_live
from tests.station import ADMIN_NAME, ADMIN_PASSWORD, ADMIN_TOKEN, RunningStation, start_station

pytestmark = [pytest.mark.realtime, pytest.mark.xdist_group("live-source")]

MUSIC = [(440, 20, "Low Tone"), (550, 20, "Other Tone")]
FREQS = [440.0, 550.0, float(SOURCE_TONE)]
WINDOW = 0.1
TAKEOVER_SECONDS = 2.0


@pytest.fixture
def station(tmp_path: Path) -> Iterator[RunningStation]:
    tone_library(tmp_path / "media", MUSIC)
    running = start_station(tmp_path, live_silence_seconds=3, crossfade_seconds=1)
    try:
        running.wait_for_music()
        yield running
    finally:
        running.stop()


def tones(capture: StreamCapture) -> list[float | None]:
    samples, _ = decode(bytes(capture.body))
    return dominant_tone(samples, FREQS, WINDOW)


def arrival(capture: StreamCapture, offset: int) -> float:
    """When the byte at body `offset` arrived (monotonic)."""
    for when, total in capture.arrivals:
        if total > offset:
            return when
    raise AssertionError(f"byte {offset} never arrived")


def first_run(found: list[float | None], tone: float, start: int = 0, run: int = 5) -> int:
    """The first window at or after `start` that begins `run` windows of `tone`."""
    for i in range(start, len(found) - run + 1):
        if all(t == tone for t in found[i : i + run]):
            return i
    raise AssertionError(f"no {tone} Hz after window {start}: {found[start:]}")


class Events(threading.Thread):
    """The push channel (SSE), every now-playing event's current title."""

    def __init__(self, station: RunningStation) -> None:
        super().__init__(daemon=True)
        self.url = f"{station.url}/api/now-playing/events"
        self.titles: list[str] = []
        self.items: list[dict] = []  # every event's current item, whole
        self.start()

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=None) as response:
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        current = json.loads(line[5:]).get("current") or {}
                        self.items.append(current)
                        self.titles.append(str(current.get("title")))
        except httpx.HTTPError:
            return  # the station stopped


def raw_source(station: RunningStation, method: str, auth: str | None) -> bytes:
    """A source request on a raw socket; the station's first answer."""
    with socket.create_connection(("127.0.0.1", station.port), timeout=20) as sock:
        head = f"{method} /live HTTP/1.1\r\nHost: x\r\nContent-Type: audio/mpeg\r\n"
        if auth is not None:
            head += f"Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n"
        sock.sendall((head + "\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
        return answer


def test_a_source_takes_over_titles_and_hands_back_on_disconnect_and_silence(
    station: RunningStation,
) -> None:
    capture = StreamCapture(station.port)
    events = Events(station)
    titles = FfmpegTitles(f"{station.url}/stream")
    sender: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(2)
        spawned = time.monotonic()
        sender = source(station)
        # The station let it in (starting: its audio decodes; on air at once on a fast box).
        began = wait_live(station, ("starting", "on_air"), timeout=20) and time.monotonic()
        wait_live(station, "on_air")

        # A second source while one is on air: Icecast's "Mountpoint in use".
        second = raw_source(station, "SOURCE", f"{ADMIN_NAME}:{ADMIN_PASSWORD}")
        assert second.startswith(b"HTTP/1.0 403"), second
        assert b"Mountpoint in use" in second

        # The title from the metadata endpoint: now playing, ICY and the push channel.
        update = {"mode": "updinfo", "mount": "/live", "song": "Evening Tones"}
        answer = station.get("/admin/metadata", params=update, auth=(ADMIN_NAME, ADMIN_PASSWORD))
        assert answer.status_code == 200, answer.text
        assert "<return>1</return>" in answer.text
        station.wait_for(lambda now: now["current"]["title"] == "Evening Tones", timeout=15)
        titles.wait_for(lambda seen: any("Evening Tones" in t for t in seen), timeout=15)
        deadline = time.monotonic() + 10
        while "Evening Tones" not in events.titles:
            assert time.monotonic() < deadline, events.titles
            time.sleep(0.1)
        time.sleep(2)

        # The source hangs up: the programme returns.
        sender.kill()
        sender.wait()
        hung_up = time.monotonic()
        status = wait_live(station, "off")
        assert status["last_ended"]["reason"] == "the source disconnected", status
        now = station.wait_for(lambda now: now["current"]["kind"] == "music", timeout=15)
        assert now["current"]["title"] in ("Low Tone", "Other Tone")
        time.sleep(3)
    finally:
        if sender is not None and sender.poll() is None:
            sender.kill()
            sender.wait()
        capture.stop()
        titles.stop()
    found = tones(capture)
    takeover = first_run(found, SOURCE_TONE)
    heard_at = arrival(capture, round(takeover * WINDOW * 16000))
    assert heard_at - began < TAKEOVER_SECONDS, (
        f"the source's tone was heard {heard_at - began:.2f} s after it began sending"
    )
    back = next(i for i in range(takeover, len(found)) if found[i] in (440.0, 550.0)
                and all(t in (440.0, 550.0) for t in found[i : i + 10]))  # fmt: skip
    assert arrival(capture, round(back * WINDOW * 16000)) - hung_up < 5.0
    assert SOURCE_TONE not in found[back:], "the source's tone after the programme returned"
    print(
        f"takeover heard {heard_at - began:.2f} s after the source was let in, "
        f"{heard_at - spawned:.2f} s after its ffmpeg started"
    )

    # Silence: a source that falls silent is ended after RADIO_LIVE_SILENCE_SECONDS.
    quiet = source(station, f"sine=f={SOURCE_TONE}:r=44100:d=2", "apad")
    try:
        wait_live(station, "on_air")
        station.wait_for(lambda now: now["current"]["kind"] == "live", timeout=15)
        status = wait_live(station, "off", timeout=20)
        assert "silent" in status["last_ended"]["reason"], status
        station.wait_for(lambda now: now["current"]["kind"] == "music", timeout=15)
        assert quiet.poll() is None or quiet.returncode != 0  # cut off by the station
    finally:
        quiet.kill()
        quiet.wait()


def test_wrong_credentials_are_refused_and_the_air_is_untouched(station: RunningStation) -> None:
    answer = raw_source(station, "PUT", f"{ADMIN_NAME}:wrong-password")
    assert answer.startswith(b"HTTP/1.0 401"), answer
    assert b'WWW-Authenticate: Basic realm="Icecast2 Server"' in answer
    assert raw_source(station, "SOURCE", None).startswith(b"HTTP/1.0 401")
    sender = source(station, password="wrong-password")
    try:
        sender.wait(30)
    finally:
        sender.kill()
    assert sender.returncode != 0
    assert live_state(station)["state"] == "off"
    assert station.now_playing()["current"]["kind"] == "music"
    # A personal token as the password (any name) is let in; a host hands back from the
    # dashboard's button (POST /api/live/end): the programme returns, the source is let go.
    token = source(station, user="source", password=ADMIN_TOKEN)
    try:
        wait_live(station, "on_air")
        station.wait_for(lambda now: now["current"]["kind"] == "live", timeout=15)
        assert station.post("/api/live/end").status_code == 200
        status = wait_live(station, "off")
        assert "handed back" in status["last_ended"]["reason"], status
        station.wait_for(lambda now: now["current"]["kind"] == "music", timeout=15)
        token.wait(15)  # the station closed its connection
        assert station.post("/api/live/end").status_code == 409  # nobody is live now
    finally:
        token.kill()
        token.wait()


def test_an_ogg_opus_source_and_its_in_stream_title(station: RunningStation) -> None:
    opus = ["-c:a", "libopus", "-b:a", "96k", "-metadata", "artist=DJ Test",
            "-metadata", "title=Opus Hour", "-f", "ogg", "-content_type", "audio/ogg"]  # fmt: skip
    sender = source(station, output=opus)
    try:
        wait_live(station, "on_air")
        now = station.wait_for(lambda now: now["current"]["title"] == "Opus Hour", timeout=15)
        assert now["current"]["artist"] == "DJ Test"
        assert now["current"]["kind"] == "live"
    finally:
        sender.kill()
        sender.wait()
    wait_live(station, "off")


def test_a_source_over_the_bitrate_limit_is_cut_off(station: RunningStation) -> None:
    fast = source(station, f"sine=f={SOURCE_TONE}:r=44100:d=600", realtime=False)
    try:
        fast.wait(30)  # the station hangs up on it
        deadline = time.monotonic() + 15
        while not (status := live_state(station))["refusals"] or status["state"] != "off":
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
    finally:
        fast.kill()
        fast.wait()
    assert status["refusals"][0]["status"] == 413, status
    assert "512 kbps" in status["refusals"][0]["message"]
    station.wait_for(lambda now: now["current"]["kind"] == "music", timeout=15)


def test_garbage_is_refused_without_touching_the_air(station: RunningStation) -> None:
    with socket.create_connection(("127.0.0.1", station.port), timeout=20) as sock:
        auth = base64.b64encode(f"{ADMIN_NAME}:{ADMIN_PASSWORD}".encode()).decode()
        sock.sendall(f"SOURCE /live HTTP/1.0\r\nAuthorization: Basic {auth}\r\n"
                     "Content-Type: audio/mpeg\r\n\r\n".encode())  # fmt: skip
        assert sock.recv(4096).startswith(b"HTTP/1.0 200 OK")
        try:
            for _ in range(40):
                sock.sendall(bytes(range(256)) * 16)
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused already: the station hung up
        status = live_state(station)
        deadline = time.monotonic() + 15
        while not status["refusals"]:
            assert status["state"] != "on_air", status
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
            status = live_state(station)
    assert status["refusals"][0]["status"] == 415, status
    assert station.now_playing()["current"]["kind"] == "music"
    problems = station.get("/api/station/problems", headers=station.auth()).json()
    assert any("refused" in json.dumps(p) for p in problems.get("items", problems)), problems


def test_a_source_that_sends_nothing_is_dropped_without_touching_the_air(
    station: RunningStation,
) -> None:
    with socket.create_connection(("127.0.0.1", station.port), timeout=30) as sock:
        auth = base64.b64encode(f"{ADMIN_NAME}:{ADMIN_PASSWORD}".encode()).decode()
        head = (f"PUT /live HTTP/1.1\r\nAuthorization: Basic {auth}\r\n"
                "Content-Type: audio/mpeg\r\nExpect: 100-continue\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        assert live_state(station)["state"] == "starting"
        assert sock.recv(4096) == b""  # the station hangs up on it
    status = live_state(station)
    assert status["state"] == "off"
    assert status["refusals"][0]["status"] == 415
    assert "no audio could be decoded" in status["refusals"][0]["message"]
    assert station.now_playing()["current"]["kind"] == "music"


def test_with_slots_required_a_source_goes_live_only_in_a_slot_of_its_hosts_show(
    tmp_path: Path,
) -> None:
    """RADIO_LIVE_REQUIRE_SLOT: outside a slot of their show a host's source is refused (403,
    the sentence naming their next slot), the air untouched; inside it, it takes over and
    now playing says the show and its host."""
    tone_library(tmp_path / "media", MUSIC)
    station = start_station(tmp_path, live_require_slot=True, timezone="UTC")
    try:
        station.wait_for_music()
        me = station.get("/api/session", headers=station.auth()).json()["host"]
        now = datetime.now(UTC)
        later = {"weekday": (now.weekday() + 3) % 7, "start": "12:00", "minutes": 60}
        created = station.post("/api/shows", json={"name": "Night Owls", "host_ids": [me["id"]],
                                                   "slots": [later]})  # fmt: skip
        assert created.status_code == 201, created.text
        show = created.json()["id"]
        host = created.json()["hosts"][0]

        answer = raw_source(station, "PUT", f"{ADMIN_NAME}:{ADMIN_PASSWORD}")
        assert answer.startswith(b"HTTP/1.0 403"), answer
        assert "Your next slot: “Night Owls”".encode() in answer, answer
        refused = source(station)
        try:
            refused.wait(30)
        finally:
            refused.kill()
        assert refused.returncode != 0  # ffmpeg was refused too
        status = live_state(station)
        assert status["state"] == "off"
        assert "Night Owls" in status["refusals"][-1]["message"], status
        assert station.now_playing()["current"]["kind"] == "music"

        # The slot now (this hour, two hours long: across midnight too): on air as the show.
        this_hour = {"weekday": now.weekday(), "start": f"{now.hour:02d}:00", "minutes": 120}
        moved = httpx.patch(f"{station.url}/api/shows/{show}", headers=station.auth(),
                            json={"slots": [this_hour]}, timeout=10)  # fmt: skip
        assert moved.status_code == 200, moved.text
        sender = source(station)
        try:
            wait_live(station, "on_air")
            current = station.wait_for(lambda np: np["current"]["kind"] == "live", timeout=15)
            assert current["current"]["title"] == "Night Owls", current["current"]
            assert current["current"]["artist"] == (host["display_name"] or host["username"])
        finally:
            sender.kill()
            sender.wait()
    finally:
        station.stop()
