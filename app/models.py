"""The station's database tables (SQLAlchemy 2 ORM). API schemas live apart, in app/api."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect, Enum, Float, ForeignKey, Integer, String, Text
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
        return value


class Base(DeclarativeBase):
    pass


class TrackKind(enum.StrEnum):
    music = "music"
    jingle = "jingle"


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
