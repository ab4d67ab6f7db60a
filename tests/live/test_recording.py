"""Live shows recorded (app/live/recording.py): a host goes live with real ffmpeg as the
Icecast source in the slot of a show with "record" on; the file in media/recordings/ has the
show's tags (read by ffprobe), holds the stream's bytes as they aired and the source's tone
(decoded by ffmpeg, found by FFT); the library lists it as a recording that is never planned
as music; the podcast feed has it as an episode whose enclosure serves the file. A show with
"record" off leaves no file. And the recorder on its own: bounded by its limit, and a disk
that fails is a problem shown to hosts, never an error on the stream's side."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest

from app.core.item import Item, ItemKind
from app.ffmpeg import ffmpeg_path
from app.live.recording import Recorder, RecordingSink
from app.problems import Problems
from tests.conftest import tone_library
from tests.listen import RATE, StreamCapture, decode, dominant_tone
from tests.live.sources import SOURCE_TONE, source, wait_live
from tests.station import RunningStation, start_station

MUSIC = [(440, 20, "Low Tone"), (550, 20, "Other Tone")]
FREQS = [440.0, 550.0, float(SOURCE_TONE)]
WINDOW = 0.1
TONE_SECONDS = 8
TIMEZONE = "Europe/Berlin"
ZONE = ZoneInfo(TIMEZONE)


@pytest.fixture
def station(tmp_path: Path) -> Iterator[RunningStation]:
    tone_library(tmp_path / "media", MUSIC)
    running = start_station(tmp_path, live_silence_seconds=3, crossfade_seconds=1,
                            timezone=TIMEZONE)  # fmt: skip
    try:
        running.wait_for_music()
        yield running
    finally:
        running.stop()


def call(station: RunningStation, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, station.url + path, headers=station.auth(), timeout=60,
                             **kwargs)  # fmt: skip
    assert response.status_code < 300, (method, path, response.status_code, response.text)
    return response.json() if response.content else None


def go_live_with_a_tone(station: RunningStation) -> dict:
    """ffmpeg sends the source's tone for TONE_SECONDS and hangs up; returns /api/live once
    the programme is back on the stream."""
    sender = source(station, f"sine=f={SOURCE_TONE}:r=44100:d={TONE_SECONDS}")
    try:
        wait_live(station, "on_air", timeout=30)
        assert sender.wait(timeout=TONE_SECONDS + 30) == 0
        ended = wait_live(station, "off", timeout=30)
        station.wait_for_music()  # on the stream again: a recording is finished
        return ended
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait()


def recordings(station: RunningStation) -> list[Path]:
    """The finished recordings (a recording being written is a hidden temp file)."""
    folder = station.media / "recordings"
    return sorted(folder.glob("[!.]*.mp3")) if folder.is_dir() else []


def tone_runs(samples: np.ndarray) -> list[float]:
    """The seconds of each unbroken run of the source's tone, in order."""
    runs, length = [], 0
    for tone in [*dominant_tone(samples, FREQS, WINDOW), None]:
        if tone == SOURCE_TONE:
            length += 1
        elif length:
            runs.append(length * WINDOW)
            length = 0
    return runs


def without_id3v2(data: bytes) -> bytes:
    """The MP3's audio: an ID3v2 tag at its start (10-byte header, syncsafe size) left out."""
    assert data[:3] == b"ID3", "no ID3v2 tag at the start of the file"
    size = sum((byte & 0x7F) << (7 * (3 - i)) for i, byte in enumerate(data[6:10]))
    footer = 10 if data[5] & 0x10 else 0
    return data[10 + size + footer :]


def probe(path: Path) -> tuple[dict[str, str], float]:
    """The file's tags and duration as ffprobe reads them."""
    ffprobe = shutil.which("ffprobe")
    assert ffprobe is not None, "ffprobe (FFmpeg's) is needed on PATH for this test"
    result = subprocess.run([ffprobe, "-v", "error", "-show_format", "-of", "json", str(path)],
                            capture_output=True, check=True, text=True)  # fmt: skip
    found = json.loads(result.stdout)["format"]
    tags = {key.lower(): value for key, value in found.get("tags", {}).items()}
    return tags, float(found["duration"])


