"""The station's database tables (SQLAlchemy 2 ORM). API schemas live apart, in app/api."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, also on SQLite, which stores them naive."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None  # PostgreSQL: session zone


class Base(DeclarativeBase):
    pass


class TrackKind(enum.StrEnum):
    music = "music"
    jingle = "jingle"
    recording = "recording"  # a live show as it aired (media/recordings/): never rotation


class TrackStatus(enum.StrEnum):
    new = "new"  # tags read, not analysed yet
    ready = "ready"  # analysed, may go on air
    unplayable = "unplayable"  # never goes on air; `error` says why


class Track(Base):
    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)  # relative to media_dir, POSIX
    kind: Mapped[TrackKind] = mapped_column(Enum(TrackKind, native_enum=False, length=16))
    status: Mapped[TrackStatus] = mapped_column(
        Enum(TrackStatus, native_enum=False, length=16), default=TrackStatus.new, index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    mtime: Mapped[float] = mapped_column(Float)
    artist: Mapped[str] = mapped_column(String(512), default="")
    title: Mapped[str] = mapped_column(String(512), default="")
    album: Mapped[str] = mapped_column(String(512), default="")
    duration: Mapped[float | None] = mapped_column(Float)  # seconds, from the tags/headers
    loudness_lufs: Mapped[float | None] = mapped_column(Float)  # integrated, EBU R128
    cue_in: Mapped[float] = mapped_column(Float, default=0.0)  # seconds of leading silence
    cue_out: Mapped[float | None] = mapped_column(Float)  # where trailing silence starts
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    analysed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_played_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Play(Base):
    """One item that went on air: the play history."""

    __tablename__ = "plays"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracks.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    artist: Mapped[str] = mapped_column(String(512), default="")
    title: Mapped[str] = mapped_column(String(512), default="")
    album: Mapped[str] = mapped_column(String(512), default="")
    duration: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    # A track's plays newest first (the public history's search), without reading the rest.
    __table_args__ = (Index("ix_plays_track_id_started_at", "track_id", "started_at"),)


# --- Hosts: the people who run the station -------------------------------------------------


class HostRole(enum.StrEnum):
    admin = "admin"  # manages hosts and settings, and everything a host does
    host = "host"  # manages library, playlists, queue and news


class Host(Base):
    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[HostRole] = mapped_column(Enum(HostRole, native_enum=False, length=16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The public profile (/hosts/<slug>): the name and bio under the stories they write,
    # and a picture under media/hosts/ (relative to media_dir; None: no picture).
    display_name: Mapped[str] = mapped_column(String(100), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    picture_path: Mapped[str | None] = mapped_column(String(1024))


class ApiToken(Base):
    """A personal token for scripts and the CLI; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists, to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: never


class HostSession(Base):
    """A signed-in browser: the cookie carries the secret, the database only its hash."""

    __tablename__ = "host_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- Programming: playlists, the queue and the scheduler's memory ----------------------------


class PlaylistRule(enum.StrEnum):
    rotation = "rotation"  # general rotation, weighted against the other rotation playlists
    every_songs = "every_songs"  # one item after every `every` songs
    every_minutes = "every_minutes"  # one item once every `every` minutes
    hourly = "hourly"  # one item at minute `minute` of every hour, within `window_minutes`


class PlaylistOrder(enum.StrEnum):
    shuffle = "shuffle"  # every item once, in random order, then reshuffle
    random = "random"  # any item each time
    sequential = "sequential"  # in playlist order, then from the top


class Playlist(Base):
    __tablename__ = "playlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    rule: Mapped[PlaylistRule] = mapped_column(
        Enum(PlaylistRule, native_enum=False, length=16), default=PlaylistRule.rotation
    )
    order: Mapped[PlaylistOrder] = mapped_column(
        Enum(PlaylistOrder, native_enum=False, length=16), default=PlaylistOrder.shuffle
    )
    weight: Mapped[int] = mapped_column(Integer, default=3)
    every: Mapped[int | None] = mapped_column(Integer)  # songs or minutes, by rule
    minute: Mapped[int | None] = mapped_column(Integer)  # for hourly
    window_minutes: Mapped[int] = mapped_column(Integer, default=10)  # for hourly
    # Dayparts in the station's time zone: [{"days": [0..6 (Monday=0)], "start": "06:00",
    # "end": "10:00"}]; empty means always. An end before the start runs past midnight.
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    is_jingle: Mapped[bool] = mapped_column(default=False)  # keeps the now-playing title
    source_file: Mapped[str | None] = mapped_column(String(1024))  # in playlists/, if synced
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PlaylistEntry(Base):
    __tablename__ = "playlist_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    playlist_id: Mapped[int] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)


