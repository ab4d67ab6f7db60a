"""The one rule that cleans every name a listener may see, whatever its source (see
app.library.tags). Plain Python only: the playout process and the ICY framing use it too,
and must not load the library's database code to do so."""

from __future__ import annotations

import re

MAX_TAG_LENGTH = 300
ELLIPSIS = "…"

# --- The cleaning rule ---------------------------------------------------------------------

# Every control character (Unicode category Cc: C0, DEL, C1) and every lone surrogate: those
# Python counts as white space (tab, newlines, the separators \x1c-\x1f, NEL) become a
# space, the others (NUL, BEL, ESC, ...) are dropped.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
_UNSHOWABLE: dict[int, str | None] = {
    **{code: " " if chr(code).isspace() else None for code in _CONTROLS},
    **dict.fromkeys(range(0xD800, 0xE000)),
}


# Anything clean_text would change: a control character or surrogate, white space other than
# a single space between words (re's \s and str.split() agree on what white space is).
_UNCLEAN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]|[^\S ]|  |^ | $")


def clean_text(value: str) -> str:
    """`value` as one line of plain text: no control characters, single spaces, trimmed."""
    if not _UNCLEAN.search(value):
        return value  # most names are clean: no need to rebuild them
    return " ".join(value.translate(_UNSHOWABLE).split())


def clean_tag(value: str, limit: int = MAX_TAG_LENGTH) -> str:
    """clean_text, then at most `limit` characters (cut with an ellipsis)."""
    text = clean_text(value)
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def has_control_characters(value: str) -> bool:
    """Whether clean_text would drop or replace a character of `value` (a space aside)."""
    return any(ord(ch) in _UNSHOWABLE for ch in value)
