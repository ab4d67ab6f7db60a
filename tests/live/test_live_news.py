"""The hourly news in a live show, on a real station with real ffmpeg as the host's source:
the bulletin takes the air from the live input at its minute and gives it back (the live
tone again while the source still sends), with the host told (GET /api/live says "news");
a show that holds the news keeps the air through the bulletin's minute; and after the live
input ends the programme's next clock item airs on time, the bulletin not again.

The oracle is the decoded /stream (which of the music's, the source's and the clock item's
tones sounds, by FFT) and the titles listeners get (the push channel, ICY)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from app.core.item import Item, ItemKind
from app.ffmpeg import ffmpeg_path
from app.playout.live import LiveSource
from app.playout.sequencer import Sequencer
from tests.audio import write_tone
from tests.conftest import tone_library
from tests.listen import BYTES_PER_SECOND, RATE, FfmpegTitles, StreamCapture, decode
from tests.listen import longest_quiet_run as quiet_seconds
from tests.live.test_icecast_source import Events, arrival, first_run, live_state, source, wait_live
from tests.playout.test_sequencer import RATE as RATE_UNIT
from tests.playout.test_sequencer import EndlessSource, Programme, ToneSource, play
from tests.station import RunningStation, start_station

pytestmark = [pytest.mark.realtime, pytest.mark.long, pytest.mark.timeout(600)]

SOURCE_TONE = 880.0  # what tests.live.test_icecast_source.source sends
MUSIC = [(440, 20, "Low Tone"), (550, 20, "Other Tone"), (330, 6, "Station ID")]
ID_TONE = 330.0
FREQS = [440.0, 550.0, SOURCE_TONE, ID_TONE]
WINDOW = 0.1
# The station starts, renders its sample stories' speech and the bulletin's opening, and a
# host goes live, all before the bulletin's minute: it is set this far ahead (or more).
READY_SECONDS = 90
LIVE_BEFORE_SECONDS = 25  # the host goes live this long before the bulletin's minute
NEWS_LATE_SECONDS = 4.0  # the news is heard at most this late after its minute
ID_LATE_SECONDS = 25.0  # a clock item starts at the first item boundary after its minute
PURITY = 0.8
# The host's audio airs about this late after the news at most: the live input's own start
# (0.4 s), the playout's read-ahead while a live input is on (1.5 s), its fade-out (1 s).
LIVE_END_SECONDS = 3.5
GAP_WINDOWS = 10  # the live tone missing for a second: something else has the air


@pytest.fixture
def news_station(tmp_path: Path) -> Iterator[tuple[RunningStation, datetime]]:
    """A station with its sample news and the bulletin at a minute a little ahead; yields it
    and the bulletin's time, once its stories can be read."""
    tone_library(tmp_path / "media", MUSIC)
    ahead = datetime.now(UTC) + timedelta(seconds=READY_SECONDS + 59)
    due = ahead.replace(second=0, microsecond=0)
    station = start_station(tmp_path, sample_news="true", bulletin_minute=due.minute,
                            bulletin_stories=1, timezone="UTC", crossfade_seconds=1,
                            live_silence_seconds=10)  # fmt: skip
    try:
        station.wait_for_music()
        station.wait_for_speech()
        tracks = station.get("/api/tracks", headers=station.auth()).json()["items"]
        ids = {track["title"]: track["id"] for track in tracks}
        # The music rotates; the station ID is a clock item a minute after the news.
        rotation = {"name": "Music", "track_ids": [ids["Low Tone"], ids["Other Tone"]]}
        clock = {"name": "ID", "track_ids": [ids["Station ID"]], "rule": "hourly",
                 "minute": (due + timedelta(minutes=1)).minute}  # fmt: skip
        for playlist in (rotation, clock):
            made = station.post("/api/playlists", json=playlist)
            assert made.status_code == 201, made.text
        yield station, due
    finally:
        station.stop()


