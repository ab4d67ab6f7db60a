"""The HLS segmenter: a hub sink that cuts the mount's stream into packed-audio segments and
keeps a rolling media playlist, all written to one folder that any web server can serve.

Where the work happens:
- `write` and `title`, on the event loop (the hub's sink calls): the chunk or the title goes
  onto a bounded queue with the wall time it came at. Nothing else; never any I/O.
- One writer thread takes them in order, cuts whole frames into segments of about
  `segment_seconds`, writes each segment (ID3 tag + frames) and then the playlist, both with
  atomic writes (app.files), and deletes segments that left the window.

A segment begins at each title change too, so its ID3 tag (written first in every segment:
the PRIV timestamp that RFC 8216 asks of packed audio, and the title in TIT2) gives the title
from exactly there on: a title change makes a short segment, never a tag in mid-segment that
some decoders would take for audio.

The playlist's window is `window_seconds` (the time-shift archive's), so HLS players can go
back as far as `/stream?at=`. Its text is kept per segment and joined once per new segment
(on the writer thread); `playlist()` hands out the latest bytes from memory.

After a restart the playlist goes on: the segments the last run kept stay in the window (they
are the same hours the archive still has), the media sequence keeps counting (players and
caches take a sequence that goes back for a broken stream), and the first new segment carries
EXT-X-DISCONTINUITY, since its timestamps do not follow on. Files the old playlist does not
name (a segment written just before a crash) are deleted.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import math
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.files import write_bytes
from app.stream.hls import frames
from app.stream.hls.frames import Codec
from app.stream.hls.id3 import CLOCK_HZ, TIMESTAMP_MASK, segment_tag

log = logging.getLogger(__name__)

PLAYLIST = "live.m3u8"
SEGMENT_NAME = re.compile(r"^(\d{1,20})\.(mp3|aac)$")
QUEUE_CHUNKS = 1000  # ~400 s of 0.4 s chunks: a disk that stalls longer loses audio, not memory
RESYNC_SECONDS = 2.0  # program date-times follow the audio's length unless the clock is further
DELETE_AFTER_SECONDS = 60.0  # a segment leaves the playlist, then its file (players mid-fetch)
MIN_SEGMENT_SECONDS = 0.5  # a shorter tail is not written at shutdown


@dataclass
class Entry:
    """One segment in the playlist."""

    sequence: int
    name: str
    duration: float
    starts: float  # wall time of its first sample (EXT-X-PROGRAM-DATE-TIME)
    title: str
    discontinuity: bool = False
    size: int = 0  # bytes of its file
    text: str = ""  # its lines in the playlist

    def render(self) -> str:
        moment = datetime.fromtimestamp(self.starts, UTC).isoformat(timespec="milliseconds")
        title = self.title.replace("\n", " ").replace("\r", " ").replace(",", " ").strip()
        head = "#EXT-X-DISCONTINUITY\n" if self.discontinuity else ""
        return (f"{head}#EXT-X-PROGRAM-DATE-TIME:{moment.replace('+00:00', 'Z')}\n"
                f"#EXTINF:{self.duration:.3f},{title}\n{self.name}\n")  # fmt: skip


class Segmenter:
    """The hub sink (see the module docstring). `start()` it, add it to a hub, `stop()` it."""

    def __init__(self, directory: Path, window_seconds: float, segment_seconds: int = 6,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.directory = directory
        self._clock = clock  # the wall clock
        self.window = window_seconds
        self.segment_seconds = segment_seconds
        self.codec: Codec | None = None  # known from the first chunk
        self._queue: queue.Queue[tuple[str, float, bytes | str] | None] = queue.Queue(QUEUE_CHUNKS)
        self._lost = 0  # chunks dropped on a full queue (the loop's count)
        self._thread: threading.Thread | None = None
        self._playlist = b""  # the latest playlist, as served
        self._playlist_gzip = b""  # ...and gzipped: a 2-hour playlist is ~130 KB, ~10x less so
        # Every segment file there is (named or about to go), by name: its size. Read from
        # the event loop, so that serving a segment asks the disk nothing there.
        self.sizes: dict[str, int] = {}
        self.loaded = threading.Event()
        # The writer thread's own from here on.
        self._entries: deque[Entry] = deque()
        self._sequence = 0  # of the first entry
        self._discontinuities = 0  # EXT-X-DISCONTINUITY-SEQUENCE
        self._next_discontinuity = False
        self._doomed: deque[tuple[float, Path]] = deque()  # (delete at, file)
        self._pending = bytearray()  # bytes of an incomplete frame
        self._frames: list[bytes] = []  # of the segment being gathered
        self._samples = 0  # in it
        self._rate = 0
        self._title = ""  # in force for the segment being gathered
        self._starts = 0.0  # wall time of its first sample
        self._timestamp = 0  # its first sample's, in 90 kHz ticks
        self._lost_seen = 0
        self._unusable = False  # the mount's stream is no codec HLS can pack
        self.segments_written = 0
        self.write_seconds_max = 0.0

    # -- the hub's sink, on the event loop ----------------------------------------------------

    def write(self, data: bytes) -> None:
        self._put(("audio", self._clock(), data))

    def title(self, title: str, url: str) -> None:
        self._put(("title", self._clock(), title))

    def _put(self, message: tuple[str, float, bytes | str]) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self._lost += 1

    def playlist(self, gzipped: bool = False) -> bytes:
        """The media playlist as it is now ("" before the first segment), gzipped if asked;
        from any thread."""
        return self._playlist_gzip if gzipped else self._playlist

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hls-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is gathered and end the thread (blocking: call it from a thread)."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._load()
        except Exception:
            log.exception("could not load the HLS playlist; it starts afresh")
            self._entries.clear()
        self.loaded.set()
        while True:
            message = self._queue.get()
            if message is None:
                break
            kind, at, value = message
            try:
                if kind == "audio":
                    assert isinstance(value, bytes)
                    self._audio(at, value)
                else:
                    assert isinstance(value, str)
                    self._new_title(value)
                self._delete_due()
            except Exception:  # never the end of the thread: the next segment starts clean
                log.exception("HLS segmenter failed on a chunk; it starts a new segment")
                self._frames, self._samples, self._pending = [], 0, bytearray()
                self._next_discontinuity = True
        with contextlib.suppress(Exception):
            if self._rate and self._samples >= MIN_SEGMENT_SECONDS * self._rate:
                self._finish()

    def _audio(self, arrived: float, data: bytes) -> None:
        if self.codec is None:
            if self._unusable:
                return
            self.codec = frames.detect(data)
            if self.codec is None:  # said once, not for every chunk
                self._unusable = True
                log.error("HLS is off: the mount's stream is neither MP3 nor AAC in ADTS")
                return
        lost = self._lost
        if lost != self._lost_seen:  # chunks were dropped: what follows does not follow on
            self._lost_seen = lost
            self._pending.clear()
            if self._frames:
                self._finish()
            self._next_discontinuity = True
        self._pending += data
        found, rest = frames.split(self.codec, self._pending)
        if not found:
            del self._pending[:rest]
            return
        if not self._rate:
            self._rate = frames.sample_rate(self.codec, bytes(self._pending[:7]))
        chunk_samples = sum(samples for _, _, samples in found)
        # Where this chunk's audio began on the wall clock (it came when it was all there).
        began = arrived - chunk_samples / self._rate
        gathered = self._samples / self._rate
        if self._starts == 0.0:
            self._anchor(began)
        elif abs(self._starts + gathered - began) > RESYNC_SECONDS:
            if self._frames:  # the playout stalled (or the clock moved): start over from now
                self._finish()
            self._anchor(began)
        target = self.segment_seconds * self._rate
        for offset, length, samples in found:
            if self._samples >= target:
                self._finish()
            self._frames.append(bytes(self._pending[offset : offset + length]))
            self._samples += samples
        del self._pending[:rest]

    def _anchor(self, began: float) -> None:
        """The segment being gathered (empty) starts at `began` on the wall clock. The audio's
        timestamps go on from where they were (the audio itself did), except at the first."""
        if self._starts == 0.0:
            self._timestamp = int(began * CLOCK_HZ) & TIMESTAMP_MASK
        self._starts = began

    def _new_title(self, title: str) -> None:
        if title == self._title:
            return
        if self._frames:
            self._finish()
        self._title = title

    def _finish(self) -> None:
        """Write the gathered frames as the next segment, then the playlist."""
        assert self.codec is not None
        started = time.monotonic()
        duration = self._samples / self._rate
        name = f"{int(self._starts * 1000)}.{self.codec.extension}"
        if self._entries and int(self._entries[-1].name.split(".")[0]) >= int(self._starts * 1000):
            name = f"{int(self._entries[-1].name.split('.')[0]) + 1}.{self.codec.extension}"
        data = segment_tag(self._timestamp, self._title) + b"".join(self._frames)
        write_bytes(self.directory / name, data)
        entry = Entry(self._sequence + len(self._entries), name, duration, self._starts,
                      self._title, self._next_discontinuity, len(data))  # fmt: skip
        self.sizes[name] = len(data)
        entry.text = entry.render()
        self._next_discontinuity = False
        self._entries.append(entry)
        self._starts += duration
        self._timestamp = (
            self._timestamp + round(self._samples * CLOCK_HZ / self._rate)
        ) & TIMESTAMP_MASK
        self._frames, self._samples = [], 0
        self._prune()
        self._write_playlist()
        self.segments_written += 1
        self.write_seconds_max = max(self.write_seconds_max, time.monotonic() - started)

    def _prune(self) -> None:
        """Segments that ended before the window leave the playlist; their files go a minute
        later (a player that read the playlist just before may still fetch them)."""
        cutoff = self._clock() - self.window
        entries = self._entries
        while len(entries) > 1 and entries[0].starts + entries[0].duration < cutoff:
            gone = entries.popleft()
            self._sequence += 1
            if gone.discontinuity:
                self._discontinuities += 1
            due = time.monotonic() + DELETE_AFTER_SECONDS
            self._doomed.append((due, self.directory / gone.name))

    def _write_playlist(self) -> None:
        target = max(self.segment_seconds, *(round(e.duration) for e in self._entries))
        head = ("#EXTM3U\n#EXT-X-VERSION:3\n"
                f"#EXT-X-TARGETDURATION:{target}\n"
                f"#EXT-X-MEDIA-SEQUENCE:{self._sequence}\n"
                f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuities}\n")  # fmt: skip
        text = (head + "".join(entry.text for entry in self._entries)).encode("utf-8")
        write_bytes(self.directory / PLAYLIST, text)
        self._playlist, self._playlist_gzip = text, gzip.compress(text, 6)

    def _delete_due(self) -> None:
        now = time.monotonic()
        while self._doomed and self._doomed[0][0] <= now:
            path = self._doomed.popleft()[1]
            self.sizes.pop(path.name, None)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _load(self) -> None:
        """The playlist the last run left: its segments whose files are still there, the
        sequence numbers; every other segment file in the folder is deleted."""
        path = self.directory / PLAYLIST
        if not path.exists():
            if self.directory.is_dir():
                for orphan in self.directory.iterdir():
                    if SEGMENT_NAME.match(orphan.name):
                        orphan.unlink()
            return
        entries = parse_playlist(path.read_text(encoding="utf-8", errors="replace"))
        sequence, discontinuities, kept = entries
        named = {entry.name for entry in kept}
        for orphan in self.directory.iterdir():
            if SEGMENT_NAME.match(orphan.name) and orphan.name not in named:
                orphan.unlink()
        # Files gone from the front were pruned: the sequence moves past them. One missing
        # further on ends the list there, so every number still names the segment it named.
        while kept and not (self.directory / kept[0].name).exists():
            gone = kept.pop(0)
            sequence += 1
            discontinuities += gone.discontinuity
        present: list[Entry] = []
        for entry in kept:
            try:
                entry.size = (self.directory / entry.name).stat().st_size
            except FileNotFoundError:
                break
            self.sizes[entry.name] = entry.size
            entry.sequence = sequence + len(present)
            entry.text = entry.render()
            present.append(entry)
        self._entries = deque(present)
        self._sequence = sequence
        self._discontinuities = discontinuities
        self._next_discontinuity = bool(present)
        if present:
            self._prune()
            self._write_playlist()
            log.info("HLS: %d segments from the last run, media sequence %d", len(self._entries),
                     self._sequence)  # fmt: skip


def parse_playlist(text: str) -> tuple[int, int, list[Entry]]:
    """(media sequence, discontinuity sequence, entries) of a playlist this module wrote."""
    sequence = discontinuities = 0
    entries: list[Entry] = []
    discontinuity, starts, duration, title = False, None, None, ""
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            discontinuities = int(line.partition(":")[2])
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            moment = line.partition(":")[2].replace("Z", "+00:00")
            starts = datetime.fromisoformat(moment).timestamp()
        elif line.startswith("#EXTINF:"):
            length, _, title = line.partition(":")[2].partition(",")
            duration = float(length)
        elif line and not line.startswith("#") and SEGMENT_NAME.match(line):
            if starts is not None and duration is not None and math.isfinite(duration):
                entries.append(Entry(sequence + len(entries), line, duration, starts, title,
                                     discontinuity))  # fmt: skip
            discontinuity, starts, duration, title = False, None, None, ""
    return sequence, discontinuities, entries
