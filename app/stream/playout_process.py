"""The station's end of the playout process: starts it, serves it, restarts it.

The playout (decoders, sequencer, clock, MP3 encoder) runs in a child process of its own
(app/stream/playout_child.py), so nothing on the web side can delay the audio. Here, on the
event loop: each MP3 chunk it sends is published to the hub as it arrives (at its air
time); its questions for the next item are answered by the scheduler on a thread of their
own (the database must not block the loop, and other background work must not queue in
front of it); failures and what comes next are passed on. A child that dies is started
again at once (listeners stay connected; the gap is logged as skipped audio), and the
child ends with the station.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.core.item import Item
from app.playout.lost import SKIPPED_AUDIO
from app.stream import playout_wire as wire

log = logging.getLogger(__name__)

PIPE_BYTES = 1 << 20  # a minute of audio: a stalled event loop does not stall the playout
RESTART_DELAYS = (0.1, 0.5, 2.0, 5.0)  # after the child dies, and again if it keeps dying
STABLE_SECONDS = 30.0  # a child that lived this long starts the delays over
STOP_SECONDS = 5.0  # a child told to stop (EOF) that has not ended by then is killed
# A child still starting when told to stop (not heard from yet: seconds on a busy machine)
# ends as soon as it reads its pipe: it gets up to this long to come up, then STOP_SECONDS.
STARTING_STOP_SECONDS = 30.0
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PLAYOUT_PROBLEM = "playout"
PublishMount = Callable[[str, bytes, list[tuple[int, Item]], bytes | None, int], None]


class PlayoutProcess:
    def __init__(
        self,
        config: dict[str, Any],
        next_item: Callable[[], Item | None],
        publish: Callable[[bytes, list[tuple[int, Item]]], None],
        on_failure: Callable[[Item, str], None],
        safety_item: Item,
        on_problem: Callable[[str, str, str | None], None] = lambda key, what, cause: None,
        publish_mount: PublishMount | None = None,
        on_live: Callable[[str, str], None] = lambda state, reason: None,
        break_item: Callable[[float], Item | None] = lambda by: None,
    ) -> None:
        self._config = config
        self._next_item = next_item
        self._publish = publish
        self._on_failure = on_failure
        self._on_problem = on_problem  # (key, what, cause): a fault; cause None: it is over
        # An extra mount's audio: (path, data, starts, headers or None, programme sample).
        self._publish_mount = publish_mount
        # The live input's steps: ("on_air" | "news" | "refused" | "ended", reason), on the
        # event loop.
        self._on_live = on_live
        # While a live input is on air: the clock item due by a time (POSIX seconds) that
        # takes the air from it, or the next part of the one airing (on the scheduler's thread).
        self._break_item = break_item
        self._live = False  # a live input was begun in this process and has not ended
        self._items: dict[int, Item] = {wire.SAFETY_TOKEN: safety_item}
        self._tokens: dict[int, int] = {id(safety_item): wire.SAFETY_TOKEN}
        self._last_token = wire.SAFETY_TOKEN
        self._scheduler = ThreadPoolExecutor(1, thread_name_prefix="playout-scheduler")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.WriteTransport | None = None
        self._reader: asyncio.ReadTransport | None = None
        self._generation = 0
        self._failures = 0
        self._restarted = False
        self._started_at = 0.0
        self._heard = asyncio.Event()  # the current child sent something (it is up) or ended
        self._stopping = False
        self._restart_task: asyncio.Task[None] | None = None
        self.upcoming: Item | None = None  # what follows the item listeners hear, if known
        # For the metrics: the latest STATS of this playout process, the counters of those
        # before it, and what happened on this side.
        self._stats: dict[str, float] = {}
        self._stats_before: dict[str, float] = dict.fromkeys(wire.PLAYOUT_COUNTERS, 0.0)
        self.restarts = 0
        self.failures = 0  # items that could not play

    def stats(self) -> dict[str, float]:
        """The playout's counters over every process it ran (wire.PLAYOUT_COUNTERS) and the
        current one's gauges (wire.PLAYOUT_GAUGES; absent until its first report)."""
        counters = {name: self._stats_before[name] + self._stats.get(name, 0.0)
                    for name in wire.PLAYOUT_COUNTERS}  # fmt: skip
        gauges = {name: self._stats[name] for name in wire.PLAYOUT_GAUGES if name in self._stats}
        return {**counters, **gauges, "restarts": self.restarts, "failures": self.failures}

    @property
    def generation(self) -> int:
        """Counts the playout processes started: programme samples count from 0 in each."""
        return self._generation

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._spawn()

    async def stop(self) -> None:
        self._stopping = True
        if self._restart_task is not None:
            self._restart_task.cancel()
        process = self._process
        if self._writer is not None:
            self._writer.close()  # EOF: the child ends itself
        if process is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heard.wait(), STARTING_STOP_SECONDS)
            try:
                await asyncio.to_thread(process.wait, STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("the playout process %d did not end within %.0f s of the stop: killed",
                            process.pid, STOP_SECONDS)  # fmt: skip
                process.kill()
                await asyncio.to_thread(process.wait)
        if self._reader is not None:
            self._reader.close()
        self._scheduler.shutdown(wait=False, cancel_futures=True)

    def skip(self, item: Item | None = None) -> None:
        """Skip what listeners hear; with `item`, only while that is what they hear.
        Safe from any thread."""
        token = self._tokens.get(id(item)) if item is not None else None
        if item is not None and token is None:
            return  # never announced by this playout: not on air
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing at shutdown
                message = wire.pack_json(wire.SKIP, {"token": token})
                self._loop.call_soon_threadsafe(self._send, message)

    def live_begin(self, item: Item, content_type: str, silence_seconds: float) -> None:
        """A live input begins: its audio follows by live_data (on the event loop)."""
        self._live = True
        token = self._token_for(item)
        self._send(wire.pack_json(wire.LIVE_BEGIN, {
            "token": token, "item": wire.item_to_json(item), "content_type": content_type,
            "silence_seconds": silence_seconds}))  # fmt: skip

    def live_data(self, data: bytes) -> None:
        self._send(wire.pack(wire.LIVE_DATA, data))

    def live_title(self, item: Item) -> None:
        token = self._token_for(item)
        self._send(wire.pack_json(wire.LIVE_TITLE, {"token": token,
                                                    "item": wire.item_to_json(item)}))  # fmt: skip

    def live_end(self, reason: str) -> None:
        self._send(wire.pack_json(wire.LIVE_END, {"reason": reason}))

    @property
    def pipe_backlog(self) -> int:
        """Bytes written to the playout process and not yet taken by it."""
        return self._writer.get_write_buffer_size() if self._writer is not None else 0

    # -- inside -------------------------------------------------------------------------------

    async def _spawn(self) -> None:
        assert self._loop is not None
        process = self._start_process()
        assert process.stdin is not None
        assert process.stdout is not None
        self._generation += 1
        for name in wire.PLAYOUT_COUNTERS:  # the process before: its counters stay counted
            self._stats_before[name] += self._stats.get(name, 0.0)
        self._stats = {}
        self._process = process
        self._heard.clear()
        self._started_at = time.monotonic()
        self.upcoming = None
        generation = self._generation
        self._reader, _ = await self._loop.connect_read_pipe(
            lambda: _FromChild(self, generation), process.stdout
        )
        self._writer, _ = await self._loop.connect_write_pipe(asyncio.Protocol, process.stdin)
        # (the process logs its own start, with its priority)

    def _start_process(self) -> subprocess.Popen[bytes]:
        # On the loop's thread, which lives as long as the station: the child's
        # PR_SET_PDEATHSIG fires when the thread that started it ends. In a session of its
        # own (its decoders with it): a signal for the station's process group (Ctrl-C in a
        # terminal, a group kill) reaches the station alone, which stops the playout in order,
        # instead of ending the playout under a running station, which would start it again.
        config = {**self._config, "parent_pid": os.getpid()}
        process = subprocess.Popen(
            [sys.executable, "-m", "app.stream.playout_child", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdout is not None
        with contextlib.suppress(OSError):  # older kernels: the default 64 KiB
            fcntl.fcntl(process.stdout.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
        return process

    def _send(self, message: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(message)

    def _received(self, generation: int, kind: bytes, payload: bytes) -> None:
        if generation != self._generation:
            return
        self._heard.set()
        if kind == wire.AUDIO:
            if self._restarted:
                self._restarted = False
                self._on_problem(PLAYOUT_PROBLEM, "", None)  # the new process is on air
            starts, mp3 = wire.unpack_audio(payload)
            self._publish(mp3, [(frame, self._items[t]) for frame, t in starts if t in self._items])
        elif kind == wire.MOUNT_AUDIO:
            head, data = wire.unpack_mount_audio(payload)
            if self._publish_mount is not None:
                length = head["headers"]
                items = self._items
                starts = [(frame, items[t]) for frame, t in head["starts"] if t in items]
                headers = data[:length] if length is not None else None
                self._publish_mount(head["mount"], data, starts, headers, int(head["sample"]))
        elif kind == wire.NEXT:
            assert self._loop is not None
            future = self._loop.run_in_executor(self._scheduler, self._next_item)
            future.add_done_callback(lambda f: self._answer(generation, f))
        elif kind == wire.BREAK:
            assert self._loop is not None
            by = float(json.loads(payload)["by"])
            future = self._loop.run_in_executor(self._scheduler, self._break_item, by)
            future.add_done_callback(lambda f: self._answer(generation, f, wire.BREAK_ITEM))
        elif kind == wire.STATE:
            token = json.loads(payload)["next"]
            self.upcoming = self._items.get(token) if token is not None else None
        elif kind == wire.LIVE_STATE:
            message = json.loads(payload)
            if message["state"] in ("refused", "ended"):
                self._live = False
            self._on_live(str(message["state"]), str(message["reason"]))
        elif kind == wire.STATS:
            self._stats = json.loads(payload)
        elif kind == wire.FAILED:
            self.failures += 1
            message = json.loads(payload)
            item = self._items.get(message["token"])
            if item is not None:
                assert self._loop is not None
                self._loop.run_in_executor(self._scheduler, self._fail, item, message["reason"])
        elif kind == wire.PROBLEM:
            message = json.loads(payload)
            self._on_problem(str(message["key"]), str(message["what"]), message["cause"])
        else:
            log.warning("unknown message %r from the playout process", kind)

    def _answer(self, generation: int, future: asyncio.Future[Item | None],
                kind: bytes = wire.ITEM) -> None:  # fmt: skip
        if future.cancelled() or generation != self._generation:
            return
        try:
            item = future.result()
        except Exception:
            log.exception("the scheduler failed to pick the next item; the safety source covers")
            item = None
        token = self._token_for(item) if item is not None else None
        self._send(wire.pack_json(kind, {"token": token, "item": item and
                                              wire.item_to_json(item)}))  # fmt: skip

    def _token_for(self, item: Item) -> int:
        self._last_token += 1
        token = self._last_token
        self._items[token] = item
        self._tokens[id(item)] = token
        stale = token - 256
        if stale in self._items:
            self._tokens.pop(id(self._items.pop(stale)), None)
        return token

    def _fail(self, item: Item, reason: str) -> None:
        try:
            self._on_failure(item, reason)
        except Exception:
            log.exception("could not record that %r failed", item.display_title)

    def _gone(self, generation: int) -> None:
        """The child's end of the pipe closed: it exited (or is about to)."""
        if generation == self._generation:
            self._heard.set()
        if generation != self._generation or self._stopping:
            return
        assert self._loop is not None
        self._restart_task = self._loop.create_task(self._restart())

    async def _restart(self) -> None:
        process = self._process
        assert process is not None
        if self._writer is not None:
            self._writer.close()
        try:
            status = await asyncio.to_thread(process.wait, 2)
        except subprocess.TimeoutExpired:
            process.kill()
            status = await asyncio.to_thread(process.wait)
        lived = time.monotonic() - self._started_at
        self.restarts += 1
        self._failures = 1 if lived > STABLE_SECONDS else self._failures + 1
        delay = RESTART_DELAYS[min(self._failures, len(RESTART_DELAYS)) - 1]
        log.error("%s: the playout process %d exited with status %s after %.0f s; starting "
                  "it again in %.1f s", SKIPPED_AUDIO, process.pid, status, lived, delay,
                  extra={"event": "playout_restarted", "status": status})  # fmt: skip
        self._restarted = True
        if self._live:
            self._live = False
            self._on_live("ended", "the playout process stopped")
        self._on_problem(PLAYOUT_PROBLEM, "The playout process stopped: started again",
                         f"exit status {status}")  # fmt: skip
        await asyncio.sleep(delay)
        if not self._stopping:
            await self._spawn()


class _FromChild(asyncio.Protocol):
    def __init__(self, owner: PlayoutProcess, generation: int) -> None:
        self._owner = owner
        self._generation = generation
        self._reader = wire.Reader()

    def data_received(self, data: bytes) -> None:
        for kind, payload in self._reader.feed(data):
            try:
                self._owner._received(self._generation, kind, payload)
            except Exception:
                log.exception("could not handle a message from the playout process")

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._gone(self._generation)
