"""The extra mounts' encoders, in the playout process (app/stream/playout_child.py).

Each is fed every block of PCM as it airs, with the items that begin in it, and hands the
station whole frames (MP3, ADTS) or whole pages (Ogg) with the items mapped to the place in
*its* stream where they begin, so each mount's title changes where its audio does:

- `Mp3Mount`: LAME in process, like the default mount (a 64 kbps mono one costs little).
- `FfmpegMount`: one long-lived ffmpeg encoder (AAC-LC in ADTS, or Opus in Ogg), fed s16le
  on a thread of its own through a bounded queue and read on another. An encoder that
  fails (exits, errors, or falls behind by QUEUE_BLOCKS blocks) is reported as a problem and
  started again after RETRY_SECONDS; the default mount never waits for it.

Sample positions are the playout process's programme samples (frames of PCM aired since
it started); `send` gets the sample where the first audio in each batch begins.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable

from app.core.item import Item
from app.outputs import MountSpec
from app.playout.source import Pcm
from app.stream import ogg
from app.stream.encoder import Mp3Encoder, to_int16

log = logging.getLogger("app.playout")

QUEUE_BLOCKS = 25  # blocks (5 s at 0.2 s) an encoder may fall behind before it is restarted
RETRY_SECONDS = 2.0
AAC_FRAME = 1024  # samples per AAC-LC frame; ffmpeg's encoder primes with one frame
OGG_PAGE_MICROSECONDS = 100_000  # pages of 0.1 s: small chunks, titles placed to 0.1 s

# (path, data, starts [(frame, item)], headers or None, programme sample of its first audio)
Send = Callable[[str, bytes, list[tuple[int, Item]], bytes | None, int], None]
Problem = Callable[[str, str, str | None], None]


def problem_key(spec: MountSpec) -> str:
    return f"mount:{spec.path}"


def comments(item: Item | None) -> list[tuple[str, str]]:
    """An Ogg chain's Vorbis comments for the item (TITLE and ARTIST, as Icecast reads)."""
    if item is None:
        return []
    if item.artist and item.title:
        return [("TITLE", item.title), ("ARTIST", item.artist)]
    return [("TITLE", item.display_title)]


class Mp3Mount:
    def __init__(self, spec: MountSpec, rate: int, quality: int, send: Send) -> None:
        self.spec = spec
        self._send = send
        self._encoder = Mp3Encoder(spec.bitrate_kbps, rate, quality, spec.channels)

    def feed(self, pcm: Pcm, starts: list[tuple[int, Item]], sample: int) -> None:
        self._send(self.spec.path, self._encoder.encode(pcm), starts, None, sample)

    def close(self) -> None:
        pass


