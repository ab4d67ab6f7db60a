"""`radio feeds` as a host runs it, against the real station."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

import pytest

from app.cli import feeds
from app.cli.client import ApiError
from tests.news.feed_server import FeedServer, serving
from tests.station import ADMIN_TOKEN, RunningStation

FEED = (
    b"<rss version='2.0'><channel><title>Gazette</title><item><title>Bridge repaired</title>"
    b"<link>https://example.org/bridge</link><guid>b1</guid></item></channel></rss>"
)


def radio_feeds(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> str:
    """One `radio feeds ...` command, in process (the module as `radio` registers it)."""
    parser = argparse.ArgumentParser(prog="radio")
    feeds.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["feeds", argv[0], "--url", url, "--token", ADMIN_TOKEN, *argv[1:]])
    assert args.run(args) == 0
    return capsys.readouterr().out


@pytest.fixture
def httpd() -> Iterator[FeedServer]:
    with serving({"/gazette.xml": FEED}) as httpd:
        yield httpd


def test_hosts_manage_feeds_from_the_shell(
    launch: Callable[..., RunningStation], httpd: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    station = launch(feed_allow_hosts=httpd.allow)  # the feed's server is on loopback
    feed_url = f"{httpd.url}/gazette.xml"

    out = radio_feeds(capsys, station.url, "add", feed_url, "--publish",
                      "--category", "Town")  # fmt: skip
    assert out.startswith("added feed ")
    feed_id = out.split()[2].rstrip(":")
    assert radio_feeds(capsys, station.url, "fetch", feed_id) == "1 new, 0 already imported\n"
    assert radio_feeds(capsys, station.url, "fetch", feed_id) == "0 new, 1 already imported\n"
    listing = radio_feeds(capsys, station.url, "list")
    assert "Gazette" in listing
    assert feed_url in listing
    assert "Town" in listing
    assert b"Bridge repaired" in station.get("/news/feed.xml").content

    httpd.documents["/gazette.xml"] = b"<rss><channel>"
    with pytest.raises(ApiError, match="502: the feed is not well-formed XML"):
        radio_feeds(capsys, station.url, "fetch", feed_id)
    assert "not well-formed XML" in radio_feeds(capsys, station.url, "list")

    out = radio_feeds(capsys, station.url, "update", feed_id, "--no-enabled", "--no-publish")
    assert out == f"feed {feed_id}: paused, new stories as drafts in Town\n"

    assert radio_feeds(capsys, station.url, "remove", feed_id) == f"removed feed {feed_id}\n"
    assert "Gazette" not in radio_feeds(capsys, station.url, "list")
