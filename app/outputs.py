"""What the station puts out, as its settings say it: its mounts (`RADIO_MOUNTS`) and the
relay outputs to Icecast (`RADIO_RELAYS`). Parsed here, on the ground floor, because
Settings validates them; app/stream/ runs them (mounts.py, relay.py).

The default mount is `/stream` (alias `/stream.mp3`): MP3 at RADIO_BITRATE_KBPS, stereo.
RADIO_MOUNTS adds more, comma-separated `<path>=<codec>:<kbps>[:mono]`, for example

    /mobile.mp3=mp3:64:mono,/stream.aac=aac:96,/stream.opus=opus:96

Codecs: `mp3` (LAME, in the playout process), `aac` (AAC-LC in ADTS) and `opus` (in Ogg),
both by one long-lived ffmpeg encoder each in the playout process. Each mount is encoded
once, has its own hub (listeners, burst, titles) and counts its own listeners.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

DEFAULT_MOUNT = "/stream"
DEFAULT_USER = "source"
ALIASES = {"/stream.mp3": DEFAULT_MOUNT}
CONTENT_TYPES = {"mp3": "audio/mpeg", "aac": "audio/aac", "opus": "audio/ogg"}
# What each encoder takes (kbps), as LAME, ffmpeg's aac and libopus accept them.
BITRATES = {"mp3": (32, 320), "aac": (16, 320), "opus": (6, 256)}
_PATH = re.compile(r"^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$")
_MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
FIELDS = {"url", "mount", "name", "public"}


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
        if path in (DEFAULT_MOUNT, *ALIASES) or path in {s.path for s in specs}:
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


@dataclass(frozen=True)
class RelayTarget:
    """One Icecast server and mount to push a station mount to."""

    name: str
    host: str
    port: int
    path: str  # the mount on Icecast
    user: str
    password: str = field(repr=False)
    mount: str = DEFAULT_MOUNT  # the station's mount it pushes
    public: bool | None = None  # ice-public; None: the station's RADIO_STATION_PUBLIC

    @property
    def target(self) -> str:
        """Where it pushes to, without the credentials: safe to show and log."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"


def parse_relays(text: str) -> tuple[RelayTarget, ...]:
    """RADIO_RELAYS: a JSON list of {"url": "http://source:PASSWORD@host:port/mount",
    "mount": "/stream", "name": "...", "public": false} ("mount", "name" and "public"
    optional). Raises ValueError saying what is wrong, never quoting a password."""
    if not text.strip():
        return ()
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise ValueError(f"RADIO_RELAYS is not JSON: {error.msg} at character {error.pos}"
                         ) from None  # fmt: skip
    if not isinstance(entries, list):
        raise ValueError('RADIO_RELAYS must be a JSON list: [{"url": "http://source:'
                         'password@host:8000/mount"}, ...]')  # fmt: skip
    targets = [_target(entry, n) for n, entry in enumerate(entries, 1)]
    names = [t.name for t in targets]
    doubles = sorted({name for name in names if names.count(name) > 1})
    if doubles:
        raise ValueError(f"RADIO_RELAYS: two outputs named {', '.join(map(repr, doubles))}: "
                         "give each a \"name\" of its own")  # fmt: skip
    places = [(t.host.lower(), t.port, t.path) for t in targets]
    if len(set(places)) != len(places):
        raise ValueError("RADIO_RELAYS: two outputs push to the same Icecast mount")
    return tuple(targets)


def _target(entry: Any, n: int) -> RelayTarget:
    where = f"RADIO_RELAYS entry {n}"
    if not isinstance(entry, dict):
        raise ValueError(f'{where}: not an object like {{"url": "http://source:password@'
                         'host:8000/mount"}')  # fmt: skip
    unknown = set(entry) - FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field {', '.join(sorted(map(repr, unknown)))}; "
                         f"known: {', '.join(sorted(FIELDS))}")  # fmt: skip
    url = entry.get("url")
    if not isinstance(url, str) or not url:
        raise ValueError(f'{where}: "url" is missing (http://source:password@host:port/mount)')
    parts = urlsplit(url)
    shown = _without_password(url)
    if parts.scheme != "http":
        raise ValueError(f"{where}: {shown} is not an http:// URL (Icecast's source "
                         "protocol; put TLS in front of Icecast, not between us)")  # fmt: skip
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError(f"{where}: {shown} has no valid port") from None
    if not parts.hostname:
        raise ValueError(f"{where}: {shown} names no host")
    if parts.password is None or not parts.password:
        raise ValueError(f"{where}: {shown} has no password (http://source:password@host/mount)")
    path = parts.path
    if not path.startswith("/") or path == "/" or parts.query or parts.fragment:
        raise ValueError(f"{where}: {shown} names no Icecast mount (such as /live)")
    mount = entry.get("mount", DEFAULT_MOUNT)
    if not isinstance(mount, str) or not mount.startswith("/"):
        raise ValueError(f'{where}: "mount" must be a station mount path such as "/stream"')
    name = entry.get("name", f"{parts.hostname}:{port}{path}")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ValueError(f'{where}: "name" must be a short text')
    public = entry.get("public")
    if public is not None and not isinstance(public, bool):
        raise ValueError(f'{where}: "public" must be true or false')
    return RelayTarget(name=name.strip(), host=parts.hostname, port=port, path=path,
                       user=unquote(parts.username or "") or DEFAULT_USER,
                       password=unquote(parts.password), mount=mount, public=public)  # fmt: skip


def _without_password(url: str) -> str:
    return re.sub(r"(://[^/@]*?:)[^/@]*@", r"\1***@", url)
