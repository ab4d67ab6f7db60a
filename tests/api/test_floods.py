"""Floods from one client against the real station: parallel sign-in guesses and huge bodies.
What a user notices: the answers (429, 413) come, and the station's memory (its RSS, read
from /proc) stays bounded while the flood lasts."""

from __future__ import annotations

import http.client
import json
import select
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.processes import peak_rss
from tests.station import ADMIN_NAME, RunningStation, start_station

pytestmark = pytest.mark.realtime

HEADROOM = 150 * 2**20  # what a flood may add to the station's memory
HUGE = 100 * 2**20  # bytes in each huge body
BLOCK = 2**20


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStation]:
    running = start_station(tmp_path_factory.mktemp("floods"))
    yield running
    running.stop()


def answer(sock: socket.socket) -> http.client.HTTPResponse:
    sock.settimeout(60)  # a bound for a stuck station, not a measure
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.read()
    return response


def all_at_once(port: int, requests: list[bytes]) -> list[http.client.HTTPResponse]:
    """Send the requests on their own connections so they reach the station together: each
    waits for its last byte until every other one is in, as parallel attackers would."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in requests]
    try:
        for sock, request in zip(socks, requests, strict=True):
            sock.sendall(request[:-1])
        for sock, request in zip(socks, requests, strict=True):
            sock.sendall(request[-1:])
        return [answer(sock) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def sign_in_request(username: str, password: str) -> bytes:
    body = json.dumps({"username": username, "password": password}).encode()
    return (
        b"POST /api/session HTTP/1.1\r\nHost: station\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def test_parallel_wrong_passwords_are_throttled_and_memory_stays_bounded(
    station: RunningStation,
) -> None:
    pid = station.process.pid
    [warm_up] = all_at_once(station.port, [sign_in_request("nobody", "a wrong password")])
    assert warm_up.status == 401
    guesses = [sign_in_request(ADMIN_NAME, f"guess number {n}") for n in range(25)]
    with peak_rss(pid) as memory:
        answers = all_at_once(station.port, guesses)

    statuses = sorted(response.status for response in answers)
    assert statuses == [401] * 5 + [429] * 20, statuses  # 5 a minute per name
    for response in answers:
        if response.status == 429:
            assert 0 < int(response.getheader("Retry-After", "0")) <= 60
    grown = memory["peak"] - memory["before"]
    assert grown < HEADROOM, f"the station grew by {grown / 2**20:.0f} MiB"


def push_body(port: int, path: str, chunked: bool) -> tuple[int, int]:
    """POST a HUGE JSON body, as fast as the station takes it, until the station answers.
    Returns the status and how many body bytes were sent before the answer."""
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % HUGE
    head = b"POST %s HTTP/1.1\r\nHost: station\r\nContent-Type: application/json\r\n%s\r\n\r\n"
    opening, closing = b'{"name": "', b'"}'
    filler = b"x" * BLOCK
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        sock.sendall(head % (path.encode(), framing))
        sock.setblocking(False)
        sent = 0
        while sent < HUGE:
            size = min(BLOCK, HUGE - sent)
            block = filler[:size]
            if sent == 0:
                block = opening + block[len(opening) :]
            if sent + size == HUGE:
                block = block[: -len(closing)] + closing
            data = memoryview(b"%x\r\n%s\r\n" % (size, block) if chunked else block)
            answered = False
            while data and not answered:
                readable, writable, _ = select.select([sock], [sock], [], 60)
                answered = bool(readable) or not writable
                if writable and not answered:
                    try:
                        data = data[sock.send(data) :]
                    except (BrokenPipeError, ConnectionResetError):
                        answered = True
            if answered:
                break
            sent += size
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        sock.setblocking(True)
        return answer(sock).status, sent
    finally:
        sock.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_huge_bodies_are_refused_at_once_and_memory_stays_bounded(
    station: RunningStation, chunked: bool
) -> None:
    pid = station.process.pid
    with peak_rss(pid) as memory, ThreadPoolExecutor(5) as pool:
        results = list(
            pool.map(lambda _: push_body(station.port, "/api/listeners/me/name", chunked), range(5))
        )

    assert [status for status, _ in results] == [413] * 5, results
    assert all(sent < HUGE for _, sent in results), results  # answered before the end
    grown = memory["peak"] - memory["before"]
    assert grown < HEADROOM, f"the station grew by {grown / 2**20:.0f} MiB"
    assert station.get("/api/health").status_code == 200
