"""Who the hub counts as listening, over real TCP connections handed to it as the HTTP layer
does: a listener with two tabs once, every connection without a listener cookie once, and
each as it comes and goes (the counts are kept as connections join and leave, and must
agree with the connections really open)."""

from __future__ import annotations

import asyncio
import contextlib

from app.stream.hub import StreamHub
from app.stream.response import StreamInfo

INFO = StreamInfo(name="Test FM", description="", genre="", url="", public=False,
                  bitrate_kbps=128, sample_rate=44100, metaint=16000)  # fmt: skip
COOKIES = {"ann-cookie": "ann", "bee-cookie": "bee"}  # cookie -> the listener id it signs


class HandOver(asyncio.Protocol):
    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub
        self.cookie: bytes | None = None

    def data_received(self, data: bytes) -> None:  # the request's head: its cookie, if any
        headers = [(b"cookie", line.split(b": ", 1)[1]) for line in data.split(b"\r\n")
                   if line.lower().startswith(b"cookie: ")]  # fmt: skip
        assert isinstance(self.transport, asyncio.Transport)
        self.hub.attach(self.transport, "GET", headers, "test")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport


async def count_while_listeners_come_and_go() -> list[tuple[int, bool, bool]]:
    hub = StreamHub(INFO, buffer_bytes=10**6, burst_bytes=0, sndbuf_bytes=65536,
                    listener_cookie="radio_listener", verify_listener=COOKIES.get)  # fmt: skip
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HandOver(hub), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    seen: list[tuple[int, bool, bool]] = []  # (listeners, ann listens, bee listens)

    async def tune_in(cookie: str | None) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = b"GET /stream HTTP/1.1\r\n" + (f"Cookie: radio_listener={cookie}\r\n".encode()
                                             if cookie else b"")  # fmt: skip
        writer.write(head + b"\r\n")
        await reader.readuntil(b"\r\n\r\n")  # the hub answered: it holds the connection
        return writer

    left = asyncio.Event()
    hub.on_listener.append(lambda _listener, event: left.set() if event == "left" else None)

    async def hang_up(writer: asyncio.StreamWriter) -> None:
        left.clear()
        writer.transport.abort()
        # The hub notices a closed client when it next writes to it: audio goes on.
        for _ in range(500):
            hub.publish(bytes(2000), [])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(left.wait(), 0.02)
                return
        raise AssertionError("the hub never noticed the connection close")

    def note() -> None:
        seen.append((hub.listeners_now(), hub.is_listening("ann"), hub.is_listening("bee")))

    ann_tab1 = await tune_in("ann-cookie")
    ann_tab2 = await tune_in("ann-cookie")
    bee = await tune_in("bee-cookie")
    forged = await tune_in("made-up")  # a cookie the station did not sign: no one's
    nobody = await tune_in(None)
    note()
    await hang_up(ann_tab1)
    note()
    await hang_up(ann_tab2)
    note()
    await hang_up(forged)
    await hang_up(bee)
    note()
    await hang_up(nobody)
    note()
    hub.close()
    server.close()
    await server.wait_closed()
    return seen


def test_the_hub_counts_a_listener_once_and_each_cookieless_connection() -> None:
    seen = asyncio.run(count_while_listeners_come_and_go())
    assert seen == [
        (4, True, True),  # ann (two tabs), bee, the forged cookie and the cookieless one
        (4, True, True),  # ann still has a tab open
        (3, False, True),
        (1, False, False),
        (0, False, False),
    ]