class FfmpegMount:
    def __init__(self, spec: MountSpec, ffmpeg: str, rate: int, send: Send,
                 problem: Problem) -> None:  # fmt: skip
        self.spec = spec
        self._ffmpeg = ffmpeg
        self._rate = rate
        self._send = send
        self._problem = problem
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_BLOCKS)
        self._pending: list[tuple[int, Item]] = []  # starts not yet placed, by sample
        self._base = 0  # programme sample where the running encoder's input begins
        self._fed = 0  # programme samples fed to it (or aired, while none runs)
        self._title: Item | None = None  # the latest item that changed the title
        self._retry_at = 0.0
        self._failing = False
        self._closing = False
        self._generation = 0

    def feed(self, pcm: Pcm, starts: list[tuple[int, Item]], sample: int) -> None:
        """A block at its air time; `sample`: the programme sample where it begins."""
        with self._lock:
            for _frame, item in starts:
                if not item.keeps_title:
                    self._title = item
            if self._process is None and time.monotonic() >= self._retry_at:
                self._start(sample)
            if self._process is None:
                return
            self._pending += [(sample + frame, item) for frame, item in starts]
            self._fed = sample + len(pcm)
        try:
            self._queue.put_nowait(to_int16(pcm))
        except queue.Full:
            self._fail(self._generation, "the encoder fell behind real time")

    def close(self) -> None:
        with self._lock:
            self._closing = True
            process, blocks = self._process, self._queue
            self._process = None
        if process is not None:
            _stop(process, blocks)

    # -- inside -------------------------------------------------------------------------------

    def _command(self) -> list[str]:
        spec = self.spec
        head = [self._ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
                "-f", "s16le", "-ar", str(self._rate), "-ac", "2", "-i", "pipe:0",
                "-ac", str(spec.channels), "-b:a", f"{spec.bitrate_kbps}k"]  # fmt: skip
        if spec.codec == "aac":
            return [*head, "-c:a", "aac", "-ar", str(self._rate), "-flush_packets", "1",
                    "-f", "adts", "pipe:1"]  # fmt: skip
        return [*head, "-c:a", "libopus", "-ar", str(ogg.OPUS_RATE),
                "-page_duration", str(OGG_PAGE_MICROSECONDS), "-flush_packets", "1",
                "-f", "ogg", "pipe:1"]  # fmt: skip

    def _start(self, sample: int) -> None:
        """Start an encoder whose input begins at programme sample `sample` (hold _lock)."""
        try:
            process = subprocess.Popen(self._command(), stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        except OSError as error:
            self._retry_at = time.monotonic() + RETRY_SECONDS
            self._report(str(error))
            return
        self._generation += 1
        self._process = process
        self._queue = queue.Queue(QUEUE_BLOCKS)
        self._base = self._fed = sample
        self._pending = []
        generation = self._generation
        threading.Thread(target=self._write, args=(process, self._queue, generation),
                         name=f"encode{self.spec.path}", daemon=True).start()  # fmt: skip
        threading.Thread(target=self._read, args=(process, generation, self._title),
                         name=f"encoded{self.spec.path}", daemon=True).start()  # fmt: skip

    def _write(self, process: subprocess.Popen[bytes], blocks: queue.Queue[bytes | None],
               generation: int) -> None:  # fmt: skip
        assert process.stdin is not None
        try:
            while (data := blocks.get()) is not None:
                process.stdin.write(data)
                process.stdin.flush()
        except (OSError, ValueError) as error:
            self._fail(generation, f"writing to the encoder failed: {error}")

    def _read(self, process: subprocess.Popen[bytes], generation: int,
              title: Item | None) -> None:  # fmt: skip
        assert process.stdout is not None
        units = (
            _AdtsUnits(self._base)
            if self.spec.codec == "aac"
            else _OggUnits(self._base, self._rate, title)
        )
        fd = process.stdout.fileno()
        try:
            while data := os.read(fd, 65536):
                with self._lock:
                    if generation != self._generation:
                        return
                    batches = units.feed(data, self._pending)
                for batch in batches:
                    self._send(self.spec.path, *batch)
                if self._failing:
                    self._failing = False
                    self._problem(problem_key(self.spec), "", None)
        except Exception as error:  # a stream we cannot read: the encoder is broken
            self._fail(generation, f"the encoder's output is unreadable: {error}")
            return
        stderr = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
        self._fail(generation, f"the encoder exited ({stderr[-300:] or process.wait()})")

    def _fail(self, generation: int, cause: str) -> None:
        with self._lock:
            if generation != self._generation or self._process is None or self._closing:
                return
            process, blocks = self._process, self._queue
            self._process = None
            self._retry_at = time.monotonic() + RETRY_SECONDS
        log.warning("the %s encoder of mount %s failed: %s; starting it again in %.0f s",
                    self.spec.codec, self.spec.path, cause, RETRY_SECONDS)  # fmt: skip
        self._report(cause)
        threading.Thread(target=_stop, args=(process, blocks), daemon=True).start()

    def _report(self, cause: str) -> None:
        self._failing = True
        what = (f"The {self.spec.codec} encoder of mount {self.spec.path} failed: started "
                "again (the other mounts play on)")  # fmt: skip
        self._problem(problem_key(self.spec), what, cause)


def _stop(process: subprocess.Popen[bytes], blocks: queue.Queue[bytes | None]) -> None:
    """End an encoder: its writer thread, its input, then the process."""
    with contextlib.suppress(queue.Full):
        blocks.put_nowait(None)
    with contextlib.suppress(OSError, ValueError):
        if process.stdin is not None:
            process.stdin.close()
    try:
        process.wait(2)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _due(pending: list[tuple[int, Item]], end: int) -> list[Item]:
    """Take the starts before programme sample `end` off `pending` (in place)."""
    count = 0
    while count < len(pending) and pending[count][0] < end:
        count += 1
    due = [item for _, item in pending[:count]]
    del pending[:count]
    return due


Batch = tuple[bytes, list[tuple[int, Item]], bytes | None, int]


class _AdtsUnits:
    """ADTS frames of AAC-LC: frame n (from 0) encodes programme samples from
    base + (n - 1) * 1024 (the first is the encoder's priming)."""

    def __init__(self, base: int) -> None:
        self._buffer = b""
        self._frames = 0
        self._base = base

    def feed(self, data: bytes, pending: list[tuple[int, Item]]) -> list[Batch]:
        buffer = self._buffer + data
        batches: list[Batch] = []
        pos = start = 0
        first = self._sample(self._frames)
        while pos + 7 <= len(buffer):
            if buffer[pos] != 0xFF or buffer[pos + 1] & 0xF6 != 0xF0:
                raise ValueError(f"no ADTS frame header at byte {pos}")
            header = buffer[pos + 3 : pos + 6]
            length = ((header[0] & 0x03) << 11) | (header[1] << 3) | (header[2] >> 5)
            if length < 7:
                raise ValueError("an ADTS frame shorter than its header")
            if pos + length > len(buffer):
                break
            due = _due(pending, self._sample(self._frames + 1))
            if due:
                if pos > start:
                    batches.append((buffer[start:pos], [], None, first))
                start, first = pos, self._sample(self._frames)
                batches.append((b"", [(0, item) for item in due], None, first))
            pos += length
            self._frames += 1
        if pos > start:
            batches.append((buffer[start:pos], [], None, first))
        self._buffer = buffer[pos:]
        return _merged(batches)

    def _sample(self, frame: int) -> int:
        return self._base + (frame - 1) * AAC_FRAME


class _OggUnits:
    """Opus pages from the encoder, re-chained at each title change (app/stream/ogg.py)."""

    def __init__(self, base: int, rate: int, title: Item | None) -> None:
        self._pages = ogg.PageReader()
        self._chainer = ogg.OpusChainer()
        self._chainer.chain(comments(title))
        self._base = base
        self._rate = rate
        self._pre_skip = 0

    def feed(self, data: bytes, pending: list[tuple[int, Item]]) -> list[Batch]:
        batches: list[Batch] = []
        for page in self._pages.feed(data):
            if page.body.startswith(b"OpusHead"):
                self._pre_skip = ogg.pre_skip_of(page.body)
            due: list[Item] = []
            if page.granule > 0:
                due = _due(pending, self._sample(page.granule))
                titled = [item for item in due if not item.keeps_title]
                if titled:
                    self._chainer.chain(comments(titled[-1]))
            for out in self._chainer.feed(page):
                at = self._sample(out.first_granule)
                if out.headers is not None:
                    batches.append((out.data, [(0, item) for item in due], out.headers, at))
                    due = []
                else:
                    batches.append((out.data, [], None, at))
        return _merged(batches)

    def _sample(self, granule: int) -> int:
        return self._base + (granule - self._pre_skip) * self._rate // ogg.OPUS_RATE


def _merged(batches: list[Batch]) -> list[Batch]:
    """Runs of plain batches joined: one message each, split only where titles change or a
    chain begins."""
    out: list[Batch] = []
    for data, starts, headers, at in batches:
        if out and not starts and headers is None:
            last = out[-1]
            out[-1] = (last[0] + data, last[1], last[2], last[3])
        elif out and not out[-1][0] and headers is None:  # starts with nothing yet: join
            last = out[-1]
            out[-1] = (data, last[1] + starts, None, last[3])
        else:
            out.append((data, starts, headers, at))
    return [batch for batch in out if batch[0] or batch[1]]
