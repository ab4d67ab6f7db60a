"""Going live from the browser, the station's side: the WebSocket at /api/live/ws of a real
station, driven by a real WebSocket client (the `websockets` package) as a browser would
drive it. Hosts only (a personal token, or the session cookie with its CSRF token), not
from another site's page, one live source at a time, messages bounded in size and rate,
every refusal a sentence."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from app.ffmpeg import ffmpeg_path
from tests.live.sources import wait_live
from tests.station import ADMIN_NAME, ADMIN_PASSWORD, ADMIN_TOKEN, RunningStation, start_station

PATH = "/api/live/ws"
CHUNK_BYTES = 4000  # about the 250 ms a MediaRecorder chunk of the dashboard holds
WAIT = 30.0  # a bound on waiting for an answer on a busy machine, not a measure


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStation]:
    running = start_station(tmp_path_factory.mktemp("station"))
    yield running
    running.stop()


def tone_webm(folder: Path) -> bytes:
    """Five seconds of a 660 Hz tone as WebM/Opus, as MediaRecorder records it."""
    path = folder / "tone.webm"
    subprocess.run(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
         "sine=frequency=660:duration=5", "-c:a", "libopus", "-b:a", "128k", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


@pytest.fixture(scope="module")
def webm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return tone_webm(tmp_path_factory.mktemp("webm"))


@pytest.fixture(autouse=True)
def off_air(station: RunningStation) -> None:
    """Each test starts with nobody live: the one before has handed back (its fade played)."""
    wait_live(station, "off", timeout=WAIT)


def ws_url(station: RunningStation) -> str:
    return station.url.replace("http://", "ws://") + PATH


def open_socket(station: RunningStation, token: str | None = ADMIN_TOKEN,
                **kwargs: Any) -> ClientConnection:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers |= kwargs.pop("headers", {})
    return connect(ws_url(station), additional_headers=headers, open_timeout=WAIT,
                   max_size=None, **kwargs)  # fmt: skip


def answer(socket: ClientConnection) -> dict[str, Any]:
    message = socket.recv(timeout=WAIT)
    assert isinstance(message, str), f"expected a control message, got {len(message)} bytes"
    return json.loads(message)  # type: ignore[no-any-return]


def refusal(socket: ClientConnection) -> tuple[int, str, int | None]:
    """(status, message, close code) of the refusal the station sends, then closes with."""
    refused = answer(socket)
    assert refused["type"] == "refused", refused
    with pytest.raises(ConnectionClosed):
        socket.recv(timeout=WAIT)
    code = socket.close_code
    return refused["status"], refused["message"], code


def go_live(socket: ClientConnection, csrf: str | None = None) -> None:
    socket.send(json.dumps({"type": "start"} | ({"csrf": csrf} if csrf else {})))
    assert answer(socket) == {"type": "accepted"}


def sign_in(station: RunningStation) -> tuple[str, str]:
    """(session cookie, CSRF token), as the dashboard's sign-in gets them."""
    response = httpx.post(station.url + "/api/session", timeout=WAIT,
                          json={"username": ADMIN_NAME, "password": ADMIN_PASSWORD})  # fmt: skip
    response.raise_for_status()
    return response.cookies["radio_session"], response.json()["csrf_token"]


def test_a_host_with_a_token_goes_live_and_hears_when_it_is_on_air(
    station: RunningStation, webm: bytes
) -> None:
    with open_socket(station) as socket:
        go_live(socket)
        # Real time, as a browser sends it: the station says "on air" once it has taken over.
        said: dict[str, Any] = {}
        for start in range(0, len(webm), CHUNK_BYTES):
            socket.send(webm[start : start + CHUNK_BYTES])
            try:
                said = json.loads(socket.recv(timeout=0.25))
            except TimeoutError:
                continue
            if said.get("type") == "on_air":
                break
        assert said == {"type": "on_air"}, said
        socket.send(json.dumps({"type": "stop"}))
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=WAIT)
        assert socket.close_code == 1000


def test_one_live_source_at_a_time_and_the_next_one_after_it_stops(
    station: RunningStation, webm: bytes
) -> None:
    with open_socket(station) as first:
        go_live(first)
        first.send(webm[:CHUNK_BYTES])
        with open_socket(station) as second:
            second.send(json.dumps({"type": "start"}))
            status, message, code = refusal(second)
        assert status == 403  # Icecast's "Mountpoint in use", as on /live
        assert "admin is live" in message, message
        assert code == 4403
    # Closing the first ended its show: the next host goes on.
    deadline = time.monotonic() + WAIT
    while True:
        with open_socket(station) as third:
            third.send(json.dumps({"type": "start"}))
            said = answer(third)
            if said["type"] == "accepted" or time.monotonic() > deadline:
                break
        time.sleep(0.2)  # the close is being handled: ask again
    assert said == {"type": "accepted"}


