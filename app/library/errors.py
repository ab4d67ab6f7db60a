"""Why a file cannot go on air. `reason` is a short sentence shown to hosts as is."""

from __future__ import annotations

from app.core.errors import ReasonedError


class LibraryError(ReasonedError):
    """A file of the library that cannot go on air, and why."""


class UnreadableAudio(LibraryError):
    """The file is empty, not audio, or its container/tags cannot be parsed."""


class AnalysisError(LibraryError):
    """ffmpeg could not decode enough of the file, or what it decoded is not playable."""
