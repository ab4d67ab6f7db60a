"""Artist names for separation: "A feat. B & C" is three artists, each kept apart."""

from __future__ import annotations

import functools
import re

# "feat.", "ft.", "featuring", "&", ",", "vs.", " x ", " and " would split band names such as
# "Simon and Garfunkel", so it is not a separator.
_SEPARATORS = re.compile(
    r"\s*(?:\bfeat\.?(?=\s)|\bft\.(?=\s)|\bfeaturing\b|&|,|\bvs\.?(?=\s)|\s+x\s+)\s*",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=65536)
def split_artists(name: str) -> frozenset[str]:
    """The artists of a credit, case-folded and trimmed; empty for an empty credit."""
    parts = (part.strip().casefold() for part in _SEPARATORS.split(name))
    return frozenset(part for part in parts if part)