def test_without_credentials_the_answer_says_to_sign_in(station: RunningStation) -> None:
    with open_socket(station, token=None) as socket:
        status, message, code = refusal(socket)
    assert (status, code) == (401, 4401)
    assert "sign in" in message


def test_a_wrong_token_is_refused(station: RunningStation) -> None:
    with open_socket(station, token="radio_not-a-token") as socket:
        status, message, _ = refusal(socket)
    assert status == 401
    assert "invalid or revoked token" in message


def test_the_session_cookie_needs_the_csrf_token_in_the_start_message(
    station: RunningStation,
) -> None:
    cookie, csrf = sign_in(station)
    headers = {"Cookie": f"radio_session={cookie}"}
    with open_socket(station, token=None, headers=headers, origin=station.url) as socket:
        socket.send(json.dumps({"type": "start"}))
        status, message, _ = refusal(socket)
    assert status == 403
    assert "reload the dashboard" in message
    with open_socket(station, token=None, headers=headers, origin=station.url) as socket:
        socket.send(json.dumps({"type": "start", "csrf": "not-" + csrf}))
        assert refusal(socket)[0] == 403
    with open_socket(station, token=None, headers=headers, origin=station.url) as socket:
        go_live(socket, csrf)


def test_another_sites_page_cannot_even_open_it(station: RunningStation) -> None:
    cookie, _ = sign_in(station)
    with pytest.raises(InvalidStatus) as refused:
        open_socket(station, token=None, headers={"Cookie": f"radio_session={cookie}"},
                    origin="https://evil.example")  # fmt: skip
    assert refused.value.response.status_code == 403


def test_audio_before_the_start_message_is_refused(station: RunningStation) -> None:
    with open_socket(station) as socket:
        socket.send(b"\x1a\x45\xdf\xa3")
        status, message, _ = refusal(socket)
    assert status == 400
    assert "start message" in message


def test_an_oversized_message_is_refused_with_a_sentence_and_a_huge_one_is_cut_off(
    station: RunningStation,
) -> None:
    with open_socket(station) as socket:
        go_live(socket)
        socket.send(bytes(129 * 1024))
        status, message, _ = refusal(socket)
    assert status == 413
    assert "at most 131072 bytes" in message
    wait_live(station, "off", timeout=WAIT)  # the cut-off input's fade back has played
    with open_socket(station) as socket:
        go_live(socket)
        socket.send(bytes(1024 * 1024))  # the server closes before reading it whole
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=WAIT)
        assert socket.close_code == 1009


def test_audio_faster_than_a_live_show_needs_is_refused(
    station: RunningStation, tmp_path: Path
) -> None:
    # Real audio (garbage would be refused as undecodable first): 30 s of Opus at 510 kbps,
    # about 2 MB, sent at once.
    path = tmp_path / "loud.webm"
    subprocess.run(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
         "anoisesrc=duration=30", "-ac", "2", "-c:a", "libopus", "-b:a", "510k", "-vbr", "off",
         str(path)],
        check=True,
    )  # fmt: skip
    audio = path.read_bytes()
    assert len(audio) > 1_500_000, len(audio)
    with open_socket(station) as socket:
        go_live(socket)
        try:
            for start in range(0, len(audio), 100_000):
                socket.send(audio[start : start + 100_000])
        except ConnectionClosed:
            pass
        status, message, _ = refusal(socket)
    assert status == 413
    assert "more than the limit of 512 kbps" in message


def test_a_flood_of_small_messages_is_refused(station: RunningStation) -> None:
    with open_socket(station) as socket:
        go_live(socket)
        try:
            for _ in range(400):
                socket.send(json.dumps({"type": "title", "text": "spam"}))
        except ConnectionClosed:
            pass
        status, message, _ = refusal(socket)
    assert status == 429
    assert "more messages than a live show needs" in message


def test_an_unknown_control_message_is_refused(station: RunningStation) -> None:
    with open_socket(station) as socket:
        go_live(socket)
        socket.send(json.dumps({"type": "dance"}))
        status, message, _ = refusal(socket)
    assert status == 400
    assert "send start, title or stop" in message
