"""Request heads are bounded in time and size on every path, as Icecast and nginx bound them:
a client that sends half a head and stops, drips it, or sends header lines without end is
cut off within seconds, and the station stays small, while a listener keeps its stream."""

from __future__ import annotations

import itertools
import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import tone_library
from tests.listen import BYTES_PER_SECOND, StreamCapture
from tests.processes import peak_rss
from tests.station import RunningStation, start_station

pytestmark = [pytest.mark.realtime, pytest.mark.xdist_group("request-heads")]

# What a user can expect of the station, not its settings: a stalled head is dropped well
# within this (the station allows 10 s; Icecast 15 s), even on a busy machine.
CLOSED_WITHIN = 40.0
FLOOD_SOCKETS = 20
FLOOD_BYTES = 5 * 1024 * 1024
# Twenty 5 MB heads kept whole would be 100 MB; bounded heads are a few hundred KiB in all.
RSS_GROWTH_LIMIT = 40 * 1024 * 1024
LISTENED = 6.0  # seconds a listener is watched for its audio, at least
PARTIAL_API_HEAD = b"GET /api/now-playing HTTP/1.1\r\nHost: x\r\nX-A: "


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStation]:
    root = tmp_path_factory.mktemp("heads")
    tone_library(root / "media", [(440, 20, "Low Tone"), (660, 20, "High Tone")])
    running = start_station(root)
    try:
        running.wait_for_music()
        yield running
    finally:
        running.stop()


@pytest.fixture
def listener(station: RunningStation) -> Iterator[StreamCapture]:
    """A normal listener on /stream for the whole test, which must keep its audio."""
    client = StreamCapture(station.port)
    yield client
    client.stop()


