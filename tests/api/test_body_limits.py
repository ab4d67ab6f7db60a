"""Every route of the real app has a body limit and every string a request model takes has a
length: the route table and the OpenAPI schema are walked, so a new route cannot slip
through. (The memory a flood of huge bodies costs is measured on a real station in
test_floods.py.)"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from app.api.limits import BODY_LIMIT, LARGE_BODY_LIMIT
from app.news.articles import MAX_BODY
from app.scheduler.playlists import MAX_FILE_BYTES
from tests.accounts.harness import TestClient, bearer, running_app
from tests.api.test_auth_routes import concrete, endpoints

UPLOAD_MAX_MB = 1  # this app's audio upload limit, below the bodies sent here
TOO_BIG = 2 * max(LARGE_BODY_LIMIT, MAX_FILE_BYTES, UPLOAD_MAX_MB * 1_000_000)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("station")
    with running_app(root, upload_max_mb=UPLOAD_MAX_MB) as client:
        yield client


def routes_with_bodies(client: TestClient) -> list[tuple[str, str]]:
    return [
        (method, path)
        for method, path, _ in endpoints(client.app.routes)  # type: ignore[attr-defined]
        if method not in ("GET", "HEAD")
    ]


def test_every_route_refuses_a_huge_body_at_once(client: TestClient) -> None:
    routes = routes_with_bodies(client)
    assert ("POST", "/api/listeners/me/name") in routes
    assert ("POST", "/api/tracks/upload") in routes
    accepted = []
    huge = b"{" + b" " * TOO_BIG
    for method, path in routes:
        # A host's request reaches the route; anyone else's is refused, before or after
        # sign-in is checked. Nothing is done: a DELETE of token 1 would end the test's own.
        for auth, refusals in ((bearer(), {413}), ({}, {401, 413})):
            headers = {"Content-Type": "application/json", **auth}
            response = client.request(method, concrete(path), content=huge, headers=headers)
            if response.status_code not in refusals:
                accepted.append((method, path, bool(auth), response.status_code))
    assert accepted == [], "\n".join(map(str, accepted))


def test_a_body_without_a_length_is_refused_once_it_passes_the_limit(
    client: TestClient,
) -> None:
    def chunks() -> Iterator[bytes]:  # sent chunked: no Content-Length to refuse it by
        yield b'{"name": "'
        for _ in range(100):
            yield b"x" * 16 * 1024

    response = client.post("/api/listeners/me/name", content=chunks(),
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 413
    padded = b" " * (BODY_LIMIT - 20) + b'{"name": "Ann"}'
    fits = client.post("/api/listeners/me/name", content=padded,
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert fits.status_code == 200, fits.text


def test_a_long_article_still_fits(client: TestClient) -> None:
    # The longest body a host may write, in a script that escapes every non-ASCII letter.
    story = {"title": "A long one", "body": "é" * MAX_BODY}
    body = json.dumps(story, ensure_ascii=True).encode()
    assert BODY_LIMIT < len(body) < LARGE_BODY_LIMIT
    response = client.post("/api/articles", content=body,
                           headers={"Content-Type": "application/json", **bearer()})  # fmt: skip
    assert response.status_code == 201, response.text[:300]


def unbounded_strings(schema: dict[str, Any], defs: dict[str, Any], where: str) -> list[str]:
    """Where `schema` lets a string through without a maximum length."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return unbounded_strings(defs[name], defs, f"{where}({name})")
    found = []
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += unbounded_strings(option, defs, where)
    # A date-time or an enum has a shape of its own; free text needs a length.
    bounded = {"maxLength", "enum", "const", "format"}
    if schema.get("type") == "string" and not bounded & schema.keys():
        found.append(where)
    for name, field in schema.get("properties", {}).items():
        found += unbounded_strings(field, defs, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        found += unbounded_strings(schema["items"], defs, f"{where}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += unbounded_strings(schema["additionalProperties"], defs, f"{where}{{}}")
    return found


def test_every_string_a_request_body_takes_has_a_maximum_length(client: TestClient) -> None:
    with warnings.catch_warnings():  # GET and HEAD of one route share an id: not this test's
        warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
        spec = client.get("/openapi.json").json()
    defs = spec["components"]["schemas"]
    checked, unbounded = 0, []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media in ("application/json", "application/x-www-form-urlencoded"):
                if media in content:
                    checked += 1
                    unbounded += unbounded_strings(content[media]["schema"], defs,
                                                   f"{method.upper()} {path}")  # fmt: skip
    assert checked > 20
    assert unbounded == []
