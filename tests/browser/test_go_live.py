"""Going live from the dashboard ("Go live"), in real Chromium with a fake microphone: the
browser's fake capture device plays a WAV of a known tone
(`--use-fake-device-for-media-stream --use-file-for-fake-audio-capture`), and the real
station takes what the panel sends over /api/live/ws.

What the browser sends is checked by an independent oracle: every binary WebSocket message,
as the browser put it on the wire (Playwright's WebSocket routing passes each one on to
the station and keeps a copy), joined and decoded by ffmpeg, must be WebM with Opus in it,
carrying the microphone's tone and the library track played under it. The station's own
answers drive the page: "On air" shows only once the station says so, and a refusal shows
the station's sentence.

The last test hears the microphone's tone in the station's decoded stream (the takeover of
the air by app/live/)."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, Playwright, WebSocketRoute, expect
from websockets.sync.client import connect

from app.ffmpeg import ffmpeg_path
from tests.api.test_live_ws import tone_webm
from tests.browser.checks import assert_accessible, assert_fits_width, save_screenshot
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, PageFactory, on_air
from tests.browser.test_dashboard import open_section, sign_in
from tests.listen import BYTES_PER_SECOND, RATE, StreamCapture, decode, tone_levels, whole_frames
from tests.station import ADMIN_TOKEN, RunningStation

MIC_HZ = 880.0  # the fake microphone's tone
TRACK_HZ = 550.0  # the library track played under it
MUSIC_HZ = 330.0  # what the station plays until a host goes live
ABSENT_HZ = 1234.0  # a frequency nothing plays: the noise floor to compare with
MIC_SECONDS = 20  # the WAV the fake device loops
WAIT_MS = 30_000  # bounds for a busy machine, not measures
LIVE_CHUNKS = 16  # about 4 s of MediaRecorder chunks of 250 ms
TONES = [(MUSIC_HZ, 240.0, "Programme Tone"), (TRACK_HZ, 120.0, "Under The Voice")]


@pytest.fixture(scope="module")
def microphone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone hears: a steady MIC_HZ sine at -12 dBFS, 48 kHz mono."""
    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    t = np.arange(48000 * MIC_SECONDS) / 48000
    samples = (0.25 * np.sin(2 * np.pi * MIC_HZ * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(samples.tobytes())
    return path


@pytest.fixture(scope="module")
def browser(playwright: Playwright, microphone_wav: Path) -> Iterator[Browser]:
    """Chromium with a fake microphone playing `microphone_wav`, allowed without asking."""
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone_wav}"]  # fmt: skip
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    yield browser
    browser.close()


@dataclass
class Wire:
    """The panel's WebSocket as the browser sends and receives it, passed on to the station.
    While `hold_on_air` is set, the station's "on_air" is kept back from the page."""

    audio: list[bytes] = field(default_factory=list)
    from_page: list[dict[str, Any]] = field(default_factory=list)
    from_station: list[dict[str, Any]] = field(default_factory=list)
    hold_on_air: bool = False
    held: list[str] = field(default_factory=list)
    route: WebSocketRoute | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, page: Page) -> None:
        page.route_web_socket(re.compile(r".*/api/live/ws$"), self._route)

    def _route(self, route: WebSocketRoute) -> None:
        self.route = route
        station = route.connect_to_server()
        station_gone = False  # once the station closed its side, page messages go nowhere

        def from_page(message: str | bytes) -> None:
            if isinstance(message, bytes):
                with self.lock:
                    self.audio.append(message)
            else:
                self.from_page.append(json.loads(message))
            if not station_gone:  # sent on a closed socket, Chrome logs a console error
                station.send(message)

        def from_station(message: str | bytes) -> None:
            said = json.loads(message)
            self.from_station.append(said)
            if said.get("type") == "on_air" and self.hold_on_air:
                self.held.append(str(message))
                return
            route.send(message)

        def station_closed(code: int | None, reason: str | None) -> None:
            nonlocal station_gone
            station_gone = True
            # Passed on here, after the messages before it: left to Playwright, the page's
            # side closed at once, and a message still on its way through this relay (the
            # station's "off_air" before its close) met a closed socket in the page.
            allowed = code is not None and (code == 1000 or 3000 <= code <= 4999)
            route.close(code=code if allowed else None, reason=reason)

        route.on_message(from_page)
        station.on_message(from_station)
        station.on_close(station_closed)

    def release_on_air(self) -> None:
        self.hold_on_air = False
        assert self.route is not None
        for message in self.held:
            self.route.send(message)
        self.held.clear()

    def webm(self) -> bytes:
        with self.lock:
            return b"".join(self.audio)


