"""The time-shift archive: the last hours of the encoded programme on disk, with its items.

The MP3 the hub publishes is kept as it aired, so a listener can start any moment of the
last `hours` (`GET /stream?at=`, app/stream/timeshift.py) and hear the very frames that went
out, with the titles of the items as they aired.

Where the work happens:
- `record`, on the event loop with each block the playout hands the hub: the block and the
  items starting in it go onto a queue (no I/O, a few microseconds).
- One writer thread appends them to segment files and prunes old segments. A disk that
  stalls holds up only this thread; the queue absorbs it, and the live stream never waits.
- Readers (`locate`, `read`) run on the archive's own small thread pool, never on the loop.
  Everything they look up lives in memory (segments, block index, items) behind one lock.

On disk, in `directory`, one segment per `segment_seconds` of air (and one per start):
- `<start ms>.mp3`: the blocks, whole MP3 frames, appended as they air;
- `<start ms>.idx`: one 16-byte record per block (air time of its first byte, its offset
  and length), written after the block itself;
- `<start ms>.items`: JSON lines, one per item starting in the segment (the first line
  carries the item in force at its start, so every segment knows its titles on its own),
  and one per play id learned later.
A record names only bytes already written, so a crash (kill -9, a full disk) leaves at most
an unindexed tail or half a record, which loading ignores: what is served is always whole
frames. A segment is never appended to after a restart; the next start opens a new one.
Pruning deletes the index first: an `.mp3` without `.idx` is a half-deleted segment, and
loading finishes deleting it.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import os
import queue
import struct
import threading
import time
from array import array
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import drills
from app.core.item import Item, ItemKind
from app.library.artwork import cover_url
from app.stream.icy import metadata_block
from app.stream.mp3 import HEARD_DELAY_FRAMES, frame_length

log = logging.getLogger(__name__)

RECORD = struct.Struct("<dII")  # air time of the block's first byte, offset, length
LISTED_ITEMS = 500  # GET /api/archive lists at most this many items (newest first)
READ_THREADS = 4
PRUNE_EVERY_SECONDS = 10.0
KNOWN_PLAYS = 64  # items remembered by identity, until the station learns their play id
ARCHIVE_PROBLEM = "archive"


class ArchiveGone(Exception):
    """The audio asked for was pruned (or never archived)."""


@dataclass
class ArchivedItem:
    starts: float  # wall time its first audio is heard in the stream
    titled: float  # air time of the block it starts in: where the live ICY title changed
    kind: str
    title: str
    artist: str
    display_title: str
    url: str
    keeps_title: bool
    track_id: int | None
    play_id: int | None = None

    def to_line(self, carried: bool = False) -> dict[str, Any]:
        line: dict[str, Any] = asdict(self)
        if carried:
            line["carried"] = True
        return line

    @classmethod
    def from_line(cls, line: dict[str, Any]) -> ArchivedItem:
        starts = float(line["starts"])
        return cls(starts, float(line.get("titled", starts)), str(line["kind"]), str(line["title"]),
                   str(line["artist"]), str(line["display_title"]), str(line["url"]),
                   bool(line["keeps_title"]), line["track_id"], line.get("play_id"))  # fmt: skip

    @classmethod
    def of(cls, item: Item, starts: float, titled: float) -> ArchivedItem:
        return cls(starts, titled, item.kind.value, item.title, item.artist, item.display_title,
                   item.url, item.keeps_title, item.track_id)  # fmt: skip


@dataclass
class Segment:
    name: str  # its start, in milliseconds since the epoch
    directory: Path
    times: array[float] = field(default_factory=lambda: array("d"))  # each block's air time
    offsets: array[int] = field(default_factory=lambda: array("Q"))  # each block's offset
    size: int = 0  # bytes indexed: the end of the last whole block
    end: float = 0.0  # air time of the end of its last block

    @property
    def start(self) -> float:
        return self.times[0] if self.times else int(self.name) / 1000

    def path(self, suffix: str) -> Path:
        return self.directory / f"{self.name}{suffix}"

    def block_end(self, index: int) -> int:
        return self.offsets[index + 1] if index + 1 < len(self.offsets) else self.size


@dataclass(frozen=True)
class Position:
    segment: str
    offset: int


@dataclass(frozen=True)
class Piece:
    data: bytes
    airs: float  # air time of its first byte
    metadata: bytes  # the ICY block of the item in force at its start


class Archive:
    def __init__(self, directory: Path, *, hours: float, max_bytes: int, segment_seconds: float,
                 bitrate_kbps: int, sample_rate: int, station_name: str,
                 on_problem: Callable[[str, str, str | None], None] = lambda k, w, c: None,
                 drill_dir: Path | None = None) -> None:  # fmt: skip
        self.directory = directory
        self.enabled = hours > 0
        self.window = hours * 3600
        self.max_bytes = max_bytes
        self.segment_seconds = segment_seconds
        self.byte_rate = bitrate_kbps * 1000 / 8
        self.sample_rate = sample_rate
        self._idle_metadata = metadata_block(station_name)
        self._lock = threading.Lock()
        self._segments: list[Segment] = []
        self._items: list[ArchivedItem] = []  # by start
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._known: dict[int, ArchivedItem] = {}  # id(Item) -> its record (event loop side)
        self._thread: threading.Thread | None = None
        self._current: Segment | None = None
        self._fds: tuple[int, int, int] | None = None  # mp3, idx, items of _current
        self._pruned_at = 0.0
        self._failing = False
        self._on_problem = on_problem  # (key, what, cause): a fault; cause None: it is over
        self._drills = drill_dir
        self.loaded = threading.Event()
        self.readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="archive-read")
        # For the notes' measurement and the metrics: what the writer did.
        self.blocks_written = 0
        self.write_seconds_max = 0.0

    # -- the event loop's side ---------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled:
            self.loaded.set()
            return
        self._thread = threading.Thread(target=self._run, name="archive-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued and close (blocking: call it from a thread)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self.readers.shutdown(wait=False, cancel_futures=True)

    def record(self, data: bytes, starts: list[tuple[int, Item]]) -> None:
        """A block the hub is about to publish, at its air time; `starts` as for the hub."""
        if not self.enabled or not (data or starts):
            return  # (an encoder holding its first frames back sends items without audio)
        now = time.time()
        items = []
        for frame, item in starts:
            heard = now + (frame + HEARD_DELAY_FRAMES) / self.sample_rate
            archived = ArchivedItem.of(item, heard, titled=now)
            items.append(archived)
            self._known[id(item)] = archived
            if len(self._known) > KNOWN_PLAYS:
                del self._known[next(iter(self._known))]
        self._queue.put((now, data, items))

    def play_recorded(self, item: Item, play_id: int) -> None:
        """The station stored the play of `item` (from any thread): its archive entry learns
        the play id."""
        archived = self._known.get(id(item))
        if archived is not None:
            self._queue.put((archived, play_id))

    def stats(self) -> dict[str, float]:
        """For the metrics: what is kept, and how the writer does."""
        with self._lock:
            kept = sum(segment.size for segment in self._segments)
            oldest = self._segments[0].start if self._segments else None
        return {
            "bytes": kept,
            "seconds": time.time() - oldest if oldest is not None else 0.0,
            "blocks_written": self.blocks_written,
            "write_seconds_max": self.write_seconds_max,
            "failing": int(self._failing),
        }

    def oldest(self) -> float | None:
        with self._lock:
            return self._segments[0].start if self._segments else None

    def listing(self, limit: int = LISTED_ITEMS) -> dict[str, Any]:
        """GET /api/archive: the window and its items, newest first (from memory)."""
        with self._lock:
            oldest = self._segments[0].start if self._segments else None
            items = self._items[-limit - 1 :] if oldest is not None else []
            listed: list[tuple[ArchivedItem, float | None]] = []
            for index in range(len(items) - 1, -1, -1):
                ends = items[index + 1].starts if index + 1 < len(items) else None
                if len(listed) == limit or (ends is not None and ends <= oldest):
                    break  # enough, or ended before the archive's oldest audio
                listed.append((items[index], ends))
        return {
            "oldest": iso_time(oldest) if oldest is not None else None,
            "live": iso_time(time.time()),
            "items": [
                {
                    "play_id": item.play_id,
                    "title": item.title,
                    "artist": item.artist,
                    "kind": item.kind,
                    "starts": iso_time(item.starts),
                    "ends": iso_time(ends) if ends is not None else None,
                    "cover": cover_url(item.track_id, item.artist, item.title)
                    if item.kind != ItemKind.safety
                    else None,
                }
                for item, ends in listed
            ],
        }

    # -- readers (on self.readers, never on the event loop) -----------------------------------

    def locate(self, at: float) -> Position:
        """The frame being heard at wall time `at`; the next audio kept if `at` falls in a
        gap (the station was off); ArchiveGone if `at` is older than the archive."""
        with self._lock:
            if not self._segments or at < self._segments[0].start:
                raise ArchiveGone
            segment = next((s for s in self._segments if s.end > at), self._segments[-1])
            if at <= segment.start or not segment.times:
                return Position(segment.name, 0)
            index = max(0, bisect.bisect_right(segment.times, at) - 1)
            block, block_end = segment.offsets[index], segment.block_end(index)
            aired = segment.times[index]
        within = min(int((at - aired) * self.byte_rate), block_end - block - 1)
        data = self._pread(segment, block, block_end - block)
        return Position(segment.name, block + _frame_at(data, within))

    def read(self, position: Position, limit: int) -> tuple[list[Piece], Position]:
        """Up to `limit` bytes from `position`, cut where blocks begin (each piece with its
        air time and title), and the position after them. Nothing yet at the live end;
        the next segment after the end of one; ArchiveGone if pruned."""
        with self._lock:
            at = next((i for i, s in enumerate(self._segments) if s.name == position.segment),
                      None)  # fmt: skip
            if at is None:
                raise ArchiveGone
            segment = self._segments[at]
            if position.offset >= segment.size:
                if at + 1 < len(self._segments):
                    return [], Position(self._segments[at + 1].name, 0)
                return [], position
            first = bisect.bisect_right(segment.offsets, position.offset) - 1
            end = min(segment.size, position.offset + limit)
            cuts = []  # (offset, air time) where pieces start
            index = first
            while index < len(segment.offsets) and segment.offsets[index] < end:
                offset = max(segment.offsets[index], position.offset)
                airs = segment.times[index] + (offset - segment.offsets[index]) / self.byte_rate
                cuts.append((offset, airs, self._metadata_at(airs)))
                index += 1
            end = min(end, segment.block_end(index - 1))
        data = self._pread(segment, position.offset, end - position.offset)
        pieces = []
        for number, (offset, airs, metadata) in enumerate(cuts):
            stop = cuts[number + 1][0] if number + 1 < len(cuts) else end
            pieces.append(Piece(data[offset - position.offset : stop - position.offset], airs,
                                metadata))  # fmt: skip
        return pieces, Position(segment.name, end)

    def _metadata_at(self, airs: float) -> bytes:
        """The ICY block in force at `airs`, as the hub had it: from the block an item starts
        in (a jingle keeps the title before it)."""
        index = bisect.bisect_right(self._items, airs, key=lambda item: item.titled) - 1
        while index >= 0 and self._items[index].keeps_title:
            index -= 1
        if index < 0:
            return self._idle_metadata
        item = self._items[index]
        return metadata_block(item.display_title, item.url)

    def _pread(self, segment: Segment, offset: int, length: int) -> bytes:
        try:
            fd = os.open(segment.path(".mp3"), os.O_RDONLY)
        except FileNotFoundError as error:
            raise ArchiveGone from error
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._load()
        except Exception:
            log.exception("could not load the time-shift archive; it starts afresh")
        self.loaded.set()
        while True:
            message = self._queue.get()
            if message is None:
                break
            try:
                if len(message) == 3:
                    drills.check(self._drills, "archive")
                    self._write_block(*message)
                else:
                    self._write_play(*message)
                if self._failing:
                    self._failing = False
                    self._on_problem(ARCHIVE_PROBLEM, "", None)
            except (OSError, drills.DrillFault) as error:
                if not self._failing:
                    self._failing = True
                    self._on_problem(ARCHIVE_PROBLEM, "The time-shift archive cannot write: "
                                     "the live stream goes on, but this audio is not kept",
                                     str(error) or type(error).__name__)  # fmt: skip
                self._close_current()
        self._close_current()

    def _write_block(self, airs: float, data: bytes, items: list[ArchivedItem]) -> None:
        started = time.monotonic()
        current = self._current
        if current is None or airs - current.start >= self.segment_seconds:
            current = self._open_segment(airs)
        assert self._fds is not None
        mp3, idx, item_fd = self._fds
        if data:
            _write_all(mp3, data)
            _write_all(idx, RECORD.pack(airs, current.size, len(data)))
        for item in items:
            _write_all(item_fd, _line(item.to_line()))
        with self._lock:
            if data:
                current.times.append(airs)
                current.offsets.append(current.size)
                current.size += len(data)
                current.end = airs + len(data) / self.byte_rate
            self._items.extend(items)
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_SECONDS:
            self._prune()
        self.blocks_written += 1
        self.write_seconds_max = max(self.write_seconds_max, time.monotonic() - started)

    def _write_play(self, item: ArchivedItem, play_id: int) -> None:
        with self._lock:
            item.play_id = play_id
        if self._fds is not None:
            _write_all(self._fds[2], _line({"play": item.starts, "play_id": play_id}))

    def _open_segment(self, airs: float) -> Segment:
        self._close_current()
        self.directory.mkdir(parents=True, exist_ok=True)
        name = str(int(airs * 1000))
        with self._lock:
            if self._segments and int(self._segments[-1].name) >= int(name):
                name = str(int(self._segments[-1].name) + 1)
        segment = Segment(name, self.directory, end=airs)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fds = tuple(os.open(segment.path(s), flags, 0o644) for s in (".mp3", ".idx", ".items"))
        self._fds = (fds[0], fds[1], fds[2])
        with self._lock:
            in_force = self._items[-1] if self._items else None
            self._segments.append(segment)
        if in_force is not None:  # every segment knows the titles of its audio on its own
            _write_all(self._fds[2], _line(in_force.to_line(carried=True)))
        self._current = segment
        self._prune()
        return segment

    def _close_current(self) -> None:
        if self._fds is not None:
            for fd in self._fds:
                with contextlib.suppress(OSError):
                    os.fsync(fd)  # a power cut loses at most the segment being written
                os.close(fd)
        self._fds = None
        self._current = None

    def _prune(self) -> None:
        """Drop segments older than the window, and the oldest while over the size bound
        (never the one being written)."""
        self._pruned_at = time.monotonic()
        cutoff = time.time() - self.window
        while True:
            with self._lock:
                if len(self._segments) < 2:
                    return
                oldest = self._segments[0]
                total = sum(s.size for s in self._segments)
                if oldest.end >= cutoff and total <= self.max_bytes:
                    return
                del self._segments[0]
                start = self._segments[0].start
                # Keep the item in force at the new oldest audio, drop those before it.
                keep = max(0, bisect.bisect_right(self._items, start,
                                                  key=lambda item: item.starts) - 1)  # fmt: skip
                del self._items[:keep]
            for suffix in (".idx", ".mp3", ".items"):
                with contextlib.suppress(FileNotFoundError):
                    oldest.path(suffix).unlink()

    def _load(self) -> None:
        """The segments a previous run left: whole indexed blocks only; orphans deleted."""
        if not self.directory.is_dir():
            return
        names = sorted({p.stem for p in self.directory.iterdir() if p.stem.isdigit()}, key=int)
        segments: list[Segment] = []
        items: dict[float, ArchivedItem] = {}
        for name in names:
            segment = Segment(name, self.directory)
            if not segment.path(".idx").exists():
                for suffix in (".mp3", ".items"):
                    with contextlib.suppress(FileNotFoundError):
                        segment.path(suffix).unlink()
                continue
            index = segment.path(".idx").read_bytes()
            try:
                audio = segment.path(".mp3").stat().st_size
            except FileNotFoundError:
                audio = 0
            for number in range(len(index) // RECORD.size):
                airs, offset, length = RECORD.unpack_from(index, number * RECORD.size)
                if offset != segment.size or offset + length > audio:
                    break  # a torn write: the rest was never whole
                segment.times.append(airs)
                segment.offsets.append(offset)
                segment.size += length
                segment.end = airs + length / self.byte_rate
            if not segment.times:
                for suffix in (".idx", ".mp3", ".items"):
                    with contextlib.suppress(FileNotFoundError):
                        segment.path(suffix).unlink()
                continue
            segments.append(segment)
            for line in _read_lines(segment.path(".items")):
                if "play" in line:
                    found = items.get(float(line["play"]))
                    if found is not None:
                        found.play_id = line["play_id"]
                elif float(line["starts"]) not in items:
                    items[float(line["starts"])] = ArchivedItem.from_line(line)
        with self._lock:
            self._segments = segments
            self._items = sorted(items.values(), key=lambda item: item.starts)
        self._prune()
        if segments:
            log.info("time-shift archive: %d segments from %s", len(self._segments),
                     iso_time(self._segments[0].start) if self._segments else "-")  # fmt: skip


def _frame_at(data: bytes, within: int) -> int:
    """Offset in `data` (whole frames) of the frame holding byte `within`."""
    position = 0
    while position + 4 <= len(data):
        length = frame_length(data[position : position + 4])
        if length is None or position + length > within:
            return position
        position += length
    return position


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _line(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, ensure_ascii=False) + "\n").encode()


def _read_lines(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    lines = []
    for raw in text.split("\n"):
        with contextlib.suppress(ValueError, TypeError, KeyError):
            value = json.loads(raw)
            if isinstance(value, dict) and ("starts" in value or "play" in value):
                lines.append(value)
    return lines


def iso_time(moment: float) -> str:
    """A POSIX time as the API writes times: ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