def pure_tones(samples: np.ndarray) -> list[float | None]:
    """Per window, which of FREQS sounds as a pure tone (PURITY of the window's energy
    around its spectrum's peak): the music's, the source's, the clock item's; None for
    speech, a mix (a crossfade) or silence."""
    size = round(RATE * WINDOW)
    frames = samples[: len(samples) // size * size].reshape(-1, size).astype(np.float64)
    power = np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)) ** 2
    out: list[float | None] = []
    for frame, row in zip(frames, power, strict=True):
        peak = int(np.argmax(row))
        pure = row[max(peak - 2, 0) : peak + 3].sum() > PURITY * row.sum()
        freq = peak * RATE / size
        tone = next((f for f in FREQS if abs(f - freq) <= RATE / size), None)
        out.append(tone if pure and np.sqrt(np.mean(frame**2)) > 1e-3 else None)
    return out


def until(at: datetime) -> None:
    """Wait for a wall-clock time (the bulletin's minute is one)."""
    left = (at - datetime.now(UTC)).total_seconds()
    if left > 0:
        time.sleep(left)


def wall(monotonic: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=time.monotonic() - monotonic)


def first_gap(found: list[float | None], tone: float, start: int, run: int = 20) -> int:
    """The first window at or after `start` that begins `run` windows without `tone`."""
    for i in range(start, len(found) - run + 1):
        if all(t != tone for t in found[i : i + run]):
            return i
    raise AssertionError(f"{tone} Hz never stops after window {start}: {found[start:]}")


def runs(found: list[float | None]) -> list[tuple[float | None, int]]:
    """`found` as (tone, windows) runs, for messages."""
    out: list[tuple[float | None, int]] = []
    for tone in found:
        if out and out[-1][0] == tone:
            out[-1] = (tone, out[-1][1] + 1)
        else:
            out.append((tone, 1))
    return out


def go_live(station: RunningStation, due: datetime) -> subprocess.Popen[bytes]:
    now = datetime.now(UTC)
    assert now < due - timedelta(seconds=LIVE_BEFORE_SECONDS), (
        f"the station was not ready {LIVE_BEFORE_SECONDS} s before the bulletin's minute "
        f"{due:%H:%M}: it is {now:%H:%M:%S}"
    )
    until(due - timedelta(seconds=LIVE_BEFORE_SECONDS))
    sender = source(station)
    wait_live(station, "on_air")
    station.wait_for(lambda now: now["current"]["kind"] == "live", timeout=15)
    return sender