class QueueEntry(Base):
    """An upcoming item. The queue survives restarts; the scheduler tops it up."""

    __tablename__ = "queue"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    # track; story (an article's speech), sting and opening (parts of a news bulletin); or
    # bulletin, which becomes intro, opening, the freshest stories and outro when it airs.
    kind: Mapped[str] = mapped_column(String(16), default="track", server_default="track")
    track_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), index=True
    )
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    speech_path: Mapped[str | None] = mapped_column(String(1024))  # relative to media_dir
    title: Mapped[str | None] = mapped_column(String(300))  # for entries that are not tracks
    duration: Mapped[float | None] = mapped_column(Float)  # for entries that are not tracks
    playlist_id: Mapped[int | None] = mapped_column(ForeignKey("playlists.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(16))  # host, rotation, interval, clock
    is_jingle: Mapped[bool] = mapped_column(default=False)
    # A clock item waits for its time: it airs at the first boundary at or after due_at.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    added_by: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"))


class SchedulerMemory(Base):
    """The scheduler's state (bags, counters, last fired), so a restart neither repeats nor
    forgets. One row."""

    __tablename__ = "scheduler_memory"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


# --- The news desk ----------------------------------------------------------------------------


class ArticleStatus(enum.StrEnum):
    draft = "draft"
    scheduled = "scheduled"  # published automatically at publish_at
    published = "published"
    retracted = "retracted"  # gone from pages, feeds and bulletins; kept for the record


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(100), default="News", index=True)
    author: Mapped[str] = mapped_column(String(200), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown or plain paragraphs
    status: Mapped[ArticleStatus] = mapped_column(
        Enum(ArticleStatus, native_enum=False, length=16), default=ArticleStatus.draft, index=True
    )
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    sources: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)  # label, url
    # Bumped when the words change: a bulletin repeats a story only when it was updated.
    version: Mapped[int] = mapped_column(Integer, default=1)
    guid: Mapped[str | None] = mapped_column(String(1024), unique=True)  # from an imported feed
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))
    # The host who wrote it ("Written by" links their profile); imported stories have none
    # and keep the feed's free-text author. No constraint (see migration 0010): removing a
    # host clears it (app.accounts.hosts.remove_host).
    host_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RelatedArticle(Base):
    """An explicit "related story" link; automatic ones come from shared tags and category."""

    __tablename__ = "related_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    related_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)


class SpeechStatus(enum.StrEnum):
    pending = "pending"
    rendering = "rendering"
    ready = "ready"
    failed = "failed"


class Speech(Base):
    """The read-aloud audio of an article, cached under media/news/ by text and voice."""

    __tablename__ = "speech"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), unique=True
    )
    text_hash: Mapped[str] = mapped_column(String(64))  # sha256 of prepared text + voice
    voice: Mapped[str] = mapped_column(String(128))
    status: Mapped[SpeechStatus] = mapped_column(
        Enum(SpeechStatus, native_enum=False, length=16), default=SpeechStatus.pending
    )
    path: Mapped[str | None] = mapped_column(String(1024))  # relative to media_dir
    duration: Mapped[float | None] = mapped_column(Float)
    loudness_lufs: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    rendered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Rating(Base):
    """One listener's 1-5 stars for an article; a second vote replaces the first."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("article_id", "listener"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    listener: Mapped[str] = mapped_column(String(64))  # hash of the listener cookie
    stars: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CommentStatus(enum.StrEnum):
    pending = "pending"  # waits for a host
    approved = "approved"
    rejected = "rejected"


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))  # never published, never in public JSON
    website: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[CommentStatus] = mapped_column(
        Enum(CommentStatus, native_enum=False, length=16), default=CommentStatus.pending
    )
    client: Mapped[str] = mapped_column(String(64), default="")  # hash of the address
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # A reply to this top-level comment (one level only: a reply has no replies). No
    # constraint (see migration 0010): deleting a comment deletes its replies (app.api.news).
    parent_id: Mapped[int | None] = mapped_column(Integer, index=True)


class Feed(Base):
    """An RSS or Atom feed whose new items become articles."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(1024), unique=True)  # http(s) URL or a file path
    title: Mapped[str] = mapped_column(String(300), default="")
    publish: Mapped[bool] = mapped_column(default=False)  # new items published, else drafts
    category: Mapped[str] = mapped_column(String(100), default="News")
    enabled: Mapped[bool] = mapped_column(default=True)
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Bulletin(Base):
    """A news bulletin that went on air, with the stories (and versions) it carried."""

    __tablename__ = "bulletins"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    stories: Mapped[list[dict[str, int]]] = mapped_column(JSON, default=list)  # id, version
    # What aired, kept for "listen again": the parts joined into one MP3 under media/news/
    # bulletins/ (relative to media_dir; None: not kept, e.g. aired before it was kept).
    audio_path: Mapped[str | None] = mapped_column(String(1024))
    duration: Mapped[float | None] = mapped_column(Float)
    title: Mapped[str] = mapped_column(String(200), default="")  # "News at 17:00, 30 November"


