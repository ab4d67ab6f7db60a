"""A host cannot use feed import to reach what the station can reach and they cannot: the
station fetches feeds only from public http(s) servers, never from its own machine or network
(whether named by address, by a DNS name or through a redirect) and never from a local file,
and it gives the same error for every server it will not or cannot reach, so feed errors do
not map a network. Real HTTP servers on loopback stand in for the internal services; a
resolver replaced in process stands in for a DNS name that points inside."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import SessionFactory
from app.models import Article, Feed
from app.news.feed_import import ImportReport, refresh_feed
from tests.accounts.harness import TestClient, bearer, running_app
from tests.news.feed_server import FeedServer, serving

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
# Written out, not imported: the text every unreachable server gets.
UNREACHABLE = "cannot reach the feed's server (feeds are fetched only from public addresses)"
MEMO = b"""<rss version="2.0"><channel><title>Intranet</title><item><title>Internal memo</title>
<guid>memo-1</guid><description>Staff only.</description></item></channel></rss>"""
PUBLIC = "93.184.216.34"  # a public address (example.com's, once); never reached here


@pytest.fixture
def inner() -> Iterator[FeedServer]:
    """An internal service the station can reach and hosts must not."""
    with serving({"/rss": MEMO, "/control": MEMO}) as httpd:
        yield httpd


@pytest.fixture
def outer() -> Iterator[FeedServer]:
    """A feed server the operator allowed (RADIO_FEED_ALLOW_HOSTS), on loopback as well."""
    with serving({"/rss": MEMO}) as httpd:
        yield httpd


def settings_for(tmp_path: Path, allow: str = "") -> Settings:
    return Settings(state_dir=tmp_path / "state", media_dir=tmp_path / "media",
                    feed_timeout_seconds=1.0, feed_allow_hosts=allow)  # fmt: skip


def fetch(settings: Settings, sessions: SessionFactory, url: str) -> ImportReport:
    with sessions() as session:
        feed = Feed(url=url, publish=True)
        session.add(feed)
        session.commit()
        feed_id = feed.id
    return refresh_feed(settings, sessions, feed_id, NOW)


def imported(sessions: SessionFactory) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Article.title)))


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Callable[[], list[str]]], None]:
    """Make a name resolve, in this process, to what `answer()` returns at each lookup (a
    resolver of the test's choosing); other names resolve as usual."""
    real = socket.getaddrinfo
    names: dict[str, Callable[[], list[str]]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in names:
            return real(host, port, *args, **kwargs)
        addresses = names[name]()
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [info for address in addresses for info in real(address, port, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names.__setitem__


def free_port() -> int:
    """A loopback port nothing listens on (bound once, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1", "2130706433", "0.0.0.0", "localhost", "[::ffff:127.0.0.1]"]
)
def test_a_feed_on_the_stations_own_machine_is_refused_by_default(
    inner: FeedServer, tmp_path: Path, sessions: SessionFactory, host: str
) -> None:
    report = fetch(settings_for(tmp_path), sessions, f"http://{host}:{inner.port}/rss")

    assert report.error == UNREACHABLE
    assert inner.requests == []  # refused before connecting
    assert imported(sessions) == []
    # The same server, allowed by the operator, is fetched: the refusal was the address's.
    allowed = settings_for(tmp_path, allow=inner.allow)
    assert fetch(allowed, sessions, f"{inner.url}/control").added == 1


def test_a_public_looking_name_that_resolves_inside_is_refused(
    inner: FeedServer, tmp_path: Path, sessions: SessionFactory, dns: Any
) -> None:
    dns("news.example.org", lambda: ["127.0.0.1"])
    dns("mixed.example.org", lambda: [PUBLIC, "127.0.0.1"])  # every address is checked

    for name in ("news.example.org", "mixed.example.org"):
        report = fetch(settings_for(tmp_path), sessions, f"http://{name}:{inner.port}/rss")
        assert report.error == UNREACHABLE

    assert inner.requests == []
    assert imported(sessions) == []
    # The name does lead to the server: allowed by name, it is fetched.
    allowed = settings_for(tmp_path, allow=f"news.example.org:{inner.port}")
    assert fetch(allowed, sessions, f"http://news.example.org:{inner.port}/control").added == 1


def test_a_name_that_resolves_elsewhere_the_second_time_is_not_followed(
    inner: FeedServer, tmp_path: Path, sessions: SessionFactory, dns: Any
) -> None:
    """DNS rebinding: the first answer is public, every later one is loopback. The station
    connects to the address it checked, so the second answer never matters."""
    answers = iter([[PUBLIC]])
    dns("rebind.example.org", lambda: next(answers, ["127.0.0.1"]))

    report = fetch(settings_for(tmp_path), sessions, f"http://rebind.example.org:{inner.port}/rss")

    assert report.error is not None
    assert inner.requests == []
    assert imported(sessions) == []


def test_a_redirect_to_an_internal_server_is_refused(
    outer: FeedServer, inner: FeedServer, tmp_path: Path, sessions: SessionFactory
) -> None:
    settings = settings_for(tmp_path, allow=outer.allow)  # the inner server is not allowed
    outer.redirects["/moved"] = "/rss"
    outer.redirects["/inside"] = f"{inner.url}/rss"
    outer.redirects["/inside-by-name"] = f"http://localhost:{inner.port}/rss"
    outer.redirects["/passwd"] = "file:///etc/passwd"
    outer.redirects["/loop"] = "/loop"

    assert fetch(settings, sessions, f"{outer.url}/moved").added == 1  # redirects are followed
    assert fetch(settings, sessions, f"{outer.url}/inside").error == UNREACHABLE
    assert fetch(settings, sessions, f"{outer.url}/inside-by-name").error == UNREACHABLE
    assert inner.requests == []
    assert fetch(settings, sessions, f"{outer.url}/passwd").error == (
        "only http and https URLs can be fetched"
    )
    assert fetch(settings, sessions, f"{outer.url}/loop").error == (
        "the feed redirects more than 5 times"
    )
    assert outer.requests.count("/loop") == 6  # the first request and 5 redirects
    assert imported(sessions) == ["Internal memo"]  # from /moved only


def test_a_closed_port_and_a_refused_address_give_the_same_error(
    inner: FeedServer, tmp_path: Path, sessions: SessionFactory, dns: Any
) -> None:
    """Whether nothing listens, the address is internal, or the name does not resolve, a host
    reads the same words: errors cannot tell open ports from closed ones inside."""
    closed = free_port()
    dns("nowhere.example.org", lambda: [])
    internal = fetch(settings_for(tmp_path), sessions, f"{inner.url}/rss").error
    allowed_but_closed = settings_for(tmp_path, allow=f"127.0.0.1:{closed}")
    refused = fetch(allowed_but_closed, sessions, f"http://127.0.0.1:{closed}/rss").error
    unresolved = fetch(settings_for(tmp_path), sessions, "http://nowhere.example.org/rss").error
    closed_inside = fetch(settings_for(tmp_path), sessions, f"http://127.0.0.1:{closed}/").error

    assert internal == refused == unresolved == closed_inside == UNREACHABLE


def test_local_files_are_never_read(
    tmp_path: Path, sessions: SessionFactory, inner: FeedServer
) -> None:
    """Not as a path, not as a file: URL, not even for a feed added before files were
    refused (its row is in the database)."""
    private = tmp_path / "private.xml"
    private.write_bytes(MEMO)
    settings = settings_for(tmp_path, allow=inner.allow)

    for location in (str(private), f"file://{private}", "/etc/passwd", "file:///etc/passwd"):
        report = fetch(settings, sessions, location)
        assert report.error == "only http and https feed URLs can be fetched", location

    assert imported(sessions) == []


def test_hosts_cannot_add_a_local_file_as_a_feed(tmp_path: Path) -> None:
    private = tmp_path / "private.xml"
    private.write_bytes(MEMO)
    client: TestClient
    with running_app(tmp_path / "station") as client:
        for location in (str(private), f"file://{private}", "/etc/passwd", "file:///etc/passwd",
                         "etc/passwd", "gopher://127.0.0.1:70/"):  # fmt: skip
            response = client.post("/api/feeds", json={"url": location}, headers=bearer())
            assert response.status_code == 422, location
            assert "only http and https" in response.text
        assert client.get("/api/feeds", headers=bearer()).json() == []