def test_the_news_takes_the_air_from_a_live_show_at_its_minute_and_gives_it_back(
    news_station: tuple[RunningStation, datetime],
) -> None:
    station, due = news_station
    capture = StreamCapture(station.port)
    events = Events(station)
    icy = FfmpegTitles(f"{station.url}/stream")
    sender = go_live(station, due)
    try:
        live_title = station.now_playing()["current"]["title"]
        # The host is told: the news has the air.
        deadline = time.monotonic() + LIVE_BEFORE_SECONDS + 30
        while (status := live_state(station))["state"] != "news":
            assert status["state"] == "on_air", status
            assert time.monotonic() < deadline, f"no news over the live show: {events.items}"
            time.sleep(0.05)
        told_news = datetime.now(UTC)
        assert status["news"], status
        # ... and given the air back, while the source still sends.
        status = wait_live(station, "on_air", timeout=90)
        assert status["news"] is None
        back_told = time.monotonic()
        while time.monotonic() < back_told + 5:  # the live show goes on a while
            assert live_state(station)["state"] == "on_air"
            time.sleep(0.2)
        sender.kill()
        sender.wait()
        hung_up, ended = time.monotonic(), datetime.now(UTC)
        wait_live(station, "off")
        # The programme's next clock item, the station ID a minute after the news: on time.
        id_due = due + timedelta(minutes=1)
        remaining = (id_due - datetime.now(UTC)).total_seconds()
        ident = station.wait_for(lambda now: now["current"]["title"] == "Station ID",
                                 timeout=max(remaining, 0) + ID_LATE_SECONDS + 10)  # fmt: skip
        # ... and what follows it: the programme, not the news again (its hour has fired).
        following = station.wait_for(lambda now: now["current"]["title"] != "Station ID",
                                     timeout=30)["current"]  # fmt: skip
    finally:
        sender.kill()
        capture.stop()
        icy.stop()

    found = pure_tones(decode(bytes(capture.body))[0])
    at = [wall(arrival(capture, round(i * WINDOW * BYTES_PER_SECOND))) for i in range(len(found))]
    live = first_run(found, SOURCE_TONE)
    news = first_gap(found, SOURCE_TONE, live)
    back = first_run(found, SOURCE_TONE, news)
    # The bulletin at its minute, with the station's crossfade: not before, a moment after.
    assert due - timedelta(seconds=0.5) <= at[news] <= due + timedelta(seconds=NEWS_LATE_SECONDS), (
        f"the live tone stopped at {at[news]:%H:%M:%S.%f}, the news was due at {due:%H:%M:%S}"
    )
    assert abs((told_news - at[news]).total_seconds()) < 3, (told_news, at[news])
    # The news (speech and stings), never the music nor silence, until the live tone is back.
    heard = found[news:back]
    assert not {440.0, 550.0, ID_TONE} & set(heard), str(runs(found[live:]))
    samples = decode(bytes(capture.body))[0]
    span = samples[round(news * WINDOW * 44100) : round(back * WINDOW * 44100)]
    assert len(heard) * WINDOW > 5, f"a bulletin of {len(heard) * WINDOW:.1f} s"
    assert quiet_seconds(span) < 2.0, "silence on air during the news"
    # Back to the live tone while the source still sends, and it stays until it hangs up.
    assert at[back] < ended
    assert all(t == SOURCE_TONE for t in found[back + 10 : back + 40]), found[back : back + 40]
    # ... near its live point: when the host hangs up, their audio ends on air soon after.
    gone = first_gap(found, SOURCE_TONE, back, run=5)
    late = arrival(capture, round(gone * WINDOW * BYTES_PER_SECOND)) - hung_up
    assert late < LIVE_END_SECONDS, f"the host's tone went on {late:.2f} s after they hung up"
    print(f"the news took the air {(at[news] - due).total_seconds():.2f} s after its minute; "
          f"the host's tone ended {late:.2f} s after they hung up")  # fmt: skip
    # Listeners' titles: the live show, the story, the live show again.
    titles = [item.get("title") for item in events.items]
    story = next(i for i, item in enumerate(events.items) if item.get("kind") == "news"
                 and item.get("article_id"))  # fmt: skip
    assert live_title in titles[:story]
    assert live_title in titles[story:], titles
    assert any(events.items[story]["title"] in t for t in icy.titles), icy.titles
    # Once: no news after the live show ended (the bulletin fired while it was on air).
    assert following["kind"] == "music", following
    again = [item for item in events.items if item.get("kind") == "news"
             and datetime.fromisoformat(item["started_at"]) > ended]  # fmt: skip
    assert not again, again
    # The next clock item on time after the live input ended.
    started = datetime.fromisoformat(ident["current"]["started_at"])
    assert id_due <= started <= id_due + timedelta(seconds=ID_LATE_SECONDS), (id_due, started)
    assert ID_TONE in found[back:], "the station ID's tone was never heard"


def test_a_show_that_holds_the_news_keeps_the_air_through_the_bulletins_minute(
    news_station: tuple[RunningStation, datetime],
) -> None:
    station, due = news_station
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=5)
    show = {
        "name": "Late Set",
        "interrupt_news": False,
        "slots": [{"weekday": start.weekday(), "start": f"{start:%H:%M}", "minutes": 60}],
    }
    made = station.post("/api/shows", json=show)  # fmt: skip
    assert made.status_code == 201, made.text
    capture = StreamCapture(station.port)
    events = Events(station)
    sender = go_live(station, due)
    try:
        # Through the minute and the bulletin's window of a few items' length: the host.
        deadline = due + timedelta(seconds=40)
        while datetime.now(UTC) < deadline:
            status = live_state(station)
            assert status["state"] == "on_air", status
            current = station.now_playing()["current"]
            assert current["kind"] == "live", current
            time.sleep(0.2)
    finally:
        sender.kill()
        sender.wait()
        capture.stop()
    found = pure_tones(decode(bytes(capture.body))[0])
    at = [wall(arrival(capture, round(i * WINDOW * BYTES_PER_SECOND))) for i in range(len(found))]
    live = first_run(found, SOURCE_TONE)
    through = [i for i in range(live, len(found)) if at[i] <= deadline - timedelta(seconds=2)]
    assert at[through[0]] < due - timedelta(seconds=10), "the live show began too late"
    assert at[through[-1]] > due + timedelta(seconds=30), "the stream ended too early"
    # (A window or two may miss it when the machine is busy: a bulletin would be seconds.)
    gap = next((i for i in through if all(t != SOURCE_TONE for t in found[i : i + GAP_WINDOWS])),
               None)  # fmt: skip
    assert gap is None, f"the live tone stopped at {at[gap]} (the news was due at {due:%H:%M})"
    assert not [item for item in events.items if item.get("kind") == "news"], events.items


