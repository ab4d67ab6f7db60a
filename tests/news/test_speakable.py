"""What the newsreader says: text prepared for speech from an article."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.news.speakable import opening_text, speakable_text


def test_headline_then_byline_then_paragraphs_each_ending_in_a_pause() -> None:
    text = speakable_text("Bridge reopens", "Jane Doe", "First paragraph\n\nSecond one!\n")
    assert text.split("\n\n") == [
        "Bridge reopens.",
        "By Jane Doe.",
        "First paragraph.",
        "Second one!",
    ]


def test_no_byline_without_an_author() -> None:
    assert speakable_text("Headline", "  ", "Body.") == "Headline.\n\nBody."


def test_markdown_and_html_are_not_read_out() -> None:
    body = (
        "## The **big** story\n"
        "It was *very* `loud` and <b>bold</b> &amp; clear.\n\n"
        "- first point\n- second point\n\n"
        "> a quote\n\n"
        "<script>alert('x')</script><p>Last words.</p>"
    )
    paragraphs = speakable_text("T", "", body).split("\n\n")[1:]
    assert paragraphs == [
        "The big story.",
        "It was very loud and bold and clear.",
        "first point.",
        "second point.",
        "a quote.",
        "Last words.",
    ]


def test_urls_and_link_targets_are_dropped_but_link_words_kept() -> None:
    body = (
        "Read [the council report](https://example.org/report?id=1) at https://example.org/x now."
    )
    text = speakable_text("T", "", body)
    assert "Read the council report at now." in text
    assert "http" not in text
    assert "example" not in text


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("Dr. Who met Mr. Smith and Mrs. Jones", "Doctor Who met Mister Smith and Missus Jones"),
        ("fruit, e.g. apples, i.e. food", "fruit, for example apples, that is food"),
        ("Home vs. Away", "Home versus Away"),
        ("Platform No. 9 opens", "Platform number 9 opens"),
        ("No. It did not", "No. It did not"),
        ("apples, pears etc. are cheap", "apples, pears et cetera are cheap"),
        ("apples, pears etc. Then more", "apples, pears et cetera. Then more"),
        ("prices rose 3.5% this year", "prices rose 3.5 percent this year"),
        ("it costs $5 today", "it costs 5 dollars today"),
        ("it costs $1 today", "it costs 1 dollar today"),
        ("a €20 ticket", "a 20 euros ticket"),
        ("a 20€ ticket", "a 20 euros ticket"),
        ("raised $2.5 billion", "raised 2.5 billion dollars"),
        ("£1 coin", "1 pound coin"),
        ("opens at 17:30", "opens at 17 30"),
        ("opens at 9:05", "opens at 9 oh 5"),
        ("opens at 9:00", "opens at 9 o'clock"),
        ("closes at 23:00", "closes at 23 hundred"),
        ("founded in 1999", "founded in 1999"),
    ],
)
def test_abbreviations_and_numbers_are_read_sensibly(written: str, spoken: str) -> None:
    assert speakable_text("T", "", written) == f"T.\n\n{spoken}."


@pytest.mark.parametrize(
    ("hour", "minute", "words"),
    [
        (17, 0, "News at five o'clock."),
        (9, 30, "News at half past nine."),
        (21, 15, "News at quarter past nine."),
        (8, 45, "News at quarter to nine."),
        (12, 45, "News at quarter to one."),
        (14, 20, "News at twenty past two."),
        (14, 35, "News at twenty-five to three."),
        (13, 7, "News at one oh seven."),
        (23, 59, "News at eleven fifty-nine."),
        (0, 0, "News at midnight."),
        (12, 0, "News at noon."),
    ],
)
def test_opening_says_the_time_in_twelve_hour_words(hour: int, minute: int, words: str) -> None:
    tz = ZoneInfo("UTC")
    assert opening_text(datetime(2026, 3, 2, hour, minute, tzinfo=tz), tz) == words


def test_opening_is_in_the_station_time_zone() -> None:
    at = datetime(2026, 7, 1, 15, 0, tzinfo=UTC)  # 17:00 in Berlin, summer time
    assert opening_text(at, ZoneInfo("Europe/Berlin")) == "News at five o'clock."