def connect(station: RunningStation, head: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", station.port), timeout=10)
    if head:
        sock.sendall(head)
    return sock


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length (its head and body may come in pieces)."""
    received = b""
    while b"\r\n\r\n" not in received:
        data = sock.recv(65536)
        assert data, f"closed before the head ended: {received!r}"
        received += data
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        data = sock.recv(65536)
        assert data, f"closed before the body ended: {received!r}"
        body += data
    assert len(body) == length, "more than the one response"
    return head + b"\r\n\r\n" + body


def wait_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the station sent until it closed the connection; fail at `deadline`."""
    received = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return received
        except TimeoutError:
            raise AssertionError(f"still open after {CLOSED_WITHIN} s; got {received!r}") from None
        if not data:
            return received
        received += data


def assert_listening(listener: StreamCapture, since: float) -> None:
    """The listener is connected and its audio kept coming at the stream's rate throughout,
    watched for LISTENED seconds at least from `since` (the start of the attack)."""
    time.sleep(max(0.0, since + LISTENED - time.monotonic()))
    assert listener.closed_at is None, "the listener was disconnected"
    assert listener.status_line.endswith("200 OK")
    seconds = time.monotonic() - since
    received = listener.bytes_at(time.monotonic()) - listener.bytes_at(since)
    assert received >= 0.5 * BYTES_PER_SECOND * seconds, (received, seconds)
    times = [since] + [t for t, _ in listener.arrivals if t >= since] + [time.monotonic()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) < 3.0, f"the listener's audio stopped for {max(gaps):.1f} s"


def drip(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """Send `head` one byte a second, as a slowloris does, until the station cuts it off."""
    for byte in head:
        if stop.wait(1.0):
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            return


def test_stalled_and_dripping_heads_are_closed(
    station: RunningStation, listener: StreamCapture
) -> None:
    started = time.monotonic()
    deadline = started + CLOSED_WITHIN
    stalled = [connect(station, PARTIAL_API_HEAD) for _ in range(10)]
    stalled.append(connect(station, b"GET /stream HTTP/1.1\r\nHost: x\r\n"))
    silent = connect(station)  # connects and never says a word
    dripping = connect(station)
    kept_alive = connect(station, b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    kept_alive.settimeout(10)
    first_answer = read_response(kept_alive)
    assert first_answer.startswith(b"HTTP/1.1 200"), first_answer
    stop = threading.Event()
    endless = b"GET /api/now-playing HTTP/1.1\r\nHost: x\r\n" + b"X-B: " + b"b" * 10_000
    drippers = [threading.Thread(target=drip, args=(sock, endless, stop), daemon=True)
                for sock in (dripping, kept_alive)]  # fmt: skip
    for thread in drippers:
        thread.start()
    try:
        for sock in stalled:
            assert wait_closed(sock, deadline).startswith(b"HTTP/1.1 408 "), "no 408 answer"
        assert wait_closed(silent, deadline) == b""  # nothing asked, nothing answered
        assert wait_closed(dripping, deadline).startswith(b"HTTP/1.1 408 ")
        assert wait_closed(kept_alive, deadline).startswith(b"HTTP/1.1 408 ")
    finally:
        stop.set()
        for sock in [*stalled, silent, dripping, kept_alive]:
            sock.close()
    assert_listening(listener, started)
    assert station.get("/api/health").status_code == 200


def test_an_idle_kept_alive_connection_is_closed(station: RunningStation) -> None:
    sock = connect(station, b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        answer = wait_closed(sock, time.monotonic() + CLOSED_WITHIN)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert answer.count(b"HTTP/1.1") == 1  # closed quietly, without an unasked answer


def flood(station: RunningStation, outcome: dict[int, str], index: int) -> None:
    """Send a head of FLOOD_BYTES of header lines; record how the station ended it."""
    line = b"X-Pad: " + b"p" * 1000 + b"\r\n"
    sock = connect(station, b"GET /api/now-playing HTTP/1.1\r\nHost: x\r\n")
    try:
        sent = 0
        while sent < FLOOD_BYTES:
            try:
                sock.sendall(line * 64)
            except OSError:
                outcome[index] = "cut off while sending"
                return
            sent += len(line) * 64
        try:
            answer = wait_closed(sock, time.monotonic() + CLOSED_WITHIN)
        except AssertionError:
            outcome[index] = "whole head taken, connection left open"
            return
        outcome[index] = answer.split(b"\r\n", 1)[0].decode() or "closed without an answer"
    finally:
        sock.close()


def test_header_floods_are_refused_and_the_station_stays_small(
    station: RunningStation, listener: StreamCapture
) -> None:
    outcome: dict[int, str] = {}
    started = time.monotonic()
    floods = [threading.Thread(target=flood, args=(station, outcome, i), daemon=True)
              for i in range(FLOOD_SOCKETS)]  # fmt: skip
    with peak_rss(station.process.pid) as memory:
        for thread in floods:
            thread.start()
        for thread in floods:
            thread.join()
    before, peak = memory["before"], memory["peak"]
    refused = {"cut off while sending", "HTTP/1.1 431 Request Header Fields Too Large",
               "closed without an answer"}  # fmt: skip
    assert set(outcome.values()) <= refused, outcome
    assert len(outcome) == FLOOD_SOCKETS
    assert peak - before < RSS_GROWTH_LIMIT, f"{before / 2**20:.0f} -> {peak / 2**20:.0f} MB"
    assert_listening(listener, started)


def test_large_heads_are_refused_whole_and_normal_ones_served(station: RunningStation) -> None:
    cookie = b"Cookie: c=" + b"c" * 8000 + b"\r\n"  # a big but honest head: 8 KB of cookie
    sock = connect(station, b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + cookie + b"\r\n")
    try:
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    finally:
        sock.close()
    for path in (b"/api/health", b"/stream"):  # 24 KB sent in one piece, head complete
        big = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + cookie * 3 + b"\r\n"
        sock = connect(station, big)
        try:
            answer = wait_closed(sock, time.monotonic() + CLOSED_WITHIN)
        finally:
            sock.close()
        assert answer.startswith(b"HTTP/1.1 431 "), (path, answer[:200])