class BulletinStory(Base):
    """A story a bulletin carried: a story's page lists the bulletins that read it."""

    __tablename__ = "bulletin_stories"
    __table_args__ = (UniqueConstraint("bulletin_id", "article_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bulletin_id: Mapped[int] = mapped_column(ForeignKey("bulletins.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )


class ListeningSession(Base):
    """One stream connection, measured on the server: who, from where (hashed), how long."""

    __tablename__ = "listening_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    listener: Mapped[str | None] = mapped_column(String(64), index=True)  # cookie id, hashed
    client: Mapped[str] = mapped_column(String(64))  # address, hashed
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None while connected
    bytes_sent: Mapped[int] = mapped_column(Integer, default=0)  # so far, while connected
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last heartbeat


class ListenerName(Base):
    """The display name a listener chose for the top-listeners board."""

    __tablename__ = "listener_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    listener: Mapped[str] = mapped_column(String(64), unique=True)  # cookie id, hashed
    display_name: Mapped[str] = mapped_column(String(40))
    name_key: Mapped[str] = mapped_column(String(80), unique=True)  # lower-cased: one "Ann"
    on_board: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


# --- Running totals of listening, kept as sessions heartbeat and end (app/listeners/totals.py).
# Moments are whole microseconds since the epoch (UTC): exact sums, cheap ranges.


class ListenerSpan(Base):
    """A stretch of listening: one owner's sessions merged where they overlap or touch.

    kind 0 (board): a listener's sessions that count on the board (not too short);
    kind 1 (presence): who was there, short sessions included; the owner is the listener,
    or "session:<id>" for a player without a cookie (each such session is someone)."""

    __tablename__ = "listener_spans"
    __table_args__ = (
        Index("ix_listener_spans_owner", "kind", "owner", "end_us"),
        Index("ix_listener_spans_end", "kind", "end_us"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(80))
    start_us: Mapped[int] = mapped_column(BigInteger)
    end_us: Mapped[int] = mapped_column(BigInteger)


class ListenerWeek(Base):
    """A listener's board time in one week (from Monday 00:00 station time)."""

    __tablename__ = "listener_weeks"
    __table_args__ = (Index("ix_listener_weeks_rank", "week_us", "on_board", "seconds_us"),)

    listener: Mapped[str] = mapped_column(String(64), primary_key=True)
    week_us: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seconds_us: Mapped[int] = mapped_column(BigInteger, default=0)
    on_board: Mapped[bool] = mapped_column(Boolean, default=False)  # named and not hidden


class ListenerTotal(Base):
    """A listener's board time of all time."""

    __tablename__ = "listener_totals"
    __table_args__ = (Index("ix_listener_totals_rank", "on_board", "seconds_us"),)

    listener: Mapped[str] = mapped_column(String(64), primary_key=True)
    seconds_us: Mapped[int] = mapped_column(BigInteger, default=0)
    on_board: Mapped[bool] = mapped_column(Boolean, default=False)


class AudienceMinute(Base):
    """The most listeners at any moment of one minute (absent: none)."""

    __tablename__ = "audience_minutes"

    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds / 60
    peak: Mapped[int] = mapped_column(Integer)


class AudienceMark(Base):
    """Listeners at a moment a play started or ran out: what a track gained or lost."""

    __tablename__ = "audience_marks"

    at_us: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    listeners: Mapped[int] = mapped_column(Integer)


class TrackDay(Base):
    """What a track's plays that started on one UTC day gained or lost in listeners, once
    their marks can no longer change (app/listeners/track_totals.py). One row per track and
    names: a track deleted later (its plays then keep only their names) is read by them."""

    __tablename__ = "track_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    day_us: Mapped[int] = mapped_column(BigInteger, index=True)  # 00:00 UTC, µs since the epoch
    track_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: kept when deleted
    artist: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(String(512))
    plays: Mapped[int] = mapped_column(Integer)
    change: Mapped[int] = mapped_column(BigInteger)
    first_us: Mapped[int] = mapped_column(BigInteger)  # the first and latest play's start
    last_us: Mapped[int] = mapped_column(BigInteger)


class PlayChange(Base):
    """One settled music play's change: the partial days at the edges of a window."""

    __tablename__ = "play_changes"

    play_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # no foreign key, as above
    start_us: Mapped[int] = mapped_column(BigInteger, index=True)
    end_us: Mapped[int] = mapped_column(BigInteger)
    track_id: Mapped[int | None] = mapped_column(Integer)
    artist: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(String(512))
    change: Mapped[int] = mapped_column(BigInteger)


class TrackTotalsState(Base):
    """One row: the last play counted in track_days (plays are counted in time order)."""

    __tablename__ = "track_totals_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    settled_us: Mapped[int] = mapped_column(BigInteger)  # that play's start
    settled_play_id: Mapped[int] = mapped_column(Integer)


class ListenerStatsState(Base):
    """One row: what the totals were built with, and the plays marked so far."""

    __tablename__ = "listener_stats_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    min_seconds: Mapped[float] = mapped_column(Float)
    marked_until_us: Mapped[int] = mapped_column(BigInteger, default=0)


# --- The station's identity, as hosts set it -----------------------------------------------


class StationIdentity(Base):
    """One row (id 1): what hosts set of the station's name, tagline, accent colour, public
    URL and logo. A column left NULL falls back to its RADIO_* setting (app.identity)."""

    __tablename__ = "station_identity"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(100))
    tagline: Mapped[str | None] = mapped_column(String(300))
    accent: Mapped[str | None] = mapped_column(String(7))  # #rrggbb
    public_url: Mapped[str | None] = mapped_column(String(512))
    # The logo: a file under state/media/ named by the station, never by the upload.
    logo_file: Mapped[str | None] = mapped_column(String(100))
    logo_type: Mapped[str | None] = mapped_column(String(32))
    logo_width: Mapped[int | None] = mapped_column(Integer)
    logo_height: Mapped[int | None] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # +1 on every change
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- Listeners' song requests (app/scheduler/requests.py) ---------------------------------


class SongRequest(Base):
    """A listener's request for a track. Pending while its queue entry waits; `aired` once
    the playout took it; `removed` when a host (or a cleared queue) dropped it."""

    __tablename__ = "song_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    listener: Mapped[str] = mapped_column(String(64), index=True)  # cookie id, hashed
    client: Mapped[str] = mapped_column(String(64), index=True)  # client network, hashed
    name: Mapped[str] = mapped_column(String(40), default="")  # display name when requested
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    entry_id: Mapped[int | None] = mapped_column(Integer, index=True)  # its queue entry
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    aired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RequestRules(Base):
    """What hosts set for requests (one row); a null limit means the RADIO_* default."""

    __tablename__ = "request_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    playlist_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # empty: any track
    per_listener_hour: Mapped[int | None] = mapped_column(Integer)
    per_address_hour: Mapped[int | None] = mapped_column(Integer)
    max_pending: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


# --- Shows: named programmes with hosts and weekly slots (app/shows/) ----------------------


class Show(Base):
    """A show: its hosts go live in its weekly slots; during a slot the programme is
    labelled with it. `interrupt_news`: the hourly news airs during it; `record`: a live
    show in it is recorded."""

    __tablename__ = "shows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    interrupt_news: Mapped[bool] = mapped_column(Boolean, default=True)
    record: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ShowHost(Base):
    """A host of a show (many-to-many)."""

    __tablename__ = "show_hosts"

    show_id: Mapped[int] = mapped_column(
        ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True
    )
    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ShowTimeslot(Base):
    """A weekly slot of a show, in wall-clock time of the station's zone: every `weekday`
    (Monday is 0) from `start_minute` (minutes after midnight) for `minutes`."""

    __tablename__ = "show_slots"

    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[int] = mapped_column(Integer)
