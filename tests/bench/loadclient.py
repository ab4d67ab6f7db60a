"""The load client: N stream listeners in one process, one selector loop, no asyncio.

Run by tests/bench/listeners.py as `python -m tests.bench.loadclient ...`; it writes one
JSON file of per-listener results. All times are time.monotonic() (CLOCK_MONOTONIC, the
same clock in every process), so the parent can measure the servers over the same window.

Each listener: a non-blocking TCP connect to 127.0.0.1, `GET <path> HTTP/1.0` as soon as it
is connected, then reads until the end. Until its first audio byte a listener is watched
continuously (epoll with no delay), so the time to first byte is exact to the loop's latency.
After that it is read every `poll` seconds (one recv_into per socket into a big buffer, with
a large SO_RCVBUF so the kernel holds what arrives in between): what the server sends and
when is unchanged, but the client spends far less CPU than one wake-up per server write.
Such a periodic pass reads LAZY_SLICE sockets at a time and serves the connecting ones in
between, so thousands of open listeners do not delay a new listener's first byte.

A listener's rate is measured in the common window [window_start, end_at]: bytes received
between its first read at or after window_start and its last read before end_at, divided by
the time between those two reads. A listener that has no audio by the end says why
(never connected, no response head, no audio): a failure is never an empty row.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import selectors
import socket
import sys
import time
from pathlib import Path

from tests.bench.common import raise_nofile

RECV_BUFFER = 256 * 1024
HEAD_LIMIT = 16 * 1024
LAZY_SLICE = 200  # sockets read per slice of a periodic pass
MAX_CLIENTS = 20000


class Client:
    __slots__ = (
        "audio_bytes", "bytes_last", "bytes_ws", "error", "head", "index", "sock", "status",
        "t_audio", "t_closed", "t_connect", "t_head", "t_last", "t_sent", "t_ws",
    )  # fmt: skip

    def __init__(self, index: int) -> None:
        self.index = index
        self.sock: socket.socket | None = None
        self.head = bytearray()
        self.status = ""
        self.error = ""
        self.audio_bytes = 0
        self.t_connect = self.t_sent = self.t_head = self.t_audio = self.t_closed = 0.0
        self.t_ws = self.t_last = 0.0
        self.bytes_ws = self.bytes_last = 0

    def result(self, window_start: float) -> dict[str, object]:
        rate = None
        if self.t_ws and self.t_last > self.t_ws:
            rate = (self.bytes_last - self.bytes_ws) / (self.t_last - self.t_ws)
        return {
            "status": self.status,
            "error": self.error,
            "connect_ms": _ms(self.t_sent - self.t_connect) if self.t_sent else None,
            "ttfb_head_ms": _ms(self.t_head - self.t_sent) if self.t_head else None,
            "ttfb_audio_ms": _ms(self.t_audio - self.t_sent) if self.t_audio else None,
            "audio_bytes": self.audio_bytes,
            "rate": rate,
            "rate_window_s": (self.t_last - self.t_ws) if rate is not None else None,
            # Audio began after the window opened: its rate would include the join burst.
            "late_audio": bool(self.t_audio) and self.t_audio > window_start,
            "closed_early": bool(self.t_closed),
        }


def _why_no_audio(client: Client) -> str:
    if not client.t_connect:
        return "never opened"
    if not client.t_sent:
        return "connect: not established by the end"
    if not client.t_head:
        return "no response head by the end"
    return "no audio by the end"


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def run(host: str, port: int, path: str, clients: int, start_at: float, ramp: float,
        window_start: float, end_at: float, poll: float,
        rcvbuf: int) -> dict[str, object]:  # fmt: skip
    assert host in ("127.0.0.1", "::1", "localhost"), "loopback only"
    request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: bench\r\n\r\n".encode()
    eager = selectors.EpollSelector()
    lazy = selectors.EpollSelector()
    buffer = bytearray(RECV_BUFFER)
    view = memoryview(buffer)
    everyone = [Client(i) for i in range(clients)]
    opened = 0
    cpu_ws = cpu_end = None
    loop_iterations = 0
    lag_max = 0.0  # how late a periodic pass started, at worst, in the window

    def close(client: Client, error: str = "", at_end: bool = False) -> None:
        sock = client.sock
        if sock is None:
            return
        for selector in (eager, lazy):
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(sock)
        sock.close()
        client.sock = None
        if not at_end:
            client.t_closed = time.monotonic()
        if error and not client.error:
            client.error = error

    def open_connection(client: Client) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        client.sock = sock
        client.t_connect = time.monotonic()
        code = sock.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            close(client, f"connect: {os.strerror(code)}")
            return
        eager.register(sock, selectors.EVENT_WRITE, client)

    def on_eager(client: Client, events: int) -> None:
        sock = client.sock
        assert sock is not None
        if not client.t_sent:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                close(client, f"connect: {os.strerror(code)}")
                return
            sock.send(request)
            client.t_sent = time.monotonic()
            eager.modify(sock, selectors.EVENT_READ, client)
            return
        try:
            n = sock.recv_into(buffer)
        except BlockingIOError:
            return
        except OSError as error:
            close(client, f"recv: {error}")
            return
        now = time.monotonic()
        if n == 0:
            close(client, "closed by server before audio")
            return
        if client.status:  # head done, this is the first audio
            client.t_audio = now
            client.audio_bytes = n
            eager.unregister(sock)
            lazy.register(sock, selectors.EVENT_READ, client)
            return
        if not client.t_head:
            client.t_head = now
        client.head += view[:n]
        end = client.head.find(b"\r\n\r\n")
        if end < 0:
            if len(client.head) > HEAD_LIMIT:
                close(client, "response head too long")
            return
        client.status = client.head.split(b"\r\n", 1)[0].decode("latin-1")
        audio = len(client.head) - end - 4
        client.head = bytearray()
        if " 200" not in client.status:
            close(client, f"status: {client.status}")
            return
        if audio <= 0:
            return  # stay on the eager schedule until the first audio byte
        client.t_audio = now
        client.audio_bytes = audio
        # From here on, read on the lazy schedule.
        eager.unregister(sock)
        lazy.register(sock, selectors.EVENT_READ, client)

    def on_lazy(client: Client) -> None:
        sock = client.sock
        if sock is None:  # closed since the pass began
            return
        # What one recv returns is what had arrived when it was called: stamp it then (a
        # pass of thousands of sockets takes a while, and the process may be descheduled).
        now = time.monotonic()
        got = 0
        while True:
            try:
                n = sock.recv_into(buffer)
            except BlockingIOError:
                break
            except OSError as error:
                close(client, f"recv: {error}")
                return
            if n == 0:
                close(client, "closed by server")
                break
            got += n
            if n < RECV_BUFFER:
                break
        if not got:
            return
        client.audio_bytes += got
        if now >= window_start and now <= end_at:
            if not client.t_ws:
                client.t_ws, client.bytes_ws = now, client.audio_bytes
            client.t_last, client.bytes_last = now, client.audio_bytes

    now = time.monotonic()
    next_lazy = start_at
    pending: list[tuple[selectors.SelectorKey, int]] = []  # this periodic pass, still to read
    try:
        while now < end_at:
            loop_iterations += 1
            while opened < clients and now >= start_at + ramp * opened / clients:
                open_connection(everyone[opened])
                opened += 1
            next_open = start_at + ramp * opened / clients if opened < clients else end_at
            timeout = 0.0 if pending else max(0.0, min(next_open, next_lazy, end_at) - now)
            if eager.get_map():
                for key, events in eager.select(timeout):
                    on_eager(key.data, events)
            elif timeout > 0:
                time.sleep(timeout)
            now = time.monotonic()
            if not pending and now >= next_lazy:
                if window_start <= now:
                    lag_max = max(lag_max, now - next_lazy)
                pending = lazy.select(0) if lazy.get_map() else []
                next_lazy += poll
                if next_lazy < now:
                    next_lazy = now + poll
            if pending:
                for key, _ in pending[:LAZY_SLICE]:
                    on_lazy(key.data)
                del pending[:LAZY_SLICE]
            if cpu_ws is None and now >= window_start:
                cpu_ws = (now, os.times())
            now = time.monotonic()
        cpu_end = (now, os.times())
    finally:
        for client in everyone:
            if not (client.error or client.t_audio):
                client.error = _why_no_audio(client)
            close(client, at_end=True)
        eager.close()
        lazy.close()
    client_cpu = None
    if cpu_ws is not None and cpu_end is not None:
        (t0, a), (t1, b) = cpu_ws, cpu_end
        used = (b.user + b.system) - (a.user + a.system)
        client_cpu = 100.0 * used / (t1 - t0) if t1 > t0 else None
    return {
        "clients": [client.result(window_start) for client in everyone],
        "client_cpu_percent": client_cpu,
        "loop_iterations": loop_iterations,
        "pass_lag_ms_max": round(lag_max * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/stream")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--start-at", type=float, required=True, help="time.monotonic()")
    parser.add_argument("--ramp", type=float, default=2.0)
    parser.add_argument("--window-start", type=float, required=True)
    parser.add_argument("--end-at", type=float, required=True)
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--rcvbuf", type=int, default=1024 * 1024)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not (0 < args.clients <= MAX_CLIENTS) or args.end_at - time.monotonic() > 3600:
        parser.error(f"bounded: at most {MAX_CLIENTS} clients and one hour")
    if raise_nofile(args.clients + 100) < args.clients + 100:
        print(f"loadclient: open-files limit below {args.clients + 100}: some listeners will "
              "fail with 'Too many open files'", file=sys.stderr)  # fmt: skip
    result = run(args.host, args.port, args.path, args.clients, args.start_at, args.ramp,
                 args.window_start, args.end_at, args.poll, args.rcvbuf)  # fmt: skip
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
