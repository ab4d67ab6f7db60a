"""Malformed input gets a 4xx with a reason, never a server error: numbers SQLite cannot hold
in every integer a request carries, NUL in a path, digits that are not ASCII, JSON nested past
the parser's depth; and the smaller cases of a review (HEAD on the playlist files, a category
with a slash in it)."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.db import SessionFactory
from tests.accounts.harness import TestClient, bearer, running_app
from tests.api.test_auth_routes import endpoints
from tests.news.test_pages import add_article

TOO_BIG = 2**64  # SQLite's integers end at 2**63 - 1
DEEP_JSON = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with running_app(tmp_path) as client:
        yield client


def takes_int(annotation: Any) -> bool:
    """Whether a parameter of this type accepts a whole number (int, int | None, ...)."""
    if get_origin(annotation) is Annotated:
        return takes_int(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return any(takes_int(arg) for arg in get_args(annotation))
    return annotation is int


def parameters(dependant: Dependant) -> Iterator[tuple[str, Any]]:
    """("path" or "query", field) of a route's parameters, its dependencies' included."""
    yield from (("path", param) for param in dependant.path_params)
    yield from (("query", param) for param in dependant.query_params)
    for sub in dependant.dependencies:
        yield from parameters(sub)


def int_parameters(client: TestClient) -> list[tuple[str, str, str, str]]:
    """(method, path template, "path" or "query", name) of every integer parameter."""
    found = []
    for method, path, route in endpoints(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route.original_route, APIRoute):
            for where, param in parameters(route.dependant):
                if takes_int(param.field_info.annotation):
                    found.append((method, path, where, param.alias))
    return found


def test_every_integer_parameter_refuses_a_number_sqlite_cannot_hold(client: TestClient) -> None:
    params = int_parameters(client)
    # The walk finds the routes of the review's findings (a walk that finds none proves nothing).
    assert ("GET", "/covers/track/{track_id}", "path", "track_id") in params
    assert ("DELETE", "/api/queue/{entry_id}", "path", "entry_id") in params
    assert ("GET", "/api/tracks", "query", "playlist") in params
    wrong = []
    for method, template, where, name in params:
        values = {param: str(TOO_BIG) if param == name else "1"
                  for param in re.findall(r"\{(\w+)", template)}  # fmt: skip
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m[1]], template)  # noqa: B023
        query = {name: str(TOO_BIG)} if where == "query" else {}
        try:
            response = client.request(method, path, params=query, headers=bearer())
        except Exception as error:  # the TestClient raises what the app did not handle
            wrong.append(f"{method} {path} {query}: raised {error!r}")
            continue
        flagged = response.status_code == 422 and any(
            e["loc"] == [where, name] for e in response.json()["detail"]
        )
        if not (400 <= response.status_code < 500) or (response.status_code == 422 and not flagged):
            wrong.append(f"{method} {path} {query}: {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


def integer_schemas(node: Any, spec: dict[str, Any], where: str) -> Iterator[tuple[str, dict]]:
    """Every {"type": "integer"} schema reachable from `node`, with where it was found."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            yield from integer_schemas(spec["components"]["schemas"][name], spec, f"{where}>{name}")
            return
        if node.get("type") == "integer":
            yield where, node
        for key, value in node.items():
            yield from integer_schemas(value, spec, f"{where}.{key}")
    elif isinstance(node, list):
        for value in node:
            yield from integer_schemas(value, spec, where)


def test_every_integer_a_request_carries_is_bounded_in_the_schema(client: TestClient) -> None:
    """Body fields too (a route walk cannot fill in every body): the documented bounds are
    the ones enforced, and they keep every number within SQLite's 64 bits."""
    spec = client.get("/openapi.json").json()
    unbounded = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            sources = {"parameters": operation.get("parameters", []),
                       "body": operation.get("requestBody", {})}  # fmt: skip
            for part, node in sources.items():
                for where, schema in integer_schemas(node, spec, f"{method} {path} {part}"):
                    low, high = schema.get("minimum"), schema.get("maximum")
                    # Floats in the schema's JSON: 2**63 - 1 reads back as float(2**63).
                    if low is None or high is None or low < -(2**63) or high > float(2**63 - 1):
                        unbounded.append(f"{where}: {schema}")
    assert not unbounded, "\n".join(unbounded)


def test_a_number_too_big_for_sqlite_in_a_body_is_refused(client: TestClient) -> None:
    cases = [
        ("/api/queue", {"track_id": TOO_BIG}),
        ("/api/queue", {"bulletin": True, "position": TOO_BIG}),
        ("/api/playlists", {"name": "Big", "track_ids": [TOO_BIG]}),
        ("/api/playlists", {"name": "Big", "rule": "every_songs", "every": TOO_BIG}),
    ]
    for path, body in cases:
        response = client.post(path, json=body, headers=bearer())
        assert response.status_code == 422, (path, body, response.text)


def test_nul_unicode_digits_and_deep_json_are_refused(tmp_path: Path, client: TestClient) -> None:
    assert client.get("/static/player.js%00.css").status_code == 404
    assert client.get("/static/player.js").status_code == 200
    for page in ("²", "٣", "1" * 5000, "0"):  # superscript two, Arabic-Indic three, huge
        response = client.get("/news", params={"page": page})
        assert response.status_code == 400, (page, response.text[:200])
        assert "page must be a whole number" in response.text
    deep = {"content-type": "application/json", "accept": "application/json"}
    for path in ("/news/any-story/comments", "/news/any-story/rating", "/api/session",
                 "/api/queue", "/api/listeners/me/name"):  # fmt: skip
        response = client.post(path, content=DEEP_JSON, headers=deep)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)


def test_head_on_the_playlist_files_answers_like_get_without_a_body(client: TestClient) -> None:
    for path in ("/listen.pls", "/listen.m3u"):
        got, head = client.get(path), client.head(path)
        assert got.status_code == head.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == str(len(got.content))


def test_a_category_with_a_slash_has_live_links(tmp_path: Path, sessions: SessionFactory) -> None:
    add_article(sessions, "gallery-opens", title="A gallery opens", category="Arts/Culture")
    with running_app(tmp_path, admin=False) as client:
        index = client.get("/news").text
        article = client.get("/news/gallery-opens").text
        links = set(re.findall(r'href="(/news/category/[^"]*)"', index + article))
        assert links, "no category links on the index or the article"
        for link in links:
            page = client.get(link.replace("&amp;", "&"))
            assert page.status_code == 200, (link, page.status_code)
            assert "A gallery opens" in page.text
            assert "<h1>Arts/Culture</h1>" in page.text
