"""Why a file cannot go on air. `reason` is a short sentence shown to hosts as is."""

from __future__ import annotations


class LibraryError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnreadableAudio(LibraryError):
    """The file is empty, not audio, or its container/tags cannot be parsed."""


class AnalysisError(LibraryError):
    """ffmpeg could not decode enough of the file, or what it decoded is not playable."""
