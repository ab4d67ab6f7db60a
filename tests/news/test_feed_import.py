"""Importing RSS and Atom feeds served over real HTTP on loopback: new items become articles
with their source link, duplicates are skipped, and broken, huge or hostile feeds are
reported without importing anything or raising."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import SessionFactory
from app.models import Article, ArticleStatus, Feed
from app.news.feed_import import fetch_due_feeds, refresh_feed
from tests.news.feed_server import FeedServer, serving

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Harbour Gazette</title>
  <link>https://example.org/</link>
  <item>
    <title>Ferry timetable changes &amp; new stops</title>
    <link>https://example.org/ferry</link>
    <guid isPermaLink="false">gazette-1</guid>
    <pubDate>Sat, 02 May 2026 09:30:00 +0200</pubDate>
    <dc:creator>Ana Ruiz</dc:creator>
    <description>&lt;p&gt;The &lt;b&gt;summer&lt;/b&gt; timetable starts Monday.&lt;/p&gt;
      &lt;script&gt;alert("x")&lt;/script&gt;&lt;p&gt;Two new stops.&lt;/p&gt;</description>
  </item>
  <item>
    <title>Lighthouse open day</title>
    <link>javascript:alert(1)</link>
    <guid>gazette-2</guid>
    <description>Visitors may climb the tower on Sunday.</description>
  </item>
  <item>
    <title>Ferry timetable changes (repeated in the feed)</title>
    <link>https://example.org/ferry-again</link>
    <guid>gazette-1</guid>
    <description>The same story twice in one document.</description>
  </item>
</channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Hill Observatory</title>
  <id>urn:uuid:hill</id>
  <updated>2026-05-03T20:00:00Z</updated>
  <entry>
    <title>Meteor shower peaks on Thursday</title>
    <link rel="alternate" href="https://example.org/meteors"/>
    <link rel="enclosure" href="https://example.org/meteors.mp3"/>
    <id>urn:uuid:meteors</id>
    <updated>2026-05-03T18:00:00Z</updated>
    <author><name>Dr. Imre Varga</name></author>
    <summary type="html">&lt;em&gt;Up to forty&lt;/em&gt; an hour.</summary>
    <content type="html">&lt;p&gt;Up to forty meteors an hour.&lt;/p&gt;
      &lt;p&gt;Look east.&lt;/p&gt;</content>
  </entry>
</feed>
"""

