"""The live input's parts on their own: the levelling of LiveSource (real ffmpeg decoding real
MP3, measured by ffmpeg's EBU R128 meter), the door's refusals (`station.live` with the
playout and the shows as stand-ins), and the titles in an Ogg input's comment headers."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.core.item import Item, ItemKind
from app.ffmpeg import ffmpeg_path
from app.live import Live, LiveRefused
from app.live.oggtags import OggTitles
from app.playout.live import LiveSource
from app.problems import Problems
from tests.audio import write_tone
from tests.listen import RATE, integrated_loudness

TARGET = -16.0
BLOCK = RATE // 5  # 0.2 s, the clock's block


PULSES = "0.9*lt(mod(t,0.5),0.01)*sin(2*PI*1000*t)+0.01*sin(2*PI*660*t)"


def pulses(path: Path) -> Path:
    """Quiet (about -43 LUFS) but with full-scale clicks: levelling it up would clip them."""
    subprocess.run([ffmpeg_path(), "-loglevel", "error", "-f", "lavfi", "-i",
                    f"aevalsrc='{PULSES}':s={RATE}:d=12", "-ac", "2", "-b:a", "192k", str(path)],
                   check=True)  # fmt: skip
    return path


@pytest.mark.parametrize("peak_db", [-30.0, -1.0, None])
def test_a_live_input_is_levelled_and_never_clips(tmp_path: Path, peak_db: float | None) -> None:
    if peak_db is None:
        path = pulses(tmp_path / "in.mp3")
    else:
        path = write_tone(tmp_path / "in.mp3", 12, 660, volume_db=peak_db)
    data = path.read_bytes()
    item = Item(kind=ItemKind.live, title="Live")
    live = LiveSource(item, ffmpeg_path(), RATE, "audio/mpeg", TARGET, silence_seconds=5,
                      fade_seconds=1)  # fmt: skip
    per_block = len(data) * BLOCK // (12 * RATE)
    out = []
    try:
        for i in range(0, len(data), per_block):  # fed as it would arrive, a block at a time
            live.feed(data[i : i + per_block])
            out.append(live.read(BLOCK))
    finally:
        live.close()
    pcm = np.concatenate(out)
    levelled = pcm[RATE * 2 :]  # the estimate settles in its first seconds
    assert float(np.max(np.abs(pcm))) <= 0.96, "the live input clipped"
    if peak_db is not None:  # the clicks hold the gain down: they are the point of that one
        assert abs(integrated_loudness(levelled) - TARGET) < 1.5


class Playout:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.pipe_backlog = 0

    def live_begin(self, item: Item, content_type: str, silence_seconds: float) -> None:
        self.calls.append(("begin", item))

    def live_data(self, data: bytes) -> None:
        self.calls.append(("data", len(data)))

    def live_title(self, item: Item) -> None:
        self.calls.append(("title", item))

    def live_end(self, reason: str) -> None:
        self.calls.append(("end", reason))


class Shows:
    """A station whose shows allow host 7 only."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, datetime]] = []

    def may_go_live(self, host_id: int, at: datetime) -> str | None:
        self.asked.append((host_id, at))
        return None if host_id == 7 else "It is not your show's slot: Morning Show is on"

    def current(self, at: datetime) -> Any:
        return None


def test_a_second_source_is_refused_and_shown_to_hosts() -> None:
    playout, problems = Playout(), Problems()
    live = Live(playout, problems, silence_seconds=15, max_kbps=128)
    feed = live.begin(1, "ana", "audio/mpeg", "PUT /live")
    with pytest.raises(LiveRefused) as refused:
        live.begin(2, "bo", "audio/mpeg", "SOURCE /live")
    assert refused.value.status == 403
    assert "Mountpoint in use" in refused.value.message
    assert [kind for kind, _ in playout.calls] == ["begin"]  # the air is not touched
    assert live.status()["refusals"][0]["host"] == "bo"
    assert any("refused" in p.what for p in problems.snapshot())
    feed.title("Night - Owls")
    assert playout.calls[-1][1].title == "Owls"
    assert playout.calls[-1][1].artist == "Night"


def test_the_shows_decide_who_may_go_live_now() -> None:
    playout, shows = Playout(), Shows()
    live = Live(playout, Problems(), silence_seconds=15, max_kbps=128, shows=shows)
    with pytest.raises(LiveRefused) as refused:
        live.begin(3, "cy", "audio/mpeg", "PUT /live")
    assert refused.value.status == 403
    assert refused.value.message == "It is not your show's slot: Morning Show is on"
    assert playout.calls == []
    live.begin(7, "dee", "audio/mpeg", "PUT /live")
    assert [host for host, _ in shows.asked] == [3, 7]
    assert playout.calls[0][0] == "begin"
    # Without shows, any host may go live.
    assert Live(Playout(), Problems(), silence_seconds=15, max_kbps=128).begin(3, "cy", "", "x")


def test_a_feed_over_the_bitrate_limit_is_cut_off() -> None:
    playout = Playout()
    live = Live(playout, Problems(), silence_seconds=15, max_kbps=128)
    feed = live.begin(1, "ana", "audio/mpeg", "PUT /live")
    feed.feed(b"x" * 200_000)  # within the burst a source's encoder may send at its start
    with pytest.raises(LiveRefused) as refused:
        feed.feed(b"x" * 100_000)
    assert refused.value.status == 413
    assert playout.calls[-1] == ("end", refused.value.message)
    with pytest.raises(LiveRefused):
        feed.feed(b"x")  # ended by the station: nothing more is taken


@pytest.mark.parametrize("codec", ["libopus", "libvorbis"])
def test_titles_in_ogg_comment_headers_are_found_across_reads(codec: str) -> None:
    def chain(title: str) -> bytes:
        return subprocess.run(
            [ffmpeg_path(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=0.5",
             "-c:a", codec, "-metadata", f"title={title}", "-metadata", "artist=DJ",
             "-f", "ogg", "-"], capture_output=True, check=True).stdout  # fmt: skip

    data = chain("First") + chain("Second")
    titles = OggTitles()
    found = [t for i in range(0, len(data), 37) for t in titles.feed(data[i : i + 37])]
    assert found == ["DJ - First", "DJ - Second"]
