"""Every host route of the real app refuses requests without credentials, and admin-only
routes refuse plain hosts. The route table is walked, so a new route cannot slip through."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.routing import BaseRoute

from app.accounts.sessions import COOKIE_NAME
from app.api.auth import current_admin
from tests.accounts.harness import TestClient, bearer, running_app, token_for
from tests.station import ADMIN_TOKEN

# What listeners, players and the sign-in form may reach without an account. Keep it short:
# every entry is a decision that anyone on the internet may call the route.
PUBLIC = {
    ("GET", "/admin/metadata"),  # a live source's title update: checks its own Basic auth
    ("GET", "/api/health"),
    ("GET", "/healthz"),  # probes: alive, and ready (on air, database reachable)
    ("GET", "/readyz"),
    ("GET", "/api/now-playing"),
    ("GET", "/api/now-playing/events"),
    ("GET", "/status-json.xsl"),
    ("GET", "/listen.m3u"),
    ("GET", "/listen.pls"),
    ("GET", "/hls/live.m3u8"),  # HLS: a player's session playlist, its segments
    ("GET", "/hls/{sid}/live.m3u8"),
    ("GET", "/hls/{sid}/{segment}"),
    ("GET", "/hls/{segment}"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/{name}"),  # Swagger UI's files for /docs
    ("POST", "/api/session"),  # signing in
    # The news pages: listeners read, listen, rate and comment without an account.
    ("GET", "/news"),
    ("GET", "/news/category/{name:path}"),
    ("GET", "/news/{slug}"),
    ("GET", "/news/{slug}.mp3"),
    ("GET", "/api/news/{slug}"),
    ("POST", "/news/{slug}/rating"),
    ("POST", "/news/{slug}/comments"),
    ("GET", "/static/{name}"),
    ("GET", "/news/feed.xml"),  # RSS of the articles
    ("GET", "/news/podcast.xml"),  # the spoken news as a podcast
    ("GET", "/news/bulletins/{bulletin_id}.mp3"),  # past bulletins, to listen again
    ("GET", "/recordings/{track_id}.mp3"),  # recorded live shows, the podcast's episodes
    ("GET", "/hosts/{ref}"),  # hosts' public profiles, and their pictures
    ("GET", "/hosts/{host_id}/picture/{name}"),
    # The top-listeners board: listeners see it and pick a name without an account.
    ("GET", "/api/listeners/board"),
    ("POST", "/api/listeners/me/name"),
    ("DELETE", "/api/listeners/me/name"),
    # The player: the page, the embed, album art, and a skip (a vote unless a host asks).
    ("GET", "/"),
    ("GET", "/embed"),
    ("GET", "/favicon.ico"),
    ("GET", "/station.css"),  # the station's colours, as hosts set them
    ("GET", "/station/logo/{name}"),  # its logo, shown on every page
    ("GET", "/covers/track/{track_id}"),
    ("GET", "/covers/generated.svg"),
    ("POST", "/api/skip"),
    ("GET", "/api/stream/joined/{tag}"),  # where a player's own stream connection began
    ("GET", "/api/archive"),  # the time-shift archive's items: what "previous" goes back to
    # Song requests: listeners search the library, request, and see their own requests.
    ("GET", "/api/requests/search"),
    ("POST", "/api/requests"),
    ("GET", "/api/requests/mine"),
    # The song history: what was played, searchable, a page per play, and as JSON.
    ("GET", "/history"),
    ("GET", "/history/{play_id}"),
    ("GET", "/api/history"),
    ("GET", "/api/history/search"),
    ("GET", "/api/history/{play_id}"),
    # The dashboard page is a sign-in screen; everything it shows comes from host routes.
    ("GET", "/host"),
}
PUBLIC_PREFIXES = ("/stream",)  # the live stream (served below the router, listed for safety)

# WebSocket routes, all for hosts: each accepts the handshake and then refuses a client
# without credentials with a sentence (app/api/live_ws.py; its own tests go further).
WEBSOCKETS = {"/api/live/ws"}

ADMIN_ONLY = {
    ("GET", "/api/hosts"),
    ("POST", "/api/hosts"),
    ("PATCH", "/api/hosts/{host_id}"),
    ("DELETE", "/api/hosts/{host_id}"),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tmp_path_factory.mktemp("station")) as client:
        yield client


def endpoints(routes: list[BaseRoute]) -> list[tuple[str, str, RouteContext]]:
    """(method, path, route) for every route, with included routers flattened."""
    found = []
    for route in iter_route_contexts(routes):
        if route.methods is None and route.path in WEBSOCKETS:
            continue  # no method to walk: test_every_websocket_needs_credentials
        assert route.methods, f"{route!r}: not a plain HTTP route; decide its access"
        found.extend((method, route.path, route) for method in sorted(route.methods))
    return found


def is_public(method: str, path: str) -> bool:
    return (method.replace("HEAD", "GET"), path) in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)  # ids and names alike: auth comes before lookup


def needs_admin(dependant: Dependant) -> bool:
    return any(d.call is current_admin or needs_admin(d) for d in dependant.dependencies)


def host_routes(client: TestClient) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in endpoints(client.app.routes) if not is_public(m, p)]  # type: ignore[attr-defined]


def test_the_walk_covers_the_host_routes(client: TestClient) -> None:
    routes = set(host_routes(client))
    assert ("POST", "/api/queue/skip") in routes
    assert routes >= ADMIN_ONLY
    assert ("POST", "/api/tokens") in routes


def test_every_host_route_needs_credentials(client: TestClient) -> None:
    refused = []
    for method, path in host_routes(client):
        for headers in ({}, bearer("radio_not-a-token-of-anyone"), {"Authorization": "Basic eDp5"}):
            response = client.request(method, concrete(path), headers=headers)
            if (
                response.status_code != 401
                or "bearer" not in response.headers.get("www-authenticate", "").lower()
            ):
                refused.append((method, path, headers, response.status_code))
    assert refused == []


def test_a_forged_session_cookie_gets_nowhere(client: TestClient) -> None:
    client.cookies.set(COOKIE_NAME, "forged")
    try:
        for method, path in host_routes(client):
            response = client.request(method, concrete(path), headers={"X-CSRF-Token": "x"})
            assert response.status_code == 401, (method, path, response.text)
    finally:
        client.cookies.clear()


def test_admin_only_routes_refuse_a_host(client: TestClient) -> None:
    guarded = {
        (m, p)
        for m, p, route in endpoints(client.app.routes)  # type: ignore[attr-defined]
        if isinstance(route.original_route, APIRoute) and needs_admin(route.dependant)
    }
    assert guarded >= ADMIN_ONLY
    token = token_for(client, "plainhost")
    for method, path in sorted(guarded):
        body = {"username": "x", "password": "y" * 12, "role": "admin"}
        response = client.request(method, concrete(path), headers=bearer(token), json=body)
        assert response.status_code == 403, (method, path, response.text)
    # Nothing changed: the admin (id 1) is still an admin and still there.
    hosts = client.get("/api/hosts", headers=bearer(ADMIN_TOKEN)).json()
    assert {h["username"]: h["role"] for h in hosts} == {"admin": "admin", "plainhost": "host"}
    # A host is still a host: the host routes are theirs.
    assert client.post("/api/queue/skip", headers=bearer(token)).status_code == 200
    assert client.put("/api/hosts/1/password", headers=bearer(token),
                      json={"password": "taken over!!"}).status_code == 403  # fmt: skip


def test_every_websocket_needs_credentials(client: TestClient) -> None:
    for path in sorted(WEBSOCKETS):
        for headers in ({}, bearer("radio_not-a-token-of-anyone")):
            with client.websocket_connect(path, headers=headers) as socket:
                socket.send_json({"type": "start"})
                answer = socket.receive_json()
            assert answer["type"] == "refused", (path, headers, answer)
            assert answer["status"] == 401, (path, headers, answer)
