"""The media library: what exists under media/, its tags, loudness and cue points.

The demo library's synthesis (`app.library.demo`) is not re-exported here: it loads numpy,
which the serving process does not carry (it runs it in a child: `synthesize_in_child`).
"""

from app.library.analysis import Analysis, analyse, gain_db
from app.library.errors import AnalysisError, LibraryError, UnreadableAudio
from app.library.scanner import (
    AUDIO_EXTENSIONS,
    LibraryStats,
    ScanReport,
    count_ready,
    library_stats,
    scan,
)
from app.library.tags import TrackTags, read_tags, write_tags

__all__ = [
    "AUDIO_EXTENSIONS",
    "Analysis",
    "AnalysisError",
    "LibraryError",
    "LibraryStats",
    "ScanReport",
    "TrackTags",
    "UnreadableAudio",
    "analyse",
    "count_ready",
    "gain_db",
    "library_stats",
    "read_tags",
    "scan",
    "write_tags",
]
