"""The articles service on a real, migrated database, and the body's rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from app.db import SessionFactory
from app.models import Article, ArticleStatus
from app.news import articles
from app.news.markup import plain_text, render_body_html

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def published(session: Session, title: str, minutes_ago: int, **fields: object) -> Article:
    article = articles.create_article(session, title=title, **fields)  # type: ignore[arg-type]
    articles.publish(article, NOW - timedelta(minutes=minutes_ago), now=NOW)
    return article


def test_slugs_are_readable_unique_and_stable(sessions: SessionFactory) -> None:
    with sessions() as session:
        first = articles.create_article(session, title="  Storm hits the Coast: 3 Towns Flooded! ")
        second = articles.create_article(session, title="Storm hits the coast - 3 towns flooded")
        third = articles.create_article(session, title="STORM hits the coast; 3 towns flooded")
        accented = articles.create_article(session, title="Café Zürich öffnet wieder")
        symbols = articles.create_article(session, title="!!! ??? ***")
        long = articles.create_article(session, title="word " * 60)
        session.commit()
        assert first.title == "Storm hits the Coast: 3 Towns Flooded!"
        assert first.slug == "storm-hits-the-coast-3-towns-flooded"
        assert second.slug == "storm-hits-the-coast-3-towns-flooded-2"
        assert third.slug == "storm-hits-the-coast-3-towns-flooded-3"
        assert accented.slug == "cafe-zurich-offnet-wieder"
        assert symbols.slug == "article"
        assert len(long.slug) <= articles.MAX_SLUG
        assert not long.slug.endswith("-")
        assert long.slug.endswith("word")

        # A new title keeps the URL; a slug given by hand is checked like a made one.
        articles.update_article(session, first, title="Storm update: water recedes")
        assert first.slug == "storm-hits-the-coast-3-towns-flooded"
        articles.update_article(session, first, slug="storm-2026")
        assert first.slug == "storm-2026"
        with pytest.raises(articles.ArticleConflict, match="taken"):
            articles.update_article(session, second, slug="storm-2026")
        for bad in ["Storm 2026", "storm--2026", "-storm", "stürm", "a" * 81, ""]:
            with pytest.raises(articles.ArticleError, match="slug"):
                articles.update_article(session, second, slug=bad)
        assert second.slug == "storm-hits-the-coast-3-towns-flooded-2"


def test_version_counts_changes_to_the_spoken_words(sessions: SessionFactory) -> None:
    with sessions() as session:
        article = articles.create_article(session, title="Bridge opens", body="It opened.",
                                          author="Ann")  # fmt: skip
        assert article.version == 1
        articles.update_article(session, article, category="Local", tags=["Bridges"],
                                summary="A new bridge.")  # fmt: skip
        assert article.version == 1
        articles.update_article(session, article, title="Bridge opens")  # the same words
        assert article.version == 1
        articles.update_article(session, article, body="It opened at noon.")
        assert article.version == 2
        articles.update_article(session, article, title="Bridge opens early", author="Bo")
        assert article.version == 3
        session.commit()
        session.refresh(article)
        assert (article.version, article.author, article.category) == (3, "Bo", "Local")


def test_scheduled_articles_publish_when_their_time_comes(sessions: SessionFactory) -> None:
    with sessions() as session:
        soon = articles.create_article(session, title="Soon")
        later = articles.create_article(session, title="Later")
        articles.schedule(soon, NOW + timedelta(minutes=5), now=NOW)
        articles.schedule(later, NOW + timedelta(hours=2), now=NOW)
        with pytest.raises(articles.ArticleError, match="future"):
            articles.schedule(later, NOW - timedelta(minutes=1), now=NOW)
        with pytest.raises(articles.ArticleError, match="time zone"):
            articles.schedule(later, datetime(2030, 1, 1), now=NOW)
        with pytest.raises(articles.ArticleError, match="schedule"):
            articles.publish(later, NOW + timedelta(days=1), now=NOW)
        session.commit()
        assert articles.freshest_published(session, 5, NOW) == []

        assert articles.publish_due(session, NOW + timedelta(minutes=4)) == []
        assert articles.publish_due(session, NOW + timedelta(minutes=6)) == [soon]
        assert soon.status == ArticleStatus.published
        assert later.status == ArticleStatus.scheduled
        session.commit()
        assert articles.freshest_published(session, 5, NOW + timedelta(minutes=6)) == [soon]
        assert articles.publish_due(session, NOW + timedelta(minutes=7)) == []

        with pytest.raises(articles.ArticleError, match="already published"):
            articles.schedule(soon, NOW + timedelta(days=1), now=NOW)
        articles.publish(soon, now=NOW + timedelta(hours=1))  # again: keeps its time
        assert soon.publish_at == NOW + timedelta(minutes=5)

        articles.retract(soon)
        assert articles.freshest_published(session, 5, NOW + timedelta(hours=3)) == []
        with pytest.raises(articles.ArticleError, match="retracted"):
            articles.retract(soon)


def test_freshest_published_newest_first(sessions: SessionFactory) -> None:
    with sessions() as session:
        old = published(session, "Old", 60)
        new = published(session, "New", 1)
        middle = published(session, "Middle", 30)
        articles.create_article(session, title="Draft")
        session.commit()
        assert articles.freshest_published(session, 2, NOW) == [new, middle]
        assert articles.freshest_published(session, 10, NOW) == [new, middle, old]


def test_related_explicit_first_then_shared_tags_then_category(
    sessions: SessionFactory,
) -> None:
    with sessions() as session:
        story = published(session, "Flood", 0, category="Weather", tags=["Rain", "River"])
        explicit_old = published(session, "Old background", 500, category="Sport")
        two_tags = published(session, "River and rain", 300, tags=["river", "rain"])
        one_tag_new = published(session, "Rain again", 10, tags=["rain"])
        one_tag_old = published(session, "Rain before", 200, tags=["rain"])
        same_category = published(session, "Sunny", 5, category="weather")
        published(session, "Unrelated", 1, category="Sport", tags=["football"])
        draft = articles.create_article(session, title="Draft rain", tags=["rain"])
        retracted = published(session, "Wrong rain", 2, tags=["rain"])
        articles.retract(retracted)
        articles.set_related(session, story, [explicit_old.id, draft.id])
        session.commit()

        related = articles.related_articles(session, story, limit=10, now=NOW)
        assert related == [explicit_old, two_tags, one_tag_new, one_tag_old, same_category]
        assert articles.related_articles(session, story, limit=2, now=NOW) == [
            explicit_old, two_tags,
        ]  # fmt: skip
        with pytest.raises(articles.ArticleError, match="itself"):
            articles.set_related(session, story, [story.id])
        with pytest.raises(articles.ArticleError, match="no articles with ids 9999"):
            articles.set_related(session, story, [two_tags.id, 9999])
        assert articles.explicit_related_ids(session, story.id) == [explicit_old.id, draft.id]

        # Deleting an article takes its links with it, both ways.
        articles.delete(session, explicit_old)
        session.commit()
        assert articles.explicit_related_ids(session, story.id) == [draft.id]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "http:// or https://"),
        ("JavaScript:alert(1)", "http:// or https://"),
        ("data:text/html,<script>alert(1)</script>", "http:// or https://"),
        ("/relative/path", "http:// or https://"),
        ("ftp://example.org/file", "http:// or https://"),
        ("https://", "no host"),
        ("https://exa mple.org/", "spaces"),
        ("", "needs a URL"),
    ],
)
def test_source_urls_must_be_web_links(sessions: SessionFactory, url: str, reason: str) -> None:
    with sessions() as session:
        with pytest.raises(articles.ArticleError, match=reason):
            articles.create_article(session, title="Sources", sources=[{"label": "x", "url": url}])
        session.rollback()
        assert session.query(Article).count() == 0


def test_fields_are_validated_and_normalised(sessions: SessionFactory) -> None:
    with sessions() as session:
        article = articles.create_article(
            session, title="Tags", category="  ", tags=[" Local News ", "local  news", "RAIN"],
            sources=[{"label": "", "url": "https://www.example.org/a?b=c"},
                     {"label": "Agency", "url": "http://agency.example/x"}],
        )  # fmt: skip
        assert article.category == "News"
        assert article.tags == ["local news", "rain"]
        assert article.sources == [
            {"label": "www.example.org", "url": "https://www.example.org/a?b=c"},
            {"label": "Agency", "url": "http://agency.example/x"},
        ]
        for fields, reason in [
            ({"title": "   "}, "title must not be empty"),
            ({"title": "x" * 301}, "at most 300"),
            ({"title": "ok", "category": "c" * 101}, "at most 100"),
            ({"title": "ok", "tags": [f"t{i}" for i in range(21)]}, "at most 20"),
            ({"title": "ok", "tags": ["t" * 41]}, "longer than 40"),
        ]:
            with pytest.raises(articles.ArticleError, match=reason):
                articles.create_article(session, **fields)  # type: ignore[arg-type]
        with pytest.raises(articles.ArticleError, match="unknown fields: status"):
            articles.update_article(session, article, status="published")


def test_one_line_fields_follow_the_rule_every_tag_follows(sessions: SessionFactory) -> None:
    # A story's title becomes the title of its item on air, in now-playing and in ICY.
    with sessions() as session:
        article = articles.create_article(
            session, title=" Storm\x00 warning:\tthe\x85coast \x1b[31mnow\x9b ",
            author="Ann\r\nLee", category="Local\x07  News",
        )  # fmt: skip
        assert article.title == "Storm warning: the coast [31mnow"
        assert (article.author, article.category) == ("Ann Lee", "Local News")


def test_html_in_a_body_never_renders_as_html() -> None:
    body = (
        "# Storm <script>alert('t')</script>\n\n"
        "Rain **fell** <b onmouseover=alert(1)>all</b> night. <script>alert(2)</script>\n\n"
        "<script>\nalert(3)\n</script>\n\n"
        "[click](javascript:alert(4)) [ok](https://example.org/a) <iframe src=x></iframe>\n\n"
        '<a href="javascript:alert(5)">raw link</a> ![img](https://e.org/x.png)'
    )
    html = render_body_html(body)
    assert "<script" not in html.lower()
    assert "<iframe" not in html.lower()
    assert "<b " not in html
    assert '<a href="javascript' not in html.lower()
    assert "&lt;a href=" in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html  # shown as text, not dropped: a reader sees what was typed
    assert "<h2>Storm" in html  # h1 belongs to the page's title
    assert "<strong>fell</strong>" in html
    assert '<a href="https://example.org/a" rel="nofollow noopener noreferrer">ok</a>' in html


def test_plain_text_is_the_words_only() -> None:
    body = (
        "## Council votes\n\nThe council **voted** 7 to 2\non Monday. "
        "See [the minutes](https://example.org/minutes).\n\n"
        "- Roads\n- Parks <script>alert(1)</script>\n\n![chart](https://e.org/c.png)"
    )
    assert plain_text(body) == (
        "Council votes\n\nThe council voted 7 to 2 on Monday. See the minutes.\n\n"
        "Roads\n\nParks alert(1)"
    )
    assert plain_text("First paragraph.\n\n\nSecond one.") == "First paragraph.\n\nSecond one."
    assert plain_text("") == ""