MALFORMED = b"<rss version='2.0'><channel><title>Broken</title><item><title>Half"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><guid>laughs</guid></item></channel></rss>
"""

LIMIT = 8192
# Well-formed and valid, just too big: only the size limit can refuse it.
HUGE = RSS.replace(b"</channel>", b"<!--" + b"x" * (4 * LIMIT) + b"--></channel>")


@pytest.fixture
def httpd() -> Iterator[FeedServer]:
    documents = {"/rss": RSS, "/atom": ATOM, "/malformed": MALFORMED, "/laughs": BILLION_LAUGHS,
                 "/huge": HUGE, "/huge-unsized": HUGE}  # fmt: skip
    with serving(documents) as httpd:
        yield httpd


@pytest.fixture
def server(httpd: FeedServer) -> str:
    return httpd.url


@pytest.fixture
def settings(tmp_path: Path, httpd: FeedServer) -> Settings:
    """The test server is on loopback: the station may fetch from it (and only from it)."""
    return Settings(state_dir=tmp_path / "state", media_dir=tmp_path / "media",
                    feed_max_bytes=LIMIT, feed_timeout_seconds=0.5,
                    feed_allow_hosts=httpd.allow)  # fmt: skip


def add_feed(sessions: SessionFactory, url: str, **fields: Any) -> int:
    with sessions() as session:
        feed = Feed(url=url, **fields)
        session.add(feed)
        session.commit()
        return feed.id


def articles(sessions: SessionFactory) -> list[Article]:
    with sessions() as session:
        return list(session.scalars(select(Article).order_by(Article.id)))


def feed_row(sessions: SessionFactory, feed_id: int) -> Feed:
    with sessions() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        return feed


def test_rss_items_become_draft_articles_with_their_source(
    server: str, settings: Settings, sessions: SessionFactory
) -> None:
    feed_id = add_feed(sessions, f"{server}/rss", category="Harbour")

    report = refresh_feed(settings, sessions, feed_id, NOW)

    assert (report.error, report.added, report.duplicates) == (None, 2, 1)
    ferry, lighthouse = articles(sessions)
    assert ferry.title == "Ferry timetable changes & new stops"
    assert ferry.status == ArticleStatus.draft  # the feed does not publish by default
    assert ferry.category == "Harbour"
    assert ferry.author == "Ana Ruiz"
    assert ferry.guid == "gazette-1"
    assert ferry.publish_at is None  # a host publishes it, and then it is dated
    assert ferry.sources == [{"label": "Harbour Gazette", "url": "https://example.org/ferry"}]
    assert ferry.summary == "The summer timetable starts Monday. Two new stops."
    assert ferry.body == "The summer timetable starts Monday.\n\nTwo new stops."
    assert "alert" not in ferry.body + ferry.summary
    assert ferry.slug == "ferry-timetable-changes-new-stops"
    assert lighthouse.sources == []  # a javascript: link is no source; the story still counts
    assert feed_row(sessions, feed_id).title == "Harbour Gazette"
    assert feed_row(sessions, feed_id).last_error is None


def test_a_second_fetch_imports_nothing_twice(
    server: str, settings: Settings, sessions: SessionFactory
) -> None:
    feed_id = add_feed(sessions, f"{server}/rss")
    refresh_feed(settings, sessions, feed_id, NOW)

    again = refresh_feed(settings, sessions, feed_id, NOW + timedelta(hours=1))

    assert (again.added, again.duplicates) == (0, 3)
    assert len(articles(sessions)) == 2


def test_the_same_story_by_link_in_another_feed_is_a_duplicate(
    httpd: FeedServer, settings: Settings, sessions: SessionFactory
) -> None:
    refresh_feed(settings, sessions, add_feed(sessions, f"{httpd.url}/rss"), NOW)
    httpd.documents["/mirror"] = RSS.replace(b"gazette-", b"mirror-")  # other guids

    report = refresh_feed(settings, sessions, add_feed(sessions, f"{httpd.url}/mirror"), NOW)

    # The ferry story has the same link; the lighthouse's javascript: link is no source, so
    # only its new guid identifies it, and it comes in again under a slug of its own.
    assert (report.error, report.added, report.duplicates) == (None, 1, 2)
    assert [a.slug for a in articles(sessions)] == [
        "ferry-timetable-changes-new-stops",
        "lighthouse-open-day",
        "lighthouse-open-day-2",
    ]


def test_atom_entries_published_when_the_feed_says_so(
    server: str, settings: Settings, sessions: SessionFactory
) -> None:
    feed_id = add_feed(sessions, f"{server}/atom", publish=True)

    report = refresh_feed(settings, sessions, feed_id, NOW)

    assert (report.error, report.added) == (None, 1)
    [meteors] = articles(sessions)
    assert meteors.status == ArticleStatus.published
    assert meteors.title == "Meteor shower peaks on Thursday"
    assert meteors.author == "Dr. Imre Varga"
    assert meteors.sources == [{"label": "Hill Observatory", "url": "https://example.org/meteors"}]
    assert meteors.summary == "Up to forty an hour."
    assert meteors.body == "Up to forty meteors an hour.\n\nLook east."
    assert meteors.publish_at == datetime(2026, 5, 3, 18, 0, tzinfo=UTC)
    assert meteors.guid == "urn:uuid:meteors"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/malformed", "not well-formed XML"),
        ("/laughs", "DTD"),
        ("/huge", f"larger than {LIMIT} bytes"),
        ("/huge-unsized", f"larger than {LIMIT} bytes"),
        ("/slow", "did not answer within 0.5 s"),
        ("/drip", "took longer than 1.5 s to arrive"),
        ("/missing", "answered 404"),
    ],
)
def test_a_bad_feed_is_reported_and_imports_nothing(
    server: str, settings: Settings, sessions: SessionFactory, path: str, message: str
) -> None:
    feed_id = add_feed(sessions, f"{server}{path}", publish=True)

    report = refresh_feed(settings, sessions, feed_id, NOW)  # no exception

    assert report.error is not None
    assert message in report.error
    assert report.added == 0
    assert articles(sessions) == []
    feed = feed_row(sessions, feed_id)
    assert feed.last_error == report.error
    assert feed.last_fetched_at == NOW  # retried on the next round, not at once


def test_a_feed_that_recovers(
    httpd: FeedServer, settings: Settings, sessions: SessionFactory
) -> None:
    httpd.documents["/changing"] = MALFORMED
    feed_id = add_feed(sessions, f"{httpd.url}/changing", publish=True)
    assert refresh_feed(settings, sessions, feed_id, NOW).error

    httpd.documents["/changing"] = RSS
    report = refresh_feed(settings, sessions, feed_id, NOW)

    assert (report.error, report.added) == (None, 2)
    assert feed_row(sessions, feed_id).last_error is None
    ferry, lighthouse = articles(sessions)
    assert ferry.status == lighthouse.status == ArticleStatus.published
    assert ferry.publish_at == datetime(2026, 5, 2, 7, 30, tzinfo=UTC)
    assert lighthouse.publish_at == NOW  # it has no date of its own


def test_other_schemes_are_refused(settings: Settings, sessions: SessionFactory) -> None:
    feed_id = add_feed(sessions, "ftp://example.org/feed.xml")
    report = refresh_feed(settings, sessions, feed_id, NOW)
    assert report.error is not None
    assert "only http and https" in report.error


def test_only_due_and_enabled_feeds_are_fetched(
    server: str, settings: Settings, sessions: SessionFactory
) -> None:
    due = add_feed(sessions, f"{server}/rss")
    recent = add_feed(sessions, f"{server}/atom", last_fetched_at=NOW - timedelta(minutes=5))
    disabled = add_feed(sessions, f"{server}/atom?off", enabled=False)
    broken = add_feed(sessions, f"{server}/malformed", last_fetched_at=NOW - timedelta(hours=2))

    reports = fetch_due_feeds(settings, sessions, NOW)

    assert set(reports) == {due, broken}
    assert reports[due].added == 2
    assert reports[broken].error
    assert feed_row(sessions, recent).last_fetched_at == NOW - timedelta(minutes=5)
    assert feed_row(sessions, disabled).last_fetched_at is None
    # Half an hour later (the default interval) both are due again.
    later = fetch_due_feeds(settings, sessions, NOW + timedelta(minutes=30))
    assert set(later) == {due, recent, broken}


def test_an_item_with_nothing_in_it_is_left_out_with_a_reason(
    httpd: FeedServer, settings: Settings, sessions: SessionFactory
) -> None:
    httpd.documents["/empty"] = RSS.replace(b"<item>", b"<item><guid>empty</guid></item><item>", 1)

    report = refresh_feed(settings, sessions, add_feed(sessions, f"{httpd.url}/empty"), NOW)

    assert (report.error, report.added, report.duplicates) == (None, 2, 1)
    assert report.problems == ["item 1: no title and no text"]
