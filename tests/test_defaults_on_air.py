"""`make run` as shipped: the demo library, the sample news, jingles and clock bulletins, all
on. Every other test turns them off to hear one thing at a time; this one listens to the
station a fresh clone puts on air, through /stream with ICY metadata and the push channel."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests import database
from tests.listen import (
    BYTES_PER_SECOND,
    RATE,
    IcyStream,
    StreamCapture,
    decode,
    split_icy,
    whole_frames,
)
from tests.station import STARTUP_SECONDS, RunningStation, start_station

pytestmark = [pytest.mark.realtime, pytest.mark.long, pytest.mark.timeout(1200)]

# Left unset, as `make run` leaves them: the station's shipped defaults.
SHIPPED: dict[str, Any] = {"demo_library": None, "sample_news": None, "jingle_every": None,
                           "bulletin_minute": None}  # fmt: skip
METAINT = 16000
JINGLE_LIKENESS = 0.9  # a jingle through the MP3 stream still matches its file this well
NEWS_TITLE = "Radio Station News - {title}"  # the default station name, as ICY shows a story
# The demo songs run about half a minute and a jingle follows every four: a listener hears
# music, a jingle and the bulletin within a few minutes. This bounds a stuck station.
LISTEN_SECONDS = 600
# The clock bulletin starts at the first item boundary after its minute.
BULLETIN_LATE_SECONDS = 120
BULLETIN_AHEAD_MINUTES = 3  # the jingle, after four songs, comes about as late
AFTER_SECONDS = 5  # listened to after the item that follows the jingle went live


class Listener:
    """/stream with Icy-MetaData and the push channel, both from the moment it tunes in."""

    def __init__(self, station: RunningStation) -> None:
        # Reads ahead of CPU hogs (see StreamCapture): it hears what the station sent.
        self.stream = StreamCapture(station.port, icy=True, timely=True)
        self.pushed: list[dict[str, Any]] = []
        self._push = threading.Thread(target=self._read_push, args=(station.url,), daemon=True)
        self._push.start()

    def _read_push(self, url: str) -> None:
        try:
            with httpx.stream("GET", url + "/api/now-playing/events", timeout=None) as events:
                for line in events.iter_lines():
                    if line.startswith("data: "):
                        current = json.loads(line.removeprefix("data: "))["current"]
                        if current and not self._same(current):
                            self.pushed.append(current)
        except httpx.TransportError:
            pass  # the station stopped

    def _same(self, current: dict[str, Any]) -> bool:
        """The item already pushed last (pushed again for a new listener count or vote)."""
        last = self.pushed[-1] if self.pushed else {}
        return all(current[key] == last.get(key) for key in ("kind", "title", "started_at"))

    def heard(self, kind: str) -> list[dict[str, Any]]:
        return [item for item in self.pushed if item["kind"] == kind]

    def stories(self) -> list[dict[str, Any]]:
        """The news items that read a story (not a bulletin's spoken opening)."""
        return [item for item in self.heard("news") if item["article_id"] is not None]

    def icy(self) -> list[tuple[str, str]]:
        """(StreamTitle, StreamUrl or "") of every metadata block with a title, in order."""
        blocks = split_icy(bytes(self.stream.body), METAINT)
        texts = [block.rstrip(b"\0").decode() for block in _metadata(self.stream.body, blocks)]
        found = [re.fullmatch(r"StreamTitle='(.*?)';(?:StreamUrl='(.*?)';)?", t) for t in texts]
        assert all(found), texts
        return [(m.group(1), m.group(2) or "") for m in found if m]

    def stop(self) -> None:
        self.stream.stop()


def test_make_run_puts_music_a_jingle_and_the_clock_bulletin_on_air(tmp_path: Path) -> None:
    # A fresh clone's `make run`, its clock bulletin injected a few minutes ahead: time for
    # the station to make its demo music and speak its sample stories first.
    due = (datetime.now(UTC) + timedelta(minutes=BULLETIN_AHEAD_MINUTES)).replace(
        second=0, microsecond=0
    )
    station = start_station(
        tmp_path, seed_stings=False, **SHIPPED | {"bulletin_minute": due.minute}
    )
    listener = Listener(station)
    try:
        station.wait_for_music(timeout=STARTUP_SECONDS)
        stories = station.wait_for_speech()  # {title: slug}, every published story
        spoken_by = datetime.now(UTC)
        deadline = time.monotonic() + LISTEN_SECONDS
        # What is judged below reaches the listener, however busy the machine: a story, and
        # the jingle whole (the item after it is recorded when its first audio is live,
        # mid-crossfade out of the jingle), then AFTER_SECONDS more audio read (a metadata
        # block after the story's title among it).
        while not (listener.stories() and played_after_jingle(station)):
            assert time.monotonic() < deadline, (
                f"not all heard; bulletin due {due}, speech ready {spoken_by}: {listener.pushed}"
            )
            time.sleep(0.5)
        enough = len(listener.stream.body) + AFTER_SECONDS * BYTES_PER_SECOND
        while len(listener.stream.body) < enough:
            assert time.monotonic() < deadline, "the stream stopped"
            time.sleep(0.1)
    finally:
        listener.stop()
        station.stop()

    pushed, icy = listener.pushed, listener.icy()
    # Music from the demo library, with its title in ICY as in the push.
    music = [item for item in pushed if item["kind"] == "music"]
    assert music, pushed
    assert all(item["album"] == "Demo Station" for item in music)
    assert {(f"{m['artist']} - {m['title']}", "") for m in music} & set(icy), icy
    # The station's jingle keeps the song's title on screen: the listener hears it.
    # (split_icy keeps whole metaint spans: the audio ends inside a frame)
    heard, errors = decode(whole_frames(split_icy(bytes(listener.stream.body), METAINT).audio))
    assert not errors, errors
    [jingle] = (station.media / "jingles").glob("*.mp3")
    assert sounds_in(jingle, heard) > JINGLE_LIKENESS
    # The clock bulletin at the injected minute, and each story in it by its title and
    # article link (the later stories follow the first, as long as the bulletin runs).
    news = listener.stories()
    for story in news:
        assert story["title"] in stories, (story, stories)
        assert story["url"] == f"{station.url}/news/{stories[story['title']]}"
        assert datetime.fromisoformat(story["started_at"]) >= due, (due, story)
    first_story = news[0]
    started = datetime.fromisoformat(first_story["started_at"])
    assert started <= due + timedelta(seconds=BULLETIN_LATE_SECONDS), (due, first_story)
    assert (NEWS_TITLE.format(title=first_story["title"]), first_story["url"]) in icy, icy


def _metadata(body: bytes | bytearray, icy: IcyStream) -> list[bytes]:
    """The text of every metadata block that carries one, where split_icy found them."""
    texts, position = [], 0
    for offset, size in zip(icy.block_offsets, icy.block_sizes, strict=True):
        start = position + offset  # the block's length byte: audio so far plus earlier blocks
        if size > 1:
            texts.append(bytes(body[start + 1 : start + size]))
        position += size
    return texts


def played_after_jingle(station: RunningStation) -> bool:
    """Whether an item aired after the first library jingle."""
    [(count,)] = database.rows(
        station.state,
        "SELECT count(*) FROM plays WHERE id > (SELECT min(id) FROM plays "
        "WHERE kind = 'jingle' AND track_id IS NOT NULL)",
    )
    return bool(count)


def sounds_in(path: Path, heard: np.ndarray) -> float:
    """How alike the middle second of the file (clear of crossfades) is to the best-matching
    second of `heard`: normalised cross-correlation, 1.0 for the same waveform at any gain."""
    reference, _ = decode(path.read_bytes())
    middle = len(reference) // 2
    probe = reference[middle - RATE // 2 : middle + RATE // 2].astype(np.float64)
    probe -= probe.mean()
    signal = heard.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(signal) + len(probe))))
    correlation = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(probe, size)), size)
    correlation = correlation[: len(signal) - len(probe) + 1]
    energy = np.concatenate([[0.0], np.cumsum(signal**2)])
    window = energy[len(probe) :] - energy[: -len(probe)]
    likeness = correlation / (np.linalg.norm(probe) * np.sqrt(np.maximum(window, 1e-12)))
    return float(likeness.max())
