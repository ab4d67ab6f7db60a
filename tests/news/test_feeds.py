"""The station's RSS and podcast feeds: valid XML with the published stories only, each
linking to its article page, and an enclosure and iTunes tags per story with ready speech.
Also the host routes that manage imported feeds, through the real app."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import SessionFactory
from app.models import Article, ArticleStatus, Speech, SpeechStatus
from app.news.feeds import podcast_episodes, podcast_feed, published_articles, rss_feed
from tests.accounts.harness import TestClient, bearer, running_app
from tests.news.feed_server import FeedServer, serving

ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
SITE = "https://radio.example.org"
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
MP3_BYTES = b"ID3" + bytes(4093)  # the feed states the file's size, not its sound


def story(slug: str, status: ArticleStatus, minutes_ago: int, **fields: object) -> Article:
    return Article(slug=slug, title=fields.pop("title", slug.replace("-", " ").title()),
                   status=status, publish_at=NOW - timedelta(minutes=minutes_ago),
                   category="Local", author="Kim Lee", summary=f"About {slug}.",
                   body=f"The story of {slug}.", **fields)  # fmt: skip


def add_stories(sessions: SessionFactory, media: Path) -> None:
    """Two published stories (one with ready speech), and four that must never show."""
    with sessions() as session:
        spoken = story("harbour-reopens", ArticleStatus.published, 10,
                       title='Harbour <reopens> & "ferries" return')  # fmt: skip
        session.add_all([
            spoken,
            story("market-moves", ArticleStatus.published, 30),
            story("draft-story", ArticleStatus.draft, 5),
            story("retracted-story", ArticleStatus.retracted, 20),
            story("scheduled-story", ArticleStatus.scheduled, -60),
            story("published-later", ArticleStatus.published, -60),
        ])  # fmt: skip
        session.flush()
        (media / "news").mkdir(parents=True, exist_ok=True)
        (media / "news" / "harbour.mp3").write_bytes(MP3_BYTES)
        session.add(Speech(article_id=spoken.id, text_hash="x", voice="en-us", duration=75.4,
                           status=SpeechStatus.ready, path="news/harbour.mp3"))  # fmt: skip
        session.commit()


def items(document: bytes) -> list[ET.Element]:
    root = ET.fromstring(document)
    assert root.tag == "rss"
    assert root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    return channel.findall("item")


def text(element: ET.Element, tag: str) -> str:
    found = element.find(tag)
    assert found is not None, tag
    return found.text or ""


def test_rss_carries_published_stories_newest_first(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    add_stories(sessions, tmp_path)
    with sessions() as session:
        document = rss_feed(published_articles(session, NOW), SITE, "Valley Radio")

    harbour, market = items(document)
    assert text(harbour, "title") == 'Harbour <reopens> & "ferries" return'
    assert text(harbour, "link") == f"{SITE}/news/harbour-reopens"
    guid = harbour.find("guid")
    assert guid is not None
    assert guid.get("isPermaLink") == "true"
    assert guid.text == f"{SITE}/news/harbour-reopens"
    assert parsedate_to_datetime(text(harbour, "pubDate")) == NOW - timedelta(minutes=10)
    assert text(harbour, "description") == "About harbour-reopens."
    assert text(harbour, "category") == "Local"
    assert text(harbour, "{http://purl.org/dc/elements/1.1/}creator") == "Kim Lee"
    assert text(market, "link") == f"{SITE}/news/market-moves"
    assert b"draft-story" not in document
    assert b"retracted-story" not in document
    assert b"scheduled-story" not in document
    assert b"published-later" not in document


def test_podcast_has_an_enclosure_per_spoken_story(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    add_stories(sessions, tmp_path)
    with sessions() as session:
        episodes = podcast_episodes(session, tmp_path, NOW)
        document = podcast_feed(episodes, SITE, "Valley Radio", "Spoken news.")

    channel = ET.fromstring(document).find("channel")
    assert channel is not None
    assert text(channel, f"{ITUNES}author") == "Valley Radio"
    assert text(channel, f"{ITUNES}explicit") == "false"
    category = channel.find(f"{ITUNES}category")
    assert category is not None
    assert category.get("text") == "News"
    [episode] = items(document)  # the story without speech is no episode
    assert text(episode, "title") == 'Harbour <reopens> & "ferries" return'
    enclosure = episode.find("enclosure")
    assert enclosure is not None
    assert enclosure.attrib == {"url": f"{SITE}/news/harbour-reopens.mp3",
                                "length": str(len(MP3_BYTES)), "type": "audio/mpeg"}  # fmt: skip
    assert text(episode, f"{ITUNES}duration") == "00:01:15"
    assert text(episode, f"{ITUNES}author") == "Kim Lee"
    assert text(episode, f"{ITUNES}summary") == "About harbour-reopens."


def test_speech_that_failed_or_is_missing_on_disk_is_no_episode(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    add_stories(sessions, tmp_path)
    (tmp_path / "news" / "harbour.mp3").unlink()
    with sessions() as session:
        assert podcast_episodes(session, tmp_path, NOW) == []
        (tmp_path / "news" / "harbour.mp3").write_bytes(MP3_BYTES)
        speech = session.scalars(select(Speech)).one()
        speech.status = SpeechStatus.failed
        session.commit()
        assert podcast_episodes(session, tmp_path, NOW) == []


# --- Through the real app --------------------------------------------------------------------


@pytest.fixture
def httpd() -> Iterator[FeedServer]:
    """A feed server on loopback, which the station below is allowed to fetch from."""
    with serving({}) as httpd:
        yield httpd


@pytest.fixture
def client(tmp_path: Path, httpd: FeedServer) -> Iterator[TestClient]:
    with running_app(tmp_path, sample_news=False, public_url=SITE,
                     feed_allow_hosts=httpd.allow) as client:  # fmt: skip
        yield client


def test_feeds_are_served_to_anyone(sessions: SessionFactory, tmp_path: Path) -> None:
    add_stories(sessions, tmp_path / "media")
    with sessions() as session:  # the fixed clock above is in the past of the real one
        for article in session.scalars(select(Article)):
            article.publish_at = datetime.now(UTC) + (article.publish_at - NOW)
        session.commit()

    with running_app(tmp_path, sample_news=False, public_url=SITE) as client:
        response = client.get("/news/feed.xml")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/rss+xml")
        links = [text(item, "link") for item in items(response.content)]
        assert links == [f"{SITE}/news/harbour-reopens", f"{SITE}/news/market-moves"]

        # The station renders speech for every published story when it starts (the planted
        # one's hash is stale), in any order: each is an episode once its speech is ready.
        deadline = time.monotonic() + 180
        while True:
            response = client.get("/news/podcast.xml")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/rss+xml")
            episodes = items(response.content)
            if len(episodes) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    enclosures = [episode.find("enclosure") for episode in episodes]
    assert [enclosure.get("url") for enclosure in enclosures if enclosure is not None] == [
        f"{SITE}/news/harbour-reopens.mp3",
        f"{SITE}/news/market-moves.mp3",
    ]


def test_hosts_add_fetch_and_remove_feeds(client: TestClient, httpd: FeedServer) -> None:
    httpd.documents["/gazette.xml"] = (
        b"<rss version='2.0'><channel><title>Gazette</title><item><title>Bridge repaired"
        b"</title><link>https://example.org/bridge</link><guid>b1</guid></item></channel></rss>"
    )
    feed_url = f"{httpd.url}/gazette.xml"
    new = {"url": feed_url, "publish": True, "category": "Town"}
    assert client.post("/api/feeds", json=new).status_code == 401
    assert client.get("/api/feeds").status_code == 401

    response = client.post("/api/feeds", json=new, headers=bearer())
    assert response.status_code == 201, response.text
    feed = response.json()
    assert (feed["url"], feed["publish"], feed["category"]) == (feed_url, True, "Town")
    assert client.post("/api/feeds", json=new, headers=bearer()).status_code == 409

    fetched = client.post(f"/api/feeds/{feed['id']}/fetch", headers=bearer())
    assert fetched.json() == {"added": 1, "duplicates": 0, "problems": []}
    again = client.post(f"/api/feeds/{feed['id']}/fetch", headers=bearer())
    assert again.json() == {"added": 0, "duplicates": 1, "problems": []}
    rss = client.get("/news/feed.xml").content
    assert [text(item, "title") for item in items(rss)] == ["Bridge repaired"]

    paused = client.patch(f"/api/feeds/{feed['id']}", headers=bearer(),
                          json={"enabled": False, "publish": False})  # fmt: skip
    assert (paused.json()["enabled"], paused.json()["publish"]) == (False, False)
    assert client.patch(f"/api/feeds/{feed['id']}", json={"enabled": True}).status_code == 401
    assert client.patch("/api/feeds/999", json={}, headers=bearer()).status_code == 404

    httpd.documents["/gazette.xml"] = b"<rss><channel><item>"
    broken = client.post(f"/api/feeds/{feed['id']}/fetch", headers=bearer())
    assert broken.status_code == 502
    assert "not well-formed XML" in broken.json()["detail"]
    [listed] = client.get("/api/feeds", headers=bearer()).json()
    assert "not well-formed XML" in listed["last_error"]

    assert client.delete(f"/api/feeds/{feed['id']}", headers=bearer()).status_code == 204
    assert client.get("/api/feeds", headers=bearer()).json() == []
    assert client.delete(f"/api/feeds/{feed['id']}", headers=bearer()).status_code == 404
    # The imported story stays.
    assert len(items(client.get("/news/feed.xml").content)) == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/feed.xml", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("relative/feed.xml", "only http and https"),
        ("/no/such/feed.xml", "only http and https"),
    ],
)
def test_a_feed_location_that_cannot_work_is_refused(
    client: TestClient, url: str, message: str
) -> None:
    response = client.post("/api/feeds", json={"url": url}, headers=bearer())
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert client.get("/api/feeds", headers=bearer()).json() == []
