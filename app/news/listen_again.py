"""Listen again: each bulletin that aired is kept as one MP3 (its intro, opening, stories and
outro joined without re-encoding), playable on the news page, on the pages of the stories it
carried, and as an episode of the podcast feed.

The parts are joined when the bulletin airs: a story's speech file is replaced when the story
is rewritten, so later the words that aired might be gone."""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import mutagen
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.files import atomic_path, temp_file
from app.models import Article, ArticleStatus, Bulletin, BulletinStory

log = logging.getLogger(__name__)

BULLETINS_DIR = Path("news") / "bulletins"  # under media_dir
JOIN_TIMEOUT_SECONDS = 60.0
FORGET_BATCH = 50  # old bulletins let go of at once: a bounded cost per bulletin aired
RECENT_LIMIT = 10  # bulletins on the news page
PER_STORY_LIMIT = 5  # bulletins on a story's page


@dataclass(frozen=True)
class Kept:
    path: str  # relative to media_dir
    duration: float


def bulletin_title(at: datetime, timezone: str) -> str:
    local = at.astimezone(ZoneInfo(timezone))
    return f"News at {local:%H:%M}, {local.day} {local:%B %Y}"


def keep_audio(parts: list[Path], media_dir: Path, ffmpeg: str, at: datetime) -> Kept | None:
    """Join the bulletin's part files into media/news/bulletins/<time>.mp3 (stream copy: the
    parts are all MP3 in the station's format). None, logged, when it cannot be done: the
    bulletin airs all the same."""
    files = [part for part in parts if part.is_file()]
    if not files:
        return None
    relative = BULLETINS_DIR / f"{at:%Y%m%dT%H%M%S}-{at.microsecond:06d}.mp3"
    target = media_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    # The list of parts for ffmpeg's concat demuxer, a temp file the start-up sweep knows.
    fd, listing = temp_file(target.parent, "parts.txt")
    try:
        with os.fdopen(fd, "w") as out:
            for part in files:
                quoted = str(part.resolve()).replace("'", "'\\''")  # '...' quoting: ' as '\''
                out.write(f"file '{quoted}'\n")
        with atomic_path(target) as temp:
            command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                       "-f", "concat", "-safe", "0", "-i", str(listing),
                       "-map", "0:a", "-c", "copy", "-map_metadata", "-1",
                       "-f", "mp3", str(temp)]  # fmt: skip
            result = subprocess.run(command, capture_output=True, timeout=JOIN_TIMEOUT_SECONDS,
                                    check=False)  # fmt: skip
            if result.returncode != 0:
                lines = result.stderr.decode(errors="replace").strip().splitlines()
                raise OSError(lines[-1] if lines else f"ffmpeg exited {result.returncode}")
    except (OSError, subprocess.TimeoutExpired) as error:
        log.warning("news: the bulletin of %s is not kept for listening again: %s", at, error)
        return None
    finally:
        listing.unlink(missing_ok=True)
    return Kept(relative.as_posix(), _duration_of(target))


def _duration_of(path: Path) -> float:
    try:
        audio = mutagen.File(path)
    except (OSError, mutagen.MutagenError):
        return 0.0
    return float(getattr(getattr(audio, "info", None), "length", 0.0) or 0.0)


def audio_file(bulletin: Bulletin, media_dir: Path) -> Path | None:
    """The kept MP3, only inside media/news/bulletins/ (the path comes from the database)."""
    if not bulletin.audio_path:
        return None
    folder = (media_dir / BULLETINS_DIR).resolve()
    path = (media_dir / bulletin.audio_path).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        return None
    return path


def audio_url(bulletin: Bulletin) -> str:
    return f"/news/bulletins/{bulletin.id}.mp3"


def forget_old(session: Session, media_dir: Path, now: datetime, keep_days: int) -> int:
    """Let go of the audio of bulletins older than `keep_days` (the file, and the row's
    path: the bulletin itself stays on record), at most FORGET_BATCH at a time. Run each
    time a bulletin is kept, so the folder holds about `keep_days` of bulletins."""
    cutoff = now - timedelta(days=keep_days)
    old = session.scalars(
        _kept()
        .where(Bulletin.started_at < cutoff)
        .order_by(Bulletin.started_at)
        .limit(FORGET_BATCH)
    ).all()
    for bulletin in old:
        path = audio_file(bulletin, media_dir)
        if path is not None:
            path.unlink(missing_ok=True)
        bulletin.audio_path = None
    return len(old)


def _kept() -> Select[tuple[Bulletin]]:
    return select(Bulletin).where(Bulletin.audio_path.is_not(None))


def recent(session: Session, limit: int = RECENT_LIMIT) -> list[Bulletin]:
    """The newest kept bulletins, newest first."""
    query = _kept().order_by(Bulletin.started_at.desc(), Bulletin.id.desc()).limit(limit)
    return list(session.scalars(query))


def of_story(session: Session, article_id: int, limit: int = PER_STORY_LIMIT) -> list[Bulletin]:
    """The newest kept bulletins that carried this story, newest first."""
    query = (
        _kept()
        .join(BulletinStory, BulletinStory.bulletin_id == Bulletin.id)
        .where(BulletinStory.article_id == article_id)
        .order_by(Bulletin.started_at.desc(), Bulletin.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def stories_of(session: Session, bulletin_ids: list[int]) -> dict[int, list[Article]]:
    """The published stories each bulletin carried (for the lists), by bulletin id."""
    if not bulletin_ids:
        return {}
    rows = session.execute(
        select(BulletinStory.bulletin_id, Article)
        .join(Article, Article.id == BulletinStory.article_id)
        .where(BulletinStory.bulletin_id.in_(bulletin_ids))
        .where(Article.status == ArticleStatus.published)
        .order_by(BulletinStory.id)
    )
    carried: dict[int, list[Article]] = {}
    for bulletin_id, article in rows:
        carried.setdefault(bulletin_id, []).append(article)
    return carried