def live_panel(new_page: PageFactory, station: RunningStation, wire: Wire | None,
               size: tuple[int, int] = (1280, 800)) -> Page:  # fmt: skip
    """The dashboard's Go live panel, signed in; its WebSocket through `wire` if given (None:
    straight to the station, as a host's browser has it)."""
    page = new_page(station.url, size)
    if wire is not None:
        wire.attach(page)
    sign_in(page)
    open_section(page, "Go live")
    return page


def choose_track(page: Page, title: str) -> None:
    panel = page.locator("#golive")
    panel.get_by_label("Track", exact=True).fill(title)
    panel.get_by_role("button", name="Find").click()
    panel.get_by_role("button", name=re.compile(f"Choose .*{title}")).click()
    expect(page.locator("#live-track-name")).to_contain_text(title)
    page.evaluate("document.getElementById('live-track').play()")  # its Play control


def wait_for_stream(page: Page, capture: StreamCapture, seconds: float) -> None:
    """Until the stream has brought `seconds` more of audio (it comes at real time)."""
    wanted = len(capture.body) + seconds * BYTES_PER_SECOND
    deadline = time.monotonic() + seconds + WAIT_MS / 1000
    while len(capture.body) < wanted:
        assert time.monotonic() < deadline, "the stream stopped coming"
        page.wait_for_timeout(100)


def probe(webm: bytes, tmp_path: Path) -> tuple[str, np.ndarray]:
    """ffmpeg's description of the bytes (container, codec), and their audio decoded to
    mono float samples at RATE."""
    path = tmp_path / "sent.webm"
    path.write_bytes(webm)
    described = subprocess.run([ffmpeg_path(), "-hide_banner", "-nostdin", "-i", str(path)],
                               capture_output=True, text=True).stderr  # fmt: skip
    decoded = subprocess.run(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
         "-f", "f32le", "-ac", "1", "-ar", str(RATE), "pipe:1"],
        capture_output=True, check=True,
    )  # fmt: skip
    return described, np.frombuffer(decoded.stdout, dtype=np.float32)


