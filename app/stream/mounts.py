"""Mounts: the stream paths the station serves, each its own encoding of the one programme.

The default mount is `/stream` (alias `/stream.mp3`): MP3 at RADIO_BITRATE_KBPS, stereo.
RADIO_MOUNTS adds more, comma-separated `<path>=<codec>:<kbps>[:mono]`, for example

    /mobile.mp3=mp3:64:mono,/stream.aac=aac:96,/stream.opus=opus:96

Codecs: `mp3` (LAME, in the playout process), `aac` (AAC-LC in ADTS) and `opus` (in Ogg),
both by one long-lived ffmpeg encoder each in the playout process. Each mount is encoded
once, has its own hub (listeners, burst, titles) and counts its own listeners.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the playout process reads the specs and never imports the hub
    from app.stream.hub import StreamHub

DEFAULT_PATH = "/stream"
ALIASES = {"/stream.mp3": DEFAULT_PATH}
CONTENT_TYPES = {"mp3": "audio/mpeg", "aac": "audio/aac", "opus": "audio/ogg"}
# What each encoder takes (kbps), as LAME, ffmpeg's aac and libopus accept them.
BITRATES = {"mp3": (32, 320), "aac": (16, 320), "opus": (6, 256)}
_PATH = re.compile(r"^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$")
_MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


@dataclass(frozen=True)
class MountSpec:
    path: str
    codec: str  # mp3, aac or opus
    bitrate_kbps: int
    channels: int = 2

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.codec]

    @property
    def in_band_titles(self) -> bool:
        """ICY titles for MP3 and AAC; Ogg carries its own (a new chain per title)."""
        return self.codec != "opus"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Mount:
    spec: MountSpec
    hub: StreamHub

    @property
    def path(self) -> str:
        return self.spec.path


def parse_mounts(text: str) -> list[MountSpec]:
    """RADIO_MOUNTS, checked: a ValueError says what is wrong with which entry."""
    specs: list[MountSpec] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        path, sep, rest = entry.partition("=")
        path = path.strip()
        if not sep:
            raise ValueError(f"{entry!r}: write <path>=<codec>:<kbps>[:mono]")
        if not _PATH.match(path):
            raise ValueError(f"{entry!r}: the path must start with / and use only letters, "
                             "digits and . _ ~ -")  # fmt: skip
        if path in (DEFAULT_PATH, *ALIASES) or path in {s.path for s in specs}:
            raise ValueError(f"{entry!r}: {path} is taken")
        if path.startswith(("/api/", "/static/", "/hls/")):
            raise ValueError(f"{entry!r}: {path} is where the station serves other things")
        fields = [field.strip().lower() for field in rest.split(":")]
        if len(fields) not in (2, 3) or (len(fields) == 3 and fields[2] not in ("mono", "stereo")):
            raise ValueError(f"{entry!r}: write <path>=<codec>:<kbps>[:mono]")
        codec = fields[0]
        if codec not in CONTENT_TYPES:
            raise ValueError(f"{entry!r}: the codec is one of {', '.join(CONTENT_TYPES)}")
        try:
            kbps = int(fields[1])
        except ValueError:
            raise ValueError(f"{entry!r}: the bitrate is a whole number of kbps") from None
        low, high = BITRATES[codec]
        if not low <= kbps <= high or (codec == "mp3" and kbps not in _MP3_BITRATES):
            allowed = ", ".join(map(str, _MP3_BITRATES)) if codec == "mp3" else f"{low}-{high}"
            raise ValueError(f"{entry!r}: {codec} bitrates are {allowed} kbps")
        channels = 1 if len(fields) == 3 and fields[2] == "mono" else 2
        specs.append(MountSpec(path, codec, kbps, channels))
    return specs


def mount_path(path: str) -> str:
    """The mount a request path names (aliases resolved)."""
    return ALIASES.get(path, path)
