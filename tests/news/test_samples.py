"""A fresh station has news: sample stories, published, with sources and related links,
only while there are no articles at all."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import select

from app.db import SessionFactory
from app.models import Article, ArticleStatus, RelatedArticle
from app.news.samples import ensure_sample_news

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def test_a_fresh_station_gets_sample_stories_once(sessions: SessionFactory) -> None:
    made = ensure_sample_news(sessions, NOW)

    with sessions() as session:
        stories = list(session.scalars(select(Article)))
        related = list(session.scalars(select(RelatedArticle)))
    assert made == len(stories) >= 3
    assert len({story.slug for story in stories}) == len(stories)
    for story in stories:
        assert story.status == ArticleStatus.published
        assert story.publish_at is not None
        assert story.publish_at <= NOW
        assert story.title
        assert story.category
        assert story.author
        assert story.summary
        assert story.tags
        assert 120 <= len(story.body.split()) <= 200, story.slug
        assert 1 <= len(story.sources) <= 2
        for source in story.sources:
            assert source["label"]
            assert urlsplit(source["url"]).scheme == "https"
    by_id = {story.id: story.slug for story in stories}
    assert related
    assert all(link.article_id != link.related_id for link in related)
    assert {by_id[link.article_id] for link in related} <= set(by_id.values())

    assert ensure_sample_news(sessions, NOW) == 0  # never twice
    with sessions() as session:
        assert len(list(session.scalars(select(Article)))) == made


def test_a_station_with_news_of_its_own_gets_no_samples(sessions: SessionFactory) -> None:
    with sessions() as session:  # even a draft counts: the hosts have started writing
        session.add(Article(slug="our-own", title="Our own", status=ArticleStatus.draft))
        session.commit()

    assert ensure_sample_news(sessions, NOW) == 0
    with sessions() as session:
        assert list(session.scalars(select(Article.slug))) == ["our-own"]
