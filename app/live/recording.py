"""Recording live shows: each live show, as it aired, to media/recordings/ as a tagged MP3
that the library lists (kind `recording`, never music rotation) and the podcast feed offers.

The recorder follows the default mount's hub (`on_item_live`): when a live item's first
audio reaches the live point it decides whether to record (the show whose slot is on has
"record" on; outside any show's slot, RADIO_LIVE_RECORD), and adds a sink to the hub; when
the next item that is not live reaches the live point (the programme is back), the sink goes.
So the file holds what listeners heard, from the live input's fade-in to its fade-out, as
the mount's own MP3 bytes (no re-encoding).

The sink only queues (bounded): a thread writes the file. The stream never waits on it: a
disk that cannot keep up, or fails (full), ends the recording, with the reason shown to
hosts (the Problems list), and the air goes on. A recording stops at
RADIO_RECORDING_MAX_MINUTES (the file is kept). It is written to a hidden temp file
(app/files.py: a crash leaves nothing the scanner takes for a track, and start-up sweeps it),
tagged (title "<show> – <date>", artist the host, album the show, date, a comment), then
given its name and added to the library.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from mutagen.id3 import COMM, ID3, TALB, TDRC, TIT2, TPE1

from app.core.item import Item, ItemKind
from app.files import link_new, temp_file
from app.library.scanner import RECORDINGS_DIR
from app.problems import Problems

log = logging.getLogger(__name__)

RECORDING_PROBLEM = "recording"
QUEUE_SECONDS = 60.0  # of audio the writer may fall behind by before the recording ends
HUB_WRITE_SECONDS = 0.4  # of audio in one of the hub's writes (at most; less at an item start)
MAX_NAME_CHARS = 60  # of the show's name in the file name
MAX_SUFFIX = 100  # names tried when one is taken (two recordings in a minute)


class Slot(Protocol):
    """The show whose slot is on (app/shows/ShowSlot)."""

    @property
    def name(self) -> str: ...
    @property
    def host_names(self) -> Sequence[str]: ...
    @property
    def record(self) -> bool: ...


class Hub(Protocol):
    """What the recorder needs of a stream hub (app/stream/hub.py)."""

    def add_sink(self, sink: RecordingSink) -> None: ...
    def remove_sink(self, sink: RecordingSink) -> None: ...


@dataclass(frozen=True)
class RecordingTags:
    show: str
    host: str
    started: datetime  # in the station's time zone
    station: str

    @property
    def date(self) -> str:
        return f"{self.started:%Y-%m-%d}"

    @property
    def title(self) -> str:
        return f"{self.show} – {self.date}"

    @property
    def comment(self) -> str:
        return (f"{self.show} with {self.host}, recorded live on {self.station} on "
                f"{self.started:%Y-%m-%d at %H:%M}.")  # fmt: skip

    def file_name(self) -> str:
        """`<date>-<HHMM>-<show>`: ASCII letters, digits and dashes only."""
        return f"{self.started:%Y-%m-%d-%H%M}-{safe_name(self.show)}"


def safe_name(text: str) -> str:
    """A name for a file: accents dropped, anything but letters and digits a dash, bounded."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:MAX_NAME_CHARS].rstrip("-") or "live"


class RecordingSink:
    """One recording: the hub's sink (queues, never blocks) and the thread that writes it."""

    def __init__(self, folder: Path, tags: RecordingTags, *, byte_rate: float,
                 max_seconds: float, problems: Problems,
                 on_saved: Callable[[RecordingSink], None]) -> None:  # fmt: skip
        self.folder = folder
        self.tags = tags
        self.max_bytes = int(max_seconds * byte_rate)
        self.max_seconds = max_seconds
        self.problems = problems
        self.on_saved = on_saved
        self.received = 0  # bytes taken from the hub
        self.stopped = False  # no more audio is taken (ended, at the limit, or failed)
        self.failed = ""  # why the recording was abandoned
        self.at_limit = False  # stopped at RADIO_RECORDING_MAX_MINUTES
        self.path: Path | None = None  # the finished file
        chunks = round(QUEUE_SECONDS / HUB_WRITE_SECONDS)  # at most QUEUE_SECONDS of audio
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=chunks)
        self._thread = threading.Thread(target=self._run, name="recording", daemon=True)
        self._thread.start()

    # -- the hub's side (event loop) ----------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.stopped:
            return
        if self.received + len(data) > self.max_bytes:
            self.at_limit = True
            self.problems.report(RECORDING_PROBLEM, f"The recording of “{self.tags.show}” "
                                 f"stopped at the limit of {self.max_seconds / 60:.0f} minutes "
                                 "(RADIO_RECORDING_MAX_MINUTES); what it holds is kept",
                                 "the live show went on longer")  # fmt: skip
            self.finish()
            return
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            self._abandon("the disk could not keep up with the stream")
            return
        self.received += len(data)

    def title(self, title: str, url: str) -> None:
        """Titles are not recorded (the file's tags name the show)."""

    def finish(self) -> None:
        """The live show is over: the file is finished and added to the library."""
        if self.stopped:
            return
        self.stopped = True
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            self._abandon("the disk could not keep up with the stream")

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _abandon(self, reason: str) -> None:
        self.stopped = True
        if not self.failed:
            self.failed = reason
            self._report(reason)

    def _report(self, reason: str) -> None:
        self.problems.report(RECORDING_PROBLEM, f"The live show “{self.tags.show}” could not "
                             "be recorded; the air was not touched", reason)  # fmt: skip

    # -- the writer (its own thread) ----------------------------------------------------------

    def _run(self) -> None:
        fd, temp = -1, None
        try:
            fd, temp = temp_file(self.folder, self.tags.file_name() + ".mp3")
            os.fchmod(fd, 0o644)
            written = 0
            while not self.failed:
                data = self._queue.get()
                if data is None:
                    break
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                written += len(data)
            if self.failed:
                return
            if written == 0:
                log.info("recording of %s: no audio reached the stream; nothing kept",
                         self.tags.show)  # fmt: skip
                return
            _tag(temp, self.tags)
            self.path = self._name(temp)
            temp = None
            log.info("recorded %s (%d bytes) to %s", self.tags.title, written, self.path)
            self.on_saved(self)
        except Exception as error:  # OSError (disk full...), mutagen's own: never the air's
            reason = (error.strerror if isinstance(error, OSError) else None) or str(error)
            self.stopped = True
            if not self.failed:
                self.failed = reason or type(error).__name__
                self._report(self.failed)
            log.warning("recording of %s failed: %s", self.tags.show, self.failed)
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    temp.unlink()
            if fd >= 0:
                os.close(fd)

    def _name(self, temp: Path) -> Path:
        """The finished file's name, `-2`, `-3`... when taken; the temp name goes."""
        base = self.tags.file_name()
        for n in range(1, MAX_SUFFIX + 1):
            path = self.folder / (f"{base}.mp3" if n == 1 else f"{base}-{n}.mp3")
            try:
                link_new(temp, path)
            except FileExistsError:
                continue
            return path
        raise FileExistsError(f"{base}.mp3 and {MAX_SUFFIX - 1} more names are taken")


