"""Properties of reading feeds: an RSS 2.0 or Atom 1.0 document built here with the standard
library's XML writer reads back with the same titles, links, ids and dates; whatever bytes a
server sends, reading them gives a feed or FeedError, nothing else; and the text taken from an
item's HTML never carries its tags or what a browser would not show."""

from __future__ import annotations

import datetime as dt
import re
from email.utils import format_datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from hypothesis import given, settings
from hypothesis import strategies as st

from app.news.feed_import import FeedError, html_to_text, parse_feed

ATOM = "http://www.w3.org/2005/Atom"
# XML 1.0 text: no control characters but tab and newlines, no surrogates, no U+FFFE/FFFF.
XML_CHARACTERS = st.characters(
    blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff"
)
TEXT = st.text(XML_CHARACTERS, max_size=30)
WORDS = TEXT.map(lambda s: " ".join(s.split()))  # as the reader strips them
dates = st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2060, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=dt.UTC)
)
items = st.lists(st.tuples(WORDS, WORDS, WORDS, dates), max_size=6)


def rss(title: str, entries: list[tuple[str, str, str, dt.datetime]]) -> bytes:
    root = Element("rss", version="2.0")
    channel = SubElement(root, "channel")
    SubElement(channel, "title").text = title
    for name, link, guid, when in entries:
        item = SubElement(channel, "item")
        SubElement(item, "title").text = name
        SubElement(item, "link").text = link
        SubElement(item, "guid").text = guid
        SubElement(item, "pubDate").text = format_datetime(when)
    return tostring(root, encoding="utf-8", xml_declaration=True)


def atom(title: str, entries: list[tuple[str, str, str, dt.datetime]]) -> bytes:
    root = Element(f"{{{ATOM}}}feed")
    SubElement(root, f"{{{ATOM}}}title").text = title
    for name, link, guid, when in entries:
        entry = SubElement(root, f"{{{ATOM}}}entry")
        SubElement(entry, f"{{{ATOM}}}title").text = name
        SubElement(entry, f"{{{ATOM}}}link", href=link)
        SubElement(entry, f"{{{ATOM}}}id").text = guid
        SubElement(entry, f"{{{ATOM}}}published").text = when.isoformat()
    return tostring(root, encoding="utf-8", xml_declaration=True)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([rss, atom]), WORDS, items)
def test_a_feed_reads_back_what_it_says(build, title: str, entries: list) -> None:  # type: ignore[no-untyped-def]
    read_title, read = parse_feed(build(title, entries))
    assert read_title == title
    assert [(i.title, i.link, i.guid, i.published) for i in read] == [
        (name, link.strip(), guid, when) for name, link, guid, when in entries
    ]


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"<rss>", b"<rss><channel><item><pubDate>32 Foo 99</pubDate></item>",
                     b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><rss>&a;</rss>',
                     b"<feed xmlns='http://www.w3.org/2005/Atom'><entry><published>x"]),
    st.builds(lambda a, b: a + b, st.sampled_from([b"<rss><channel>", b"<html>", b"<?xml"]),
              st.binary(max_size=100)),
))  # fmt: skip
def test_any_bytes_give_a_feed_or_feed_error(data: bytes) -> None:
    try:
        title, read = parse_feed(data)
    except FeedError as error:
        refusal = str(error)
        assert refusal, "a refusal says why"
        return
    assert isinstance(title, str)
    for item in read:
        assert item.published is None or item.published.tzinfo is not None


# Well-formed pieces of HTML. (An unterminated `<!--` or `<b` is left out: the reader then
# keeps the rest as text, where a browser would hide it or show it; see the notes.)
FRAGMENTS = ["<p>", "</p>", "<br>", "<b>", "</b>", "<script>", "</script>", "<style>",
             "</style>", "<div>", "</div>", "<a href='x'>", "</a>", "&amp;", "&lt;",
             "<!-- c -->", "\n"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text("abc &/", max_size=10)), max_size=20),
    st.integers(0, 20),
    st.sampled_from(["script", "style", "template", "iframe"]),
)
def test_the_text_of_html_has_no_tags_and_nothing_a_browser_hides(
    pieces: list[str], where: int, hidden: str
) -> None:
    pieces.insert(where, f"<{hidden}>SECRET<p>SECRET</p></{hidden}>")
    text = html_to_text("".join(pieces))
    assert "SECRET" not in text
    assert re.search(r"<(p|br|b|div|a|script|style)\b[^<>]*>", text) is None
    if text:
        for paragraph in text.split("\n\n"):
            assert paragraph
            assert paragraph == " ".join(paragraph.split())
