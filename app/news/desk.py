"""The news desk beside the programme: stings and sample stories for a fresh station,
speech kept in step with the articles, scheduled publishing, feed imports, and the spoken
openings of bulletins rendered ahead of air time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.config import Settings
from app.core.jobs import JobContext, JobRegistry
from app.db import SessionFactory
from app.news import bulletins
from app.news.articles import publish_due
from app.news.feed_import import fetch_due_feeds
from app.news.render import SpeechRenderer
from app.news.samples import ensure_sample_news
from app.news.speakable import opening_text
from app.news.stings import ensure_stings_in_child
from app.problems import Problems

log = logging.getLogger(__name__)


class NewsDesk:
    def __init__(self, settings: Settings, sessions: SessionFactory, ffmpeg: str,
                 jobs: JobRegistry, problems: Problems | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.sessions = sessions
        self.ffmpeg = ffmpeg
        self.jobs = jobs
        self.speech = SpeechRenderer(settings, sessions, ffmpeg, jobs, problems=problems)

    def prepare(self) -> None:
        """Once at start-up (blocking: run it in a thread)."""
        ensure_stings_in_child(self.settings.media_dir, self.ffmpeg)
        if self.settings.sample_news:
            made = ensure_sample_news(self.sessions, datetime.now(UTC))
            if made:
                log.info("no articles yet: created %d sample stories", made)
        self.speech.render_pending()
        self.jobs.submit("openings", self._render_openings)

    def tick(self) -> None:
        """Every half minute (blocking): publish what is due, import feeds, render speech,
        and try again the renders that failed (their cause, a full disk, may be gone)."""
        now = datetime.now(UTC)
        with self.sessions.begin() as session:
            published = [article.id for article in publish_due(session, now)]
        for article_id in published:
            self.speech.request(article_id)
        if fetch_due_feeds(self.settings, self.sessions, now):
            self.speech.render_pending()
        self.speech.retry_failed()

    def _render_openings(self, context: JobContext) -> str:
        texts = opening_texts(self.settings)
        paths = [self.settings.media_dir / bulletins.opening_path(text) for text in texts]
        missing = [(text, path) for text, path in zip(texts, paths, strict=True)
                   if not path.exists()]  # fmt: skip
        done = len(texts) - len(missing)
        context.progress(done / len(texts), "checking the openings")
        try:
            for (text, _), result in zip(missing, self.speech.speak(missing), strict=False):
                if isinstance(result, Exception):  # a bulletin without its opening still airs
                    log.warning("news: cannot render the opening %r: %s", text, result)
                done += 1
                context.progress(done / len(texts), text)
        except Exception as error:
            if self.speech.children.stopped:  # cut short by the station stopping
                return "stopped with the station: the next start renders the rest"
            log.warning("news: cannot render the openings: %s", error)
        return f"{len(texts)} openings ready"


def opening_texts(settings: Settings) -> list[str]:
    """Every opening a bulletin may need: one for each hour at the bulletin minute."""
    texts = [bulletins.GENERIC_OPENING]
    if settings.bulletin_minute >= 0:
        zone = ZoneInfo(settings.timezone)
        midnight = datetime.now(zone).replace(hour=0, minute=settings.bulletin_minute, second=0,
                                              microsecond=0)  # fmt: skip
        texts += [opening_text(midnight + timedelta(hours=h), zone) for h in range(24)]
    return list(dict.fromkeys(texts))
