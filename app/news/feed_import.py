"""Importing RSS 2.0 and Atom 1.0 feeds: each new item becomes an article (a draft, or
published when the feed says so) that links back to its source.

A feed is somebody else's document, so nothing in it is trusted: it is fetched only from a
public http(s) server (app.news.public_fetch: no internal addresses, no local files), with a
timeout and a size limit, parsed with defusedxml (no DTDs, so no entity expansion bombs),
stripped of HTML, and every failure becomes a message in `feed.last_error` instead of an
exception that could reach the station.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import SessionFactory
from app.models import Article, Feed
from app.news.articles import (
    MAX_AUTHOR,
    MAX_LABEL,
    MAX_TITLE,
    ArticleError,
    create_article,
    publish,
    validate_url,
)

log = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
MAX_ITEMS = 200  # items looked at per fetch; a feed is a window on the newest, not an archive
SUMMARY_CHARS = 500
MAX_ERROR_CHARS = 500
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"


class FeedError(Exception):
    """A feed that cannot be fetched or read; the message is shown to hosts as it is."""


@dataclass
class ImportReport:
    added: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)  # items left out, and why
    error: str | None = None  # the feed as a whole could not be read: nothing was imported


@dataclass(frozen=True)
class Item:
    """One entry of a feed, format-independent."""

    title: str
    link: str
    guid: str
    summary_html: str
    content_html: str
    author: str
    published: datetime | None


# --- Fetching --------------------------------------------------------------------------------


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def fetch_feed(feed: Feed, settings: Settings) -> bytes:
    """The feed's document, from a public http(s) server (or one settings.feed_allow_hosts
    names), within a time and a size limit; never a local file. Raises FeedError with a
    message fit for a host."""
    from app.news.public_fetch import FetchError, fetch_public  # httpcore: only to fetch

    if not is_web_url(feed.url):  # also a file path added before files were refused
        raise FeedError("only http and https feed URLs can be fetched")
    try:
        return fetch_public(feed.url, timeout=settings.feed_timeout_seconds,
                            limit=settings.feed_max_bytes, accept=ACCEPT,
                            allowed=settings.feed_allowed_hosts)  # fmt: skip
    except FetchError as error:
        if error.__cause__ is not None:  # the operator's log may say why; hosts may not
            log.info("feed %s: %s (%s)", feed.id, error, error.__cause__)
        raise FeedError(str(error)) from error


# --- Parsing ---------------------------------------------------------------------------------


def parse_feed(data: bytes) -> tuple[str, list[Item]]:
    """The feed's title and items. Raises FeedError for anything that is not a readable RSS
    2.0 or Atom 1.0 document."""
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise FeedError("the feed declares a DTD or entities, which are refused") from error
    except ParseError as error:
        raise FeedError(f"the feed is not well-formed XML: {error}") from error
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise FeedError("the RSS feed has no <channel>")
        items = [_rss_item(item) for item in channel.findall("item")[:MAX_ITEMS]]
        return _text(channel.find("title")), items
    if root.tag == f"{ATOM}feed":
        entries = [_atom_entry(entry) for entry in root.findall(f"{ATOM}entry")[:MAX_ITEMS]]
        return _text(root.find(f"{ATOM}title")), entries
    raise FeedError(f"not an RSS 2.0 or Atom 1.0 feed (the document is <{_local(root.tag)}>)")


def _rss_item(item: Element) -> Item:
    link = _text(item.find("link"))
    return Item(
        title=_text(item.find("title")),
        link=link,
        guid=_text(item.find("guid")),
        summary_html=_text(item.find("description")),
        content_html=_text(item.find(f"{CONTENT}encoded")),
        author=_text(item.find(f"{DC}creator")) or _text(item.find("author")),
        published=_rss_date(_text(item.find("pubDate"))),
    )


def _atom_entry(entry: Element) -> Item:
    author = entry.find(f"{ATOM}author")
    return Item(
        title=_text(entry.find(f"{ATOM}title")),
        link=_atom_link(entry),
        guid=_text(entry.find(f"{ATOM}id")),
        summary_html=_text(entry.find(f"{ATOM}summary")),
        content_html=_text(entry.find(f"{ATOM}content")),
        author=_text(author.find(f"{ATOM}name")) if author is not None else "",
        published=_iso_date(
            _text(entry.find(f"{ATOM}published")) or _text(entry.find(f"{ATOM}updated"))
        ),
    )


def _atom_link(entry: Element) -> str:
    links = entry.findall(f"{ATOM}link")
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href", "").strip()
    return links[0].get("href", "").strip() if links else ""


def _text(element: Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rss_date(value: str) -> datetime | None:
    try:
        return _utc(parsedate_to_datetime(value)) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def _iso_date(value: str) -> datetime | None:
    try:
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00"))) if value else None
    except ValueError:
        return None


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


# --- HTML to text ----------------------------------------------------------------------------

_BLOCKS = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
                     "tr", "section", "article", "pre", "hr"})  # fmt: skip
_HIDDEN = frozenset({"script", "style", "template", "noscript", "iframe", "object"})


class _TextOnly(HTMLParser):
    """Text of an HTML fragment: block elements become paragraph breaks, and what a browser
    would not show (scripts, styles) is dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Plain paragraphs separated by blank lines."""
    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    paragraphs = (" ".join(p.split()) for p in "".join(parser.parts).split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


# --- Import ----------------------------------------------------------------------------------


def import_feed(session: Session, feed: Feed, data: bytes, now: datetime) -> ImportReport:
    """Add the feed's new items as articles (not committed). A feed that cannot be read is
    reported in the result and in `feed.last_error`; it never raises."""
    feed.last_fetched_at = now
    try:
        title, items = parse_feed(data)
    except FeedError as error:
        feed.last_error = str(error)[:MAX_ERROR_CHARS]
        return ImportReport(error=feed.last_error)
    if title and not feed.title:
        feed.title = title[:300]
    report = ImportReport()
    seen = _source_links(session)  # the same story by link, even under another guid
    for number, item in enumerate(items, 1):
        keys = _keys(item)
        if not item.title and not item.summary_html and not item.content_html:
            report.problems.append(f"item {number}: no title and no text")
        elif seen.intersection(keys) or _known(session, keys):
            report.duplicates += 1
        else:
            try:
                _article(session, feed, item, keys[0], now)
                report.added += 1
            except ArticleError as error:
                report.problems.append(f"item {number}: {error}")
        seen.update(keys)
    feed.last_error = None
    return report


def _keys(item: Item) -> list[str]:
    """What identifies an item, best first: its guid, its link, else a hash of its words.
    Guids too long for the column are hashed so they still match the next time."""
    keys = [k if len(k) <= 1000 else _hash(k) for k in (item.guid, item.link) if k]
    if not keys:
        keys.append(_hash(f"{item.title}\n{item.summary_html}\n{item.content_html}"))
    return keys


def _hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _source_links(session: Session) -> set[str]:
    links: set[str] = set()
    for sources in session.scalars(select(Article.sources).where(Article.guid.is_not(None))):
        links.update(source.get("url", "") for source in sources or [])
    return links


def _known(session: Session, keys: list[str]) -> bool:
    return session.scalar(select(Article.id).where(Article.guid.in_(keys)).limit(1)) is not None


def _article(session: Session, feed: Feed, item: Item, guid: str, now: datetime) -> Article:
    """The item as a new article, through the same checks as one a host writes."""
    summary_text = html_to_text(item.summary_html)
    body = html_to_text(item.content_html) or summary_text
    article = create_article(
        session,
        title=_shorten(html_to_text(item.title), MAX_TITLE) or _shorten(body, 80),
        body=body,
        category=feed.category,
        author=_shorten(html_to_text(item.author), MAX_AUTHOR),
        summary=_shorten(summary_text or body, SUMMARY_CHARS),
        sources=_source(feed, item.link),
        guid=guid,
        feed_id=feed.id,
    )
    if feed.publish:  # an item keeps its own date, unless it claims to be from the future
        dated = item.published if item.published and item.published <= now else now
        publish(article, at=dated, now=now)
    return article


def _source(feed: Feed, link: str) -> list[dict[str, str]]:
    try:
        url = validate_url(link)
    except ArticleError:
        return []  # no link, or javascript: and the like: the story comes without a source
    return [{"label": _shorten(feed.title, MAX_LABEL) or "Source", "url": url}]


# --- Fetching on a schedule ------------------------------------------------------------------


def refresh_feed(settings: Settings, sessions: SessionFactory, feed_id: int,
                 now: datetime) -> ImportReport:  # fmt: skip
    """Fetch one feed and import it, committed; errors end up in the report and in
    feed.last_error. Blocking (network): call it from a thread."""
    with sessions() as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            return ImportReport(error="no such feed")
        try:
            data = fetch_feed(feed, settings)
        except FeedError as error:
            feed.last_fetched_at = now
            feed.last_error = str(error)[:MAX_ERROR_CHARS]
            report = ImportReport(error=feed.last_error)
        else:
            report = import_feed(session, feed, data, now)
        session.commit()
    if report.error:
        log.warning("feed %s: %s", feed_id, report.error)
    elif report.added:
        log.info("feed %s: %d new stories", feed_id, report.added)
    return report


def due_feeds(session: Session, settings: Settings, now: datetime) -> Iterator[int]:
    cutoff = now - timedelta(minutes=settings.feed_interval_minutes)
    for feed in session.scalars(select(Feed).where(Feed.enabled).order_by(Feed.id)):
        if feed.last_fetched_at is None or feed.last_fetched_at <= cutoff:
            yield feed.id


def fetch_due_feeds(settings: Settings, sessions: SessionFactory,
                    now: datetime) -> dict[int, ImportReport]:  # fmt: skip
    """Fetch every enabled feed not fetched within settings.feed_interval_minutes; one
    report per feed fetched. Never raises for a feed's sake. Blocking: call from a thread."""
    with sessions() as session:
        ids = list(due_feeds(session, settings, now))
    reports = {}
    for feed_id in ids:
        try:
            reports[feed_id] = refresh_feed(settings, sessions, feed_id, now)
        except Exception as error:  # a bug or a database hiccup must not stop the others
            log.exception("feed %s could not be imported", feed_id)
            reports[feed_id] = ImportReport(error=f"import failed: {error}")
    return reports
