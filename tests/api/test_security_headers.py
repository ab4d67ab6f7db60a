"""The security headers of a real station, on every route of its route table: a real
Content-Security-Policy, nosniff, a Referrer-Policy that tells other sites nothing, and no
framing by other sites except /embed. Then /docs without any other site, and the no-script
sign-in form: only from the station's own page, and a refusal is that page again.

Which routes need credentials is tests/api/test_auth_routes.py's walk of the same table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.accounts.sessions import COOKIE_NAME
from app.config import Settings
from app.main import create_app
from tests.api.test_auth_routes import concrete, endpoints, is_public
from tests.station import ADMIN_TOKEN, RunningStation, start_station

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "a long enough password"
STRICT_REFERRERS = {"no-referrer", "same-origin"}  # other sites never learn the page
# The page types a listener or host meets, each of which must answer 200 with its headers.
PAGE_TYPES = ["/", "/news", "/news/{slug}", "/embed", "/host", "/docs", "/static/player.js",
              "/docs/swagger-ui.css", "/api/now-playing", "/openapi.json",
              "/covers/generated.svg", "/news/feed.xml", "/api/now-playing/events"]  # fmt: skip


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStation]:
    running = start_station(tmp_path_factory.mktemp("headers"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def slug(station: RunningStation) -> str:
    """A published article's slug, for the article page."""
    story = {"title": "Ferries run later", "category": "Local", "body": "From Monday on."}
    created = station.post("/api/articles", json=story)
    assert created.status_code == 201, created.text
    article = created.json()
    station.post(f"/api/articles/{article['id']}/publish").raise_for_status()
    return str(article["slug"])


def routes(tmp_path: Path) -> list[tuple[str, str]]:
    """(method, path) of the station's route table: the app as `radio serve` makes it."""
    app = create_app(Settings(state_dir=tmp_path / "state", media_dir=tmp_path / "media"))
    return [(method, path) for method, path, _ in endpoints(app.routes)]


def example(path: str, slug: str) -> str:
    """A path that reaches the route's handler with a real thing where there is one."""
    known = {"/static/{name}": "/static/player.js", "/docs/{name}": "/docs/swagger-ui.css",
             "/news/category/{name:path}": "/news/category/Local"}  # fmt: skip
    return known.get(path) or concrete(path.replace("{slug}", slug))


def head_of(station: RunningStation, method: str, path: str, **kwargs: object) -> httpx.Response:
    """Only the response head: the event channel and the stream never end."""
    with httpx.stream(method, station.url + path, timeout=10, **kwargs) as response:  # type: ignore[arg-type]
        return response


