"""A fresh station has news: like the demo library, a few sample stories (written for this
project, fictional and harmless) so the first bulletin, the news index and the article pages
work out of the box. Hosts can retract or delete them once they write their own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.db import SessionFactory
from app.models import Article, ArticleStatus, RelatedArticle


@dataclass(frozen=True)
class Sample:
    slug: str
    title: str
    category: str
    author: str
    summary: str
    body: str
    tags: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]  # label, url
    age_minutes: int  # published this long before start-up, so the order is stable


SAMPLES = (
    Sample(
        slug="new-transmitter-brings-the-station-to-the-valley",
        title="New transmitter brings the station to the valley",
        category="Community",
        author="Mara Lindqvist",
        summary="A second transmitter on the water tower hill now carries the station to the "
        "villages along the river, where reception used to fade after dark.",
        body=(
            "Listeners in the river valley can now hear the station clearly, day and night. "
            "A second transmitter went on air this week on the water tower hill, after two "
            "years of fundraising by volunteers and local businesses.\n\n"
            "Until now the signal faded in the villages along the river as soon as the sun "
            "went down. The new transmitter uses little power, but its position above the "
            "valley lets it reach about four thousand more homes.\n\n"
            "The station's technical team tested the equipment for a month before switching "
            "it on. They say the antenna was mounted in a single afternoon, helped by a crew "
            "from the volunteer fire brigade and their ladder truck.\n\n"
            "If reception in your area is still poor, the team would like to hear from you. "
            "They are collecting reports to decide where a third transmitter should go."
        ),
        tags=("radio", "community", "technology"),
        sources=(
            ("Station technical notes", "https://example.org/station/transmitter"),
            ("Valley council minutes", "https://example.org/council/minutes"),
        ),
        age_minutes=20,
    ),
    Sample(
        slug="library-starts-a-saturday-reading-hour",
        title="Library starts a Saturday reading hour",
        category="Culture",
        author="Jonas Okafor",
        summary="The town library will host a free reading hour for children and adults "
        "every Saturday morning, with stories read aloud by volunteers.",
        body=(
            "The town library is opening its doors early on Saturdays for a new reading "
            "hour. From this weekend, volunteers will read stories aloud from nine to ten "
            "o'clock in the children's room, and everyone is welcome.\n\n"
            "The head librarian said the idea came from readers themselves. Many parents "
            "asked for a quiet, free activity before the weekend gets busy, and several "
            "retired teachers offered to take turns reading.\n\n"
            "Each week has a theme. The first session is about rivers and the animals that "
            "live along them, to celebrate the new transmitter that brings this station to "
            "the valley. Later themes include the sea, the night sky and old local legends.\n\n"
            "No booking is needed. The library also plans to record some of the readings, "
            "with the readers' permission, so they can be played on the radio on Sunday "
            "evenings."
        ),
        tags=("library", "community", "reading"),
        sources=(("Town library events", "https://example.org/library/events"),),
        age_minutes=40,
    ),
    Sample(
        slug="a-bright-weekend-with-a-chilly-start",
        title="A bright weekend with a chilly start",
        category="Weather",
        author="Station weather desk",
        summary="Sunshine for most of the weekend, after a cold and foggy start on Saturday "
        "morning. Light winds, and no rain expected before Monday.",
        body=(
            "The weekend looks bright and mostly dry. Saturday begins cold, with patches of "
            "fog in the valley that should lift by mid morning. After that, expect plenty of "
            "sunshine and a high of about fourteen degrees.\n\n"
            "Saturday night will be clear and cold. Temperatures may fall close to freezing "
            "in sheltered spots, so gardeners may want to cover young plants.\n\n"
            "Sunday should be the nicer day, with light winds from the south and "
            "temperatures reaching sixteen degrees in the afternoon. It is a good day for a "
            "walk along the river path, which reopened last month after repairs.\n\n"
            "Clouds will build on Monday, and there is a chance of showers from the "
            "afternoon. We will have the full forecast for the week in every bulletin."
        ),
        tags=("weather", "weekend"),
        sources=(("Regional forecast", "https://example.org/weather/forecast"),),
        age_minutes=60,
    ),
    Sample(
        slug="volunteers-clean-up-the-river-path",
        title="Volunteers clean up the river path",
        category="Community",
        author="Mara Lindqvist",
        summary="More than sixty volunteers spent Sunday clearing litter and fallen branches "
        "from the river path, which has now reopened.",
        body=(
            "More than sixty people turned out on Sunday to clean up the river path. Armed "
            "with gloves, rakes and a borrowed trailer, they cleared litter and fallen "
            "branches from almost three kilometres of the trail.\n\n"
            "The path had been closed since the spring floods washed away part of the "
            "gravel surface. The council repaired the worst sections last month, and the "
            "volunteers finished the job.\n\n"
            "Organisers said the youngest helper was six and the oldest was eighty-one. The "
            "bakery by the bridge handed out free rolls at lunchtime.\n\n"
            "A second clean-up day is planned for next month, further downstream. Anyone who "
            "would like to help can sign up at the library, or simply come along on the day "
            "with sturdy shoes and a pair of gloves."
        ),
        tags=("community", "river", "volunteering"),
        sources=(
            ("Friends of the river path", "https://example.org/river-path"),
            ("Council notice on the reopening", "https://example.org/council/river-path"),
        ),
        age_minutes=90,
    ),
)

# Explicit "related story" links, by slug: the library's reading hour mentions the
# transmitter, and the weather points to the reopened river path.
RELATED = (
    (SAMPLES[0].slug, SAMPLES[1].slug),
    (SAMPLES[1].slug, SAMPLES[0].slug),
    (SAMPLES[2].slug, SAMPLES[3].slug),
)


def ensure_sample_news(sessions: SessionFactory, now: datetime) -> int:
    """Create the sample stories, published, when there are no articles at all; return how
    many were created (0 when the station already has news)."""
    with sessions() as session:
        if session.scalar(select(func.count(Article.id))):
            return 0
        articles = {sample.slug: _article(sample, now) for sample in SAMPLES}
        session.add_all(articles.values())
        session.flush()
        for slug, related in RELATED:  # one link each, so each is first in its list
            session.add(RelatedArticle(article_id=articles[slug].id,
                                       related_id=articles[related].id, position=0))  # fmt: skip
        session.commit()
    return len(SAMPLES)


def _article(sample: Sample, now: datetime) -> Article:
    return Article(
        slug=sample.slug,
        title=sample.title,
        category=sample.category,
        author=sample.author,
        summary=sample.summary,
        body=sample.body,
        status=ArticleStatus.published,
        publish_at=now - timedelta(minutes=sample.age_minutes),
        tags=list(sample.tags),
        sources=[{"label": label, "url": url} for label, url in sample.sources],
    )
