"""Hosts write, publish, schedule and retract articles and moderate comments through the real
HTTP app (the whole station running behind it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.db import SessionFactory, make_engine, make_sessions
from app.models import Comment, CommentStatus, Speech, SpeechStatus
from tests import database as test_database
from tests.accounts.harness import TestClient, bearer, running_app

STORY = {
    "title": "Harbour <script>alert(1)</script> reopens",
    "category": "Local",
    "author": "Dana Reed",
    "summary": "Ships are back.",
    "body": "The harbour **reopened** on Monday.\n\nFerries run hourly.",
    "tags": ["Harbour", "Ferries"],
    "sources": [{"label": "Port authority", "url": "https://port.example/news"}],
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("station")


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    with running_app(root) as client:
        yield client


@pytest.fixture(scope="module")
def database(root: Path, client: TestClient) -> Iterator[SessionFactory]:
    """The running station's own database, to see what the API did and to add what other
    parts of the station write (comments, speech)."""
    engine = make_engine(test_database.url_for(root / "state"))
    yield make_sessions(engine)
    engine.dispose()


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/articles", json=STORY | fields, headers=bearer())
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def call(client: TestClient, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
    response = client.request(method, path, headers=bearer(), **kwargs)
    assert response.status_code == expect, response.text
    return response.json() if response.content else None


def test_hosts_write_edit_and_publish_articles(client: TestClient) -> None:
    article = create(client)
    assert article["slug"] == "harbour-script-alert-1-script-reopens"
    assert article["title"] == STORY["title"]  # stored as typed; pages escape it
    assert article["status"] == "draft"
    assert article["publish_at"] is None
    assert article["tags"] == ["harbour", "ferries"]
    assert article["version"] == 1
    assert article["speech"]["status"] in (None, "pending", "rendering", "ready", "failed")
    path = f"/api/articles/{article['id']}"

    edited = call(client, "PATCH", path, json={"summary": "Ships are back at last."})
    assert (edited["summary"], edited["version"]) == ("Ships are back at last.", 1)
    edited = call(client, "PATCH", path, json={"title": "Harbour reopens to ferries"})
    assert edited["version"] == 2
    assert edited["slug"] == article["slug"]  # the page's URL does not move
    assert call(client, "GET", path)["title"] == "Harbour reopens to ferries"

    published = call(client, "POST", f"{path}/publish")
    assert published["status"] == "published"
    assert datetime.fromisoformat(published["publish_at"]) <= datetime.now(UTC)
    backdated = call(client, "POST", f"{path}/publish", json={"at": "2026-01-05T08:00:00Z"})
    assert datetime.fromisoformat(backdated["publish_at"]) == datetime(2026, 1, 5, 8, tzinfo=UTC)

    listed = call(client, "GET", "/api/articles", params={"status": "published", "q": "ferries"})
    assert [a["id"] for a in listed["items"]] == [article["id"]]
    assert listed["total"] == 1
    assert call(client, "GET", "/api/articles", params={"category": "local"})["total"] >= 1
    none = call(client, "GET", "/api/articles", params={"q": "no such words anywhere"})
    assert none == {"items": [], "total": 0, "offset": 0, "limit": 50}

    retracted = call(client, "POST", f"{path}/retract")
    assert retracted["status"] == "retracted"
    call(client, "POST", f"{path}/retract", expect=422)
    call(client, "DELETE", path, expect=204)
    call(client, "GET", path, expect=404)


def test_scheduling_and_pagination(client: TestClient) -> None:
    article = create(client, title="Budget vote tomorrow", slug="budget-vote")
    path = f"/api/articles/{article['id']}/schedule"
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    scheduled = call(client, "POST", path, json={"at": at.isoformat()})
    assert scheduled["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled["publish_at"]) == at
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert "future" in call(client, "POST", path, expect=422, json={"at": past})["detail"]
    call(client, "POST", path, expect=422, json={"at": "2030-01-01T09:00:00"})  # no zone
    assert call(client, "GET", f"/api/articles/{article['id']}")["status"] == "scheduled"

    ids = [create(client, title=f"Page story {n}")["id"] for n in range(5)]
    first = call(client, "GET", "/api/articles", params={"q": "page story", "limit": 2})
    second = call(client, "GET", "/api/articles",
                  params={"q": "page story", "limit": 2, "offset": 2})  # fmt: skip
    assert first["total"] == 5
    # Newest first; the page boundary neither skips nor repeats a story.
    assert [a["id"] for a in first["items"] + second["items"]] == ids[::-1][:4]


def test_bad_input_is_refused_and_nothing_is_lost(client: TestClient) -> None:
    before = call(client, "GET", "/api/articles")["total"]
    for fields, code, reason in [
        ({"sources": [{"label": "x", "url": "javascript:alert(1)"}]}, 422, "http://"),
        ({"sources": [{"label": "x", "url": "data:text/html,hi"}]}, 422, "http://"),
        ({"sources": [{"label": "x", "url": "/news/local"}]}, 422, "http://"),
        ({"title": "  "}, 422, "title must not be empty"),
        ({"tags": ["x" * 41]}, 422, "longer than 40"),
        ({"slug": "Not A Slug"}, 422, "slug"),
        ({"status": "published"}, 422, "status"),
    ]:
        response = client.post("/api/articles", json=STORY | fields, headers=bearer())
        assert response.status_code == code, (fields, response.text)
        assert reason in response.text, response.text
    assert call(client, "GET", "/api/articles")["total"] == before

    article = create(client, title="Keep me", slug="keep-me")
    path = f"/api/articles/{article['id']}"
    bad = {"sources": [{"label": "Evil", "url": "javascript:alert(document.cookie)"}]}
    assert "http://" in call(client, "PATCH", path, expect=422, json=bad)["detail"]
    other = create(client, title="Other story")
    taken = call(client, "PATCH", f"/api/articles/{other['id']}", expect=409,
                 json={"slug": "keep-me"})  # fmt: skip
    assert "taken" in taken["detail"]
    assert call(client, "GET", path)["sources"] == STORY["sources"]
    call(client, "POST", "/api/articles/999999/publish", expect=404)
    call(client, "POST", f"{path}/play-next", expect=409)  # a draft does not go on air


def test_related_stories(client: TestClient) -> None:
    story = create(client, title="Flood warning", tags=["river"], category="Weather")
    background = create(client, title="Why rivers flood", tags=[], category="Science")
    same_tag = create(client, title="River levels", tags=["river"], category="Weather")
    draft = create(client, title="Unpublished river piece", tags=["river"])
    for article in (story, background, same_tag):
        call(client, "POST", f"/api/articles/{article['id']}/publish")
    path = f"/api/articles/{story['id']}/related"
    detail = call(client, "PUT", path, json=[background["id"], draft["id"]])
    assert detail["related_ids"] == [background["id"], draft["id"]]
    related = [r["id"] for r in detail["related"]]
    assert related[:2] == [background["id"], same_tag["id"]]
    assert draft["id"] not in related
    assert story["id"] not in related
    assert "9999" in call(client, "PUT", path, expect=422, json=[9999])["detail"]
    assert call(client, "PUT", path, json=[])["related_ids"] == []


def test_hosts_see_speech_progress_and_errors(client: TestClient, database: SessionFactory) -> None:
    article = create(client, title="Speech status")
    with database.begin() as session:
        session.query(Speech).filter_by(article_id=article["id"]).delete()
        session.add(Speech(article_id=article["id"], text_hash="0" * 64, voice="en-us",
                           status=SpeechStatus.failed, error="espeak: no such voice"))  # fmt: skip
    speech = call(client, "GET", f"/api/articles/{article['id']}")["speech"]
    assert speech["status"] == "failed"
    assert speech["error"] == "espeak: no such voice"
    listed = call(client, "GET", "/api/articles", params={"q": "speech status"})["items"]
    assert listed[0]["speech"]["error"] == "espeak: no such voice"


def test_hosts_moderate_comments(client: TestClient, database: SessionFactory) -> None:
    article = create(client, title="Comment here")
    with database.begin() as session:
        for name in ("Ann", "Bob", "Cy"):
            session.add(Comment(article_id=article["id"], name=name, body=f"Hi from {name}",
                                email=f"{name.lower()}@example.org"))  # fmt: skip
    pending = call(client, "GET", "/api/comments", params={"status": "pending"})
    mine = [c for c in pending if c["article_id"] == article["id"]]
    assert [(c["name"], c["email"]) for c in mine] == [
        ("Ann", "ann@example.org"), ("Bob", "bob@example.org"), ("Cy", "cy@example.org"),
    ]  # fmt: skip
    ann, bob, cy = (c["id"] for c in mine)
    assert call(client, "POST", f"/api/comments/{ann}/approve")["status"] == "approved"
    assert call(client, "POST", f"/api/comments/{bob}/reject")["status"] == "rejected"
    call(client, "DELETE", f"/api/comments/{cy}", expect=204)
    call(client, "POST", f"/api/comments/{cy}/approve", expect=404)
    left = call(client, "GET", "/api/comments", params={"article_id": article["id"]})
    assert {(c["name"], c["status"]) for c in left} == {("Ann", "approved"), ("Bob", "rejected")}
    still_pending = {"status": "pending", "article_id": article["id"]}
    assert call(client, "GET", "/api/comments", params=still_pending) == []
    with database() as session:
        rows = session.query(Comment).filter_by(article_id=article["id"])
        statuses = {c.name: c.status for c in rows}
    assert statuses == {"Ann": CommentStatus.approved, "Bob": CommentStatus.rejected}


def test_news_routes_need_a_host(client: TestClient) -> None:
    article = create(client, title="Private until published")
    for method, path in [
        ("GET", "/api/articles"),
        ("POST", "/api/articles"),
        ("GET", f"/api/articles/{article['id']}"),
        ("PATCH", f"/api/articles/{article['id']}"),
        ("POST", f"/api/articles/{article['id']}/publish"),
        ("DELETE", f"/api/articles/{article['id']}"),
        ("GET", "/api/comments"),
        ("POST", "/api/comments/1/approve"),
    ]:
        response = client.request(method, path, json={"title": "x"})
        assert response.status_code == 401, (method, path)
    assert call(client, "GET", f"/api/articles/{article['id']}")["status"] == "draft"


def test_a_story_plays_next_once_its_speech_is_ready(client: TestClient) -> None:
    article = create(client, title="Late news", body="A short story read on its own.")
    path = f"/api/articles/{article['id']}"
    call(client, "POST", f"{path}/publish")
    deadline = time.monotonic() + 60
    while (speech := call(client, "GET", path)["speech"])["status"] != "ready":
        assert speech["status"] != "failed", speech
        assert time.monotonic() < deadline, f"speech never became ready: {speech}"
        time.sleep(0.2)
    assert speech["duration"] > 0
    assert call(client, "POST", f"{path}/play-next") == {"article_id": article["id"],
                                                          "status": "next"}  # fmt: skip
    # Next: first in the queue, or already handed to the playout if the item on air was
    # ending (then the station says it comes next, or that it plays).
    queue = call(client, "GET", "/api/queue")["items"]
    if queue and queue[0]["article_id"] == article["id"]:
        assert queue[0]["title"] == "Late news"
        return
    deadline = time.monotonic() + 30
    while True:
        playing = call(client, "GET", "/api/now-playing")
        told = [item for item in (playing["next"], playing["current"]) if item]
        if any(item["article_id"] == article["id"] for item in told):
            break
        assert time.monotonic() < deadline, (queue, playing)
        time.sleep(0.2)
