"""The station's identity on a real station: hosts set it over HTTP, the RADIO_* settings
stand in for what they leave unset, and a change shows at once where listeners and their
apps see it: the next stream connection's icy-* headers, the feeds, the playlist files and
the link previews of the pages (read here by an HTML parser, as a link preview reads them)."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.ffmpeg import ffmpeg_path
from tests.accounts.harness import bearer, running_app
from tests.station import ADMIN_NAME, ADMIN_PASSWORD, RunningStation, start_station

IDENTITY = "/api/station/identity"
DEFAULTS = {
    "station_name": "Oracle FM",
    "station_description": "Tones all day",
    "station_accent": "#0A7D5A",
    "public_url": "https://listen.example/",
}
ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"

pytestmark = pytest.mark.xdist_group("identity_api")


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStation]:
    running = start_station(tmp_path_factory.mktemp("identity"), **DEFAULTS)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def as_shipped(station: RunningStation) -> None:
    """Every test starts from the defaults: nothing set, no logo."""
    patch(station, {"name": None, "tagline": None, "accent": None, "public_url": None})
    httpx.delete(station.url + IDENTITY + "/logo", headers=station.auth(), timeout=10)


def patch(station: RunningStation, change: dict[str, str | None]) -> httpx.Response:
    return httpx.patch(station.url + IDENTITY, json=change, headers=station.auth(), timeout=10)


def put_logo(station: RunningStation, data: bytes, media_type: str = "image/png") -> httpx.Response:
    return httpx.put(station.url + IDENTITY + "/logo", content=data, timeout=10,
                     headers={**station.auth(), "Content-Type": media_type})  # fmt: skip


def picture(folder: Path, extension: str, size: str = "120x60") -> bytes:
    """A picture as ffmpeg encodes it."""
    path = folder / f"logo.{extension}"
    subprocess.run([ffmpeg_path(""), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=orange:s={size}", "-frames:v", "1", str(path)],
                   check=True, timeout=60)  # fmt: skip
    return path.read_bytes()


def stream_head(station: RunningStation) -> httpx.Headers:
    """The headers of a new /stream connection, as a stream client gets them."""
    with httpx.stream("GET", station.url + "/stream", timeout=10) as response:
        assert response.status_code == 200
        return response.headers


class Meta(HTMLParser):
    """The <meta> and <link> tags of a page's head, as a link preview reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, list[str]] = {}
        self.links: dict[str, list[dict[str, str]]] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "meta" and ("property" in found or "name" in found):
            key = found.get("property") or found["name"]
            self.meta.setdefault(key, []).append(found.get("content", ""))
        elif tag == "link":
            self.links.setdefault(found.get("rel", ""), []).append(found)
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def page_meta(station: RunningStation, path: str) -> Meta:
    response = station.get(path)
    assert response.status_code == 200, response.text
    reader = Meta()
    reader.feed(response.text)
    return reader


def station_css(station: RunningStation, page: Meta) -> str:
    """The stylesheet of the station's colours that the page links."""
    sheets = [link["href"] for link in page.links["stylesheet"]]
    return station.get(next(s for s in sheets if s.startswith("/station.css"))).text


def test_only_hosts_read_or_change_the_identity(station: RunningStation) -> None:
    listener = {"Cookie": f"radio_listener={station.new_listener()}"}
    for method, path in (("GET", IDENTITY), ("PATCH", IDENTITY), ("PUT", IDENTITY + "/logo"),
                         ("DELETE", IDENTITY + "/logo")):  # fmt: skip
        answer = httpx.request(method, station.url + path, headers=listener, json={}, timeout=10)
        assert answer.status_code == 401, (method, path, answer.text)
    assert patch(station, {"name": "Pirate FM"}).status_code == 200  # with the host's token
    assert station.get(IDENTITY).status_code == 401


def test_what_hosts_leave_unset_is_the_settings(station: RunningStation) -> None:
    shown = station.get(IDENTITY, headers=station.auth()).json()
    assert shown["name"] == "Oracle FM"
    assert shown["tagline"] == "Tones all day"
    assert shown["accent"] == "#0a7d5a"
    assert shown["public_url"] is None
    assert shown["public_base"] == "https://listen.example"
    assert shown["stored"] == []
    head = stream_head(station)
    assert head["icy-name"] == "Oracle FM"
    assert head["icy-description"] == "Tones all day"
    assert head["icy-url"] == "https://listen.example"  # not https://example.org/ any more
    page = page_meta(station, "/")
    assert page.title == "Live · Oracle FM"
    assert page.meta["og:site_name"] == ["Oracle FM"]
    assert "--accent: #0a7d5a;" in station_css(station, page)


