"""Fault drills: make one part of the station fail on purpose, to rehearse (and test) how
the station lives through it, on the real station and not in a mock.

Off unless RADIO_FAULT_DRILL_DIR names a folder. Then, while a file named after a part is
in that folder, the part fails, with the file's text (or a default) as its error:

- `encoder`: the MP3 encoder (LAME) in the playout process fails on every block, as it
  would out of memory. The stream goes on with the safety source, encoded in advance.
- `speech`: the speech engine fails in the render child, for every text.
- `archive`: the time-shift archive's writes fail, as on a full disk. The live stream goes
  on; that audio is not kept.

Removing the file ends the drill: the part works again and the station heals.
Standard library only: the playout process and the speech worker import it.
"""

from __future__ import annotations

from pathlib import Path

PARTS = ("encoder", "speech", "archive")


class DrillFault(RuntimeError):
    """A part failing because a fault drill says so; the message is the drill's."""


def check(folder: str | Path | None, part: str) -> None:
    """Raise DrillFault while a drill for `part` runs in `folder` (None: no drills)."""
    if not folder:
        return
    try:
        text = (Path(folder) / part).read_text(errors="replace").strip()
    except OSError:  # no such file: no drill (or one that cannot be read: none either)
        return
    raise DrillFault(text[:200] or f"fault drill: the {part} fails")
