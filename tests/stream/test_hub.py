"""The hub gathers the playout's blocks into larger writes, yet the title changes exactly where
an item's audio starts: over a real TCP connection, every ICY block carries the title of
the audio before it, and `on_item_live` is told when the item's first byte goes out."""

from __future__ import annotations

import asyncio

from app.core.item import Item, ItemKind
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


class Recorder:
    """A sink as the relay outputs and the HLS segmenter are: notes what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def write(self, data: bytes) -> None:
        self.events.append(("write", data))

    def title(self, title: str, url: str) -> None:
        self.events.append(("title", title))


class Broken:
    def write(self, data: bytes) -> None:
        raise RuntimeError("disk full")

    def title(self, title: str, url: str) -> None:
        pass


def test_sinks_get_every_byte_in_order_and_each_title_before_its_audio() -> None:
    hub = StreamHub(INFO, buffer_bytes=10**6, burst_bytes=0, sndbuf_bytes=65536,
                    listener_cookie="radio_listener", verify_listener=lambda _cookie: None,
                    write_seconds=0.4)  # fmt: skip
    early, late, broken = Recorder(), Recorder(), Broken()
    hub.add_sink(early)
    hub.add_sink(broken)
    published = b""
    for n in range(BLOCKS):
        if n == 20:
            hub.add_sink(late)
        data = bytes([n]) * BLOCK
        hub.publish(data, [(0, STARTS[n])] if n in STARTS else [])
        published += data
    hub.publish(b"", [(0, FIRST)])  # flushes what is pending, with the next title

    assert broken not in hub._sinks  # removed at its first fault; the others carry on
    # The station's name until the first item; each title right before its item's first byte.
    events = early.events
    assert events[0] == ("title", "Test FM")
    assert b"".join(d for kind, d in events if kind == "write") == published  # type: ignore[misc]
    seen = b""
    for kind, value in events:
        if kind == "title" and value == "B - Second":
            assert len(seen) == 16 * BLOCK  # nothing of the second item came before its title
        if kind == "write":
            seen += value  # type: ignore[operator]
    # A sink added mid-stream is told the title in force, then only what follows.
    assert late.events[0] == ("title", "B - Second")
    late_bytes = b"".join(d for kind, d in late.events if kind == "write")  # type: ignore[misc]
    assert published.endswith(late_bytes)
    # ...from the write it joined before: every block since, and at most one write's worth
    # (0.4 s = 6400 B) of the blocks just before.
    assert 20 * BLOCK <= len(late_bytes) <= 20 * BLOCK + 6400 + BLOCK
    assert hub.title == ("A - First", "")


def test_an_ogg_mount_gives_late_joiners_the_headers_of_the_chain_they_join() -> None:
    """An Ogg chain's header pages (`headers`) go first to a sink added in its middle: it
    holds a stream a decoder can start, as a listener's burst does (tests/stream/test_mounts)."""
    hub = StreamHub(INFO, buffer_bytes=10**6, burst_bytes=0, sndbuf_bytes=65536,
                    listener_cookie="radio_listener", verify_listener=lambda _cookie: None,
                    write_seconds=0)  # fmt: skip
    hub.publish(b"[head1][page1]", [(0, FIRST)], headers=b"[head1]")
    mid_chain = Recorder()
    hub.add_sink(mid_chain)
    hub.publish(b"[page2]", [])
    hub.publish(b"[head2][page3]", [(0, SECOND)], headers=b"[head2]")
    at_chain = Recorder()
    hub.add_sink(at_chain)
    hub.publish(b"[page4]", [])

    def written(sink: Recorder) -> bytes:
        return b"".join(data for what, data in sink.events if what == "write")  # type: ignore[misc]

    assert written(mid_chain) == b"[head1][page2][head2][page3][page4]"
    assert written(at_chain) == b"[head2][page4]"