def test_bad_values_are_refused_with_the_reason_and_change_nothing(
    station: RunningStation,
) -> None:
    refused = [
        ({"name": "   "}, "needs a name"),
        ({"name": "x" * 101}, "at most 100"),
        ({"tagline": "y" * 301}, "at most 300"),
        ({"accent": "red"}, "pattern"),
        ({"accent": "#12345g"}, "pattern"),
        ({"public_url": "radio.example.org"}, "absolute http"),
        ({"public_url": "javascript:alert(1)"}, "absolute http"),
        ({"public_url": "https://user:pw@radio.example.org"}, "password"),
        ({"public_url": "https://radio.example.org/?a=1"}, "query"),
        ({"colour": "#ffffff"}, "Extra inputs"),
    ]
    for change, reason in refused:
        answer = patch(station, {"name": "Should Not Stick", **change})
        assert answer.status_code == 422, (change, answer.text)
        assert reason in answer.text, (change, answer.text)
    assert station.get(IDENTITY, headers=station.auth()).json()["stored"] == []


def test_a_change_is_in_the_next_stream_connection_at_once(station: RunningStation) -> None:
    answer = patch(station, {"name": "Harbour Radio", "tagline": "Sea shanties, 24/7",
                             "public_url": "https://harbour.example/radio/"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == ["name", "public_url", "tagline"]
    head = stream_head(station)  # no wait: the very next connection
    assert (head["icy-name"], head["icy-description"], head["icy-url"]) == (
        "Harbour Radio", "Sea shanties, 24/7", "https://harbour.example/radio")  # fmt: skip
    # null: back to the setting.
    assert patch(station, {"name": None}).json()["stored"] == ["public_url", "tagline"]
    assert stream_head(station)["icy-name"] == "Oracle FM"


def test_feeds_playlists_and_status_carry_the_identity(
    station: RunningStation, tmp_path: Path
) -> None:
    patch(station, {"name": "Harbour Radio", "tagline": "Sea shanties",
                    "public_url": "https://harbour.example"})  # fmt: skip
    logo_url = put_logo(station, picture(tmp_path, "png")).json()["logo_url"]
    for path, title in (("/news/feed.xml", "Harbour Radio"),
                        ("/news/podcast.xml", "Harbour Radio News")):  # fmt: skip
        channel = ET.fromstring(station.get(path).content).find("channel")
        assert channel is not None
        assert channel.findtext("title") == title
        assert channel.findtext("link") == "https://harbour.example/news"
        assert channel.findtext("description") == "Sea shanties"
        assert channel.findtext("image/url") == f"https://harbour.example{logo_url}"
    podcast = ET.fromstring(station.get("/news/podcast.xml").content).find("channel")
    assert podcast is not None
    image = podcast.find(f"{ITUNES}image")
    assert image is not None
    assert image.get("href") == f"https://harbour.example{logo_url}"
    assert station.get("/listen.m3u").text.splitlines()[1:] == [
        "#EXTINF:-1,Harbour Radio", "https://harbour.example/stream"]  # fmt: skip
    pls = station.get("/listen.pls").text
    assert "File1=https://harbour.example/stream" in pls
    assert "Title1=Harbour Radio" in pls
    source = station.get("/status-json.xsl").json()["icestats"]["source"]
    assert (source["server_name"], source["server_url"]) == ("Harbour Radio",
                                                           "https://harbour.example")  # fmt: skip


def test_every_public_page_shows_the_identity_to_link_previews(
    station: RunningStation, tmp_path: Path
) -> None:
    patch(station, {"name": "Harbour Radio", "tagline": "Sea shanties", "accent": "#FFD700",
                    "public_url": "https://harbour.example"})  # fmt: skip
    logo = picture(tmp_path, "jpg")
    shown = put_logo(station, logo, "image/jpeg").json()
    logo_url = shown["logo_url"]
    for path in ("/", "/news", "/embed"):
        page = page_meta(station, path)
        assert page.title.endswith("Harbour Radio"), (path, page.title)
        assert page.meta["og:site_name"] == ["Harbour Radio"], path
        assert page.meta["og:title"][0].endswith("Harbour Radio"), path
        assert page.meta["og:description"] == ["Sea shanties"], path
        assert page.meta["og:url"] == [f"https://harbour.example{path}"], path
        assert page.meta["og:image"] == [f"https://harbour.example{logo_url}"], path
        assert page.meta["og:image:width"] == ["120"]
        assert page.meta["og:image:height"] == ["60"]
        assert page.meta["twitter:card"] == ["summary"], path
        assert page.meta["theme-color"] == ["#ffd700"], path
        assert [icon["href"] for icon in page.links["icon"]] == [logo_url], path
        css = station_css(station, page)
        assert "--accent: #ffd700;" in css, path
        assert "--accent-text: #000000;" in css, path
    # The picture the previews point at is the one uploaded, as what it is.
    served = station.get(logo_url)
    assert served.content == logo
    assert served.headers["content-type"] == "image/jpeg"
    assert station.get("/favicon.ico").content == logo
    # An article describes itself, with the station's name and logo once.
    story = station.post("/api/articles", json={"title": "Tide tables", "body": "High at 6."})
    station.post(f"/api/articles/{story.json()['id']}/publish").raise_for_status()
    article = page_meta(station, f"/news/{story.json()['slug']}")
    assert article.meta["og:type"] == ["article"]
    assert article.meta["og:title"] == ["Tide tables"]
    assert article.meta["og:site_name"] == ["Harbour Radio"]
    assert article.meta["og:image"] == [f"https://harbour.example{logo_url}"]


def test_the_logo_is_judged_by_its_content_and_kept_under_state_media(
    station: RunningStation, tmp_path: Path
) -> None:
    folder = station.state / "media"
    for extension, media_type in (("png", "image/png"), ("gif", "image/gif"),
                                  ("webp", "image/webp"), ("jpg", "image/jpeg")):  # fmt: skip
        data = picture(tmp_path, extension)
        answer = put_logo(station, data, "image/png")  # the header lies: the content decides
        assert answer.status_code == 200, answer.text
        shown = answer.json()
        assert (shown["logo_width"], shown["logo_height"]) == (120, 60)
        served = station.get(shown["logo_url"])
        assert served.headers["content-type"] == media_type
        assert served.content == data
        # One file, the current one; the one it replaced is gone.
        assert [p.name for p in folder.iterdir()] == [shown["logo_url"].rsplit("/", 1)[1]]
    refused = [
        (b"#!/bin/sh\nrm -rf /\n", 415, "not a picture"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', 415, "SVG"),
        (picture(tmp_path, "png")[:60], 415, "cut"),
        (picture(tmp_path, "png", "8x8"), 415, "at least 16"),
        (b"", 415, "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(3 * 1024 * 1024), 413, ""),
    ]
    before = station.get(IDENTITY, headers=station.auth()).json()["logo_url"]
    for data, status, reason in refused:
        answer = put_logo(station, data)
        assert answer.status_code == status, (reason, answer.text)
        assert reason in answer.text
    assert station.get(IDENTITY, headers=station.auth()).json()["logo_url"] == before
    assert len(list(folder.iterdir())) == 1  # nothing left of the refused ones
    # Only the current logo is served, and nothing else under the state folder.
    for name in ("logo-0000000000000000.png", "..%2Fradio.sqlite3", "radio.sqlite3"):
        assert station.get(f"/station/logo/{name}").status_code in (404, 422), name
    answer = httpx.delete(station.url + IDENTITY + "/logo", headers=station.auth(), timeout=10)
    assert answer.json()["logo_url"] is None
    assert list(folder.iterdir()) == []
    assert station.get(before).status_code == 404
    assert page_meta(station, "/").links["icon"][0]["href"] == "/static/favicon.svg"


def test_the_identity_survives_a_restart(tmp_path: Path) -> None:
    first = start_station(tmp_path)
    try:
        patch(first, {"name": "Harbour Radio", "public_url": "https://harbour.example"})
        logo_url = put_logo(first, picture(tmp_path, "png")).json()["logo_url"]
    finally:
        first.stop()
    again = start_station(tmp_path, port=first.port)
    try:
        shown = again.get(IDENTITY, headers=again.auth()).json()
        assert (shown["name"], shown["public_url"], shown["logo_url"]) == (
            "Harbour Radio", "https://harbour.example", logo_url)  # fmt: skip
        assert stream_head(again)["icy-url"] == "https://harbour.example"
        assert again.get(logo_url).status_code == 200
    finally:
        again.stop()


def test_pages_and_playlists_never_ask_the_database_for_the_identity(tmp_path: Path) -> None:
    """The identity is read once at start and on change, never per request (nor per stream
    connection: the hub's head is built from the station's copy)."""
    asked: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "station_identity" in statement:
            asked.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        with running_app(tmp_path) as client:
            changed = client.patch(IDENTITY, headers=bearer(), json={"name": "Harbour Radio"})
            assert changed.status_code == 200
            asked.clear()
            for _ in range(5):
                for path in ("/", "/news", "/embed", "/listen.m3u", "/listen.pls",
                             "/station.css", "/news/feed.xml", "/status-json.xsl"):  # fmt: skip
                    answer = client.get(path)
                    assert answer.status_code == 200, path
                    assert "Harbour Radio" in answer.text or path == "/station.css", path
    finally:
        event.remove(Engine, "before_cursor_execute", note)
    assert asked == []


def test_the_sign_in_form_is_at_home_at_the_public_url_hosts_set(tmp_path: Path) -> None:
    """Behind a proxy at the public URL, the sign-in form's Origin is that URL: once hosts set
    it, signing in there works (with a Secure cookie, it is https), and elsewhere does not."""
    form = {"username": ADMIN_NAME, "password": ADMIN_PASSWORD, "next": "/host"}
    with running_app(tmp_path) as client:

        def sign_in_from(origin: str) -> httpx.Response:
            client.cookies.clear()
            return client.post("/api/session", data=form, headers={"Origin": origin},
                               follow_redirects=False)  # fmt: skip

        assert sign_in_from("https://radio.example.org").status_code == 403
        changed = client.patch(IDENTITY, headers=bearer(),
                               json={"public_url": "https://radio.example.org"})  # fmt: skip
        assert changed.status_code == 200
        signed_in = sign_in_from("https://radio.example.org")
        assert signed_in.status_code == 303, signed_in.text
        assert "secure" in signed_in.headers["set-cookie"].lower()
        assert sign_in_from("https://evil.example").status_code == 403