def _tag(path: Path, tags: RecordingTags) -> None:
    """ID3v2 tags at the start of the MP3 (mutagen moves the audio along once)."""
    id3 = ID3()
    id3.add(TIT2(encoding=3, text=[tags.title]))
    id3.add(TPE1(encoding=3, text=[tags.host]))
    id3.add(TALB(encoding=3, text=[tags.show]))
    id3.add(TDRC(encoding=3, text=[tags.date]))
    id3.add(COMM(encoding=3, lang="eng", desc="", text=[tags.comment]))
    id3.save(path, v2_version=4)


class Recorder:
    """Records the live shows of one hub (the default mount): see the module's docstring."""

    def __init__(self, hub: Hub, media_dir: Path, problems: Problems, *,
                 current_show: Callable[[datetime], Slot | None],
                 live_host: Callable[[], str | None], record_outside_shows: bool,
                 byte_rate: float, max_seconds: float, timezone: str,
                 station_name: Callable[[], str],
                 on_saved: Callable[[Path], None]) -> None:  # fmt: skip
        self.hub = hub
        self.folder = media_dir / RECORDINGS_DIR
        self.problems = problems
        self.current_show = current_show
        self.live_host = live_host
        self.record_outside_shows = record_outside_shows
        self.byte_rate = byte_rate
        self.max_seconds = max_seconds
        self.zone = ZoneInfo(timezone)
        self.station_name = station_name
        self.on_saved = on_saved
        self.recording: RecordingSink | None = None
        self.last: RecordingSink | None = None

    def on_item_live(self, item: Item, _stream_at: float) -> None:
        """The hub's `on_item_live`: an item's first audio is at the live point."""
        if item.kind is ItemKind.live:
            if self.recording is None:
                self._start(item)
        elif self.recording is not None and self.live_host() is None:
            # The programme is back. (Not while the host is still live: the news that
            # interrupts a live show is part of the show as it aired.)
            self.stop()

    def stop(self) -> None:
        """The live show is over (or the station stops): finish the file."""
        recording, self.recording = self.recording, None
        if recording is not None:
            self.hub.remove_sink(recording)
            recording.finish()

    def join(self, timeout: float) -> None:
        """Wait for the latest recording's file to be finished (the station stops)."""
        if self.last is not None:
            self.last.join(timeout)

    def _start(self, item: Item) -> None:
        now = datetime.now(UTC)
        slot = self.current_show(now)
        host = self.live_host() or item.artist or "the host"
        if slot is None:
            if not self.record_outside_shows:
                return
            show = f"Live with {host}"
        elif not slot.record:
            return
        else:
            show = slot.name
        tags = RecordingTags(show, host, now.astimezone(self.zone), self.station_name())
        try:
            recording = RecordingSink(self.folder, tags, byte_rate=self.byte_rate,
                                      max_seconds=self.max_seconds, problems=self.problems,
                                      on_saved=self._saved)  # fmt: skip
        except RuntimeError as error:  # no thread could be started
            self.problems.report(RECORDING_PROBLEM, f"The live show “{show}” could not be "
                                 "recorded; the air was not touched", str(error))  # fmt: skip
            return
        log.info("recording the live show %s with %s", show, host)
        self.recording = self.last = recording
        self.hub.add_sink(recording)

    def _saved(self, recording: RecordingSink) -> None:
        """On the writer's thread: into the library; an earlier recording's problem is over
        (one that stopped at the limit stays shown)."""
        assert recording.path is not None
        self.on_saved(recording.path)
        if not recording.at_limit:
            self.problems.clear(RECORDING_PROBLEM, f"{recording.path.name} was recorded")
