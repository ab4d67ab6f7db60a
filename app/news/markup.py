"""An article's body as HTML for pages and as plain text for summaries and speech.

The one rule for HTML in what hosts (or imported feeds) write: the body is stored exactly as
given, and it is Markdown (plain paragraphs separated by blank lines are Markdown too).
Rendering never lets raw HTML through: Markdown is rendered with raw HTML disabled, so a
`<script>` typed into a body shows up as the text "<script>", and the rendered HTML is then
sanitised with nh3 against a short list of tags and http/https/mailto links, as a second
line of defence should the renderer ever emit something unexpected. Titles, summaries and
the rest are plain text everywhere and are escaped by the templates (Jinja2 autoescape).
"""

from __future__ import annotations

import re
from functools import cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_TAGS = frozenset(
    {"p", "br", "hr", "strong", "em", "s", "del", "code", "pre", "blockquote", "ul", "ol",
     "li", "a", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td"}
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

# Text that looks like a tag, left in plain text by a body that typed HTML: not read aloud.
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n\s*\n")  # within a paragraph (a code block's): one line break


@cache
def _markdown() -> MarkdownIt:
    # Built on first use, not at import; "html": False turns raw HTML into plain text.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render_body_html(body: str) -> str:
    """The body as safe HTML for an article page. Headings start at h2 (h1 is the title)."""
    html = _markdown().render(body)
    html = re.sub(r"<(/?)h1>", r"<\1h2>", html)
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="nofollow noopener noreferrer",
    )


def plain_text(body: str) -> str:
    """The words of the body, one paragraph per line pair: no markup, no link targets, no
    images, no code blocks' fences; what a summary shows and what the speech engine reads."""
    paragraphs: list[str] = []
    for token in _markdown().parse(body):
        if token.type == "inline":
            text = _inline_text(token.children or [])
        elif token.type in ("fence", "code_block"):
            text = token.content
        else:
            continue
        text = _BLANK_LINES.sub("\n", _SPACES.sub(" ", _TAG.sub("", text))).strip()
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


def _inline_text(children: list[Token]) -> str:
    parts: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" " if child.type == "softbreak" else "\n")
    # Images contribute nothing: their alt text is not part of the story's words.
    return "".join(parts)
