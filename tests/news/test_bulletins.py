"""News bulletins as the playout receives them: a fake clock, the real database."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.config import Settings
from app.core.item import Item
from app.db import SessionFactory
from app.ffmpeg import ffmpeg_path
from app.models import Article, ArticleStatus, Speech, SpeechStatus
from app.news import bulletins
from app.news.speakable import opening_text
from app.news.stings import ensure_stings
from app.scheduler.planner import Planner
from tests.scheduler.test_planner import add_playlist, add_track

START = datetime(2026, 3, 2, 10, 37, tzinfo=UTC)


def add_story(sessions: SessionFactory, title: str, minutes_ago: int, *, failed: bool = False
              ) -> int:  # fmt: skip
    with sessions.begin() as session:
        article = Article(slug=title.lower().replace(" ", "-"), title=title, body="Words.",
                          status=ArticleStatus.published,
                          publish_at=START - timedelta(minutes=minutes_ago))  # fmt: skip
        session.add(article)
        session.flush()
        speech = Speech(article_id=article.id, text_hash="x", voice="en-us")
        if failed:
            speech.status, speech.error = SpeechStatus.failed, "the voice engine crashed"
        else:
            speech.status, speech.path, speech.duration = SpeechStatus.ready, "news/x.mp3", 40.0
        session.add(speech)
        return article.id


def run(planner: Planner, until: datetime) -> list[tuple[datetime, Item]]:
    clock = {"now": START}
    planner._now = lambda: clock["now"]  # type: ignore[method-assign]
    planner.on_air_until = lambda: clock["now"]
    aired = []
    while clock["now"] < until:
        item = planner.next_item()
        assert item is not None
        aired.append((clock["now"], item))
        clock["now"] += timedelta(seconds=item.duration or 1)
    return aired


@pytest.fixture
def station_settings(tmp_path: Path) -> Settings:
    media = tmp_path / "media"
    ensure_stings(media, ffmpeg_path())
    settings = Settings(media_dir=media, state_dir=tmp_path, crossfade_seconds=0,
                        jingle_every=0, bulletin_minute=0, bulletin_stories=3,
                        station_name="Test FM", public_url="https://radio.example")  # fmt: skip
    zone = settings.timezone
    for hour in range(24):  # the openings, as the news desk renders them ahead of air time
        text = opening_text(
            START.replace(hour=hour, minute=0), __import__("zoneinfo").ZoneInfo(zone)
        )
        path = media / bulletins.opening_path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return settings


def test_the_top_of_the_hour_brings_intro_opening_the_freshest_stories_and_outro(
    station_settings: Settings, sessions: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    songs = [add_track(sessions, f"Song {i}", 3.5, artist=f"A{i}") for i in range(30)]
    add_playlist(sessions, "Music", songs)
    oldest = add_story(sessions, "Oldest", 300)
    broken = add_story(sessions, "Broken", 5, failed=True)
    newest = add_story(sessions, "Newest", 10)
    middle = add_story(sessions, "Middle", 60)
    add_story(sessions, "Older", 120)
    assert broken
    assert oldest
    with caplog.at_level(logging.WARNING, logger="app.news.bulletins"):
        planner = Planner(sessions, station_settings,
                          segments=[bulletins.Bulletins(station_settings)])  # fmt: skip
        aired = run(planner, START + timedelta(hours=1, minutes=30))
    first = next(i for i, (_, item) in enumerate(aired) if item.kind.value != "music")
    at, _ = aired[first]
    assert at >= START.replace(hour=11, minute=0)
    assert aired[first - 1][0] < START.replace(hour=11, minute=0)  # the first boundary after :00
    bulletin = [item for _, item in aired[first : first + 6]]
    assert [item.kind.value for item in bulletin] == ["jingle", "news", "news", "news", "news",
                                                      "jingle"]  # fmt: skip
    assert bulletin[0].path == station_settings.media_dir / "news/stings/intro.mp3"
    assert bulletin[1].title == "News at eleven o'clock"
    assert [item.title for item in bulletin[2:5]] == ["Newest", "Middle", "Older"]
    assert [item.article_id for item in bulletin[2:4]] == [newest, middle]
    assert bulletin[2].url == "https://radio.example/news/newest"
    assert bulletin[5].path == station_settings.media_dir / "news/stings/outro.mp3"
    assert "Broken" in caplog.text
    assert "the voice engine crashed" in caplog.text
    assert all(item.title != "Broken" for _, item in aired)
    # Noon: the stories of eleven are not repeated; only the one left is read.
    noon = [
        item
        for at, item in aired
        if at >= START.replace(hour=12, minute=0) and item.kind.value == "news"
    ]
    assert [item.title for item in noon] == ["News at noon", "Oldest"]
