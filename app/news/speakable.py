"""Text prepared for speech: what a newsreader would say for an article, as plain sentences.

Markup, links and URLs are dropped (nobody reads "https colon slash slash" on air), a few
abbreviations and number forms a speech engine gets wrong are spelled out, and paragraphs
end in full stops so the engine pauses between them. Pure functions, no engine specifics.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_HTML_BLOCK_END = re.compile(r"</(p|div|li|h[1-6]|blockquote|tr)>|<br\s*/?>", re.I)
_HTML_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_LINK_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_AUTOLINK = re.compile(r"<(?:https?|ftp|mailto):[^>\s]*>", re.I)
_URL = re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>()\[\]]*[^\s<>()\[\].,;:!?'\"]", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
# Headings and list items are sentences of their own; a quote marker is just dropped.
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$", re.MULTILINE)
_BLOCK_MARKER = re.compile(r"^[ \t]{0,3}(?:[-*+]\s+|\d{1,3}[.)]\s+)", re.MULTILINE)
_QUOTE_MARKER = re.compile(r"^[ \t]{0,3}>\s?", re.MULTILINE)
_RULE = re.compile(r"^[ \t]*([-*_])([ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*{1,3}|_{1,3}|~~|`+)(?=\S)(.+?)(?<=\S)\1")
_STRAY_MARKS = re.compile(r"[*`#|~]|(?<!\w)_+|_+(?!\w)")

_ABBREVIATIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bMr\.(?=\s)"), "Mister"),
    (re.compile(r"\bMrs\.(?=\s)"), "Missus"),
    (re.compile(r"\bDr\.(?=\s)"), "Doctor"),
    (re.compile(r"\be\.g\.(?=[\s,])", re.I), "for example"),
    (re.compile(r"\bi\.e\.(?=[\s,])", re.I), "that is"),
    (re.compile(r"\bvs\.?(?=\s)", re.I), "versus"),
    (re.compile(r"\bNo\.\s?(?=\d)"), "number "),
    (re.compile(r"\bnos?\.\s?(?=\d)"), "number "),
    (re.compile(r"\s&\s"), " and "),
]
# "etc." keeps its full stop when it ends a sentence.
_ETC_END = re.compile(r"\betc\.(?=\s+[A-Z\"']|\s*$)", re.MULTILINE)
_ETC = re.compile(r"\betc\.")

_SCALE = r"(?:\s+(thousand|million|billion|trillion))?"
_CURRENCIES = {"$": "dollar", "€": "euro", "£": "pound", "¥": "yen"}
_MONEY = re.compile(r"([$€£¥])\s?(\d[\d,]*(?:\.\d+)?)" + _SCALE)
_MONEY_AFTER = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?([€£])" + _SCALE)
_PERCENT = re.compile(r"(\d(?:[\d,]*\d)?(?:\.\d+)?)\s?%")
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)(?!:?\d)")
_SPACES = re.compile(r"[ \t\f\v]+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)]*$")


def speakable_text(title: str, author: str, body_markdown: str) -> str:
    """The headline, "By <author>.", then the story's paragraphs, one per line pair."""
    parts = [_sentence(_spoken(_plain(title)))]
    if author.strip():
        parts.append(_sentence("By " + _spoken(_plain(author))))
    parts += [_sentence(_spoken(paragraph)) for paragraph in _paragraphs(body_markdown)]
    return "\n\n".join(part for part in parts if part)


def opening_text(at: datetime, tz: ZoneInfo) -> str:
    """The bulletin's first words in the station's time: "News at half past nine."."""
    return f"News at {clock_words(at.astimezone(tz))}."


def clock_words(at: datetime) -> str:
    """12-hour clock in words, the way a presenter says it."""
    hour, minute = at.hour, at.minute
    if minute == 0 and hour in (0, 12):
        return "midnight" if hour == 0 else "noon"
    this_hour, next_hour = _hour_word(hour), _hour_word(hour + 1)
    if minute == 0:
        return f"{this_hour} o'clock"
    if minute == 15:
        return f"quarter past {this_hour}"
    if minute == 30:
        return f"half past {this_hour}"
    if minute == 45:
        return f"quarter to {next_hour}"
    if minute % 5 == 0:
        return (
            f"{_number_words(minute)} past {this_hour}"
            if minute < 30
            else (f"{_number_words(60 - minute)} to {next_hour}")
        )
    if minute < 10:
        return f"{this_hour} oh {_number_words(minute)}"
    return f"{this_hour} {_number_words(minute)}"


_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty"}


def _number_words(n: int) -> str:
    """0-59 in words."""
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def _hour_word(hour: int) -> str:
    return _number_words((hour - 1) % 12 + 1)


def _paragraphs(body: str) -> list[str]:
    text = _strip_markup(body)
    paragraphs = re.split(r"\n\s*\n", text)
    # Lines inside a paragraph are one flow of words (Markdown joins them too).
    joined = (" ".join(line.strip() for line in p.splitlines() if line.strip()) for p in paragraphs)
    return [p for p in joined if re.search(r"\w", p)]


def _plain(text: str) -> str:
    return " ".join(_strip_markup(text).split())


def _strip_markup(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _FENCE.sub("\n", text)  # code is for reading, not for saying
    text = _HTML_DROP.sub(" ", text)
    text = _HTML_BLOCK_END.sub("\n\n", text)
    text = _AUTOLINK.sub(" ", text)
    text = _HTML_TAG.sub(" ", text)
    text = html.unescape(text)
    text = _LINK_DEFINITION.sub("", text)
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _URL.sub("", text)
    text = _EMAIL.sub("", text)
    text = _RULE.sub("\n", text)
    text = _QUOTE_MARKER.sub("", text)
    text = _HEADING.sub("\n\n\\1\n\n", text)
    text = _BLOCK_MARKER.sub("\n\n", text)
    for _ in range(2):  # nested emphasis: ***bold italic*** or **_both_**
        text = _EMPHASIS.sub(r"\2", text)
    return _STRAY_MARKS.sub(" ", text)


def _spoken(text: str) -> str:
    for pattern, words in _ABBREVIATIONS:
        text = pattern.sub(words, text)
    text = _ETC_END.sub("et cetera.", text)
    text = _ETC.sub("et cetera", text)
    text = _MONEY.sub(lambda m: _money(m.group(1), m.group(2), m.group(3)), text)
    text = _MONEY_AFTER.sub(lambda m: _money(m.group(2), m.group(1), m.group(3)), text)
    text = _PERCENT.sub(r"\1 percent", text)
    text = _TIME.sub(_time, text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    # Links removed mid-sentence can leave "see ." or "( )" behind.
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    return _SPACES.sub(" ", text).strip(" ,;:")


def _money(symbol: str, amount: str, scale: str | None) -> str:
    unit = _CURRENCIES[symbol]
    plural = scale is not None or amount.replace(",", "") not in ("1", "1.0", "1.00")
    if plural and unit != "yen":
        unit += "s"
    return f"{amount} {scale} {unit}" if scale else f"{amount} {unit}"


def _time(match: re.Match[str]) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute == 0:
        return f"{hour} hundred" if hour > 12 or hour == 0 else f"{hour} o'clock"
    if minute < 10:
        return f"{hour} oh {minute}"
    return f"{hour} {minute}"


def _sentence(text: str) -> str:
    """Ends the text with a full stop unless it already ends a sentence: that is the pause."""
    text = text.strip()
    if not text:
        return ""
    if _ENDS_SENTENCE.search(text):
        return text
    return text.rstrip(",;:-–—") + "."
