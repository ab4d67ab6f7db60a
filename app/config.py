"""Station settings, read once from the environment (prefix RADIO_) and validated."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.item import ItemKind
from app.outputs import (
    DEFAULT_MOUNT,
    MountSpec,
    RelayTarget,
    mount_path,
    parse_mounts,
    parse_relays,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    # Errors never quote what was given: settings hold passwords (RADIO_RELAYS' URLs,
    # RADIO_DATABASE_URL, RADIO_SETUP_ADMIN), and a start-up error goes to logs and consoles.
    model_config = SettingsConfigDict(env_prefix="RADIO_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)  # fmt: skip

    # Where things live.
    media_dir: Path = PROJECT_ROOT / "media"
    playlists_dir: Path = PROJECT_ROOT / "playlists"
    state_dir: Path = PROJECT_ROOT / "state"
    database_url: str = ""  # empty: SQLite file in state_dir

    # The HTTP server.
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)  # 0: any free port (`radio serve` logs which)
    public_url: str = ""  # how listeners reach us; empty: http://host:port
    # Echoed by GET /api/health, so whoever started this station can tell it from another
    # one on the same address (a test harness, a supervisor). Not a secret.
    launch_nonce: str = ""
    # Fault drills (app/drills.py): while a file named after a part (`encoder`, `speech`) is
    # in this folder, that part fails on purpose. Unset: no drills.
    fault_drill_dir: Path | None = None

    # What the station says about itself (Icecast-style icy-* headers, pages, feeds). Hosts
    # may set the name, the description (the tagline), the accent colour and the public URL
    # in the dashboard (app/identity.py): these are the defaults for what they leave unset.
    station_name: str = Field("Radio Station", min_length=1, max_length=100)
    station_description: str = Field("Music, jingles and news, around the clock.",
                                     max_length=300)  # fmt: skip
    station_accent: str = Field("#b3261e", pattern=r"^#[0-9A-Fa-f]{6}$")  # pages' accent colour
    station_genre: str = "Various"
    # The web site stream clients and directories show (icy-url); empty: the public URL.
    station_url: str = ""
    station_public: bool = False

    # Playout.
    loudness_target_lufs: float = Field(-16.0, ge=-40.0, le=-5.0)
    crossfade_seconds: float = Field(2.0, ge=0.0, le=15.0)
    skip_fade_seconds: float = Field(0.3, ge=0.0, le=2.0)
    block_seconds: float = Field(0.2, ge=0.02, le=1.0)
    # The playout process's CPU priority (nice, -20 highest): it runs ahead of the rest of the
    # machine, so a busy machine slows the web pages before the audio. Below 0 needs root or
    # CAP_SYS_NICE; without them the playout runs at the station's own priority.
    playout_nice: int = Field(-10, ge=-20, le=19)
    silence_threshold_db: float = Field(-50.0, le=-20.0)
    demo_library: bool = True  # synthesize a demo library when media/ has no music
    scan_interval_seconds: float = Field(30.0, ge=0.2)
    jingle_every: int = Field(4, ge=0)  # a station jingle after every N songs; 0: never
    mp3_quality: int = Field(5, ge=0, le=9)  # LAME -q: 0 best and slowest, 9 fastest

    # The stream.
    bitrate_kbps: int = 128
    sample_rate: int = 44100
    burst_bytes: int = Field(65536, ge=0)
    buffer_seconds: float = Field(30.0, ge=2.0)
    icy_metaint: int = 16000
    listener_sndbuf_bytes: int = Field(65536, ge=4096)
    listener_min_seconds: float = Field(30.0, ge=0)  # shorter connections are not listening
    # Extra mounts (app/outputs.py): `<path>=<codec>:<kbps>[:mono]`, comma-separated,
    # codec mp3, aac or opus, e.g. `/mobile.mp3=mp3:64:mono,/stream.opus=opus:96`.
    mounts: str = ""
    # The time-shift archive (`/stream?at=`): the last `archive_hours` of the stream on disk
    # (in state_dir/archive), at most `archive_max_mb`, oldest deleted first; 0 hours: none.
    archive_hours: float = Field(2.0, ge=0, le=24 * 7)
    archive_max_mb: float = Field(1024.0, gt=0)
    archive_segment_seconds: float = Field(60.0, ge=1, le=3600)  # one file per this much air

    # HLS (app/stream/hls): packed-audio segments cut from the mount at path `hls` (MP3 or
    # AAC; "off": no HLS), in state_dir/hls, served at /hls/live.m3u8, its window as long as
    # the archive's (at least a minute). One address counts as at most
    # `hls_sessions_per_address` HLS listeners.
    hls: str = "/stream"
    hls_segment_seconds: int = Field(6, ge=2, le=10)
    hls_sessions_per_address: int = Field(16, ge=1)

    # Live shows (app/live): a host's own software as an Icecast source on /live. It returns
    # to the programme after `live_silence_seconds` of silence (or of nothing), and is cut
    # off above `live_max_kbps` (measured over LIVE_RATE_WINDOW_SECONDS).
    live_silence_seconds: float = Field(15.0, ge=1.0, le=600.0)
    live_max_kbps: int = Field(512, ge=16, le=10_000)
    # Recording live shows (app/live/recording.py) to media/recordings/: a show's own
    # "record" flag decides inside its slot; `live_record` decides for a live input outside
    # any show's slot. A recording stops at `recording_max_minutes` (the file is kept).
    live_record: bool = False
    recording_max_minutes: int = Field(360, ge=1, le=24 * 60)

    # Listeners' skip votes: the item on air is skipped when
    # max(skip_vote_minimum, ceil(skip_vote_share * listeners now)) listeners have voted.
    skip_vote_share: float = Field(0.5, gt=0, le=1)
    skip_vote_minimum: int = Field(1, ge=1)
    skip_vote_cooldown_seconds: float = Field(30.0, ge=0)  # between one listener's votes
    skip_vote_kinds: str = "music"  # comma-separated item kinds votes may skip; empty: none
    # A vote counts once one of the voter's stream connections has received this much audio
    # past the point where it joined (the burst aside): a client that connects and never
    # reads gets about 6 s acknowledged by its kernel (Linux defaults), never 10.
    skip_vote_listen_seconds: float = Field(10.0, ge=0, le=600)
    # One client address (IPv4, or an IPv6 /64) adds at most this many votes to an item.
    skip_vote_per_address: int = Field(2, ge=1)

    # Programming.
    timezone: str = "UTC"  # the station's time zone, for dayparts and clock items
    track_separation_hours: float = Field(3.0, ge=0)  # no track again within this
    artist_separation_minutes: float = Field(30.0, ge=0)  # no artist again within this
    queue_length: int = Field(10, ge=1, le=100)  # upcoming items kept planned

    # Listeners' song requests: the defaults of the rules hosts set in the dashboard.
    requests_enabled: bool = True
    request_per_listener_hour: int = Field(3, ge=0, le=1000)  # requests a listener makes
    request_per_address_hour: int = Field(6, ge=0, le=1000)  # … and one client address
    request_max_pending: int = Field(5, ge=0, le=50)  # requests waiting to air, all listeners
    request_searches_per_minute: int = Field(30, ge=1, le=10_000)  # per client address

    # News bulletins: at minute `bulletin_minute` of every hour (-1: not by the clock) and/or
    # after every `bulletin_every_songs` songs (0: not by count), `bulletin_stories` stories.
    bulletin_minute: int = Field(0, ge=-1, le=59)
    bulletin_window_minutes: int = Field(10, ge=1, le=59)
    bulletin_every_songs: int = Field(0, ge=0)
    bulletin_stories: int = Field(3, ge=1, le=20)
    # How long aired bulletins stay to listen again (their MP3s under media/news/bulletins/).
    bulletin_keep_days: int = Field(30, ge=1, le=3660)
    sample_news: bool = True  # write a few sample stories when there are no articles
    upload_max_mb: float = Field(200.0, gt=0)  # largest audio file a host may upload

    # Hosts. "name:password" creates the first admin at start-up while there are no hosts
    # yet, and is ignored afterwards; there is no default account or password.
    setup_admin: SecretStr = SecretStr("")
    session_hours: float = Field(12.0, gt=0, le=24 * 30)  # a browser sign-in lasts this long

    # Imported news feeds: how often each is fetched, and how long and large a fetch may be.
    feed_interval_minutes: float = Field(30.0, gt=0)
    feed_timeout_seconds: float = Field(10.0, gt=0, le=120)
    feed_max_bytes: int = Field(5_000_000, ge=1024)
    # Feeds are fetched only from public internet addresses. Comma-separated "host:port" (or
    # "host", any port) servers that may be fetched although they are not public, such as a
    # news server on the station's own network. Empty (the default): none.
    feed_allow_hosts: str = ""

    # News speech. Piper needs a voice model file (.onnx) here; nothing is downloaded.
    tts_engine: Literal["espeak", "piper"] = "espeak"
    tts_voice: str = "en-us"  # an eSpeak NG voice name
    tts_rate_wpm: int = Field(175, ge=80, le=450)
    tts_pitch: int = Field(50, ge=0, le=99)
    piper_model: Path | None = None

    # Relay outputs (app/stream/relay.py): push mounts to Icecast servers as a source. A JSON
    # list of {"url": "http://source:PASSWORD@host:port/mount", "mount": "/stream",
    # "name": "edge-1", "public": false} ("mount", "name", "public" optional); empty: none.
    relays: SecretStr = SecretStr("")  # a secret: its URLs hold passwords
    relay_queue_seconds: float = Field(10.0, ge=1, le=120)  # audio queued before dropping
    relay_retry_max_seconds: float = Field(60.0, ge=1, le=3600)  # backoff's cap

    # Shows (app/shows/): whether a host may go live only inside a weekly slot of one of
    # their shows (false: any time).
    live_require_slot: bool = False

    ffmpeg: str = ""  # path to ffmpeg; empty: ffmpeg on PATH, else the bundled one

    # The log: "plain" lines for people, or "json" lines for log collectors (app/logs.py).
    log_format: Literal["plain", "json"] = "plain"

    @field_validator("media_dir", "playlists_dir", "state_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.expanduser().resolve()

    @field_validator("hls")
    @classmethod
    def _hls_mount(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in ("off", "false", "no", "none", ""):
            return "off"
        if not value.startswith("/"):
            raise ValueError(f"a mount path such as /stream, or off; not {value!r}")
        return value

    @model_validator(mode="after")
    def _hls_from_a_mount(self) -> Settings:
        """RADIO_HLS names a mount the station has, in a codec HLS packs (MP3, AAC)."""
        if self.hls == "off":
            return self
        path = mount_path(self.hls)
        codecs = {DEFAULT_MOUNT: "mp3"} | {spec.path: spec.codec for spec in self.mount_specs}
        if path not in codecs:
            raise ValueError(f"RADIO_HLS={self.hls}: no such mount (the mounts are "
                             f"{', '.join(sorted(codecs))})")  # fmt: skip
        if codecs[path] not in ("mp3", "aac"):
            raise ValueError(f"RADIO_HLS={self.hls}: HLS packs MP3 or AAC, not {codecs[path]}")
        return self

    @property
    def hls_window_seconds(self) -> float:
        return max(self.archive_hours * 3600, 60.0)

    @field_validator("skip_vote_kinds")
    @classmethod
    def _known_kinds(cls, value: str) -> str:
        unknown = set(_names(value)) - {kind.value for kind in ItemKind}
        if unknown:
            known = ", ".join(kind.value for kind in ItemKind)
            raise ValueError(f"unknown item kind {', '.join(sorted(unknown))}; known: {known}")
        return value

    @field_validator("relays")
    @classmethod
    def _relay_list(cls, value: SecretStr) -> SecretStr:
        parse_relays(value.get_secret_value())  # raises, saying which entry is wrong and why
        return value

    @property
    def relay_targets(self) -> tuple[RelayTarget, ...]:
        return parse_relays(self.relays.get_secret_value())

    @field_validator("mounts")
    @classmethod
    def _valid_mounts(cls, value: str) -> str:
        parse_mounts(value)  # a ValueError names the entry that is wrong
        return value

    @property
    def mount_specs(self) -> list[MountSpec]:
        """The extra mounts, besides the default `/stream`."""
        return parse_mounts(self.mounts)

    @property
    def skip_votable_kinds(self) -> frozenset[ItemKind]:
        return frozenset(ItemKind(name) for name in _names(self.skip_vote_kinds))

    @field_validator("feed_allow_hosts")
    @classmethod
    def _host_list(cls, value: str) -> str:
        _hosts_and_ports(value)  # raises for an entry that is not host[:port]
        return value

    @property
    def feed_allowed_hosts(self) -> frozenset[tuple[str, int | None]]:
        """(host, port) pairs from feed_allow_hosts; port None: any port."""
        return _hosts_and_ports(self.feed_allow_hosts)

    def secret_values(self) -> list[str]:
        """Every secret the settings hold, for the log to hide (app.logs): each secret
        setting's value (and a `name:password` one's password alone), a database password."""
        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and (secret := value.get_secret_value()):
                values.append(secret)
                if name == "setup_admin" and ":" in secret:
                    values.append(secret.split(":", 1)[1])
        password = urlsplit(self.database_url).password if self.database_url else None
        if password:
            values.append(password)
        values += [target.password for target in self.relay_targets]
        return values

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'radio.sqlite3'}"

    def public_base(self, reached_at: str | None = None) -> str:
        """How listeners reach the station, without a trailing slash: the configured public
        URL, else the address a request reached us at, else the address we listen on."""
        return (self.public_url or reached_at or f"http://{self.host}:{self.port}").rstrip("/")


def _names(listed: str) -> list[str]:
    return [name.strip().lower() for name in listed.split(",") if name.strip()]


def _hosts_and_ports(listed: str) -> frozenset[tuple[str, int | None]]:
    pairs = set()
    for entry in (part.strip() for part in listed.split(",")):
        if not entry:
            continue
        parts = urlsplit(f"//{entry}")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or port == -1 or parts.netloc != entry or "@" in entry:
            raise ValueError(f"not a host or host:port: {entry!r}")
        pairs.add((parts.hostname.lower(), port))
    return frozenset(pairs)
