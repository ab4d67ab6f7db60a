"""A bulletin on the real stream: now-playing and ICY carry each story's title and page."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.conftest import tone_library
from tests.listen import StreamCapture, split_icy
from tests.station import start_station

pytestmark = pytest.mark.realtime


def test_stories_on_air_carry_their_headline_and_article_url(tmp_path: Path) -> None:
    tone_library(tmp_path / "media", [(440, 30, "A"), (550, 30, "B"), (660, 30, "C")])
    station = start_station(tmp_path, sample_news="true", public_url="https://radio.example",
                            station_name="Valley FM")  # fmt: skip
    listener: StreamCapture | None = None
    try:
        station.wait_for_music()
        stories = station.wait_for_speech()  # all of them: a bulletin reads the freshest
        assert len(stories) >= 3
        listener = StreamCapture(station.port, icy=True)
        added = station.post("/api/queue", json={"bulletin": True, "position": "next"})
        assert added.status_code == 201, added.text
        station.post("/api/queue/skip").raise_for_status()
        # "next" is the first item not yet handed to the playout: added within ~8 s of a
        # track's end (or while the skip's fade runs), one 30 s track may come before it.
        story = station.wait_for(is_story, timeout=75)["current"]
        assert story["title"] in stories
        assert story["url"] == f"https://radio.example/news/{stories[story['title']]}"
        time.sleep(3)  # past the next metadata block
    finally:
        if listener is not None:  # its socket closed here, not in a later test's collection
            listener.stop()
        station.stop()
    blocks = re.findall(rb"StreamTitle='([^']*)';StreamUrl='([^']*)';", bytes(listener.body))
    shown = {title.decode(): url.decode() for title, url in blocks}
    assert shown.get(f"Valley FM News - {story['title']}") == story["url"]
    assert split_icy(bytes(listener.body), 16000).block_offsets  # still a well-framed stream


def is_story(state: dict) -> bool:
    return state["current"]["kind"] == "news" and state["current"]["url"] is not None