def test_going_live_sends_webm_opus_carrying_the_microphone_and_the_track_under_it(
    launch: Any, new_page: PageFactory, tmp_path: Path
) -> None:
    station = on_air(launch, TONES)
    wire = Wire(hold_on_air=True)
    page = live_panel(new_page, station, wire)
    indicator = page.locator("#live-indicator")
    expect(indicator).to_have_text("Off air")
    choose_track(page, "Under The Voice")

    page.get_by_role("button", name="Go live").click()
    # The station has answered and audio flows, but until it says it took over the air,
    # the page does not say "On air".
    expect(indicator).to_have_text(re.compile("Waiting for the station"), timeout=WAIT_MS)
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(wire.audio) < 4 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(wire.audio) >= 4, "the panel sent no audio"
    assert wire.from_station[0] == {"type": "accepted"}
    expect(indicator).not_to_have_text("On air")
    wire.release_on_air()
    expect(indicator).to_have_text("On air", timeout=WAIT_MS)
    assert wire.from_page[0]["type"] == "start"
    assert wire.from_page[0]["csrf"]

    # The level meter shows what goes on air.
    page.wait_for_function(
        "() => document.getElementById('live-level').value > 0.1", timeout=WAIT_MS
    )
    assert_accessible(page)
    save_screenshot(page, "dashboard-go-live")

    while len(wire.audio) < LIVE_CHUNKS and time.monotonic() < deadline + WAIT_MS / 1000:
        page.wait_for_timeout(250)
    page.get_by_role("button", name="Stop").click()
    expect(indicator).to_have_text("Off air", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Go live")).to_be_enabled()
    expect(page.locator("#live-level")).to_have_js_property("value", 0)
    assert wire.from_page[-1] == {"type": "stop"}, "Stop hands back after the last chunk"

    described, samples = probe(wire.webm(), tmp_path)
    assert "matroska,webm" in described, described
    assert "Audio: opus" in described, described
    seconds = len(samples) / RATE
    assert seconds >= 3, f"only {seconds:.1f} s of audio came: {described}"
    levels = tone_levels(samples[RATE // 2 :], [MIC_HZ, TRACK_HZ, ABSENT_HZ], window=0.25)
    mic, track, floor = levels[:, 0], levels[:, 1], levels[:, 2]
    assert np.median(mic) > 0.02, f"no microphone tone: {np.median(mic):.4f}"
    assert np.median(track) > 0.005, f"no track under the voice: {np.median(track):.4f}"
    assert np.median(mic) > 20 * np.median(floor)
    assert np.median(track) > 5 * np.median(floor)
    # Every quarter second of the show carries the voice: nothing was lost on the way.
    assert (mic > 10 * floor).mean() > 0.95, mic.round(3).tolist()


def test_the_stations_refusal_is_shown_as_its_sentence(
    launch: Any, new_page: PageFactory, tmp_path: Path
) -> None:
    station = launch()
    wire = Wire()
    page = live_panel(new_page, station, wire)
    url = station.url.replace("http://", "ws://") + "/api/live/ws"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with connect(url, additional_headers=headers, open_timeout=30) as other_source:
        other_source.send(json.dumps({"type": "start"}))
        assert json.loads(other_source.recv(timeout=30)) == {"type": "accepted"}
        # Audio that decodes: the other source holds the mount (one that sends nothing is
        # let go after 5 s, and a busy machine may take that long to reach the click).
        other_source.send(tone_webm(tmp_path))
        page.get_by_role("button", name="Go live").click()
        expect(page.locator("#live-problem")).not_to_be_empty(timeout=WAIT_MS)
        refused = [said for said in wire.from_station if said["type"] == "refused"]
        assert refused, wire.from_station
        assert refused[0]["status"] == 403, refused  # Icecast's "Mountpoint in use"
        expect(page.get_by_role("alert").filter(has_text=refused[0]["message"])).to_be_visible()
    expect(page.locator("#live-indicator")).to_have_text("Off air")
    expect(page.get_by_role("button", name="Go live")).to_be_enabled()
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()
    assert_accessible(page, "#golive")


def test_the_panel_fits_a_phone_and_passes_axe(launch: Any, new_page: PageFactory) -> None:
    station = launch()
    page = live_panel(new_page, station, Wire(), PHONE)
    assert_fits_width(page, "the Go live panel")
    assert_accessible(page)


def test_the_microphone_is_heard_in_the_stations_stream(launch: Any, new_page: PageFactory) -> None:
    station = on_air(launch, TONES[:1])
    # Straight to the station: what is heard is what the browser sent, with nothing between.
    page = live_panel(new_page, station, None)
    capture = StreamCapture(station.port)
    try:
        page.get_by_role("button", name="Go live").click()
        expect(page.locator("#live-indicator")).to_have_text("On air", timeout=WAIT_MS)
        wait_for_stream(page, capture, 8)  # the show, as the stream carries it
        page.get_by_role("button", name="Stop").click()
        expect(page.locator("#live-indicator")).to_have_text("Off air", timeout=WAIT_MS)
        wait_for_stream(page, capture, 6)  # the programme's return
    finally:
        capture.stop()
    samples, _ = decode(whole_frames(bytes(capture.body)))
    levels = tone_levels(samples, [MIC_HZ, MUSIC_HZ], window=0.25)
    # The burst and the playout's lead put "now" some seconds into the capture: judge by the
    # audio itself. The microphone dominates a stretch of at least 4 s, music before and after.
    mic_windows = levels[:, 0] > 4 * levels[:, 1]
    assert mic_windows.sum() * 0.25 >= 4, levels.round(3).tolist()
    first, last = np.flatnonzero(mic_windows)[[0, -1]]
    assert (levels[:first, 1] > levels[:first, 0]).any(), "no programme before the show"
    assert (levels[last + 1 :, 1] > levels[last + 1 :, 0]).any(), "the programme did not return"