def directives(policy: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in filter(str.strip, policy.split(";")):
        name, *sources = part.split()
        assert name not in found, f"{name} twice in {policy!r}"
        found[name] = sources
    return found


def problems_with(path: str, response: httpx.Response) -> list[str]:
    """What is wrong with one response's security headers; [] when nothing is."""
    headers, wrong = response.headers, []
    if headers.get("x-content-type-options") != "nosniff":
        wrong.append("no X-Content-Type-Options: nosniff")
    if headers.get("referrer-policy") not in STRICT_REFERRERS:
        wrong.append(f"Referrer-Policy {headers.get('referrer-policy')!r}")
    policy = directives(headers.get("content-security-policy", ""))
    frame = policy.get("frame-ancestors")
    if path == "/embed":
        if frame != ["*"] or "x-frame-options" in headers:
            wrong.append(f"/embed not frameable by any site: {frame}")
    elif frame != ["'none'"] or headers.get("x-frame-options") != "DENY":
        wrong.append(f"frameable: frame-ancestors {frame}, X-Frame-Options "
                     f"{headers.get('x-frame-options')!r}")  # fmt: skip
    page = headers.get("content-type", "").startswith("text/html")
    default = policy.get("default-src")
    if default != (["'self'"] if page else ["'none'"]):
        wrong.append(f"default-src {default} on a {'page' if page else 'non-page'}")
    scripts = policy.get("script-src", default or [])
    loose = [
        s
        for s in scripts
        if s not in ("'self'", "'none'") and not s.startswith(("'sha", "'nonce-"))
    ]
    if loose:
        wrong.append(f"scripts allowed from {loose}")
    if page and (policy.get("object-src") != ["'none'"] or "base-uri" not in policy):
        wrong.append("a page without object-src 'none' and base-uri")
    return wrong


def test_every_route_has_the_security_headers(
    station: RunningStation, slug: str, tmp_path: Path
) -> None:
    table = routes(tmp_path)
    assert {("GET", "/embed"), ("GET", "/docs"), ("POST", "/api/queue/skip")} <= set(table)
    wrong, answered = [], {}
    for method, path in table:
        if method == "HEAD":
            continue
        if method != "GET" and is_public(method, path):
            continue  # a listener's action (a vote, a rating): test_auth_routes decides them
        url = example(path, slug)
        # A GET as a listener and as a host (who gets the host routes' answers); a change
        # only without credentials, which refuses it.
        for headers in ({}, AUTH) if method == "GET" else ({},):
            response = head_of(station, method, url, headers=headers)
            answered[(method, url, bool(headers))] = response.status_code
            wrong += [f"{method} {url} ({response.status_code}): {p}"
                      for p in problems_with(url, response)]  # fmt: skip
    assert wrong == []
    for path in PAGE_TYPES:
        url = path.format(slug=slug)
        assert answered[("GET", url, False)] == 200, url


def test_every_kind_of_answer_has_the_security_headers(
    station: RunningStation, slug: str, tmp_path: Path
) -> None:
    """What the walk above leaves to others: the listeners' own actions (votes, ratings,
    comments, names, signing in), HEAD, and the answers given before any route runs (no such
    path, a wrong method, a body over the limit declared or sent chunked, a bad field).
    The Schemathesis run checks the same on each of its answers (tests/api/fuzz_hooks.py)."""
    wrong, answered = [], set()
    for method, path in routes(tmp_path):
        if method == "HEAD" or (method != "GET" and is_public(method, path)):
            url = example(path, slug)
            response = head_of(station, method, url, json={})
            answered.add((method, path, response.status_code))
            wrong += [f"{method} {url} ({response.status_code}): {p}"
                      for p in problems_with(url, response)]  # fmt: skip
    assert {m for m, _, _ in answered} >= {"HEAD", "POST", "DELETE"}, answered
    big = b"[" + b"1," * 60_000 + b"1]"  # over every route's 64 KiB
    for method, url, kwargs in [
        ("GET", "/no/such/page", {}),
        ("PUT", "/api/now-playing", {}),
        ("POST", "/api/listeners/me/name", {"content": big}),
        ("POST", "/api/listeners/me/name", {"content": iter([big])}),  # chunked
        ("POST", "/api/listeners/me/name", {"json": {"name": 5}}),
        ("POST", "/api/queue/skip", {"headers": AUTH, "content": big}),
    ]:
        response = head_of(station, method, url, **kwargs)
        answered.add((method, url, response.status_code))
        wrong += [f"{method} {url} ({response.status_code}): {p}"
                  for p in problems_with(url, response)]  # fmt: skip
    assert wrong == []
    assert {404, 405, 413, 422} <= {status for _, _, status in answered}


def test_the_stream_has_the_security_headers(station: RunningStation) -> None:
    response = head_of(station, "GET", "/stream")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert problems_with("/stream", response) == []


def test_only_the_embed_may_be_framed_by_other_sites(station: RunningStation, slug: str) -> None:
    """The page types one by one, as a reader of the route walk's failure would check them."""
    for path in ["/", "/news", f"/news/{slug}", "/host", "/docs"]:
        response = station.get(path)
        assert response.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
    embed = station.get("/embed").headers
    assert "frame-ancestors *" in embed["content-security-policy"]
    assert "x-frame-options" not in embed


def test_docs_load_nothing_from_other_sites(station: RunningStation) -> None:
    page = station.get("/docs")
    assert page.status_code == 200
    linked = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert linked
    assert [url for url in linked if not url.startswith("/") or url.startswith("//")] == []
    for url in linked:
        assert station.get(url).status_code == 200, url
    assert "SwaggerUIBundle" in station.get("/docs/swagger-ui-bundle.js").text
    assert station.get("/redoc").status_code == 404  # it would load ReDoc from a CDN
    assert station.get("/docs/swagger-ui.js.map").status_code == 404  # only what /docs uses


def _new_host(station: RunningStation, name: str) -> None:
    body = {"username": name, "password": PASSWORD, "role": "host"}
    assert station.post("/api/hosts", json=body).status_code == 201


def _form_sign_in(
    station: RunningStation, name: str, password: str, **headers: str
) -> httpx.Response:
    form = {"username": name, "password": password, "next": "/host"}
    return httpx.post(station.url + "/api/session", data=form, headers=headers, timeout=10)


@pytest.mark.parametrize(
    ("name", "source"),
    [("mallory1", {"Origin": "https://attacker.example"}), ("mallory2", {"Origin": "null"}),
     ("mallory3", {"Referer": "https://attacker.example/page"})],
)  # fmt: skip
def test_a_sign_in_form_from_another_site_is_refused(
    station: RunningStation, name: str, source: dict[str, str]
) -> None:
    """Login CSRF: another site's page posts the attacker's own valid account to the station,
    to have the visitor work (upload, write) inside it."""
    _new_host(station, name)
    response = _form_sign_in(station, name, PASSWORD, **source)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "sign in from this station&#39;s own sign-in page" in response.text
    assert 'id="sign-in"' in response.text


def test_the_station_own_sign_in_form_signs_in(station: RunningStation) -> None:
    _new_host(station, "formhost")
    for source in ({"Origin": station.url}, {"Referer": station.url + "/host"}, {}):
        response = _form_sign_in(station, "formhost", PASSWORD, **source)
        assert response.status_code == 303, (source, response.text)
        assert response.headers["location"] == "/host"
        assert f"{COOKIE_NAME}=" in response.headers["set-cookie"]


def test_a_failed_form_sign_in_shows_the_sign_in_page_again(station: RunningStation) -> None:
    _new_host(station, "forgetful")
    response = _form_sign_in(station, "forgetful", "not the password", Origin=station.url)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "wrong username or password" in response.text
    assert 'id="sign-in"' in response.text
    assert 'value="forgetful"' in response.text
    # A script still gets JSON.
    wrong = {"username": "forgetful", "password": "not the password"}
    scripted = httpx.post(station.url + "/api/session", json=wrong, timeout=10)
    assert scripted.status_code == 401
    assert scripted.json()["detail"] == "wrong username or password"
