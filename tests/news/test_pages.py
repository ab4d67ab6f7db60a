"""The public news pages through the real app (its lifespan starts the whole station): what a
listener reads, hears, rates and writes, and what they must never see."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from app.db import SessionFactory
from app.listeners.identity import COOKIE_NAME
from app.models import (
    Article,
    ArticleStatus,
    Comment,
    CommentStatus,
    Rating,
    RelatedArticle,
    Speech,
    SpeechStatus,
)
from app.news.comments import RATE_LIMIT
from app.news.ratings import NEW_PER_ADDRESS, NEW_WINDOW_SECONDS
from tests.accounts.harness import bearer, running_app

NOW = datetime.now(UTC).replace(microsecond=0)
SECRET_EMAIL = "very.private.person@example.net"


def add_article(sessions: SessionFactory, slug: str, **fields: Any) -> int:
    values: dict[str, Any] = {
        "title": f"Story {slug}",
        "category": "Local",
        "author": "Ada Reporter",
        "summary": f"What happened in {slug}.",
        "body": f"The story of {slug}.",
        "status": ArticleStatus.published,
        "publish_at": NOW - timedelta(hours=1),
        "tags": [],
        "sources": [],
    }
    values.update(fields)
    with sessions() as session:
        article = Article(slug=slug, **values)
        session.add(article)
        session.commit()
        return article.id


def speech_ready(sessions: SessionFactory, slugs: list[str], timeout: float = 90.0) -> None:
    """Wait until the station has rendered the stories' speech, as it does for every
    published story when it starts."""
    with sessions() as session:
        ids = session.scalars(select(Article.id).where(Article.slug.in_(slugs))).all()
    assert len(ids) == len(slugs)
    deadline = time.monotonic() + timeout
    while True:
        with sessions() as session:
            states = session.scalars(select(Speech.status).where(Speech.article_id.in_(ids))).all()
        if len(states) == len(ids) and all(s == SpeechStatus.ready for s in states):
            return
        assert SpeechStatus.failed not in states, "the station failed to render the speech"
        assert time.monotonic() < deadline, f"speech never became ready: {states}"
        time.sleep(0.1)


def audio_of(sessions: SessionFactory, media: Path, slug: str) -> bytes:
    with sessions() as session:
        path = session.scalar(
            select(Speech.path)
            .join(Article, Article.id == Speech.article_id)
            .where(Article.slug == slug)
        )
    assert path
    return (media / path).read_bytes()


def set_speech_status(sessions: SessionFactory, article_id: int, status: SpeechStatus) -> None:
    with sessions() as session:
        speech = session.scalar(select(Speech).where(Speech.article_id == article_id))
        if speech is None:
            speech = Speech(article_id=article_id, text_hash="1" * 64, voice="en-us")
            session.add(speech)
        speech.status = status
        session.commit()


def add_comment(
    sessions: SessionFactory,
    article_id: int,
    name: str,
    body: str,
    status: CommentStatus = CommentStatus.approved,
) -> int:
    with sessions() as session:
        comment = Comment(
            article_id=article_id,
            name=name,
            email=SECRET_EMAIL,
            body=body,
            status=status,
            client="x",
        )
        session.add(comment)
        session.commit()
        return comment.id


def json_ld(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert match, "no JSON-LD block"
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def meta(page: str, prop: str) -> str:
    match = re.search(rf'<meta property="{re.escape(prop)}" content="([^"]*)">', page)
    assert match, f"no {prop} meta tag"
    return html.unescape(match.group(1))


def comment_form(**fields: str) -> dict[str, str]:
    form = {
        "name": "Lou Listener",
        "email": "lou@example.org",
        "website": "",
        "comment": "Thanks for the story.",
        "website_url": "",
    }
    form.update(fields)
    return form


def test_the_article_page_shows_every_part_of_the_story(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    story = add_article(
        sessions,
        "bridge-reopens",
        title="The old bridge reopens",
        category="Transport",
        author="Mara Lindqvist",
        publish_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
        summary="Cars cross the river again after two years.",
        body="Work finished **on time**.\n\nThe mayor cut a ribbon.",
        tags=["bridge", "river"],
        sources=[{"label": "Town council notice", "url": "https://example.org/council/bridge"}],
    )
    related = add_article(
        sessions, "ferry-ends", title="The ferry makes its last crossing", category="Transport"
    )
    with sessions() as session:
        session.add(RelatedArticle(article_id=story, related_id=related, position=0))
        session.commit()
    add_comment(sessions, story, "Old Ferryman", "I will miss the ferry.")

    with running_app(tmp_path, admin=False, public_url="https://radio.example") as client:
        speech_ready(sessions, ["bridge-reopens"])
        response = client.get("/news/bridge-reopens")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    url = "https://radio.example/news/bridge-reopens"
    assert '<a class="category" href="/news/category/Transport">Transport</a>' in page
    assert "<h1>The old bridge reopens</h1>" in page
    assert 'By <span class="author">Mara Lindqvist</span>' in page
    assert '<time datetime="2026-03-14T09:30:00+00:00">14 March 2026, 09:30</time>' in page
    assert "Cars cross the river again after two years." in page
    assert "<p>Work finished <strong>on time</strong>.</p>" in page
    assert "<p>The mayor cut a ribbon.</p>" in page
    assert '<a href="https://example.org/council/bridge"' in page
    assert "Town council notice</a>" in page
    assert '<a href="/news/ferry-ends">The ferry makes its last crossing</a>' in page
    assert '<audio controls preload="none" src="/news/bridge-reopens.mp3">' in page
    # Share links are plain links carrying the page URL; the page loads no other site's
    # scripts (its own only enhance it: tests/browser/test_article.py runs it without them).
    assert 'href="mailto:?subject=The%20old%20bridge%20reopens&amp;body=https%3A%2F%2Fradio' in page
    assert (
        "https://twitter.com/intent/tweet?url=https%3A%2F%2Fradio.example%2Fnews%2Fbridge" in page
    )
    assert "https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fradio.example" in page
    assert all(src.startswith("/static/") for src in re.findall(r'<script src="([^"]+)"', page))
    assert meta(page, "og:title") == "The old bridge reopens"
    assert meta(page, "og:url") == url
    assert meta(page, "og:type") == "article"
    assert meta(page, "og:audio") == url + ".mp3"
    assert meta(page, "article:section") == "Transport"
    data = json_ld(page)
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == "The old bridge reopens"
    assert data["author"]["name"] == "Mara Lindqvist"
    assert data["datePublished"] == "2026-03-14T09:30:00+00:00"
    assert data["url"] == url
    # Rating and comments, usable with plain forms.
    assert '<form method="post" action="/news/bridge-reopens/rating" class="rate">' in page
    assert page.count('name="stars"') == 5
    assert 'aria-label="Rate 1 star"' in page
    assert 'aria-label="Rate 4 stars"' in page
    assert '<a class="comment-link" href="#comments">Post comments (1)</a>' in page
    assert "Not rated yet." in page
    assert '<span class="comment-count">1</span> comment' in page
    assert "Old Ferryman" in page
    assert "I will miss the ferry." in page
    assert '<form method="post" action="/news/bridge-reopens/comments"' in page
    assert "Your email address will not be published. Required fields are marked" in page
    for label in ("Comment", "Name", "Email"):
        assert re.search(rf'>{label} <span class="required">\*</span></label>', page), label
    assert re.search(r">Website</label>", page)
    for field in ("comment", "name", "email", "website", "website_url"):
        assert f'name="{field}"' in page, field


def test_the_index_lists_the_latest_first_by_category_and_by_page(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    for n in range(12):
        add_article(
            sessions,
            f"weather-{n}",
            title=f"Weather report {n}",
            category="Weather",
            publish_at=NOW - timedelta(hours=20 - n),
        )
    add_article(
        sessions,
        "cup-final",
        title="The cup final",
        category="Sport",
        publish_at=NOW - timedelta(minutes=5),
    )
    add_article(sessions, "not-yet", title="A draft story", status=ArticleStatus.draft)
    add_article(
        sessions,
        "later",
        title="A scheduled story",
        status=ArticleStatus.scheduled,
        publish_at=NOW + timedelta(hours=2),
    )
    add_article(sessions, "withdrawn", title="A retracted story", status=ArticleStatus.retracted)

    with running_app(tmp_path, admin=False) as client:
        first = client.get("/news")
        second = client.get("/news?page=2")
        sport = client.get("/news/category/Sport")
        weather = client.get("/news/category/Weather")
        assert client.get("/news?page=3").status_code == 404
        assert client.get("/news?page=0").status_code == 400
        assert client.get("/news/category/Nothing").status_code == 404
        hidden = [
            client.get(f"/news/{slug}").status_code for slug in ("not-yet", "later", "withdrawn")
        ]
        hidden_json = [
            client.get(f"/api/news/{slug}").status_code for slug in ("not-yet", "withdrawn")
        ]
        css = client.get("/static/news.css")
        missing = [
            client.get(path).status_code
            for path in ("/static/nope.css", "/static/..%2Fpyproject.toml")
        ]

    titles = re.findall(r'<h2><a href="/news/[^"]+">([^<]+)</a></h2>', first.text)
    expected = ["The cup final"] + [f"Weather report {n}" for n in range(11, 2, -1)]
    assert titles == expected
    assert re.findall(r'<h2><a href="/news/[^"]+">([^<]+)</a></h2>', second.text) == [
        "Weather report 2",
        "Weather report 1",
        "Weather report 0",
    ]
    assert 'href="/news?page=2"' in first.text
    assert "Page 1 of 2" in first.text
    assert 'href="/news?page=1"' in second.text
    for page in (first.text, second.text):
        assert "draft story" not in page
        assert "scheduled story" not in page
        assert "retracted story" not in page
    assert re.findall(r'<h2><a href="/news/[^"]+">([^<]+)</a></h2>', sport.text) == [
        "The cup final"
    ]
    assert "The cup final" not in weather.text
    assert "Page 1 of 2" in weather.text
    assert hidden == [404, 404, 404]
    assert hidden_json == [404, 404]
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert '<link rel="stylesheet" href="/static/news.css">' in first.text
    assert missing == [404, 404]


def test_a_script_in_a_title_or_comment_is_shown_as_text(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    title = "<script>alert('title')</script> Breaking"
    story = add_article(sessions, "breaking", title=title, summary="</script><b>bold</b>")
    add_comment(
        sessions, story, "<script>alert('name')</script>", "<script>alert('comment')</script>"
    )

    with running_app(tmp_path, admin=False) as client:
        page = client.get("/news/breaking").text
        index = client.get("/news").text
        api = client.get("/api/news/breaking").json()

    for text in (page, index):
        assert "<script>alert" not in text
        assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt; Breaking" in text
    assert "&lt;script&gt;alert(&#39;comment&#39;)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page
    # The only inline script is the JSON-LD block (the others load files of the station's
    # own), and the title cannot close it early.
    assert page.count("<script") - page.count('<script src="/static/') == 1
    assert json_ld(page)["headline"] == title
    assert api["title"] == title  # JSON is data: the client escapes it where it shows it


def test_the_commenters_email_is_never_public(tmp_path: Path, sessions: SessionFactory) -> None:
    story = add_article(sessions, "quiet-street", category="Local")
    with running_app(tmp_path, admin=False) as client:
        response = client.post(
            "/news/quiet-street/comments",
            follow_redirects=False,
            data=comment_form(email=SECRET_EMAIL, name="Kim", website="https://kim.example/"),
        )
        assert response.status_code == 303
        with sessions() as session:
            session.execute(update(Comment).values(status=CommentStatus.approved))
            session.commit()
        pages = [
            client.get(path)
            for path in (
                "/news",
                "/news/quiet-street",
                "/news/category/Local",
                "/api/news/quiet-street",
            )
        ]
        pages.append(
            client.post(
                "/news/quiet-street/comments",
                data=comment_form(),
                headers={"Accept": "application/json"},
            )
        )

    assert all(page.status_code < 300 for page in pages)
    assert "Kim" in pages[1].text
    assert 'href="https://kim.example/"' in pages[1].text
    api = pages[3].json()
    assert [c["name"] for c in api["comments"]] == ["Kim"]
    assert "email" not in api["comments"][0]
    for page in pages:
        assert "very.private.person" not in page.text
        assert SECRET_EMAIL not in page.text
    assert story


def test_a_comment_waits_for_moderation_unless_the_email_was_approved_before(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    add_article(sessions, "market-day")
    with running_app(tmp_path) as client:
        posted = client.post(
            "/news/market-day/comments", follow_redirects=False, data=comment_form(comment="First!")
        )
        assert posted.status_code == 303
        assert posted.headers["location"] == "/news/market-day?comment=pending#comments"
        waiting = client.get(posted.headers["location"]).text
        with sessions() as session:
            comment_id = session.scalars(select(Comment.id)).one()
        approved = client.post(f"/api/comments/{comment_id}/approve", headers=bearer())
        if approved.status_code == 404:  # the host API is not there yet: approve as a host would
            with sessions() as session:
                session.execute(update(Comment).values(status=CommentStatus.approved))
                session.commit()
        shown = client.get("/news/market-day").text
        again = client.post(
            "/news/market-day/comments",
            follow_redirects=False,
            data=comment_form(email="LOU@example.org", comment="Me again"),
        )
        trusted = client.get("/news/market-day").text

    assert "Your comment awaits moderation" in waiting
    assert "First!" not in waiting
    assert '<span class="comment-count">0</span> comments' in waiting
    assert "First!" in shown
    assert '<span class="comment-count">1</span> comment' in shown
    assert again.headers["location"] == "/news/market-day?comment=approved#comments"
    assert "Me again" in trusted
    assert '<span class="comment-count">2</span> comments' in trusted


def test_bad_comments_are_refused_with_a_message_and_keep_what_was_typed(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    add_article(sessions, "long-read")
    with running_app(tmp_path, admin=False) as client:
        no_email = client.post(
            "/news/long-read/comments", data=comment_form(email="", comment="My careful thoughts")
        )
        bad_site = client.post(
            "/news/long-read/comments", data=comment_form(website="javascript:alert(1)")
        )
        no_body = client.post(
            "/news/long-read/comments",
            data=comment_form(comment="  "),
            headers={"Accept": "application/json"},
        )
        missing = client.post("/news/no-such-story/comments", data=comment_form())

    assert no_email.status_code == 422
    assert "Please give your email address" in no_email.text
    assert ">My careful thoughts</textarea>" in no_email.text
    assert bad_site.status_code == 422
    assert "http:// or https://" in bad_site.text
    assert no_body.status_code == 422
    assert "Please write a comment" in no_body.json()["detail"]
    assert missing.status_code == 404
    with sessions() as session:
        assert session.scalars(select(Comment)).all() == []


def test_the_honeypot_and_the_rate_limit_stop_a_scripted_flood(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    add_article(sessions, "flooded")
    with running_app(tmp_path, admin=False) as client:
        bots = [
            client.post(
                "/news/flooded/comments",
                follow_redirects=False,
                data=comment_form(website_url="http://spam.example", comment=f"buy {n}"),
            )
            for n in range(10)
        ]
        flood = [
            client.post(
                "/news/flooded/comments",
                follow_redirects=False,
                data=comment_form(comment=f"post {n}", email=f"p{n}@example.org"),
            )
            for n in range(20)
        ]
        as_json = client.post(
            "/news/flooded/comments", data=comment_form(), headers={"Accept": "application/json"}
        )

    # The bot is thanked like a person, so it learns nothing; nothing of it is kept.
    assert all(r.status_code == 303 and "comment=pending" in r.headers["location"] for r in bots)
    assert [r.status_code for r in flood] == [303] * RATE_LIMIT + [429] * (20 - RATE_LIMIT)
    refused = flood[-1]
    assert "Too many comments from your connection" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert as_json.status_code == 429
    assert "Too many comments" in as_json.json()["detail"]
    with sessions() as session:
        stored = session.scalars(select(Comment.body).order_by(Comment.id)).all()
    assert stored == [f"post {n}" for n in range(RATE_LIMIT)]


def test_a_second_rating_from_the_same_listener_replaces_the_first(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    add_article(sessions, "rated")
    with running_app(tmp_path, admin=False) as client:
        page = client.get("/news/rated")  # the page gives a new listener their cookie
        cookie = client.cookies.get(COOKIE_NAME)
        first = client.post("/news/rated/rating", data={"stars": "4"}, follow_redirects=False)
        after_first = client.get(first.headers["location"]).text
        second = client.post(
            "/news/rated/rating", data={"stars": "2"}, headers={"Accept": "application/json"}
        )
        after_second = client.get("/news/rated").text
        wrong = client.post("/news/rated/rating", data={"stars": "6"})
        client.cookies.clear()  # another listener
        client.get("/news/rated")
        other = client.post(
            "/news/rated/rating", data={"stars": "5"}, headers={"Accept": "application/json"}
        )
        api = client.get("/api/news/rated").json()

    assert first.status_code == 303
    assert first.headers["location"] == "/news/rated?rated=1#rating"
    assert "set-cookie" not in first.headers  # the listener keeps the page's id
    set_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie
    assert cookie
    assert 'class="average">4.0</strong>' in after_first
    assert 'from <span class="count">1</span> rating' in after_first
    assert second.json() == {"average": 2.0, "count": 1, "your_stars": 2}
    assert "set-cookie" not in second.headers  # the same listener keeps their id
    assert 'class="average">2.0</strong>' in after_second
    assert 'aria-label="Rate 2 stars" aria-pressed="true"' in after_second  # their own vote
    assert re.findall(r'aria-label="(Rate \d stars?)" aria-pressed="true"', after_second) == [
        "Rate 2 stars"
    ]
    assert wrong.status_code == 422
    assert "stars must be from 1 to 5" in wrong.text
    assert other.json() == {"average": 3.5, "count": 2, "your_stars": 5}
    assert api["rating"] == {"average": 3.5, "count": 2}
    with sessions() as session:
        listeners = session.scalars(select(Rating.listener)).all()
    assert len(listeners) == 2
    assert cookie not in listeners


def test_one_address_cannot_stuff_a_rating(tmp_path: Path, sessions: SessionFactory) -> None:
    add_article(sessions, "stuffed")
    json_please = {"Accept": "application/json"}
    with running_app(tmp_path, admin=False) as client:
        cookieless = []
        for _ in range(25):
            client.cookies.clear()
            cookieless.append(client.post("/news/stuffed/rating", data={"stars": "5"}))
        page_after_cookieless = client.get("/api/news/stuffed").json()
        made_up = []  # identities the station never issued count for nothing
        for identity in ("made-up-listener-0001", "made-up-listener-0002.forged-signature"):
            client.cookies.clear()
            client.cookies.set(COOKIE_NAME, identity)
            made_up.append(client.post("/news/stuffed/rating", data={"stars": "5"}))
        issued = []  # identities the station hands out: one per visit without a cookie
        for _ in range(25):
            client.cookies.clear()
            client.get("/news/stuffed")
            issued.append(client.cookies[COOKIE_NAME])
        minted = []
        for identity in issued:
            client.cookies.clear()
            client.cookies.set(COOKIE_NAME, identity)
            minted.append(client.post("/news/stuffed/rating", data={"stars": "5"},
                                      headers=json_please))  # fmt: skip
        client.cookies.clear()
        client.cookies.set(COOKIE_NAME, issued[0])  # a listener who voted changes their mind
        changed = client.post("/news/stuffed/rating", data={"stars": "1"}, headers=json_please)
        api = client.get("/api/news/stuffed").json()

    # Without the listener cookie nothing counts; the answer says why, and hands one out.
    assert {r.status_code for r in cookieless} == {403}
    assert "allow cookies" in cookieless[0].text
    assert COOKIE_NAME in cookieless[0].headers["set-cookie"]
    assert page_after_cookieless["rating"] == {"average": None, "count": 0}
    assert {r.status_code for r in made_up} == {403}
    # Identities collected on one address: a few count, then the address waits.
    counted = NEW_PER_ADDRESS
    assert [r.status_code for r in minted] == [200] * counted + [429] * (25 - counted)
    assert 0 < int(minted[-1].headers["retry-after"]) <= NEW_WINDOW_SECONDS
    assert "Too many new ratings" in minted[-1].json()["detail"]
    assert changed.status_code == 200  # changing a vote adds none: not limited
    assert api["rating"] == {"average": (5 * (counted - 1) + 1) / counted, "count": counted}
    with sessions() as session:
        assert len(session.scalars(select(Rating)).all()) == counted


def test_the_story_audio_supports_range_requests(tmp_path: Path, sessions: SessionFactory) -> None:
    add_article(sessions, "spoken")
    silent = add_article(sessions, "silent")

    with running_app(tmp_path, admin=False) as client:
        speech_ready(sessions, ["spoken", "silent"])
        audio = audio_of(sessions, tmp_path / "media", "spoken")
        size = len(audio)
        whole = client.get("/news/spoken.mp3")
        part = client.get("/news/spoken.mp3", headers={"Range": "bytes=100-1099"})
        tail = client.get("/news/spoken.mp3", headers={"Range": f"bytes={size - 10}-"})
        beyond = client.get("/news/spoken.mp3", headers={"Range": f"bytes={size + 10}-"})
        head = client.head("/news/spoken.mp3")
        api = client.get("/api/news/spoken").json()
        no_audio = {}
        for status in (SpeechStatus.rendering, SpeechStatus.failed):
            set_speech_status(sessions, silent, status)
            no_audio[status] = (client.get("/news/silent.mp3").status_code,
                                client.get("/news/silent").text,
                                client.get("/api/news/silent").json()["audio_url"])  # fmt: skip

    assert size > 1100
    assert whole.status_code == 200
    assert whole.content == audio
    assert whole.headers["content-type"] == "audio/mpeg"
    assert whole.headers["accept-ranges"] == "bytes"
    assert part.status_code == 206
    assert part.content == audio[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{size}"
    assert tail.status_code == 206
    assert tail.content == audio[-10:]
    assert beyond.status_code == 416
    assert head.status_code == 200
    assert head.headers["content-length"] == str(size)
    assert head.content == b""
    assert api["audio_url"] == "http://testserver/news/spoken.mp3"
    for status, (code, page, url) in no_audio.items():
        assert code == 404, status
        assert "<audio controls" not in page, status  # the story's player (not the bar's)
        assert url is None, status


def test_the_json_view_has_the_article_its_comments_rating_and_related(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    story = add_article(
        sessions,
        "harbour",
        title="Harbour news",
        tags=["sea"],
        sources=[{"label": "Port", "url": "https://port.example/"}],
    )
    add_article(
        sessions, "lighthouse", title="Lighthouse repainted", tags=["sea"], category="Other"
    )
    add_comment(sessions, story, "Sailor", "Fair winds.")
    add_comment(sessions, story, "Waiting", "Not yet approved.", CommentStatus.pending)

    with running_app(tmp_path, admin=False) as client:
        data = client.get("/api/news/harbour").json()

    assert data["title"] == "Harbour news"
    assert data["category"] == "Local"
    assert data["sources"] == [{"label": "Port", "url": "https://port.example/"}]
    assert data["comment_count"] == 1
    assert [(c["name"], c["body"]) for c in data["comments"]] == [("Sailor", "Fair winds.")]
    assert data["rating"] == {"average": None, "count": 0}
    assert [r["title"] for r in data["related"]] == ["Lighthouse repainted"]
    assert data["related"][0]["url"] == "http://testserver/news/lighthouse"
