"""HLS: packed-audio segments cut from one mount, a rolling playlist, and its listeners.

`Hls` is what the station holds: the segmenter (a sink on the mount's hub, writing
`state/hls/`) and the sessions of the players fetching it (app.api.hls serves both)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.stream.hls.frames import Codec
from app.stream.hls.segmenter import PLAYLIST, SEGMENT_NAME, Segmenter
from app.stream.hls.sessions import SID_PATTERN, HlsListener, HlsSessions
from app.stream.hub import StreamHub

__all__ = ["PLAYLIST", "SEGMENT_NAME", "SID_PATTERN", "Hls", "HlsListener"]

SESSION_TARGETS = 3  # a session ends after this many target durations without a fetch


class Hls:
    def __init__(
        self,
        directory: Path,
        window_seconds: float,
        segment_seconds: int,
        on_listener: list[Callable[[Any, str], None]],
        per_address: int,
    ) -> None:
        self.directory = directory
        self.segmenter = Segmenter(directory, window_seconds, segment_seconds)
        self.sessions = HlsSessions(on_listener, SESSION_TARGETS * segment_seconds, per_address)
        self.hub: StreamHub | None = None

    @property
    def codec(self) -> Codec | None:
        return self.segmenter.codec

    @property
    def bandwidth(self) -> int:
        """Bits per second of the segments, for the multivariant playlist."""
        kbps = self.hub.info.bitrate_kbps if self.hub is not None else 128
        return kbps * 1000 * 105 // 100  # and the ID3 tags, with room

    def start(self, hub: StreamHub) -> None:
        """Cut segments from `hub` from now on (on the event loop)."""
        self.hub = hub
        self.segmenter.start()
        hub.add_sink(self.segmenter)

    def stop(self) -> None:
        """On the event loop: no more chunks, and the sessions end."""
        if self.hub is not None:
            self.hub.remove_sink(self.segmenter)
        self.sessions.close()

    def finish(self) -> None:
        """Blocking (from a thread): the writer writes what it has and ends."""
        self.segmenter.stop()