def wait_until(condition: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return found


@pytest.mark.realtime
@pytest.mark.xdist_group("live-source")
def test_a_show_with_record_on_is_in_the_library_with_its_tags_and_in_the_podcast(
    station: RunningStation,
) -> None:
    me = call(station, "GET", "/api/session")["host"]
    now = datetime.now(UTC).astimezone(ZONE)
    slot = {"weekday": now.weekday(), "start": f"{now:%H:%M}", "minutes": 30}
    if now.hour == 23 and now.minute >= 30:  # a slot must not cross into tomorrow's weekday
        slot["minutes"] = 60 - now.minute
    show = call(
        station,
        "POST",
        "/api/shows",
        json={"name": "Night Shift", "record": False, "host_ids": [me["id"]], "slots": [slot]},
    )

    # Record off: the show airs, no file is made.
    go_live_with_a_tone(station)
    folder = station.media / "recordings"
    assert not folder.exists() or list(folder.iterdir()) == []  # nor a recording in progress

    # Record on: the host goes live again, the tone is heard on the stream and recorded.
    call(station, "PATCH", f"/api/shows/{show['id']}", json={"record": True})
    capture = StreamCapture(station.port)
    try:
        started = datetime.now(ZONE)
        ended = go_live_with_a_tone(station)
        [path] = wait_until(lambda: recordings(station), "no recording in media/recordings")
        music_back = capture.bytes_at(time.monotonic())
        wait_until(lambda: capture.bytes_at(time.monotonic()) > music_back + 32_000,
                   "the stream went on after the show")  # fmt: skip
    finally:
        capture.stop()
    host = ended["last_ended"]["host"]

    # The file: the show's tags as ffprobe reads them, the show as it aired.
    date = f"{started:%Y-%m-%d}"
    tags, duration = probe(path)
    assert (tags.get("title"), tags.get("artist"), tags.get("album"), tags.get("date")) == (
        f"Night Shift – {date}",
        host,
        "Night Shift",
        date,
    ), tags
    assert path.name.startswith(f"{date}-"), path.name
    assert path.name.endswith("-night-shift.mp3"), path.name
    audio = without_id3v2(path.read_bytes())
    assert len(audio) > 16_000 * TONE_SECONDS * 0.8, "the recording is shorter than the show"
    aired_at = bytes(capture.body).find(audio)
    assert aired_at >= 0, "the recording is not the stream's bytes as aired"
    samples, errors = decode(audio)
    assert errors == "", errors
    heard = sum(tone_runs(samples))
    assert TONE_SECONDS - 1.5 <= heard <= TONE_SECONDS + 0.5, f"{heard} s of the source's tone"
    assert TONE_SECONDS - 1.5 <= duration <= TONE_SECONDS + 4.0, duration  # and the fades
    assert abs(len(samples) / RATE - duration) < 0.5

    # The library: a recording with its tags, never planned as music.
    def listed() -> dict | None:
        page = call(station, "GET", "/api/tracks", params={"kind": "recording"})
        ready = [t for t in page["items"] if t["status"] == "ready"]
        return ready[0] if page["total"] == 1 and ready else None

    track = wait_until(listed, "the recording is not in the library, analysed")
    assert (track["kind"], track["path"], track["title"], track["artist"], track["album"]) == (
        "recording",
        f"recordings/{path.name}",
        f"Night Shift – {date}",
        host,
        "Night Shift",
    )
    assert recordings(station) == [path], "the show with record off was recorded too"
    everything = call(station, "GET", "/api/tracks", params={"limit": 100})["items"]
    assert [t["kind"] for t in everything if t["id"] == track["id"]] == ["recording"]
    preview = call(station, "GET", "/api/schedule/preview", params={"hours": 2})["items"]
    assert [i for i in preview if i["kind"] == "music"], "the preview plans no music at all"
    assert track["id"] not in {i["track_id"] for i in preview}, "a recording planned as music"
    queue = call(station, "GET", "/api/queue")["items"]
    assert track["id"] not in {i["track_id"] for i in queue}

    # The podcast: an episode whose enclosure serves the file (Range too).
    feed = ET.fromstring(station.get("/news/podcast.xml").content)
    items = [i for i in feed.iter("item") if i.findtext("title") == f"Night Shift – {date}"]
    assert len(items) == 1, ET.tostring(feed)
    enclosure = items[0].find("enclosure")
    assert enclosure is not None
    assert enclosure.get("type") == "audio/mpeg"
    assert int(enclosure.get("length", "0")) == path.stat().st_size
    assert host in (items[0].findtext("description") or "")
    url = enclosure.get("url", "")
    assert url.startswith(station.url), url
    served = station.get(url.removeprefix(station.url))
    assert served.status_code == 200
    assert served.headers["content-type"] == "audio/mpeg"
    assert served.content == path.read_bytes()
    part = station.get(url.removeprefix(station.url), headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == path.read_bytes()[100:200]
    # Only recordings are served there: a music track's id is not.
    music = next(t for t in everything if t["kind"] == "music")
    assert station.get(f"/recordings/{music['id']}.mp3").status_code == 404

    # Recordings are the station's own: an upload as one is refused, saying what may be.
    upload = httpx.post(f"{station.url}/api/tracks/upload", params={"kind": "recording"},
                        headers=station.auth(), files={"file": ("show.mp3", audio)},
                        timeout=60)  # fmt: skip
    assert upload.status_code == 400, upload.text
    assert upload.json()["detail"] == "kind must be music or jingle, not 'recording'"

    # An admin deletes it: the file, the track and the episode go.
    call(station, "DELETE", f"/api/tracks/{track['id']}")
    assert not path.exists()
    assert station.get(url.removeprefix(station.url)).status_code == 404
    assert b"Night Shift" not in station.get("/news/podcast.xml").content


class StandInHub:
    """Takes the sinks the recorder adds and removes (the real hub is in the test above)."""

    def __init__(self) -> None:
        self.sinks: list[RecordingSink] = []

    def add_sink(self, sink: RecordingSink) -> None:
        self.sinks.append(sink)

    def remove_sink(self, sink: RecordingSink) -> None:
        self.sinks.remove(sink)


LIVE = Item(kind=ItemKind.live, title="Live with Ann")
SONG = Item(kind=ItemKind.music, title="Song")


class Door:
    """Who is live (station.live's feed): the host while their live input is on, else None."""

    host: str | None = None


def recorder(media: Path, problems: Problems, saved: list[Path], *, outside: bool = True,
             slot: object = None,
             max_seconds: float = 3600) -> tuple[Recorder, StandInHub]:  # fmt: skip
    hub = StandInHub()
    made = Recorder(hub, media, problems, current_show=lambda _at: slot,
                    live_host=lambda: Door.host, record_outside_shows=outside, byte_rate=16_000,
                    max_seconds=max_seconds, timezone="UTC", station_name=lambda: "Test FM",
                    on_saved=saved.append)  # fmt: skip
    return made, hub


def mp3(seconds: float) -> bytes:
    """A 660 Hz tone as 128 kbps CBR MP3, as the default mount sends (real ffmpeg)."""
    return subprocess.run(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
         f"sine=f=660:r=44100:d={seconds}", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3",
         "pipe:1"], capture_output=True, check=True).stdout  # fmt: skip


def record(rec: Recorder, hub: StandInHub, audio: bytes) -> None:
    """A live item airs with `audio`, the host hangs up, a song airs: the recording is
    finished."""
    Door.host = "Ann"
    rec.on_item_live(LIVE, 0.0)
    [sink] = hub.sinks
    for start in range(0, len(audio), 6400):  # the hub's writes: 0.4 s at 128 kbps
        sink.write(audio[start : start + 6400])
    Door.host = None
    rec.on_item_live(SONG, 0.0)
    assert hub.sinks == []
    rec.join(30)


def test_the_news_inside_a_live_show_is_part_of_its_recording(tmp_path: Path) -> None:
    """The hourly news that interrupts a live show (the host still live) airs inside the
    show: one file, with the news in it, finished once the programme is back."""
    saved: list[Path] = []
    rec, hub = recorder(tmp_path / "media", Problems(), saved)
    Door.host = "Ann"
    rec.on_item_live(LIVE, 0.0)
    [sink] = hub.sinks
    audio = mp3(3)
    sink.write(audio[: len(audio) // 2])
    rec.on_item_live(Item(kind=ItemKind.news, title="The news"), 0.0)
    assert hub.sinks == [sink], "the news inside the show ended its recording"
    sink.write(audio[len(audio) // 2 :])
    rec.on_item_live(LIVE, 0.0)  # the host again, after the news
    assert hub.sinks == [sink]
    Door.host = None
    rec.on_item_live(SONG, 0.0)
    assert hub.sinks == []
    rec.join(30)
    [path] = saved
    assert 2.5 <= probe(path)[1] <= 3.2


def test_outside_a_show_only_with_radio_live_record_and_bounded_by_its_limit(
    tmp_path: Path,
) -> None:
    problems = Problems()
    saved: list[Path] = []
    off, hub = recorder(tmp_path / "media", problems, saved, outside=False)
    off.on_item_live(LIVE, 0.0)
    assert hub.sinks == []

    # RADIO_LIVE_RECORD on: 6 s of audio, the limit 2 s: a file of about 2 s, hosts told.
    on, hub = recorder(tmp_path / "media", problems, saved, max_seconds=2)
    record(on, hub, mp3(6))
    [path] = saved
    tags, duration = probe(path)
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    assert (tags.get("title"), tags.get("artist"), tags.get("album"), tags.get("date")) == (
        f"Live with Ann – {today}",
        "Ann",
        "Live with Ann",
        today,
    )
    assert "Live with Ann with Ann, recorded live on Test FM" in tags.get("comment", ""), tags
    assert 1.5 <= duration <= 2.1, duration
    [problem] = problems.snapshot()
    assert "RADIO_RECORDING_MAX_MINUTES" in problem.what, problem
    assert problem.cleared_at is None, "the limit's problem must stay shown"


def test_a_disk_that_fails_ends_the_recording_as_a_problem_never_on_the_stream(
    tmp_path: Path,
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "recordings").write_text("a file where the folder should be")
    problems = Problems()
    saved: list[Path] = []
    rec, hub = recorder(media, problems, saved)
    record(rec, hub, mp3(3))  # no write raises
    assert saved == []
    [problem] = problems.snapshot()
    assert problem.what == ("The live show “Live with Ann” could not be recorded; the air was "
                            "not touched"), problem  # fmt: skip
    assert problem.cause == "File exists", problem  # the folder could not be made
    assert problem.cleared_at is None
    # The next recording that works clears it.
    (media / "recordings").unlink()
    record(rec, hub, mp3(1))
    assert len(saved) == 1
    assert problems.snapshot()[0].cleared_at is not None


def test_file_names_are_safe_inside_media_recordings_and_never_overwrite(tmp_path: Path) -> None:
    slot = SimpleNamespace(name="../../Café Night / «Live»", host_names=("Ann",), record=True)
    saved: list[Path] = []
    rec, hub = recorder(tmp_path / "media", Problems(), saved, outside=False, slot=slot)
    audio = mp3(1)
    record(rec, hub, audio)
    record(rec, hub, audio)
    folder = (tmp_path / "media" / "recordings").resolve()
    assert [p.parent.resolve() for p in saved] == [folder, folder]
    assert saved[0].name.endswith("-cafe-night-live.mp3"), saved[0].name
    assert saved[1].name == saved[0].name.replace(".mp3", "-2.mp3")
    assert [probe(p)[0].get("album") for p in saved] == [slot.name, slot.name]
    assert sorted(folder.iterdir()) == sorted(saved)  # no temp file left behind
