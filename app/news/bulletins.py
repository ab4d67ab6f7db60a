"""News bulletins: when they air (scheduler rules) and what they carry (the freshest stories).

A bulletin is a segment of the programme (app.scheduler.segments; `Bulletins`, handed to the
planner by the station): planned as one placeholder in the queue and opened up when it
airs, so it carries the stories that are freshest at air time: an intro sting, a spoken
opening ("News at five o'clock."), the stories, an outro sting.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import mutagen
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.item import Item, ItemKind
from app.ffmpeg import ffmpeg_path
from app.identity import Identity
from app.models import (
    Article,
    ArticleStatus,
    Bulletin,
    BulletinStory,
    QueueEntry,
    Speech,
    SpeechStatus,
)
from app.news import listen_again
from app.news.articles import freshest_published
from app.news.feeds import article_url
from app.news.listen_again import Kept
from app.news.speakable import opening_text
from app.scheduler.queue import HOST, QueueError
from app.scheduler.rules import (
    EverySongs,
    Hourly,
    Moment,
    Precedence,
    Rule,
    Source,
    Trigger,
    TriggeredRule,
)
from app.scheduler.segments import last_at_minute
from app.scheduler.state import SchedulerState
from app.scheduler.types import Pick

log = logging.getLogger(__name__)

KIND = "bulletin"
PARTS = frozenset({"sting", "opening", "story"})  # the queue entries a bulletin opens up into
STINGS_DIR = Path("news") / "stings"  # under media/: intro.mp3 and outro.mp3
GENERIC_OPENING = "Here is the news."  # for bulletins not tied to a time of the hour


def _on_the_hour(_context: object, _reason: str) -> Pick:
    return Pick(track_id=0, playlist_id=None, reason="clock", kind=KIND)


def _after_songs(_context: object, _reason: str) -> Pick:
    # Clock precedence, but not tied to a minute: the queue must not hold it for one.
    return Pick(track_id=0, playlist_id=None, reason="interval", kind=KIND)


@dataclass(frozen=True)
class HeldBy:
    """A trigger that is not due while `holds(at)` says the news must wait (a show that
    the news does not interrupt is on air): at the minute it would have fired, the hourly
    news is passed over; the news after N songs comes after the show."""

    trigger: Trigger
    holds: Callable[[datetime], bool]

    def due(self, now: Moment, memory: Mapping[str, Any], state: SchedulerState) -> bool:
        return self.trigger.due(now, memory, state) and not self.holds(
            datetime.fromtimestamp(now.ts, UTC)
        )

    def fired(self, now: Moment, memory: dict[str, Any], state: SchedulerState) -> None:
        self.trigger.fired(now, memory, state)


def bulletin_rules(settings: Settings, holds: Callable[[datetime], bool] | None = None
                   ) -> list[Rule]:  # fmt: skip
    """News at clock times and/or every N songs, with the precedence of clock items; not
    while `holds(at)` (a show the news does not interrupt)."""
    rules: list[Rule] = []
    triggers: list[tuple[str, Trigger, Source]] = []
    if settings.bulletin_minute >= 0:
        hourly = Hourly(settings.bulletin_minute, settings.bulletin_window_minutes)
        triggers.append(("news-hourly", hourly, _on_the_hour))
    if settings.bulletin_every_songs > 0:
        triggers.append(("news-songs", EverySongs(settings.bulletin_every_songs), _after_songs))
    for key, trigger, source in triggers:
        held = trigger if holds is None else HeldBy(trigger, holds)
        rules.append(TriggeredRule(key, Precedence.CLOCK, held, source))
    return rules


@dataclass(frozen=True)
class Story:
    article_id: int
    version: int
    title: str
    slug: str
    speech_path: str  # relative to media_dir
    duration: float


def choose_stories(session: Session, now: datetime, limit: int, report: bool = True
                   ) -> list[Story]:  # fmt: skip
    """The freshest published stories with speech, leaving out those the last bulletin
    carried unless they were updated since. Stories whose speech failed are reported."""
    last = session.scalars(select(Bulletin).order_by(Bulletin.started_at.desc()).limit(1)).first()
    aired = {(s["id"], s["version"]) for s in last.stories} if last is not None else set()
    articles = freshest_published(session, limit * 4 + len(aired), now)
    speeches = {
        speech.article_id: speech
        for speech in session.scalars(
            select(Speech).where(Speech.article_id.in_([a.id for a in articles]))
        )
    }
    rows = [(article, speeches.get(article.id)) for article in articles]
    stories: list[Story] = []
    for article, speech in rows:
        if (article.id, article.version) in aired:
            continue
        if speech is None or speech.status is not SpeechStatus.ready or not speech.path:
            reason = speech.error if speech is not None and speech.error else "not rendered yet"
            if report:
                log.warning("news: %r left out of the bulletin: %s", article.title, reason)
            continue
        stories.append(Story(article.id, article.version, article.title, article.slug,
                             speech.path, speech.duration or 0.0))  # fmt: skip
        if len(stories) == limit:
            break
    return stories


def record_bulletin(session: Session, at: datetime, stories: list[Story],
                    kept: Kept | None = None, title: str = "") -> Bulletin:  # fmt: skip
    """The bulletin that airs at `at`, with the stories it carries and, when it was kept
    for listening again, its joined audio."""
    bulletin = Bulletin(started_at=at, title=title,
                        stories=[{"id": s.article_id, "version": s.version} for s in stories],
                        audio_path=kept.path if kept else None,
                        duration=kept.duration if kept else None)  # fmt: skip
    session.add(bulletin)
    session.flush()
    for article_id in dict.fromkeys(s.article_id for s in stories):
        session.add(BulletinStory(bulletin_id=bulletin.id, article_id=article_id))
    return bulletin


# --- on air: queue entries for a bulletin, and the items the playout plays -----------------

OPENINGS_DIR = Path("news") / "openings"  # spoken openings, cached by their text


def estimated_seconds(session: Session, now: datetime, settings: Settings) -> float:
    """How long a bulletin planned now would probably run, for expected start times."""
    stories = choose_stories(session, now, settings.bulletin_stories, report=False)
    return sum(s.duration for s in stories) + 10.0


def expand(session: Session, settings: Settings, now: datetime, opening: str,
           reason: str) -> list[QueueEntry]:  # fmt: skip
    """The entries of a bulletin that airs now: intro, opening, stories, outro. Parts
    whose audio is missing are left out; a bulletin without stories is no bulletin."""
    stories = choose_stories(session, now, settings.bulletin_stories)
    if not stories:
        log.warning("news: no story is ready to be read; the bulletin is skipped")
        return []
    intro, outro = STINGS_DIR / "intro.mp3", STINGS_DIR / "outro.mp3"
    opening_file = opening_path(opening)
    parts: list[QueueEntry] = []
    if (settings.media_dir / intro).exists():
        parts.append(_part("sting", intro, "News", reason))
    if (settings.media_dir / opening_file).exists():
        parts.append(_part("opening", opening_file, opening.rstrip("."), reason))
    for story in stories:
        parts.append(QueueEntry(kind="story", article_id=story.article_id, title=story.title,
                                speech_path=story.speech_path, duration=story.duration,
                                reason=reason))  # fmt: skip
    if (settings.media_dir / outro).exists():
        parts.append(_part("sting", outro, "News", reason))
    files = [settings.media_dir / (part.speech_path or "") for part in parts]
    kept = listen_again.keep_audio(files, settings.media_dir, ffmpeg_path(settings.ffmpeg), now)
    title = listen_again.bulletin_title(now, settings.timezone)
    record_bulletin(session, now, stories, kept, title)
    listen_again.forget_old(session, settings.media_dir, now, settings.bulletin_keep_days)
    return parts


def opening_path(text: str) -> Path:
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return OPENINGS_DIR / f"{digest}.mp3"


def _part(kind: str, path: Path, title: str, reason: str) -> QueueEntry:
    return QueueEntry(kind=kind, speech_path=path.as_posix(), title=title, reason=reason,
                      is_jingle=kind == "sting")  # fmt: skip


def news_item(entry: QueueEntry, settings: Settings, slug: str | None,
              identity: Identity | None = None) -> Item:  # fmt: skip
    """What the playout plays for a news entry: speech and stings are already at the
    station's loudness, so they play without gain or cues. Named after the station and
    linked at its public URL as hosts set them (`identity`), else as the settings say."""
    identity = identity or Identity.of(None, settings)
    path = settings.media_dir / (entry.speech_path or "")
    kind = ItemKind.jingle if entry.kind == "sting" else ItemKind.news
    return Item(kind=kind, title=entry.title or "News", artist=f"{identity.name} News",
                duration=entry.duration or _duration_of(path), path=path,
                url=article_url(identity.public_base(), slug) if slug else "",
                article_id=entry.article_id)  # fmt: skip


def _duration_of(path: Path) -> float | None:
    try:
        audio = mutagen.File(path)
    except (OSError, mutagen.MutagenError):
        return None
    length = getattr(getattr(audio, "info", None), "length", None)
    return float(length) if length else None


# --- the segment the planner plans, queues and airs ------------------------------------------


class Bulletins:
    """News bulletins as a segment of the programme (app.scheduler.segments.Segment). Its
    parts (stings, openings, stories) are also what a story a host puts on air alone is."""

    kind = KIND
    parts = PARTS

    def __init__(self, settings: Settings, identity: Callable[[], Identity] | None = None,
                 holds_news: Callable[[datetime], bool] | None = None) -> None:  # fmt: skip
        self._settings = settings
        # Whether the news must wait at a moment (the station's shows say: app/shows/).
        self._holds_news = holds_news
        self._zone = ZoneInfo(settings.timezone)
        # The station's name and public URL as hosts set them (app.identity), for news items.
        self._identity = identity or (lambda: Identity.of(None, settings))

    def rules(self) -> Sequence[Rule]:
        return bulletin_rules(self._settings, self._holds_news)

    def due_at(self, at: datetime) -> datetime:
        return last_at_minute(at, self._settings.bulletin_minute, self._zone)

    def expected_seconds(self, session: Session, at: datetime) -> float:
        return estimated_seconds(session, at, self._settings)

    def placeholder(self, duration: float | None, at: datetime | None = None) -> Item:
        # In the queue and the forecast: the bulletin before it airs and opens up.
        return Item(kind=ItemKind.news, title="News bulletin", duration=duration)

    def open(self, session: Session, at: datetime, due_at: datetime | None, reason: str
             ) -> list[QueueEntry]:  # fmt: skip
        # Named after its time of the hour, as rendered ahead by the news desk.
        opening = opening_text(due_at, self._zone) if due_at else GENERIC_OPENING
        return expand(session, self._settings, at, opening, reason)

    def item(self, session: Session, entry: QueueEntry) -> Item | None:
        article = session.get(Article, entry.article_id) if entry.article_id else None
        return news_item(entry, self._settings, article.slug if article else None,
                         self._identity())  # fmt: skip


def story_entry(session: Session, article_id: int, host_id: int | None = None) -> QueueEntry:
    """A published story whose speech is ready, read on its own (for Planner.add_entries);
    QueueError says why it cannot be."""
    article = session.get(Article, article_id)
    speech = session.scalars(select(Speech).where(Speech.article_id == article_id)).first()
    if article is None or article.status is not ArticleStatus.published:
        raise QueueError(f"no published article {article_id}")
    if speech is None or speech.status is not SpeechStatus.ready or not speech.path:
        why = speech.error if speech is not None and speech.error else "not rendered yet"
        raise QueueError(f"the story has no speech to play: {why}")
    return QueueEntry(kind="story", article_id=article_id, title=article.title,
                      speech_path=speech.path, duration=speech.duration, reason=HOST,
                      added_by=host_id)  # fmt: skip