# -- the playout's part on its own: the sequencer with in-memory sources --------------------


class LiveInput(ToneSource):
    """An endless live input that says when it is ending and counts its catch-ups."""

    def __init__(self, level: float) -> None:
        super().__init__(Item(kind=ItemKind.live, title="Live"), 10**9, level)
        self.ending = False
        self.caught_up = 0

    def catch_up(self) -> None:
        self.caught_up += 1


def test_the_sequencer_airs_a_clock_item_over_a_live_input_then_gives_the_air_back() -> None:
    now = [0.0]
    due: list[Item] = []
    news = {"sting": (300, 0.25), "story": (1000, 0.5)}
    programme = Programme([("song", 2000, 0.1), ("after", 5000, 0.2)])
    opened: list[ToneSource] = []

    def open_source(it: Item) -> ToneSource:
        if it.title in news:
            opened.append(ToneSource(it, *news[it.title]))
            return opened[-1]
        return programme.open(it)

    sequencer = Sequencer(next_item=programme.next_item, open_source=open_source,
                          safety=EndlessSource(0.05), sample_rate=RATE_UNIT,
                          crossfade_seconds=0.1, skip_fade_seconds=0.1, clock=lambda: now[0],
                          break_item=lambda: due.pop(0) if due else None)  # fmt: skip
    play(sequencer, 0.5)
    live = LiveInput(0.8)
    sequencer.go_live(live)
    sequencer.skip()
    left, starts = play(sequencer, 1)
    assert [title for _, title in starts] == ["Live"]
    assert np.all(left[100:] == 0.8)

    # The news falls due: it takes the air with the crossfade, part after part, and then
    # the live input has it back, from its live point; it was never closed meanwhile.
    due.extend([news_item("sting"), news_item("story")])
    now[0] = 5.0
    left, starts = play(sequencer, 2)
    assert starts == [(0, "sting"), (200, "story"), (1100, "Live")]
    assert np.all(left[100:200] == 0.25)
    assert np.all(left[300:1100] == 0.5)
    assert np.all(left[1200:] == 0.8)
    assert not live.closed
    assert live.caught_up == 1

    # Again, and the host hangs up while the news airs: the programme comes back after it.
    due.append(news_item("story"))
    now[0] = 10.0
    play(sequencer, 0.3)
    live.ending = True
    left, starts = play(sequencer, 2)
    assert [title for _, title in starts] == ["after"]
    assert live.closed
    assert live.caught_up == 1
    assert np.all(left[1000:] == 0.2)
    assert 0.8 not in left


def news_item(title: str) -> Item:
    return Item(kind=ItemKind.news, title=title)


def test_a_live_input_that_waited_comes_back_at_its_live_point(tmp_path: Path) -> None:
    """Real ffmpeg decoding real MP3: what the host sent while the news had the air is
    dropped (about what a live input starts with is kept)."""
    data = write_tone(tmp_path / "in.mp3", 8, 660).read_bytes()
    item = Item(kind=ItemKind.live, title="Live")
    live = LiveSource(item, ffmpeg_path(), RATE, "audio/mpeg", -16.0, silence_seconds=2,
                      fade_seconds=1)  # fmt: skip
    try:
        live.feed(data)  # seconds of it at once, unread: the news had the air
        deadline = time.monotonic() + 30
        while live.buffered_seconds < 2.5:
            assert time.monotonic() < deadline, f"decoded only {live.buffered_seconds} s"
            time.sleep(0.05)
        live.catch_up()
        assert live.buffered_seconds <= 0.45, live.buffered_seconds
        assert not live.ending
        block = live.read(RATE // 5)
        assert float(np.max(np.abs(block))) > 0.1  # the host, not silence
        # A live input ended while it waited, never read again: it says why it ended.
        live.end("the source disconnected")
        assert live.ending
    finally:
        live.close()
    assert live.end_reason == "the source disconnected"
