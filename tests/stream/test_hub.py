"""The hub gathers the playout's blocks into larger writes, yet the title changes exactly where
an item's audio starts: over a real TCP connection, every ICY block carries the title of
the audio before it, and `on_item_live` is told when the item's first byte goes out."""

from __future__ import annotations

import asyncio

from app.scheduler.item import Item, ItemKind
from app.stream.hub import StreamHub
from app.stream.response import StreamInfo
from tests.listen import split_icy

METAINT = 16000
BLOCK = 2000  # bytes a playout block carries here; the hub writes 6400 B at a time
INFO = StreamInfo(name="Test FM", description="", genre="", url="", public=False,
                  bitrate_kbps=128, sample_rate=44100, metaint=METAINT)  # fmt: skip
FIRST = Item(kind=ItemKind.music, title="First", artist="A")
SECOND = Item(kind=ItemKind.music, title="Second", artist="B")
STARTS = {0: FIRST, 16: SECOND}  # block number -> the item starting with it (at 32000 B)
BLOCKS = 40


class HandOver(asyncio.Protocol):
    """What the HTTP layer does with a stream request: the connection goes to the hub."""

    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.hub.attach(transport, "GET", [(b"icy-metadata", b"1")], "test")


async def listen_while_publishing() -> tuple[bytes, bytes, list[tuple[str, int]]]:
    hub = StreamHub(INFO, buffer_bytes=10**6, burst_bytes=0, sndbuf_bytes=65536,
                    listener_cookie="radio_listener", verify_listener=lambda _cookie: None,
                    write_seconds=0.4)  # fmt: skip
    live: list[tuple[str, int]] = []  # (title, the hub's live point when told)
    hub.on_item_live.append(lambda item, _stream_at: live.append((item.title, hub.end)))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HandOver(hub), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = await reader.readuntil(b"\r\n\r\n")
    published = b""
    for n in range(BLOCKS):
        data = bytes([n]) * BLOCK  # each block's bytes say which block they are
        starts = [(0, STARTS[n])] if n in STARTS else []
        hub.publish(data, starts)
        published += data
        if starts:  # the item's first audio went out with it, not held back with later blocks
            live.append(("written", hub.end))
        await asyncio.sleep(0)
    hub.close()
    body = await reader.read()  # until the hub closes the connection
    writer.close()
    server.close()
    await server.wait_closed()
    assert b"icy-metaint: 16000" in head
    return published, body, live


def test_titles_change_where_the_items_audio_starts_though_writes_are_larger() -> None:
    published, body, live = asyncio.run(listen_while_publishing())

    # Told when the item's first byte is the next to go out, not before or after.
    assert live == [("First", 0), ("written", BLOCK),
                    ("Second", 16 * BLOCK), ("written", 17 * BLOCK)]  # fmt: skip
    split = split_icy(body, METAINT)
    assert split.audio == published[: len(split.audio)]
    # Each block carries the title of the audio before it (an empty one: unchanged since).
    changes = dict(split.titles)
    titles, title = [], ""
    for offset in split.block_offsets:
        title = changes.get(offset, title)
        titles.append((offset, title))
    assert titles[:4] == [(16000, "A - First"), (32000, "A - First"), (48000, "B - Second"),
                          (64000, "B - Second")]  # fmt: skip
